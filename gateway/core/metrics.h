/*
 * metrics.h - the gateway's own counters: notifications sent, connections closed by a
 * limit or a deadline (clients dropped for slowness among them), JSON-RPC calls and
 * errors, HTTP requests, and the histogram of notification
 * latency (record timestamp -> notification queued to the clients), with their Prometheus
 * text. Counting only: the /metrics page that adds the view, the consumer and the command
 * bus is api/metrics_page.c. Service thread only.
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

/** @brief Record one notification latency, in milliseconds. */
void gw_metrics_observe_latency(gw_metrics_t *m, double ms);
void gw_metrics_count_notification(gw_metrics_t *m, uint64_t messages, uint64_t bytes);
/** @brief A connection closed by the gateway; QUEUE and STALLED also count as a dropped
 *         client (xo_gateway_clients_dropped_total). */
void gw_metrics_count_closed(gw_metrics_t *m, gw_close_reason_t why);
void gw_metrics_count_rpc(gw_metrics_t *m, int error);
void gw_metrics_count_http(gw_metrics_t *m, int status);

/** @brief Write the counters (notifications .. HTTP requests) in Prometheus text. */
void gw_metrics_write_counters(const gw_metrics_t *m, gw_buf_t *out);

/** @brief Write the notification latency histogram in Prometheus text. */
void gw_metrics_write_latency(const gw_metrics_t *m, gw_buf_t *out);

#endif
