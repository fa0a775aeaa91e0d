/* Unit tests of common/xo_log.c: line format, levels, debug contexts, escaping, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_log.h"

static char *capture(void (*fn)(void))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    xo_log_set_output(fp);
    fn();
    xo_log_set_output(NULL);
    fclose(fp);
    return buf;
}

static void emit_info(void)
{
    xo_info("agent", "event=connected host=%s port=%d", "127.0.0.1", 443);
}

static void test_line_format(void **state)
{
    char *out;

    (void)state;
    xo_log_set_level(XO_LOG_INFO);
    out = capture(emit_info);
    assert_non_null(strstr(out, " level=info mod=agent event=connected host=127.0.0.1 port=443\n"));
    assert_memory_equal(out, "ts=", 3);
    assert_int_equal(out[strlen(out) - 1], '\n');
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* exactly one line */
    free(out);
}

static void emit_multiline(void)
{
    xo_warn("x", "msg=\"%s\"", "line1\nline2\r\x01");
}

static void test_one_line_per_event(void **state)
{
    char *out;

    (void)state;
    out = capture(emit_multiline);
    assert_non_null(strstr(out, "line1\\nline2\\x0d\\x01"));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
}

static void emit_levels(void)
{
    xo_log(XO_LOG_DEBUG, "m", "event=debug_hidden");
    xo_dbg(XO_DBG_KAFKA, "m", "event=kafka_debug");
    xo_dbg(XO_DBG_WS, "m", "event=ws_debug");
    xo_error("m", "event=err");
}

static void test_levels_and_contexts(void **state)
{
    char errstr[256];
    char *out;
    xo_log_level_t level;

    (void)state;
    xo_log_set_debug("", NULL, 0);
    xo_log_set_level(XO_LOG_INFO);
    out = capture(emit_levels);
    assert_null(strstr(out, "debug_hidden"));
    assert_null(strstr(out, "kafka_debug"));
    assert_non_null(strstr(out, "level=error mod=m event=err"));
    free(out);

    assert_int_equal(xo_log_set_debug("kafka", errstr, sizeof(errstr)), XO_OK);
    out = capture(emit_levels);
    assert_non_null(strstr(out, "event=kafka_debug"));
    assert_null(strstr(out, "event=ws_debug"));
    free(out);

    assert_int_equal(xo_log_set_debug("kafka,bogus", errstr, sizeof(errstr)), XO_ERR_INVALID);
    assert_non_null(strstr(errstr, "bogus"));
    assert_int_equal(xo_log_level_parse("WARN", &level), XO_OK);
    assert_int_equal(level, XO_LOG_WARN);
    assert_int_equal(xo_log_level_parse("loud", &level), XO_ERR_INVALID);
    xo_log_set_debug("", NULL, 0);
    xo_log_set_level(XO_LOG_INFO);
}

static void test_secret_keys(void **state)
{
    (void)state;
    assert_true(xo_log_is_secret_key("xapi.password"));
    assert_true(xo_log_is_secret_key("sasl.password"));
    assert_true(xo_log_is_secret_key("ssl.key.password"));
    assert_true(xo_log_is_secret_key("api_token"));
    assert_false(xo_log_is_secret_key("xapi.url"));
    assert_false(xo_log_is_secret_key("bootstrap.servers"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_one_line_per_event),
        cmocka_unit_test(test_levels_and_contexts),
        cmocka_unit_test(test_secret_keys),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
