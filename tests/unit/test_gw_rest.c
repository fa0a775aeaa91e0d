/* Unit tests of gateway/api/rest.c request parsing (filters: test_gw_filter.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest.h"

static gw_http_req_t *req_of(const char *target)
{
    static gw_http_req_t req;
    char errstr[128];
    memset(&req, 0, sizeof(req));
    req.is_get = true;
    assert_int_equal(gw_http_parse_target(target, &req, errstr, sizeof(errstr)), XO_OK);
    return &req;
}

static void test_target(void **state)
{
    gw_http_req_t *r = req_of(
        "/rest/v0/vms?fields=name_label,power_state&filter=power_state%3ARunning+x&limit=2&ndjson");
    gw_http_req_t bad;
    char errstr[128], big[8192];
    (void)state;
    assert_string_equal(r->path, "/rest/v0/vms");
    assert_int_equal(r->nargs, 4);
    assert_string_equal(r->args[1].name, "filter");
    assert_string_equal(r->args[1].value, "power_state:Running x");
    assert_string_equal(r->args[3].name, "ndjson");
    assert_string_equal(r->args[3].value, "");
    memset(&bad, 0, sizeof(bad));
    assert_int_equal(gw_http_parse_target("/a%zz", &bad, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_int_equal(gw_http_parse_target("/a%2", &bad, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_int_equal(gw_http_parse_target("/a%00b", &bad, errstr, sizeof(errstr)), XO_ERR_PARSE);
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(gw_http_parse_target(big, &bad, errstr, sizeof(errstr)), XO_ERR_LIMIT);
    {
        char many[4096] = "/x?";
        for (int i = 0; i < 40; i++)
            strcat(many, "a=1&");
        assert_int_equal(gw_http_parse_target(many, &bad, errstr, sizeof(errstr)), XO_ERR_LIMIT);
    }
}

static void test_routes(void **state)
{
    gw_rest_query_t q;
    char errstr[128];
    (void)state;
    assert_int_equal(gw_rest_parse(req_of("/healthz"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_HEALTHZ);
    assert_int_equal(gw_rest_parse(req_of("/metrics"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_METRICS);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_REST_ROOT);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/hosts"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_REST_COLLECTION);
    assert_int_equal(q.type, GW_T_HOST);
    assert_false(q.has_fields);
    assert_int_equal(q.limit, -1);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms/abc-1"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.route, GW_ROUTE_REST_OBJECT);
    assert_string_equal(q.id, "abc-1");
    assert_int_equal(q.type, GW_T_VM);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms/abc/vdis"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/nope"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0x"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?fields=*&limit=10&ndjson=true&filter=a"),
                                   &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_true(q.all_fields);
    assert_int_equal(q.limit, 10);
    assert_true(q.ndjson);
    assert_string_equal(q.filter, "a");
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?fields=a,,b"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.nfields, 2);
    assert_string_equal(q.fields[1], "b");
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?fields="), &q, errstr, sizeof(errstr)),
                     XO_ERR_PARSE);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?limit=-1"), &q, errstr, sizeof(errstr)),
                     XO_ERR_PARSE);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?limit=1x"), &q, errstr, sizeof(errstr)),
                     XO_ERR_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
