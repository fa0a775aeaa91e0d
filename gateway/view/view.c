/*
 * view.c - the materialized view (see view.h): compact object structs in one array,
 * open-addressing hash tables (linear probing, backward-shift deletion) by id and by key,
 * intrusive lists by type and by pool, per-pool pending lists for unresolved links.
 * With the hold on, a pool's objects are served (readers, emit) only once its agent has
 * announced it on xo.agents. Must not do I/O, log per record, or call out except through
 * the emit callback.
 */
#include "view/view.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view/snapshot_text.h"
#include "view/xo_types.h"
#include "xo_log.h"

#define MAX_POOLS   65535
#define MAX_CLASSES 255
#define NONE        0u /* "no index" in lists and tables (indexes are stored +1) */

/* F_READY: in v->ready, so that an object awaiting many keys that arrive in one batch is
 * retried once at the settle, not once per key. F_DEFERRED: a new object known by its key
 * and id only, its first mapping waiting in v->deferred (see gw_view_set_defer_new).
 * F_HELD: its record's tree is v->deferred[held - 1] (deferred, or mapped in the flush
 * under way), read there by the objects linking to it instead of parsing its message. */
enum {
    F_USED = 1,
    F_PENDING = 2,
    F_LISTED = 4,
    F_READY = 8,
    F_DEFERRED = 16,
    F_HELD = 32,
    F_WAITING = 64 /* waiters may name this slot: kept while the slot is freed and reused, so
                      that a new registration checks for them (a first one, the common case,
                      skips that walk of every waiter of the key) */
};

/* New objects whose first mapping waits: at most this many, so that the held trees stay
 * few and cache-hot (a VM's devices and metrics follow it closely on its partition).
 * Measured on 200,000 records: 1,024 made the load 20% slower than mapping on arrival (the
 * trees cold by their mapping), 64 made it 30% faster with 1% of the objects remapped. */
#define DEFER_MAX 64
_Static_assert(DEFER_MAX < 256, "obj_t.held is 8 bits");

typedef struct {
    char *data; /* "<ref>\0<id>\0<json>\0" in one allocation */
    char *rec;  /* the record's JSON text (its message's snapshot), kept for remaps, or NULL */
    uint32_t rec_len;
    uint32_t json_len; /* 0 when the class has no XO shape */
    uint32_t hid, hkey;
    uint32_t dep;          /* +1 index of the object mapped from this one's record */
    uint32_t tnext, tprev; /* type list (+1 indexes); tnext doubles as free list link */
    uint32_t pnext, pprev; /* pool list */
    uint16_t pool;
    uint8_t cls;
    uint8_t type;
    uint8_t flags;
    uint8_t held;    /* with F_HELD: +1 index of its v->deferred entry */
    uint16_t id_off; /* offset of the id in data (ref length + 1) */
} obj_t;

typedef struct {
    char uuid[64];
    size_t objects;
    bool synced, touched;
    int64_t sync_gen, sync_objects, sync_ts;
    char *agent_json;
    char agent_state[24];
    char agent_id[128];
    int64_t agent_ts;
    int64_t hb_interval_ms;
    uint32_t head; /* pool list */
    uint32_t *pending;
    size_t npending, cap_pending;
} pool_t;

typedef struct {
    uint32_t *slots; /* +1 object indexes, 0 empty */
    uint8_t *tags;   /* the top byte of each used slot's hash: a probe reads the object's
                        struct (a cache miss in a big view) only when its tag matches */
    size_t mask;     /* capacity - 1 (capacity a power of two) */
    size_t count;
} table_t;

/* A pending object waiting for <pool>/<cls>/<ref> (chained hash by key hash). */
typedef struct waiter {
    struct waiter *next;
    uint32_t h;   /* hash_key of the awaited key */
    uint32_t idx; /* +1 index of the waiting object */
} waiter_t;

/* A new object's record held until its first mapping (F_DEFERRED). */
typedef struct {
    uint32_t idx;      /* +1 index of the object */
    json_object *snap; /* the record (a reference held) */
    char *text;        /* its snapshot's text (copy) when its class keeps records, else NULL */
    size_t text_len;
} deferred_t;

/* Where a mapping finds the text of its record, to keep it when a remap may need it. */
typedef struct {
    const char *text; /* the message or the snapshot's text; NULL: the tree serialized */
    size_t len;
    bool is_msg; /* text is the whole message: the snapshot's text is found in it */
    bool remap;  /* a remap: the kept record stays as it is (while needed) */
} rec_src_t;

struct gw_view {
    pthread_rwlock_t lock;
    waiter_t **waiters; /* buckets */
    size_t wmask, nwaiters;
    uint32_t *ready; /* +1 indexes whose awaited object arrived, remapped at settle */
    size_t nready, capready;
    deferred_t *deferred; /* new objects mapped at the next flush (DEFER_MAX entries) */
    size_t ndeferred;
    bool defer_new;
    obj_t *objs;
    size_t nobjs, capobjs;
    uint32_t free_head; /* +1 */
    table_t by_id, by_key;
    uint32_t type_head[GW_T_COUNT];
    size_t type_count[GW_T_COUNT];
    pool_t *pools;
    size_t npools, cappools;
    char *classes[MAX_CLASSES + 1];
    bool class_keeps[MAX_CLASSES + 1]; /* gw_xo_class_keeps_record() of each, once */
    size_t nclasses;
    size_t live, pending, bytes;
    uint64_t remaps;
    gw_view_emit_cb emit;
    void *emit_opaque;
    uint16_t last_pool;
    uint8_t last_cls;
    bool hold_unannounced; /* serve a pool's objects only once a heartbeat announced it */
    json_tokener *tok;     /* reused to re-parse kept records (writers only, under the lock) */
};

/* ---- hashing ---- */

static uint32_t fnv1a(uint32_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t hash_str(const char *s)
{
    return fnv1a(2166136261u, s, strlen(s));
}

static uint32_t hash_key(uint16_t pool, uint8_t cls, const char *ref)
{
    uint32_t h = 2166136261u;
    char pc[3] = {(char)(pool & 0xff), (char)(pool >> 8), (char)cls};
    h = fnv1a(h, pc, 3);
    return fnv1a(h, ref, strlen(ref));
}

static const char *obj_ref(const obj_t *o)
{
    return o->data;
}

static const char *obj_id(const obj_t *o)
{
    return o->data + o->id_off;
}

static const char *obj_json(const obj_t *o)
{
    return o->json_len ? o->data + o->id_off + strlen(obj_id(o)) + 1 : NULL;
}

/* ---- tables ---- */

static void table_fini(table_t *t)
{
    free(t->slots);
    free(t->tags);
    t->slots = NULL;
    t->tags = NULL;
}

static uint8_t tag_of(uint32_t h)
{
    return (uint8_t)(h >> 24);
}

static bool table_init(table_t *t, size_t cap)
{
    t->slots = calloc(cap, sizeof(uint32_t));
    t->tags = malloc(cap);
    t->mask = cap - 1;
    t->count = 0;
    if (t->slots && t->tags)
        return true;
    table_fini(t);
    return false;
}

static uint32_t obj_hash(const gw_view_t *v, const table_t *t, uint32_t idx)
{
    const obj_t *o = &v->objs[idx - 1];
    return t == &v->by_id ? o->hid : o->hkey;
}

/* Move every slot of @p t into a new table of @p cap slots (a power of two). */
static bool table_resize(gw_view_t *v, table_t *t, size_t cap)
{
    table_t n;
    if (!table_init(&n, cap))
        return false;
    for (size_t i = 0; i <= t->mask; i++) {
        uint32_t idx = t->slots[i];
        if (idx) {
            size_t pos = obj_hash(v, t, idx) & n.mask;
            while (n.slots[pos])
                pos = (pos + 1) & n.mask;
            n.slots[pos] = idx;
            n.tags[pos] = t->tags[i];
        }
    }
    n.count = t->count;
    table_fini(t);
    *t = n;
    return true;
}

/* True when @p count entries keep a table of @p cap slots at most 70% full. */
static bool table_fits(size_t count, size_t cap)
{
    return count * 10 <= cap * 7;
}

static bool table_grow(gw_view_t *v, table_t *t)
{
    return table_resize(v, t, (t->mask + 1) * 2);
}

static bool table_insert(gw_view_t *v, table_t *t, uint32_t idx)
{
    size_t pos;
    if (!table_fits(t->count + 1, t->mask + 1) && !table_grow(v, t))
        return false;
    pos = obj_hash(v, t, idx) & t->mask;
    while (t->slots[pos])
        pos = (pos + 1) & t->mask;
    t->slots[pos] = idx;
    t->tags[pos] = tag_of(obj_hash(v, t, idx));
    t->count++;
    return true;
}

/* Remove the slot holding exactly idx; backward-shift the cluster after it. */
static void table_remove(gw_view_t *v, table_t *t, uint32_t idx)
{
    size_t pos = obj_hash(v, t, idx) & t->mask, next;

    while (t->slots[pos] && t->slots[pos] != idx)
        pos = (pos + 1) & t->mask;
    if (!t->slots[pos])
        return;
    t->slots[pos] = 0;
    t->count--;
    next = (pos + 1) & t->mask;
    while (t->slots[next]) {
        uint32_t cur = t->slots[next];
        size_t home = obj_hash(v, t, cur) & t->mask;
        /* Move cur into the hole if its home is not in (pos, next]. */
        bool between = (pos <= next) ? (home > pos && home <= next) : (home > pos || home <= next);
        if (!between) {
            t->slots[pos] = cur;
            t->tags[pos] = t->tags[next];
            t->slots[next] = 0;
            pos = next;
        }
        next = (next + 1) & t->mask;
    }
}

/* A pool's objects are served once its agent announced it (or when nothing is held). */
static bool pool_served(const gw_view_t *v, uint16_t pool)
{
    return !v->hold_unannounced || v->pools[pool].agent_json != NULL;
}

/* The served object with this id: held objects of unannounced pools are skipped, so a
 * forged record reusing a real object's id cannot hide it. */
static uint32_t find_served_by_id(const gw_view_t *v, const char *id)
{
    uint32_t h = hash_str(id);
    size_t pos = h & v->by_id.mask;
    uint32_t idx;

    while ((idx = v->by_id.slots[pos])) {
        const obj_t *o = &v->objs[idx - 1];
        if (v->by_id.tags[pos] == tag_of(h) && o->hid == h && strcmp(obj_id(o), id) == 0 &&
            pool_served(v, o->pool))
            return idx;
        pos = (pos + 1) & v->by_id.mask;
    }
    return NONE;
}

/* Announce a change of a served object (json NULL: it left the view). */
static void emit(gw_view_t *v, uint16_t pool, const char *id, const char *json, size_t len)
{
    if (v->emit && pool_served(v, pool))
        v->emit(v->emit_opaque, id, json, len);
}

static uint32_t find_by_key(const gw_view_t *v, uint16_t pool, uint8_t cls, const char *ref)
{
    uint32_t h = hash_key(pool, cls, ref);
    size_t pos = h & v->by_key.mask;
    uint32_t idx;

    while ((idx = v->by_key.slots[pos])) {
        const obj_t *o;
        if (v->by_key.tags[pos] != tag_of(h)) { /* no read of the struct */
            pos = (pos + 1) & v->by_key.mask;
            continue;
        }
        o = &v->objs[idx - 1];
        if (o->hkey == h && o->pool == pool && o->cls == cls && strcmp(obj_ref(o), ref) == 0)
            return idx;
        pos = (pos + 1) & v->by_key.mask;
    }
    return NONE;
}

/* ---- pools and classes ---- */

static int find_pool(gw_view_t *v, const char *uuid, bool create)
{
    pool_t *p;

    if (v->npools && v->last_pool < v->npools && !strcmp(v->pools[v->last_pool].uuid, uuid))
        return v->last_pool;
    for (size_t i = 0; i < v->npools; i++)
        if (!strcmp(v->pools[i].uuid, uuid)) {
            v->last_pool = (uint16_t)i;
            return (int)i;
        }
    if (!create || v->npools >= MAX_POOLS || strlen(uuid) >= sizeof(p->uuid))
        return -1;
    if (v->npools == v->cappools) {
        size_t ncap = v->cappools ? v->cappools * 2 : 8;
        pool_t *np = realloc(v->pools, ncap * sizeof(*np));
        if (!np)
            return -1;
        v->pools = np;
        v->cappools = ncap;
    }
    p = &v->pools[v->npools];
    memset(p, 0, sizeof(*p));
    snprintf(p->uuid, sizeof(p->uuid), "%s", uuid);
    v->last_pool = (uint16_t)v->npools;
    return (int)v->npools++;
}

static int find_class(gw_view_t *v, const char *cls, bool create)
{
    if (v->nclasses && !strcmp(v->classes[v->last_cls], cls))
        return v->last_cls;
    for (size_t i = 0; i < v->nclasses; i++)
        if (!strcmp(v->classes[i], cls)) {
            v->last_cls = (uint8_t)i;
            return (int)i;
        }
    if (!create || v->nclasses >= MAX_CLASSES)
        return -1;
    v->classes[v->nclasses] = strdup(cls);
    if (!v->classes[v->nclasses])
        return -1;
    v->class_keeps[v->nclasses] = gw_xo_class_keeps_record(cls);
    v->last_cls = (uint8_t)v->nclasses;
    return (int)v->nclasses++;
}

/* ---- lists ---- */

static void type_link(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];
    uint32_t head = v->type_head[o->type];
    o->tprev = NONE;
    o->tnext = head;
    if (head)
        v->objs[head - 1].tprev = idx;
    v->type_head[o->type] = idx;
    v->type_count[o->type]++;
}

static void type_unlink(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];
    if (o->tprev)
        v->objs[o->tprev - 1].tnext = o->tnext;
    else
        v->type_head[o->type] = o->tnext;
    if (o->tnext)
        v->objs[o->tnext - 1].tprev = o->tprev;
    o->tnext = o->tprev = NONE;
    v->type_count[o->type]--;
}

static void pool_link(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];
    pool_t *p = &v->pools[o->pool];
    o->pprev = NONE;
    o->pnext = p->head;
    if (p->head)
        v->objs[p->head - 1].pprev = idx;
    p->head = idx;
    p->objects++;
}

static void pool_unlink(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];
    pool_t *p = &v->pools[o->pool];
    if (o->pprev)
        v->objs[o->pprev - 1].pnext = o->pnext;
    else
        p->head = o->pnext;
    if (o->pnext)
        v->objs[o->pnext - 1].pprev = o->pprev;
    o->pnext = o->pprev = NONE;
    p->objects--;
}

/* ---- life cycle ---- */

gw_view_t *gw_view_new(void)
{
    gw_view_t *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->tok = json_tokener_new();
    if (!v->tok || !table_init(&v->by_id, 1024) || !table_init(&v->by_key, 1024)) {
        if (v->tok)
            json_tokener_free(v->tok);
        table_fini(&v->by_id); /* NULL-safe: calloc'd */
        table_fini(&v->by_key);
        free(v);
        return NULL;
    }
    pthread_rwlock_init(&v->lock, NULL);
    return v;
}

void gw_view_free(gw_view_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nobjs; i++) {
        if (v->objs[i].flags & F_USED) {
            free(v->objs[i].data);
            free(v->objs[i].rec);
        }
    }
    for (size_t i = 0; v->waiters && i <= v->wmask; i++) {
        waiter_t *e = v->waiters[i];
        while (e) {
            waiter_t *next = e->next;
            free(e);
            e = next;
        }
    }
    for (size_t i = 0; i < v->ndeferred; i++) {
        json_object_put(v->deferred[i].snap);
        free(v->deferred[i].text);
    }
    free(v->deferred);
    free(v->waiters);
    free(v->ready);
    free(v->objs);
    table_fini(&v->by_id);
    table_fini(&v->by_key);
    json_tokener_free(v->tok);
    for (size_t i = 0; i < v->npools; i++) {
        free(v->pools[i].agent_json);
        free(v->pools[i].pending);
    }
    free(v->pools);
    for (size_t i = 0; i < v->nclasses; i++)
        free(v->classes[i]);
    pthread_rwlock_destroy(&v->lock);
    free(v);
}

void gw_view_set_emit(gw_view_t *v, gw_view_emit_cb cb, void *opaque)
{
    v->emit = cb;
    v->emit_opaque = opaque;
}

void gw_view_set_hold_unannounced(gw_view_t *v, bool on)
{
    v->hold_unannounced = on;
}

void gw_view_rdlock(gw_view_t *v)
{
    pthread_rwlock_rdlock(&v->lock);
}

void gw_view_wrlock(gw_view_t *v)
{
    pthread_rwlock_wrlock(&v->lock);
}

void gw_view_unlock(gw_view_t *v)
{
    pthread_rwlock_unlock(&v->lock);
}

static uint32_t alloc_obj(gw_view_t *v)
{
    uint32_t idx;
    if (v->free_head) {
        uint8_t waiting;
        idx = v->free_head;
        v->free_head = v->objs[idx - 1].tnext;
        waiting = v->objs[idx - 1].flags & F_WAITING;
        memset(&v->objs[idx - 1], 0, sizeof(obj_t));
        v->objs[idx - 1].flags = waiting;
        return idx;
    }
    if (v->nobjs == v->capobjs) {
        size_t ncap = v->capobjs ? v->capobjs * 2 : 1024;
        obj_t *n;
        if (ncap >= UINT32_MAX)
            return NONE;
        n = realloc(v->objs, ncap * sizeof(obj_t));
        if (!n)
            return NONE;
        v->objs = n;
        v->capobjs = ncap;
    }
    memset(&v->objs[v->nobjs], 0, sizeof(obj_t));
    return (uint32_t)++v->nobjs;
}

static void free_obj(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];
    uint8_t waiting = o->flags & F_WAITING;
    free(o->data);
    free(o->rec);
    memset(o, 0, sizeof(*o));
    o->flags = waiting;
    o->tnext = v->free_head;
    v->free_head = idx;
}

/* ---- resolver given to the mapping ---- */

#define MAX_MISSES 32

typedef struct {
    gw_view_t *v;
    uint16_t pool;
    uint32_t self;             /* +1 index of the object being mapped */
    uint32_t miss[MAX_MISSES]; /* key hashes of links that did not resolve */
    int nmiss;
} resolver_ctx_t;

static const char *res_id_of(void *opaque, const char *cls, const char *ref)
{
    resolver_ctx_t *rc = opaque;
    int c = find_class(rc->v, cls, true); /* interned: the awaited class gets an id */
    uint32_t idx = c < 0 ? NONE : find_by_key(rc->v, rc->pool, (uint8_t)c, ref);
    if (!idx && c >= 0 && rc->nmiss < MAX_MISSES)
        rc->miss[rc->nmiss++] = hash_key(rc->pool, (uint8_t)c, ref);
    return idx ? obj_id(&rc->v->objs[idx - 1]) : NULL;
}

/* The kept record, parsed (caller puts it), or NULL. */
static json_object *record_parse(gw_view_t *v, const obj_t *o)
{
    json_object *snap;

    json_tokener_reset(v->tok); /* one tokener for the view: no allocation per parse */
    snap = json_tokener_parse_ex(v->tok, o->rec, (int)o->rec_len);
    if (snap && !json_object_is_type(snap, json_type_object)) {
        json_object_put(snap);
        snap = NULL;
    }
    return snap;
}

static json_object *res_record_of(void *opaque, const char *cls, const char *ref)
{
    resolver_ctx_t *rc = opaque;
    int c = find_class(rc->v, cls, true);
    uint32_t idx = c < 0 ? NONE : find_by_key(rc->v, rc->pool, (uint8_t)c, ref);
    obj_t *o;
    if (!idx) {
        if (c >= 0 && rc->nmiss < MAX_MISSES)
            rc->miss[rc->nmiss++] = hash_key(rc->pool, (uint8_t)c, ref);
        return NULL;
    }
    o = &rc->v->objs[idx - 1];
    if (idx != rc->self)
        o->dep = rc->self;
    if (o->flags & F_HELD) /* its record, when kept (or to be kept), without a parse */
        return ((o->flags & F_DEFERRED) ? rc->v->class_keeps[c] : o->rec != NULL)
                   ? json_object_get(rc->v->deferred[o->held - 1].snap)
                   : NULL;
    return o->rec ? record_parse(rc->v, o) : NULL;
}

/* ---- writer ---- */

/* A waiter serves only to retry a pending object: one whose object is no longer pending
 * (resolved, deleted, its index reused) is stale. */
static bool waiter_stale(const gw_view_t *v, const waiter_t *w)
{
    return w->idx > v->nobjs ||
           (v->objs[w->idx - 1].flags & (F_USED | F_PENDING)) != (F_USED | F_PENDING);
}

/* Drop the stale waiters (before the table grows: a key that never arrives would
 * otherwise keep the waiters of every object that ever awaited it). */
static void waiters_sweep(gw_view_t *v)
{
    for (size_t i = 0; v->waiters && i <= v->wmask; i++) {
        waiter_t **pp = &v->waiters[i];
        while (*pp) {
            waiter_t *w = *pp;
            if (!waiter_stale(v, w)) {
                pp = &w->next;
                continue;
            }
            *pp = w->next;
            free(w);
            v->nwaiters--;
        }
    }
}

static bool waiters_grow(gw_view_t *v)
{
    size_t ncap = v->waiters ? (v->wmask + 1) * 4 : 1024;
    waiter_t **nb = calloc(ncap, sizeof(*nb));

    if (!nb)
        return false;
    for (size_t i = 0; v->waiters && i <= v->wmask; i++) {
        waiter_t *e = v->waiters[i];
        while (e) {
            waiter_t *next = e->next;
            e->next = nb[e->h & (ncap - 1)];
            nb[e->h & (ncap - 1)] = e;
            e = next;
        }
    }
    free(v->waiters);
    v->waiters = nb;
    v->wmask = ncap - 1;
    return true;
}

/* The object at @p idx waits for key @p h: once, however often it is mapped again while
 * the key is missing (@p again: the slot may have waiters already, F_WAITING). */
static void waiter_add(gw_view_t *v, uint32_t h, uint32_t idx, bool again)
{
    waiter_t *w;

    /* Full at two per bucket: sweep, and grow unless that freed half (a sweep then comes
     * only after as many adds as it visited). */
    if (v->waiters && v->nwaiters + 1 > (v->wmask + 1) * 2) {
        waiters_sweep(v);
        if (v->nwaiters + 1 > v->wmask + 1 && !waiters_grow(v))
            return;
    }
    if (!v->waiters && !waiters_grow(v))
        return;
    for (w = again ? v->waiters[h & v->wmask] : NULL; w; w = w->next)
        if (w->h == h && w->idx == idx)
            return;
    w = malloc(sizeof(*w));
    if (!w)
        return;
    w->h = h;
    w->idx = idx;
    w->next = v->waiters[h & v->wmask];
    v->waiters[h & v->wmask] = w;
    v->nwaiters++;
}

/* Queue a waiting object for the next settle, once however many of its keys arrived. */
static void ready_add(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];

    if (o->flags & F_READY)
        return;
    if (v->nready == v->capready) {
        size_t ncap = v->capready ? v->capready * 2 : 256;
        uint32_t *nr = realloc(v->ready, ncap * sizeof(uint32_t));
        if (!nr)
            return; /* retried by its pool's next _sync instead */
        v->ready = nr;
        v->capready = ncap;
    }
    v->ready[v->nready++] = idx;
    o->flags |= F_READY;
}

/* A new key arrived: every object waiting for it is remapped at the next settle. */
static void waiters_wake(gw_view_t *v, uint32_t h)
{
    waiter_t **pp;
    if (!v->waiters)
        return;
    pp = &v->waiters[h & v->wmask];
    while (*pp) {
        waiter_t *w = *pp;
        if (w->h != h) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        v->nwaiters--;
        if (w->idx <= v->nobjs)
            ready_add(v, w->idx);
        free(w);
    }
}

static void pending_add(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];
    pool_t *p = &v->pools[o->pool];
    if (o->flags & F_PENDING)
        return;
    if (p->npending == p->cap_pending) {
        size_t ncap = p->cap_pending ? p->cap_pending * 2 : 64;
        uint32_t *n = realloc(p->pending, ncap * sizeof(uint32_t));
        if (!n)
            return; /* stays unresolved until its next record; counted nowhere else */
        p->pending = n;
        p->cap_pending = ncap;
    }
    p->pending[p->npending++] = idx;
    o->flags |= F_PENDING;
    v->pending++;
}

/* Bytes of an object's strings as counted in v->bytes (ref, id, JSON and their NULs). */
static size_t obj_data_bytes(const obj_t *o)
{
    return strlen(obj_ref(o)) + strlen(obj_id(o)) + o->json_len + 3;
}

/* "<ref>\0<id>\0<json>\0" in one allocation, or NULL. */
static char *obj_data_new(const char *ref, size_t reflen, const gw_xo_out_t *out)
{
    size_t idlen = strlen(out->id);
    char *data = malloc(reflen + 1 + idlen + 1 + out->json.len + 1);

    if (!data)
        return NULL;
    memcpy(data, ref, reflen + 1);
    memcpy(data + reflen + 1, out->id, idlen + 1);
    if (out->json.len)
        memcpy(data + reflen + 1 + idlen + 1, out->json.data, out->json.len);
    data[reflen + 1 + idlen + 1 + out->json.len] = '\0';
    return data;
}

/* Same id, type and JSON as already stored: nothing to announce. */
static bool obj_unchanged(const obj_t *o, const gw_xo_out_t *out)
{
    return o->type == out->type && o->json_len == out->json.len && !strcmp(obj_id(o), out->id) &&
           (out->json.len == 0 || !memcmp(obj_json(o), out->json.data, out->json.len));
}

/* First mapping of a new object: takes @p data, links and indexes it, wakes its waiters. */
static xo_err_t obj_insert(gw_view_t *v, uint32_t idx, char *data, const char *ref, size_t reflen,
                           const gw_xo_out_t *out)
{
    obj_t *o = &v->objs[idx - 1];
    bool keyed = (o->flags & F_DEFERRED) != 0; /* in by_key since defer_add */
    xo_err_t err = XO_OK;

    free(o->data); /* a deferred object's "<ref>\0<id>\0", else NULL */
    o->data = data;
    o->id_off = (uint16_t)(reflen + 1);
    o->json_len = (uint32_t)out->json.len;
    o->type = (uint8_t)out->type;
    o->hid = hash_str(out->id);
    o->hkey = hash_key(o->pool, o->cls, ref);
    o->flags = F_USED | (o->flags & (F_HELD | F_WAITING));
    type_link(v, idx);
    pool_link(v, idx);
    if (!table_insert(v, &v->by_id, idx) || (!keyed && !table_insert(v, &v->by_key, idx)))
        err = XO_ERR_NOMEM;
    v->live++;
    waiters_wake(v, o->hkey);
    return err;
}

/*
 * New mapping of an object in the view: takes @p data. A changed id announces the old
 * id's exit; a changed id or type moves the object in the id table and the type lists.
 */
static xo_err_t obj_replace(gw_view_t *v, uint32_t idx, char *data, size_t reflen,
                            const gw_xo_out_t *out)
{
    obj_t *o = &v->objs[idx - 1];
    bool id_changed = strcmp(obj_id(o), out->id) != 0;
    bool reindex = id_changed || o->type != out->type;
    xo_err_t err = XO_OK;

    if (id_changed && o->type != GW_T_NONE)
        emit(v, o->pool, obj_id(o), NULL, 0);
    if (reindex) {
        table_remove(v, &v->by_id, idx);
        type_unlink(v, idx);
    }
    v->bytes -= obj_data_bytes(o);
    free(o->data);
    o->data = data;
    o->id_off = (uint16_t)(reflen + 1); /* the same ref: unchanged */
    o->json_len = (uint32_t)out->json.len;
    if (reindex) {
        o->type = (uint8_t)out->type;
        o->hid = hash_str(out->id);
        type_link(v, idx);
        if (!table_insert(v, &v->by_id, idx))
            err = XO_ERR_NOMEM;
    }
    return err;
}

static void obj_drop_record(gw_view_t *v, obj_t *o)
{
    v->bytes -= o->rec_len;
    free(o->rec);
    o->rec = NULL;
    o->rec_len = 0;
}

/* The record's text to keep: its snapshot's text in the message when the scan finds it
 * (always, for the agents' messages), the text given, else @p snap serialized. */
static const char *record_text(const rec_src_t *src, json_object *snap, size_t *len)
{
    size_t off;

    if (src->text && src->is_msg && gw_snapshot_text(src->text, src->len, &off, len))
        return src->text + off;
    if (src->text && !src->is_msg) {
        *len = src->len;
        return src->text;
    }
    return json_object_to_json_string_length(snap, JSON_C_TO_STRING_PLAIN, len);
}

/* Keep the record's text when a remap may need it (@p keep), else drop it. On a remap the
 * kept one stays while still needed. */
static void obj_keep_record(gw_view_t *v, obj_t *o, const rec_src_t *src, json_object *snap,
                            bool keep)
{
    const char *text;
    size_t len;

    if (src->remap) {
        if (!keep && o->rec)
            obj_drop_record(v, o);
        return;
    }
    if (o->rec)
        obj_drop_record(v, o);
    if (!keep || !(text = record_text(src, snap, &len)) || len >= UINT32_MAX)
        return;
    o->rec = malloc(len + 1);
    if (!o->rec)
        return; /* remaps of this object are skipped until its next record */
    memcpy(o->rec, text, len);
    o->rec[len] = '\0';
    o->rec_len = (uint32_t)len;
    v->bytes += len;
}

/* Unresolved links make the object pending and a waiter on each missed key. */
static void obj_track_links(gw_view_t *v, uint32_t idx, unsigned unresolved,
                            const resolver_ctx_t *rc)
{
    obj_t *o = &v->objs[idx - 1];

    if (unresolved > 0) {
        bool again = (o->flags & F_WAITING) != 0;
        pending_add(v, idx);
        for (int i = 0; i < rc->nmiss; i++)
            waiter_add(v, rc->miss[i], idx, again);
        o->flags |= F_WAITING;
    } else if (o->flags & F_PENDING) {
        o->flags &= (uint8_t)~F_PENDING; /* stays in the pool's list until settle compacts */
        v->pending--;
    }
}

/*
 * Map @p snap for the object at idx and install the result. On first install (@p fresh)
 * the caller has set pool/cls. Emits enter (and exit for a changed id) when the JSON
 * changed. @p msg: the message value to keep when needed (NULL keeps the current one).
 */
static xo_err_t install(gw_view_t *v, uint32_t idx, const char *ref, json_object *snap,
                        const rec_src_t *src, bool fresh, char *errstr, size_t errstr_size)
{
    const char *cls = v->classes[v->objs[idx - 1].cls];
    resolver_ctx_t rc = {.v = v, .pool = v->objs[idx - 1].pool, .self = idx};
    gw_resolver_t r = {res_id_of, res_record_of, &rc};
    gw_xo_out_t out;
    size_t reflen = strlen(ref);
    char *data;
    xo_err_t err;

    gw_xo_out_init(&out);
    err = gw_xo_map(cls, ref, snap, v->pools[rc.pool].uuid, &r, &out, errstr, errstr_size);
    if (err != XO_OK)
        goto done;
    if (reflen > 60000) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "ref too long");
        goto done;
    }
    if (fresh || !obj_unchanged(&v->objs[idx - 1], &out)) {
        data = obj_data_new(ref, reflen, &out);
        if (!data) {
            err = XO_ERR_NOMEM;
            goto done;
        }
        err = fresh ? obj_insert(v, idx, data, ref, reflen, &out)
                    : obj_replace(v, idx, data, reflen, &out);
        v->bytes += reflen + strlen(out.id) + out.json.len + 3;
        if (out.type != GW_T_NONE)
            emit(v, rc.pool, out.id, out.json.data, out.json.len);
    }
    obj_keep_record(v, &v->objs[idx - 1], src, snap,
                    v->class_keeps[v->objs[idx - 1].cls] || out.unresolved > 0);
    obj_track_links(v, idx, out.unresolved, &rc);
done:
    gw_xo_out_fini(&out);
    return err;
}

/* Map again the object at idx from its kept record (a linked object changed). */
static void remap(gw_view_t *v, uint32_t idx, int depth)
{
    obj_t *o;
    json_object *snap;
    char ref[512];
    uint32_t dep;

    if (depth > 3 || !idx || idx > v->nobjs)
        return;
    o = &v->objs[idx - 1];
    if (!(o->flags & F_USED) || (o->flags & F_DEFERRED) || !o->rec)
        return;
    snap = record_parse(v, o);
    if (!snap)
        return;
    snprintf(ref, sizeof(ref), "%s", obj_ref(o));
    dep = o->dep;
    v->remaps++;
    (void)install(v, idx, ref, snap, &(rec_src_t){.remap = true}, false, NULL, 0);
    json_object_put(snap);
    if (dep && dep != idx)
        remap(v, dep, depth + 1);
}

/* A deferred object whose first mapping failed (no memory): out of the view again. */
static void defer_drop(gw_view_t *v, uint32_t idx)
{
    table_remove(v, &v->by_key, idx);
    free_obj(v, idx);
}

/*
 * First mapping of the deferred objects, in their arrival order. Every key of their batch
 * is in the view by now, so a link between two of them resolves on this first mapping (a
 * VM and its VBDs, VIFs and metrics), where mapping each on arrival left the first one
 * pending and mapped it again at the settle. The trees are freed after the last mapping:
 * a VM reads its metrics, mapped before it in the same flush, from their tree.
 */
static void defer_flush(gw_view_t *v)
{
    for (size_t i = 0; i < v->ndeferred; i++) {
        deferred_t *e = &v->deferred[i];
        char ref[512]; /* refs are under 500 bytes (gw_view_apply_object) */
        const char *r = obj_ref(&v->objs[e->idx - 1]);
        rec_src_t src = {e->text, e->text_len, false, false};

        memcpy(ref, r, strlen(r) + 1); /* install frees the deferred object's copy */
        if (install(v, e->idx, ref, e->snap, &src, true, NULL, 0) != XO_OK &&
            (v->objs[e->idx - 1].flags & F_DEFERRED))
            defer_drop(v, e->idx);
    }
    for (size_t i = 0; i < v->ndeferred; i++) { /* a failed one was dropped: not F_HELD */
        deferred_t *e = &v->deferred[i];
        v->objs[e->idx - 1].flags &= (uint8_t)~F_HELD;
        json_object_put(e->snap);
        free(e->text);
    }
    v->ndeferred = 0;
}

/*
 * The text a deferred record's first mapping keeps: its snapshot's text, copied only when
 * its class keeps records. Another one keeps its record only when links stay unresolved
 * at its mapping (rare: the batch's keys are in), then from its tree serialized, which
 * reads back as the same record. @returns false out of memory.
 */
static bool defer_keep_text(gw_view_t *v, deferred_t *e, uint8_t cls, const char *msg,
                            size_t msg_len, json_object *snap)
{
    const char *text;
    size_t len;

    e->text = NULL;
    e->text_len = 0;
    if (!v->class_keeps[cls])
        return true;
    text = record_text(&(rec_src_t){msg, msg_len, true, false}, snap, &len);
    if (!text)
        return false;
    e->text = malloc(len + 1);
    if (!e->text)
        return false;
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    e->text_len = len;
    return true;
}

/*
 * A new object enters by its key and id only (what links to it resolve to), its record
 * held until defer_flush. Refused here, as install would refuse it, when its record has
 * no id, so that its verdict is known on arrival.
 */
static xo_err_t defer_add(gw_view_t *v, uint16_t pool, uint8_t cls, const char *ref,
                          json_object *snap, const char *msg, size_t msg_len, char *errstr,
                          size_t errstr_size)
{
    char id[GW_ID_MAX];
    size_t reflen = strlen(ref), idlen;
    uint32_t idx;
    obj_t *o;
    deferred_t *e;
    xo_err_t err =
        gw_xo_id(v->classes[cls], ref, snap, v->pools[pool].uuid, id, errstr, errstr_size);

    if (err != XO_OK)
        return err;
    if (!v->deferred && !(v->deferred = malloc(DEFER_MAX * sizeof(deferred_t))))
        return XO_ERR_NOMEM;
    if (v->ndeferred == DEFER_MAX)
        defer_flush(v);
    idx = alloc_obj(v);
    if (!idx)
        return XO_ERR_NOMEM;
    o = &v->objs[idx - 1];
    e = &v->deferred[v->ndeferred];
    idlen = strlen(id);
    o->data = malloc(reflen + 1 + idlen + 1 + 1);
    if (!o->data || !defer_keep_text(v, e, cls, msg, msg_len, snap)) {
        free_obj(v, idx);
        return XO_ERR_NOMEM;
    }
    memcpy(o->data, ref, reflen + 1);
    memcpy(o->data + reflen + 1, id, idlen + 1);
    o->data[reflen + 1 + idlen + 1] = '\0'; /* no JSON yet */
    o->id_off = (uint16_t)(reflen + 1);
    o->pool = pool;
    o->cls = cls;
    o->hkey = hash_key(pool, cls, ref);
    o->flags = F_USED | F_DEFERRED | F_HELD | (o->flags & F_WAITING);
    if (!table_insert(v, &v->by_key, idx)) {
        free(e->text);
        free_obj(v, idx);
        return XO_ERR_NOMEM;
    }
    e->snap = json_object_get(snap);
    e->idx = idx;
    o->held = (uint8_t)++v->ndeferred;
    return XO_OK;
}

/* The object with this key, mapped: a deferred one is mapped first (with the others, in
 * their order), as a second record or a tombstone of it must follow its first mapping. */
static uint32_t find_mapped(gw_view_t *v, uint16_t pool, uint8_t cls, const char *ref)
{
    uint32_t idx = find_by_key(v, pool, cls, ref);

    if (idx && (v->objs[idx - 1].flags & F_DEFERRED)) {
        defer_flush(v);
        idx = find_by_key(v, pool, cls, ref);
    }
    return idx;
}

/* Size @p t for @p count entries; the slots stay as they are when they already fit. */
static bool table_reserve(gw_view_t *v, table_t *t, size_t count)
{
    size_t cap = t->mask + 1;

    while (!table_fits(count, cap))
        cap *= 2;
    return cap == t->mask + 1 || table_resize(v, t, cap);
}

bool gw_view_reserve(gw_view_t *v, size_t objects)
{
    if (objects > GW_VIEW_RESERVE_MAX)
        objects = GW_VIEW_RESERVE_MAX;
    if (objects > v->capobjs) {
        obj_t *n = realloc(v->objs, objects * sizeof(obj_t));
        if (!n)
            return false;
        v->objs = n;
        v->capobjs = objects;
    }
    return table_reserve(v, &v->by_id, objects) && table_reserve(v, &v->by_key, objects);
}

void gw_view_set_defer_new(gw_view_t *v, bool on)
{
    if (!on)
        defer_flush(v);
    v->defer_new = on;
}

xo_err_t gw_view_apply_object(gw_view_t *v, const char *pool, const char *cls, const char *ref,
                              json_object *snapshot, const char *msg, size_t msg_len, char *errstr,
                              size_t errstr_size)
{
    int p = find_pool(v, pool, true), c;
    uint32_t idx, dep;
    bool fresh = false;
    xo_err_t err;

    if (p < 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "too many pools or bad pool uuid");
    c = find_class(v, cls, true);
    if (c < 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "too many classes");
    if (strlen(ref) >= 500)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "ref too long");
    idx = find_mapped(v, (uint16_t)p, (uint8_t)c, ref);
    if (!idx && v->defer_new)
        return defer_add(v, (uint16_t)p, (uint8_t)c, ref, snapshot, msg, msg_len, errstr,
                         errstr_size);
    if (!idx) {
        idx = alloc_obj(v);
        if (!idx)
            return XO_ERR_NOMEM;
        v->objs[idx - 1].pool = (uint16_t)p;
        v->objs[idx - 1].cls = (uint8_t)c;
        fresh = true;
    }
    err = install(v, idx, ref, snapshot, &(rec_src_t){msg, msg_len, true, false}, fresh, errstr,
                  errstr_size);
    if (err != XO_OK) {
        if (fresh && !(v->objs[idx - 1].flags & F_USED))
            free_obj(v, idx);
        return err;
    }
    dep = v->objs[idx - 1].dep;
    if (dep && dep != idx)
        remap(v, dep, 1);
    return XO_OK;
}

xo_err_t gw_view_apply_delete(gw_view_t *v, const char *pool, const char *cls, const char *ref)
{
    int p = find_pool(v, pool, false), c = find_class(v, cls, false);
    uint32_t idx, dep;
    obj_t *o;

    if (p < 0 || c < 0)
        return XO_ERR_NOTFOUND;
    idx = find_mapped(v, (uint16_t)p, (uint8_t)c, ref);
    if (!idx)
        return XO_ERR_NOTFOUND;
    o = &v->objs[idx - 1];
    if (o->type != GW_T_NONE)
        emit(v, o->pool, obj_id(o), NULL, 0);
    table_remove(v, &v->by_id, idx);
    table_remove(v, &v->by_key, idx);
    type_unlink(v, idx);
    pool_unlink(v, idx);
    if (o->flags & F_PENDING)
        v->pending--; /* the pool's list drops it at the next settle (not USED) */
    v->bytes -= strlen(obj_ref(o)) + strlen(obj_id(o)) + o->json_len + 3 + o->rec_len;
    dep = o->dep;
    v->live--;
    free_obj(v, idx);
    /* An index may be reused by a later object: pending lists check F_USED and ids. */
    for (size_t i = 0; i < v->pools[p].npending; i++)
        if (v->pools[p].pending[i] == idx)
            v->pools[p].pending[i] = NONE;
    if (dep && dep != idx)
        remap(v, dep, 1);
    return XO_OK;
}

xo_err_t gw_view_apply_sync(gw_view_t *v, const char *pool, int64_t gen, int64_t objects,
                            int64_t ts)
{
    int p = find_pool(v, pool, true);
    if (p < 0)
        return XO_ERR_LIMIT;
    v->pools[p].synced = true;
    v->pools[p].sync_gen = gen;
    v->pools[p].sync_objects = objects;
    v->pools[p].sync_ts = ts;
    v->pools[p].touched = true;
    return XO_OK;
}

/* Every object of a pool enters the view (its agent announced it) or leaves it (its
 * heartbeat was deleted), as a held pool's objects were never announced. */
static void emit_pool(gw_view_t *v, int p, bool enter)
{
    for (uint32_t idx = v->pools[p].head; v->emit && idx; idx = v->objs[idx - 1].pnext) {
        const obj_t *o = &v->objs[idx - 1];
        if (o->type != GW_T_NONE)
            v->emit(v->emit_opaque, obj_id(o), enter ? obj_json(o) : NULL, enter ? o->json_len : 0);
    }
}

xo_err_t gw_view_apply_agent(gw_view_t *v, const char *pool, json_object *hb, const char *msg,
                             size_t msg_len)
{
    int p = find_pool(v, pool, hb != NULL);
    pool_t *pp;
    json_object *f;
    bool was_served;

    if (p < 0)
        return hb ? XO_ERR_LIMIT : XO_ERR_NOTFOUND;
    pp = &v->pools[p];
    was_served = pool_served(v, (uint16_t)p);
    free(pp->agent_json);
    pp->agent_json = NULL;
    pp->agent_state[0] = '\0';
    pp->agent_id[0] = '\0';
    pp->agent_ts = 0;
    pp->hb_interval_ms = 0;
    if (hb) {
        pp->agent_json = strndup(msg, msg_len);
        if (json_object_object_get_ex(hb, "state", &f))
            snprintf(pp->agent_state, sizeof(pp->agent_state), "%s", json_object_get_string(f));
        if (json_object_object_get_ex(hb, "agent", &f))
            snprintf(pp->agent_id, sizeof(pp->agent_id), "%s", json_object_get_string(f));
        if (json_object_object_get_ex(hb, "ts", &f))
            pp->agent_ts = json_object_get_int64(f);
        if (json_object_object_get_ex(hb, "interval_ms", &f) &&
            json_object_is_type(f, json_type_int))
            pp->hb_interval_ms = json_object_get_int64(f);
    }
    if (was_served != pool_served(v, (uint16_t)p))
        emit_pool(v, p, !was_served);
    return XO_OK;
}

/* Take a pending object out of pending and map it again (pending anew, with new waiters,
 * if still unresolved). */
static void retry_pending(gw_view_t *v, uint32_t idx)
{
    obj_t *o = &v->objs[idx - 1];

    if ((o->flags & (F_USED | F_PENDING)) != (F_USED | F_PENDING))
        return;
    o->flags &= (uint8_t)~F_PENDING;
    v->pending--;
    remap(v, idx, 0);
}

/* Keep in a pool's pending list only the objects still pending, each once. */
static void compact_pending(gw_view_t *v, pool_t *pp)
{
    size_t w = 0;

    for (size_t i = 0; i < pp->npending; i++) {
        uint32_t idx = pp->pending[i];
        if (idx &&
            (v->objs[idx - 1].flags & (F_USED | F_PENDING | F_LISTED)) == (F_USED | F_PENDING)) {
            v->objs[idx - 1].flags |= F_LISTED;
            pp->pending[w++] = idx;
        }
    }
    for (size_t i = 0; i < w; i++)
        v->objs[pp->pending[i] - 1].flags &= (uint8_t)~F_LISTED;
    pp->npending = w;
}

void gw_view_settle(gw_view_t *v)
{
    defer_flush(v); /* new objects of this batch: first, their keys wake the waiters */
    /* Objects whose awaited key arrived in this batch. */
    for (size_t i = 0; i < v->nready; i++) {
        uint32_t idx = v->ready[i];
        if (!idx || idx > v->nobjs)
            continue;
        v->objs[idx - 1].flags &= (uint8_t)~F_READY;
        retry_pending(v, idx);
    }
    v->nready = 0;
    /* Pools whose _sync arrived: one full retry of their pending objects, then compact. */
    for (size_t p = 0; p < v->npools; p++) {
        pool_t *pp = &v->pools[p];
        size_t n;
        if (!pp->touched)
            continue;
        pp->touched = false;
        /* Each remap of a pending object appended it again: retry each once, and not the
         * objects pending again during the retry. */
        compact_pending(v, pp);
        n = pp->npending;
        for (size_t i = 0; i < n; i++)
            if (pp->pending[i])
                retry_pending(v, pp->pending[i]);
        compact_pending(v, pp);
    }
}

/* ---- readers ---- */

static void fill_info(const gw_view_t *v, const obj_t *o, gw_obj_info_t *out)
{
    out->id = obj_id(o);
    out->ref = obj_ref(o);
    out->cls = v->classes[o->cls];
    out->pool = v->pools[o->pool].uuid;
    out->type = (gw_type_t)o->type;
    out->json = obj_json(o);
    out->json_len = o->json_len;
}

bool gw_view_get(gw_view_t *v, const char *id, gw_obj_info_t *out)
{
    uint32_t idx = find_served_by_id(v, id);
    if (!idx)
        return false;
    fill_info(v, &v->objs[idx - 1], out);
    return true;
}

bool gw_view_get_by_ref(gw_view_t *v, const char *pool, const char *cls, const char *ref,
                        gw_obj_info_t *out)
{
    int p = -1, c = -1;
    uint32_t idx;

    /* plain scans: readers must not touch the find_pool/find_class caches */
    for (size_t i = 0; p < 0 && i < v->npools; i++)
        if (!strcmp(v->pools[i].uuid, pool))
            p = (int)i;
    for (size_t i = 0; c < 0 && i < v->nclasses; i++)
        if (!strcmp(v->classes[i], cls))
            c = (int)i;
    if (p < 0 || c < 0 || !pool_served(v, (uint16_t)p))
        return false;
    idx = find_by_key(v, (uint16_t)p, (uint8_t)c, ref);
    if (!idx || (v->objs[idx - 1].flags & F_DEFERRED))
        return false;
    fill_info(v, &v->objs[idx - 1], out);
    return true;
}

void gw_view_foreach(gw_view_t *v, gw_type_t type, const char *pool, gw_view_visit_cb cb,
                     void *opaque)
{
    gw_obj_info_t info;

    if (pool) {
        int p = -1;
        for (size_t i = 0; i < v->npools; i++)
            if (!strcmp(v->pools[i].uuid, pool))
                p = (int)i;
        if (p < 0 || !pool_served(v, (uint16_t)p))
            return;
        for (uint32_t idx = v->pools[p].head; idx; idx = v->objs[idx - 1].pnext) {
            const obj_t *o = &v->objs[idx - 1];
            if (o->type == GW_T_NONE || (type != GW_T_NONE && o->type != type))
                continue;
            fill_info(v, o, &info);
            if (!cb(opaque, &info))
                return;
        }
        return;
    }
    for (int t = 1; t < GW_T_COUNT; t++) {
        if (type != GW_T_NONE && t != (int)type)
            continue;
        for (uint32_t idx = v->type_head[t]; idx; idx = v->objs[idx - 1].tnext) {
            if (!pool_served(v, v->objs[idx - 1].pool))
                continue; /* held: its pool has no agent heartbeat */
            fill_info(v, &v->objs[idx - 1], &info);
            if (!cb(opaque, &info))
                return;
        }
    }
}

void gw_view_foreach_pool(gw_view_t *v, gw_view_pool_cb cb, void *opaque)
{
    for (size_t i = 0; i < v->npools; i++) {
        const pool_t *p = &v->pools[i];
        gw_pool_info_t info = {
            .uuid = p->uuid,
            .objects = p->objects,
            .synced = p->synced,
            .sync_gen = p->sync_gen,
            .sync_objects = p->sync_objects,
            .sync_ts = p->sync_ts,
            .agent_state = p->agent_json ? p->agent_state : NULL,
            .agent_id = p->agent_json ? p->agent_id : NULL,
            .agent_json = p->agent_json,
            .agent_ts = p->agent_ts,
            .hb_interval_ms = p->hb_interval_ms,
            .held = !pool_served(v, (uint16_t)i),
        };
        cb(opaque, &info);
    }
}

void gw_view_stats(gw_view_t *v, gw_view_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->objects = v->live;
    for (int t = 0; t < GW_T_COUNT; t++)
        st->by_type[t] = v->type_count[t];
    st->pending = v->pending;
    st->bytes = v->bytes;
    st->table_bytes = v->capobjs * sizeof(obj_t) + (v->by_id.mask + 1) * 5 +
                      (v->by_key.mask + 1) * 5 + v->cappools * sizeof(pool_t);
    st->pools = v->npools;
    st->remaps = v->remaps;
    st->waiters = v->nwaiters;
}
