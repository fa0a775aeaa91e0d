/* Unit tests of gateway/core/xo_errors.c: an XO error and its one JSON writer, as the
 * JSON-RPC answers (api_rpc.c), the REST answers (rest.c) and a command's late JSON-RPC
 * answer carry it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rpc.h"
#include "api/rest.h"
#include "core/xo_errors.h"

/* The canonical text of a JSON value (for comparing objects written by different code). */
static char *canonical(json_object *o)
{
    return strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static json_object *parse(const gw_buf_t *b)
{
    json_object *o = json_tokener_parse(b->data);
    assert_non_null(o);
    return o;
}

static void test_fail_and_write(void **state)
{
    gw_xo_err_t e;
    gw_buf_t out;
    char long_msg[400];
    (void)state;

    gw_xo_err_init(&e);
    gw_buf_init(&out);
    assert_int_equal(gw_xo_fail(&e, GW_ERR_NO_SUCH_OBJECT, "no such VM \"x\"", "{\"id\":\"x\"}"),
                     -1);
    gw_xo_err_write(&out, &e);
    assert_string_equal(
        out.data, "{\"code\":1,\"message\":\"no such VM \\\"x\\\"\",\"data\":{\"id\":\"x\"}}");

    /* a second failure replaces the first, data included */
    gw_buf_reset(&out);
    gw_xo_fail(&e, GW_ERR_UNKNOWN, "out of memory", NULL);
    gw_xo_err_write(&out, &e);
    assert_string_equal(out.data, "{\"code\":-32000,\"message\":\"out of memory\"}");

    /* the message is bounded, never overflowed */
    memset(long_msg, 'm', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = '\0';
    gw_xo_fail(&e, GW_ERR_OP_FAILED, long_msg, NULL);
    assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
    gw_buf_fini(&out);
    gw_xo_err_fini(&e);
}

/* JSON-RPC's error member and a command's late answer hold the same object; REST's body is
 * its {error, data} shape (XO's REST API), with the same message and data. */
static void test_one_shape_everywhere(void **state)
{
    gw_xo_err_t e;
    gw_buf_t alone, rpc, late;
    gw_http_resp_t rest;
    gw_cmd_waiter_t w = {GW_CMD_WAIT_WS, 7, "\"req-1\"", true, NULL, NULL};
    gw_cmd_reply_t r = {&w, "cmd", false, NULL, &e};
    json_object *o_alone, *o_rpc, *o_rest, *o_late, *v;
    char *c_alone, *c_rpc, *c_rest, *c_late;
    (void)state;

    gw_xo_err_init(&e);
    gw_buf_init(&alone);
    gw_buf_init(&rpc);
    gw_buf_init(&late);
    memset(&rest, 0, sizeof(rest));
    gw_buf_init(&rest.body);
    gw_xo_fail(&e, GW_ERR_BAD_POWER, "VM state is Running but should be Halted",
               "{\"objectId\":\"vm1\",\"expected\":\"Halted\",\"actual\":\"Running\"}");
    gw_xo_err_write(&alone, &e);
    gw_rpc_write_error(&rpc, "3", &e);
    gw_rest_reply(&rest, 204, 500, NULL, &e);
    gw_rpc_write_reply(&late, &r);

    o_alone = parse(&alone);
    o_rpc = parse(&rpc);
    o_rest = parse(&rest.body);
    o_late = parse(&late);
    assert_int_equal(rest.status, 500);
    assert_true(json_object_object_get_ex(o_rpc, "id", &v) && json_object_get_int(v) == 3);
    assert_true(json_object_object_get_ex(o_late, "id", &v) &&
                !strcmp(json_object_get_string(v), "req-1"));
    c_alone = canonical(o_alone);
    assert_true(json_object_object_get_ex(o_rpc, "error", &v));
    c_rpc = canonical(v);
    c_rest = canonical(o_rest);
    assert_true(json_object_object_get_ex(o_late, "error", &v));
    c_late = canonical(v);
    assert_string_equal(c_rpc, c_alone);
    assert_string_equal(c_late, c_alone);
    assert_true(json_object_object_get_ex(o_rest, "error", &v));
    assert_string_equal(json_object_get_string(v), "VM state is Running but should be Halted");
    assert_true(json_object_object_get_ex(o_rest, "data", &v));
    {
        json_object *d = NULL;
        char *c_data, *c_want;
        assert_true(json_object_object_get_ex(o_alone, "data", &d));
        c_data = canonical(v);
        c_want = canonical(d);
        assert_string_equal(c_data, c_want);
        free(c_data);
        free(c_want);
    }
    assert_int_equal(json_object_object_length(o_rest), 2); /* {error, data} only */

    free(c_alone);
    free(c_rpc);
    free(c_rest);
    free(c_late);
    json_object_put(o_alone);
    json_object_put(o_rpc);
    json_object_put(o_rest);
    json_object_put(o_late);
    gw_buf_fini(&rest.body);
    gw_buf_fini(&late);
    gw_buf_fini(&rpc);
    gw_buf_fini(&alone);
    gw_xo_err_fini(&e);
}

/* A command's late success: its result, or true when it has none, under the request's id. */
static void test_late_success(void **state)
{
    gw_cmd_waiter_t w = {GW_CMD_WAIT_WS, 7, "12", true, NULL, NULL};
    gw_cmd_reply_t r = {&w, "cmd", true, "\"snap-uuid\"", NULL};
    gw_buf_t out;
    (void)state;

    gw_buf_init(&out);
    gw_rpc_write_reply(&out, &r);
    assert_string_equal(out.data, "{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":\"snap-uuid\"}");
    gw_buf_reset(&out);
    r.result_json = NULL;
    gw_rpc_write_reply(&out, &r);
    assert_string_equal(out.data, "{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":true}");
    gw_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_and_write),
        cmocka_unit_test(test_one_shape_everywhere),
        cmocka_unit_test(test_late_success),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
