/*
 * publish.c - turns XAPI events into xo.objects records on the pool's partition, in XAPI's
 * order: add/mod as full records, del as tombstones (header xo-op: del), and the _sync
 * marker. Keeps the set of published keys and per-class counts. When librdkafka's queue
 * is full it waits (back-pressure: the XAPI thread stops reading) rather than dropping.
 * Snapshots normally arrive as JSON text written by the decoder (the ingest's hot path:
 * no tree per record); a tree is built only for a record too large to publish whole.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "vm_refs.h"
#include "xo_log.h"

#define MAX_FIELD_BYTES 65536 /* longer string fields of an oversized record are cut */

/* limits.max_record_bytes: read once, not per record (a search of the settings table). */
static long record_limit(agent_t *a)
{
    if (!a->max_record_bytes)
        a->max_record_bytes = xo_config_get_int(a->cfg, "limits.max_record_bytes");
    return a->max_record_bytes;
}

/* One attempt: the producer, or the hook a unit test installed (agent.h). */
static xo_err_t produce(agent_t *a, const char *key, const char *value, size_t len,
                        const xo_kafka_header_t *h, size_t nh, char *errstr, size_t errstr_size)
{
    if (a->send_hook)
        return a->send_hook(a->send_hook_opaque, a->topics.objects, a->partition, key, strlen(key),
                            value, len, h, nh, errstr, errstr_size);
    return xo_producer_send(a->producer, a->topics.objects, a->partition, key, strlen(key), value,
                            len, h, nh, errstr, errstr_size);
}

xo_err_t agent_send(agent_t *a, const char *key, const char *value, size_t len,
                    const xo_kafka_header_t *h, size_t nh)
{
    char errstr[256];
    xo_err_t err;

    for (;;) {
        err = produce(a, key, value, len, h, nh, errstr, sizeof(errstr));
        if (err != XO_ERR_LIMIT)
            break;
        if (!atomic_exchange(&a->backpressure, true))
            xo_warn(AGENT_MOD, "event=backpressure reason=\"Kafka queue full: pausing XAPI\"");
        if (!agent_sleep(20))
            return XO_ERR_TIMEOUT;
    }
    if (atomic_exchange(&a->backpressure, false)) {
        xo_info(AGENT_MOD, "event=backpressure_end");
        atomic_store(&a->need_resync, true); /* the contract: resync once Kafka is back */
    }
    if (err != XO_OK)
        xo_error(AGENT_MOD, "event=produce_failed key=%s reason=\"%s\"", key, errstr);
    else
        atomic_fetch_add(&a->published_count, 1);
    return err;
}

/* Cut over-long string fields so one hostile record cannot exceed Kafka's message size. */
static void shrink_snapshot(json_object *snap)
{
    json_object_object_foreach(snap, k, v)
    {
        int len = json_object_get_string_len(v);
        if (json_object_is_type(v, json_type_string) && len > MAX_FIELD_BYTES) {
            char suffix[64];
            size_t keep = 1024;
            char *cut = malloc(keep + sizeof(suffix));
            if (!cut)
                continue;
            snprintf(suffix, sizeof(suffix), "...[truncated %d bytes]", len);
            memcpy(cut, json_object_get_string(v), keep);
            strcpy(cut + keep, suffix);
            json_object_object_add(snap, k, json_object_new_string(cut));
            free(cut);
        }
    }
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* A VM's record or tombstone keeps a->vm_refs in step with XAPI (whatever Kafka said: the
 * commands call XAPI with what it holds). A record without a uuid teaches nothing. */
static void note_vm(agent_t *a, const char *cls, const char *ref, const char *uuid)
{
    if (a->vm_refs && uuid && strcmp(cls, "vm") == 0)
        agent_vm_refs_put(a->vm_refs, uuid, ref);
}

void agent_note_deleted(agent_t *a, const char *key)
{
    char buf[512], *pool, *cls, *ref;

    if (!a->vm_refs || strlen(key) >= sizeof(buf))
        return;
    memcpy(buf, key, strlen(key) + 1);
    if (xo_object_key_split(buf, &pool, &cls, &ref) == XO_OK && ref && strcmp(cls, "vm") == 0)
        agent_vm_refs_forget(a->vm_refs, ref);
}

xo_err_t agent_publish_tombstone(agent_t *a, const char *key, const char *cls)
{
    xo_kafka_header_t del = {XO_HDR_OP, "del", 3};
    xo_err_t err = agent_send(a, key, NULL, 0, &del, 1);
    int64_t n = AGENT_KEY_READ_BACK;

    agent_note_deleted(a, key);

    if (err == XO_OK && xo_strmap_get(a->published, key, &n)) {
        xo_strmap_del(a->published, key);
        if (n > AGENT_KEY_READ_BACK) /* a key only read back was not counted in its class */
            xo_strmap_add(a->class_counts, cls, -1, NULL);
    }
    return err;
}

/* After a record was sent: the key is published, its class counts it once. A key read back
 * by a full sync is already in the set (no second copy of it): its first record counts. */
static void note_published(agent_t *a, const char *key, const char *cls)
{
    int64_t n = 0;

    if (xo_strmap_add(a->published, key, 1, &n) == XO_OK && n == AGENT_KEY_READ_BACK + 1)
        xo_strmap_add(a->class_counts, cls, 1, NULL);
}

void agent_note_kept(agent_t *a, const char *key, const char *cls)
{
    note_published(a, key, cls);
}

static xo_err_t publish_record(agent_t *a, const char *key, const char *cls, const char *ref,
                               const char *op, int64_t id, json_object *snap)
{
    json_object *uuid = NULL;
    xo_object_msg_t m = {a->pool_uuid, cls, ref, NULL, op, id, a->gen, xo_now_ms(), snap};
    long max = record_limit(a);
    size_t len;
    char *value;
    xo_err_t err;

    if (json_object_object_get_ex(snap, "uuid", &uuid) &&
        json_object_is_type(uuid, json_type_string))
        m.uuid = json_object_get_string(uuid);
    note_vm(a, cls, ref, m.uuid);
    value = xo_object_msg_encode(&m, &len);
    if (value && (long)len > max) {
        xo_error(AGENT_MOD, "event=record_too_large key=%s bytes=%zu max=%ld action=truncate", key,
                 len, max);
        free(value);
        shrink_snapshot(snap);
        value = xo_object_msg_encode(&m, &len);
    }
    if (!value)
        return XO_ERR_NOMEM;
    err = agent_send(a, key, value, len, NULL, 0);
    free(value);
    if (err == XO_OK)
        note_published(a, key, cls);
    return err;
}

/* The snapshot as the tree json-c parses its text into (numbers keep their text). */
static json_object *snapshot_tree(const xo_xmlrpc_raw_t *raw)
{
    json_tokener *tok = json_tokener_new_ex(XO_XMLRPC_DEFAULT_MAX_DEPTH + 2);
    json_object *snap = tok ? json_tokener_parse_ex(tok, raw->json, (int)raw->len) : NULL;

    json_tokener_free(tok);
    return snap;
}

/* The record written around the snapshot's text into the reused buffer; one larger than
 * limits.max_record_bytes takes the tree path, which cuts its long strings. */
static xo_err_t publish_raw(agent_t *a, const char *key, const char *cls, const char *ref,
                            const char *op, int64_t id, const xo_xmlrpc_raw_t *raw)
{
    xo_object_msg_t m = {a->pool_uuid, cls, ref, raw->capture, op, id, a->gen, xo_now_ms(), NULL};
    long max = record_limit(a);
    json_object *snap;
    xo_err_t err;

    if (xo_object_msg_write(&m, raw->json, raw->len, &a->record) != XO_OK)
        return XO_ERR_NOMEM;
    if ((long)a->record.len > max && raw->len < INT_MAX) { /* publish_record notes the VM */
        snap = snapshot_tree(raw);
        if (!snap)
            return XO_ERR_NOMEM;
        err = publish_record(a, key, cls, ref, op, id, snap);
        json_object_put(snap);
        return err;
    }
    note_vm(a, cls, ref, raw->capture);
    err = agent_send(a, key, a->record.p, a->record.len, NULL, 0);
    if (err == XO_OK)
        note_published(a, key, cls);
    return err;
}

xo_err_t agent_event_key(const agent_t *a, json_object *ev, char *key, size_t key_size,
                         char cls[AGENT_CLASS_MAX], const char **ref)
{
    json_object *jcls, *jref;

    if (!json_object_object_get_ex(ev, "class", &jcls) ||
        !json_object_object_get_ex(ev, "ref", &jref) ||
        !json_object_is_type(jcls, json_type_string) ||
        !json_object_is_type(jref, json_type_string) ||
        json_object_get_string_len(jcls) >= AGENT_CLASS_MAX)
        return XO_ERR_PARSE;
    snprintf(cls, AGENT_CLASS_MAX, "%s", json_object_get_string(jcls));
    lower(cls);
    *ref = json_object_get_string(jref);
    return xo_object_key(key, key_size, a->pool_uuid, cls, *ref) == XO_OK ? XO_OK : XO_ERR_PARSE;
}

xo_err_t agent_publish_event(agent_t *a, json_object *ev)
{
    return agent_publish_event_raw(a, ev, NULL);
}

static void warn_malformed(void)
{
    xo_warn(AGENT_MOD, "event=malformed_event reason=\"missing or bad class, ref or operation\"");
}

xo_err_t agent_publish_event_raw(agent_t *a, json_object *ev, const xo_xmlrpc_raw_t *raw)
{
    char cls[AGENT_CLASS_MAX], key[512];
    const char *ref;

    if (agent_event_key(a, ev, key, sizeof(key), cls, &ref) != XO_OK) {
        warn_malformed();
        json_object_put(ev);
        return XO_ERR_PARSE;
    }
    return agent_publish_event_keyed(a, ev, raw, key, cls, ref);
}

xo_err_t agent_publish_event_keyed(agent_t *a, json_object *ev, const xo_xmlrpc_raw_t *raw,
                                   const char *key, const char *cls, const char *ref)
{
    json_object *jop, *jid, *snap = NULL;
    const char *op;
    int64_t id;
    xo_err_t err = XO_ERR_PARSE;

    if (!json_object_object_get_ex(ev, "operation", &jop)) {
        warn_malformed();
        goto out;
    }
    op = json_object_get_string(jop);
    id = json_object_object_get_ex(ev, "id", &jid) ? json_object_get_int64(jid) : 0;
    if (strcmp(op, "del") == 0) {
        err = agent_publish_tombstone(a, key, cls);
    } else if ((strcmp(op, "add") == 0 || strcmp(op, "mod") == 0) && raw) {
        err = publish_raw(a, key, cls, ref, op, id, raw);
    } else if ((strcmp(op, "add") == 0 || strcmp(op, "mod") == 0) &&
               json_object_object_get_ex(ev, "snapshot", &snap) &&
               json_object_is_type(snap, json_type_object)) {
        err = publish_record(a, key, cls, ref, op, id, snap);
    } else {
        xo_warn(AGENT_MOD, "event=malformed_event key=%s reason=\"bad operation or snapshot\"",
                key);
        goto out;
    }
    pthread_mutex_lock(&a->status_lock);
    a->status.events++;
    a->status.last_event_id = id;
    a->status.last_event_ts = xo_now_ms();
    pthread_mutex_unlock(&a->status_lock);
out:
    json_object_put(ev);
    return err;
}

xo_xapi_raw_stream_t agent_event_stream(xo_xmlrpc_raw_elem_cb cb, void *opaque)
{
    static const char *const path[] = {"Value", "events", NULL};
    xo_xapi_raw_stream_t s = {path, "snapshot", "uuid", cb, opaque};

    return s;
}

xo_err_t agent_publish_sync_marker(agent_t *a)
{
    char key[128];
    size_t len;
    char *value = xo_sync_msg_encode(a->pool_uuid, a->id, a->gen,
                                     (int64_t)xo_strmap_count(a->published), xo_now_ms(), &len);
    xo_err_t err;

    if (!value)
        return XO_ERR_NOMEM;
    xo_object_key(key, sizeof(key), a->pool_uuid, NULL, NULL);
    err = agent_send(a, key, value, len, NULL, 0);
    free(value);
    return err;
}
