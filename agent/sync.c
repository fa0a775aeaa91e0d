/*
 * sync.c - the full resync of the topic contract: read the pool's keys back from Kafka,
 * take XAPI's full dump (event.from with the empty token, streamed event by event), publish
 * it, tombstone every key that no longer exists, then publish the _sync marker with a new
 * generation. Afterwards xo.objects, compacted, equals the pool's current state.
 */
#include <string.h>

#include "agent.h"
#include "xo_log.h"

typedef struct {
    agent_t *a;
    int64_t malformed;
} dump_ctx_t;

static xo_err_t on_dump_event(json_object *ev, const xo_xmlrpc_raw_t *raw, void *opaque)
{
    dump_ctx_t *ctx = opaque;
    agent_t *a = ctx->a;
    xo_err_t err;
    char key[512], cls[AGENT_CLASS_MAX];
    const char *ref;

    if (agent_event_key(a, ev, key, sizeof(key), cls, &ref) == XO_OK) {
        err = agent_publish_event_keyed(a, ev, raw, key, cls, ref);
        if (err == XO_ERR_PARSE) /* the object exists: counted, its last good record stays */
            agent_note_kept(a, key, cls);
    } else {
        err = agent_publish_event_raw(a, ev, raw); /* logs it, and says XO_ERR_PARSE */
    }
    if (err == XO_ERR_PARSE) {
        ctx->malformed++;
        return XO_OK; /* skip it; the count check will tell whether we are complete */
    }
    return err;
}

/* Remember every host's address as a failover candidate (from the dump's host records). */
static void learn_hosts(agent_t *a)
{
    char errstr[256];
    json_object *value = NULL;

    if (agent_call(a, "host.get_all_records", NULL, 0, &value, NULL, errstr, sizeof(errstr)) !=
        XO_OK)
        return;
    json_object_object_foreach(value, ref, rec)
    {
        json_object *addr;
        (void)ref;
        if (json_object_object_get_ex(rec, "address", &addr))
            agent_add_host(a, json_object_get_string(addr), false);
    }
    json_object_put(value);
}

/* Every key read back that the dump did not publish (nor keep: agent_note_kept): not in XAPI
 * any more, but in Kafka. Each is tombstoned and leaves the published set. */
static xo_err_t tombstone_missing(agent_t *a, int64_t *n)
{
    size_t pos = 0;
    int64_t records;
    const char *key;

    *n = 0;
    while ((key = xo_strmap_next(a->published, &pos, &records))) {
        xo_kafka_header_t del = {XO_HDR_OP, "del", 3};
        xo_err_t err;
        if (records != AGENT_KEY_READ_BACK)
            continue;
        err = agent_send(a, key, NULL, 0, &del, 1);
        if (err != XO_OK)
            return err;
        agent_note_deleted(a, key);
        (*n)++;
        xo_strmap_del(a->published, key); /* frees key; the walk goes on from pos */
    }
    return XO_OK;
}

static xo_err_t dump(agent_t *a, dump_ctx_t *ctx, json_object **result, char *errstr,
                     size_t errstr_size)
{
    xo_xapi_raw_stream_t stream = agent_event_stream(on_dump_event, ctx);
    json_object *classes = json_object_new_array();
    json_object *full = json_object_new_array();
    xo_xapi_error_t xerr = {0};
    xo_err_t err;

    json_object_array_add(classes, json_object_new_string("*"));
    json_object_array_add(full, json_object_new_string(a->session));
    json_object_array_add(full, classes);
    json_object_array_add(full, json_object_new_string(""));
    json_object_array_add(full, json_object_new_double(1.0));
    err = xo_xapi_call_stream_raw(a->xapi, "event.from", full, 0, &stream, result, &xerr, errstr,
                                  errstr_size);
    if (err == XO_ERR_XAPI)
        snprintf(errstr, errstr_size, "%s", xerr.code);
    xo_xapi_error_clear(&xerr);
    json_object_put(full);
    return err;
}

/* Records still queued from before the resync (a back-pressure episode leaves up to the
 * whole queue behind) would land after the read-back and escape its tombstones: an object
 * deleted meanwhile would stay on the topic for good. Wait until each one is delivered or
 * has failed (the resync republishes whatever failed); a queue that does not drain within
 * DRAIN_MS fails the sync as an unreadable topic does, and the agent retries. */
#define DRAIN_MS 60000
static xo_err_t drain_queue(agent_t *a)
{
    int64_t until = xo_now_ms() + DRAIN_MS;

    if (!a->producer)
        return XO_OK; /* unit tests: records go to the send hook at once */
    while (xo_producer_flush(a->producer, 1000) != XO_OK) {
        if (agent_stop || xo_now_ms() >= until) {
            xo_warn(AGENT_MOD, "event=resync_queue_not_drained timeout_ms=%d", DRAIN_MS);
            return XO_ERR_KAFKA;
        }
    }
    return XO_OK;
}

xo_err_t agent_full_sync(agent_t *a)
{
    char errstr[512];
    xo_strmap_t *read_back = xo_strmap_new();
    dump_ctx_t ctx = {a, 0};
    json_object *result = NULL, *token, *counts;
    int64_t max_gen = 0, tombstones = 0, t0 = xo_now_ms(), t_dump = 0, t_dumped = 0, t_end;
    xo_err_t err;

    agent_set_state(a, AGENT_SYNCING, NULL);
    atomic_store(&a->need_resync, false);
    err = read_back ? drain_queue(a) : XO_ERR_NOMEM;
    if (err == XO_OK)
        err = agent_read_back(a, read_back, &max_gen);
    if (err != XO_OK)
        goto out;
    a->gen = max_gen + 1;
    pthread_mutex_lock(&a->status_lock);
    a->status.gen = a->gen;
    pthread_mutex_unlock(&a->status_lock);
    learn_hosts(a);
    /* The keys read back become the published set, each record of the dump marks its key,
     * and what stays unmarked is tombstoned: one look-up per record (note_published: the
     * mark, which returns its count) and one copy of each key (a second set, struck off as
     * the dump went, cost a second look-up and a second copy). */
    xo_strmap_free(a->published);
    a->published = read_back;
    read_back = NULL;
    xo_strmap_clear(a->class_counts);
    xo_strmap_clear(a->ignored);
    t_dump = xo_now_ms();
    err = dump(a, &ctx, &result, errstr, sizeof(errstr));
    t_dumped = xo_now_ms();
    if (err != XO_OK) {
        xo_warn(AGENT_MOD, "event=dump_failed error=%s reason=\"%s\"", xo_strerror(err), errstr);
        goto out;
    }
    if (!json_object_object_get_ex(result, "token", &token) ||
        !json_object_is_type(token, json_type_string) ||
        json_object_get_string_len(token) >= (int)sizeof(a->token)) {
        xo_warn(AGENT_MOD, "event=dump_failed reason=\"no token in event.from answer\"");
        err = XO_ERR_PARSE;
        goto out;
    }
    snprintf(a->token, sizeof(a->token), "%s", json_object_get_string(token));
    err = tombstone_missing(a, &tombstones);
    if (err != XO_OK)
        goto out;
    if (json_object_object_get_ex(result, "valid_ref_counts", &counts))
        agent_counts_agree(a, counts, true);
    err = agent_publish_sync_marker(a);
    if (err != XO_OK)
        goto out;
    agent_count(a, &a->status.resyncs, 1);
    t_end = xo_now_ms();
    /* The phases of ms: before the dump (drain, read-back, hosts), the dump, after it. */
    xo_info(AGENT_MOD,
            "event=synced pool=%s gen=%lld objects=%zu tombstones=%lld malformed=%lld "
            "before_dump_ms=%lld dump_ms=%lld after_dump_ms=%lld ms=%lld",
            a->pool_uuid, (long long)a->gen, xo_strmap_count(a->published), (long long)tombstones,
            (long long)ctx.malformed, (long long)(t_dump - t0), (long long)(t_dumped - t_dump),
            (long long)(t_end - t_dumped), (long long)(t_end - t0));
out:
    json_object_put(result);
    xo_strmap_free(read_back);
    return err;
}
