/*
 * chunked.c - the chunked body decoder (chunked.h): a byte-driven state machine, so that a
 * piece may end anywhere (inside a size line, a CRLF, a chunk).
 */
#include "core/chunked.h"

enum {
    S_SIZE,    /* hex digits of a chunk's size */
    S_EXT,     /* a chunk extension, up to the CR */
    S_SIZE_LF, /* the LF after the size line */
    S_DATA,    /* the chunk's payload */
    S_DATA_CR, /* the CRLF after it */
    S_DATA_LF, /*   */
    S_TRAILER, /* the start of a trailer field, or the CR of the last line */
    S_FIELD,   /* a trailer field, up to its LF */
    S_END_LF,  /* the LF of the empty line that ends the body */
    S_DONE
};

#define SIZE_MAX_BITS 60 /* larger sizes are refused: no body is that long */

void gw_chunked_init(gw_chunked_t *c)
{
    *c = (gw_chunked_t){.state = S_SIZE};
}

static int hex(uint8_t b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    if (b >= 'a' && b <= 'f')
        return b - 'a' + 10;
    if (b >= 'A' && b <= 'F')
        return b - 'A' + 10;
    return -1;
}

/* One byte of the framing (not of a chunk's payload). @returns 0, or -1 when malformed. */
static int frame_byte(gw_chunked_t *c, uint8_t b)
{
    if (++c->line > GW_CHUNKED_LINE_MAX)
        return -1;
    switch (c->state) {
    case S_SIZE:
        if (hex(b) >= 0) {
            if (c->left >> (SIZE_MAX_BITS - 4))
                return -1;
            c->left = c->left << 4 | (uint64_t)hex(b);
            c->digits = true;
            return 0;
        }
        if (!c->digits)
            return -1;
        c->state = b == '\r' ? S_SIZE_LF : S_EXT;
        return b == '\r' || b == ';' || b == ' ' || b == '\t' ? 0 : -1;
    case S_EXT:
        if (b == '\r')
            c->state = S_SIZE_LF;
        return 0;
    case S_SIZE_LF:
        if (b != '\n')
            return -1;
        c->line = 0;
        c->digits = false;
        c->state = c->left ? S_DATA : S_TRAILER;
        return 0;
    case S_DATA_CR:
        c->state = S_DATA_LF;
        return b == '\r' ? 0 : -1;
    case S_DATA_LF:
        c->line = 0;
        c->state = S_SIZE;
        return b == '\n' ? 0 : -1;
    case S_TRAILER:
        c->state = b == '\r' ? S_END_LF : S_FIELD;
        return 0;
    case S_FIELD:
        if (b == '\n') {
            c->line = 0;
            c->state = S_TRAILER;
        }
        return 0;
    case S_END_LF:
        c->state = S_DONE;
        return b == '\n' ? 0 : -1;
    default:
        return -1;
    }
}

int gw_chunked_feed(gw_chunked_t *c, const uint8_t *in, size_t len, gw_chunked_sink_fn sink,
                    void *opaque, size_t *used)
{
    size_t i = 0;

    while (i < len && c->state != S_DONE) {
        if (c->state == S_DATA) {
            size_t n = len - i < c->left ? len - i : (size_t)c->left;
            sink(opaque, in + i, n);
            c->body += n;
            c->left -= n;
            i += n;
            if (!c->left)
                c->state = S_DATA_CR;
            continue;
        }
        if (frame_byte(c, in[i++]) < 0)
            return -1;
    }
    *used = i;
    return c->state == S_DONE ? 1 : 0;
}
