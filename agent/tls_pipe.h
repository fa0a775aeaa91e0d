/*
 * tls_pipe.h - TLS for the console relays' raw connections, run over memory BIOs: the
 * relay thread's event loop moves ciphertext between the socket and the pipe, the pipe
 * hands plaintext back. (libwebsockets 4.1 cannot start TLS on a raw client connection:
 * it creates the TLS session before the TCP connection exists.) Certificates are checked
 * as the agent's XAPI connection checks them: a CA file (or the system's) with the peer's
 * name or address, or a pinned SHA-256 of the peer's certificate, or not at all
 * (insecure, tests). No I/O, no logging; relay thread only.
 */
#ifndef XO_TLS_PIPE_H
#define XO_TLS_PIPE_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

/** How one side's certificates are checked. Strings borrowed. */
typedef struct {
    const char *ca_file; /**< PEM bundle; NULL: the system's */
    const char *pin;     /**< hex SHA-256 of the peer's certificate (":" allowed), or NULL */
    bool insecure;       /**< no check at all */
} tls_trust_t;

/**
 * @brief A client context for one side.
 * @returns XO_OK, XO_ERR_TLS (bad CA file or pin; detail in errstr), XO_ERR_NOMEM.
 */
xo_err_t tls_ctx_new(const tls_trust_t *trust, SSL_CTX **out, char *errstr, size_t errstr_size);

typedef struct tls_pipe tls_pipe_t;

/**
 * @brief A TLS client session toward @p peer (a name or an IP address: SNI and the name
 *        checked in CA mode), handshake started (tls_pipe_out() has the ClientHello).
 * @param pin the side's pin (borrowed for the pipe's life) or NULL
 * @returns the pipe, or NULL on allocation failure.
 */
tls_pipe_t *tls_pipe_new(SSL_CTX *ctx, const char *peer, const char *pin);
void tls_pipe_free(tls_pipe_t *p);

/** Plaintext from the peer, in place (@p data is the pipe's buffer). False stops. */
typedef bool (*tls_plain_fn)(void *opaque, uint8_t *data, size_t len);

/**
 * @brief Ciphertext from the socket: the handshake goes on, plaintext goes to @p fn.
 * @returns 0, or -1 when TLS failed (the certificate, the protocol): why in @p errstr.
 */
int tls_pipe_rx(tls_pipe_t *p, const uint8_t *in, size_t len, tls_plain_fn fn, void *opaque,
                char *errstr, size_t errstr_size);

/** @brief True once the handshake is complete (plaintext may be sent). */
bool tls_pipe_ready(const tls_pipe_t *p);

/** @brief Encrypt @p len plaintext bytes (after the handshake). @returns 0 or -1. */
int tls_pipe_tx(tls_pipe_t *p, const uint8_t *in, size_t len);

/** @brief Ciphertext waiting for the socket: copy at most @p cap bytes. @returns count. */
size_t tls_pipe_out(tls_pipe_t *p, uint8_t *out, size_t cap);

#endif
