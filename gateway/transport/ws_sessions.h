/*
 * ws_sessions.h - the JSON-RPC WebSocket sessions: each connection's API session and its
 * queue of outbound messages, the registry of open sessions, the fan-out of `all`
 * notifications to the signed-in ones, and the delivery of deferred command answers to
 * the connection that asked. Knows frames and bytes, not JSON-RPC: every answer is
 * written by the API layer (api/api_rpc.h).
 *
 * Outbound messages are shared by reference (gw_msg_t): one notification batch is built
 * once for every client. Notifications are bounded per client
 * (limits.client_queue_bytes): a client that does not read is disconnected with a log
 * line rather than buffered without end. Service thread only.
 */
#ifndef GW_WS_SESSIONS_H
#define GW_WS_SESSIONS_H

#include <libwebsockets.h>
#include <stdbool.h>

#include "api/session.h"
#include "bus/commands.h"
#include "gateway.h"

typedef struct gw_ws_qnode gw_ws_qnode_t;

/** One WebSocket connection (the JSON-RPC protocol's per-connection data, zeroed by lws). */
typedef struct gw_ws_session {
    struct lws *wsi;
    gw_session_t sess;          /**< the API session; sess.conn is the connection serial */
    gw_ws_qnode_t *head, *tail; /**< outbound messages, oldest first */
    size_t qbytes;              /**< bytes queued */
    size_t off;                 /**< bytes of the head message already written */
    gw_buf_t rx;                /**< the message being received (endpoint_jsonrpc.c) */
    bool open;                  /**< in the registry (between open and close) */
    bool closing;               /**< dropped: closed at its next writeable */
    struct gw_ws_session *next, *prev;
} gw_ws_session_t;

/** The open sessions of one listener (the JSON-RPC endpoint's per-vhost state). */
typedef struct {
    gw_ctx_t *ctx; /**< borrowed */
    gw_ws_session_t *head;
} gw_ws_sessions_t;

/** @brief Register a new connection (ctx->ws_clients counts it). */
void gw_ws_session_open(gw_ws_sessions_t *all, gw_ws_session_t *s, struct lws *wsi, uint64_t conn);

/**
 * @brief The connection closed: sign it out, forget its command waiters (their commands
 *        still run), free its queue. Idempotent; a never-opened session is left alone.
 */
void gw_ws_session_close(gw_ws_sessions_t *all, gw_ws_session_t *s);

/**
 * @brief Queue a message (a reference is taken) and ask for a writeable callback.
 * @param notification subject to the queue bound; an answer never is (the client asked)
 */
void gw_ws_session_send(gw_ws_sessions_t *all, gw_ws_session_t *s, gw_msg_t *m, bool notification);

/** @brief The connection is writeable: write the next chunk. @returns -1 to close it. */
int gw_ws_session_write(gw_ws_session_t *s);

/** @brief Take the notifier's batch and queue it to every signed-in session. */
void gw_ws_sessions_flush(gw_ws_sessions_t *all);

/** @brief Queue the JSON-RPC answer of a completed command to its connection, if still open. */
void gw_ws_sessions_deliver(gw_ws_sessions_t *all, const gw_cmd_reply_t *r);

#endif
