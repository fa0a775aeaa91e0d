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
#define CUT_KEEP       1024 /* bytes of an over-long string kept, as the agents keep */

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
    bool eof_seen;      /* a partition reached its end in this batch: check "loaded" after it */
    bool reserved;      /* the view was sized for the objects topic's records */
    gw_result_sink_fn on_result;
    void *result_opaque;
    gw_token_sink_fn on_token;
    void *token_opaque;
    gw_record_limits_t lim;
    json_tokener *tok; /* reused record after record (consumer thread) */
    pthread_mutex_t st_mu;
    void (*loaded_hook)(void); /* gw_consumer_on_loaded(), under st_mu */
    gw_consumer_stats_t st;
    gw_consumer_stats_t batch; /* this batch's counts (consumer thread), added to st after it */
    int64_t start_mono_ms;
};

/* Cut @p s (len bytes) as the agents cut an over-long field: its first CUT_KEEP bytes (back
 * to a character boundary, so the text stays UTF-8) and "...[truncated N bytes]". */
static json_object *cut_string(const char *s, size_t len)
{
    char buf[CUT_KEEP + 64];
    size_t keep = len < CUT_KEEP ? len : CUT_KEEP;

    while (keep > 0 && keep < len && ((unsigned char)s[keep] & 0xC0) == 0x80)
        keep--; /* s[keep] continues a character: cut before that character */
    memcpy(buf, s, keep);
    snprintf(buf + keep, sizeof(buf) - keep, "...[truncated %zu bytes]", len);
    return json_object_new_string(buf);
}

/* Cut every string of @p o (any depth) longer than @p max; returns how many were cut. */
static unsigned cap_strings(json_object *o, size_t max, int depth)
{
    unsigned n = 0;

    if (depth > XO_MSG_MAX_DEPTH)
        return 0;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            size_t len = (size_t)json_object_get_string_len(v);
            if (json_object_is_type(v, json_type_string) && len > max) {
                json_object *cut = cut_string(json_object_get_string(v), len);
                if (cut && json_object_object_add(o, k, cut) == 0) /* replaces in place */
                    n++;
            } else {
                n += cap_strings(v, max, depth + 1);
            }
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            json_object *v = json_object_array_get_idx(o, i);
            size_t len = (size_t)json_object_get_string_len(v);
            if (json_object_is_type(v, json_type_string) && len > max) {
                json_object *cut = cut_string(json_object_get_string(v), len);
                if (cut && json_object_array_put_idx(o, i, cut) == 0)
                    n++;
            } else {
                n += cap_strings(v, max, depth + 1);
            }
        }
    }
    return n;
}

/* xo_msg_parse() through @p tok when there is one (no tokener allocated per record). */
static xo_err_t parse_msg(json_tokener *tok, xo_msg_kind_t kind, const xo_record_t *rec,
                          json_object **out, char *errstr, size_t errstr_size)
{
    if (tok)
        return xo_msg_parse_with(tok, kind, rec->value, rec->value_len, out, errstr, errstr_size);
    return xo_msg_parse(kind, rec->value, rec->value_len, out, errstr, errstr_size);
}

/* A view or parser error as a verdict: anything refused there is malformed. */
static gw_rec_verdict_t verdict_of(xo_err_t err)
{
    return err == XO_OK ? GW_REC_APPLIED : GW_REC_MALFORMED;
}

/* xo.agents: a heartbeat (or its tombstone) keyed by its pool. */
static gw_rec_verdict_t apply_agent(gw_view_t *view, json_tokener *tok, const char *key,
                                    const xo_record_t *rec, char *errstr, size_t errstr_size)
{
    json_object *o = NULL;
    xo_err_t err;

    if (!rec->value) {
        gw_view_apply_agent(view, key, NULL, NULL, 0);
        return GW_REC_APPLIED;
    }
    err = parse_msg(tok, XO_MSG_AGENT, rec, &o, errstr, errstr_size);
    if (err != XO_OK)
        return GW_REC_MALFORMED;
    if (strcmp(xo_msg_str(o, "pool"), key) != 0)
        err = xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "pool does not match the key");
    else
        err = gw_view_apply_agent(view, key, o, rec->value, rec->value_len);
    json_object_put(o);
    return verdict_of(err);
}

/* xo.objects <pool>/_sync: the end of a full dump. */
static gw_rec_verdict_t apply_sync(gw_view_t *view, json_tokener *tok, const char *pool,
                                   const xo_record_t *rec, char *errstr, size_t errstr_size)
{
    json_object *o = NULL;
    xo_err_t err;

    if (!rec->value)
        return GW_REC_APPLIED;
    err = parse_msg(tok, XO_MSG_SYNC, rec, &o, errstr, errstr_size);
    if (err == XO_OK && strcmp(xo_msg_str(o, "pool"), pool) != 0)
        err = xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "pool does not match the key");
    if (err == XO_OK)
        err = gw_view_apply_sync(view, pool, xo_msg_int(o, "gen", 0), xo_msg_int(o, "objects", 0),
                                 xo_msg_int(o, "ts", 0));
    json_object_put(o);
    return verdict_of(err);
}

/* xo.objects <pool>/<class>/<ref>: an object, its strings capped, or its tombstone. */
static gw_rec_verdict_t apply_object(gw_view_t *view, gw_notify_t *notify, json_tokener *tok,
                                     const gw_record_limits_t *lim, const char *pool,
                                     const char *cls, const char *ref, const xo_record_t *rec,
                                     unsigned *truncated, char *errstr, size_t errstr_size)
{
    json_object *o = NULL, *snap = NULL;
    const char *msg = rec->value;
    size_t msg_len = rec->value_len;
    xo_err_t err;

    if (!rec->value) {
        if (notify)
            gw_notify_set_ts(notify, xo_now_ms());
        err = gw_view_apply_delete(view, pool, cls, ref);
        return verdict_of(err == XO_ERR_NOTFOUND ? XO_OK : err); /* deleting the unknown: no-op */
    }
    err = parse_msg(tok, XO_MSG_OBJECT, rec, &o, errstr, errstr_size);
    if (err != XO_OK)
        return GW_REC_MALFORMED;
    if (strcmp(xo_msg_str(o, "pool"), pool) != 0 || strcmp(xo_msg_str(o, "class"), cls) != 0 ||
        strcmp(xo_msg_str(o, "ref"), ref) != 0) {
        json_object_put(o);
        xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "pool/class/ref do not match the key");
        return GW_REC_MALFORMED;
    }
    json_object_object_get_ex(o, "snapshot", &snap);
    /* A string's bytes are never more than its JSON text's: only a record longer than the
     * cap can hold a string over it, so the walk is skipped for (nearly) every record. */
    if (lim && lim->max_field_bytes && rec->value_len > lim->max_field_bytes)
        *truncated = cap_strings(snap, lim->max_field_bytes, 0);
    if (*truncated) { /* the view keeps what it serves: the cut message, not the original */
        msg = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        msg_len = msg ? strlen(msg) : 0;
    }
    if (notify)
        gw_notify_set_ts(notify, xo_msg_int(o, "ts", xo_now_ms()));
    err = msg ? gw_view_apply_object(view, pool, cls, ref, snap, msg, msg_len, errstr, errstr_size)
              : XO_ERR_NOMEM;
    json_object_put(o);
    return verdict_of(err);
}

gw_rec_verdict_t gw_consumer_apply(gw_view_t *view, gw_notify_t *notify, json_tokener *tok,
                                   const gw_record_limits_t *lim, bool is_objects,
                                   const xo_record_t *rec, unsigned *truncated, char *errstr,
                                   size_t errstr_size)
{
    char kbuf[1024];
    char *pool = NULL, *cls = NULL, *ref = NULL;
    int32_t want;

    *truncated = 0;
    if (!rec->key || rec->key_len == 0 || rec->key_len >= sizeof(kbuf) ||
        memchr(rec->key, '\0', rec->key_len)) {
        xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "missing or bad key");
        return GW_REC_MALFORMED;
    }
    if (lim && lim->max_record_bytes && rec->value && rec->value_len > lim->max_record_bytes) {
        xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "%zu bytes, over limits.max_record_bytes",
                  rec->value_len);
        return GW_REC_TOO_LARGE;
    }
    memcpy(kbuf, rec->key, rec->key_len);
    kbuf[rec->key_len] = '\0';
    if (is_objects && xo_object_key_split(kbuf, &pool, &cls, &ref) != XO_OK) {
        xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "key is not <pool>/<class>/<ref>");
        return GW_REC_MALFORMED;
    }
    /* Every record of a pool is on the pool's partition (heartbeats: the key's): one that is
     * not was written by someone other than that pool's agent. */
    want = rec->partitions > 0 ? xo_pool_partition(is_objects ? pool : kbuf, rec->partitions) : -1;
    if (want >= 0 && want != rec->partition) {
        xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                  "the key's pool maps to partition %d, not %d", (int)want, (int)rec->partition);
        return GW_REC_WRONG_PARTITION;
    }
    if (!is_objects)
        return apply_agent(view, tok, kbuf, rec, errstr, errstr_size);
    if (!ref)
        return apply_sync(view, tok, pool, rec, errstr, errstr_size);
    return apply_object(view, notify, tok, lim, pool, cls, ref, rec, truncated, errstr,
                        errstr_size);
}

static const char *const VERDICT_NAMES[GW_REC_VERDICT_COUNT] = {
    [GW_REC_APPLIED] = "applied",
    [GW_REC_MALFORMED] = "malformed",
    [GW_REC_WRONG_PARTITION] = "wrong_partition",
    [GW_REC_TOO_LARGE] = "too_large",
};

const char *gw_rec_verdict_name(gw_rec_verdict_t v)
{
    return v < GW_REC_VERDICT_COUNT ? VERDICT_NAMES[v] : "unknown";
}

/* Count a refused record; log the first ones of each kind and then every 1000th. */
static void note_refused(gw_consumer_t *c, const rd_kafka_message_t *m, gw_rec_verdict_t v,
                         const char *why)
{
    int key_len = m->key ? (int)(m->key_len < 200 ? m->key_len : 200) : 0;
    uint64_t n;

    pthread_mutex_lock(&c->st_mu);
    n = v == GW_REC_WRONG_PARTITION ? ++c->st.wrong_partition
        : v == GW_REC_TOO_LARGE     ? ++c->st.too_large
                                    : ++c->st.malformed;
    pthread_mutex_unlock(&c->st_mu);
    if (n <= 20 || n % 1000 == 0)
        xo_warn(MOD,
                "event=record_refused reason=%s topic=%s partition=%d offset=%lld count=%llu "
                "key=\"%.*s\" detail=\"%s\"",
                gw_rec_verdict_name(v), rd_kafka_topic_name(m->rkt), (int)m->partition,
                (long long)m->offset, (unsigned long long)n, key_len,
                m->key ? (const char *)m->key : "", why);
}

static void check_loaded(gw_consumer_t *c)
{
    void (*hook)(void) = NULL;

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
                "bytes=%zu table_bytes=%zu pending=%zu remaps=%llu",
                vs.objects, vs.pools, (unsigned long long)c->st.records,
                (unsigned long long)c->st.malformed, (long long)c->st.load_ms, vs.bytes,
                vs.table_bytes, vs.pending, (unsigned long long)vs.remaps);
        hook = c->loaded_hook;
        c->loaded_hook = NULL;
    }
    pthread_mutex_unlock(&c->st_mu);
    if (hook)
        hook();
}

void gw_consumer_on_loaded(gw_consumer_t *c, void (*hook)(void))
{
    bool now;

    pthread_mutex_lock(&c->st_mu);
    now = c->st.loaded;
    if (!now)
        c->loaded_hook = hook;
    pthread_mutex_unlock(&c->st_mu);
    if (now)
        hook();
}

/* One message or event. */
static void handle(gw_consumer_t *c, rd_kafka_message_t *m)
{
    int ti;
    char errstr[256] = "";
    const char *tname;
    xo_record_t rec;
    gw_rec_verdict_t v;
    unsigned truncated = 0;

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
    if (ti == 3) { /* tokens: handed whole to the sink (it checks them), part of "loaded" */
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition >= 0 &&
            m->partition < c->t[3].count && !c->t[3].eof[m->partition]) {
            c->t[3].eof[m->partition] = true;
            c->eof_seen = true;
        } else if (!m->err && c->on_token) {
            xo_record_from_message(&rec, m, c->t[3].count);
            c->on_token(c->token_opaque, &rec);
        }
        return;
    }
    if (ti == 2) { /* xo.results: handed whole (headers, partition) to the sink as they come */
        if (!m->err && c->on_result) {
            xo_record_from_message(&rec, m, c->t[2].count);
            c->on_result(c->result_opaque, &rec);
        }
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition >= 0 && m->partition < c->t[ti].count && !c->t[ti].eof[m->partition]) {
            c->t[ti].eof[m->partition] = true;
            c->eof_seen = true;
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
    xo_record_from_message(&rec, m, c->t[ti].count);
    v = gw_consumer_apply(c->view, c->notify, c->tok, &c->lim, ti == 0, &rec, &truncated, errstr,
                          sizeof(errstr));
    c->batch.records++; /* counted without the lock: published once per batch */
    c->batch.truncated += truncated;
    if (v == GW_REC_APPLIED) {
        c->batch.applied_ms = 1; /* stamped when published */
        if (ti == 1)
            c->batch.agents++;
        else if (!m->payload)
            c->batch.deletes++;
        else if (m->key_len >= 6 && !memcmp((const char *)m->key + m->key_len - 6, "/_sync", 6))
            c->batch.syncs++;
        else
            c->batch.objects++;
    }
    if (truncated)
        xo_warn(MOD, "event=fields_truncated topic=%s partition=%d offset=%lld fields=%u max=%zu",
                tname, (int)m->partition, (long long)m->offset, truncated, c->lim.max_field_bytes);
    if (v != GW_REC_APPLIED)
        note_refused(c, m, v, errstr[0] ? errstr : gw_rec_verdict_name(v));
}

/* Add the batch's counts to the shared ones (one lock and one clock read per batch). */
static void publish_batch_stats(gw_consumer_t *c)
{
    gw_consumer_stats_t *b = &c->batch;

    pthread_mutex_lock(&c->st_mu);
    c->st.records += b->records;
    c->st.truncated += b->truncated;
    c->st.agents += b->agents;
    c->st.deletes += b->deletes;
    c->st.syncs += b->syncs;
    c->st.objects += b->objects;
    if (b->applied_ms)
        c->st.applied_ms = xo_now_ms();
    pthread_mutex_unlock(&c->st_mu);
    memset(b, 0, sizeof(*b));
}

/*
 * Once the first fetches told every objects partition's watermarks (cached, no request),
 * size the view for that many records: a compacted topic holds about one record per
 * object, and a cold start then never rehashes its tables. @locality view write lock held
 */
static void reserve_view(gw_consumer_t *c)
{
    rd_kafka_t *rk = xo_consumer_handle(c->kc);
    size_t records = 0;

    for (int32_t p = 0; p < c->t[0].count; p++) {
        int64_t lo = 0, hi = -1;
        if (rd_kafka_get_watermark_offsets(rk, c->t[0].name, p, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            return; /* not fetched yet: after a later batch */
        records += (size_t)(hi > lo && lo >= 0 ? hi - lo : hi); /* start unknown: from 0 */
    }
    c->reserved = true;
    if (gw_view_reserve(c->view, records))
        xo_info(MOD, "event=view_reserved records=%zu", records);
    else
        xo_warn(MOD, "event=view_reserve_failed records=%zu", records);
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
        if (!c->reserved)
            reserve_view(c);
        publish_batch_stats(c);
        if (c->eof_seen) { /* "loaded" once the batch's objects are mapped, not before */
            c->eof_seen = false;
            check_loaded(c);
        }
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
    char wait[24];
    /* clang-format off */
    const char *const extra[] = {
        "fetch.wait.max.ms",      wait,       /* changes reach the view quickly */
        "fetch.error.backoff.ms", "50",       /* and again soon after an error */
        "auto.offset.reset",      "earliest", /* the view is the whole topic */
        "statistics.interval.ms", "1000",     /* broker connectivity (gw_consumer_kafka_link) */
        NULL};
    /* clang-format on */
    gw_consumer_t *c = calloc(1, sizeof(*c));
    xo_err_t err;

    if (!c)
        return XO_ERR_NOMEM;
    c->tok = xo_msg_tokener_new();
    if (!c->tok) {
        free(c);
        return XO_ERR_NOMEM;
    }
    snprintf(wait, sizeof(wait), "%lld", (long long)xo_config_get_int(cfg, "view.fetch_wait_ms"));
    c->view = view;
    c->notify = notify;
    c->on_result = on_result;
    c->result_opaque = result_opaque;
    c->on_token = on_token;
    c->token_opaque = token_opaque;
    c->loaded_topics = on_token ? 4 : 2;
    c->lim.max_record_bytes = (size_t)xo_config_get_int(cfg, "limits.max_record_bytes");
    c->lim.max_field_bytes = (size_t)xo_config_get_int(cfg, "limits.max_field_bytes");
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
    /* A batch's new objects are mapped once at its settle, when their links are in. */
    gw_view_wrlock(view);
    gw_view_set_defer_new(view, true);
    gw_view_unlock(view);
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
    json_tokener_free(c->tok);
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
    json_tokener_free(c->tok);
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
