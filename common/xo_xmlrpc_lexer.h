/*
 * xo_xmlrpc_lexer.h - a strict streaming tokenizer for the XML that XML-RPC uses: elements
 * without attributes, character data, the five predefined entities and character
 * references, CDATA sections, comments, an XML declaration. Everything else (DTDs, entity
 * declarations, processing instructions, attributes, namespaced or non-ASCII names) is
 * refused with a clear error. Fed chunks of any size, split anywhere. The XML-RPC decoder's
 * fast parser (docs/internals/xmlrpc.md, "The fast parser").
 */
#ifndef XO_XMLRPC_LEXER_H
#define XO_XMLRPC_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

/** Longest tag, "<" to ">" included (no attributes: a name and whitespace). */
#define XO_XMLRPC_LEXER_MAX_TAG 1024
/** Longest element name. */
#define XO_XMLRPC_LEXER_MAX_NAME 255
/** Element nesting when xo_xmlrpc_lexer_new() is given 0. */
#define XO_XMLRPC_LEXER_DEFAULT_DEPTH 256
/** Size of the lexer's error text. */
#define XO_XMLRPC_LEXER_ERRMSG 200

/**
 * The events, called from inside feed()/finish() on the caller's thread. Names and text
 * are borrowed for the call only and are not NUL-terminated. A callback returning non-XO_OK
 * stops the lexer, which returns that code from then on (its message is the callback's
 * owner's to keep: the lexer's own error text stays empty).
 */
typedef struct {
    xo_err_t (*start)(void *opaque, const char *name, size_t len); /**< <name> or <name/> */
    xo_err_t (*end)(void *opaque, const char *name, size_t len);   /**< </name>, <name/> */
    /** Character data inside the document element, references expanded, line ends
     *  normalised to LF, in pieces of any size (one text node may come in several calls;
     *  a piece may end inside a UTF-8 sequence when the input chunk did). */
    xo_err_t (*text)(void *opaque, const char *s, size_t len);
} xo_xmlrpc_lexer_cbs_t;

/** One document's tokenizer. Not thread-safe. */
typedef struct xo_xmlrpc_lexer xo_xmlrpc_lexer_t;

/**
 * @brief Create a lexer.
 * @param cbs borrowed (copied); every callback must be set.
 * @param max_depth element nesting allowed (0: XO_XMLRPC_LEXER_DEFAULT_DEPTH); deeper is
 *        XO_ERR_LIMIT.
 * @returns NULL on allocation failure. Free with xo_xmlrpc_lexer_free().
 */
xo_xmlrpc_lexer_t *xo_xmlrpc_lexer_new(const xo_xmlrpc_lexer_cbs_t *cbs, void *opaque,
                                       size_t max_depth);

/** @brief Free a lexer. NULL is a no-op. */
void xo_xmlrpc_lexer_free(xo_xmlrpc_lexer_t *lx);

/**
 * @brief Tokenize the next chunk. The input must already be checked to be UTF-8 without
 *        NUL (the decoder does it for both of its parsers); the lexer checks the XML rules
 *        on top (forbidden characters, U+FFFE/U+FFFF, markup, references, nesting).
 * @returns XO_OK; XO_ERR_PARSE (not well-formed, or a construct XML-RPC never uses;
 *          xo_xmlrpc_lexer_error() says which and at which byte offset); XO_ERR_LIMIT
 *          (nesting); XO_ERR_NOMEM; or a callback's code. Sticky: once failed, every later
 *          call returns the same code.
 */
xo_err_t xo_xmlrpc_lexer_feed(xo_xmlrpc_lexer_t *lx, const char *s, size_t n);

/**
 * @brief The end of the input: the document element must have been closed.
 * @returns as xo_xmlrpc_lexer_feed().
 */
xo_err_t xo_xmlrpc_lexer_finish(xo_xmlrpc_lexer_t *lx);

/** @brief The lexer's own error text ("" when none, or when a callback stopped it). */
const char *xo_xmlrpc_lexer_error(const xo_xmlrpc_lexer_t *lx);

#endif
