/*
 * chunked.h - a decoder of HTTP/1.1 chunked request bodies (RFC 9112, section 7.1), fed as
 * the bytes arrive in pieces of any size: vm.import's uploads (docs/streaming.md), whose
 * clients may send a body of unknown length, and libwebsockets (4.1) hands such a body
 * over still chunk-framed. Chunk extensions and trailer fields are read and dropped. No
 * allocation; the payload is handed over in place. Any thread (one decoder per body).
 */
#ifndef GW_CHUNKED_H
#define GW_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CHUNKED_LINE_MAX 4096 /**< longest size line or trailer field accepted */

typedef struct {
    int state;     /**< private */
    uint64_t left; /**< payload bytes of the current chunk still to come */
    size_t line;   /**< bytes of the current size line or trailer field */
    bool digits;   /**< the size line has a hex digit */
    uint64_t body; /**< payload bytes handed over so far */
} gw_chunked_t;

/** Where the payload goes (@p p points into the caller's input). */
typedef void (*gw_chunked_sink_fn)(void *opaque, const uint8_t *p, size_t n);

/** @brief A decoder at the start of a body. */
void gw_chunked_init(gw_chunked_t *c);

/**
 * @brief Decode @p len bytes: the payload goes to @p sink.
 * @returns 1 once the body's end (the last chunk and the trailer) was read, and then
 *          @p *used is where it ended in @p in (what follows is not the body's); 0 when
 *          more is needed (@p *used = @p len); -1 when it is not a chunked body (a size
 *          without digits or over 2^60, a missing CRLF, a line over GW_CHUNKED_LINE_MAX).
 */
int gw_chunked_feed(gw_chunked_t *c, const uint8_t *in, size_t len, gw_chunked_sink_fn sink,
                    void *opaque, size_t *used);

#endif
