/*
 * ws_client.c - RFC 6455 client framing for the console relays (see ws_client.h): the
 * upgrade request, the answer's status line and headers, frames in (bulk, in place) and
 * frame headers out. Pure: must not do I/O, allocate or log.
 */
#include "ws_client.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ws_client_request(char *out, size_t size, const char *host, const char *path,
                         const char *protocol, const char *extra)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[18] = {0};
    char key[25];
    int n;

    if (RAND_bytes(raw, 16) != 1)
        for (int i = 0; i < 16; i++)
            raw[i] = (unsigned char)rand();
    for (int i = 0, o = 0; i < 18; i += 3) { /* 16 bytes: 22 characters and "==" */
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 3; k >= 0 && o < 24; k--)
            key[o++] = b64[(v >> (6 * k)) & 63];
    }
    key[22] = key[23] = '=';
    key[24] = '\0';
    n = snprintf(out, size,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Protocol: %s\r\n%s%s\r\n",
                 path, host, key, protocol, extra ? extra : "", extra ? "\r\n" : "");
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

int ws_answer_feed(ws_answer_t *a, const uint8_t *in, size_t len, size_t *used)
{
    size_t before = a->len,
           take = len < sizeof(a->buf) - 1 - a->len ? len : sizeof(a->buf) - 1 - a->len;
    char *end;

    memcpy(a->buf + a->len, in, take);
    a->len += take;
    a->buf[a->len] = '\0';
    *used = take;
    end = strstr(a->buf, "\r\n\r\n");
    if (!end)
        return a->len >= sizeof(a->buf) - 1 ? -1 : 0;
    *used = (size_t)(end + 4 - a->buf) - before;
    if (strncmp(a->buf, "HTTP/1.", 7) != 0 || a->buf[8] != ' ')
        return -1;
    a->status = atoi(a->buf + 9);
    return a->status > 0 ? 1 : -1;
}

void ws_rx_init(ws_rx_t *r)
{
    memset(r, 0, sizeof(*r));
    r->want = 2;
}

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4])
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[i & 3];
}

/* The header is complete up to its length fields: how many more bytes it has. */
static size_t header_size(const uint8_t *h)
{
    size_t n = 2 + ((h[1] & 0x7f) == 126 ? 2 : (h[1] & 0x7f) == 127 ? 8 : 0);
    return n + (h[1] & 0x80 ? 4 : 0);
}

static int on_header(ws_rx_t *r)
{
    uint8_t op = r->hdr[0] & 0x0f, l7 = r->hdr[1] & 0x7f;
    size_t at = 2;

    r->left = l7;
    if (l7 == 126) {
        r->left = (uint64_t)r->hdr[2] << 8 | r->hdr[3];
        at = 4;
    } else if (l7 == 127) {
        r->left = 0;
        for (int i = 0; i < 8; i++)
            r->left = r->left << 8 | r->hdr[2 + i];
        at = 10;
    }
    r->masked = (r->hdr[1] & 0x80) != 0;
    if (r->masked)
        memcpy(r->mask, r->hdr + at, 4);
    r->mask_at = 0;
    if ((op & 0x08) && (l7 > 125 || !(r->hdr[0] & 0x80)))
        return -1; /* control frames are short and never fragmented */
    if ((op > 2 && op < 8) || op > 10)
        return -1;
    if (op == 1 || op == 2) /* a control frame between fragments keeps the message's */
        r->opcode = op;
    if (op == 8)
        r->close_len = 0;
    r->in_payload = true;
    return 0;
}

/* A close frame's payload: 2 bytes of code, then the reason. */
static void close_bytes(ws_rx_t *r, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++, r->close_len++) {
        if (r->close_len < 2)
            r->close_code = (uint16_t)(r->close_code << 8 | p[i]);
        else if (r->close_len - 2 < sizeof(r->close_reason) - 1)
            r->close_reason[r->close_len - 2] = (char)p[i];
    }
}

int ws_rx_feed(ws_rx_t *r, uint8_t *in, size_t len, ws_payload_fn fn, void *opaque)
{
    while (len > 0 && !r->closed) {
        if (!r->in_payload) {
            r->hdr[r->have++] = *in++;
            len--;
            if (r->have == 2)
                r->want = header_size(r->hdr);
            if (r->have < r->want)
                continue;
            if (on_header(r) < 0)
                return -1;
        }
        if (r->left > 0 && len > 0) {
            size_t n = r->left < len ? (size_t)r->left : len;
            uint8_t op = (r->hdr[0] & 0x0f) ? (r->hdr[0] & 0x0f) : r->opcode;
            if (r->masked) {
                for (size_t i = 0; i < n; i++)
                    in[i] ^= r->mask[(r->mask_at + i) & 3];
                r->mask_at += n;
            }
            if (op == 8)
                close_bytes(r, in, n);
            else if (op <= 2 && !fn(opaque, in, n))
                return 0;
            in += n;
            len -= n;
            r->left -= n;
        }
        if (r->left == 0) { /* the frame is complete */
            if ((r->hdr[0] & 0x0f) == 8) {
                size_t end = r->close_len > 2 ? r->close_len - 2 : 0;
                r->closed = true;
                r->close_reason[end < sizeof(r->close_reason) ? end : sizeof(r->close_reason) - 1] =
                    '\0';
            }
            r->in_payload = false;
            r->have = 0;
            r->want = 2;
        }
    }
    return 0;
}

size_t ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len, const uint8_t mask[4])
{
    size_t n = 2;

    out[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    memcpy(out + n, mask, 4);
    return n + 4;
}
