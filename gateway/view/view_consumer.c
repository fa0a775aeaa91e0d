/*
 * view_consumer.c - Kafka -> view on its own thread (see view_consumer.h).
 * Must never block the service thread: it only takes the view's write lock for one
 * drained batch at a time and wakes the service thread through the notifier.
 */
#include "view/view_consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define MOD            "consumer"
#define MAX_BATCH      5000 /* records applied under one write-lock hold */
#define MAX_PARTITIONS 1024

typedef struct {
    char name[128];
    int32_t count;
    int64_t next[MAX_PARTITIONS]; /* next offset to read (-1 unknown) */
    bool eof[MAX_PARTITIONS];
} topic_state_t;

struct gw_consumer {
    xo_consumer_t *kc;
    gw_view_t *view;
    gw_notify_t *notify;
    pthread_t thread;
    atomic_bool stop;
    topic_state_t t[4]; /* 0: objects, 1: agents, 2: results (read from the end), 3: tokens */
    int loaded_topics;  /* t[0..] read to their end once make "loaded": 2, or 4 with tokens */
    gw_result_sink_fn on_result;
    void *result_opaque;
    gw_token_sink_fn on_token;
    void *token_opaque;
    pthread_mutex_t st_mu;
    gw_consumer_stats_t st;
    int64_t start_mono_ms;
};

xo_err_t gw_consumer_apply(gw_view_t *view, gw_notify_t *notify, bool is_objects, const char *key,
                           size_t key_len, const char *value, size_t value_len, char *errstr,
                           size_t errstr_size)
{
    char kbuf[1024];
    char *pool, *cls, *ref;
    json_object *o = NULL, *snap;
    xo_err_t err;

    if (!key || key_len == 0 || key_len >= sizeof(kbuf) || memchr(key, '\0', key_len))
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "missing or bad key");
    memcpy(kbuf, key, key_len);
    kbuf[key_len] = '\0';

    if (!is_objects) {
        if (!value) {
            gw_view_apply_agent(view, kbuf, NULL, NULL, 0);
            return XO_OK;
        }
        err = xo_msg_parse(XO_MSG_AGENT, value, value_len, &o, errstr, errstr_size);
        if (err != XO_OK)
            return err;
        if (strcmp(xo_msg_str(o, "pool"), kbuf) != 0) {
            json_object_put(o);
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "pool does not match the key");
        }
        err = gw_view_apply_agent(view, kbuf, o, value, value_len);
        json_object_put(o);
        return err;
    }

    if (xo_object_key_split(kbuf, &pool, &cls, &ref) != XO_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "key is not <pool>/<class>/<ref>");
    if (!ref) { /* <pool>/_sync */
        if (!value)
            return XO_OK;
        err = xo_msg_parse(XO_MSG_SYNC, value, value_len, &o, errstr, errstr_size);
        if (err == XO_OK && strcmp(xo_msg_str(o, "pool"), pool) != 0)
            err = xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "pool does not match the key");
        if (err == XO_OK)
            err = gw_view_apply_sync(view, pool, xo_msg_int(o, "gen", 0),
                                     xo_msg_int(o, "objects", 0), xo_msg_int(o, "ts", 0));
        json_object_put(o);
        return err;
    }
    if (!value) {
        if (notify)
            gw_notify_set_ts(notify, xo_now_ms());
        err = gw_view_apply_delete(view, pool, cls, ref);
        return err == XO_ERR_NOTFOUND ? XO_OK : err; /* deleting the unknown is a no-op */
    }
    err = xo_msg_parse(XO_MSG_OBJECT, value, value_len, &o, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    if (strcmp(xo_msg_str(o, "pool"), pool) != 0 || strcmp(xo_msg_str(o, "class"), cls) != 0 ||
        strcmp(xo_msg_str(o, "ref"), ref) != 0) {
        json_object_put(o);
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "pool/class/ref do not match the key");
    }
    json_object_object_get_ex(o, "snapshot", &snap);
    if (notify)
        gw_notify_set_ts(notify, xo_msg_int(o, "ts", xo_now_ms()));
    err = gw_view_apply_object(view, pool, cls, ref, snap, value, value_len, errstr, errstr_size);
    json_object_put(o);
    return err;
}

static void note_malformed(gw_consumer_t *c, const rd_kafka_message_t *m, const char *why)
{
    uint64_t n;
    pthread_mutex_lock(&c->st_mu);
    n = ++c->st.malformed;
    pthread_mutex_unlock(&c->st_mu);
    if (n <= 20 || n % 1000 == 0)
        xo_warn(MOD, "event=malformed topic=%s partition=%d offset=%lld count=%llu reason=\"%s\"",
                rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                (unsigned long long)n, why);
}

static void check_loaded(gw_consumer_t *c)
{
    for (int t = 0; t < c->loaded_topics; t++) {
        if (t == 2)
            continue; /* results: read from the end, never "loaded" */
        for (int32_t p = 0; p < c->t[t].count; p++)
            if (!c->t[t].eof[p])
                return;
    }
    pthread_mutex_lock(&c->st_mu);
    if (!c->st.loaded) {
        gw_view_stats_t vs;
        c->st.loaded = true;
        c->st.load_ms = gw_mono_ms() - c->start_mono_ms;
        gw_view_stats(c->view, &vs); /* write lock is held by the caller */
        xo_info(MOD,
                "event=view_loaded objects=%zu pools=%zu records=%llu malformed=%llu ms=%lld "
                "bytes=%zu table_bytes=%zu pending=%zu",
                vs.objects, vs.pools, (unsigned long long)c->st.records,
                (unsigned long long)c->st.malformed, (long long)c->st.load_ms, vs.bytes,
                vs.table_bytes, vs.pending);
    }
    pthread_mutex_unlock(&c->st_mu);
}

/* One message or event. Returns true when it was a record. */
static void handle(gw_consumer_t *c, rd_kafka_message_t *m)
{
    int ti;
    char errstr[256];
    xo_err_t err;
    const char *tname;

    if (!m->rkt)
        return;
    tname = rd_kafka_topic_name(m->rkt);
    ti = !strcmp(tname, c->t[0].name)   ? 0
         : !strcmp(tname, c->t[1].name) ? 1
         : !strcmp(tname, c->t[2].name) ? 2
         : !strcmp(tname, c->t[3].name) ? 3
                                        : -1;
    if (ti < 0)
        return;
    if (ti == 3) { /* tokens: handed on, and part of "loaded" */
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition >= 0 &&
            m->partition < c->t[3].count && !c->t[3].eof[m->partition]) {
            c->t[3].eof[m->partition] = true;
            check_loaded(c);
        } else if (!m->err && c->on_token) {
            c->on_token(c->token_opaque, m);
        }
        return;
    }
    if (ti == 2) { /* xo.results: handed to the service thread as they come */
        if (!m->err && c->on_result)
            c->on_result(c->result_opaque, m->payload, m->len);
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition >= 0 && m->partition < c->t[ti].count && !c->t[ti].eof[m->partition]) {
            c->t[ti].eof[m->partition] = true;
            check_loaded(c);
        }
        return;
    }
    if (m->err) {
        xo_warn(MOD, "event=consume_error topic=%s partition=%d error=\"%s\"", tname,
                (int)m->partition, rd_kafka_err2str(m->err));
        return;
    }
    if (m->partition >= 0 && m->partition < MAX_PARTITIONS)
        c->t[ti].next[m->partition] = m->offset + 1;
    err = gw_consumer_apply(c->view, c->notify, ti == 0, m->key, m->key_len, m->payload, m->len,
                            errstr, sizeof(errstr));
    pthread_mutex_lock(&c->st_mu);
    c->st.records++;
    if (err == XO_OK) {
        c->st.applied_ms = xo_now_ms();
        if (ti == 1)
            c->st.agents++;
        else if (!m->payload)
            c->st.deletes++;
        else if (m->key_len >= 6 && !memcmp((const char *)m->key + m->key_len - 6, "/_sync", 6))
            c->st.syncs++;
        else
            c->st.objects++;
    }
    pthread_mutex_unlock(&c->st_mu);
    if (err != XO_OK)
        note_malformed(c, m, errstr[0] ? errstr : xo_strerror(err));
}

static void *run(void *arg)
{
    gw_consumer_t *c = arg;

    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = xo_consumer_poll(c->kc, 200);
        int n = 0;
        if (!m)
            continue;
        gw_view_wrlock(c->view);
        while (m) {
            handle(c, m);
            rd_kafka_message_destroy(m);
            if (++n >= MAX_BATCH)
                break;
            m = xo_consumer_poll(c->kc, 0);
        }
        gw_view_settle(c->view);
        gw_view_unlock(c->view);
        gw_notify_publish(c->notify);
    }
    return NULL;
}

/* xo.results from its current end: results of commands issued before this gateway
 * started are not ours. Absolute offsets, so nothing produced after start is skipped. */
static xo_err_t assign_results(gw_consumer_t *c, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t kerr;
    xo_err_t err;

    err = xo_kafka_partition_count(xo_consumer_handle(c->kc), c->t[2].name, 10000, &c->t[2].count,
                                   errstr, errstr_size);
    if (err != XO_OK)
        return err;
    list = rd_kafka_topic_partition_list_new(c->t[2].count);
    for (int32_t p = 0; p < c->t[2].count; p++) {
        int64_t lo = 0, hi = 0;
        kerr = rd_kafka_query_watermark_offsets(xo_consumer_handle(c->kc), c->t[2].name, p, &lo,
                                                &hi, 10000);
        if (kerr) {
            rd_kafka_topic_partition_list_destroy(list);
            return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "%s: watermarks: %s", c->t[2].name,
                             rd_kafka_err2str(kerr));
        }
        rd_kafka_topic_partition_list_add(list, c->t[2].name, p)->offset = hi;
    }
    {
        rd_kafka_error_t *e = rd_kafka_incremental_assign(xo_consumer_handle(c->kc), list);
        kerr = e ? rd_kafka_error_code(e) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e)
            rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return kerr ? xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "assign results: %s",
                            rd_kafka_err2str(kerr))
                : XO_OK;
}

xo_err_t gw_consumer_start(const xo_config_t *cfg, const xo_topics_t *topics, gw_view_t *view,
                           gw_notify_t *notify, gw_result_sink_fn on_result, void *result_opaque,
                           gw_token_sink_fn on_token, void *token_opaque, gw_consumer_t **out,
                           char *errstr, size_t errstr_size)
{
    /* clang-format off */
    static const char *const extra[] = {
        "fetch.wait.max.ms",      "10",       /* changes reach the view quickly */
        "fetch.error.backoff.ms", "50",       /* and again soon after an error */
        "auto.offset.reset",      "earliest", /* the view is the whole topic */
        "statistics.interval.ms", "1000",     /* broker connectivity (gw_consumer_kafka_link) */
        NULL};
    /* clang-format on */
    gw_consumer_t *c = calloc(1, sizeof(*c));
    xo_err_t err;

    if (!c)
        return XO_ERR_NOMEM;
    c->view = view;
    c->notify = notify;
    c->on_result = on_result;
    c->result_opaque = result_opaque;
    c->on_token = on_token;
    c->token_opaque = token_opaque;
    c->loaded_topics = on_token ? 4 : 2;
    pthread_mutex_init(&c->st_mu, NULL);
    snprintf(c->t[2].name, sizeof(c->t[2].name), "%s", topics->results);
    snprintf(c->t[0].name, sizeof(c->t[0].name), "%s", topics->objects);
    snprintf(c->t[1].name, sizeof(c->t[1].name), "%s", topics->agents);
    snprintf(c->t[3].name, sizeof(c->t[3].name), "%s", topics->tokens);
    err = xo_consumer_new(cfg, NULL, extra, &c->kc, errstr, errstr_size);
    if (err != XO_OK)
        goto fail;
    for (int t = 0; t < c->loaded_topics; t++) {
        if (t == 2)
            continue; /* results: assign_results() */
        err = xo_kafka_partition_count(xo_consumer_handle(c->kc), c->t[t].name, 10000,
                                       &c->t[t].count, errstr, errstr_size);
        if (err != XO_OK)
            goto fail;
        if (c->t[t].count > MAX_PARTITIONS) {
            err = xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "%s has more than %d partitions",
                            c->t[t].name, MAX_PARTITIONS);
            goto fail;
        }
        for (int32_t p = 0; p < c->t[t].count; p++)
            c->t[t].next[p] = -1;
    }
    /* One explicit assignment of every partition of both topics, from the beginning. */
    {
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new(c->t[0].count + c->t[1].count + c->t[3].count);
        rd_kafka_resp_err_t kerr;
        for (int t = 0; t < c->loaded_topics; t++)
            for (int32_t p = 0; t != 2 && p < c->t[t].count; p++)
                rd_kafka_topic_partition_list_add(list, c->t[t].name, p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        kerr = rd_kafka_assign(xo_consumer_handle(c->kc), list);
        rd_kafka_topic_partition_list_destroy(list);
        if (kerr) {
            err =
                xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "assign: %s", rd_kafka_err2str(kerr));
            goto fail;
        }
    }
    if (on_result) {
        err = assign_results(c, errstr, errstr_size);
        if (err != XO_OK)
            goto fail;
    }
    c->st.lag = -1;
    c->st.started_ms = xo_now_ms();
    c->start_mono_ms = gw_mono_ms();
    atomic_init(&c->stop, false);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "cannot start the consumer thread");
        goto fail;
    }
    xo_info(MOD, "event=started objects_topic=%s partitions=%d agents_topic=%s partitions=%d",
            c->t[0].name, (int)c->t[0].count, c->t[1].name, (int)c->t[1].count);
    *out = c;
    return XO_OK;
fail:
    xo_consumer_free(c->kc);
    pthread_mutex_destroy(&c->st_mu);
    free(c);
    return err;
}

void gw_consumer_stop(gw_consumer_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    xo_consumer_free(c->kc);
    pthread_mutex_destroy(&c->st_mu);
    free(c);
}

void gw_consumer_stats(gw_consumer_t *c, gw_consumer_stats_t *st)
{
    int64_t lag = 0;
    bool known = true;

    for (int t = 0; t < 2; t++) {
        for (int32_t p = 0; p < c->t[t].count; p++) {
            int64_t lo = 0, hi = 0, next = c->t[t].next[p];
            if (rd_kafka_get_watermark_offsets(xo_consumer_handle(c->kc), c->t[t].name, p, &lo,
                                               &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                hi < 0) {
                known = false;
                continue;
            }
            if (next < 0)
                next = lo;
            if (hi > next)
                lag += hi - next;
        }
    }
    pthread_mutex_lock(&c->st_mu);
    *st = c->st;
    pthread_mutex_unlock(&c->st_mu);
    st->lag = known ? lag : -1;
    {
        xo_kafka_link_t link;
        xo_consumer_link(c->kc, &link);
        st->brokers_down = !link.connected;
    }
}

void gw_consumer_kafka_link(gw_consumer_t *c, xo_kafka_link_t *out)
{
    xo_consumer_link(c->kc, out);
}
