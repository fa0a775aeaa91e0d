/*
 * metrics.c - the gateway's own counters and their Prometheus text (see metrics.h).
 * Knows no other module: whatever reads the view, the consumer or the command bus
 * belongs to the page (api/metrics_page.c), not here.
 */
#include "core/metrics.h"

#include <stdlib.h>

static const double BUCKETS[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
#define NB (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

struct gw_metrics {
    uint64_t lat_buckets[NB + 1];
    uint64_t lat_count;
    double lat_sum;
    uint64_t notif_msgs, notif_bytes, dropped, rpc_calls, rpc_errors, http_requests;
    uint64_t http_by_class[6];
    uint64_t closed[GW_CLOSE_REASONS];
};

static const char *const CLOSE_REASONS[GW_CLOSE_REASONS] = {"queue", "stalled", "signin_timeout",
                                                            "body_timeout", "refused"};

gw_metrics_t *gw_metrics_new(void)
{
    return calloc(1, sizeof(gw_metrics_t));
}

void gw_metrics_free(gw_metrics_t *m)
{
    free(m);
}

void gw_metrics_observe_latency(gw_metrics_t *m, double ms)
{
    size_t i = 0;
    if (ms < 0)
        ms = 0;
    while (i < NB && ms > BUCKETS[i])
        i++;
    m->lat_buckets[i]++;
    m->lat_count++;
    m->lat_sum += ms / 1000.0;
}

void gw_metrics_count_notification(gw_metrics_t *m, uint64_t messages, uint64_t bytes)
{
    m->notif_msgs += messages;
    m->notif_bytes += bytes;
}

void gw_metrics_count_closed(gw_metrics_t *m, gw_close_reason_t why)
{
    if ((unsigned)why >= GW_CLOSE_REASONS)
        return;
    m->closed[why]++;
    if (why == GW_CLOSE_QUEUE || why == GW_CLOSE_STALLED)
        m->dropped++;
}

void gw_metrics_count_rpc(gw_metrics_t *m, int error)
{
    m->rpc_calls++;
    if (error)
        m->rpc_errors++;
}

void gw_metrics_count_http(gw_metrics_t *m, int status)
{
    m->http_requests++;
    if (status >= 100 && status < 600)
        m->http_by_class[status / 100]++;
}

void gw_metrics_write_counters(const gw_metrics_t *m, gw_buf_t *out)
{
    gw_buf_printf(out,
                  "# TYPE xo_gateway_notifications_total counter\n"
                  "xo_gateway_notifications_total %llu\n"
                  "# TYPE xo_gateway_notification_bytes_total counter\n"
                  "xo_gateway_notification_bytes_total %llu\n"
                  "# TYPE xo_gateway_clients_dropped_total counter\n"
                  "xo_gateway_clients_dropped_total %llu\n"
                  "# TYPE xo_gateway_rpc_calls_total counter\n"
                  "xo_gateway_rpc_calls_total %llu\n"
                  "# TYPE xo_gateway_rpc_errors_total counter\n"
                  "xo_gateway_rpc_errors_total %llu\n"
                  "# TYPE xo_gateway_http_requests_total counter\n"
                  "xo_gateway_http_requests_total %llu\n",
                  (unsigned long long)m->notif_msgs, (unsigned long long)m->notif_bytes,
                  (unsigned long long)m->dropped, (unsigned long long)m->rpc_calls,
                  (unsigned long long)m->rpc_errors, (unsigned long long)m->http_requests);
    gw_buf_puts(out, "# TYPE xo_gateway_connections_closed_total counter\n");
    for (int i = 0; i < GW_CLOSE_REASONS; i++)
        gw_buf_printf(out, "xo_gateway_connections_closed_total{reason=\"%s\"} %llu\n",
                      CLOSE_REASONS[i], (unsigned long long)m->closed[i]);
}

void gw_metrics_write_latency(const gw_metrics_t *m, gw_buf_t *out)
{
    uint64_t cum = 0;

    gw_buf_puts(out, "# HELP xo_gateway_notification_latency_seconds Record timestamp (agent) to "
                     "`all` notification queued to clients.\n"
                     "# TYPE xo_gateway_notification_latency_seconds histogram\n");
    for (size_t i = 0; i < NB; i++) {
        cum += m->lat_buckets[i];
        gw_buf_printf(out, "xo_gateway_notification_latency_seconds_bucket{le=\"%g\"} %llu\n",
                      BUCKETS[i] / 1000.0, (unsigned long long)cum);
    }
    cum += m->lat_buckets[NB];
    gw_buf_printf(out,
                  "xo_gateway_notification_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                  "xo_gateway_notification_latency_seconds_sum %.6f\n"
                  "xo_gateway_notification_latency_seconds_count %llu\n",
                  (unsigned long long)cum, m->lat_sum, (unsigned long long)m->lat_count);
}
