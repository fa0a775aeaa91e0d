/* Unit tests of gateway/api/downloads.c: vm.export's pending downloads. A token serves once,
 * only while live, only exactly; the table is bounded and drops expired entries to make
 * room; tokens are fresh each time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/downloads.h"

static gw_download_t sample(int i)
{
    gw_download_t d = {0};

    snprintf(d.vm, sizeof(d.vm), "vm-%d", i);
    snprintf(d.uuid, sizeof(d.uuid), "uuid-%d", i);
    snprintf(d.pool, sizeof(d.pool), "pool-1");
    snprintf(d.name, sizeof(d.name), "20261201T000000Z - vm %d.xva", i);
    snprintf(d.compress, sizeof(d.compress), "\"zstd\"");
    return d;
}

static void test_once_and_exact(void **state)
{
    gw_downloads_t *d = gw_downloads_new();
    gw_download_t in = sample(1), out;
    char token[GW_TOKEN_LEN + 1], other[GW_TOKEN_LEN + 1], wrong[GW_TOKEN_LEN + 1];
    (void)state;

    assert_non_null(d);
    assert_true(gw_downloads_add(d, &in, 1000, token));
    assert_int_equal(strlen(token), GW_TOKEN_LEN);
    assert_true(gw_downloads_add(d, &in, 1000, other));
    assert_string_not_equal(token, other);
    memcpy(wrong, token, sizeof(wrong));
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    assert_false(gw_downloads_take(d, wrong, 1001, &out));
    assert_false(gw_downloads_take(d, "short", 1001, &out));
    assert_true(gw_downloads_take(d, token, 1001, &out));
    assert_string_equal(out.vm, "vm-1");
    assert_string_equal(out.compress, "\"zstd\"");
    assert_int_equal(out.expires_ms, 1000 + GW_DOWNLOAD_TTL_MS);
    assert_false(gw_downloads_take(d, token, 1002, &out)); /* once */
    assert_true(gw_downloads_take(d, other, 1002, &out));
    gw_downloads_free(d);
}

static void test_expiry_and_bound(void **state)
{
    gw_downloads_t *d = gw_downloads_new();
    gw_download_t in = sample(2), out;
    char token[GW_TOKEN_LEN + 1], first[GW_TOKEN_LEN + 1];
    (void)state;

    assert_true(gw_downloads_add(d, &in, 0, first));
    assert_false(gw_downloads_take(d, first, GW_DOWNLOAD_TTL_MS + 1, &out)); /* expired */
    for (int i = 0; i < GW_DOWNLOADS_PENDING; i++)
        assert_true(gw_downloads_add(d, &in, 10, token));
    assert_false(gw_downloads_add(d, &in, 10, token)); /* full */
    /* once they expire, they make room */
    assert_true(gw_downloads_add(d, &in, 10 + GW_DOWNLOAD_TTL_MS + 1, token));
    assert_true(gw_downloads_take(d, token, 10 + GW_DOWNLOAD_TTL_MS + 2, &out));
    gw_downloads_free(d);
    gw_downloads_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_and_exact),
        cmocka_unit_test(test_expiry_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
