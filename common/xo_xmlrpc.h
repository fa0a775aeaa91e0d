/*
 * xo_xmlrpc.h - XML-RPC codec between the wire and json-c values.
 *
 * Encoding builds a <methodCall> (or <methodResponse>) from json-c values. Decoding runs a
 * push parser (never a DOM: the project's own XML-RPC tokenizer, or libxml2's SAX2 as the
 * fallback) fed with chunks of any size, e.g. straight from a
 * curl write callback, and can hand the elements of one array to a callback as soon as each
 * is complete (streaming mode), so that a huge event.from answer never exists whole in
 * memory; raw streaming mode also writes one member of each element as JSON text rather
 * than a tree (the agent's ingest). DTDs and entity declarations are refused outright;
 * nothing is ever loaded from the network or the file system. See docs/internals/xmlrpc.md
 * for the type mapping.
 */
#ifndef XO_XMLRPC_H
#define XO_XMLRPC_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

/** Default nesting of struct/array containers accepted by the decoder. */
#define XO_XMLRPC_DEFAULT_MAX_DEPTH 64
/** Default size of one text item (string, member name, base64 text, number): 64 MiB. */
#define XO_XMLRPC_DEFAULT_MAX_STRING ((size_t)64 << 20)
/** Default total bytes fed to one decoder: 2 GiB. */
#define XO_XMLRPC_DEFAULT_MAX_TOTAL ((uint64_t)2 << 30)
/** Value of xo_xmlrpc_limits_t.max_total meaning "no limit". */
#define XO_XMLRPC_UNLIMITED UINT64_MAX

/** The XML parser under the decoder. Both give the same values and refuse the same hostile
 *  input; the fast one also refuses what XML-RPC never uses (attributes, non-ASCII names). */
typedef enum {
    XO_XMLRPC_PARSER_DEFAULT = 0, /**< the process default (xo_xmlrpc_set_default_parser) */
    XO_XMLRPC_PARSER_FAST,        /**< xo_xmlrpc_lexer: XML-RPC's subset of XML only */
    XO_XMLRPC_PARSER_LIBXML2,     /**< libxml2's SAX2 push parser under xo_xml_guard */
} xo_xmlrpc_parser_t;

/** Decoder limits and parser. A zero field takes its default. */
typedef struct {
    size_t max_depth;          /**< struct/array nesting (default 64) */
    size_t max_string;         /**< bytes of one text item (default 64 MiB) */
    uint64_t max_total;        /**< bytes fed in all (default 2 GiB; XO_XMLRPC_UNLIMITED) */
    xo_xmlrpc_parser_t parser; /**< default: the process default */
} xo_xmlrpc_limits_t;

/**
 * @brief Set the parser of decoders created with XO_XMLRPC_PARSER_DEFAULT (initially
 *        XO_XMLRPC_PARSER_FAST); a daemon calls it once at start-up from its settings.
 */
void xo_xmlrpc_set_default_parser(xo_xmlrpc_parser_t parser);

/**
 * @brief The parser named @p name ("fast" or "libxml2").
 * @returns XO_OK; XO_ERR_INVALID for another name.
 */
xo_err_t xo_xmlrpc_parser_from_name(const char *name, xo_xmlrpc_parser_t *out);

/** Incremental decoder of one XML-RPC document. Not thread-safe; one per document. */
typedef struct xo_xmlrpc_decoder xo_xmlrpc_decoder_t;

/**
 * Streaming-mode element callback.
 * @param elem one complete array element; taken: the callback owns it (json_object_put).
 * @param opaque the pointer given to xo_xmlrpc_decoder_set_stream().
 * @returns XO_OK to go on; any other code aborts the decode, which then returns that code.
 */
typedef xo_err_t (*xo_xmlrpc_elem_cb)(json_object *elem, void *opaque);

/**
 * @brief Encode a method call.
 * @param method method name, borrowed; must be valid UTF-8 XML text.
 * @param params json array of parameters (borrowed) or NULL for none.
 * @param out receives a NUL-terminated document; caller frees with free().
 * @param out_len receives its length (without the NUL); may be NULL.
 * @returns XO_OK; XO_ERR_INVALID for a non-array params, a string that is not valid UTF-8
 *          or holds a character XML 1.0 forbids (errstr says where); XO_ERR_LIMIT when
 *          values nest deeper than XO_XMLRPC_DEFAULT_MAX_DEPTH; XO_ERR_NOMEM.
 */
xo_err_t xo_xmlrpc_encode_call(const char *method, json_object *params, char **out, size_t *out_len,
                               char *errstr, size_t errstr_size);

/**
 * @brief Encode a successful method response carrying one value (used by test servers and
 *        tools). Same mapping, ownership and errors as xo_xmlrpc_encode_call().
 * @param value borrowed; NULL encodes <nil/>.
 */
xo_err_t xo_xmlrpc_encode_response(json_object *value, char **out, size_t *out_len, char *errstr,
                                   size_t errstr_size);

/**
 * @brief Create a decoder.
 * @param limits borrowed (copied); NULL for the defaults.
 * @returns NULL on allocation failure. Free with xo_xmlrpc_decoder_free().
 */
xo_xmlrpc_decoder_t *xo_xmlrpc_decoder_new(const xo_xmlrpc_limits_t *limits);

/** @brief Free a decoder and everything it still holds. NULL is a no-op. */
void xo_xmlrpc_decoder_free(xo_xmlrpc_decoder_t *dec);

/**
 * @brief Switch on streaming mode. Must be called before the first feed.
 * @param member_path NULL-terminated list of struct member names leading from the top
 *        value (a struct) to an array, e.g. {"Value", "events", NULL}; borrowed, must stay
 *        valid until the decoder is freed. Must hold at least one name.
 * @param cb receives each element of that array as soon as it is complete, from inside
 *        xo_xmlrpc_decoder_feed()/finish() on the caller's thread; the array itself stays
 *        empty in the final tree. Elements delivered before a later error stay delivered.
 * @param opaque passed to @p cb.
 * @returns XO_OK; XO_ERR_INVALID (empty path, NULL cb, decoding already started).
 */
xo_err_t xo_xmlrpc_decoder_set_stream(xo_xmlrpc_decoder_t *dec, const char *const *member_path,
                                      xo_xmlrpc_elem_cb cb, void *opaque);

/** The raw member of one streamed element, as raw mode hands it over. Borrowed: valid
 *  during the callback only. */
typedef struct {
    const char *json;    /**< the member's struct as JSON text, exactly as json-c would
                              serialise the tree (JSON_C_TO_STRING_PLAIN |
                              JSON_C_TO_STRING_NOSLASHESCAPE); NUL-terminated */
    size_t len;          /**< bytes of json */
    const char *capture; /**< the struct's top-level member named by the capture, when it
                              is a string (the last one, as json-c keeps); else NULL */
} xo_xmlrpc_raw_t;

/**
 * Raw-mode element callback.
 * @param elem the element (taken, as for xo_xmlrpc_elem_cb); when @p raw is not NULL the
 *        raw member is missing from it.
 * @param raw the element's raw member, or NULL when it has none whose value is a struct
 *        (it then stays in @p elem, whatever it holds).
 */
typedef xo_err_t (*xo_xmlrpc_raw_elem_cb)(json_object *elem, const xo_xmlrpc_raw_t *raw,
                                          void *opaque);

/**
 * @brief Streaming mode in which one member of each element is written as JSON text rather
 *        than built as a json-c tree: a hot path that only republishes it as JSON (the
 *        agent's event snapshots) skips a malloc per value and a second serialisation.
 *        Same validation and errors as the tree; a struct holding a name twice is written
 *        through json-c (its first position, its last value) so the bytes never differ.
 * @param member_path as for xo_xmlrpc_decoder_set_stream().
 * @param raw_member name of the element's top-level member to write as text, e.g.
 *        "snapshot"; borrowed, must outlive the decoder. Only a struct value is written so.
 * @param capture name of the raw struct's top-level member to hand over as a string
 *        (e.g. "uuid"), or NULL; borrowed.
 * @returns XO_OK; XO_ERR_INVALID (empty path, NULL cb or raw_member, decoding started).
 */
xo_err_t xo_xmlrpc_decoder_set_stream_raw(xo_xmlrpc_decoder_t *dec, const char *const *member_path,
                                          const char *raw_member, const char *capture,
                                          xo_xmlrpc_raw_elem_cb cb, void *opaque);

/**
 * @brief Feed the next chunk of the document.
 * @param chunk borrowed; any size, including 0.
 * @returns XO_OK; XO_ERR_PARSE (malformed XML, DTD, bad XML-RPC structure or value; errstr
 *          names the reason); XO_ERR_LIMIT (depth, string or total size); XO_ERR_NOMEM; or
 *          the code a streaming callback returned. After an error every later call returns
 *          the same error.
 */
xo_err_t xo_xmlrpc_decoder_feed(xo_xmlrpc_decoder_t *dec, const char *chunk, size_t len,
                                char *errstr, size_t errstr_size);

/**
 * @brief Signal the end of the document and take the decoded value.
 * @param out receives, on XO_OK, the value of a <methodResponse> (or, for a <methodCall>,
 *        a json array of its params; see xo_xmlrpc_decoder_method()); on XO_ERR_XAPI (the
 *        response is a <fault>) the fault struct {faultCode, faultString}; otherwise NULL.
 *        Caller puts it (json_object_put).
 * @returns XO_OK; XO_ERR_XAPI for a <fault> ("XML-RPC fault <code>: <string>" in errstr);
 *          the errors of xo_xmlrpc_decoder_feed(), including XO_ERR_PARSE for a truncated
 *          document.
 */
xo_err_t xo_xmlrpc_decoder_finish(xo_xmlrpc_decoder_t *dec, json_object **out, char *errstr,
                                  size_t errstr_size);

/**
 * @brief Method name of a decoded <methodCall> (for test servers).
 * @returns borrowed from the decoder, NULL when the document is not a call or not yet seen.
 */
const char *xo_xmlrpc_decoder_method(const xo_xmlrpc_decoder_t *dec);

/**
 * @brief One-shot decode of a whole document with the default limits.
 * @param doc borrowed, @p len bytes (need not be NUL-terminated).
 * @param out as for xo_xmlrpc_decoder_finish(); caller puts.
 * @returns as xo_xmlrpc_decoder_finish().
 */
xo_err_t xo_xmlrpc_decode(const char *doc, size_t len, json_object **out, char *errstr,
                          size_t errstr_size);

/** An XAPI error: ErrorDescription split into its code and its parameters. */
typedef struct {
    char code[128];      /**< e.g. "HOST_IS_SLAVE"; "" when none */
    json_object *params; /**< json array of strings or NULL; freed by xo_xapi_error_clear() */
} xo_xapi_error_t;

/**
 * @brief Unwrap XAPI's result envelope.
 * @param response borrowed decoded response.
 * @param value receives, on XO_OK, a new reference to the Value member (json NULL when the
 *        Value is nil or absent); caller puts. NULL otherwise.
 * @param xerr may be NULL; on XO_ERR_XAPI filled with code and params (caller clears with
 *        xo_xapi_error_clear()); otherwise left cleared. Must be zeroed or cleared before.
 * @returns XO_OK for {Status: "Success"}; XO_ERR_XAPI for {Status: "Failure",
 *          ErrorDescription: [code, params...]}; XO_ERR_PARSE for anything else.
 */
xo_err_t xo_xapi_unwrap(json_object *response, json_object **value, xo_xapi_error_t *xerr);

/** @brief Release the params of an XAPI error and reset it to empty. NULL is a no-op. */
void xo_xapi_error_clear(xo_xapi_error_t *xerr);

#endif
