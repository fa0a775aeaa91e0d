/* Unit tests of gateway/api/auth_cache.c, the verified-credentials cache: hits, misses on
 * any other credential, expiry, a bounded table, clearing, and a disabled cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/auth_cache.h"

static const int OWNER_A = 1, OWNER_B = 2; /* any distinct addresses */

static void test_hit_and_miss(void **state)
{
    gw_auth_cache_t *c = NULL;
    const void *owner = NULL;
    uint64_t stamp = 0;
    (void)state;
    assert_int_equal(gw_auth_cache_new(16, 1000, &c), XO_OK);
    assert_false(gw_auth_cache_lookup(c, "a@x", "pw", 0, &owner, &stamp));
    gw_auth_cache_insert(c, "a@x", "pw", &OWNER_A, 7, 0);
    assert_true(gw_auth_cache_lookup(c, "a@x", "pw", 10, &owner, &stamp));
    assert_ptr_equal(owner, &OWNER_A);
    assert_int_equal(stamp, 7);
    /* any other credential misses: password, email, case, and the email/password split */
    assert_false(gw_auth_cache_lookup(c, "a@x", "pW", 10, &owner, &stamp));
    assert_false(gw_auth_cache_lookup(c, "a@x", "pw ", 10, &owner, &stamp));
    assert_false(gw_auth_cache_lookup(c, "A@x", "pw", 10, &owner, &stamp));
    assert_false(gw_auth_cache_lookup(c, "a@xp", "w", 10, &owner, &stamp));
    assert_false(gw_auth_cache_lookup(c, "a@", "xpw", 10, &owner, &stamp));
    /* the same credential verified again (another user now, say) replaces its entry */
    gw_auth_cache_insert(c, "a@x", "pw", &OWNER_B, 8, 20);
    assert_true(gw_auth_cache_lookup(c, "a@x", "pw", 30, &owner, &stamp));
    assert_ptr_equal(owner, &OWNER_B);
    assert_int_equal(stamp, 8);
    assert_int_equal(gw_auth_cache_count(c, 30), 1);
    gw_auth_cache_free(c);
}

static void test_expiry(void **state)
{
    gw_auth_cache_t *c = NULL;
    const void *owner = NULL;
    uint64_t stamp = 0;
    (void)state;
    assert_int_equal(gw_auth_cache_new(16, 1000, &c), XO_OK);
    gw_auth_cache_insert(c, "a@x", "pw", &OWNER_A, 1, 5000);
    assert_true(gw_auth_cache_lookup(c, "a@x", "pw", 5999, &owner, &stamp));
    assert_false(gw_auth_cache_lookup(c, "a@x", "pw", 6000, &owner, &stamp)); /* ttl since insert */
    assert_int_equal(gw_auth_cache_count(c, 6000), 0);
    /* a hit does not extend an entry: a password is verified again at least every ttl */
    gw_auth_cache_insert(c, "a@x", "pw", &OWNER_A, 1, 10000);
    assert_true(gw_auth_cache_lookup(c, "a@x", "pw", 10900, &owner, &stamp));
    assert_false(gw_auth_cache_lookup(c, "a@x", "pw", 11000, &owner, &stamp));
    gw_auth_cache_free(c);
}

static void test_bounded(void **state)
{
    gw_auth_cache_t *c = NULL;
    const void *owner = NULL;
    uint64_t stamp = 0;
    char email[32];
    int hits = 0;
    (void)state;
    assert_int_equal(gw_auth_cache_new(30, 60000, &c), XO_OK);
    assert_int_equal(gw_auth_cache_capacity(c), 32); /* rounded up to whole sets of 4 */
    for (int i = 0; i < 1000; i++) {
        snprintf(email, sizeof(email), "u%d@x", i);
        gw_auth_cache_insert(c, email, "pw", &OWNER_A, (uint64_t)i, i);
        assert_true(gw_auth_cache_count(c, i) <= 32);
    }
    assert_int_equal(gw_auth_cache_count(c, 1000), 32); /* full, never more */
    /* the newest credential is always kept: the oldest of its set made room */
    assert_true(gw_auth_cache_lookup(c, "u999@x", "pw", 1000, &owner, &stamp));
    assert_int_equal(stamp, 999);
    for (int i = 0; i < 1000; i++) {
        snprintf(email, sizeof(email), "u%d@x", i);
        hits += gw_auth_cache_lookup(c, email, "pw", 1000, &owner, &stamp);
    }
    assert_int_equal(hits, 32);
    gw_auth_cache_clear(c);
    assert_int_equal(gw_auth_cache_count(c, 1000), 0);
    assert_false(gw_auth_cache_lookup(c, "u999@x", "pw", 1000, &owner, &stamp));
    gw_auth_cache_free(c);
}

static void test_disabled(void **state)
{
    gw_auth_cache_t *c = NULL;
    const void *owner = NULL;
    uint64_t stamp = 0;
    (void)state;
    assert_int_equal(gw_auth_cache_new(16, 0, &c), XO_OK); /* ttl 0: off */
    gw_auth_cache_insert(c, "a@x", "pw", &OWNER_A, 1, 0);
    assert_false(gw_auth_cache_lookup(c, "a@x", "pw", 0, &owner, &stamp));
    assert_int_equal(gw_auth_cache_capacity(c), 0);
    gw_auth_cache_free(c);
    assert_int_equal(gw_auth_cache_new(0, 1000, &c), XO_OK); /* no entries: off */
    gw_auth_cache_insert(c, "a@x", "pw", &OWNER_A, 1, 0);
    assert_false(gw_auth_cache_lookup(c, "a@x", "pw", 0, &owner, &stamp));
    gw_auth_cache_free(c);
    gw_auth_cache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_miss),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
