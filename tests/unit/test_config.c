/* Unit tests of common/xo_config.c: file format, errors with file:line:key, env overrides,
 * kafka pass-through, validation, redacted dumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xo_config.h"

static const xo_cfg_spec_t spec[] = {
    {"xapi.url", XO_CFG_STRING, NULL, 0, 0, true, "Pool master URL."},
    {"xapi.password", XO_CFG_SECRET, NULL, 0, 0, false, "Password."},
    {"xapi.timeout_ms", XO_CFG_INT, "30000", 100, 600000, false, "Call timeout."},
    {"xapi.insecure", XO_CFG_BOOL, "false", 0, 0, false, "Skip TLS verification."},
    {"agent.id", XO_CFG_STRING, "agent-1", 0, 0, false, "Agent id."},
    {NULL, 0, NULL, 0, 0, false, NULL},
};

static xo_err_t collect(const char *k, const char *v, void *opaque)
{
    char *buf = opaque;
    strcat(buf, k);
    strcat(buf, "=");
    strcat(buf, v);
    strcat(buf, ";");
    return XO_OK;
}

static void test_parse_file_format(void **state)
{
    char errstr[256], kafka[512] = "";
    xo_config_t *cfg = xo_config_new(spec, "XO_T");
    const char *text = "# comment\n; other comment\n\n[xapi]\nurl = \"https://pool\"\n"
                       "timeout_ms=5000\ninsecure = yes\n[kafka]\nbootstrap.servers = h:9092\n"
                       "linger.ms = 10\r\n";

    (void)state;
    assert_int_equal(xo_config_load_string(cfg, text, "t.conf", errstr, sizeof(errstr)), XO_OK);
    assert_string_equal(xo_config_get(cfg, "xapi.url"), "https://pool");
    assert_int_equal(xo_config_get_int(cfg, "xapi.timeout_ms"), 5000);
    assert_true(xo_config_get_bool(cfg, "xapi.insecure"));
    assert_string_equal(xo_config_get(cfg, "agent.id"), "agent-1"); /* default */
    assert_int_equal(xo_config_each_kafka(cfg, collect, kafka), XO_OK);
    assert_string_equal(kafka, "bootstrap.servers=h:9092;linger.ms=10;");
    assert_int_equal(xo_config_validate(cfg, errstr, sizeof(errstr)), XO_OK);
    xo_config_free(cfg);
}

static void expect_error(const char *text, const char *needle)
{
    char errstr[256] = "";
    xo_config_t *cfg = xo_config_new(spec, "XO_T");

    assert_int_equal(xo_config_load_string(cfg, text, "a.conf", errstr, sizeof(errstr)),
                     XO_ERR_CONFIG);
    if (!strstr(errstr, needle))
        fail_msg("error '%s' does not contain '%s'", errstr, needle);
    xo_config_free(cfg);
}

static void test_errors_name_file_line_key(void **state)
{
    (void)state;
    expect_error("[xapi]\nurll = x\n", "a.conf:2: unknown key 'xapi.urll'");
    expect_error("[xapi]\n\ntimeout_ms = fast\n",
                 "a.conf:3: key 'xapi.timeout_ms': expected an integer");
    expect_error("[xapi]\ntimeout_ms = 5\n", "outside the range 100..600000");
    expect_error("[xapi]\ninsecure = maybe\n",
                 "a.conf:2: key 'xapi.insecure': expected true or false");
    expect_error("[xapi\n", "a.conf:1: malformed section header");
    expect_error("[xapi]\njust words\n", "a.conf:2: expected 'key = value'");
}

static void test_missing_required(void **state)
{
    char errstr[256];
    xo_config_t *cfg = xo_config_new(spec, "XO_T");

    (void)state;
    assert_int_equal(xo_config_validate(cfg, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    assert_non_null(strstr(errstr, "xapi.url"));
    xo_config_free(cfg);
}

static void test_env_overrides(void **state)
{
    char errstr[256], kafka[512] = "";
    char *env[] = {"XO_T_XAPI_URL=http://env", "XO_T_KAFKA_BOOTSTRAP_SERVERS=b:1",
                   "OTHER_XAPI_URL=ignored", "XO_T_AGENT_ID=from-env", NULL};
    char *bad[] = {"XO_T_NOPE=1", NULL};
    char *badval[] = {"XO_T_XAPI_TIMEOUT_MS=abc", NULL};
    xo_config_t *cfg = xo_config_new(spec, "XO_T");

    (void)state;
    assert_int_equal(
        xo_config_load_string(cfg, "[xapi]\nurl = http://file\n", "f", errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(xo_config_apply_env(cfg, env, errstr, sizeof(errstr)), XO_OK);
    assert_string_equal(xo_config_get(cfg, "xapi.url"), "http://env");
    assert_string_equal(xo_config_get(cfg, "agent.id"), "from-env");
    xo_config_each_kafka(cfg, collect, kafka);
    assert_string_equal(kafka, "bootstrap.servers=b:1;");
    assert_int_equal(xo_config_apply_env(cfg, bad, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    assert_non_null(strstr(errstr, "XO_T_NOPE"));
    assert_int_equal(xo_config_apply_env(cfg, badval, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    assert_non_null(strstr(errstr, "environment XO_T_XAPI_TIMEOUT_MS"));
    xo_config_free(cfg);
}

static void test_dump_redacts_secrets(void **state)
{
    char errstr[256], *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    xo_config_t *cfg = xo_config_new(spec, "XO_T");

    (void)state;
    assert_int_equal(xo_config_load_string(cfg,
                                           "[xapi]\nurl=u\npassword=hunter2\n[kafka]\n"
                                           "sasl.password=s3cret\n",
                                           "f", errstr, sizeof(errstr)),
                     XO_OK);
    xo_config_dump(cfg, fp);
    fclose(fp);
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "s3cret"));
    assert_non_null(strstr(buf, "password = <redacted>"));
    assert_non_null(strstr(buf, "[xapi]\nurl = u\n"));
    free(buf);
    xo_config_free(cfg);
}

static void test_load_file_and_spec_docs(void **state)
{
    char path[] = "/tmp/xo-test-config-XXXXXX", errstr[256], *buf = NULL;
    size_t len = 0;
    int fd = mkstemp(path);
    FILE *fp;
    xo_config_t *cfg = xo_config_new(spec, "XO_T");

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "[xapi]\nurl = x\nbogus = 1\n", 25), 25);
    close(fd);
    assert_int_equal(xo_config_load_file(cfg, path, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    assert_non_null(strstr(errstr, ":3: unknown key 'xapi.bogus'"));
    unlink(path);
    assert_int_equal(xo_config_load_file(cfg, path, errstr, sizeof(errstr)), XO_ERR_IO);
    fp = open_memstream(&buf, &len);
    xo_config_print_spec(spec, "XO_T", true, fp);
    fclose(fp);
    assert_non_null(strstr(buf, "| `xapi.timeout_ms` | integer (100..600000) | `30000` | "
                                "`XO_T_XAPI_TIMEOUT_MS` |"));
    free(buf);
    xo_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_file_format),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_dump_redacts_secrets),
        cmocka_unit_test(test_load_file_and_spec_docs),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
