/*
 * endpoint.h - the contract between the listener (http_server.c) and its endpoints. An
 * endpoint is one module with one libwebsockets protocol (one callback, its per-connection
 * data) and, for HTTP, the URL prefixes (lws mounts) it serves. Adding one (a console
 * proxy, the web UI's static files, streamed downloads) is a new module defining a
 * gw_endpoint_t plus one line in http_server.c's ENDPOINTS; no other callback changes.
 *
 * An endpoint keeps its shared state in lws' per-vhost protocol storage, allocated at
 * LWS_CALLBACK_PROTOCOL_INIT (lws_protocol_vh_priv_zalloc) and freed by lws with the
 * vhost; gw_endpoint_state() finds it again. Service thread only: with two service
 * threads (http_server.h) an endpoint lives in one of them, and every callback, wake-up
 * and pass end runs under ctx->service_lock; a timer an endpoint schedules itself
 * (lws_sul_schedule) takes that lock in its callback.
 */
#ifndef GW_ENDPOINT_H
#define GW_ENDPOINT_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bus/commands.h"
#include "gateway.h"
#include "transport/http_status.h"

/** What the listener shares with every endpoint: the vhost's user pointer. */
typedef struct {
    gw_ctx_t *ctx;     /**< borrowed from main.c */
    uint64_t *serials; /**< last connection serial handed out (gw_transport_conn), one
                            counter for both service threads (taken under their lock) */
    int port;          /**< the port clients reach (the acceptor's when split: a vhost
                            that adopts connections listens on none itself) */
} gw_transport_t;

typedef struct {
    /** name, callback, per_session_data_size, rx_buffer_size (the rest zero) */
    struct lws_protocols protocol;
    /** HTTP URL prefixes bound to this protocol (lws mounts), NULL-terminated; NULL: none */
    const char *const *mounts;
    /** URL prefixes of the WebSocket upgrades that name no subprotocol and belong here
     *  (NULL-terminated; NULL: none). lws 4.1 binds an upgrade by the subprotocol the
     *  client offers, not by path, and one naming none to the vhost's default protocol:
     *  the listener's own. Debian's lws 4.1 does not export lws_bind_protocol(), so the
     *  listener cannot rebind such a connection: it routes it instead. Its filter picks
     *  the endpoint with the longest matching prefix, remembers it in the connection's
     *  data and from then on hands every callback of that connection to the endpoint's
     *  callback, with the endpoint's own per-connection data (http_server.c). So xo-lib
     *  (no subprotocol) reaches /api/, and a console on /api/consoles/<id> works whether
     *  the client offers `binary` (noVNC: bound by name) or nothing (xo-web may not).
     *  An endpoint therefore finds its state by name (gw_endpoint_state) and never
     *  assumes lws_get_protocol(wsi) or lws_wsi_user(wsi) are its own. Every WebSocket
     *  endpoint checks its path at LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION; an HTTP-only
     *  endpoint refuses there (a client may name any protocol of the list). */
    const char *const *ws_paths;
    /** The service thread was woken: take what other threads queued (optional). */
    void (*wake)(void *state);
    /** One service pass (one lws_service() call: a poll and every ready connection) is
     *  over (optional): per-pass budgets start again (write_turns.h); @p accepted: a
     *  connection was accepted in it, whose first request the next pass reads. */
    void (*serviced)(void *state, bool accepted);
    /** The command waiters this endpoint answers (GW_CMD_WAIT_NONE: none) ... */
    gw_cmd_wait_t replies;
    /** ... and how: find the waiting connection by r->waiter->conn (it may be gone). */
    void (*deliver)(void *state, const gw_cmd_reply_t *r);
} gw_endpoint_t;

/** @brief The listener's shared part, from any connection of its vhost. */
static inline gw_transport_t *gw_transport_of(struct lws *wsi)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    return vh ? (gw_transport_t *)lws_vhost_user(vh) : NULL;
}

/**
 * @brief A new connection serial. A command's waiter names its connection by serial, so
 *        an answer for a connection that left finds nobody instead of a reused pointer.
 */
static inline uint64_t gw_transport_conn(gw_transport_t *t)
{
    return ++*t->serials;
}

/**
 * @brief An endpoint's per-vhost state (NULL before its PROTOCOL_INIT). Found by the
 *        endpoint's protocol name, not by the connection's protocol: a WebSocket upgrade
 *        naming no subprotocol stays bound to the listener's protocol, which routes it by
 *        path (http_server.c), so lws_get_protocol(wsi) is not always the endpoint's own.
 */
static inline void *gw_endpoint_state(struct lws *wsi, const char *protocol_name)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    const struct lws_protocols *p = vh ? lws_vhost_name_to_protocol(vh, protocol_name) : NULL;

    return p ? lws_protocol_vh_priv_get(vh, p) : NULL;
}

/**
 * @brief Refuse a WebSocket upgrade with a plain HTTP answer (its status line with the
 *        reason phrase, http_status.h), from LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION (the
 *        handshake has not been answered yet; lws writes it raw). @returns -1: the
 *        filter's return value.
 */
static inline int gw_endpoint_refuse_upgrade(struct lws *wsi, int status, const char *reason)
{
    unsigned char buf[LWS_PRE + 512];
    int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     status, gw_http_reason(status), strlen(reason) + 1, reason);

    if (n > 0 && (size_t)n < sizeof(buf) - LWS_PRE)
        lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_FINAL);
    return -1;
}

/* The endpoints (one module each). */
extern const gw_endpoint_t gw_endpoint_jsonrpc;       /* endpoint_jsonrpc.c: WebSocket /api/ */
extern const gw_endpoint_t gw_endpoint_rest;          /* endpoint_rest.c: /rest/v0, /healthz, ... */
extern const gw_endpoint_t gw_endpoint_console;       /* endpoint_console.c: /api/consoles/<id> */
extern const gw_endpoint_t gw_endpoint_console_relay; /* endpoint_console_relay.c: agents */
extern const gw_endpoint_t gw_endpoint_download;      /* endpoint_download.c: vm.export */
extern const gw_endpoint_t gw_endpoint_static;        /* endpoint_static.c: the web UI, / */

#endif
