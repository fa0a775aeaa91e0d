/* Unit tests of gateway/api/health.c: the verdict of /healthz and /metrics from broker
 * connectivity, pools with records but no heartbeat (held), and each pool's heartbeat age
 * against the limit its interval sets, and the /healthz document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/health.h"
#include "xo_envelope.h"

#define POOL_A "aaaaaaaa-0000-4000-8000-000000000001"
#define POOL_B "bbbbbbbb-0000-4000-8000-000000000002"
#define NOW    1800000000000LL

/* A heartbeat of @p pool with ts @p now - age_ms, announcing interval_ms (0: none). */
static void heartbeat_at(gw_view_t *v, const char *pool, int64_t now, int64_t age_ms,
                         int64_t interval_ms)
{
    char text[256];
    json_object *hb;
    int n;

    if (interval_ms)
        n = snprintf(text, sizeof(text),
                     "{\"agent\":\"agent-%.4s\",\"state\":\"live\",\"ts\":%lld,"
                     "\"interval_ms\":%lld}",
                     pool, (long long)(now - age_ms), (long long)interval_ms);
    else
        n = snprintf(text, sizeof(text),
                     "{\"agent\":\"agent-%.4s\",\"state\":\"live\",\"ts\":%lld}", pool,
                     (long long)(now - age_ms));
    hb = json_tokener_parse(text);
    assert_non_null(hb);
    assert_int_equal(gw_view_apply_agent(v, pool, hb, text, (size_t)n), XO_OK);
    json_object_put(hb);
}

typedef struct {
    char texts[8][320];
    int n;
} reasons_t;

static void collect(void *opaque, const char *text)
{
    reasons_t *r = opaque;
    if (r->n < 8)
        snprintf(r->texts[r->n], sizeof(r->texts[0]), "%s", text);
    r->n++;
}

static void heartbeat(gw_view_t *v, const char *pool, int64_t age_ms, int64_t interval_ms)
{
    heartbeat_at(v, pool, NOW, age_ms, interval_ms);
}

static gw_health_input_t healthy_input(void)
{
    gw_health_input_t in = {.now_ms = NOW, .loaded = true, .applied_ms = NOW - 300};
    in.link.reported = true;
    in.link.connected = true;
    in.link.brokers = in.link.brokers_up = 3;
    return in;
}

static void pool_cb(void *opaque, const gw_pool_info_t *p)
{
    if (!strcmp(p->uuid, POOL_A))
        *(gw_pool_info_t *)opaque = *p;
}

static void test_heartbeat_limit_follows_interval(void **state)
{
    gw_view_t *v = gw_view_new();
    gw_pool_info_t p;
    gw_heartbeat_age_t hb;

    (void)state;
    heartbeat(v, POOL_A, 6001, 2000);
    gw_view_foreach_pool(v, pool_cb, &p);
    assert_int_equal(p.hb_interval_ms, 2000);
    assert_true(gw_health_heartbeat(&p, NOW, 3, &hb));
    assert_int_equal(hb.age_ms, 6001);
    assert_int_equal(hb.limit_ms, 6000);
    assert_true(hb.stale);
    assert_true(gw_health_heartbeat(&p, NOW - 1, 3, &hb)); /* exactly at the limit: on time */
    assert_false(hb.stale);
    assert_true(gw_health_heartbeat(&p, NOW, 4, &hb));
    assert_int_equal(hb.limit_ms, 8000);
    assert_false(hb.stale);
    assert_true(gw_health_heartbeat(&p, NOW, 0, &hb)); /* 0: the default, 3 */
    assert_int_equal(hb.limit_ms, 6000);

    /* An agent that announces no interval: 5 s assumed, as docs/topics.md says. */
    heartbeat(v, POOL_A, 14000, 0);
    gw_view_foreach_pool(v, pool_cb, &p);
    assert_int_equal(p.hb_interval_ms, 0);
    assert_true(gw_health_heartbeat(&p, NOW, 3, &hb));
    assert_int_equal(hb.limit_ms, 3 * GW_HEARTBEAT_DEFAULT_MS);
    assert_false(hb.stale);

    /* No heartbeat: nothing to judge. */
    assert_int_equal(gw_view_apply_agent(v, POOL_A, NULL, NULL, 0), XO_OK);
    gw_view_foreach_pool(v, pool_cb, &p);
    assert_false(gw_health_heartbeat(&p, NOW, 3, &hb));
    gw_view_free(v);
}

static void test_judge(void **state)
{
    gw_view_t *v = gw_view_new();
    gw_health_input_t in = healthy_input();
    gw_health_t h;
    reasons_t r = {0};

    (void)state;
    heartbeat(v, POOL_A, 1000, 5000);
    heartbeat(v, POOL_B, 4000, 1000);
    in.stale_heartbeats = 3;

    gw_health_judge(&in, v, collect, &r, &h);
    assert_int_equal(h.status, GW_HEALTH_DEGRADED); /* B: 4 s old, limit 3 s */
    assert_int_equal(h.stale_pools, 1);
    assert_int_equal(h.reasons, 1);
    assert_int_equal(r.n, 1);
    assert_non_null(strstr(r.texts[0], "pool " POOL_B ": last agent heartbeat 4.0 s old, "
                                       "limit 3.0 s (agent agent-bbbb, last state live)"));
    assert_int_equal(h.idle_ms, 300);

    heartbeat(v, POOL_B, 500, 1000);
    memset(&r, 0, sizeof(r));
    gw_health_judge(&in, v, collect, &r, &h);
    assert_int_equal(h.status, GW_HEALTH_OK);
    assert_int_equal(h.reasons, 0);
    assert_int_equal(r.n, 0);
    assert_string_equal(gw_health_status_name(h.status), "ok");

    /* Brokers gone for 12 s: degraded, and said first. */
    in.link.connected = false;
    in.link.brokers_up = 0;
    in.link.since_ms = NOW - 12000;
    memset(&r, 0, sizeof(r));
    gw_health_judge(&in, v, collect, &r, &h);
    assert_int_equal(h.status, GW_HEALTH_DEGRADED);
    assert_string_equal(gw_health_status_name(h.status), "degraded");
    assert_int_equal(r.n, 1);
    assert_string_equal(r.texts[0], "kafka: no broker reachable for 12.0 s (0 of 3 brokers up)");

    /* A warning of the topic check is a reason too (and keeps its text). */
    in.link.connected = true;
    in.n_topic_findings = 1;
    in.topic_findings[0].severity = XO_TOPIC_WARNING;
    snprintf(in.topic_findings[0].topic, sizeof(in.topic_findings[0].topic), "xo.objects");
    snprintf(in.topic_findings[0].text, sizeof(in.topic_findings[0].text),
             "xo.objects is not compacted");
    memset(&r, 0, sizeof(r));
    gw_health_judge(&in, v, collect, &r, &h);
    assert_int_equal(h.status, GW_HEALTH_DEGRADED);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.texts[0], "topic xo.objects: xo.objects is not compacted");
    in.link.connected = false;

    /* Not loaded yet: loading, whatever else; reasons are still counted. */
    in.loaded = false;
    in.applied_ms = 0;
    gw_health_judge(&in, v, NULL, NULL, &h);
    assert_int_equal(h.status, GW_HEALTH_LOADING);
    assert_int_equal(h.reasons, 2);
    assert_int_equal(h.idle_ms, -1);
    gw_view_free(v);
}

static void test_page(void **state)
{
    gw_ctx_t ctx;
    gw_buf_t out;
    json_object *doc, *f, *pool, *agent;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.view = gw_view_new();
    heartbeat_at(ctx.view, POOL_A, xo_now_ms(), 3600 * 1000, 5000); /* an hour old */
    gw_buf_init(&out);
    /* No consumer: not loaded (503), Kafka not judged. */
    assert_int_equal(gw_health_page_write(&ctx, &out), 503);
    doc = json_tokener_parse(out.data);
    assert_non_null(doc);
    assert_true(json_object_object_get_ex(doc, "status", &f));
    assert_string_equal(json_object_get_string(f), "loading");
    assert_true(json_object_object_get_ex(doc, "reasons", &f));
    assert_int_equal(json_object_array_length(f), 1);
    assert_non_null(strstr(json_object_get_string(json_object_array_get_idx(f, 0)), POOL_A));
    assert_true(json_object_object_get_ex(doc, "kafka", &f));
    assert_true(json_object_object_get_ex(f, "connected", &f));
    assert_true(json_object_get_boolean(f));
    assert_true(json_object_object_get_ex(doc, "pools", &f));
    pool = json_object_array_get_idx(f, 0);
    assert_true(json_object_object_get_ex(pool, "agent", &agent));
    assert_true(json_object_object_get_ex(agent, "stale", &f));
    assert_true(json_object_get_boolean(f));
    assert_true(json_object_object_get_ex(agent, "limit_ms", &f));
    assert_int_equal(json_object_get_int64(f), 15000);
    assert_true(json_object_object_get_ex(agent, "age_ms", &f));
    assert_true(json_object_get_int64(f) >= 3600 * 1000);
    json_object_put(doc);
    gw_buf_fini(&out);
    gw_view_free(ctx.view);
}

/* A VM record of @p pool applied to the view. */
static void put_vm(gw_view_t *v, const char *pool, const char *ref, const char *uuid)
{
    char msg[512], snap_text[128], errstr[128];
    json_object *snap;

    snprintf(snap_text, sizeof(snap_text), "{\"uuid\":\"%s\",\"name_label\":\"x\"}", uuid);
    snprintf(msg, sizeof(msg),
             "{\"v\":1,\"pool\":\"%s\",\"class\":\"vm\",\"ref\":\"%s\",\"op\":\"add\","
             "\"event_id\":1,\"ts\":1,\"gen\":1,\"snapshot\":%s}",
             pool, ref, snap_text);
    snap = json_tokener_parse(snap_text);
    assert_non_null(snap);
    assert_int_equal(
        gw_view_apply_object(v, pool, "vm", ref, snap, msg, strlen(msg), errstr, sizeof(errstr)),
        XO_OK);
    json_object_put(snap);
}

/* The pool of the page's "pools" array whose uuid is @p uuid (borrowed from @p doc). */
static json_object *page_pool(json_object *doc, const char *uuid)
{
    json_object *pools, *f;

    assert_true(json_object_object_get_ex(doc, "pools", &pools));
    for (size_t i = 0; i < json_object_array_length(pools); i++) {
        json_object *p = json_object_array_get_idx(pools, i);
        if (json_object_object_get_ex(p, "uuid", &f) && !strcmp(json_object_get_string(f), uuid))
            return p;
    }
    fail_msg("pool %s not in the page", uuid);
    return NULL;
}

static const char *str_field(json_object *o, const char *k)
{
    json_object *f;
    assert_true(json_object_object_get_ex(o, k, &f));
    return json_object_get_string(f);
}

static bool bool_field(json_object *o, const char *k)
{
    json_object *f;
    assert_true(json_object_object_get_ex(o, k, &f));
    return json_object_get_boolean(f);
}

/* Records of a pool no agent announced: held back, one reason, status no_agent; its
 * heartbeat ends all three. A late pool beside it is "stale", and served. */
static void test_pool_without_agent(void **state)
{
    gw_view_t *v = gw_view_new();
    gw_health_input_t in = healthy_input();
    gw_health_t h;
    reasons_t r = {0};
    gw_ctx_t ctx;
    gw_buf_t out;
    json_object *doc, *pool;

    (void)state;
    gw_view_set_hold_unannounced(v, true);
    put_vm(v, POOL_A, "OpaqueRef:1", "vm-a1");
    put_vm(v, POOL_A, "OpaqueRef:2", "vm-a2");
    in.stale_heartbeats = 3;
    gw_health_judge(&in, v, collect, &r, &h);
    assert_int_equal(h.status, GW_HEALTH_DEGRADED);
    assert_int_equal(h.pools_without_agent, 1);
    assert_int_equal(h.stale_pools, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.texts[0], "pool " POOL_A ": 2 records but no agent heartbeat (held "
                                    "back from the API)");

    /* the page: the pool no_agent, held, not synced; the gateway degraded */
    memset(&ctx, 0, sizeof(ctx));
    ctx.view = v;
    heartbeat_at(v, POOL_B, xo_now_ms(), 3600 * 1000, 5000); /* B: an hour late */
    gw_buf_init(&out);
    gw_health_page_write(&ctx, &out);
    doc = json_tokener_parse(out.data);
    assert_non_null(doc);
    pool = page_pool(doc, POOL_A);
    assert_string_equal(str_field(pool, "status"), "no_agent");
    assert_true(bool_field(pool, "held"));
    assert_false(bool_field(pool, "synced"));
    pool = page_pool(doc, POOL_B);
    assert_string_equal(str_field(pool, "status"), "stale");
    assert_false(bool_field(pool, "held"));
    json_object_put(doc);
    gw_buf_fini(&out);

    /* A's heartbeat arrives: served, no reason left for it */
    heartbeat(v, POOL_A, 100, 5000);
    heartbeat(v, POOL_B, 100, 5000);
    memset(&r, 0, sizeof(r));
    gw_health_judge(&in, v, collect, &r, &h);
    assert_int_equal(h.status, GW_HEALTH_OK);
    assert_int_equal(h.pools_without_agent, 0);
    assert_int_equal(r.n, 0);
    gw_view_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_limit_follows_interval),
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_pool_without_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
