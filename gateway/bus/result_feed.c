/*
 * result_feed.c - xo.results for the command bus on a consumer of its own (see
 * result_feed.h): short fetch waits while the bus listens, nothing assigned (no fetch at
 * all) while it does not. Must not parse or believe results (the sink does) nor wait on
 * Kafka on the service thread (assigning only hands a list to librdkafka's own thread).
 */
#include "bus/result_feed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "xo_log.h"

#define MOD             "results"
#define POLL_MS         200   /* how soon the thread sees a stop */
#define META_TIMEOUT_MS 10000 /* metadata and watermarks at start */

struct gw_result_feed {
    xo_consumer_t *kc;
    char topic[128];
    int32_t count;
    _Atomic int64_t *next; /* per partition: the next offset to read (the feed thread's) */
    gw_result_feed_fn sink;
    void *opaque;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    atomic_bool listening;
};

/* Read every partition from its next offset (absolute: nothing is skipped). */
static rd_kafka_resp_err_t assign_all(gw_result_feed_t *f)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(f->count);
    rd_kafka_resp_err_t kerr;

    for (int32_t p = 0; p < f->count; p++)
        rd_kafka_topic_partition_list_add(list, f->topic, p)->offset = atomic_load(&f->next[p]);
    kerr = rd_kafka_assign(xo_consumer_handle(f->kc), list);
    rd_kafka_topic_partition_list_destroy(list);
    return kerr;
}

/* Every partition starts at its current high watermark, as absolute offsets: a logical
 * "end" would be resolved at the first fetch, after a command may already have results. */
static xo_err_t find_ends(gw_result_feed_t *f, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = xo_consumer_handle(f->kc);
    xo_err_t err;

    err = xo_kafka_partition_count(rk, f->topic, META_TIMEOUT_MS, &f->count, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    f->next = calloc((size_t)f->count, sizeof(*f->next));
    if (!f->next)
        return XO_ERR_NOMEM;
    for (int32_t p = 0; p < f->count; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t kerr =
            rd_kafka_query_watermark_offsets(rk, f->topic, p, &lo, &hi, META_TIMEOUT_MS);
        if (kerr)
            return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "%s: watermarks: %s", f->topic,
                             rd_kafka_err2str(kerr));
        atomic_init(&f->next[p], hi);
    }
    return XO_OK;
}

static void *run(void *arg)
{
    gw_result_feed_t *f = arg;

    while (!atomic_load(&f->stop)) {
        rd_kafka_message_t *m = xo_consumer_poll(f->kc, POLL_MS);
        xo_record_t rec;

        if (!m)
            continue;
        if (!m->err) {
            if (m->partition >= 0 && m->partition < f->count)
                atomic_store(&f->next[m->partition], m->offset + 1);
            xo_record_from_message(&rec, m, f->count);
            f->sink(f->opaque, &rec);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            xo_warn(MOD, "event=consume_error partition=%d error=\"%s\"", (int)m->partition,
                    rd_kafka_err2str(m->err));
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

xo_err_t gw_result_feed_start(const xo_config_t *cfg, const char *topic, int fetch_wait_ms,
                              gw_result_feed_fn sink, void *opaque, gw_result_feed_t **out,
                              char *errstr, size_t errstr_size)
{
    char wait[16];
    /* clang-format off */
    const char *const extra[] = {
        "fetch.wait.max.ms",      wait,       /* see result_feed.h */
        "fetch.error.backoff.ms", "50",
        "enable.partition.eof",   "false",
        /* a position out of range (results retained less long than the feed was off):
         * from the oldest kept, never past a result */
        "auto.offset.reset",      "earliest",
        NULL};
    /* clang-format on */
    gw_result_feed_t *f = calloc(1, sizeof(*f));
    xo_err_t err;

    *out = NULL;
    if (!f)
        return XO_ERR_NOMEM;
    snprintf(wait, sizeof(wait), "%d", fetch_wait_ms);
    snprintf(f->topic, sizeof(f->topic), "%s", topic);
    f->sink = sink;
    f->opaque = opaque;
    atomic_init(&f->stop, false);
    atomic_init(&f->listening, false); /* nothing assigned yet */
    err = xo_consumer_new(cfg, NULL, extra, &f->kc, errstr, errstr_size);
    if (err == XO_OK)
        err = find_ends(f, errstr, errstr_size);
    if (err != XO_OK)
        goto fail;
    if (pthread_create(&f->thread, NULL, run, f) != 0) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "cannot start the results thread");
        goto fail;
    }
    f->thread_started = true;
    xo_info(MOD, "event=started topic=%s partitions=%d fetch_wait_ms=%d", topic, (int)f->count,
            fetch_wait_ms);
    *out = f;
    return XO_OK;
fail:
    gw_result_feed_stop(f);
    return err;
}

void gw_result_feed_listen(gw_result_feed_t *f, bool on)
{
    rd_kafka_resp_err_t kerr;

    if (!f || atomic_load(&f->listening) == on)
        return;
    /* Assigned from the positions the thread recorded, or unassigned: librdkafka's
     * pause/resume of a partition that never delivered a message resumes from
     * auto.offset.reset, and a resumed partition may wait up to a second for its fetch. */
    kerr = on ? assign_all(f) : rd_kafka_assign(xo_consumer_handle(f->kc), NULL);
    if (kerr) { /* the state stays as it was: the next call tries again */
        xo_warn(MOD, "event=%s_failed error=\"%s\"", on ? "assign" : "unassign",
                rd_kafka_err2str(kerr));
        return;
    }
    atomic_store(&f->listening, on);
    xo_dbg(XO_DBG_KAFKA, MOD, "event=%s", on ? "listening" : "idle");
}

bool gw_result_feed_listening(const gw_result_feed_t *f)
{
    return f && atomic_load(&((gw_result_feed_t *)f)->listening);
}

void gw_result_feed_stop(gw_result_feed_t *f)
{
    if (!f)
        return;
    atomic_store(&f->stop, true);
    if (f->thread_started)
        pthread_join(f->thread, NULL);
    xo_consumer_free(f->kc);
    free(f->next);
    free(f);
}
