/*
 * test_json_text.c - unit tests of common/xo_json_text.c: every string, integer and double
 * it writes is compared with what json-c 0.16 writes for the same value, with the flags the
 * project publishes with, over hand-picked and pseudo-random values.
 * Must not: depend on the locale or on anything outside the process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xo_json_text.h"

#define FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* json-c's bytes for v (taken), compared with the buffer's. */
static void assert_same(json_object *v, const xo_jtext_t *b)
{
    size_t n = 0;
    const char *want = json_object_to_json_string_length(v, FLAGS, &n);

    assert_int_equal(b->len, n);
    assert_memory_equal(b->p, want, n);
    json_object_put(v);
}

static uint64_t rng = 0x853c49e6748fea9bu;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_strings(void **state)
{
    (void)state;
    static const char *const fixed[] = {
        "",           "plain",        "a\"b\\c/d",
        "\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9 \xf0\x9f\x98\x80",
        "</script>"};
    xo_jtext_t b = {0};
    char s[64];

    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        b.len = 0;
        assert_int_equal(xo_jtext_str(&b, fixed[i], strlen(fixed[i])), XO_OK);
        assert_same(json_object_new_string(fixed[i]), &b);
    }
    /* every byte value, NUL included, at random places */
    for (int round = 0; round < 2000; round++) {
        size_t n = next_random() % sizeof s;
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(next_random() & 0xFF);
        b.len = 0;
        assert_int_equal(xo_jtext_str(&b, s, n), XO_OK);
        assert_same(json_object_new_string_len(s, (int)n), &b);
    }
    /* long plain runs (read eight bytes at a time) with a rare byte to escape anywhere,
     * next to bytes that sit just beside the escaped ranges */
    for (int round = 0; round < 4000; round++) {
        static const char rare[] = {'"', '\\', 0x1f, 0x01,       '\n',       0x20, '!',
                                    '#', '[',  ']',  (char)0x80, (char)0xff, 0x7f};
        size_t n = next_random() % sizeof s;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = next_random();
            s[i] = r % 16 ? (char)('a' + (r >> 8) % 26) : rare[(r >> 8) % sizeof rare];
        }
        b.len = 0;
        assert_int_equal(xo_jtext_str(&b, s, n), XO_OK);
        assert_same(json_object_new_string_len(s, (int)n), &b);
    }
    b.len = 0;
    assert_int_equal(xo_jtext_cstr(&b, NULL), XO_OK);
    assert_string_equal(b.p, "null");
    xo_jtext_fini(&b);
}

static void test_numbers(void **state)
{
    (void)state;
    static const int64_t ints[] = {0, 1, -1, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    static const double doubles[] = {0.0,         -0.0,  1.0,     -3.0,
                                     0.1,         1e300, -1e-300, 1e21,
                                     123456789.0, 2.5,   5e-324,  1.7976931348623157e308};
    xo_jtext_t b = {0};

    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        b.len = 0;
        assert_int_equal(xo_jtext_int(&b, ints[i]), XO_OK);
        assert_same(json_object_new_int64(ints[i]), &b);
    }
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
        b.len = 0;
        assert_int_equal(xo_jtext_double(&b, doubles[i]), XO_OK);
        assert_same(json_object_new_double(doubles[i]), &b);
    }
    for (int round = 0; round < 20000; round++) {
        uint64_t bits = next_random();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (round % 2) /* also integral values, which json-c writes with ".0" */
            d = (double)(int64_t)(bits >> (bits & 31));
        if (!isfinite(d))
            continue;
        b.len = 0;
        assert_int_equal(xo_jtext_double(&b, d), XO_OK);
        assert_same(json_object_new_double(d), &b);
        b.len = 0;
        assert_int_equal(xo_jtext_int(&b, (int64_t)bits), XO_OK);
        assert_same(json_object_new_int64((int64_t)bits), &b);
    }
    b.len = 0;
    assert_int_equal(xo_jtext_double(&b, NAN), XO_ERR_INVALID);
    assert_int_equal(xo_jtext_double(&b, INFINITY), XO_ERR_INVALID);
    xo_jtext_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
