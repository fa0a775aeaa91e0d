/*
 * ws_sessions.h - the JSON-RPC WebSocket sessions: each connection's API session and its
 * queue of outbound messages, the registry of open sessions, the fan-out of `all`
 * notifications to the signed-in ones, the delivery of deferred command answers to the
 * connection that asked, and each connection's limits and deadlines. Knows frames and
 * bytes, not JSON-RPC: every answer is written by the API layer (api/api_rpc.h).
 *
 * Outbound messages are shared by reference (gw_msg_t): one notification batch is built
 * once for every client. Per connection:
 * - everything queued (answers and notifications) counts against one budget
 *   (limits.client_queue_bytes, transport/conn_guard.h); a client that would pass it is
 *   closed at once: socket reset, queue freed, counted, whether it ever reads again or not;
 * - calls in flight (waiting for their command, or their answer not yet written) are at
 *   most limits.max_calls_in_flight: at the limit the connection is not read any more
 *   until one is answered, so the next call waits (TCP back-pressure), it is not refused;
 * - deadlines, checked every GW_WS_SWEEP_MS: signed in within timeouts.signin_s of the
 *   upgrade or of a sign-out (else closed with 1008), and bytes waiting for the client
 *   taken within timeouts.send_s of each other (else closed at once, counted);
 * - writes take turns (write_turns.h): a service pass writes a bounded share of the
 *   notifications, round-robin over the clients, so the same thread's HTTP requests and
 *   sign-ins are not queued behind a pass over every client.
 * Service thread only.
 */
#ifndef GW_WS_SESSIONS_H
#define GW_WS_SESSIONS_H

#include <libwebsockets.h>
#include <stdbool.h>

#include "api/session.h"
#include "bus/commands.h"
#include "gateway.h"
#include "transport/conn_guard.h"
#include "transport/write_turns.h"

#define GW_WS_SWEEP_MS 250 /* how often the sessions' deadlines are checked */

typedef struct gw_ws_qnode gw_ws_qnode_t;

/** One WebSocket connection (the JSON-RPC protocol's per-connection data, zeroed by lws). */
typedef struct gw_ws_session {
    struct lws *wsi;
    gw_session_t sess;          /**< the API session; sess.conn is the connection serial */
    gw_ws_qnode_t *head, *tail; /**< outbound messages, oldest first */
    gw_conn_budget_t budget;    /**< bytes queued (limits.client_queue_bytes) */
    size_t off;                 /**< bytes of the head message already written */
    size_t answers;             /**< answers in the queue (calls in flight) */
    size_t deferred;            /**< calls waiting for their command's outcome */
    gw_buf_t rx;                /**< the message being received (endpoint_jsonrpc.c) */
    int64_t signin_due;         /**< monotonic ms to sign in by; 0 while signed in */
    int64_t waiting_since;      /**< monotonic ms of the last byte the client took while
                                     bytes wait for it */
    bool open;                  /**< in the registry (between open and close) */
    bool dropped;               /**< closed at once by a limit; its queue is freed */
    bool expired;               /**< missed its sign-in: closed (1008) at its writeable */
    bool paused;                /**< not read: limits.max_calls_in_flight reached */
    bool parked;                /**< served this round, more queued: not armed until the
                                     next round (write_turns.h) */
    bool waiting;               /**< in the waiting queue for a turn: not armed */
    uint32_t turn;              /**< the round of its last write turn (0: none yet) */
    struct gw_ws_session *next, *prev;
    struct gw_ws_session *wnext, *wprev; /**< the waiting queue */
} gw_ws_session_t;

/** The open sessions of one listener (the JSON-RPC endpoint's per-vhost state). */
typedef struct {
    gw_ctx_t *ctx; /**< borrowed */
    gw_ws_session_t *head;
    struct lws_context *lws;     /**< for the deadline timer */
    lws_sorted_usec_list_t tick; /**< checks the deadlines every GW_WS_SWEEP_MS */
    gw_buf_t gather;             /**< scratch: several queued messages framed for one send */
    gw_write_turns_t turns;      /**< the writes' turns and per-pass budget */
    size_t parked;               /**< sessions parked until the next round */
    gw_ws_session_t *wait_head, *wait_tail; /**< sessions waiting for a turn, first first */
    size_t waiting;                         /**< ... how many */
} gw_ws_sessions_t;

/** @brief Start checking the sessions' deadlines (at the endpoint's PROTOCOL_INIT). */
void gw_ws_sessions_start(gw_ws_sessions_t *all, gw_ctx_t *ctx, struct lws_context *lws);

/** @brief Stop the deadline timer (at the endpoint's PROTOCOL_DESTROY). */
void gw_ws_sessions_stop(gw_ws_sessions_t *all);

/** @brief Register a new connection (ctx->ws_clients counts it); its sign-in deadline runs. */
void gw_ws_session_open(gw_ws_sessions_t *all, gw_ws_session_t *s, struct lws *wsi, uint64_t conn);

/**
 * @brief The connection closed: sign it out, forget its command waiters (their commands
 *        still run), free its queue. Idempotent; a never-opened session is left alone.
 */
void gw_ws_session_close(gw_ws_sessions_t *all, gw_ws_session_t *s);

/**
 * @brief Queue a message (a reference is taken) and ask for a writeable callback. A
 *        message over the connection's budget closes the connection instead.
 * @param answer the answer to one of the client's calls (counted in flight until written);
 *        false for a notification
 */
void gw_ws_session_send(gw_ws_sessions_t *all, gw_ws_session_t *s, gw_msg_t *m, bool answer);

/**
 * @brief One call was handled: count it in flight if it waits for its command
 *        (@p deferred), follow a sign-in or sign-out, and stop reading the connection
 *        while it has limits.max_calls_in_flight calls in flight.
 */
void gw_ws_session_called(gw_ws_sessions_t *all, gw_ws_session_t *s, bool deferred);

/**
 * @brief The connection is writeable: write the next chunk if it is the session's turn
 *        (write_turns.h), else ask again later. @returns -1 to close it.
 */
int gw_ws_session_write(gw_ws_sessions_t *all, gw_ws_session_t *s);

/**
 * @brief A service pass is over: a new pass budget (none after an accept: @p accepted,
 *        write_turns.h); a new round arms the parked, else the next waiting are armed.
 */
void gw_ws_sessions_pass_end(gw_ws_sessions_t *all, bool accepted);

/** @brief Take the notifier's batch and queue it to every signed-in session. */
void gw_ws_sessions_flush(gw_ws_sessions_t *all);

/** @brief Queue the JSON-RPC answer of a completed command to its connection, if still open. */
void gw_ws_sessions_deliver(gw_ws_sessions_t *all, const gw_cmd_reply_t *r);

/** @brief Close the sessions past a deadline (@p now: gw_mono_ms()); the timer calls it. */
void gw_ws_sessions_sweep(gw_ws_sessions_t *all, int64_t now);

/** The header of an unmasked final text frame of @p len payload bytes (RFC 6455 5.2) into
 * @p h (at least 10 bytes): what the sessions write before each message (also the raw-pipe
 * bench's frames). @returns its length. */
size_t gw_ws_frame_header(unsigned char *h, size_t len);

#endif
