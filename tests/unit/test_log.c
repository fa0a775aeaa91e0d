/*
 * Unit tests of common/xo_log.c: line format, levels, debug contexts, secrets, and values
 * no input can forge: hostile user names, paths and headers through the gateway's own log
 * formats, each line read back by a strict logfmt reader (tests/support/logfmt.c) that must
 * find the same keys and decode every value to the bytes that were logged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "logfmt.h"
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

/* ---- values no input can forge ---- */

/* Inputs an attacker controls: Basic-auth user names, URL paths, header values. */
static const char *const hostile[] = {
    "a\" level=error event=FORGED user=\"root",
    "a\\\" level=error event=FORGED x=\"",
    "trailing backslash\\",
    "\\\"",
    "x\nts=2024-01-01T00:00:00.000Z level=error mod=gw event=FORGED",
    "cr\rlf\r\nnul-free tab\tbell\a esc\x1b[31mred\x7f",
    "spaces and = signs",
    "=",
    "\"",
    "",
    "\xff\xfe invalid",
    "\xc0\xaf overlong /",
    "\xed\xa0\x80 surrogate",
    "\xf4\x90\x80\x80 above U+10FFFF",
    "\xe2\x82 cut \xe2",
    "\xc2\x85 NEL \xe2\x80\xa8 LS \xe2\x80\xa9 PS",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
    "/rest/v0/vms/%00/../\"x\"=1",
};

static logfmt_line_t *parsed(const char *line, size_t len)
{
    logfmt_line_t *l = malloc(sizeof(*l));
    const char *why;

    assert_non_null(l);
    why = logfmt_parse(line, len, l);
    if (why)
        fail_msg("not one logfmt line (%s): %s", why, line);
    return l;
}

static void assert_keys(const logfmt_line_t *l, const char *const *keys, size_t n)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->f[i].key, keys[i]);
}

/* The value of @p key decodes back to exactly the bytes logged. */
static void assert_value(const logfmt_line_t *l, const char *key, const char *want, size_t n)
{
    const logfmt_field_t *f = logfmt_get(l, key);

    assert_non_null(f);
    assert_int_equal(f->value_len, n);
    assert_memory_equal(f->value, want, n);
}

static void test_hostile_user_names(void **state)
{
    static const char *const keys[] = {"ts", "level", "mod", "event", "user", "addr", "failures"};
    char line[XO_LOG_LINE_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        /* gateway/api/users.c's format, with the user name both quoted and as the addr */
        size_t n = xo_log_format(line, sizeof(line), XO_LOG_WARN, "users",
                                 "event=signin_failed user=\"%s\" addr=%s failures=%u", hostile[i],
                                 hostile[i], 3u);
        logfmt_line_t *l = parsed(line, n);
        assert_keys(l, keys, 7);
        assert_value(l, "level", "warn", 4);
        assert_value(l, "event", "signin_failed", 13);
        assert_value(l, "user", hostile[i], strlen(hostile[i]));
        assert_value(l, "addr", hostile[i], strlen(hostile[i]));
        assert_value(l, "failures", "3", 1);
        /* nor does a grep for what the input tried to forge find it */
        assert_null(strstr(line, "level=error"));
        assert_null(strstr(line, "event=FORGED"));
        free(l);
    }
}

static void test_hostile_paths(void **state)
{
    static const char *const keys[] = {"ts",     "level", "mod",  "event",    "path",
                                       "status", "bytes", "addr", "deferred", "vm"};
    char line[XO_LOG_LINE_MAX], fmt_only[XO_LOG_LINE_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        size_t n = xo_log_format(
            line, sizeof(line), XO_LOG_DEBUG, "http",
            "event=http path=\"%s\" status=%d bytes=%zu addr=%s deferred=%d vm=%.*s", hostile[i],
            404, (size_t)12, "127.0.0.1", 0, (int)strlen(hostile[i]), hostile[i]);
        logfmt_line_t *l = parsed(line, n);
        assert_keys(l, keys, 10);
        assert_value(l, "path", hostile[i], strlen(hostile[i]));
        assert_value(l, "vm", hostile[i], strlen(hostile[i]));
        assert_value(l, "status", "404", 3);
        free(l);
    }
    /* a value inside a longer token is escaped in place: it stays one token */
    xo_log_format(fmt_only, sizeof(fmt_only), XO_LOG_INFO, "gw", "event=listening url=%s://%s:%d",
                  "http", "h level=error \"x\"", 80);
    assert_non_null(strstr(fmt_only, " url=http://h\\x20level\\x3derror\\x20\\x22x\\x22:80\n"));
}

static void test_hostile_headers(void **state)
{
    static const char *const keys[] = {"ts", "level", "mod", "msg"};
    /* a header line as libwebsockets hands it over: not NUL-terminated at its length */
    static const char header[] = "Authorization: Basic \"\r\nX: level=error\\\"\xff tail";
    char line[XO_LOG_LINE_MAX];
    size_t n, len = sizeof(header) - 1 - 5; /* stop before " tail" */
    logfmt_line_t *l;

    (void)state;
    n = xo_log_format(line, sizeof(line), XO_LOG_WARN, "lws", "msg=\"%.*s\"", (int)len, header);
    l = parsed(line, n);
    assert_keys(l, keys, 4);
    assert_value(l, "msg", header, len);
    assert_null(strstr(line, "tail"));
    free(l);
}

static void test_whole_values_get_quotes(void **state)
{
    char line[XO_LOG_LINE_MAX];
    size_t n;
    logfmt_line_t *l;

    (void)state;
    n = xo_log_format(line, sizeof(line), XO_LOG_WARN, "agent", "event=dump_failed error=%s id=%s",
                      "invalid argument or value", "plain");
    assert_non_null(strstr(line, " error=\"invalid argument or value\" id=plain\n"));
    l = parsed(line, n);
    assert_value(l, "error", "invalid argument or value", 25);
    assert_true(logfmt_get(l, "error")->quoted);
    free(l);
}

static void test_valid_utf8_passes_through(void **state)
{
    char line[XO_LOG_LINE_MAX];

    (void)state;
    xo_log_format(line, sizeof(line), XO_LOG_INFO, "m", "name=\"%s\" bare=%s",
                  "caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80", "\xc3\xa9t\xc3\xa9");
    assert_non_null(
        strstr(line, "name=\"caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80\" bare=\xc3\xa9t\xc3\xa9\n"));
    xo_log_format(line, sizeof(line), XO_LOG_INFO, "m", "name=\"%s\"", "\xff\xc3(");
    assert_non_null(strstr(line, "name=\"\\xff\\xc3(\"\n"));
}

/* Numbers and safe text come out exactly as printf writes them, '*' arguments in step. */
#define CONVERSIONS                                                                                \
    "a=%d d=%lld e=%zu f=%zd g=%x h=%#X i=%08.3f j=%c k=%% l=%.*s m=%0*d n=%u o=%hhd p=%ld "       \
    "q=%.3s r=%e s=%lu u=%p v=%-.*s w=%+d"
#define CONVERSION_ARGS                                                                            \
    -7, -9000000000LL, (size_t)123, (ssize_t)-5, 255u, 255u, 3.14159, 'Z', 3, "abcdef", 6, -12,    \
        4000000000u, (signed char)-3, -1L, "xyzw", 1e-300, 7UL, (void *)0x1234, -1, "neg", 5

static void test_printf_conversions(void **state)
{
    char line[XO_LOG_LINE_MAX], want[512];
    const char *fields;

    (void)state;
    snprintf(want, sizeof(want), CONVERSIONS "\n", CONVERSION_ARGS);
    xo_log_format(line, sizeof(line), XO_LOG_INFO, "m", CONVERSIONS, CONVERSION_ARGS);
    fields = strstr(line, " mod=m ");
    assert_non_null(fields);
    assert_string_equal(fields + 7, want);

    /* padding spaces count as spaces of the value: a whole value gets quotes, a part of a
     * token gets \x20 */
    xo_log_format(line, sizeof(line), XO_LOG_INFO, "m", "b=%5d c=%-3d| t=%*s", 42, 1, 4, "ab");
    assert_non_null(strstr(line, " mod=m b=\"   42\" c=1\\x20\\x20| t=\"  ab\"\n"));
}

static void test_long_lines_are_cut_cleanly(void **state)
{
    static const char *const fills[] = {"x", "\"", "\\", "\xff", "\xe6\x97\xa5", "\n"};
    static const char *const keys[] = {"ts", "level", "mod", "user", "truncated"};
    char *big = malloc(3 * XO_LOG_LINE_MAX + 1);
    char line[XO_LOG_LINE_MAX];

    (void)state;
    assert_non_null(big);
    for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
        size_t flen = strlen(fills[f]), n, len = 0;
        logfmt_line_t *l;
        while (len + flen <= 3 * XO_LOG_LINE_MAX) {
            memcpy(big + len, fills[f], flen);
            len += flen;
        }
        big[len] = '\0';
        n = xo_log_format(line, sizeof(line), XO_LOG_INFO, "m", "user=\"%s\" after=%d", big, 1);
        assert_true(n < XO_LOG_LINE_MAX);
        assert_int_equal(strlen(line), n);
        l = parsed(line, n);
        assert_keys(l, keys, 5);
        assert_value(l, "truncated", "true", 4);
        /* what is kept is a prefix of the value, cut between characters */
        assert_true(logfmt_get(l, "user")->value_len > XO_LOG_LINE_MAX / 8);
        assert_memory_equal(logfmt_get(l, "user")->value, big, logfmt_get(l, "user")->value_len);
        free(l);
    }
    free(big);
}

static void test_small_buffer_refused(void **state)
{
    char line[XO_LOG_LINE_MIN - 1];

    (void)state;
    assert_int_equal(xo_log_format(line, sizeof(line), XO_LOG_INFO, "m", "event=x"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_one_line_per_event),
        cmocka_unit_test(test_levels_and_contexts),
        cmocka_unit_test(test_secret_keys),
        cmocka_unit_test(test_hostile_user_names),
        cmocka_unit_test(test_hostile_paths),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_whole_values_get_quotes),
        cmocka_unit_test(test_valid_utf8_passes_through),
        cmocka_unit_test(test_printf_conversions),
        cmocka_unit_test(test_long_lines_are_cut_cleanly),
        cmocka_unit_test(test_small_buffer_refused),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
