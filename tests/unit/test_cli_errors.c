/* Unit tests of cli/errors.c: the one line and the exit status of each kind of failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

static int fail_with(const char *json, cli_err_t *e)
{
    json_object *o = json_tokener_parse(json);
    int status = cli_fail_xo(e, o);
    json_object_put(o);
    return status;
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(cli_xo_error_name(1), "noSuchObject");
    assert_string_equal(cli_xo_error_name(13), "vmBadPowerState");
    assert_string_equal(cli_xo_error_name(21), "operationFailed");
    assert_string_equal(cli_xo_error_name(-32601), "methodNotFound");
    assert_null(cli_xo_error_name(4)); /* deprecated in xo-common */
    assert_null(cli_xo_error_name(999));
}

static void test_xo_errors(void **state)
{
    cli_err_t e;
    (void)state;
    assert_int_equal(fail_with("{\"code\":13,\"message\":\"VM state is running but should be "
                               "halted\",\"data\":{\"objectId\":\"u\",\"expected\":\"halted\","
                               "\"actual\":\"running\"}}",
                               &e),
                     XO_EXIT_FAILURE);
    assert_string_equal(e.line,
                        "vmBadPowerState (13): VM state is running but should be halted "
                        "{\"objectId\":\"u\",\"expected\":\"halted\",\"actual\":\"running\"}");
    /* a wrong password: the authentication exit status */
    assert_int_equal(fail_with("{\"code\":3,\"message\":\"invalid credentials\"}", &e),
                     XO_EXIT_AUTH);
    assert_string_equal(e.line, "invalidCredentials (3): invalid credentials");
    /* ajv's errors listed as xo-cli lists them */
    assert_int_equal(
        fail_with("{\"code\":10,\"message\":\"invalid parameters\",\"data\":{\"errors\":"
                  "[{\"instancePath\":\"/id\",\"message\":\"must be string\"},"
                  "{\"instancePath\":\"\",\"message\":\"must have required property "
                  "'id'\"}]}}",
                  &e),
        XO_EXIT_FAILURE);
    assert_string_equal(e.line, "invalidParameters (10): invalid parameters; property @.id: must "
                                "be string; property @: must have required property 'id'");
    /* the method's name as data is not repeated; an empty data object is left out */
    fail_with("{\"code\":-32601,\"message\":\"method not found: vm.x\",\"data\":\"vm.x\"}", &e);
    assert_string_equal(e.line, "methodNotFound (-32601): method not found: vm.x");
    fail_with("{\"code\":12,\"message\":\"VM is a template\",\"data\":{}}", &e);
    assert_string_equal(e.line, "vmIsTemplate (12): VM is a template");
    fail_with("{\"code\":77,\"message\":\"new\\nthing\"}", &e);
    assert_string_equal(e.line, "error (77): new thing"); /* one line */
}

static void test_transport_errors(void **state)
{
    cli_err_t e;
    (void)state;
    assert_int_equal(cli_fail_transport(&e, XO_ERR_CONNECT, "connection refused: h:1"),
                     XO_EXIT_UNREACH);
    assert_string_equal(e.line, "connection refused: h:1");
    assert_int_equal(cli_fail_transport(&e, XO_ERR_TIMEOUT, "timeout"), XO_EXIT_UNREACH);
    assert_int_equal(cli_fail_transport(&e, XO_ERR_TLS, "TLS failure: x"), XO_EXIT_TLS);
    assert_int_equal(cli_fail_transport(&e, XO_ERR_PARSE, "bad"), XO_EXIT_FAILURE);
    /* cli_fail truncates and keeps one line */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[5] = '\n';
    cli_fail(&e, XO_EXIT_USAGE, "%s", big);
    assert_int_equal(e.status, XO_EXIT_USAGE);
    assert_int_equal(strlen(e.line), sizeof(e.line) - 1);
    assert_null(strchr(e.line, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_xo_errors),
        cmocka_unit_test(test_transport_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
