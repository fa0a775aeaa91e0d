/*
 * test_short_bytes.c - xo_short_copy and xo_short_equal against memcpy and memcmp for every
 * length from 0 to 40 (each of their inline paths and both sides of every boundary), with a
 * differing byte at every position. The buffers are exactly n bytes long on the heap so that
 * the sanitizer build sees any read or write outside [0, n).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xo_short_bytes.h"

static char *bytes_of(size_t n, unsigned seed)
{
    char *p = malloc(n ? n : 1);

    assert_non_null(p);
    for (size_t k = 0; k < n; k++)
        p[k] = (char)(seed * 31 + k * 7 + 1);
    return p;
}

static void test_copy_every_length(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 40; n++) {
        char *from = bytes_of(n, (unsigned)n), *to = bytes_of(n, 99);
        xo_short_copy(to, from, n);
        assert_int_equal(memcmp(to, from, n), 0);
        free(from);
        free(to);
    }
}

static void test_equal_every_length_and_position(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 40; n++) {
        char *a = bytes_of(n, 5), *b = bytes_of(n, 5);
        assert_true(xo_short_equal(a, b, n));
        for (size_t at = 0; at < n; at++) {
            b[at] ^= 0x20;
            assert_false(xo_short_equal(a, b, n));
            b[at] ^= 0x20;
        }
        free(a);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_every_length),
        cmocka_unit_test(test_equal_every_length_and_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
