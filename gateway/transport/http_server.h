/*
 * http_server.h - the listener on http.address:port (optional TLS), serving every
 * endpoint of transport/endpoint.h on the same port (the JSON-RPC WebSocket at /api/,
 * REST, /healthz, /metrics, the web UI, downloads, consoles).
 *
 * With http.session_thread (the default) and plain HTTP it runs two service threads, each
 * with its own libwebsockets context: the sessions thread serves the JSON-RPC WebSocket
 * connections and their notification fan-out, the HTTP thread everything else, and an
 * acceptor thread (acceptor.c) owns the listening socket and hands each new connection to
 * its thread by its first request head (head_route.h). The two service threads take
 * turns (ctx->service_lock, a fair lock) around each callback, so neither waits for the
 * other's whole service pass: /healthz, REST and sign-ins are answered while thousands of
 * clients are fed. Otherwise (the setting off, or TLS: a hello cannot be classified
 * before it is terminated) one thread serves everything, as before.
 *
 * gw_http_run() serves on the calling thread (and starts the others). Other threads may
 * only call gw_http_wake*() and gw_http_stop(). Every connection is bounded (limits.*,
 * timeouts.*: docs/security.md): a client that does not read, or is too slow in any
 * state, is disconnected with a log line rather than buffered or waited for without end.
 */
#ifndef GW_HTTP_SERVER_H
#define GW_HTTP_SERVER_H

#include "gateway.h"

/** One read of a connection per service turn brings at most this (pt_serv_buf_size): an
 *  HTTP request body is handed over in pieces this large, whatever the flow control. */
#define GW_HTTP_READ_MAX (256 * 1024)

typedef struct gw_http gw_http_t;

/** Where and how to listen (all borrowed). */
typedef struct {
    const char *address;  /**< IPv4 text */
    int port;             /**< 0: any free port (gw_http_port) */
    const char *tls_cert; /**< PEM paths, or NULL for plain HTTP */
    const char *tls_key;
    bool session_thread; /**< http.session_thread: the JSON-RPC sessions on their own thread
                              (plain HTTP only) */
    /** Tests only (main.c: env XO_TEST_GATEWAY_STALL_SESSIONS), NULL otherwise: while
     *  this file exists, the thread of the JSON-RPC sessions stops after each service pass
     *  (not holding the service lock), as a thread kept busy would; one thread: all stop. */
    const char *test_stall_file;
} gw_http_settings_t;

/**
 * @brief Create the listener. With two service threads it sets ctx->service_lock (until
 *        gw_http_free).
 * @returns XO_OK, XO_ERR_IO (address in use or cannot listen; said plainly in errstr),
 *          XO_ERR_TLS (cannot load the certificate or key), XO_ERR_NOMEM.
 */
xo_err_t gw_http_new(gw_ctx_t *ctx, const gw_http_settings_t *set, gw_http_t **out, char *errstr,
                     size_t errstr_size);

/** @brief Serve until gw_http_stop(): HTTP on the calling thread, the sessions and the
 *         acceptor on their own threads (joined before it returns). */
void gw_http_run(gw_http_t *h);

/** @brief Wake the thread that runs the command bus (a result arrived). Any thread. */
void gw_http_wake(void *h);

/** @brief Wake the thread of the JSON-RPC sessions (notifications to flush). Any thread. */
void gw_http_wake_sessions(void *h);

/** @brief True when the JSON-RPC sessions have their own thread. */
bool gw_http_split(const gw_http_t *h);

/** @brief Ask gw_http_run() to return. Any thread. */
void gw_http_stop(gw_http_t *h);

/** @brief The port actually bound (useful with port 0). */
int gw_http_port(const gw_http_t *h);

void gw_http_free(gw_http_t *h);

#endif
