/*
 * transfer_io.h - the byte pipes of a VM transfer (docs/streaming.md): one blocking
 * connection type (TCP, or TLS over it) used for the XAPI host's /export and /import
 * handlers and for the agent-to-agent link, a minimal HTTP/1.0 client for those handlers
 * (XAPI's rules: no chunked encoding, a huge Content-Length, 302 to another host), the
 * link's framing, and the link's self-signed certificate and its pin. Every socket has
 * send and receive timeouts, so no peer can hold a worker forever. TLS writes to a peer
 * that left raise SIGPIPE: the process ignores it (xo-agent's main does). Nothing here
 * calls XAPI methods or knows about commands.
 */
#ifndef XO_TRANSFER_IO_H
#define XO_TRANSFER_IO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xo_error.h"

#define TX_FRAME_MAX    262144             /**< largest link frame payload (bytes) */
#define TX_FRAME_BUF    (4 + TX_FRAME_MAX) /**< a data frame: its header, then its payload */
#define TX_CONTROL_MAX  4096               /**< largest control frame (hello, answer, outcome) */
#define TX_HEAD_MAX     16384              /**< largest HTTP response head read */
#define TX_PIN_HEX      64                 /**< SHA-256 in hex */
#define TX_IMPORT_CLAIM (1ull << 50)       /**< Content-Length of an import (1 PiB, as xo-server) */

/** TLS settings of a client connection. Strings borrowed. */
typedef struct {
    const char *pin_sha256; /**< the server certificate's SHA-256 (hex), or NULL */
    const char *ca_file;    /**< CA bundle when no pin, or NULL (system CAs) */
    bool insecure;          /**< no verification at all (XAPI's xapi.insecure) */
    bool eof_is_end;        /**< a close without close_notify ends the body (XAPI's handlers,
                                 whose XVA carries its own end and checksums); never on the link */
} tx_tls_opts_t;

/** One connection; buffered reads (the rest of an HTTP head is body). */
typedef struct {
    int fd;
    SSL_CTX *ctx; /**< owned when this side created it (clients) */
    SSL *ssl;     /**< NULL for plain TCP */
    unsigned char buf[8192];
    size_t pos, len; /**< unread bytes in buf */
} tx_conn_t;

/**
 * @brief Connect to @p host : @p port (numeric or name), with TLS when @p tls is given.
 * @param timeout_ms connect timeout, then each send/receive's.
 * @returns XO_OK; XO_ERR_CONNECT, XO_ERR_TLS (handshake, pin mismatch), XO_ERR_NOMEM.
 */
xo_err_t tx_connect(tx_conn_t *c, const char *host, int port, const tx_tls_opts_t *tls,
                    int timeout_ms, char *errstr, size_t errstr_size);

/** @brief TLS server side of an accepted socket @p fd (taken, closed on failure). */
xo_err_t tx_accept_tls(tx_conn_t *c, int fd, SSL_CTX *ctx, int timeout_ms, char *errstr,
                       size_t errstr_size);

/** @brief Each later send and receive on @p c may wait up to @p timeout_ms. */
void tx_set_timeout(tx_conn_t *c, int timeout_ms);

/** @brief Close (with a TLS close_notify when @p clean) and reset. Safe twice. */
void tx_close(tx_conn_t *c, bool clean);

/** @brief Up to @p n bytes. @returns the count, 0 at a clean end, -1 on error or timeout. */
ssize_t tx_read(tx_conn_t *c, void *p, size_t n);

/** @brief Exactly @p n bytes. @returns XO_OK, XO_ERR_IO (error, timeout or early end). */
xo_err_t tx_read_full(tx_conn_t *c, void *p, size_t n);

/** @brief All @p n bytes. @returns XO_OK or XO_ERR_IO. */
xo_err_t tx_write_all(tx_conn_t *c, const void *p, size_t n);

/* ---- HTTP/1.0 to a XAPI host ---- */

/** The answer's head. */
typedef struct {
    int status;
    char location[512]; /**< of a 302 */
    char task_id[128];  /**< the task-id header, when present */
} tx_http_head_t;

/**
 * @brief Send "<method> <path> HTTP/1.0" to @p base_url's host (http:// or https://) and read
 *        the answer's head, following up to three 302s to another host (same port, as
 *        xen-api does). A PUT carries Content-Length TX_IMPORT_CLAIM and no body yet: XAPI
 *        answers an import before reading it.
 * @param path the path and query ("/export?session_id=…"): a credential, never logged.
 * @returns XO_OK with @p c open at the body; XO_ERR_CONNECT, XO_ERR_TLS, XO_ERR_IO,
 *          XO_ERR_HTTP (a status other than 200; @p head says which).
 */
xo_err_t tx_http_open(tx_conn_t *c, const char *base_url, const char *method, const char *path,
                      const tx_tls_opts_t *tls, int timeout_ms, tx_http_head_t *head, char *errstr,
                      size_t errstr_size);

/* ---- the link ---- */

/** @brief A control frame: 4-byte big-endian length, then the bytes (n <= TX_CONTROL_MAX). */
xo_err_t tx_frame_write(tx_conn_t *c, const void *p, size_t n);

/** @brief A data frame in one write: @p frame holds @p n payload bytes at frame + 4 (its
 *  header is written here); n <= TX_FRAME_MAX, 0 is the end of the stream. */
xo_err_t tx_frame_send(tx_conn_t *c, unsigned char *frame, size_t n);

/** @brief One frame into @p p of @p cap bytes; *n = 0 is the end of the stream.
 *  @returns XO_OK, XO_ERR_IO, XO_ERR_LIMIT (a frame over @p cap). */
xo_err_t tx_frame_read(tx_conn_t *c, void *p, size_t cap, size_t *n);

/**
 * @brief A server context with a fresh self-signed P-256 certificate (kept in memory only),
 *        and its SHA-256 fingerprint in hex (the pin the source agent gets in its command).
 * @returns XO_OK or XO_ERR_CRYPTO.
 */
xo_err_t tx_server_ctx_new(SSL_CTX **out, char pin[TX_PIN_HEX + 1], char *errstr,
                           size_t errstr_size);

#endif
