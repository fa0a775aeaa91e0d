/*
 * http_server.h - the listener: one libwebsockets context, one vhost on
 * http.address:port (optional TLS), serving every endpoint of transport/endpoint.h on the
 * same port (the JSON-RPC WebSocket at /api/, REST, /healthz and /metrics).
 *
 * Runs the service thread (gw_http_run). Other threads may only call gw_http_wake() and
 * gw_http_stop(). Every connection is bounded (limits.*, timeouts.*: docs/security.md):
 * a client that does not read, or is too slow in any state, is disconnected with a log
 * line rather than buffered or waited for without end.
 */
#ifndef GW_HTTP_SERVER_H
#define GW_HTTP_SERVER_H

#include "gateway.h"

/** One read of a connection per service turn brings at most this (pt_serv_buf_size): an
 *  HTTP request body is handed over in pieces this large, whatever the flow control. */
#define GW_HTTP_READ_MAX (256 * 1024)

typedef struct gw_http gw_http_t;

/**
 * @brief Create the listener.
 * @param address, port where to listen; tls_cert/tls_key PEM paths or NULL for plain HTTP
 * @returns XO_OK, XO_ERR_IO (address in use or cannot listen; said plainly in errstr),
 *          XO_ERR_TLS (cannot load the certificate or key), XO_ERR_NOMEM.
 */
xo_err_t gw_http_new(gw_ctx_t *ctx, const char *address, int port, const char *tls_cert,
                     const char *tls_key, gw_http_t **out, char *errstr, size_t errstr_size);

/** @brief Serve until gw_http_stop(). Service thread. */
void gw_http_run(gw_http_t *h);

/** @brief Wake the service thread (to flush notifications). Any thread, signal-safe enough. */
void gw_http_wake(void *h);

/** @brief Ask gw_http_run() to return. Any thread. */
void gw_http_stop(gw_http_t *h);

/** @brief The port actually bound (useful with port 0). */
int gw_http_port(const gw_http_t *h);

void gw_http_free(gw_http_t *h);

#endif
