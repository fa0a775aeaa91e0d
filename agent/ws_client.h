/*
 * ws_client.h - the client side of RFC 6455 as the console relays speak it over raw
 * connections: the upgrade request, the server's answer, and frames both ways. The relay
 * does its own framing (libwebsockets 4.1 parses client-side frames a byte at a time,
 * and a console streams megabytes): incoming payload is handed on in place, in bulk;
 * outgoing frames get a header written before their payload. Pure: no I/O, no
 * allocation, no logging. Used by console_session.c on the relay thread.
 *
 * Masking: RFC 6455 has clients mask every frame (a defence of browsers against cache
 * poisoning by scripts). Frames to a host's console use a random key; frames to the
 * gateway's relay endpoint use the all-zero key, which the gateway (libwebsockets)
 * recognises and does not XOR (docs/console.md).
 */
#ifndef XO_WS_CLIENT_H
#define XO_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_HDR_MAX 14 /**< longest client frame header (64-bit length and mask) */

/**
 * @brief Write an upgrade request: GET @p path with a random Sec-WebSocket-Key, the
 *        subprotocol @p protocol and one extra header line @p extra ("Name: value", or
 *        NULL). @returns its length, or 0 when @p size is too small.
 */
size_t ws_client_request(char *out, size_t size, const char *host, const char *path,
                         const char *protocol, const char *extra);

/** The server's answer to an upgrade or a CONNECT, read up to its blank line. */
typedef struct {
    char buf[2048];
    size_t len;
    int status; /**< the HTTP status once the blank line is in; 0 before */
} ws_answer_t;

/**
 * @brief Feed bytes of the answer. @p used receives how many belong to it (the rest is the
 *        stream that follows). @returns 1 when complete (status set), 0 for more, -1 when
 *        it is not an HTTP answer or longer than its buffer.
 */
int ws_answer_feed(ws_answer_t *a, const uint8_t *in, size_t len, size_t *used);

/** Incoming frames (from a server: unmasked, but a mask is honoured). */
typedef struct {
    uint8_t hdr[WS_HDR_MAX];
    size_t have, want;
    uint64_t left;  /**< payload bytes of the current frame still to come */
    uint8_t opcode; /**< of the current frame (continuations keep the message's) */
    bool masked;
    uint8_t mask[4];
    size_t mask_at;
    bool in_payload;
    bool closed; /**< a close frame arrived */
    uint16_t close_code;
    char close_reason[124];
    size_t close_len;
} ws_rx_t;

void ws_rx_init(ws_rx_t *r);

/**
 * Payload of data frames, as it arrives (in place: @p data points into the caller's
 * buffer, unmasked there when masked). Return false to stop.
 */
typedef bool (*ws_payload_fn)(void *opaque, const uint8_t *data, size_t len);

/**
 * @brief Parse @p len bytes: data frames' payload goes to @p fn, pings and pongs are
 *        dropped, a close frame's code and reason are kept (r->closed).
 * @param in modified in place when frames are masked
 * @returns 0, or -1 on a protocol error (a reserved opcode, a control frame over 125 bytes)
 */
int ws_rx_feed(ws_rx_t *r, uint8_t *in, size_t len, ws_payload_fn fn, void *opaque);

/**
 * @brief A client frame header for @p len payload bytes, masked with @p mask (4 bytes).
 *        XAPI's wsproxy reads a 64-bit length as 32 bits: frames to a host stay under
 *        65536 bytes (the caller chunks). @returns the header's length (<= WS_HDR_MAX).
 */
size_t ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len, const uint8_t mask[4]);

/** @brief XOR @p n bytes with @p mask starting at key offset 0. */
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4]);

#endif
