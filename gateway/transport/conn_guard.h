/*
 * conn_guard.h - what bounds one client connection, whatever its endpoint: the bytes queued
 * for it, and closing it at once when it breaks a limit or misses a deadline.
 *
 * One budget per connection (limits.client_queue_bytes) covers everything queued for it:
 * JSON-RPC answers, notifications, REST response bodies, and the console and download
 * streams to come. An endpoint asks gw_conn_budget_fits() before it queues, and decides
 * what a refusal means: a JSON-RPC session is closed (its client does not read); a stream
 * stops reading its source until the client has taken some bytes (back-pressure).
 * Service thread only; must not know any endpoint.
 */
#ifndef GW_CONN_GUARD_H
#define GW_CONN_GUARD_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

/** The bytes queued for one connection (embedded in its per-connection data). */
typedef struct {
    size_t queued; /**< queued and not yet handed to the kernel */
    size_t limit;  /**< limits.client_queue_bytes */
} gw_conn_budget_t;

/** @brief An empty budget of @p limit bytes. */
void gw_conn_budget_init(gw_conn_budget_t *b, size_t limit);

/**
 * @brief May @p len more bytes be queued? One message always fits an empty queue (an
 *        answer the client asked for, however big: the view bounds it); after it, the
 *        bytes queued must stay within the limit.
 */
bool gw_conn_budget_fits(const gw_conn_budget_t *b, size_t len);

/** @brief Count @p len bytes queued (after a gw_conn_budget_fits() that said yes). */
void gw_conn_budget_take(gw_conn_budget_t *b, size_t len);

/** @brief @p len bytes left the queue (written to the kernel, or dropped). */
void gw_conn_budget_give(gw_conn_budget_t *b, size_t len);

/**
 * @brief Close @p wsi now, writable or not: the socket is reset (SO_LINGER 0, so the
 *        kernel drops what it still holds for the peer too) and libwebsockets frees the
 *        connection at its next service step, calling the endpoint's close callback as
 *        usual. The caller frees what it queued itself. Safe inside a callback of @p wsi.
 */
void gw_conn_close_now(struct lws *wsi);

#endif
