/* Unit tests of gateway/bus/token_log.c: records of the tokens topic are applied only when
 * a trusted gateway key signed their key and value; anything else is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/token_log.h"
#include "xo_sign.h"

#define KEYHEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

typedef struct {
    int n;
    unsigned char digest[32];
    char user[40];
    int64_t expires;
} got_t;

static void apply(void *opaque, const unsigned char digest[32], const char *user_id,
                  int64_t expires_ms)
{
    got_t *g = opaque;
    g->n++;
    memcpy(g->digest, digest, 32);
    snprintf(g->user, sizeof(g->user), "%s", user_id ? user_id : "");
    g->expires = expires_ms;
}

/* A record of the tokens topic, signed by @p key over "<key>\n<sign_value>" (which differs
 * from the value sent for a tampered record); @p key NULL: no signature headers. */
static const xo_record_t *record(const xo_key_t *key, const char *value, const char *sign_value)
{
    static xo_record_t r;
    static char text[2048], sig[XO_SIG_B64_LEN + 1];
    size_t n = gw_token_signed_text(KEYHEX, 64, sign_value, sign_value ? strlen(sign_value) : 0,
                                    text, sizeof(text));

    assert_true(n > 0);
    memset(&r, 0, sizeof(r));
    r.key = KEYHEX;
    r.key_len = 64;
    r.value = value;
    r.value_len = value ? strlen(value) : 0;
    if (key) {
        assert_int_equal(xo_sign(key, text, n, sig), XO_OK);
        r.sig = sig;
        r.sig_len = strlen(sig);
        r.key_id = xo_key_id(key);
        r.key_id_len = strlen(r.key_id);
    }
    return &r;
}

static void test_verify(void **state)
{
    char dir[] = "/tmp/test_gw_token_log_XXXXXX", priv[256], pub[256], other_priv[256],
         other_pub[256], errstr[256];
    const char *live = "{\"v\":1,\"user\":\"u-1\",\"expires\":9000,\"issued\":1}";
    xo_key_t *mine = NULL, *other = NULL;
    gw_token_log_t *tl = NULL;
    gw_token_log_settings_t s;
    gw_token_log_stats_t st;
    got_t got = {0};
    xo_topics_t topics;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(priv, sizeof(priv), "%s/gw.key", dir);
    snprintf(pub, sizeof(pub), "%s/gw.pub", dir);
    snprintf(other_priv, sizeof(other_priv), "%s/other.key", dir);
    snprintf(other_pub, sizeof(other_pub), "%s/other.pub", dir);
    assert_int_equal(xo_key_generate(&mine, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_key_write_pem(mine, priv, pub, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_key_generate(&other, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_key_write_pem(other, other_priv, other_pub, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_topics_init(&topics, NULL), XO_OK);

    s = (gw_token_log_settings_t){priv, NULL};
    assert_int_equal(gw_token_log_new(&s, NULL, &topics, &tl, errstr, sizeof(errstr)), XO_OK);
    assert_true(gw_token_log_enabled(tl));

    /* signed by this gateway's key: applied */
    gw_token_log_push_record(tl, record(mine, live, live));
    gw_token_log_drain(tl, apply, &got);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.user, "u-1");
    assert_int_equal(got.expires, 9000);
    assert_int_equal(got.digest[0], 0x00);
    assert_int_equal(got.digest[31], 0xff);

    /* a signed tombstone: a deletion */
    gw_token_log_push_record(tl, record(mine, NULL, NULL));
    gw_token_log_drain(tl, apply, &got);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.user, "");
    assert_int_equal(got.expires, 0);

    /* tampered (another user than signed), an untrusted key, no signature: refused */
    gw_token_log_push_record(
        tl, record(mine, "{\"v\":1,\"user\":\"admin\",\"expires\":9000,\"issued\":1}", live));
    gw_token_log_push_record(tl, record(other, live, live));
    gw_token_log_push_record(tl, record(NULL, live, live));
    gw_token_log_drain(tl, apply, &got);
    assert_int_equal(got.n, 2);
    gw_token_log_stats(tl, &st);
    assert_int_equal(st.refused, 3);
    assert_int_equal(st.refused_by[GW_TOKREC_SIGNATURE], 3);
    assert_int_equal(st.applied, 2);

    /* a key that is not a digest, a value over the cap, a signed value that is not a token:
     * refused, each for its reason, whatever partition they sit on */
    {
        xo_record_t r = *record(mine, live, live);
        char big[GW_TOKEN_MAX_VALUE + 2];
        r.key = "not-a-digest";
        r.key_len = strlen(r.key);
        r.partition = 5;
        gw_token_log_push_record(tl, &r);
        memset(big, ' ', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        memcpy(big, live, strlen(live));
        gw_token_log_push_record(tl, record(mine, big, big));
        gw_token_log_push_record(tl, record(mine, "{\"v\":2}", "{\"v\":2}"));
    }
    gw_token_log_drain(tl, apply, &got);
    assert_int_equal(got.n, 2);
    gw_token_log_stats(tl, &st);
    assert_int_equal(st.refused, 6);
    assert_int_equal(st.refused_by[GW_TOKREC_BAD_KEY], 1);
    assert_int_equal(st.refused_by[GW_TOKREC_TOO_LARGE], 1);
    assert_int_equal(st.refused_by[GW_TOKREC_MALFORMED], 1);
    assert_string_equal(gw_token_refusal_name(GW_TOKREC_SIGNATURE), "signature");
    gw_token_log_free(tl, 0);

    /* the other gateway's key, once listed, is trusted */
    s = (gw_token_log_settings_t){priv, other_pub};
    assert_int_equal(gw_token_log_new(&s, NULL, &topics, &tl, errstr, sizeof(errstr)), XO_OK);
    gw_token_log_push_record(tl, record(other, live, live));
    gw_token_log_drain(tl, apply, &got);
    assert_int_equal(got.n, 3);
    gw_token_log_free(tl, 0);

    /* without a key: disabled, nothing applied */
    s = (gw_token_log_settings_t){NULL, NULL};
    assert_int_equal(gw_token_log_new(&s, NULL, &topics, &tl, errstr, sizeof(errstr)), XO_OK);
    assert_false(gw_token_log_enabled(tl));
    gw_token_log_free(tl, 0);
    /* an unreadable key: a configuration error */
    s = (gw_token_log_settings_t){"/nonexistent/key.pem", NULL};
    assert_int_equal(gw_token_log_new(&s, NULL, &topics, &tl, errstr, sizeof(errstr)),
                     XO_ERR_CONFIG);

    xo_key_free(mine);
    xo_key_free(other);
    unlink(priv);
    unlink(pub);
    unlink(other_priv);
    unlink(other_pub);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_verify)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
