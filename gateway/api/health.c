/*
 * health.c - the gateway's verdict on itself and the /healthz page (see health.h).
 * Judges only from what the rooms below already know (consumer counters, the view's
 * pools); must not block: the view's read lock for one pass over the pools, no Kafka call.
 */
#include "api/health.h"

#include <stdio.h>
#include <string.h>

#include "xo_envelope.h"

#define DEFAULT_STALE_HEARTBEATS 3

const char *gw_health_status_name(gw_health_status_t s)
{
    switch (s) {
    case GW_HEALTH_OK:
        return "ok";
    case GW_HEALTH_DEGRADED:
        return "degraded";
    default:
        return "loading";
    }
}

bool gw_health_heartbeat(const gw_pool_info_t *p, int64_t now_ms, int stale_heartbeats,
                         gw_heartbeat_age_t *out)
{
    int64_t interval = p->hb_interval_ms > 0 ? p->hb_interval_ms : GW_HEARTBEAT_DEFAULT_MS;

    if (!p->agent_state)
        return false;
    if (stale_heartbeats <= 0)
        stale_heartbeats = DEFAULT_STALE_HEARTBEATS;
    out->age_ms = now_ms - p->agent_ts;
    out->limit_ms = interval * stale_heartbeats;
    out->stale = out->age_ms > out->limit_ms;
    return true;
}

void gw_health_input(gw_ctx_t *ctx, gw_health_input_t *in)
{
    memset(in, 0, sizeof(*in));
    in->now_ms = xo_now_ms();
    in->link.connected = true;
    in->stale_heartbeats = ctx->stale_heartbeats;
    if (ctx->consumer) {
        gw_consumer_stats_t cs;
        gw_consumer_stats(ctx->consumer, &cs);
        in->loaded = cs.loaded;
        in->applied_ms = cs.applied_ms;
        gw_consumer_kafka_link(ctx->consumer, &in->link);
    }
    if (ctx->topic_admin) { /* warnings and errors only: info lines are not reasons */
        xo_topic_finding_t all[32];
        size_t n = xo_topic_admin_findings(ctx->topic_admin, all, 32);
        for (size_t i = 0; i < n && i < 32; i++)
            if (all[i].severity != XO_TOPIC_INFO && in->n_topic_findings < GW_HEALTH_TOPIC_FINDINGS)
                in->topic_findings[in->n_topic_findings++] = all[i];
    }
}

typedef struct {
    const gw_health_input_t *in;
    gw_health_t *out;
    gw_health_reason_fn on_reason;
    void *opaque;
} judge_t;

static void reason(judge_t *j, const char *text)
{
    j->out->reasons++;
    if (j->on_reason)
        j->on_reason(j->opaque, text);
}

bool gw_health_pool_without_agent(const gw_pool_info_t *p)
{
    return p->objects > 0 && !p->agent_state;
}

static void judge_pool(void *opaque, const gw_pool_info_t *p)
{
    judge_t *j = opaque;
    gw_heartbeat_age_t hb;
    char text[320];

    if (gw_health_pool_without_agent(p)) {
        j->out->pools_without_agent++;
        snprintf(text, sizeof(text), "pool %.64s: %zu records but no agent heartbeat%s", p->uuid,
                 p->objects, p->held ? " (held back from the API)" : "");
        reason(j, text);
        return;
    }
    if (!gw_health_heartbeat(p, j->in->now_ms, j->in->stale_heartbeats, &hb) || !hb.stale)
        return;
    j->out->stale_pools++;
    snprintf(text, sizeof(text),
             "pool %.64s: last agent heartbeat %.1f s old, limit %.1f s (agent %.128s, last "
             "state %.24s)",
             p->uuid, hb.age_ms / 1000.0, hb.limit_ms / 1000.0, p->agent_id ? p->agent_id : "",
             p->agent_state);
    reason(j, text);
}

void gw_health_judge(const gw_health_input_t *in, gw_view_t *view, gw_health_reason_fn on_reason,
                     void *opaque, gw_health_t *out)
{
    judge_t j = {in, out, on_reason, opaque};

    memset(out, 0, sizeof(*out));
    out->idle_ms = in->applied_ms > 0 ? in->now_ms - in->applied_ms : -1;
    if (!in->link.connected) {
        char text[160];
        if (in->link.since_ms > 0)
            snprintf(
                text, sizeof(text), "kafka: no broker reachable for %.1f s (%d of %d brokers up)",
                (in->now_ms - in->link.since_ms) / 1000.0, in->link.brokers_up, in->link.brokers);
        else
            snprintf(text, sizeof(text), "kafka: no broker reachable");
        reason(&j, text);
    }
    for (size_t i = 0; i < in->n_topic_findings; i++) {
        char text[560];
        snprintf(text, sizeof(text), "topic %s: %s",
                 in->topic_findings[i].topic[0] ? in->topic_findings[i].topic : "*",
                 in->topic_findings[i].text);
        reason(&j, text);
    }
    gw_view_rdlock(view);
    gw_view_foreach_pool(view, judge_pool, &j);
    gw_view_unlock(view);
    out->status = !in->loaded    ? GW_HEALTH_LOADING
                  : out->reasons ? GW_HEALTH_DEGRADED
                                 : GW_HEALTH_OK;
}

/* ---- the /healthz page ---- */

typedef struct {
    gw_buf_t *out;
    size_t n;
} reasons_t;

static void write_reason(void *opaque, const char *text)
{
    reasons_t *r = opaque;

    if (r->n++ >= GW_HEALTH_MAX_REASONS)
        return;
    if (r->n > 1)
        gw_buf_putc(r->out, ',');
    gw_buf_json_str(r->out, text);
}

typedef struct {
    gw_buf_t *out;
    bool first;
    const gw_health_input_t *in;
} pools_t;

static void write_pool(void *opaque, const gw_pool_info_t *p)
{
    pools_t *pt = opaque;
    gw_heartbeat_age_t hb;
    const char *status = "ok";

    if (!pt->first)
        gw_buf_putc(pt->out, ',');
    pt->first = false;
    gw_buf_puts(pt->out, "{\"uuid\":");
    gw_buf_json_str(pt->out, p->uuid);
    if (gw_health_pool_without_agent(p))
        status = "no_agent";
    else if (gw_health_heartbeat(p, pt->in->now_ms, pt->in->stale_heartbeats, &hb) && hb.stale)
        status = "stale";
    gw_buf_printf(pt->out, ",\"status\":\"%s\",\"held\":%s", status, p->held ? "true" : "false");
    gw_buf_printf(pt->out, ",\"objects\":%zu,\"synced\":%s,\"agent\":", p->objects,
                  p->synced && !p->held ? "true" : "false"); /* served, not just read */
    if (!gw_health_heartbeat(p, pt->in->now_ms, pt->in->stale_heartbeats, &hb)) {
        gw_buf_puts(pt->out, "null}");
        return;
    }
    gw_buf_puts(pt->out, "{\"id\":");
    gw_buf_json_str(pt->out, p->agent_id);
    gw_buf_puts(pt->out, ",\"state\":");
    gw_buf_json_str(pt->out, p->agent_state);
    gw_buf_printf(pt->out, ",\"ts\":%lld,\"age_ms\":%lld,\"limit_ms\":%lld,\"stale\":%s}}",
                  (long long)p->agent_ts, (long long)hb.age_ms, (long long)hb.limit_ms,
                  hb.stale ? "true" : "false");
}

int gw_health_page_write(gw_ctx_t *ctx, gw_buf_t *out)
{
    gw_health_input_t in;
    gw_health_t h;
    gw_consumer_stats_t cs;
    gw_view_stats_t vs;
    gw_buf_t reasons;
    reasons_t rr;
    pools_t pt = {out, true, &in};

    memset(&cs, 0, sizeof(cs));
    if (ctx->consumer)
        gw_consumer_stats(ctx->consumer, &cs);
    gw_health_input(ctx, &in);
    gw_buf_init(&reasons);
    rr = (reasons_t){&reasons, 0};
    gw_health_judge(&in, ctx->view, write_reason, &rr, &h);
    if (h.reasons > GW_HEALTH_MAX_REASONS) {
        char more[64];
        snprintf(more, sizeof(more), "... and %zu more", h.reasons - GW_HEALTH_MAX_REASONS);
        gw_buf_putc(&reasons, ',');
        gw_buf_json_str(&reasons, more);
    }
    gw_view_rdlock(ctx->view);
    gw_view_stats(ctx->view, &vs);
    gw_buf_printf(
        out,
        "{\"status\":\"%s\",\"loaded\":%s,\"load_ms\":%lld,\"objects\":%zu,"
        "\"records\":%llu,\"malformed\":%llu,\"refused\":%llu,\"truncated\":%llu,"
        "\"lag\":%lld,\"clients\":%zu,"
        "\"kafka\":{\"connected\":%s,\"brokers_up\":%d,\"brokers\":%d,\"since\":%lld},"
        "\"idle_ms\":%lld,\"reasons\":[",
        gw_health_status_name(h.status), in.loaded ? "true" : "false", (long long)cs.load_ms,
        vs.objects, (unsigned long long)cs.records, (unsigned long long)cs.malformed,
        (unsigned long long)(cs.wrong_partition + cs.too_large), (unsigned long long)cs.truncated,
        (long long)cs.lag, ctx->ws_clients, in.link.connected ? "true" : "false",
        in.link.brokers_up, in.link.brokers, (long long)in.link.since_ms, (long long)h.idle_ms);
    gw_buf_append(out, reasons.data, reasons.len);
    gw_buf_puts(out, "],\"pools\":[");
    gw_view_foreach_pool(ctx->view, write_pool, &pt);
    gw_view_unlock(ctx->view);
    gw_buf_puts(out, "]}\n");
    gw_buf_fini(&reasons);
    return h.status == GW_HEALTH_LOADING ? 503 : 200;
}
