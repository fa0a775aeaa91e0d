/*
 * xo_kafka.c - librdkafka wrappers for the topic contract.
 * Owns configuration order, delivery counting and log routing; knows nothing of message
 * contents (see xo_envelope.c). Must not block except in the calls documented to wait.
 */
#include "xo_kafka.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h" /* xo_now_ms() */
#include "xo_log.h"

struct xo_producer {
    rd_kafka_t *rk;
    atomic_uint_fast64_t produced, delivered, failed;
    atomic_bool brokers_down;
    xo_delivery_cb cb;
    void *cb_opaque;
};

struct xo_consumer {
    rd_kafka_t *rk;
    pthread_mutex_t link_mu; /* guards link: written from poll, read from any thread */
    xo_kafka_link_t link;
};

xo_err_t xo_topics_init(xo_topics_t *t, const char *prefix)
{
    const char *p = prefix ? prefix : "xo.";

    if (strlen(p) > sizeof(t->objects) - 16)
        return XO_ERR_INVALID;
    snprintf(t->objects, sizeof(t->objects), "%sobjects", p);
    snprintf(t->agents, sizeof(t->agents), "%sagents", p);
    snprintf(t->commands, sizeof(t->commands), "%scommands", p);
    snprintf(t->results, sizeof(t->results), "%sresults", p);
    snprintf(t->tokens, sizeof(t->tokens), "%stokens", p);
    return XO_OK;
}

int32_t xo_murmur2(const void *data, size_t len)
{
    const uint32_t m = 0x5bd1e995, seed = 0x9747b28c;
    const unsigned char *b = data;
    uint32_t h = seed ^ (uint32_t)len;
    size_t i, tail = len & ~(size_t)3;

    for (i = 0; i < tail; i += 4) {
        uint32_t k = (uint32_t)b[i] | (uint32_t)b[i + 1] << 8 | (uint32_t)b[i + 2] << 16 |
                     (uint32_t)b[i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)b[tail + 2] << 16; /* fall through */
    case 2:
        h ^= (uint32_t)b[tail + 1] << 8; /* fall through */
    case 1:
        h ^= (uint32_t)b[tail];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

int32_t xo_pool_partition(const char *pool_uuid, int32_t partition_count)
{
    if (partition_count <= 0 || !pool_uuid)
        return -1;
    return (int32_t)(((uint32_t)xo_murmur2(pool_uuid, strlen(pool_uuid)) & 0x7fffffff) %
                     (uint32_t)partition_count);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0-3 error, 4 warning, 5-6 info/notice, 7 debug */
    if (level <= 3)
        xo_error("rdkafka", "facility=%s msg=\"%s\"", fac, buf);
    else if (level == 4)
        xo_warn("rdkafka", "facility=%s msg=\"%s\"", fac, buf);
    else if (level <= 6)
        xo_info("rdkafka", "facility=%s msg=\"%s\"", fac, buf);
    else
        xo_dbg(XO_DBG_KAFKA, "rdkafka", "facility=%s msg=\"%s\"", fac, buf);
}

static xo_err_t conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                         size_t errstr_size)
{
    char kerr[256];

    if (rd_kafka_conf_set(conf, k, v, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "kafka property '%s': %s", k, kerr);
    return XO_OK;
}

typedef struct {
    rd_kafka_conf_t *conf;
    char *errstr;
    size_t errstr_size;
} conf_ctx_t;

static xo_err_t conf_from_cfg(const char *k, const char *v, void *opaque)
{
    conf_ctx_t *ctx = opaque;
    return conf_set(ctx->conf, k, v, ctx->errstr, ctx->errstr_size);
}

static xo_err_t conf_pairs(rd_kafka_conf_t *conf, const char *const *kv, char *errstr,
                           size_t errstr_size)
{
    for (; kv && kv[0] && kv[1]; kv += 2) {
        xo_err_t err = conf_set(conf, kv[0], kv[1], errstr, errstr_size);
        if (err != XO_OK)
            return err;
    }
    return XO_OK;
}

/* defaults, then the daemon's [kafka] section, then the caller's extras, then forced. */
xo_err_t xo_kafka_conf_build(const xo_config_t *cfg, const char *const *defaults,
                             const char *const *extra, const char *const *forced,
                             rd_kafka_conf_t **out, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_ctx_t ctx = {conf, errstr, errstr_size};
    xo_err_t err;

    if (!conf)
        return XO_ERR_NOMEM;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    err = conf_pairs(conf, defaults, errstr, errstr_size);
    if (err == XO_OK && cfg)
        err = xo_config_each_kafka(cfg, conf_from_cfg, &ctx);
    if (err == XO_OK)
        err = conf_pairs(conf, extra, errstr, errstr_size);
    if (err == XO_OK)
        err = conf_pairs(conf, forced, errstr, errstr_size);
    if (err != XO_OK) {
        rd_kafka_conf_destroy(conf);
        return err;
    }
    *out = conf;
    return XO_OK;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    xo_producer_t *p = opaque;

    (void)rk;
    if (msg->err)
        atomic_fetch_add(&p->failed, 1);
    else
        atomic_fetch_add(&p->delivered, 1);
    if (p->cb)
        p->cb(msg, p->cb_opaque);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    xo_producer_t *p = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&p->brokers_down, true);
    xo_warn("kafka", "event=error code=%s reason=\"%s\"", rd_kafka_err2name(err), reason);
}

xo_err_t xo_producer_new(const xo_config_t *cfg, const char *const *extra, xo_producer_t **out,
                         char *errstr, size_t errstr_size)
{
    /* clang-format off */
    static const char *const defaults[] = {
        "compression.codec",        "zstd",
        /* zstd's fastest level: on the agent's records it took half the CPU of librdkafka's
         * default (3) and wrote no more bytes (docs/benchmarks.md, issue 16 item 5). */
        "compression.level",        "1",
        "linger.ms",                "1", /* a change waits at most 1 ms for company */
        "client.id",                "xo-fleet",
        /* A missing contract topic is an error, never a topic created with the broker's
         * defaults (not compacted) because a producer asked for its metadata. */
        "allow.auto.create.topics", "false",
        NULL};
    /* clang-format on */
    static const char *const forced[] = {"enable.idempotence", "true", NULL};
    char kerr[512];
    rd_kafka_conf_t *conf;
    xo_producer_t *p = calloc(1, sizeof(*p));
    xo_err_t err;

    if (!p)
        return XO_ERR_NOMEM;
    err = xo_kafka_conf_build(cfg, defaults, extra, forced, &conf, errstr, errstr_size);
    if (err != XO_OK) {
        free(p);
        return err;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "cannot create producer: %s", kerr);
    }
    *out = p;
    return XO_OK;
}

void xo_producer_set_delivery_cb(xo_producer_t *p, xo_delivery_cb cb, void *opaque)
{
    p->cb = cb;
    p->cb_opaque = opaque;
}

xo_err_t xo_producer_send(xo_producer_t *p, const char *topic, int32_t partition, const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          const xo_kafka_header_t *headers, size_t n_headers, char *errstr,
                          size_t errstr_size)
{
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t kerr;

    if (n_headers) {
        hdrs = rd_kafka_headers_new(n_headers);
        for (size_t i = 0; i < n_headers; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                                (ssize_t)headers[i].len);
    }
    kerr = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs); /* producev takes them only on success */
        if (kerr == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "producer queue full");
        return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "produce to %s [%d]: %s", topic,
                         (int)partition, rd_kafka_err2str(kerr));
    }
    atomic_fetch_add(&p->produced, 1);
    return XO_OK;
}

void xo_producer_poll(xo_producer_t *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
    /* A successful delivery proves a broker is back. */
    if (atomic_load(&p->brokers_down) && rd_kafka_outq_len(p->rk) == 0)
        atomic_store(&p->brokers_down, false);
}

xo_err_t xo_producer_flush(xo_producer_t *p, int timeout_ms)
{
    if (rd_kafka_flush(p->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return XO_ERR_TIMEOUT;
    return XO_OK;
}

void xo_producer_stats(xo_producer_t *p, xo_producer_stats_t *st)
{
    st->produced = atomic_load(&p->produced);
    st->delivered = atomic_load(&p->delivered);
    st->failed = atomic_load(&p->failed);
    st->in_queue = rd_kafka_outq_len(p->rk);
}

bool xo_producer_brokers_down(const xo_producer_t *p)
{
    return atomic_load(&((xo_producer_t *)p)->brokers_down);
}

rd_kafka_t *xo_producer_handle(xo_producer_t *p)
{
    return p->rk;
}

void xo_producer_free(xo_producer_t *p, int timeout_ms)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        xo_warn("kafka", "event=flush_incomplete in_queue=%d", rd_kafka_outq_len(p->rk));
    rd_kafka_destroy(p->rk);
    free(p);
}

xo_err_t xo_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, int32_t *count,
                                  char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t kerr;
    xo_err_t err = XO_OK;

    if (!rkt)
        return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "topic handle for %s", topic);
    kerr = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (kerr == RD_KAFKA_RESP_ERR__TIMED_OUT || kerr == RD_KAFKA_RESP_ERR__TRANSPORT) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_TIMEOUT, "no metadata for %s within %d ms: %s",
                        topic, timeout_ms, rd_kafka_err2str(kerr));
    } else if (kerr) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "metadata for %s: %s", topic,
                        rd_kafka_err2str(kerr));
    } else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOTFOUND, "topic %s does not exist: %s", topic,
                        md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no topic");
    } else {
        *count = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return err;
}

/* Record a connectivity change; logs the transitions (poll thread). */
static void link_set(xo_consumer_t *c, bool connected, const xo_kafka_brokers_t *b)
{
    bool was;

    pthread_mutex_lock(&c->link_mu);
    was = c->link.connected;
    c->link.reported = true;
    c->link.connected = connected;
    if (b) {
        c->link.brokers = b->brokers;
        c->link.brokers_up = b->brokers_up;
    } else if (!connected) {
        c->link.brokers_up = 0;
    }
    if (was != connected)
        c->link.since_ms = xo_now_ms();
    pthread_mutex_unlock(&c->link_mu);
    if (was && !connected)
        xo_warn("kafka", "event=brokers_unreachable note=\"no broker connection is up\"");
    else if (!was && connected)
        xo_info("kafka", "event=brokers_reachable brokers_up=%d", b ? b->brokers_up : 0);
}

static int consumer_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    xo_kafka_brokers_t b;

    (void)rk;
    if (xo_kafka_stats_brokers(json, len, &b) == XO_OK)
        link_set(opaque, b.brokers_up > 0, &b);
    return 0; /* librdkafka frees json */
}

static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    /* Said at once, where the next statistics report may be a second away. */
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        link_set(opaque, false, NULL);
    xo_dbg(XO_DBG_KAFKA, "kafka", "event=error code=%s reason=\"%s\"", rd_kafka_err2name(err),
           reason);
}

xo_err_t xo_consumer_new(const xo_config_t *cfg, const char *group_id, const char *const *extra,
                         xo_consumer_t **out, char *errstr, size_t errstr_size)
{
    const char *defaults[] = {"enable.auto.commit",
                              "false",
                              "enable.auto.offset.store",
                              "false",
                              "enable.partition.eof",
                              "true",
                              "client.id",
                              "xo-fleet",
                              "group.id",
                              group_id ? group_id : "xo-fleet-nogroup",
                              NULL};
    char kerr[512];
    rd_kafka_conf_t *conf;
    xo_consumer_t *c = calloc(1, sizeof(*c));
    xo_err_t err;

    if (!c)
        return XO_ERR_NOMEM;
    err = xo_kafka_conf_build(cfg, defaults, extra, NULL, &conf, errstr, errstr_size);
    if (err != XO_OK) {
        free(c);
        return err;
    }
    pthread_mutex_init(&c->link_mu, NULL);
    c->link.connected = true; /* until a report or an error says otherwise */
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_stats_cb(conf, consumer_stats_cb);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&c->link_mu);
        free(c);
        return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "cannot create consumer: %s", kerr);
    }
    rd_kafka_poll_set_consumer(c->rk);
    *out = c;
    return XO_OK;
}

static rd_kafka_resp_err_t take_error(rd_kafka_error_t *error, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t kerr = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;

    if (error) {
        xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "assign: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    return kerr;
}

static rd_kafka_resp_err_t reassign(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *list,
                                    char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *cur = NULL, *overlap = rd_kafka_topic_partition_list_new(0);
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (rd_kafka_assignment(rk, &cur) == RD_KAFKA_RESP_ERR_NO_ERROR && cur) {
        for (int i = 0; i < list->cnt; i++)
            if (rd_kafka_topic_partition_list_find(cur, list->elems[i].topic,
                                                   list->elems[i].partition))
                rd_kafka_topic_partition_list_add(overlap, list->elems[i].topic,
                                                  list->elems[i].partition);
        rd_kafka_topic_partition_list_destroy(cur);
    }
    if (overlap->cnt)
        kerr = take_error(rd_kafka_incremental_unassign(rk, overlap), errstr, errstr_size);
    if (!kerr)
        kerr = take_error(rd_kafka_incremental_assign(rk, list), errstr, errstr_size);
    rd_kafka_topic_partition_list_destroy(overlap);
    return kerr;
}

xo_err_t xo_consumer_assign(xo_consumer_t *c, const char *topic, const int32_t *partitions,
                            size_t n, int64_t offset, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t kerr;
    int32_t count = 0;
    xo_err_t err;

    if (!partitions) {
        err = xo_kafka_partition_count(c->rk, topic, 10000, &count, errstr, errstr_size);
        if (err != XO_OK)
            return err;
        n = (size_t)count;
    }
    list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, topic, partitions ? partitions[i] : (int32_t)i)
            ->offset = offset;
    /* Incremental, so several topics can be read; a partition already assigned is taken out
     * first so that it restarts at the new offset. */
    kerr = reassign(c->rk, list, errstr, errstr_size);
    rd_kafka_topic_partition_list_destroy(list);
    return kerr ? XO_ERR_KAFKA : XO_OK;
}

rd_kafka_message_t *xo_consumer_poll(xo_consumer_t *c, int timeout_ms)
{
    return rd_kafka_consumer_poll(c->rk, timeout_ms);
}

xo_err_t xo_consumer_seek(xo_consumer_t *c, const char *topic, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_error_t *error;

    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    error = rd_kafka_seek_partitions(c->rk, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (!error)
        return XO_OK;
    rd_kafka_error_destroy(error);
    return XO_ERR_KAFKA;
}

xo_err_t xo_consumer_watermarks(xo_consumer_t *c, const char *topic, int32_t partition,
                                int64_t *low, int64_t *high, int timeout_ms)
{
    rd_kafka_resp_err_t kerr =
        rd_kafka_query_watermark_offsets(c->rk, topic, partition, low, high, timeout_ms);

    if (kerr == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return XO_ERR_TIMEOUT;
    return kerr ? XO_ERR_KAFKA : XO_OK;
}

xo_err_t xo_consumer_commit(xo_consumer_t *c, const char *topic, int32_t partition, int64_t offset,
                            char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t kerr;

    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    kerr = rd_kafka_commit(c->rk, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (kerr)
        return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "commit %s [%d] @%lld: %s", topic,
                         (int)partition, (long long)offset, rd_kafka_err2str(kerr));
    return XO_OK;
}

struct xo_commit {
    rd_kafka_queue_t *answer; /* the broker's answer comes here, and only this commit's */
    char what[320];           /* topic [partition] @offset, for errors */
};

xo_commit_t *xo_consumer_commit_start(xo_consumer_t *c, const char *topic, int32_t partition,
                                      int64_t offset, char *errstr, size_t errstr_size)
{
    xo_commit_t *commit = calloc(1, sizeof(*commit));
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE;

    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    if (commit) {
        snprintf(commit->what, sizeof(commit->what), "%s [%d] @%lld", topic, (int)partition,
                 (long long)offset);
        commit->answer = rd_kafka_queue_new(c->rk);
    }
    if (commit && commit->answer)
        kerr = rd_kafka_commit_queue(c->rk, list, commit->answer, NULL, NULL);
    rd_kafka_topic_partition_list_destroy(list);
    if (kerr) {
        xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "commit %s [%d] @%lld: %s", topic,
                  (int)partition, (long long)offset, rd_kafka_err2str(kerr));
        if (commit && commit->answer)
            rd_kafka_queue_destroy(commit->answer);
        free(commit);
        return NULL;
    }
    return commit;
}

/* The first error of a commit's answer: the request's, else the partition's. */
static rd_kafka_resp_err_t commit_answer_error(rd_kafka_event_t *ev)
{
    const rd_kafka_topic_partition_list_t *list = rd_kafka_event_topic_partition_list(ev);
    rd_kafka_resp_err_t kerr = rd_kafka_event_error(ev);

    for (int i = 0; !kerr && list && i < list->cnt; i++)
        kerr = list->elems[i].err;
    return kerr;
}

xo_err_t xo_commit_wait(xo_commit_t *commit, int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(commit->answer, timeout_ms);
    rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR__TIMED_OUT;
    xo_err_t err = XO_OK;

    if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT)
        kerr = commit_answer_error(ev);
    else if (ev) /* nothing else is sent to this queue */
        kerr = RD_KAFKA_RESP_ERR__BAD_MSG;
    if (kerr)
        err = xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "commit %s: %s", commit->what,
                        rd_kafka_err2str(kerr));
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(commit->answer);
    free(commit);
    return err;
}

rd_kafka_t *xo_consumer_handle(xo_consumer_t *c)
{
    return c->rk;
}

void xo_consumer_link(xo_consumer_t *c, xo_kafka_link_t *out)
{
    pthread_mutex_lock(&c->link_mu);
    *out = c->link;
    pthread_mutex_unlock(&c->link_mu);
}

void xo_consumer_free(xo_consumer_t *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    pthread_mutex_destroy(&c->link_mu);
    free(c);
}

xo_err_t xo_kafka_header_get(const rd_kafka_message_t *msg, const char *name, const void **value,
                             size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;

    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return XO_ERR_NOTFOUND;
    if (rd_kafka_header_get_last(hdrs, name, value, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return XO_ERR_NOTFOUND;
    return XO_OK;
}

/* A header's value as a string pointer, or NULL when absent or empty. */
static const char *header_or_null(const rd_kafka_message_t *msg, const char *name, size_t *len)
{
    const void *v = NULL;

    *len = 0;
    if (xo_kafka_header_get(msg, name, &v, len) != XO_OK || !v || *len == 0) {
        *len = 0;
        return NULL;
    }
    return v;
}

void xo_record_from_message(xo_record_t *r, const rd_kafka_message_t *msg, int32_t partitions)
{
    memset(r, 0, sizeof(*r));
    r->partition = msg->partition;
    r->partitions = partitions;
    r->offset = msg->offset;
    r->key = msg->key;
    r->key_len = msg->key ? msg->key_len : 0;
    r->value = msg->payload;
    r->value_len = msg->payload ? msg->len : 0;
    r->sig = header_or_null(msg, XO_HDR_SIG, &r->sig_len);
    r->key_id = header_or_null(msg, XO_HDR_KEY, &r->key_id_len);
}
