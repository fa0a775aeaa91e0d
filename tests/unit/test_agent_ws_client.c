/* Unit tests of agent/ws_client.c: the upgrade request, the answer's status and where the
 * stream begins, frames in (lengths 7/16/64-bit, masked, fragmented, split anywhere, pings
 * dropped, close code and reason) and frame headers out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ws_client.h"

static void test_request(void **state)
{
    char buf[1024];
    size_t n = ws_client_request(buf, sizeof(buf), "10.0.0.2", "/console?uuid=x", "binary",
                                 "Cookie: session_id=s");

    (void)state;
    assert_int_equal(n, strlen(buf));
    assert_non_null(strstr(buf, "GET /console?uuid=x HTTP/1.1\r\n"));
    assert_non_null(strstr(buf, "Sec-WebSocket-Protocol: binary\r\n"));
    assert_non_null(strstr(buf, "Cookie: session_id=s\r\n\r\n"));
    assert_non_null(strstr(buf, "==\r\n")); /* a 16-byte key in base64 */
    assert_int_equal(ws_client_request(buf, 40, "h", "/", "p", NULL), 0);
}

static void test_answer(void **state)
{
    const char *ans = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nRFB";
    ws_answer_t a;
    size_t used = 0, total = 0;

    (void)state;
    memset(&a, 0, sizeof(a));
    /* byte by byte: only the answer is used, the stream after it is not */
    for (size_t i = 0; i < strlen(ans); i++) {
        int st = ws_answer_feed(&a, (const uint8_t *)ans + i, 1, &used);
        total += used;
        if (st == 1)
            break;
        assert_int_equal(st, 0);
    }
    assert_int_equal(a.status, 101);
    assert_int_equal(total, strlen(ans) - 3);
    memset(&a, 0, sizeof(a));
    assert_int_equal(ws_answer_feed(&a, (const uint8_t *)"HTTP/1.0 200 OK\r\n\r\nxx", 21, &used),
                     1);
    assert_int_equal(a.status, 200);
    assert_int_equal(used, 19);
    memset(&a, 0, sizeof(a));
    assert_int_equal(ws_answer_feed(&a, (const uint8_t *)"SSH-2.0\r\n\r\n", 11, &used), -1);
}

typedef struct {
    uint8_t got[200000];
    size_t n;
} sink_t;

static bool sink(void *opaque, const uint8_t *data, size_t len)
{
    sink_t *s = opaque;
    memcpy(s->got + s->n, data, len);
    s->n += len;
    return true;
}

/* A server frame (unmasked unless @p mask) of @p n bytes of 'a'+i. */
static size_t frame(uint8_t *out, uint8_t op, bool fin, size_t n, const uint8_t *mask)
{
    size_t h = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        out[1] = (uint8_t)n;
    } else if (n < 65536) {
        out[1] = 126;
        out[2] = (uint8_t)(n >> 8);
        out[3] = (uint8_t)n;
        h = 4;
    } else {
        out[1] = 127;
        memset(out + 2, 0, 8);
        out[7] = (uint8_t)(n >> 16);
        out[8] = (uint8_t)(n >> 8);
        out[9] = (uint8_t)n;
        h = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + h, mask, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        out[h + i] = (uint8_t)(('a' + i % 26) ^ (mask ? mask[i & 3] : 0));
    return h + n;
}

static void test_frames(void **state)
{
    static uint8_t stream[300000];
    static sink_t s;
    const uint8_t mask[4] = {1, 2, 3, 4};
    size_t n = 0, want = 0;
    ws_rx_t r;

    (void)state;
    n += frame(stream + n, 2, true, 100, NULL);
    want += 100;
    n += frame(stream + n, 2, false, 1000, mask); /* masked, fragmented */
    want += 1000;
    n += frame(stream + n, 9, true, 4, NULL);     /* a ping in between: dropped */
    n += frame(stream + n, 0, true, 70000, NULL); /* continuation, 64-bit length */
    want += 70000;
    stream[n++] = 0x88; /* close 4409 "halted" */
    stream[n++] = 8;
    stream[n++] = 4409 >> 8;
    stream[n++] = 4409 & 0xff;
    memcpy(stream + n, "halted", 6);
    n += 6;
    for (size_t step = 1; step <= n; step = step * 7 + 1) {
        uint8_t copy[300000];
        memcpy(copy, stream, n);
        ws_rx_init(&r);
        s.n = 0;
        for (size_t at = 0; at < n; at += step)
            assert_int_equal(ws_rx_feed(&r, copy + at, at + step > n ? n - at : step, sink, &s), 0);
        assert_int_equal(s.n, want);
        assert_int_equal(s.got[99], 'a' + 99 % 26);
        assert_int_equal(s.got[100], 'a');
        assert_int_equal(s.got[1100 + 69999], 'a' + 69999 % 26);
        assert_true(r.closed);
        assert_int_equal(r.close_code, 4409);
        assert_string_equal(r.close_reason, "halted");
    }
    /* a reserved opcode is an error */
    ws_rx_init(&r);
    stream[0] = 0x83;
    stream[1] = 0;
    assert_int_equal(ws_rx_feed(&r, stream, 2, sink, &s), -1);
}

static void test_frame_header(void **state)
{
    const uint8_t zero[4] = {0}, m[4] = {9, 8, 7, 6};
    uint8_t h[WS_HDR_MAX], p[4] = {1, 2, 3, 4};

    (void)state;
    assert_int_equal(ws_frame_header(h, 2, 5, zero), 6);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 0x85);
    assert_int_equal(ws_frame_header(h, 2, 300, m), 8);
    assert_int_equal(h[1], 0x80 | 126);
    assert_int_equal(h[2] << 8 | h[3], 300);
    assert_memory_equal(h + 4, m, 4);
    assert_int_equal(ws_frame_header(h, 2, 70000, m), 14);
    assert_int_equal(h[1], 0x80 | 127);
    ws_mask(p, 4, m);
    assert_int_equal(p[0], 1 ^ 9);
    assert_int_equal(p[3], 4 ^ 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_answer),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_frame_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
