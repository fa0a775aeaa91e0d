/*
 * metrics.h - Prometheus text exposition of the gateway (GET /metrics): objects by type,
 * records consumed, malformed records, consumer lag, WebSocket clients, signed-in
 * clients, notifications sent, clients dropped for slowness, and the histogram of
 * notification latency (record timestamp -> notification queued to the clients).
 * Service thread only; reads the view under its read lock and the consumer's counters.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

#include "core/gw_buf.h"

typedef struct gw_metrics gw_metrics_t;

gw_metrics_t *gw_metrics_new(void);
void gw_metrics_free(gw_metrics_t *m);

/** @brief Record one notification latency, in milliseconds. */
void gw_metrics_observe_latency(gw_metrics_t *m, double ms);
void gw_metrics_count_notification(gw_metrics_t *m, uint64_t messages, uint64_t bytes);
void gw_metrics_count_dropped_client(gw_metrics_t *m);
void gw_metrics_count_rpc(gw_metrics_t *m, int error);
void gw_metrics_count_http(gw_metrics_t *m, int status);

/** @brief Write the exposition text (ctx is a gw_ctx_t). */
void gw_metrics_render(void *ctx, gw_buf_t *out);

#endif
