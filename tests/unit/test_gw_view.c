/* Unit tests of gateway/view.c: apply/delete/sync/agent, indexes, emitted changes, links
 * resolved later (pending), dependents remapped when a linked record changes, and the
 * objects of pools no agent announced held back until their heartbeat arrives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view/view.h"

typedef struct {
    int enters, exits;
    char last_id[128];
    char last_json[8192];
} rec_t;

static void emit(void *opaque, const char *id, const char *json, size_t len)
{
    rec_t *r = opaque;
    snprintf(r->last_id, sizeof(r->last_id), "%s", id);
    if (json) {
        r->enters++;
        snprintf(r->last_json, sizeof(r->last_json), "%.*s", (int)len, json);
    } else {
        r->exits++;
        r->last_json[0] = '\0';
    }
}

static xo_err_t put(gw_view_t *v, const char *pool, const char *cls, const char *ref,
                    const char *snap_json)
{
    char msg[8192];
    json_object *snap = json_tokener_parse(snap_json);
    xo_err_t err;
    char errstr[128];
    snprintf(msg, sizeof(msg),
             "{\"v\":1,\"pool\":\"%s\",\"class\":\"%s\",\"ref\":\"%s\",\"op\":\"add\","
             "\"event_id\":1,\"ts\":1,\"gen\":1,\"snapshot\":%s}",
             pool, cls, ref, snap_json);
    assert_non_null(snap);
    err = gw_view_apply_object(v, pool, cls, ref, snap, msg, strlen(msg), errstr, sizeof(errstr));
    json_object_put(snap);
    return err;
}

static json_object *get_obj(gw_view_t *v, const char *id)
{
    gw_obj_info_t o;
    if (!gw_view_get(v, id, &o) || !o.json)
        return NULL;
    return json_tokener_parse(o.json);
}

static const char *sfield(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

#define POOL "p-0000"

static void test_add_get_delete(void **state)
{
    gw_view_t *v = gw_view_new();
    rec_t r = {0};
    json_object *o;
    gw_view_stats_t st;
    (void)state;
    gw_view_set_emit(v, emit, &r);
    gw_view_wrlock(v);
    assert_int_equal(put(v, POOL, "vm", "OpaqueRef:1",
                         "{\"uuid\":\"u1\",\"name_label\":\"a\",\"power_state\":\"Halted\"}"),
                     XO_OK);
    assert_int_equal(r.enters, 1);
    assert_string_equal(r.last_id, "u1");
    /* same record again: no visible change, no emit */
    assert_int_equal(put(v, POOL, "vm", "OpaqueRef:1",
                         "{\"uuid\":\"u1\",\"name_label\":\"a\",\"power_state\":\"Halted\"}"),
                     XO_OK);
    assert_int_equal(r.enters, 1);
    assert_int_equal(put(v, POOL, "vm", "OpaqueRef:1",
                         "{\"uuid\":\"u1\",\"name_label\":\"b\",\"power_state\":\"Running\"}"),
                     XO_OK);
    assert_int_equal(r.enters, 2);
    o = get_obj(v, "u1");
    assert_string_equal(sfield(o, "name_label"), "b");
    assert_string_equal(sfield(o, "power_state"), "Running");
    assert_string_equal(sfield(o, "type"), "VM");
    assert_string_equal(sfield(o, "$pool"), POOL);
    assert_string_equal(sfield(o, "_xapiRef"), "OpaqueRef:1");
    json_object_put(o);
    gw_view_stats(v, &st);
    assert_int_equal(st.objects, 1);
    assert_int_equal(st.by_type[GW_T_VM], 1);
    assert_int_equal(gw_view_apply_delete(v, POOL, "vm", "OpaqueRef:1"), XO_OK);
    assert_int_equal(r.exits, 1);
    assert_string_equal(r.last_id, "u1");
    assert_null(get_obj(v, "u1"));
    assert_int_equal(gw_view_apply_delete(v, POOL, "vm", "OpaqueRef:1"), XO_ERR_NOTFOUND);
    gw_view_stats(v, &st);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.by_type[GW_T_VM], 0);
    gw_view_unlock(v);
    gw_view_free(v);
}

static void test_classes_without_shape_are_silent(void **state)
{
    gw_view_t *v = gw_view_new();
    rec_t r = {0};
    gw_obj_info_t o;
    (void)state;
    gw_view_set_emit(v, emit, &r);
    assert_int_equal(put(v, POOL, "vm_metrics", "OpaqueRef:m", "{\"uuid\":\"m1\"}"), XO_OK);
    assert_int_equal(r.enters, 0);
    assert_true(gw_view_get(v, "m1", &o));
    assert_null(o.json);
    assert_int_equal(gw_view_apply_delete(v, POOL, "vm_metrics", "OpaqueRef:m"), XO_OK);
    assert_int_equal(r.exits, 0);
    gw_view_free(v);
}

static void test_links_resolve_after_settle(void **state)
{
    gw_view_t *v = gw_view_new();
    gw_view_stats_t st;
    json_object *o, *a;
    (void)state;
    /* the VBD arrives before its VM and VDI: links pending until settle */
    assert_int_equal(put(v, POOL, "vbd", "OpaqueRef:b",
                         "{\"uuid\":\"vbd1\",\"VM\":\"OpaqueRef:vm\",\"VDI\":\"OpaqueRef:d\"}"),
                     XO_OK);
    o = get_obj(v, "vbd1");
    assert_false(json_object_object_get_ex(o, "VM", NULL));
    json_object_put(o);
    gw_view_stats(v, &st);
    assert_int_equal(st.pending, 1);
    assert_int_equal(
        put(v, POOL, "vm", "OpaqueRef:vm",
            "{\"uuid\":\"vm1\",\"VBDs\":[\"OpaqueRef:b\"],\"power_state\":\"Halted\"}"),
        XO_OK);
    assert_int_equal(put(v, POOL, "vdi", "OpaqueRef:d", "{\"uuid\":\"vdi1\"}"), XO_OK);
    gw_view_settle(v);
    o = get_obj(v, "vbd1");
    assert_string_equal(sfield(o, "VM"), "vm1");
    assert_string_equal(sfield(o, "VDI"), "vdi1");
    json_object_put(o);
    o = get_obj(v, "vm1");
    assert_true(json_object_object_get_ex(o, "$VBDs", &a));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "vbd1");
    json_object_put(o);
    gw_view_stats(v, &st);
    assert_int_equal(st.pending, 0);
    gw_view_free(v);
}

/* A host whose resident VMs arrive after it: "OpaqueRef:h" listing @p n VMs, the last of
 * them never arriving when @p dangling. */
static void put_host_of_vms(gw_view_t *v, int n, bool dangling)
{
    char snap[4096];
    size_t len = (size_t)snprintf(snap, sizeof(snap), "{\"uuid\":\"host1\",\"resident_VMs\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(snap + len, sizeof(snap) - len, "%s\"OpaqueRef:vm%d\"",
                                i ? "," : "", i);
    snprintf(snap + len, sizeof(snap) - len, "%s]}", dangling ? ",\"OpaqueRef:gone\"" : "");
    assert_int_equal(put(v, POOL, "host", "OpaqueRef:h", snap), XO_OK);
}

static void put_vms(gw_view_t *v, int from, int to)
{
    char ref[32], snap[128];
    for (int i = from; i < to; i++) {
        snprintf(ref, sizeof(ref), "OpaqueRef:vm%d", i);
        snprintf(snap, sizeof(snap),
                 "{\"uuid\":\"vm-%d\",\"power_state\":\"Running\",\"resident_on\":"
                 "\"OpaqueRef:h\"}",
                 i);
        assert_int_equal(put(v, POOL, "vm", ref, snap), XO_OK);
    }
}

static uint64_t remaps_of(gw_view_t *v)
{
    gw_view_stats_t st;
    gw_view_stats(v, &st);
    return st.remaps;
}

/* An object awaiting many keys is mapped again once per settle, however many of its keys
 * arrived in the batch, and once at its pool's _sync: a host of thousands of resident VMs
 * would otherwise be remapped once per VM, each remap resolving all of them. */
static void test_pending_retried_once_per_settle(void **state)
{
    gw_view_t *v = gw_view_new();
    gw_view_stats_t st;
    json_object *o, *a;
    uint64_t r0;
    (void)state;

    put_host_of_vms(v, 20, true);
    r0 = remaps_of(v);
    for (int batch = 0; batch < 4; batch++) {
        put_vms(v, batch * 5, batch * 5 + 5);
        gw_view_settle(v);
        assert_int_equal(remaps_of(v), r0 + (uint64_t)batch + 1);
    }
    o = get_obj(v, "host1");
    assert_true(json_object_object_get_ex(o, "residentVms", &a));
    assert_int_equal(json_object_array_length(a), 21);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "vm-0");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 19)), "vm-19");
    assert_null(json_object_array_get_idx(a, 20));
    json_object_put(o);
    gw_view_stats(v, &st);
    assert_int_equal(st.pending, 1); /* still awaiting OpaqueRef:gone */
    /* the _sync retries every pending object of the pool once */
    assert_int_equal(gw_view_apply_sync(v, POOL, 1, 21, 1), XO_OK);
    gw_view_settle(v);
    assert_int_equal(remaps_of(v), r0 + 5);
    gw_view_settle(v);
    assert_int_equal(remaps_of(v), r0 + 5);
    gw_view_free(v);
}

static size_t waiters_of(gw_view_t *v)
{
    gw_view_stats_t st;
    gw_view_stats(v, &st);
    return st.waiters;
}

/* A key that never arrives: an object mapped again and again waits for it once, and the
 * objects deleted while waiting for it do not stay behind as waiters. */
static void test_waiters_bounded(void **state)
{
    gw_view_t *v = gw_view_new();
    char ref[32], snap[160];
    size_t most = 0;
    (void)state;

    for (int i = 0; i < 100; i++) { /* 100 records of a VM resident on a host never seen */
        snprintf(snap, sizeof(snap),
                 "{\"uuid\":\"vm-x\",\"name_label\":\"n%d\",\"resident_on\":\"OpaqueRef:gone\"}",
                 i);
        assert_int_equal(put(v, POOL, "vm", "OpaqueRef:x", snap), XO_OK);
        gw_view_settle(v);
    }
    assert_int_equal(waiters_of(v), 1);
    for (int i = 0; i < 20000; i++) { /* created and deleted, each waiting for that host */
        snprintf(ref, sizeof(ref), "OpaqueRef:t%d", i);
        snprintf(snap, sizeof(snap), "{\"uuid\":\"t-%d\",\"resident_on\":\"OpaqueRef:gone\"}", i);
        assert_int_equal(put(v, POOL, "vm", ref, snap), XO_OK);
        assert_int_equal(gw_view_apply_delete(v, POOL, "vm", ref), XO_OK);
        if (waiters_of(v) > most)
            most = waiters_of(v);
    }
    assert_true(most <= 2048 + 1); /* the table's first size: swept, never grown */
    put_host_of_vms(v, 0, false);  /* "OpaqueRef:h": not the awaited host */
    assert_int_equal(put(v, POOL, "host", "OpaqueRef:gone", "{\"uuid\":\"gone\"}"), XO_OK);
    gw_view_settle(v);
    assert_int_equal(waiters_of(v), 0);
    gw_view_free(v);
}

static void test_dependents_remapped(void **state)
{
    gw_view_t *v = gw_view_new();
    rec_t r = {0};
    json_object *o, *mem, *size;
    (void)state;
    gw_view_set_emit(v, emit, &r);
    assert_int_equal(put(v, POOL, "host_metrics", "OpaqueRef:hm",
                         "{\"uuid\":\"hm1\",\"live\":false,\"memory_total\":\"1073741824\","
                         "\"memory_free\":\"0\"}"),
                     XO_OK);
    assert_int_equal(put(v, POOL, "host", "OpaqueRef:h",
                         "{\"uuid\":\"h1\",\"name_label\":\"h\",\"metrics\":\"OpaqueRef:hm\"}"),
                     XO_OK);
    o = get_obj(v, "h1");
    assert_string_equal(sfield(o, "power_state"), "Halted");
    json_object_put(o);
    /* the metrics change: the host is mapped again and announced */
    r.enters = 0;
    assert_int_equal(put(v, POOL, "host_metrics", "OpaqueRef:hm",
                         "{\"uuid\":\"hm1\",\"live\":true,\"memory_total\":\"2147483648\","
                         "\"memory_free\":\"1073741824\"}"),
                     XO_OK);
    assert_int_equal(r.enters, 1);
    assert_string_equal(r.last_id, "h1");
    o = get_obj(v, "h1");
    assert_string_equal(sfield(o, "power_state"), "Running");
    assert_true(json_object_object_get_ex(o, "memory", &mem));
    assert_true(json_object_object_get_ex(mem, "size", &size));
    assert_int_equal(json_object_get_int64(size), 2147483648LL);
    json_object_put(o);
    gw_view_free(v);
}

static bool count_cb(void *opaque, const gw_obj_info_t *o)
{
    (void)o;
    (*(int *)opaque)++;
    return true;
}

static void test_indexes_by_type_and_pool(void **state)
{
    gw_view_t *v = gw_view_new();
    char ref[64], snap[256];
    int n;
    (void)state;
    for (int i = 0; i < 5000; i++) {
        snprintf(ref, sizeof(ref), "OpaqueRef:%d", i);
        snprintf(snap, sizeof(snap), "{\"uuid\":\"u-%d\",\"power_state\":\"Halted\"}", i);
        assert_int_equal(put(v, i % 2 ? "pool-b" : "pool-a", i % 3 ? "vm" : "network", ref, snap),
                         XO_OK);
    }
    n = 0;
    gw_view_foreach(v, GW_T_VM, NULL, count_cb, &n);
    assert_int_equal(n, 3333);
    n = 0;
    gw_view_foreach(v, GW_T_NONE, "pool-a", count_cb, &n);
    assert_int_equal(n, 2500);
    n = 0;
    gw_view_foreach(v, GW_T_NETWORK, "pool-b", count_cb, &n);
    assert_int_equal(n, 833);
    /* delete half, the tables stay consistent (backward-shift deletion) */
    for (int i = 0; i < 5000; i += 2) {
        snprintf(ref, sizeof(ref), "OpaqueRef:%d", i);
        assert_int_equal(gw_view_apply_delete(v, "pool-a", i % 3 ? "vm" : "network", ref), XO_OK);
    }
    for (int i = 0; i < 5000; i++) {
        gw_obj_info_t o;
        char id[32];
        snprintf(id, sizeof(id), "u-%d", i);
        assert_int_equal(gw_view_get(v, id, &o), i % 2 == 1);
    }
    n = 0;
    gw_view_foreach(v, GW_T_NONE, NULL, count_cb, &n);
    assert_int_equal(n, 2500);
    gw_view_free(v);
}

static void pool_cb(void *opaque, const gw_pool_info_t *p)
{
    gw_pool_info_t *out = opaque;
    *out = *p;
}

static void test_sync_and_agent(void **state)
{
    gw_view_t *v = gw_view_new();
    gw_pool_info_t p;
    json_object *hb = json_tokener_parse("{\"agent\":\"a1\",\"state\":\"live\",\"ts\":5}");
    (void)state;
    assert_int_equal(gw_view_apply_sync(v, POOL, 3, 10, 99), XO_OK);
    assert_int_equal(gw_view_apply_agent(v, POOL, hb, "{}", 2), XO_OK);
    gw_view_foreach_pool(v, pool_cb, &p);
    assert_true(p.synced);
    assert_int_equal(p.sync_gen, 3);
    assert_string_equal(p.agent_state, "live");
    assert_string_equal(p.agent_id, "a1");
    assert_int_equal(gw_view_apply_agent(v, POOL, NULL, NULL, 0), XO_OK);
    gw_view_foreach_pool(v, pool_cb, &p);
    assert_null(p.agent_state);
    json_object_put(hb);
    gw_view_free(v);
}

static void ghost_pool_cb(void *opaque, const gw_pool_info_t *p)
{
    gw_pool_info_t *out = opaque;
    if (!strcmp(p->uuid, "ghost"))
        *out = *p;
}

static int count(gw_view_t *v, const char *pool)
{
    int n = 0;
    gw_view_foreach(v, GW_T_NONE, pool, count_cb, &n);
    return n;
}

/* A pool with records and no heartbeat (a phantom any Kafka writer can make) is held: its
 * objects are neither served nor announced, and cannot shadow a served object's id. */
static void test_unannounced_pool_held(void **state)
{
    gw_view_t *v = gw_view_new();
    rec_t r = {0};
    gw_obj_info_t o;
    gw_pool_info_t p;
    json_object *hb = json_tokener_parse("{\"agent\":\"a1\",\"state\":\"live\",\"ts\":5}");
    (void)state;
    gw_view_set_emit(v, emit, &r);
    gw_view_set_hold_unannounced(v, true);
    assert_int_equal(put(v, "ghost", "vm", "OpaqueRef:9", "{\"uuid\":\"g1\",\"name_label\":\"g\"}"),
                     XO_OK);
    /* the real VM's id in the phantom pool, inserted before the real one (first in probe
     * order): it must not hide the real VM */
    assert_int_equal(
        put(v, "ghost", "vm", "OpaqueRef:8", "{\"uuid\":\"u1\",\"name_label\":\"fake\"}"), XO_OK);
    assert_int_equal(r.enters, 0); /* nothing of the phantom pool announced */
    assert_int_equal(gw_view_apply_agent(v, "real", hb, "{}", 2), XO_OK);
    assert_int_equal(
        put(v, "real", "vm", "OpaqueRef:1", "{\"uuid\":\"u1\",\"name_label\":\"real\"}"), XO_OK);
    assert_int_equal(r.enters, 1);
    assert_false(gw_view_get(v, "g1", &o));
    assert_true(gw_view_get(v, "u1", &o));
    assert_string_equal(o.pool, "real");
    assert_false(gw_view_get_by_ref(v, "ghost", "vm", "OpaqueRef:9", &o));
    assert_int_equal(count(v, NULL), 1);
    assert_int_equal(count(v, "ghost"), 0);
    gw_view_foreach_pool(v, pool_cb, &p); /* the last pool: real */
    assert_string_equal(p.uuid, "real");
    assert_false(p.held);
    gw_view_foreach_pool(v, ghost_pool_cb, &p); /* the phantom one */
    assert_string_equal(p.uuid, "ghost");
    assert_true(p.held);
    assert_int_equal(p.objects, 2);
    assert_null(p.agent_state);
    assert_int_equal(gw_view_apply_delete(v, "ghost", "vm", "OpaqueRef:8"), XO_OK);
    assert_int_equal(r.exits, 0); /* never announced, so no exit either */

    /* its heartbeat arrives: everything held enters */
    assert_int_equal(gw_view_apply_agent(v, "ghost", hb, "{}", 2), XO_OK);
    assert_int_equal(r.enters, 2);
    assert_string_equal(r.last_id, "g1");
    assert_true(gw_view_get(v, "g1", &o));
    assert_int_equal(count(v, NULL), 2);
    gw_view_foreach_pool(v, ghost_pool_cb, &p);
    assert_false(p.held);
    /* and its heartbeat deleted: everything leaves again */
    assert_int_equal(gw_view_apply_agent(v, "ghost", NULL, NULL, 0), XO_OK);
    assert_int_equal(r.exits, 1);
    assert_false(gw_view_get(v, "g1", &o));
    assert_int_equal(count(v, NULL), 1);

    /* without the hold (the default) every pool is served */
    gw_view_set_hold_unannounced(v, false);
    assert_true(gw_view_get(v, "g1", &o));
    json_object_put(hb);
    gw_view_free(v);
}

static void test_bad_records(void **state)
{
    gw_view_t *v = gw_view_new();
    char errstr[128];
    json_object *arr = json_tokener_parse("[1]"), *bad = json_tokener_parse("{\"uuid\":5}");
    gw_view_stats_t st;
    (void)state;
    assert_int_equal(
        gw_view_apply_object(v, POOL, "vm", "OpaqueRef:x", arr, "x", 1, errstr, sizeof(errstr)),
        XO_ERR_PARSE);
    assert_int_equal(
        gw_view_apply_object(v, POOL, "vm", "OpaqueRef:x", bad, "x", 1, errstr, sizeof(errstr)),
        XO_ERR_PARSE);
    gw_view_stats(v, &st);
    assert_int_equal(st.objects, 0);
    json_object_put(arr);
    json_object_put(bad);
    gw_view_free(v);
}

/* ---- new objects mapped once per batch (gw_view_set_defer_new) ---- */

typedef struct {
    const char *cls, *ref, *snap; /* snap NULL: a tombstone */
} op_t;

/* A VM listed before its VBDs, VIF and metrics arrive, as an agent's dump sends them. */
static const op_t VM_AND_DEVICES[] = {
    {"vm", "OpaqueRef:vm",
     "{\"uuid\":\"vm1\",\"power_state\":\"Running\",\"VBDs\":[\"OpaqueRef:b1\",\"OpaqueRef:b2\"],"
     "\"VIFs\":[\"OpaqueRef:if\"],\"metrics\":\"OpaqueRef:m\",\"memory_dynamic_max\":\"1024\"}"},
    {"vbd", "OpaqueRef:b1", "{\"uuid\":\"vbd1\",\"VM\":\"OpaqueRef:vm\",\"VDI\":\"OpaqueRef:d\"}"},
    {"vdi", "OpaqueRef:d", "{\"uuid\":\"vdi1\",\"VBDs\":[\"OpaqueRef:b1\"]}"},
    {"vbd", "OpaqueRef:b2", "{\"uuid\":\"vbd2\",\"VM\":\"OpaqueRef:vm\"}"},
    {"vif", "OpaqueRef:if", "{\"uuid\":\"vif1\",\"VM\":\"OpaqueRef:vm\",\"device\":\"0\"}"},
    {"vm_metrics", "OpaqueRef:m", "{\"uuid\":\"m1\",\"memory_actual\":\"512\"}"},
};

/* Apply @p ops as one batch and settle; @p defer: new objects mapped at the settle. */
static gw_view_t *replay(const op_t *ops, size_t n, bool defer, rec_t *r)
{
    gw_view_t *v = gw_view_new();

    gw_view_set_emit(v, emit, r);
    gw_view_set_defer_new(v, defer);
    for (size_t i = 0; i < n; i++) {
        if (ops[i].snap)
            assert_int_equal(put(v, POOL, ops[i].cls, ops[i].ref, ops[i].snap), XO_OK);
        else
            assert_int_equal(gw_view_apply_delete(v, POOL, ops[i].cls, ops[i].ref), XO_OK);
    }
    gw_view_settle(v);
    return v;
}

static bool same_in_other(void *opaque, const gw_obj_info_t *o)
{
    gw_obj_info_t other;
    assert_true(gw_view_get(opaque, o->id, &other));
    assert_int_equal(o->type, other.type);
    assert_int_equal(o->json_len, other.json_len);
    assert_memory_equal(o->json, other.json, o->json_len);
    return true;
}

/* The same objects with byte-identical JSON in both views. */
static void assert_same_view(gw_view_t *a, gw_view_t *b)
{
    gw_view_stats_t sa, sb;
    gw_view_stats(a, &sa);
    gw_view_stats(b, &sb);
    assert_int_equal(sa.objects, sb.objects);
    assert_int_equal(sa.pending, sb.pending);
    gw_view_foreach(a, GW_T_NONE, NULL, same_in_other, b);
}

/* A VM whose devices and metrics come after it in the batch is mapped once, at the
 * settle, with every link resolved: no remap, one enter per object, the same JSON as
 * mapping on arrival (which maps the VM pending and again at the settle). */
static void test_new_objects_mapped_once_per_batch(void **state)
{
    size_t n = sizeof(VM_AND_DEVICES) / sizeof(VM_AND_DEVICES[0]);
    rec_t rd = {0}, ra = {0};
    gw_view_t *deferred = replay(VM_AND_DEVICES, n, true, &rd);
    gw_view_t *on_arrival = replay(VM_AND_DEVICES, n, false, &ra);
    json_object *o, *a;
    (void)state;

    assert_int_equal(remaps_of(deferred), 0);
    assert_true(remaps_of(on_arrival) > 0); /* what the deferral saves */
    assert_int_equal(rd.enters, 5);         /* VM, 2 VBDs, VDI, VIF; metrics have no shape */
    o = get_obj(deferred, "vm1");
    assert_true(json_object_object_get_ex(o, "$VBDs", &a));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "vbd1");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 1)), "vbd2");
    assert_true(json_object_object_get_ex(o, "VIFs", &a));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(a, 0)), "vif1");
    json_object_put(o);
    o = get_obj(deferred, "vbd1");
    assert_string_equal(sfield(o, "VM"), "vm1");
    assert_string_equal(sfield(o, "VDI"), "vdi1");
    json_object_put(o);
    assert_same_view(deferred, on_arrival);
    assert_same_view(on_arrival, deferred);
    gw_view_free(deferred);
    gw_view_free(on_arrival);

    /* reversed: the metrics, mapped first in the flush, read by the VM from their tree */
    {
        op_t rev[sizeof(VM_AND_DEVICES) / sizeof(VM_AND_DEVICES[0])];
        for (size_t i = 0; i < n; i++)
            rev[i] = VM_AND_DEVICES[n - 1 - i];
        deferred = replay(rev, n, true, &rd);
        on_arrival = replay(rev, n, false, &ra);
        assert_int_equal(remaps_of(deferred), 0);
        o = get_obj(deferred, "vm1");
        assert_true(json_object_object_get_ex(o, "memory", &a));
        assert_true(json_object_object_get_ex(a, "size", &a));
        assert_int_equal(json_object_get_int64(a), 512);
        json_object_put(o);
        assert_same_view(deferred, on_arrival);
        assert_same_view(on_arrival, deferred);
        gw_view_free(deferred);
        gw_view_free(on_arrival);
    }
}

/* Until the settle a deferred object is not served; a second record or a tombstone of it
 * in the same batch follows its first mapping; a record without an id is refused on
 * arrival; turning the deferral off maps the waiting objects. */
static void test_deferred_objects_in_a_batch(void **state)
{
    static const op_t ops[] = {
        {"vbd", "OpaqueRef:b", "{\"uuid\":\"vbd1\",\"VM\":\"OpaqueRef:vm\"}"},
        {"vm", "OpaqueRef:vm",
         "{\"uuid\":\"vm1\",\"name_label\":\"a\",\"VBDs\":[\"OpaqueRef:b\"]}"},
        {"vm", "OpaqueRef:vm",
         "{\"uuid\":\"vm1\",\"name_label\":\"b\",\"VBDs\":[\"OpaqueRef:b\"]}"},
        {"vbd", "OpaqueRef:b", NULL},
        {"vif", "OpaqueRef:if", "{\"uuid\":\"vif1\",\"VM\":\"OpaqueRef:vm\"}"},
    };
    size_t n = sizeof(ops) / sizeof(ops[0]);
    rec_t rd = {0}, ra = {0}, r = {0};
    gw_view_t *deferred = replay(ops, n, true, &rd);
    gw_view_t *on_arrival = replay(ops, n, false, &ra);
    gw_view_t *v = gw_view_new();
    json_object *o, *bad = json_tokener_parse("{\"uuid\":5}");
    gw_obj_info_t info;
    char errstr[128];
    (void)state;

    assert_same_view(deferred, on_arrival);
    assert_same_view(on_arrival, deferred);
    o = get_obj(deferred, "vm1");
    assert_string_equal(sfield(o, "name_label"), "b");
    json_object_put(o);
    assert_null(get_obj(deferred, "vbd1"));
    assert_int_equal(rd.exits, 1); /* the VBD, entered at its first mapping, then deleted */

    gw_view_set_emit(v, emit, &r);
    gw_view_set_defer_new(v, true);
    assert_int_equal(put(v, POOL, "vm", "OpaqueRef:vm", "{\"uuid\":\"vm1\"}"), XO_OK);
    assert_false(gw_view_get(v, "vm1", &info));
    assert_false(gw_view_get_by_ref(v, POOL, "vm", "OpaqueRef:vm", &info));
    assert_int_equal(r.enters, 0);
    assert_int_equal(
        gw_view_apply_object(v, POOL, "vm", "OpaqueRef:x", bad, "x", 1, errstr, sizeof(errstr)),
        XO_ERR_PARSE);
    gw_view_set_defer_new(v, false);
    assert_int_equal(r.enters, 1);
    assert_true(gw_view_get(v, "vm1", &info));
    assert_false(gw_view_get_by_ref(v, POOL, "vm", "OpaqueRef:x", &info));
    json_object_put(bad);
    gw_view_free(v);
    gw_view_free(deferred);
    gw_view_free(on_arrival);
}

/* ---- the view does not depend on how records are cut into batches ---- */

/* A default template and its metrics (no other link: nothing else makes it wait), and a
 * VM with its devices: every record final, so every order and batching of them must end
 * in the same view. */
static const op_t FINAL_RECORDS[] = {
    {"vm", "OpaqueRef:t",
     "{\"uuid\":\"t1\",\"is_a_template\":true,\"is_default_template\":true,"
     "\"metrics\":\"OpaqueRef:tm\"}"},
    {"vm_metrics", "OpaqueRef:tm", "{\"uuid\":\"tm1\",\"install_time\":\"20231211T21:42:51Z\"}"},
    {"vm", "OpaqueRef:vm",
     "{\"uuid\":\"vm1\",\"power_state\":\"Running\",\"VBDs\":[\"OpaqueRef:b1\"],"
     "\"VIFs\":[\"OpaqueRef:if\"],\"metrics\":\"OpaqueRef:m\",\"memory_dynamic_max\":\"1024\"}"},
    {"vbd", "OpaqueRef:b1", "{\"uuid\":\"vbd1\",\"VM\":\"OpaqueRef:vm\",\"VDI\":\"OpaqueRef:d\"}"},
    {"vdi", "OpaqueRef:d", "{\"uuid\":\"vdi1\",\"VBDs\":[\"OpaqueRef:b1\"]}"},
    {"vif", "OpaqueRef:if", "{\"uuid\":\"vif1\",\"VM\":\"OpaqueRef:vm\",\"device\":\"0\"}"},
    {"vm_metrics", "OpaqueRef:m",
     "{\"uuid\":\"m1\",\"memory_actual\":\"512\",\"install_time\":\"20231211T21:42:51Z\"}"},
};
#define NFINAL (sizeof(FINAL_RECORDS) / sizeof(FINAL_RECORDS[0]))

/* Apply @p ops in order, settling where bit i of @p cuts is set (after op i) and at the end. */
static gw_view_t *replay_cut(const op_t *ops, size_t n, bool defer, unsigned cuts)
{
    gw_view_t *v = gw_view_new();

    gw_view_set_defer_new(v, defer);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(put(v, POOL, ops[i].cls, ops[i].ref, ops[i].snap), XO_OK);
        if (cuts & (1u << i))
            gw_view_settle(v);
    }
    gw_view_settle(v);
    return v;
}

static double num_field(json_object *o, const char *k)
{
    json_object *f;
    assert_true(json_object_object_get_ex(o, k, &f));
    return json_object_get_double(f);
}

/* What the records say, checked on the reference view. */
static void assert_final_view(gw_view_t *v)
{
    json_object *o = get_obj(v, POOL "-t1"), *f; /* a default template's id: pool-uuid */
    gw_view_stats_t st;

    assert_non_null(o);
    assert_true(num_field(o, "installTime") == 1702330971.0);
    json_object_put(o);
    o = get_obj(v, "vm1");
    assert_true(num_field(o, "installTime") == 1702330971.0);
    assert_true(json_object_object_get_ex(o, "memory", &f));
    assert_true(num_field(f, "size") == 512.0);
    json_object_put(o);
    o = get_obj(v, "vbd1");
    assert_string_equal(sfield(o, "VDI"), "vdi1");
    json_object_put(o);
    gw_view_stats(v, &st);
    assert_int_equal(st.pending, 0);
}

/* Every order of the records is tried against cuts after every record, none, and a few
 * patterns in between, with and without the deferral of new objects (a template mapped
 * in one batch before its metrics' batch kept no installTime: a missing record did not
 * make it wait, e2e.gateway_many's two gateways differed by that). */
static void test_view_independent_of_batches(void **state)
{
    static const unsigned CUTS[] = {0u, ~0u, 0x01u, 0x02u, 0x05u, 0x0au, 0x15u, 0x2au};
    gw_view_t *ref = replay_cut(FINAL_RECORDS, NFINAL, false, 0);
    size_t perm[NFINAL];
    op_t ops[NFINAL];
    unsigned seed = 12345;
    (void)state;

    assert_final_view(ref);
    for (size_t i = 0; i < NFINAL; i++)
        perm[i] = i;
    for (int round = 0; round < 300; round++) { /* fixed pseudo-random orders */
        for (size_t i = NFINAL - 1; i > 0; i--) {
            size_t j, t;
            seed = seed * 1103515245u + 12345u;
            j = (seed >> 16) % (i + 1);
            t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; i < NFINAL; i++)
            ops[i] = FINAL_RECORDS[perm[i]];
        for (size_t c = 0; c < sizeof(CUTS) / sizeof(CUTS[0]); c++) {
            for (int defer = 0; defer < 2; defer++) {
                gw_view_t *v = replay_cut(ops, NFINAL, defer, CUTS[c]);
                assert_same_view(v, ref);
                assert_same_view(ref, v);
                gw_view_free(v);
            }
        }
    }
    gw_view_free(ref);
}

/* Room made ahead (empty, half full, smaller than the view) changes nothing
 * that is served: every object is found by id and key, deletes and re-adds still work. */
static void test_reserve_keeps_the_view(void **state)
{
    static const size_t HINTS[] = {0, 50, 5000, 100000};
    gw_view_t *ref = gw_view_new();
    (void)state;

    put_host_of_vms(ref, 3, false);
    put_vms(ref, 0, 3000);
    gw_view_settle(ref);
    for (size_t h = 0; h < sizeof(HINTS) / sizeof(HINTS[0]); h++) {
        gw_view_t *v = gw_view_new();
        gw_obj_info_t o;
        assert_true(gw_view_reserve(v, HINTS[h])); /* before any object */
        put_host_of_vms(v, 3, false);
        put_vms(v, 0, 1500);
        assert_true(gw_view_reserve(v, HINTS[h] * 3)); /* a view half full: tables rehashed */
        put_vms(v, 1500, 3000);
        gw_view_settle(v);
        assert_same_view(v, ref);
        assert_same_view(ref, v);
        assert_true(gw_view_get_by_ref(v, POOL, "vm", "OpaqueRef:vm2999", &o));
        assert_int_equal(gw_view_apply_delete(v, POOL, "vm", "OpaqueRef:vm7"), XO_OK);
        assert_false(gw_view_get(v, "vm-7", &o));
        put_vms(v, 7, 8);
        gw_view_settle(v);
        assert_same_view(v, ref);
        gw_view_free(v);
    }
    gw_view_free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_get_delete),
        cmocka_unit_test(test_classes_without_shape_are_silent),
        cmocka_unit_test(test_links_resolve_after_settle),
        cmocka_unit_test(test_pending_retried_once_per_settle),
        cmocka_unit_test(test_waiters_bounded),
        cmocka_unit_test(test_dependents_remapped),
        cmocka_unit_test(test_indexes_by_type_and_pool),
        cmocka_unit_test(test_sync_and_agent),
        cmocka_unit_test(test_unannounced_pool_held),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_new_objects_mapped_once_per_batch),
        cmocka_unit_test(test_deferred_objects_in_a_batch),
        cmocka_unit_test(test_view_independent_of_batches),
        cmocka_unit_test(test_reserve_keeps_the_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
