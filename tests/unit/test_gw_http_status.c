/* Unit tests of gateway/transport/http_status.c: every status the gateway answers has its
 * reason phrase (libwebsockets 4.1 has none for 201, 202, 204, 429, 431...), and the raw
 * answer to a connection handed over by libwebsockets (CONNECT, unknown methods). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "transport/http_status.h"

static void test_reasons(void **state)
{
    static const struct {
        int status;
        const char *reason;
    } want[] = {{200, "OK"},
                {201, "Created"},
                {202, "Accepted"},
                {204, "No Content"},
                {302, "Found"},
                {400, "Bad Request"},
                {401, "Unauthorized"},
                {403, "Forbidden"},
                {404, "Not Found"},
                {405, "Method Not Allowed"},
                {408, "Request Timeout"},
                {411, "Length Required"},
                {413, "Content Too Large"},
                {414, "URI Too Long"},
                {429, "Too Many Requests"},
                {431, "Request Header Fields Too Large"},
                {500, "Internal Server Error"},
                {501, "Not Implemented"},
                {503, "Service Unavailable"},
                {504, "Gateway Timeout"}};
    (void)state;

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(gw_http_reason(want[i].status), want[i].reason);
    assert_string_equal(gw_http_reason(299), "Unknown");
    assert_string_equal(gw_http_reason(-1), "Unknown");
}

static void test_raw_answer(void **state)
{
    char out[512];
    size_t n;
    (void)state;

    n = gw_http_format_answer(405, "GET, POST", out, sizeof(out));
    assert_int_equal(n, strlen(out));
    assert_string_equal(out, "HTTP/1.1 405 Method Not Allowed\r\n"
                             "allow: GET, POST\r\n"
                             "content-type: application/json\r\n"
                             "content-length: 31\r\n"
                             "connection: close\r\n\r\n"
                             "{\"error\":\"method not allowed\"}\n");
    n = gw_http_format_answer(501, NULL, out, sizeof(out));
    assert_non_null(strstr(out, "HTTP/1.1 501 Not Implemented\r\ncontent-type:"));
    assert_null(strstr(out, "allow:"));
    assert_int_equal(strlen(strstr(out, "\r\n\r\n") + 4), 28); /* {"error":"not implemented"} */
}

static void test_raw_answer_truncated(void **state)
{
    char out[16];
    (void)state;

    memset(out, 'x', sizeof(out));
    assert_int_equal(gw_http_format_answer(431, NULL, out, sizeof(out)), sizeof(out) - 1);
    assert_int_equal(out[sizeof(out) - 1], '\0');
    assert_memory_equal(out, "HTTP/1.1 431 Re", 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_raw_answer),
        cmocka_unit_test(test_raw_answer_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
