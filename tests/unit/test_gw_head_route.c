/* Unit tests of gateway/transport/head_route.c: which thread a request head goes to. Only
 * a complete WebSocket upgrade of /api/ (or /api, with or without a query) goes to the
 * sessions thread; other paths, methods and plain GETs of /api/ go to HTTP, most of them
 * from the first bytes; an incomplete head waits unless nothing more will be read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "transport/head_route.h"

#define UPGRADE "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"

static gw_route_t route(const char *head, bool full)
{
    return gw_head_route(head, strlen(head), full);
}

static void test_api_upgrade_goes_to_sessions(void **state)
{
    (void)state;
    assert_int_equal(route("GET /api/ HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_SESSIONS);
    assert_int_equal(route("GET /api HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_SESSIONS);
    assert_int_equal(route("GET /api/?x=1 HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_SESSIONS);
    /* header names and the token are case-insensitive; a list may name it; bare \n */
    assert_int_equal(route("GET /api/ HTTP/1.1\nUPGRADE: h2c, WebSocket\n\n", false),
                     GW_ROUTE_SESSIONS);
}

static void test_everything_else_goes_to_http(void **state)
{
    (void)state;
    assert_int_equal(route("GET /api/consoles/abc HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_HTTP);
    assert_int_equal(route("GET /apix HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_HTTP);
    assert_int_equal(route("GET /api// HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_HTTP);
    assert_int_equal(route("POST /api/ HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_HTTP);
    assert_int_equal(route("get /api/ HTTP/1.1\r\n" UPGRADE, false), GW_ROUTE_HTTP);
    assert_int_equal(route("GET /api/ HTTP/1.1\r\nHost: x\r\n\r\n", false), GW_ROUTE_HTTP);
    assert_int_equal(route("GET /api/ HTTP/1.1\r\nX-Upgrade: websocket\r\n\r\n", false),
                     GW_ROUTE_HTTP);
    assert_int_equal(route("GET /healthz HTTP/1.1\r\n\r\n", false), GW_ROUTE_HTTP);
}

static void test_decided_early(void **state)
{
    (void)state;
    /* the first byte that differs from a GET of /api decides, line or no line */
    assert_int_equal(route("P", false), GW_ROUTE_HTTP);
    assert_int_equal(route("GET /r", false), GW_ROUTE_HTTP);
    assert_int_equal(route("GET /apiz", false), GW_ROUTE_HTTP);
    assert_int_equal(route("\x16\x03\x01", false), GW_ROUTE_HTTP); /* a TLS hello */
    /* until then: wait */
    assert_int_equal(route("", false), GW_ROUTE_WAIT);
    assert_int_equal(route("GET /ap", false), GW_ROUTE_WAIT);
    assert_int_equal(route("GET /api/", false), GW_ROUTE_WAIT);
    assert_int_equal(route("GET /api/ HTTP/1.1\r\nUpgrade: websocket\r\n", false), GW_ROUTE_WAIT);
}

static void test_full_never_waits(void **state)
{
    (void)state;
    assert_int_equal(route("", true), GW_ROUTE_HTTP);
    assert_int_equal(route("GET /a", true), GW_ROUTE_HTTP);
    /* an oversized JSON-RPC upgrade: answered where it always was */
    assert_int_equal(route("GET /api/ HTTP/1.1\r\nUpgrade: websocket\r\nX: aaaa", true),
                     GW_ROUTE_SESSIONS);
    assert_int_equal(route("GET /api/?aaaaaaaaaa", true), GW_ROUTE_SESSIONS);
}

static void test_reads_within_len(void **state)
{
    /* a head cut anywhere, without its terminator in the buffer: the same answers as
     * the bytes given allow (the sanitizer build catches a read past len) */
    const char *full = "GET /api/ HTTP/1.1\r\n" UPGRADE;
    (void)state;

    for (size_t n = 0; n < strlen(full); n++) {
        char *copy = test_malloc(n ? n : 1);
        memcpy(copy, full, n);
        assert_int_equal(gw_head_route(copy, n, false), GW_ROUTE_WAIT);
        assert_int_not_equal(gw_head_route(copy, n, true), GW_ROUTE_WAIT);
        test_free(copy);
    }
    assert_int_equal(gw_head_route(NULL, 0, false), GW_ROUTE_HTTP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_upgrade_goes_to_sessions),
        cmocka_unit_test(test_everything_else_goes_to_http),
        cmocka_unit_test(test_decided_early),
        cmocka_unit_test(test_full_never_waits),
        cmocka_unit_test(test_reads_within_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
