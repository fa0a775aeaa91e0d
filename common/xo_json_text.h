/*
 * xo_json_text.h - JSON text written straight into a growable buffer, byte for byte as
 * json-c 0.16 serialises with JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE (the
 * flags of every record the project publishes): same string escapes, same number formats.
 * It lets a hot path (the agent's ingest) write records without building json-c trees;
 * tests compare its bytes with json-c's on varied values so the two cannot drift.
 */
#ifndef XO_JSON_TEXT_H
#define XO_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xo_error.h"
#include "xo_short_bytes.h"

/** A growable byte buffer, always NUL-terminated once it holds anything. Embedded; zero it
 *  to initialise, xo_jtext_fini() to release. Not thread-safe. */
typedef struct {
    char *p;
    size_t len, cap;
} xo_jtext_t;

/** @brief Release the buffer and reset it to empty. */
void xo_jtext_fini(xo_jtext_t *b);

/** @brief Make room for @p extra more bytes (plus the NUL). @returns XO_OK, XO_ERR_NOMEM. */
xo_err_t xo_jtext_reserve(xo_jtext_t *b, size_t extra);

/** @brief Append @p n raw bytes. @returns XO_OK, XO_ERR_NOMEM. Inline: the ingest's
 *         decoder appends a few bytes per XML element, and a call per append showed up. */
static inline xo_err_t xo_jtext_add(xo_jtext_t *b, const char *s, size_t n)
{
    if (n >= b->cap - b->len && xo_jtext_reserve(b, n) != XO_OK)
        return XO_ERR_NOMEM;
    xo_short_copy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return XO_OK;
}

/** @brief Append one raw byte. @returns XO_OK, XO_ERR_NOMEM. */
xo_err_t xo_jtext_byte(xo_jtext_t *b, char c);

/** @brief Append @p n bytes of @p s as a quoted JSON string (json-c's escapes: \b \t \n \f
 *         \r \" \\, other bytes below 0x20 as \u00xx in lowercase hex, '/' kept, bytes from
 *         0x80 copied). @returns XO_OK, XO_ERR_NOMEM. */
xo_err_t xo_jtext_str(xo_jtext_t *b, const char *s, size_t n);

/** @brief Append a quoted NUL-terminated string, or null for NULL. */
xo_err_t xo_jtext_cstr(xo_jtext_t *b, const char *s);

/** @brief Append an integer as json-c writes an int64. */
xo_err_t xo_jtext_int(xo_jtext_t *b, int64_t v);

/** @brief Append a finite double as json-c writes one ("%.17g", ".0" added to an integral
 *         value). @returns XO_OK, XO_ERR_INVALID (not finite), XO_ERR_NOMEM. */
xo_err_t xo_jtext_double(xo_jtext_t *b, double d);

#endif
