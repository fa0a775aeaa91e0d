/*
 * metrics.c - the gateway's own counters and their Prometheus text (see metrics.h).
 * Knows no other module: whatever reads the view, the consumer or the command bus
 * belongs to the page (api/metrics_page.c), not here.
 */
#include "core/metrics.h"

#include <stdlib.h>
#include <string.h>

/* ms; fine below 50 ms, where the notification latency targets are */
static const double BUCKETS[] = {1,  2,  3,   5,   7.5, 10,   15,   20,   30,
                                 50, 75, 100, 200, 500, 1000, 2000, 5000, 10000};
#define NB (sizeof(BUCKETS) / sizeof(BUCKETS[0]))

typedef struct {
    uint64_t buckets[NB + 1];
    uint64_t count;
    double sum; /* seconds */
} histogram_t;

struct gw_metrics {
    histogram_t queued;  /* record timestamp -> `all` queued */
    histogram_t written; /* record timestamp -> `all` written to one client */
    uint64_t notif_msgs, notif_bytes, dropped, rpc_calls, rpc_errors, http_requests;
    uint64_t gathered_sends, gathered_msgs;
    uint64_t http_by_class[6];
    uint64_t closed[GW_CLOSE_REASONS];
    uint64_t consoles_open, consoles_opened, console_to_client, console_to_host;
    const char *refusal_label[GW_METRICS_REASONS];
    uint64_t refusals[GW_METRICS_REASONS];
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

static void observe(histogram_t *h, double ms, uint64_t times)
{
    size_t i = 0;
    if (ms < 0)
        ms = 0;
    while (i < NB && ms > BUCKETS[i])
        i++;
    h->buckets[i] += times;
    h->count += times;
    h->sum += (double)times * ms / 1000.0;
}

void gw_metrics_observe_latency(gw_metrics_t *m, double ms)
{
    observe(&m->queued, ms, 1);
}

void gw_metrics_observe_written(gw_metrics_t *m, double ms, uint64_t changes)
{
    observe(&m->written, ms, changes);
}

void gw_metrics_count_notification(gw_metrics_t *m, uint64_t messages, uint64_t bytes)
{
    m->notif_msgs += messages;
    m->notif_bytes += bytes;
}

void gw_metrics_count_gathered(gw_metrics_t *m, uint64_t messages)
{
    m->gathered_sends++;
    m->gathered_msgs += messages;
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

void gw_metrics_console_opened(gw_metrics_t *m)
{
    m->consoles_open++;
    m->consoles_opened++;
}

void gw_metrics_console_closed(gw_metrics_t *m)
{
    if (m->consoles_open)
        m->consoles_open--;
}

void gw_metrics_console_bytes(gw_metrics_t *m, uint64_t to_client, uint64_t to_host)
{
    m->console_to_client += to_client;
    m->console_to_host += to_host;
}

void gw_metrics_console_refused(gw_metrics_t *m, const char *reason)
{
    size_t i = 0;

    while (i < GW_METRICS_REASONS - 1 && m->refusal_label[i] && strcmp(m->refusal_label[i], reason))
        i++;
    if (!m->refusal_label[i])
        m->refusal_label[i] = i == GW_METRICS_REASONS - 1 ? "other" : reason;
    m->refusals[i]++;
}

static void write_consoles(const gw_metrics_t *m, gw_buf_t *out)
{
    gw_buf_printf(out,
                  "# HELP xo_gateway_consoles_open Console sessions open (waiting or relayed).\n"
                  "# TYPE xo_gateway_consoles_open gauge\n"
                  "xo_gateway_consoles_open %llu\n"
                  "# TYPE xo_gateway_consoles_opened_total counter\n"
                  "xo_gateway_consoles_opened_total %llu\n"
                  "# HELP xo_gateway_console_bytes_total Console bytes relayed, by direction.\n"
                  "# TYPE xo_gateway_console_bytes_total counter\n"
                  "xo_gateway_console_bytes_total{direction=\"to_client\"} %llu\n"
                  "xo_gateway_console_bytes_total{direction=\"to_host\"} %llu\n"
                  "# HELP xo_gateway_console_refusals_total Consoles refused or ended by a "
                  "failure, by reason.\n"
                  "# TYPE xo_gateway_console_refusals_total counter\n",
                  (unsigned long long)m->consoles_open, (unsigned long long)m->consoles_opened,
                  (unsigned long long)m->console_to_client, (unsigned long long)m->console_to_host);
    for (size_t i = 0; i < GW_METRICS_REASONS && m->refusal_label[i]; i++)
        gw_buf_printf(out, "xo_gateway_console_refusals_total{reason=\"%s\"} %llu\n",
                      m->refusal_label[i], (unsigned long long)m->refusals[i]);
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
                  "xo_gateway_http_requests_total %llu\n"
                  "# TYPE xo_gateway_ws_gathered_sends_total counter\n"
                  "xo_gateway_ws_gathered_sends_total %llu\n"
                  "# TYPE xo_gateway_ws_gathered_messages_total counter\n"
                  "xo_gateway_ws_gathered_messages_total %llu\n",
                  (unsigned long long)m->notif_msgs, (unsigned long long)m->notif_bytes,
                  (unsigned long long)m->dropped, (unsigned long long)m->rpc_calls,
                  (unsigned long long)m->rpc_errors, (unsigned long long)m->http_requests,
                  (unsigned long long)m->gathered_sends, (unsigned long long)m->gathered_msgs);
    gw_buf_puts(out, "# TYPE xo_gateway_connections_closed_total counter\n");
    for (int i = 0; i < GW_CLOSE_REASONS; i++)
        gw_buf_printf(out, "xo_gateway_connections_closed_total{reason=\"%s\"} %llu\n",
                      CLOSE_REASONS[i], (unsigned long long)m->closed[i]);
    write_consoles(m, out);
}

static void write_histogram(const histogram_t *h, const char *name, const char *help, gw_buf_t *out)
{
    uint64_t cum = 0;

    gw_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < NB; i++) {
        cum += h->buckets[i];
        gw_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, BUCKETS[i] / 1000.0,
                      (unsigned long long)cum);
    }
    cum += h->buckets[NB];
    gw_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                  (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->count);
}

void gw_metrics_write_latency(const gw_metrics_t *m, gw_buf_t *out)
{
    write_histogram(&m->queued, "xo_gateway_notification_latency_seconds",
                    "Record timestamp (agent) to `all` notification queued to clients.", out);
    write_histogram(&m->written, "xo_gateway_notification_written_seconds",
                    "Record timestamp (agent) to `all` notification written to one client "
                    "(handed to its socket), per client.",
                    out);
}
