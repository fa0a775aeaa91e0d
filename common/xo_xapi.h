/*
 * xo_xapi.h - XAPI transport: XML-RPC calls POSTed to one host over HTTP(S) with libcurl.
 *
 * One connection object holds one curl easy handle, so consecutive calls reuse one
 * keep-alive TCP/TLS connection. Bodies are decoded while they arrive (xo_xmlrpc decoder);
 * xo_xapi_call_stream() hands the elements of one array (e.g. event.from's events) to a
 * callback so that a huge answer never exists whole in memory. TLS: system CAs (default),
 * a CA file (chain + hostname), or a pinned SHA-256 certificate fingerprint (XAPI hosts
 * use self-signed certificates). See docs/internals/xapi_transport.md.
 */
#ifndef XO_XAPI_H
#define XO_XAPI_H

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "xo_error.h"
#include "xo_xmlrpc.h"

/** Default connect timeout when xo_xapi_opts_t.connect_timeout_ms is 0. */
#define XO_XAPI_DEFAULT_CONNECT_TIMEOUT_MS 10000L
/** Default whole-call timeout when xo_xapi_opts_t.timeout_ms is 0 (event.from waits 60 s). */
#define XO_XAPI_DEFAULT_TIMEOUT_MS 120000L

/** Connection options. All pointers are borrowed and copied by xo_xapi_conn_new(). */
typedef struct {
    const char *url;         /**< "https://host[:port]" or "http://127.0.0.1:port" */
    const char *ca_file;     /**< PEM CA bundle or NULL (ignored when pin_sha256 is set) */
    const char *pin_sha256;  /**< SHA-256 of the server certificate (DER), hex, colons
                                  optional, or NULL; replaces chain and hostname checks */
    bool insecure;           /**< skip all verification (logged at warn); off by default */
    long connect_timeout_ms; /**< 0 = XO_XAPI_DEFAULT_CONNECT_TIMEOUT_MS */
    long timeout_ms;         /**< whole call; 0 = XO_XAPI_DEFAULT_TIMEOUT_MS */
} xo_xapi_opts_t;

/** One XAPI endpoint and its keep-alive connection. Not thread-safe: one thread at a time. */
typedef struct xo_xapi_conn xo_xapi_conn_t;

/**
 * @brief Create a connection (no network traffic yet).
 * @param opts borrowed; strings copied.
 * @param out receives the connection; free with xo_xapi_conn_free().
 * @returns XO_OK; XO_ERR_INVALID (bad URL scheme, malformed pin, pin with insecure);
 *          XO_ERR_NOMEM.
 */
xo_err_t xo_xapi_conn_new(const xo_xapi_opts_t *opts, xo_xapi_conn_t **out, char *errstr,
                          size_t errstr_size);

/** @brief Close the connection and free it. NULL is a no-op. */
void xo_xapi_conn_free(xo_xapi_conn_t *conn);

/**
 * @brief Point the connection at another host (e.g. the master named by HOST_IS_SLAVE);
 *        TLS options stay. The next call opens a new connection.
 * @param url borrowed, copied; same forms as xo_xapi_opts_t.url.
 * @returns XO_OK; XO_ERR_INVALID; XO_ERR_NOMEM.
 */
xo_err_t xo_xapi_conn_set_url(xo_xapi_conn_t *conn, const char *url, char *errstr,
                              size_t errstr_size);

/**
 * @brief Let a flag (e.g. set by a signal handler) end any call in progress within about a
 *        second; such a call returns XO_ERR_TIMEOUT ("call aborted"). @p flag is borrowed
 *        and must outlive the connection; NULL removes it.
 */
void xo_xapi_conn_set_abort(xo_xapi_conn_t *conn, volatile sig_atomic_t *flag);

/**
 * @brief Give another libcurl easy handle (@p easy, a CURL *) the connection's TLS checks:
 *        its pin, CA or insecure setting, for the HTTP handlers of the same host (a patch
 *        upload). Use @p easy on the connection's thread, while the connection lives.
 * @returns XO_OK or XO_ERR_TLS.
 */
xo_err_t xo_xapi_conn_tls_to(xo_xapi_conn_t *conn, void *easy);

/** @brief Current URL; borrowed, valid until the next set_url or free. */
const char *xo_xapi_conn_url(const xo_xapi_conn_t *conn);

/**
 * @brief Call an XAPI method and unwrap its envelope.
 * @param method e.g. "session.login_with_password"; borrowed.
 * @param params json array, borrowed (may be NULL for none). Never logged.
 * @param timeout_ms whole-call timeout; 0 = the connection's.
 * @param value receives the Value on XO_OK (new reference, may be NULL for nil); caller puts.
 * @param xerr may be NULL; must be zero-initialised or cleared before; on XO_ERR_XAPI holds
 *        code and params (caller clears with xo_xapi_error_clear()). An XML-RPC <fault> is reported
 * as code "XMLRPC_FAULT" with params [faultCode, faultString].
 * @returns XO_OK; XO_ERR_XAPI (Failure); XO_ERR_CONNECT (refused, unreachable, DNS);
 *          XO_ERR_TIMEOUT; XO_ERR_TLS (handshake, certificate, pin mismatch: errstr gives the
 *          expected and actual fingerprints); XO_ERR_HTTP (status other than 200);
 *          XO_ERR_IO (connection lost mid-call); XO_ERR_PARSE (bad body); XO_ERR_LIMIT;
 *          XO_ERR_INVALID; XO_ERR_NOMEM.
 */
xo_err_t xo_xapi_call(xo_xapi_conn_t *conn, const char *method, json_object *params,
                      long timeout_ms, json_object **value, xo_xapi_error_t *xerr, char *errstr,
                      size_t errstr_size);

/**
 * @brief As xo_xapi_call(), but each element of the array at @p member_path of the
 *        response (e.g. {"Value", "events", NULL} for event.from) goes to @p cb as soon as
 *        it is decoded, and is not kept: the array in *value is empty.
 * @param cb called on this thread while the body arrives; takes ownership of each element;
 *        returning non-XO_OK aborts the call with that code. Elements delivered before a
 *        later failure (including an XAPI Failure) stay delivered.
 */
xo_err_t xo_xapi_call_stream(xo_xapi_conn_t *conn, const char *method, json_object *params,
                             long timeout_ms, const char *const *member_path, xo_xmlrpc_elem_cb cb,
                             void *opaque, json_object **value, xo_xapi_error_t *xerr, char *errstr,
                             size_t errstr_size);

/** The stream of xo_xapi_call_stream_raw(): xo_xmlrpc_decoder_set_stream_raw()'s
 *  arguments. All borrowed for the call. */
typedef struct {
    const char *const *path; /**< e.g. {"Value", "events", NULL} */
    const char *raw_member;  /**< e.g. "snapshot" */
    const char *capture;     /**< e.g. "uuid", or NULL */
    xo_xmlrpc_raw_elem_cb cb;
    void *opaque;
} xo_xapi_raw_stream_t;

/**
 * @brief As xo_xapi_call_stream(), with one member of each element handed over as JSON text
 *        instead of a tree (see xo_xmlrpc_decoder_set_stream_raw()). Same errors.
 */
xo_err_t xo_xapi_call_stream_raw(xo_xapi_conn_t *conn, const char *method, json_object *params,
                                 long timeout_ms, const xo_xapi_raw_stream_t *stream,
                                 json_object **value, xo_xapi_error_t *xerr, char *errstr,
                                 size_t errstr_size);

/**
 * @brief SHA-256 fingerprint of the first certificate in a PEM file (as pinned).
 * @param hex receives 64 lowercase hex digits and a NUL.
 * @returns XO_OK; XO_ERR_IO (cannot open); XO_ERR_TLS (no PEM certificate).
 */
xo_err_t xo_tls_cert_fingerprint_file(const char *pem_path, char hex[65], char *errstr,
                                      size_t errstr_size);

#endif
