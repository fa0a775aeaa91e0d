/* Unit tests of common/xo_sign.c: Ed25519 sign/verify, PEM files, key ids, keyring, a
 * key's second handle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xo_sign.h"

static const char msg[] = "{\"v\":1,\"id\":\"c1\",\"op\":\"vm.start\"}";

static void test_sign_verify(void **state)
{
    xo_key_t *k;
    char sig[XO_SIG_B64_LEN + 1], tampered[sizeof(msg)];

    (void)state;
    assert_int_equal(xo_key_generate(&k, NULL, 0), XO_OK);
    assert_int_equal(strlen(xo_key_id(k)), XO_KEY_ID_LEN);
    assert_int_equal(xo_sign(k, msg, strlen(msg), sig), XO_OK);
    assert_int_equal(strlen(sig), XO_SIG_B64_LEN);
    assert_int_equal(xo_verify(k, msg, strlen(msg), sig, strlen(sig)), XO_OK);
    /* one flipped byte of the value */
    memcpy(tampered, msg, sizeof(msg));
    tampered[10] ^= 1;
    assert_int_equal(xo_verify(k, tampered, strlen(tampered), sig, strlen(sig)), XO_ERR_BADSIG);
    /* one flipped character of the signature */
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    assert_int_equal(xo_verify(k, msg, strlen(msg), sig, strlen(sig)), XO_ERR_BADSIG);
    /* malformed signatures */
    assert_int_equal(xo_verify(k, msg, strlen(msg), "abc", 3), XO_ERR_BADSIG);
    assert_int_equal(xo_verify(k, msg, strlen(msg), sig, 87), XO_ERR_BADSIG);
    xo_key_free(k);
}

static void test_wrong_key(void **state)
{
    xo_key_t *a, *b;
    char sig[XO_SIG_B64_LEN + 1];

    (void)state;
    assert_int_equal(xo_key_generate(&a, NULL, 0), XO_OK);
    assert_int_equal(xo_key_generate(&b, NULL, 0), XO_OK);
    assert_string_not_equal(xo_key_id(a), xo_key_id(b));
    xo_sign(a, msg, strlen(msg), sig);
    assert_int_equal(xo_verify(b, msg, strlen(msg), sig, strlen(sig)), XO_ERR_BADSIG);
    xo_key_free(a);
    xo_key_free(b);
}

/* A second handle on a key signs on after the first is freed (a transfer worker outliving
 * the command thread's context), with the same id and the same signatures. */
static void test_dup_outlives_original(void **state)
{
    xo_key_t *k, *dup, *other;
    char sig[XO_SIG_B64_LEN + 1], sig2[XO_SIG_B64_LEN + 1], id[XO_KEY_ID_LEN + 1];

    (void)state;
    assert_null(xo_key_dup(NULL));
    assert_int_equal(xo_key_generate(&k, NULL, 0), XO_OK);
    assert_int_equal(xo_key_generate(&other, NULL, 0), XO_OK);
    dup = xo_key_dup(k);
    assert_non_null(dup);
    assert_ptr_not_equal(dup, k);
    snprintf(id, sizeof(id), "%s", xo_key_id(k));
    assert_int_equal(xo_sign(k, msg, strlen(msg), sig), XO_OK);
    xo_key_free(k);
    assert_string_equal(xo_key_id(dup), id);
    assert_int_equal(xo_sign(dup, msg, strlen(msg), sig2), XO_OK);
    assert_string_equal(sig, sig2); /* Ed25519 is deterministic: the same key */
    assert_int_equal(xo_verify(dup, msg, strlen(msg), sig, strlen(sig)), XO_OK);
    assert_int_equal(xo_verify(other, msg, strlen(msg), sig, strlen(sig)), XO_ERR_BADSIG);
    xo_key_free(dup);
    xo_key_free(other);
}

/* A key's raw base64 form (a transfer command's source_keys) gives back a key that verifies
 * what the private key signed, with the same id; malformed forms are refused. */
static void test_public_b64_round_trip(void **state)
{
    xo_key_t *k, *pub, *other, *bad = NULL;
    char b64[XO_PUB_B64_LEN + 1], sig[XO_SIG_B64_LEN + 1], tweaked[XO_PUB_B64_LEN + 1];

    (void)state;
    assert_int_equal(xo_key_generate(&k, NULL, 0), XO_OK);
    assert_int_equal(xo_key_generate(&other, NULL, 0), XO_OK);
    assert_int_equal(xo_key_public_b64(k, b64), XO_OK);
    assert_int_equal(strlen(b64), XO_PUB_B64_LEN);
    assert_int_equal(xo_key_from_public_b64(b64, strlen(b64), &pub), XO_OK);
    assert_string_equal(xo_key_id(pub), xo_key_id(k));
    assert_int_equal(xo_sign(k, msg, strlen(msg), sig), XO_OK);
    assert_int_equal(xo_verify(pub, msg, strlen(msg), sig, strlen(sig)), XO_OK);
    assert_int_equal(xo_sign(other, msg, strlen(msg), sig), XO_OK);
    assert_int_equal(xo_verify(pub, msg, strlen(msg), sig, strlen(sig)), XO_ERR_BADSIG);
    assert_int_equal(xo_key_from_public_b64(b64, 43, &bad), XO_ERR_BADSIG);
    assert_int_equal(
        xo_key_from_public_b64("not base64 at all, but forty-four chars long", 44, &bad),
        XO_ERR_BADSIG);
    memcpy(tweaked, b64, sizeof(tweaked));
    tweaked[43] = 'A'; /* no padding: 33 bytes of which the last is not padding */
    assert_int_equal(xo_key_from_public_b64(tweaked, strlen(tweaked), &bad), XO_ERR_BADSIG);
    assert_null(bad);
    xo_key_free(pub);
    xo_key_free(other);
    xo_key_free(k);
}

static void test_pem_files_and_keyring(void **state)
{
    char dir[] = "/tmp/xo-test-sign-XXXXXX", priv[128], pub[128], pub2[128], errstr[256];
    char sig[XO_SIG_B64_LEN + 1];
    xo_key_t *k, *loaded, *other;
    xo_keyring_t *ring = xo_keyring_new();
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(priv, sizeof(priv), "%s/gw.key", dir);
    snprintf(pub, sizeof(pub), "%s/gw.pub", dir);
    snprintf(pub2, sizeof(pub2), "%s/other.pub", dir);
    assert_int_equal(xo_key_generate(&k, NULL, 0), XO_OK);
    assert_int_equal(xo_key_write_pem(k, priv, pub, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(stat(priv, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* never overwrite an existing key */
    assert_int_equal(xo_key_write_pem(k, priv, pub, errstr, sizeof(errstr)), XO_ERR_IO);
    assert_int_equal(xo_key_load_private(priv, &loaded, errstr, sizeof(errstr)), XO_OK);
    assert_string_equal(xo_key_id(loaded), xo_key_id(k));
    assert_int_equal(xo_sign(loaded, msg, strlen(msg), sig), XO_OK);

    assert_int_equal(xo_key_generate(&other, NULL, 0), XO_OK);
    {
        char opriv[128];
        snprintf(opriv, sizeof(opriv), "%s/other.key", dir);
        assert_int_equal(xo_key_write_pem(other, opriv, pub2, errstr, sizeof(errstr)), XO_OK);
        unlink(opriv);
    }
    assert_int_equal(xo_keyring_add_file(ring, pub2, errstr, sizeof(errstr)), XO_OK);
    /* the gateway's key is not in the ring yet: unknown key */
    assert_int_equal(
        xo_keyring_verify(ring, xo_key_id(k), XO_KEY_ID_LEN, msg, strlen(msg), sig, strlen(sig)),
        XO_ERR_NOTFOUND);
    assert_int_equal(xo_keyring_add_file(ring, pub, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_keyring_count(ring), 2);
    assert_int_equal(
        xo_keyring_verify(ring, xo_key_id(k), XO_KEY_ID_LEN, msg, strlen(msg), sig, strlen(sig)),
        XO_OK);
    /* a signature by k presented under the other key's id fails */
    assert_int_equal(xo_keyring_verify(ring, xo_key_id(other), XO_KEY_ID_LEN, msg, strlen(msg), sig,
                                       strlen(sig)),
                     XO_ERR_BADSIG);
    assert_int_equal(
        xo_key_load_public("/nonexistent/x.pub", &loaded, errstr, sizeof(errstr)) == XO_ERR_IO, 1);
    /* a private key file is not a public key */
    assert_int_not_equal(xo_keyring_add_file(ring, priv, errstr, sizeof(errstr)), XO_OK);
    unlink(priv);
    unlink(pub);
    unlink(pub2);
    rmdir(dir);
    xo_keyring_free(ring);
    xo_key_free(k);
    xo_key_free(loaded);
    xo_key_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),           cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_dup_outlives_original), cmocka_unit_test(test_public_b64_round_trip),
        cmocka_unit_test(test_pem_files_and_keyring),
    };
    return cmocka_run_group_tests_name("sign", tests, NULL, NULL);
}
