/*
 * metrics_page.c - the /metrics page (see metrics_page.h): it sits in the API room
 * because it reads every room below it (view, consumer, command bus, counters). Must not
 * block: counts only under the view's read lock, and never touches Kafka.
 */
#include "api/metrics_page.h"

#include <string.h>

#include "api/health.h"
#include "bus/commands.h"
#include "bus/token_log.h"

typedef struct {
    gw_buf_t *out;
    const gw_health_input_t *in;
} pool_render_t;

static void write_pool(void *opaque, const gw_pool_info_t *p)
{
    pool_render_t *pr = opaque;
    gw_buf_t *out = pr->out;
    gw_heartbeat_age_t hb;

    gw_buf_printf(out, "xo_gateway_pool_objects{pool=\"%s\"} %zu\n", p->uuid, p->objects);
    gw_buf_printf(out, "xo_gateway_pool_synced{pool=\"%s\"} %d\n", p->uuid,
                  p->synced && !p->held ? 1 : 0); /* a held pool is not served yet */
    gw_buf_printf(out, "xo_gateway_pool_agent_live{pool=\"%s\",state=\"%s\"} %d\n", p->uuid,
                  p->agent_state ? p->agent_state : "unknown",
                  p->agent_state && !strcmp(p->agent_state, "live") ? 1 : 0);
    if (!gw_health_heartbeat(p, pr->in->now_ms, pr->in->stale_heartbeats, &hb))
        return;
    gw_buf_printf(out, "xo_gateway_pool_heartbeat_age_seconds{pool=\"%s\"} %.3f\n", p->uuid,
                  hb.age_ms / 1000.0);
    gw_buf_printf(out, "xo_gateway_pool_heartbeat_limit_seconds{pool=\"%s\"} %.3f\n", p->uuid,
                  hb.limit_ms / 1000.0);
    gw_buf_printf(out, "xo_gateway_pool_agent_stale{pool=\"%s\"} %d\n", p->uuid, hb.stale ? 1 : 0);
}

static void write_view(gw_ctx_t *ctx, const gw_health_input_t *in, gw_buf_t *out)
{
    gw_view_stats_t vs;
    pool_render_t pr = {out, in};

    gw_view_rdlock(ctx->view);
    gw_view_stats(ctx->view, &vs);
    gw_buf_puts(out, "# HELP xo_gateway_objects XO objects in the view, by type.\n"
                     "# TYPE xo_gateway_objects gauge\n");
    for (int t = 1; t < GW_T_COUNT; t++)
        gw_buf_printf(out, "xo_gateway_objects{type=\"%s\"} %zu\n", gw_type_name((gw_type_t)t),
                      vs.by_type[t]);
    gw_buf_puts(out, "# HELP xo_gateway_records_held Records held (all classes).\n"
                     "# TYPE xo_gateway_records_held gauge\n");
    gw_buf_printf(out, "xo_gateway_records_held %zu\n", vs.objects);
    gw_buf_printf(out, "# TYPE xo_gateway_view_bytes gauge\nxo_gateway_view_bytes %zu\n",
                  vs.bytes + vs.table_bytes);
    gw_buf_printf(out, "# TYPE xo_gateway_pending_links gauge\nxo_gateway_pending_links %zu\n",
                  vs.pending);
    gw_buf_printf(out, "# TYPE xo_gateway_view_waiters gauge\nxo_gateway_view_waiters %zu\n",
                  vs.waiters);
    gw_buf_puts(out, "# HELP xo_gateway_pool_objects Records per pool; synced: _sync seen; "
                     "agent_live: last heartbeat state is live.\n"
                     "# TYPE xo_gateway_pool_objects gauge\n"
                     "# TYPE xo_gateway_pool_synced gauge\n"
                     "# TYPE xo_gateway_pool_agent_live gauge\n"
                     "# HELP xo_gateway_pool_heartbeat_age_seconds Age of the pool's last agent "
                     "heartbeat (by the agent's clock); stale: older than the limit.\n"
                     "# TYPE xo_gateway_pool_heartbeat_age_seconds gauge\n"
                     "# TYPE xo_gateway_pool_heartbeat_limit_seconds gauge\n"
                     "# TYPE xo_gateway_pool_agent_stale gauge\n");
    gw_view_foreach_pool(ctx->view, write_pool, &pr);
    gw_view_unlock(ctx->view);
}

static void write_consumer(gw_consumer_t *c, gw_buf_t *out)
{
    gw_consumer_stats_t cs;

    gw_consumer_stats(c, &cs);
    gw_buf_printf(out,
                  "# HELP xo_gateway_records_consumed_total Kafka records consumed.\n"
                  "# TYPE xo_gateway_records_consumed_total counter\n"
                  "xo_gateway_records_consumed_total %llu\n"
                  "# TYPE xo_gateway_records_malformed_total counter\n"
                  "xo_gateway_records_malformed_total %llu\n"
                  "# HELP xo_gateway_records_refused_total Records refused by the topic "
                  "checks: not on their pool's partition, or over limits.max_record_bytes.\n"
                  "# TYPE xo_gateway_records_refused_total counter\n"
                  "xo_gateway_records_refused_total{reason=\"wrong_partition\"} %llu\n"
                  "xo_gateway_records_refused_total{reason=\"too_large\"} %llu\n"
                  "# HELP xo_gateway_record_fields_truncated_total Strings cut to "
                  "limits.max_field_bytes.\n"
                  "# TYPE xo_gateway_record_fields_truncated_total counter\n"
                  "xo_gateway_record_fields_truncated_total %llu\n"
                  "# HELP xo_gateway_consumer_lag Records behind the high watermarks.\n"
                  "# TYPE xo_gateway_consumer_lag gauge\n"
                  "xo_gateway_consumer_lag %lld\n"
                  "# TYPE xo_gateway_view_loaded gauge\n"
                  "xo_gateway_view_loaded %d\n"
                  "# TYPE xo_gateway_view_load_seconds gauge\n"
                  "xo_gateway_view_load_seconds %.3f\n",
                  (unsigned long long)cs.records, (unsigned long long)cs.malformed,
                  (unsigned long long)cs.wrong_partition, (unsigned long long)cs.too_large,
                  (unsigned long long)cs.truncated, (long long)cs.lag, cs.loaded ? 1 : 0,
                  cs.load_ms / 1000.0);
}

static void write_commands(gw_commands_t *c, gw_buf_t *out)
{
    gw_cmd_stats_t st;

    gw_commands_stats(c, &st);
    gw_buf_printf(out,
                  "# HELP xo_gateway_commands_total Commands by outcome (submitted to Kafka, "
                  "then succeeded, failed, rejected by the agent, or timed out).\n"
                  "# TYPE xo_gateway_commands_total counter\n"
                  "xo_gateway_commands_total{outcome=\"submitted\"} %llu\n"
                  "xo_gateway_commands_total{outcome=\"succeeded\"} %llu\n"
                  "xo_gateway_commands_total{outcome=\"failed\"} %llu\n"
                  "xo_gateway_commands_total{outcome=\"rejected\"} %llu\n"
                  "xo_gateway_commands_total{outcome=\"timed_out\"} %llu\n"
                  "# TYPE xo_gateway_command_results_total counter\n"
                  "xo_gateway_command_results_total %llu\n"
                  "# TYPE xo_gateway_command_results_malformed_total counter\n"
                  "xo_gateway_command_results_malformed_total %llu\n"
                  "# TYPE xo_gateway_commands_pending gauge\n"
                  "xo_gateway_commands_pending %zu\n"
                  "# HELP xo_gateway_command_results_fetching 1 while the results consumer "
                  "fetches (a command pending, or one was in the last second).\n"
                  "# TYPE xo_gateway_command_results_fetching gauge\n"
                  "xo_gateway_command_results_fetching %d\n",
                  (unsigned long long)st.submitted, (unsigned long long)st.succeeded,
                  (unsigned long long)st.failed, (unsigned long long)st.rejected,
                  (unsigned long long)st.timed_out, (unsigned long long)st.results,
                  (unsigned long long)st.malformed, st.pending, st.results_fetching ? 1 : 0);
    gw_buf_puts(out, "# HELP xo_gateway_command_results_refused_total Results not believed, by "
                     "reason: not signed by an agent key trusted for their pool, not on its "
                     "partition, too large, or naming another pool's command.\n"
                     "# TYPE xo_gateway_command_results_refused_total counter\n");
    for (int v = GW_RES_OK + 1; v < GW_RES_VERDICT_COUNT; v++)
        if (v != GW_RES_MALFORMED) /* counted by xo_gateway_command_results_malformed_total */
            gw_buf_printf(out, "xo_gateway_command_results_refused_total{reason=\"%s\"} %llu\n",
                          gw_res_verdict_name((gw_res_verdict_t)v),
                          (unsigned long long)st.refused[v]);
}

/* The tokens topic: what this gateway wrote, applied and refused (a record a trusted
 * gateway key did not sign is refused: docs/security.md). */
static void write_tokens(gw_token_log_t *tl, gw_buf_t *out)
{
    gw_token_log_stats_t st;

    gw_token_log_stats(tl, &st);
    gw_buf_printf(out,
                  "# HELP xo_gateway_token_records_total Records of the tokens topic published "
                  "by this gateway, and verified records applied.\n"
                  "# TYPE xo_gateway_token_records_total counter\n"
                  "xo_gateway_token_records_total{outcome=\"published\"} %llu\n"
                  "xo_gateway_token_records_total{outcome=\"applied\"} %llu\n"
                  "# HELP xo_gateway_token_records_refused_total Records of the tokens topic "
                  "refused, by reason.\n"
                  "# TYPE xo_gateway_token_records_refused_total counter\n",
                  (unsigned long long)st.published, (unsigned long long)st.applied);
    for (int r = 0; r < GW_TOKREC_REASON_COUNT; r++)
        gw_buf_printf(out, "xo_gateway_token_records_refused_total{reason=\"%s\"} %llu\n",
                      gw_token_refusal_name((gw_token_refusal_t)r),
                      (unsigned long long)st.refused_by[r]);
}

/* The verdict of /healthz and what it is made of. */
static void write_health(gw_ctx_t *ctx, const gw_health_input_t *in, gw_buf_t *out)
{
    gw_health_t h;

    gw_health_judge(in, ctx->view, NULL, NULL, &h);
    gw_buf_printf(out,
                  "# HELP xo_gateway_degraded 1 when /healthz says degraded (reasons there).\n"
                  "# TYPE xo_gateway_degraded gauge\n"
                  "xo_gateway_degraded %d\n"
                  "# TYPE xo_gateway_health_reasons gauge\n"
                  "xo_gateway_health_reasons %zu\n"
                  "# HELP xo_gateway_pools_agent_stale Pools whose last agent heartbeat is "
                  "older than its limit.\n"
                  "# TYPE xo_gateway_pools_agent_stale gauge\n"
                  "xo_gateway_pools_agent_stale %zu\n"
                  "# HELP xo_gateway_pools_without_agent Pools with records but no agent "
                  "heartbeat (their objects are held back from the API).\n"
                  "# TYPE xo_gateway_pools_without_agent gauge\n"
                  "xo_gateway_pools_without_agent %zu\n"
                  "# HELP xo_gateway_kafka_connected 1 while at least one broker connection "
                  "is up.\n"
                  "# TYPE xo_gateway_kafka_connected gauge\n"
                  "xo_gateway_kafka_connected %d\n"
                  "# HELP xo_gateway_kafka_brokers Brokers known to the consumer, and those "
                  "with a connection up.\n"
                  "# TYPE xo_gateway_kafka_brokers gauge\n"
                  "xo_gateway_kafka_brokers %d\n"
                  "# TYPE xo_gateway_kafka_brokers_up gauge\n"
                  "xo_gateway_kafka_brokers_up %d\n",
                  h.status == GW_HEALTH_DEGRADED, h.reasons, h.stale_pools, h.pools_without_agent,
                  in->link.connected ? 1 : 0, in->link.brokers, in->link.brokers_up);
    if (h.idle_ms >= 0)
        gw_buf_printf(out,
                      "# HELP xo_gateway_view_idle_seconds Time since the view last applied a "
                      "record (object change or heartbeat).\n"
                      "# TYPE xo_gateway_view_idle_seconds gauge\n"
                      "xo_gateway_view_idle_seconds %.3f\n",
                      h.idle_ms / 1000.0);
}

void gw_metrics_page_write(gw_ctx_t *ctx, gw_buf_t *out)
{
    gw_health_input_t in;

    gw_health_input(ctx, &in);
    write_view(ctx, &in, out);
    write_health(ctx, &in, out);
    if (ctx->consumer)
        write_consumer(ctx->consumer, out);
    gw_buf_printf(out,
                  "# HELP xo_gateway_ws_clients Connected WebSocket clients.\n"
                  "# TYPE xo_gateway_ws_clients gauge\n"
                  "xo_gateway_ws_clients %zu\n"
                  "# TYPE xo_gateway_ws_signed_in gauge\n"
                  "xo_gateway_ws_signed_in %zu\n",
                  ctx->ws_clients, ctx->ws_signed_in);
    if (ctx->metrics)
        gw_metrics_write_counters(ctx->metrics, out);
    if (ctx->commands)
        write_commands(ctx->commands, out);
    if (ctx->token_log)
        write_tokens(ctx->token_log, out);
    if (ctx->metrics)
        gw_metrics_write_latency(ctx->metrics, out);
}
