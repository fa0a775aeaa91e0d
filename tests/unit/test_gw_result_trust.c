/* Unit tests of gateway/bus/result_trust.c: the commands.agent_keys list (POOL=PEM entries,
 * spaces, several keys per pool for a rotation, one key for several pools, bad entries) and
 * the checks of one xo.results record, each verdict in its order: size, headers, key,
 * signature, v1 result, the key's pool, the partition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/result_trust.h"
#include "xo_envelope.h"
#include "xo_sign.h"

#define POOL_A "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c"
#define POOL_B "7a1d0c55-2f4e-4b8a-9c3d-1e2f3a4b5c6d"
#define PARTS  12

/* Keys: 0 and 1 are pool A's (old and new, a rotation), 2 is pool B's, 3 is nobody's. */
#define NKEYS 4
static char dir[64], priv[NKEYS][128], pub[NKEYS][128];
static xo_key_t *key[NKEYS];

static int group_setup(void **state)
{
    char errstr[256];
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_gw_result_trust.XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (int i = 0; i < NKEYS; i++) {
        snprintf(priv[i], sizeof(priv[i]), "%s/%d.key", dir, i);
        snprintf(pub[i], sizeof(pub[i]), "%s/%d.pub", dir, i);
        assert_int_equal(xo_key_generate(&key[i], errstr, sizeof(errstr)), XO_OK);
        assert_int_equal(xo_key_write_pem(key[i], priv[i], pub[i], errstr, sizeof(errstr)), XO_OK);
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++) {
        unlink(priv[i]);
        unlink(pub[i]);
        xo_key_free(key[i]);
    }
    rmdir(dir);
    return 0;
}

static gw_result_trust_t *trust_ab(void)
{
    char spec[1024], errstr[256];
    gw_result_trust_t *t = NULL;

    /* spaces around entries and '=', and an empty entry, are tolerated */
    snprintf(spec, sizeof(spec), " %s = %s,%s=%s ,, %s=%s", POOL_A, pub[0], POOL_A, pub[1], POOL_B,
             pub[2]);
    assert_int_equal(gw_result_trust_new(spec, &t, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_result_trust_count(t), 3);
    return t;
}

typedef struct {
    char value[512];
    char sig[XO_SIG_B64_LEN + 1];
    xo_record_t rec;
} signed_t;

/* A result of @p pool signed by key @p k, on that pool's partition. */
static void make(signed_t *m, const char *pool, int k)
{
    int n =
        snprintf(m->value, sizeof(m->value),
                 "{\"v\":1,\"id\":\"c-1\",\"pool\":\"%s\",\"agent\":\"a\",\"state\":\"success\","
                 "\"progress\":1,\"bytes\":0,\"ts\":1,\"result\":true}",
                 pool);
    assert_int_equal(xo_sign(key[k], m->value, (size_t)n, m->sig), XO_OK);
    m->rec = (xo_record_t){xo_pool_partition(pool, PARTS),
                           PARTS,
                           7,
                           "c-1",
                           3,
                           m->value,
                           (size_t)n,
                           m->sig,
                           XO_SIG_B64_LEN,
                           xo_key_id(key[k]),
                           XO_KEY_ID_LEN};
}

static gw_res_verdict_t check(const gw_result_trust_t *t, const xo_record_t *rec, size_t max)
{
    json_object *o = (json_object *)1;
    char why[160] = "";
    gw_res_verdict_t v = gw_result_check(t, rec, max, &o, why, sizeof(why));

    if (v == GW_RES_OK) {
        assert_non_null(o);
        assert_string_equal(xo_msg_str(o, "id"), "c-1");
        json_object_put(o);
    } else {
        assert_null(o);
        assert_true(why[0] != '\0'); /* every refusal says why */
    }
    return v;
}

static void test_genuine_results_pass(void **state)
{
    gw_result_trust_t *t = trust_ab();
    signed_t m;
    (void)state;

    make(&m, POOL_A, 0);
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_OK);
    make(&m, POOL_A, 1); /* the other key of a rotation */
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_OK);
    make(&m, POOL_B, 2);
    assert_int_equal(check(t, &m.rec, 0), GW_RES_OK); /* 0: no size cap */
    m.rec.partitions = 0;                             /* unknown count: no partition check */
    m.rec.partition = 99;
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_OK);
    gw_result_trust_free(t);
}

static void test_each_forgery_refused(void **state)
{
    gw_result_trust_t *t = trust_ab();
    signed_t m;
    (void)state;

    make(&m, POOL_A, 0);
    assert_int_equal(check(t, &m.rec, m.rec.value_len - 1), GW_RES_TOO_LARGE);
    m.rec.value = NULL; /* a tombstone on xo.results is no result */
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_TOO_LARGE);

    make(&m, POOL_A, 0);
    m.rec.sig = NULL;
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_SIGNATURE_MISSING);
    make(&m, POOL_A, 0);
    m.rec.key_id = NULL;
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_SIGNATURE_MISSING);

    make(&m, POOL_A, 3); /* a key nobody trusts */
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_UNKNOWN_KEY);
    make(&m, POOL_A, 0);
    m.rec.key_id_len = 8; /* a prefix of a trusted id is no id */
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_UNKNOWN_KEY);

    make(&m, POOL_A, 0);
    m.value[20] ^= 1; /* one bit of the value */
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_SIGNATURE_INVALID);
    make(&m, POOL_A, 0);
    m.rec.key_id = xo_key_id(key[1]); /* the signature is key 0's */
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_SIGNATURE_INVALID);

    make(&m, POOL_A, 0); /* signed garbage: refused after the signature, not before */
    snprintf(m.value, sizeof(m.value), "{\"v\":1,\"id\":3}");
    m.rec.value_len = strlen(m.value);
    assert_int_equal(xo_sign(key[0], m.value, m.rec.value_len, m.sig), XO_OK);
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_MALFORMED);

    make(&m, POOL_A, 2); /* pool B's agent speaking for pool A */
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_KEY_NOT_FOR_POOL);

    make(&m, POOL_A, 0);
    m.rec.partition = (m.rec.partition + 1) % PARTS;
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_WRONG_PARTITION);
    gw_result_trust_free(t);
}

/* The keys of one pool, as a transfer's vm.importPrepare carries them: both of pool A's in
 * the setting's order, only pool B's for B, none for an unknown pool or an empty list. */
static void test_pool_keys(void **state)
{
    gw_result_trust_t *t = trust_ab();
    json_object *a = json_object_new_array(), *b = json_object_new_array();
    json_object *none = json_object_new_array();
    char want[XO_PUB_B64_LEN + 1];
    (void)state;

    assert_int_equal(gw_result_trust_pool_keys(t, POOL_A, a), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(xo_key_public_b64(key[i], want), XO_OK);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(a, i)), want);
    }
    assert_int_equal(gw_result_trust_pool_keys(t, POOL_B, b), 1);
    assert_int_equal(xo_key_public_b64(key[2], want), XO_OK);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(b, 0)), want);
    assert_int_equal(gw_result_trust_pool_keys(t, "no-such-pool", none), 0);
    assert_int_equal(gw_result_trust_pool_keys(NULL, POOL_A, none), 0);
    assert_int_equal(json_object_array_length(none), 0);
    json_object_put(a);
    json_object_put(b);
    json_object_put(none);
    gw_result_trust_free(t);
}

static void test_empty_trust_refuses_all(void **state)
{
    gw_result_trust_t *t = NULL;
    char errstr[64];
    signed_t m;
    (void)state;

    assert_int_equal(gw_result_trust_new(NULL, &t, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_result_trust_count(t), 0);
    make(&m, POOL_A, 0);
    assert_int_equal(check(t, &m.rec, 65536), GW_RES_UNKNOWN_KEY);
    assert_int_equal(check(NULL, &m.rec, 65536), GW_RES_UNKNOWN_KEY);
    gw_result_trust_free(t);
    gw_result_trust_free(NULL);
}

static void test_bad_specs(void **state)
{
    char not_ed25519[256], long_pool[256], errstr[256];
    const char *specs[] = {"just-a-path", "=x",     POOL_A "=", POOL_A "=/no/such/file.pub",
                           not_ed25519,   long_pool};
    gw_result_trust_t *t = (gw_result_trust_t *)1;
    FILE *fp;
    (void)state;

    snprintf(not_ed25519, sizeof(not_ed25519), POOL_A "=%s/junk.pem", dir);
    fp = fopen(not_ed25519 + strlen(POOL_A "="), "w");
    assert_non_null(fp);
    fputs("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", fp);
    fclose(fp);
    snprintf(long_pool, sizeof(long_pool), "%0100d=%s", 0, pub[0]);
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        errstr[0] = '\0';
        assert_int_not_equal(gw_result_trust_new(specs[i], &t, errstr, sizeof(errstr)), XO_OK);
        assert_null(t);
        assert_true(errstr[0] != '\0');
    }
    unlink(not_ed25519 + strlen(POOL_A "="));
}

static void test_verdict_names(void **state)
{
    (void)state;
    assert_string_equal(gw_res_verdict_name(GW_RES_SIGNATURE_MISSING), "signature_missing");
    assert_string_equal(gw_res_verdict_name(GW_RES_KEY_NOT_FOR_POOL), "key_not_for_pool");
    assert_string_equal(gw_res_verdict_name(GW_RES_WRONG_POOL), "wrong_pool");
    for (int v = 0; v < GW_RES_VERDICT_COUNT; v++)
        assert_non_null(gw_res_verdict_name((gw_res_verdict_t)v));
    assert_string_equal(gw_res_verdict_name(GW_RES_VERDICT_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genuine_results_pass),    cmocka_unit_test(test_each_forgery_refused),
        cmocka_unit_test(test_empty_trust_refuses_all), cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_verdict_names),           cmocka_unit_test(test_pool_keys),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
