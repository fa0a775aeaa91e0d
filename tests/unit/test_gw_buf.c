/* Unit tests of gateway/core/gw_buf.c's numbers: integers written by hand give what printf
 * gives (every magnitude and sign, the extremes), JSON numbers through the writer too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/gw_buf.h"

static void expect_int(int64_t v)
{
    char want[32];
    gw_buf_t b;

    snprintf(want, sizeof(want), "%" PRId64, v);
    gw_buf_init(&b);
    gw_buf_puts(&b, "x");
    gw_buf_int(&b, v);
    assert_string_equal(b.data + 1, want);
    assert_int_equal(b.len, strlen(want) + 1);
    gw_buf_fini(&b);
}

static void test_int_as_printf(void **state)
{
    int64_t p = 1;
    (void)state;

    expect_int(0);
    expect_int(INT64_MAX);
    expect_int(INT64_MIN);
    expect_int(INT64_MIN + 1);
    for (int i = 0; i < 19; i++) { /* each number of digits, and its edges */
        if (i > 0)
            p *= 10; /* up to 10^18: 10^19 is over INT64_MAX */
        expect_int(p);
        expect_int(-p);
        expect_int(p - 1);
        expect_int(-(p - 1));
        expect_int(p + 7);
        expect_int(-(p + 7));
    }
}

static void test_json_numbers(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-3, "-3"},
        {1733097600000.0, "1733097600000"},
        {9007199254740991.0, "9007199254740991"},
        {-9007199254740991.0, "-9007199254740991"},
        {8.4, "8.4"},
        {0.1 + 0.2, "0.30000000000000004"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_buf_t b;
        gw_buf_init(&b);
        gw_buf_json_double(&b, cases[i].v);
        assert_string_equal(b.data, cases[i].text);
        gw_buf_fini(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_as_printf),
        cmocka_unit_test(test_json_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
