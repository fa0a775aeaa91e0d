/*
 * metrics_page.h - GET /metrics: the Prometheus text exposition of the whole gateway —
 * objects by type and per pool (the view), records consumed and lag (the consumer),
 * WebSocket clients, the gateway's counters and latency histogram (core/metrics.h), and
 * commands by outcome (the command bus). Service thread; reads the view under its read
 * lock and copies the consumer's counters under their mutex; never blocks on Kafka.
 */
#ifndef GW_METRICS_PAGE_H
#define GW_METRICS_PAGE_H

#include "gateway.h"

/** @brief Append the exposition text to @p out. */
void gw_metrics_page_write(gw_ctx_t *ctx, gw_buf_t *out);

#endif
