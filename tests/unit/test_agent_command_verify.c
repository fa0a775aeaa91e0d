/* Unit tests of agent/command_verify.c: every rejection reason, key rotation with two keys,
 * the clock-skew allowance, the op allow-list and the replay window's eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command_verify.h"
#include "xo_envelope.h"

#define POOL "6f0c9a44-9f5e-4b3c-8a0e-3f1d2c4b5a69"
#define VM   "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
#define NOW  1700000000000LL

typedef struct {
    char dir[64], pub1[96], pub2[96];
    xo_key_t *k1, *k2, *rogue;
    xo_keyring_t *ring;
    cmd_replay_t *replay;
    cmd_policy_t p;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/xo-verify-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->pub1, sizeof(f->pub1), "%s/k1.pub", f->dir);
    snprintf(f->pub2, sizeof(f->pub2), "%s/k2.pub", f->dir);
    {
        char priv[96];
        assert_int_equal(xo_key_generate(&f->k1, NULL, 0), XO_OK);
        assert_int_equal(xo_key_generate(&f->k2, NULL, 0), XO_OK);
        assert_int_equal(xo_key_generate(&f->rogue, NULL, 0), XO_OK);
        snprintf(priv, sizeof(priv), "%s/k1.pem", f->dir);
        assert_int_equal(xo_key_write_pem(f->k1, priv, f->pub1, NULL, 0), XO_OK);
        snprintf(priv, sizeof(priv), "%s/k2.pem", f->dir);
        assert_int_equal(xo_key_write_pem(f->k2, priv, f->pub2, NULL, 0), XO_OK);
    }
    f->ring = xo_keyring_new();
    assert_int_equal(xo_keyring_add_file(f->ring, f->pub1, NULL, 0), XO_OK);
    assert_int_equal(xo_keyring_add_file(f->ring, f->pub2, NULL, 0), XO_OK);
    f->replay = cmd_replay_new();
    f->p = (cmd_policy_t){f->ring, POOL, (1u << XO_OP_COUNT) - 1, 300000, 5000, f->replay};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];

    xo_key_free(f->k1);
    xo_key_free(f->k2);
    xo_key_free(f->rogue);
    xo_keyring_free(f->ring);
    cmd_replay_free(f->replay);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A signed message: value from the fields, signature by key (NULL: none). */
typedef struct {
    char *value;
    size_t len;
    char sig[XO_SIG_B64_LEN + 1];
    const char *kid;
} msg_t;

static msg_t make(const xo_key_t *key, const char *id, const char *pool, const char *op,
                  const char *args, int64_t issued, int64_t expires)
{
    json_object *a = json_tokener_parse(args);
    xo_command_msg_t m = {id, pool, op, "admin", a, issued, expires};
    msg_t out = {0};

    out.value = xo_command_msg_encode(&m, &out.len);
    json_object_put(a);
    if (key) {
        assert_int_equal(xo_sign(key, out.value, out.len, out.sig), XO_OK);
        out.kid = xo_key_id(key);
    }
    return out;
}

static msg_t good(const xo_key_t *key, const char *id, const char *op, const char *args)
{
    return make(key, id, POOL, op, args, NOW - 1000, NOW + 60000);
}

static cmd_verdict_t verify_at(fx_t *f, msg_t *m, int64_t now, char *reason)
{
    cmd_t c;
    cmd_verdict_t v =
        cmd_verify(&f->p, m->value, m->len, m->kid ? m->sig : NULL, m->kid ? strlen(m->sig) : 0,
                   m->kid, m->kid ? strlen(m->kid) : 0, now, &c, reason, 256);

    if (v == CMD_OK)
        assert_string_equal(c.pool, POOL);
    cmd_fini(&c);
    free(m->value);
    m->value = NULL;
    return v;
}

static cmd_verdict_t verify(fx_t *f, msg_t m)
{
    char reason[256] = "";
    cmd_verdict_t v = verify_at(f, &m, NOW, reason);

    if (v != CMD_OK)
        assert_true(reason[0]); /* every rejection says why */
    return v;
}

static void test_every_op_ok(void **state)
{
    fx_t *f = *state;
    static const struct {
        const char *op, *args;
    } ok[] = {
        {"vm.start", "{\"id\":\"" VM "\"}"},
        {"vm.stop", "{\"id\":\"" VM "\",\"force\":true}"},
        {"vm.restart", "{\"id\":\"" VM "\"}"},
        {"vm.suspend", "{\"id\":\"" VM "\"}"},
        {"vm.resume", "{\"id\":\"" VM "\"}"},
        {"vm.pause", "{\"id\":\"" VM "\"}"},
        {"vm.unpause", "{\"id\":\"" VM "\"}"},
        {"vm.snapshot", "{\"id\":\"" VM "\",\"name\":\"s\"}"},
        {"vm.delete", "{\"id\":\"" VM "\",\"deleteDisks\":false}"},
        {"vm.set", "{\"id\":\"" VM "\",\"name_label\":\"n\"}"},
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cmd_op_t op;
        assert_int_equal(cmd_op_parse(ok[i].op, &op), XO_OK);
        assert_string_equal(cmd_op_name(op), ok[i].op);
        assert_int_equal(verify(f, good(f->k1, "c-ok", ok[i].op, ok[i].args)), CMD_OK);
    }
}

static void test_signature_reasons(void **state)
{
    fx_t *f = *state;
    msg_t m = good(NULL, "c1", "vm.start", "{\"id\":\"" VM "\"}");
    char reason[256];
    cmd_t c;

    assert_int_equal(verify(f, m), CMD_SIGNATURE_MISSING);
    /* a signature without its key id is as good as none */
    m = good(f->k1, "c1", "vm.start", "{\"id\":\"" VM "\"}");
    assert_int_equal(cmd_verify(&f->p, m.value, m.len, m.sig, strlen(m.sig), NULL, 0, NOW, &c,
                                reason, sizeof(reason)),
                     CMD_SIGNATURE_MISSING);
    cmd_fini(&c);
    free(m.value);
    assert_int_equal(verify(f, good(f->rogue, "c1", "vm.start", "{\"id\":\"" VM "\"}")),
                     CMD_UNKNOWN_KEY);
    /* tampered after signing: one byte of the value */
    m = good(f->k1, "c1", "vm.start", "{\"id\":\"" VM "\"}");
    m.value[m.len - 3] ^= 1;
    assert_int_equal(verify(f, m), CMD_SIGNATURE_INVALID);
    /* a signature of another message under a trusted key id */
    m = good(f->k1, "c1", "vm.start", "{\"id\":\"" VM "\"}");
    {
        msg_t other = good(f->k1, "c2", "vm.start", "{\"id\":\"" VM "\"}");
        memcpy(m.sig, other.sig, sizeof(m.sig));
        free(other.value);
    }
    assert_int_equal(verify(f, m), CMD_SIGNATURE_INVALID);
    /* signed by k2 but claiming k1's id */
    m = good(f->k2, "c1", "vm.start", "{\"id\":\"" VM "\"}");
    m.kid = xo_key_id(f->k1);
    assert_int_equal(verify(f, m), CMD_SIGNATURE_INVALID);
}

static void test_key_rotation(void **state)
{
    fx_t *f = *state;
    xo_keyring_t *after = xo_keyring_new();

    /* during the rotation both keys are trusted */
    assert_int_equal(verify(f, good(f->k1, "r1", "vm.start", "{\"id\":\"" VM "\"}")), CMD_OK);
    assert_int_equal(verify(f, good(f->k2, "r2", "vm.start", "{\"id\":\"" VM "\"}")), CMD_OK);
    /* after it only the new one */
    assert_int_equal(xo_keyring_add_file(after, f->pub2, NULL, 0), XO_OK);
    f->p.keys = after;
    assert_int_equal(verify(f, good(f->k1, "r3", "vm.start", "{\"id\":\"" VM "\"}")),
                     CMD_UNKNOWN_KEY);
    assert_int_equal(verify(f, good(f->k2, "r4", "vm.start", "{\"id\":\"" VM "\"}")), CMD_OK);
    f->p.keys = f->ring;
    xo_keyring_free(after);
}

static void test_malformed(void **state)
{
    fx_t *f = *state;
    const char *bad_args[][2] = {
        {"vm.start", "{}"},
        {"vm.start", "{\"id\":5}"},
        {"vm.start", "{\"id\":\"\"}"},
        {"vm.start", "{\"id\":\"" VM "\",\"force\":true}"},
        {"vm.stop", "{\"id\":\"" VM "\",\"force\":\"yes\"}"},
        {"vm.set", "{\"id\":\"" VM "\"}"},
        {"vm.set", "{\"id\":\"" VM "\",\"name_label\":1}"},
        {"vm.delete", "{\"id\":\"" VM "\",\"deleteDisks\":1}"},
    };
    msg_t m;

    for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++)
        assert_int_equal(verify(f, good(f->k1, "m1", bad_args[i][0], bad_args[i][1])),
                         CMD_MALFORMED);
    /* not JSON, but validly signed */
    m = good(f->k1, "m2", "vm.start", "{\"id\":\"" VM "\"}");
    strcpy(m.value, "not json");
    m.len = strlen(m.value);
    assert_int_equal(xo_sign(f->k1, m.value, m.len, m.sig), XO_OK);
    assert_int_equal(verify(f, m), CMD_MALFORMED);
    /* expires not after issued; empty id; id too long */
    assert_int_equal(
        verify(f, make(f->k1, "m3", POOL, "vm.start", "{\"id\":\"" VM "\"}", NOW, NOW)),
        CMD_MALFORMED);
    assert_int_equal(verify(f, good(f->k1, "", "vm.start", "{\"id\":\"" VM "\"}")), CMD_MALFORMED);
    assert_int_equal(verify(f, good(f->k1,
                                    "0123456789012345678901234567890123456789012345678901234567"
                                    "89-too-long",
                                    "vm.start", "{\"id\":\"" VM "\"}")),
                     CMD_MALFORMED);
}

static void test_pool_and_time(void **state)
{
    fx_t *f = *state;
    char reason[256];
    msg_t m;

    assert_int_equal(verify(f, make(f->k1, "t1", "another-pool", "vm.start", "{\"id\":\"" VM "\"}",
                                    NOW - 10, NOW + 1000)),
                     CMD_WRONG_POOL);
    assert_int_equal(verify(f, make(f->k1, "t2", POOL, "vm.start", "{\"id\":\"" VM "\"}",
                                    NOW - 120000, NOW - 60000)),
                     CMD_EXPIRED);
    /* lifetime beyond max_expiry_ms, and a far-future issue date */
    assert_int_equal(
        verify(f, make(f->k1, "t3", POOL, "vm.start", "{\"id\":\"" VM "\"}", NOW, NOW + 300001)),
        CMD_EXPIRES_TOO_FAR);
    assert_int_equal(verify(f, make(f->k1, "t4", POOL, "vm.start", "{\"id\":\"" VM "\"}",
                                    NOW + 3600000, NOW + 3660000)),
                     CMD_EXPIRES_TOO_FAR);
    /* the skew allowance: valid up to expires + skew, expired one ms later */
    m = make(f->k1, "t5", POOL, "vm.start", "{\"id\":\"" VM "\"}", NOW - 10000, NOW);
    assert_int_equal(verify_at(f, &m, NOW + 5000, reason), CMD_OK);
    m = make(f->k1, "t5", POOL, "vm.start", "{\"id\":\"" VM "\"}", NOW - 10000, NOW);
    assert_int_equal(verify_at(f, &m, NOW + 5001, reason), CMD_EXPIRED);
    assert_non_null(strstr(reason, "expired"));
}

static void test_ops_allowed(void **state)
{
    fx_t *f = *state;
    unsigned mask;
    char errstr[128];

    assert_int_equal(verify(f, good(f->k1, "o1", "host.reboot", "{\"id\":\"x\"}")),
                     CMD_OP_NOT_ALLOWED);
    assert_int_equal(cmd_ops_mask("vm.start, vm.stop", &mask, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(mask, (1u << XO_OP_VM_START) | (1u << XO_OP_VM_STOP));
    f->p.allowed_ops = mask;
    assert_int_equal(verify(f, good(f->k1, "o2", "vm.delete", "{\"id\":\"" VM "\"}")),
                     CMD_OP_NOT_ALLOWED);
    assert_int_equal(verify(f, good(f->k1, "o3", "vm.stop", "{\"id\":\"" VM "\"}")), CMD_OK);
    f->p.allowed_ops = (1u << XO_OP_COUNT) - 1;
    assert_int_equal(cmd_ops_mask("vm.start,vm.migrate", &mask, errstr, sizeof(errstr)),
                     XO_ERR_CONFIG);
    assert_non_null(strstr(errstr, "vm.migrate"));
}

static void test_replay_window(void **state)
{
    fx_t *f = *state;

    assert_int_equal(verify(f, good(f->k1, "p1", "vm.start", "{\"id\":\"" VM "\"}")), CMD_OK);
    assert_int_equal(cmd_replay_add(f->replay, "p1", NOW + 60000 + 5000), XO_OK);
    assert_int_equal(verify(f, good(f->k1, "p1", "vm.start", "{\"id\":\"" VM "\"}")), CMD_REPLAYED);
    /* the same id in another op or by another key is still a replay */
    assert_int_equal(verify(f, good(f->k2, "p1", "vm.stop", "{\"id\":\"" VM "\"}")), CMD_REPLAYED);
    /* a later deadline wins over an earlier one */
    assert_int_equal(cmd_replay_add(f->replay, "p1", NOW), XO_OK);
    assert_int_equal(cmd_replay_evict(f->replay, NOW + 1), 0);
    assert_true(cmd_replay_seen(f->replay, "p1"));
    /* eviction after the deadline: by then the command is expired anyway */
    assert_int_equal(cmd_replay_add(f->replay, "p2", NOW + 10), XO_OK);
    assert_int_equal(cmd_replay_count(f->replay), 2);
    assert_int_equal(cmd_replay_evict(f->replay, NOW + 11), 1);
    assert_false(cmd_replay_seen(f->replay, "p2"));
    assert_int_equal(cmd_replay_evict(f->replay, NOW + 65001), 1);
    assert_int_equal(cmd_replay_count(f->replay), 0);
    {
        msg_t m = good(f->k1, "p1", "vm.start", "{\"id\":\"" VM "\"}");
        char reason[256];
        assert_int_equal(verify_at(f, &m, NOW + 65001, reason), CMD_EXPIRED);
    }
    /* many ids */
    for (int i = 0; i < 10000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "bulk-%d", i);
        assert_int_equal(cmd_replay_add(f->replay, id, NOW + i), XO_OK);
    }
    assert_int_equal(cmd_replay_evict(f->replay, NOW + 5000), 5000);
    assert_int_equal(cmd_replay_count(f->replay), 5000);
    assert_true(cmd_replay_seen(f->replay, "bulk-9999"));
    assert_false(cmd_replay_seen(f->replay, "bulk-0"));
    cmd_replay_evict(f->replay, INT64_MAX);
}

static void test_codes_and_peek(void **state)
{
    static const char *const codes[] = {
        "OK",         "SIGNATURE_MISSING", "SIGNATURE_INVALID", "UNKNOWN_KEY", "EXPIRED",
        "WRONG_POOL", "REPLAYED",          "OP_NOT_ALLOWED",    "MALFORMED",   "EXPIRES_TOO_FAR"};
    char id[CMD_ID_MAX + 1];

    (void)state;
    for (int v = CMD_OK; v <= CMD_EXPIRES_TOO_FAR; v++)
        assert_string_equal(cmd_verdict_code((cmd_verdict_t)v), codes[v]);
    cmd_peek_id("{\"id\":\"abc\",\"v\":2}", 19, id, sizeof(id));
    assert_string_equal(id, "abc");
    cmd_peek_id("garbage", 7, id, sizeof(id));
    assert_string_equal(id, "");
    cmd_peek_id("[\"id\"]", 6, id, sizeof(id));
    assert_string_equal(id, "");
    cmd_peek_id(NULL, 0, id, sizeof(id));
    assert_string_equal(id, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_op_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signature_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_and_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ops_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_window, setup, teardown),
        cmocka_unit_test(test_codes_and_peek),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
