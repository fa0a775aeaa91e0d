/* Unit tests of common/xo_kafka_stats.c: broker connectivity read from librdkafka's
 * statistics JSON (the shape librdkafka 2.x emits: brokers keyed by name, each with
 * nodeid, source and state). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "xo_kafka_stats.h"

static xo_err_t parse(const char *json, xo_kafka_brokers_t *b)
{
    return xo_kafka_stats_brokers(json, strlen(json), b);
}

static void test_counts_real_brokers_only(void **state)
{
    /* Two brokers up, one never needed (INIT), the group coordinator (a logical second
     * connection to broker 2) and the internal one left out. */
    const char *json =
        "{\"name\":\"c\",\"type\":\"consumer\",\"brokers\":{"
        "\"127.0.0.1:1/1\":{\"name\":\"127.0.0.1:1/1\",\"nodeid\":1,\"source\":\"configured\","
        "\"state\":\"INIT\"},"
        "\"127.0.0.1:2/2\":{\"name\":\"127.0.0.1:2/2\",\"nodeid\":2,\"source\":\"learned\","
        "\"state\":\"UP\"},"
        "\"127.0.0.1:3/3\":{\"nodeid\":3,\"source\":\"configured\",\"state\":\"UP\"},"
        "\"GroupCoordinator\":{\"nodeid\":2,\"source\":\"logical\",\"state\":\"UP\"},"
        "\":0/internal\":{\"nodeid\":-1,\"source\":\"internal\",\"state\":\"UP\"}},"
        "\"topics\":{}}";
    xo_kafka_brokers_t b;

    (void)state;
    assert_int_equal(parse(json, &b), XO_OK);
    assert_int_equal(b.brokers, 3);
    assert_int_equal(b.brokers_up, 2);
}

static void test_all_down(void **state)
{
    /* What librdkafka reports while every broker refuses connections: a logical broker
     * that is up would not make the client connected, and it is not counted. */
    const char *json =
        "{\"brokers\":{"
        "\"a/1\":{\"nodeid\":1,\"source\":\"configured\",\"state\":\"TRY_CONNECT\"},"
        "\"a/2\":{\"nodeid\":2,\"source\":\"configured\",\"state\":\"CONNECT\"},"
        "\"a/3\":{\"nodeid\":3,\"source\":\"learned\",\"state\":\"DOWN\"},"
        "\"GroupCoordinator\":{\"nodeid\":2,\"source\":\"logical\",\"state\":\"UP\"}}}";
    xo_kafka_brokers_t b;

    (void)state;
    assert_int_equal(parse(json, &b), XO_OK);
    assert_int_equal(b.brokers, 3);
    assert_int_equal(b.brokers_up, 0);
    assert_int_equal(parse("{\"brokers\":{}}", &b), XO_OK);
    assert_int_equal(b.brokers, 0);
    assert_int_equal(b.brokers_up, 0);
}

static void test_bad_reports(void **state)
{
    xo_kafka_brokers_t b = {7, 7};
    const char *json = "{\"brokers\":{\"a\":{\"state\":\"UP\"}}}";

    (void)state;
    assert_int_equal(parse("", &b), XO_ERR_PARSE);
    assert_int_equal(parse("{\"brokers\":", &b), XO_ERR_PARSE);
    assert_int_equal(parse("{\"brokers\":[1]}", &b), XO_ERR_PARSE);
    assert_int_equal(parse("{\"topics\":{}}", &b), XO_ERR_PARSE);
    assert_int_equal(parse("[]", &b), XO_ERR_PARSE);
    assert_int_equal(b.brokers, 7); /* untouched on error */
    /* Not NUL-terminated: only len bytes are read. */
    assert_int_equal(xo_kafka_stats_brokers(json, strlen(json) - 1, &b), XO_ERR_PARSE);
    assert_int_equal(xo_kafka_stats_brokers(json, strlen(json), &b), XO_OK);
    /* A broker entry that is not an object, or without a source, is a real broker. */
    assert_int_equal(b.brokers, 1);
    assert_int_equal(b.brokers_up, 1);
    assert_int_equal(parse("{\"brokers\":{\"a\":1,\"b\":{\"state\":\"UP\"}}}", &b), XO_OK);
    assert_int_equal(b.brokers, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_real_brokers_only),
        cmocka_unit_test(test_all_down),
        cmocka_unit_test(test_bad_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
