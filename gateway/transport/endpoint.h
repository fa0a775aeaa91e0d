/*
 * endpoint.h - the contract between the listener (http_server.c) and its endpoints. An
 * endpoint is one module with one libwebsockets protocol (one callback, its per-connection
 * data) and, for HTTP, the URL prefixes (lws mounts) it serves. Adding one (a console
 * proxy, the web UI's static files, streamed downloads) is a new module defining a
 * gw_endpoint_t plus one line in http_server.c's ENDPOINTS; no other callback changes.
 *
 * An endpoint keeps its shared state in lws' per-vhost protocol storage, allocated at
 * LWS_CALLBACK_PROTOCOL_INIT (lws_protocol_vh_priv_zalloc) and freed by lws with the
 * vhost; gw_endpoint_state() finds it again. Service thread only.
 */
#ifndef GW_ENDPOINT_H
#define GW_ENDPOINT_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/commands.h"
#include "gateway.h"

/** What the listener shares with every endpoint: the vhost's user pointer. */
typedef struct {
    gw_ctx_t *ctx;      /**< borrowed from main.c */
    uint64_t next_conn; /**< last connection serial handed out (gw_transport_conn) */
} gw_transport_t;

typedef struct {
    /** name, callback, per_session_data_size, rx_buffer_size (the rest zero) */
    struct lws_protocols protocol;
    /** HTTP URL prefixes bound to this protocol (lws mounts), NULL-terminated; NULL: none */
    const char *const *mounts;
    /** WebSocket upgrades naming no subprotocol come here (xo-lib sends none). lws 4.1
     *  binds WebSocket upgrades by subprotocol, not by path: any other WebSocket endpoint
     *  is reached by its protocol name, and each one checks its path at
     *  LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, which an HTTP-only endpoint refuses (a
     *  client may name any protocol of the list). */
    bool ws_default;
    /** The service thread was woken: take what other threads queued (optional). */
    void (*wake)(void *state);
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
    return ++t->next_conn;
}

/** @brief The calling endpoint's per-vhost state (NULL before PROTOCOL_INIT). */
static inline void *gw_endpoint_state(struct lws *wsi)
{
    return lws_protocol_vh_priv_get(lws_get_vhost(wsi), lws_get_protocol(wsi));
}

/* The endpoints (one module each). */
extern const gw_endpoint_t gw_endpoint_jsonrpc; /* endpoint_jsonrpc.c: WebSocket /api/ */
extern const gw_endpoint_t gw_endpoint_rest;    /* endpoint_rest.c: /rest/v0, /healthz, ... */

#endif
