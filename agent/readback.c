/*
 * readback.c - reads this pool's keys back from xo.objects (its partition, from the start
 * to the high watermark taken at the start), so that a resync can tombstone every key that
 * no longer exists in XAPI. This is how the agent stays stateless across restarts.
 * Must not publish anything.
 */
#include <string.h>

#include "agent.h"
#include "xo_log.h"

#define READBACK_TIMEOUT_MS 120000

/* Only the keys matter, and the records are read once in order: librdkafka's default
 * prefetch (up to 64 MiB of queued records) only raised the agent's peak memory, by 15 to
 * 20 MiB on a 10,000-VM pool's 76,544 records. But librdkafka (2.0) stops fetching once its
 * queue holds more than queued.max.messages.kbytes and looks again only when its broker
 * thread next wakes up, up to a second later, however fast this loop empties the queue: at
 * 2 MiB a resync's read-back of 48 MB of records stalled 0 to 3 times (0.1 to 2 s instead
 * of 0.1 s). 8 MiB is reached less often at the same peak memory, and nudge_fetcher() cuts
 * what is left (docs/benchmarks.md, issue 16 item 5, the full sync's wall clock).
 * auto.offset.reset: a low watermark gone meanwhile (retention, compaction) restarts at the
 * oldest record. */
static const char *const readback_conf[] = {"queued.max.messages.kbytes", "8192",
                                            "auto.offset.reset", "earliest", NULL};

/* How long the read-back waits for a record before it nudges librdkafka's fetcher; the wait
 * doubles after each nudge that brought nothing, up to the second librdkafka waits anyway. */
#define NUDGE_FIRST_MS 50
#define NUDGE_MAX_MS   1000

/* Nothing came for a while before the high watermark: the fetcher may be waiting for its
 * next wake-up with an empty queue. A seek to the position this loop reached (the queue is
 * empty: nothing is skipped, nothing read twice) is an operation for the broker thread: it
 * wakes, and fetches again at once. A fetch in flight is cut short and re-sent, so on a slow
 * broker the doubling wait soon leaves it time to answer. */
static int nudge_fetcher(agent_t *a, xo_consumer_t *c, int64_t next, int wait_ms)
{
    if (xo_consumer_seek(c, a->topics.objects, a->partition, next) != XO_OK)
        xo_dbg(XO_DBG_SYNC, AGENT_MOD, "event=readback_seek_refused offset=%lld", (long long)next);
    return wait_ms * 2 < NUDGE_MAX_MS ? wait_ms * 2 : NUDGE_MAX_MS;
}

static void fold_message(agent_t *a, const rd_kafka_message_t *m, xo_strmap_t *keys,
                         int64_t *max_gen, const char *sync_key, size_t prefix_len)
{
    char key[512];

    if (!m->key || m->key_len >= sizeof(key))
        return;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    if (strncmp(key, a->pool_uuid, prefix_len) != 0 || key[prefix_len] != '/')
        return; /* another pool sharing the partition */
    if (strcmp(key, sync_key) == 0) {
        json_object *o;
        if (m->payload && xo_msg_parse(XO_MSG_SYNC, m->payload, m->len, &o, NULL, 0) == XO_OK) {
            int64_t g = xo_msg_int(o, "gen", 0);
            if (g > *max_gen)
                *max_gen = g;
            json_object_put(o);
        }
        return;
    }
    if (m->payload)
        xo_strmap_set(keys, key, AGENT_KEY_READ_BACK);
    else
        xo_strmap_del(keys, key);
}

xo_err_t agent_read_back(agent_t *a, xo_strmap_t *keys, int64_t *max_gen)
{
    char errstr[512], sync_key[128];
    xo_consumer_t *c = NULL;
    int64_t lo = 0, hi = 0, next = 0, deadline = xo_now_ms() + READBACK_TIMEOUT_MS;
    int wait_ms = NUDGE_FIRST_MS, nudges = 0;
    size_t prefix_len = strlen(a->pool_uuid);
    xo_err_t err;

    *max_gen = 0;
    xo_object_key(sync_key, sizeof(sync_key), a->pool_uuid, NULL, NULL);
    err = xo_consumer_new(a->cfg, NULL, readback_conf, &c, errstr, sizeof(errstr));
    if (err == XO_OK)
        err = xo_consumer_watermarks(c, a->topics.objects, a->partition, &lo, &hi, 10000);
    /* From the low watermark as a concrete offset: the logical "beginning" costs one more
     * offset lookup, which librdkafka retries after 500 ms when the new consumer does not
     * know the partition's leader yet (half of the resyncs measured). */
    if (err == XO_OK && hi > lo)
        err =
            xo_consumer_assign(c, a->topics.objects, &a->partition, 1, lo, errstr, sizeof(errstr));
    next = lo;
    while (err == XO_OK && next < hi) {
        rd_kafka_message_t *m = xo_consumer_poll(c, wait_ms);
        if (agent_stop || xo_now_ms() > deadline)
            err = XO_ERR_TIMEOUT;
        if (!m) {
            wait_ms = nudge_fetcher(a, c, next, wait_ms);
            nudges++;
            continue;
        }
        if (!m->err) {
            fold_message(a, m, keys, max_gen, sync_key, prefix_len);
            next = m->offset + 1;
            wait_ms = NUDGE_FIRST_MS;
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            xo_warn(AGENT_MOD, "event=readback_error reason=\"%s\"", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    if (err != XO_OK)
        xo_warn(AGENT_MOD, "event=readback_failed error=%s read=%lld of=%lld", xo_strerror(err),
                (long long)(next - lo), (long long)(hi - lo));
    else
        xo_info(AGENT_MOD, "event=readback keys=%zu records=%lld gen=%lld nudges=%d",
                xo_strmap_count(keys), (long long)(hi - lo), (long long)*max_gen, nudges);
    xo_consumer_free(c);
    return err;
}
