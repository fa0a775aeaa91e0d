/*
 * xo_xml_guard.h - the hostile-input guards every XML parser of XO Fleet shares (the
 * XML-RPC decoder, the patch catalogue): a libxml2 SAX2 push parser that never loads a DTD,
 * never substitutes or resolves an entity, refuses processing instructions and never
 * touches the network; input checked to be UTF-8 without NUL before libxml2 sees it (so no
 * charset converter runs); the first error kept, the parser stopped. Contract:
 * docs/internals/xmlrpc.md ("Hostile input").
 */
#ifndef XO_XML_GUARD_H
#define XO_XML_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>

#include "xo_error.h"

#define XO_XML_GUARD_ERRMSG 256

/**
 * The guard's state. A parser embeds it as the FIRST member of the struct it gives
 * libxml2 as SAX user data: the guard's callbacks cast that pointer to it.
 */
typedef struct {
    xmlParserCtxtPtr ctxt; /**< the push parser (owned: xo_xml_guard_fini) */
    xo_err_t err;          /**< the first error, XO_OK until then */
    char errmsg[XO_XML_GUARD_ERRMSG];
    /* UTF-8 check of the raw bytes, carried across chunks */
    unsigned u8_need; /**< continuation bytes still expected */
    uint32_t u8_cp, u8_min;
} xo_xml_guard_t;

/**
 * @brief Set @p sax to the guards (DTD, entity declarations and references, processing
 *        instructions refused; libxml2's errors kept); the caller adds its element and
 *        text callbacks afterwards.
 */
void xo_xml_guard_sax(xmlSAXHandler *sax);

/**
 * @brief Create the push parser for @p user_data (which starts with @p g) with @p sax:
 *        no entity substitution, no DTD loading, never the network, input taken as UTF-8
 *        whatever the document declares.
 * @returns XO_OK, or XO_ERR_NOMEM.
 */
xo_err_t xo_xml_guard_init(xo_xml_guard_t *g, xmlSAXHandler *sax, void *user_data);

/** @brief Free the parser (g itself is the caller's). */
void xo_xml_guard_fini(xo_xml_guard_t *g);

/** @brief Keep the first error (printf-style text) and stop the parser. */
void xo_xml_guard_fail(xo_xml_guard_t *g, xo_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * @brief Check that @p n bytes continue a UTF-8 text without NUL (state carried across
 *        calls in @p g; a sequence may span two calls).
 * @param bad_at receives the offset in @p s of the first offending byte.
 * @param nul receives whether that byte is a NUL.
 * @returns true when every byte is fine; nothing is recorded in @p g otherwise (the caller
 *          words the error).
 */
bool xo_xml_guard_utf8(xo_xml_guard_t *g, const unsigned char *s, size_t n, size_t *bad_at,
                       bool *nul);

/** @brief Whether the input so far ends inside a UTF-8 sequence. */
bool xo_xml_guard_utf8_pending(const xo_xml_guard_t *g);

#endif
