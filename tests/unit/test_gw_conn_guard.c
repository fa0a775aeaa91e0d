/* Unit tests of gateway/transport/conn_guard.c: the per-connection byte budget (one
 * message always fits an empty queue; after it, the queued bytes stay within the limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "transport/conn_guard.h"

static void test_one_message_always_fits(void **state)
{
    gw_conn_budget_t b;
    (void)state;

    gw_conn_budget_init(&b, 1000);
    assert_true(gw_conn_budget_fits(&b, 0));
    assert_true(gw_conn_budget_fits(&b, 5000)); /* an answer bigger than the limit */
    gw_conn_budget_take(&b, 5000);
    assert_false(gw_conn_budget_fits(&b, 1)); /* ... but nothing after it */
    gw_conn_budget_give(&b, 5000);
    assert_int_equal(b.queued, 0);
    assert_true(gw_conn_budget_fits(&b, 1));
}

static void test_limit_is_inclusive(void **state)
{
    gw_conn_budget_t b;
    (void)state;

    gw_conn_budget_init(&b, 1000);
    gw_conn_budget_take(&b, 400);
    assert_true(gw_conn_budget_fits(&b, 600));
    assert_false(gw_conn_budget_fits(&b, 601));
    gw_conn_budget_take(&b, 600);
    assert_false(gw_conn_budget_fits(&b, 1));
    gw_conn_budget_give(&b, 100); /* a chunk written */
    assert_true(gw_conn_budget_fits(&b, 100));
    assert_false(gw_conn_budget_fits(&b, 101));
}

static void test_no_overflow(void **state)
{
    gw_conn_budget_t b;
    (void)state;

    gw_conn_budget_init(&b, 1000);
    gw_conn_budget_take(&b, 10);
    assert_false(gw_conn_budget_fits(&b, SIZE_MAX)); /* queued + len would wrap */
    assert_false(gw_conn_budget_fits(&b, SIZE_MAX - 5));
    gw_conn_budget_give(&b, 50); /* more than queued: never below zero */
    assert_int_equal(b.queued, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_message_always_fits),
        cmocka_unit_test(test_limit_is_inclusive),
        cmocka_unit_test(test_no_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
