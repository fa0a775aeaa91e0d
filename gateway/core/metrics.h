/*
 * metrics.h - the gateway's own counters: notifications sent, connections closed by a
 * limit or a deadline (clients dropped for slowness among them), JSON-RPC calls and
 * errors, HTTP requests, console sessions (open, bytes, refusals), and the histograms of
 * notification latency (record timestamp -> notification queued to the clients, and ->
 * written to each client), with their
 * Prometheus text. Counting only: the /metrics page that adds the view, the consumer and the
 * command bus is api/metrics_page.c. Service thread only.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

#include "core/gw_buf.h"

typedef struct gw_metrics gw_metrics_t;

/** Why the gateway closed a connection itself (label reason= of
 *  xo_gateway_connections_closed_total). */
typedef enum {
    GW_CLOSE_QUEUE,   /**< over limits.client_queue_bytes */
    GW_CLOSE_STALLED, /**< took no byte for timeouts.send_s */
    GW_CLOSE_SIGNIN,  /**< WebSocket not signed in within timeouts.signin_s */
    GW_CLOSE_BODY,    /**< request body not in within timeouts.body_s */
    GW_CLOSE_REFUSED, /**< CONNECT, unknown method, oversized request: answered, closed */
    GW_CLOSE_REASONS
} gw_close_reason_t;

gw_metrics_t *gw_metrics_new(void);
void gw_metrics_free(gw_metrics_t *m);

/** @brief Record one notification latency (record timestamp -> queued), in milliseconds. */
void gw_metrics_observe_latency(gw_metrics_t *m, double ms);
/** @brief Record one notification written to one client (record timestamp -> handed to its
 *         socket), in milliseconds, once per change it carries (@p changes), so that its mean
 *         compares with the queued one's. */
void gw_metrics_observe_written(gw_metrics_t *m, double ms, uint64_t changes);
void gw_metrics_count_notification(gw_metrics_t *m, uint64_t messages, uint64_t bytes);
/** @brief One send() that carried several queued WebSocket messages (@p messages). */
void gw_metrics_count_gathered(gw_metrics_t *m, uint64_t messages);
/** @brief A connection closed by the gateway; QUEUE and STALLED also count as a dropped
 *         client (xo_gateway_clients_dropped_total). */
void gw_metrics_count_closed(gw_metrics_t *m, gw_close_reason_t why);
void gw_metrics_count_rpc(gw_metrics_t *m, int error);
void gw_metrics_count_http(gw_metrics_t *m, int status);

/* Consoles (transport/console_hub.c): open now, opened, bytes each way, refusals. */
void gw_metrics_console_opened(gw_metrics_t *m);
void gw_metrics_console_closed(gw_metrics_t *m);
void gw_metrics_console_bytes(gw_metrics_t *m, uint64_t to_client, uint64_t to_host);
/** @brief Count a refused or failed console by reason: a static label (metrics keep the
 *         pointer), at most GW_METRICS_REASONS distinct ones (more are counted as "other"). */
void gw_metrics_console_refused(gw_metrics_t *m, const char *reason);
#define GW_METRICS_REASONS 24

/** @brief Write the counters (notifications .. HTTP requests, consoles) in Prometheus text. */
void gw_metrics_write_counters(const gw_metrics_t *m, gw_buf_t *out);

/** @brief Write the notification latency histograms in Prometheus text. */
void gw_metrics_write_latency(const gw_metrics_t *m, gw_buf_t *out);

#endif
