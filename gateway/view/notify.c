/*
 * notify.c - the `all` batch (see notify.h): an id-keyed hash of pending changes swapped
 * out under a mutex by the service thread. Must not touch the view or any client, and
 * never blocks the consumer for longer than a hash insert.
 */
#include "view/notify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t id;   /* offset of the id (NUL-terminated) in the batch's arena */
    size_t json; /* offset of the state in the arena; NO_JSON: exit */
    size_t len;
    int64_t ts;
} entry_t;

#define NO_JSON SIZE_MAX

/* The ids and states live in one arena per batch, so a batch is three blocks, and a batch
 * taken by the service thread goes back to the consumer to be filled again: the consumer's
 * blocks are not freed by the other thread (under mimalloc such a free is an atomic push
 * on a page the consumer allocates from, which it has to collect before reusing them). A
 * merged change leaves its old state in the arena: once those dead bytes are most of a
 * large arena, the live ones are copied together (so a batch that waits long, the sessions
 * thread behind, holds what its ids need, not every state it ever had). */
typedef struct {
    entry_t *e;
    size_t n, cap;
    uint32_t *slots; /* +1 entry indexes */
    size_t mask;
    char *arena;
    size_t alen, acap;
    size_t dead; /* bytes of merged-away states in the arena */
} batch_t;

#define COMPACT_MIN (256u * 1024) /* an arena smaller than this is never compacted */

/* A spent batch bigger than this (a sync seen by subscribers) is freed, not kept. */
#define SPARE_MAX_ARENA   (8u * 1024 * 1024)
#define SPARE_MAX_ENTRIES 16384u

struct gw_notify {
    pthread_mutex_t mu;
    batch_t cur;
    batch_t spare; /* emptied, memory kept: the next batch once cur is taken */
    atomic_int subscribers;
    int64_t ts;
    void (*wake)(void *);
    void *wake_opaque;
    uint64_t reused;
};

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static void batch_fini(batch_t *b)
{
    free(b->e);
    free(b->slots);
    free(b->arena);
    memset(b, 0, sizeof(*b));
}

/* Empty @p b, keeping its memory for the next batch. */
static void batch_reset(batch_t *b)
{
    if (b->slots)
        memset(b->slots, 0, (b->mask + 1) * sizeof(uint32_t));
    b->n = 0;
    b->alen = 0;
    b->dead = 0;
}

static const char *entry_id(const batch_t *b, const entry_t *e)
{
    return b->arena + e->id;
}

static bool batch_rehash(batch_t *b, size_t cap)
{
    uint32_t *slots = calloc(cap, sizeof(uint32_t));
    if (!slots)
        return false;
    for (size_t i = 0; i < b->n; i++) {
        size_t pos = hash_id(entry_id(b, &b->e[i])) & (cap - 1);
        while (slots[pos])
            pos = (pos + 1) & (cap - 1);
        slots[pos] = (uint32_t)i + 1;
    }
    free(b->slots);
    b->slots = slots;
    b->mask = cap - 1;
    return true;
}

/* Copy @p len bytes and a NUL to the arena; its offset in @p off. */
static bool arena_put(batch_t *b, const char *s, size_t len, size_t *off)
{
    if (b->acap - b->alen < len + 1) {
        size_t ncap = b->acap ? b->acap : 64 * 1024;
        char *na;
        while (ncap - b->alen < len + 1)
            ncap *= 2;
        na = realloc(b->arena, ncap);
        if (!na)
            return false;
        b->arena = na;
        b->acap = ncap;
    }
    memcpy(b->arena + b->alen, s, len);
    b->arena[b->alen + len] = '\0';
    *off = b->alen;
    b->alen += len + 1;
    return true;
}

static bool batch_grow(batch_t *b)
{
    if (!b->slots || (b->n + 1) * 2 > b->mask + 1) {
        if (!batch_rehash(b, b->slots ? (b->mask + 1) * 2 : 256))
            return false;
    }
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        entry_t *ne = realloc(b->e, ncap * sizeof(*ne));
        if (!ne)
            return false;
        b->e = ne;
        b->cap = ncap;
    }
    return true;
}

/* Copy the live ids and states into a new arena of the same size (on failure the dead
 * bytes just stay). Consumer thread. */
static void batch_compact(batch_t *b)
{
    char *na = malloc(b->acap);
    size_t at = 0;

    if (!na)
        return;
    for (size_t i = 0; i < b->n; i++) {
        entry_t *e = &b->e[i];
        size_t idlen = strlen(entry_id(b, e)) + 1;
        memcpy(na + at, entry_id(b, e), idlen);
        e->id = at;
        at += idlen;
        if (e->json != NO_JSON) {
            memcpy(na + at, b->arena + e->json, e->len + 1);
            e->json = at;
            at += e->len + 1;
        }
    }
    free(b->arena);
    b->arena = na;
    b->alen = at;
    b->dead = 0;
}

static void batch_put(batch_t *b, const char *id, const char *json, size_t len, int64_t ts)
{
    size_t pos, json_off = NO_JSON, id_off;

    if (json && !arena_put(b, json, len, &json_off))
        return;
    if (!batch_grow(b))
        return;
    pos = hash_id(id) & b->mask;
    while (b->slots[pos]) {
        entry_t *e = &b->e[b->slots[pos] - 1];
        if (!strcmp(entry_id(b, e), id)) {
            if (e->json != NO_JSON)
                b->dead += e->len + 1;
            e->json = json_off; /* last state wins */
            e->len = len;
            if (b->alen > COMPACT_MIN && b->dead > b->alen / 2)
                batch_compact(b);
            return;
        }
        pos = (pos + 1) & b->mask;
    }
    if (!arena_put(b, id, strlen(id), &id_off))
        return;
    b->e[b->n] = (entry_t){id_off, json_off, len, ts};
    b->slots[pos] = (uint32_t)++b->n;
}

gw_notify_t *gw_notify_new(void)
{
    gw_notify_t *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    pthread_mutex_init(&n->mu, NULL);
    atomic_init(&n->subscribers, 0);
    return n;
}

void gw_notify_free(gw_notify_t *n)
{
    if (!n)
        return;
    batch_fini(&n->cur);
    batch_fini(&n->spare);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

void gw_notify_set_wake(gw_notify_t *n, void (*wake)(void *), void *opaque)
{
    n->wake = wake;
    n->wake_opaque = opaque;
}

void gw_notify_subscribers_add(gw_notify_t *n, int delta)
{
    atomic_fetch_add(&n->subscribers, delta);
}

int gw_notify_subscribers(gw_notify_t *n)
{
    return atomic_load(&n->subscribers);
}

void gw_notify_set_ts(gw_notify_t *n, int64_t ts_ms)
{
    n->ts = ts_ms;
}

void gw_notify_emit(void *opaque, const char *id, const char *json, size_t len)
{
    gw_notify_t *n = opaque;
    if (atomic_load(&n->subscribers) <= 0)
        return;
    pthread_mutex_lock(&n->mu);
    batch_put(&n->cur, id, json, len, n->ts);
    pthread_mutex_unlock(&n->mu);
}

void gw_notify_publish(gw_notify_t *n)
{
    bool any;
    pthread_mutex_lock(&n->mu);
    any = n->cur.n > 0;
    pthread_mutex_unlock(&n->mu);
    if (any && n->wake)
        n->wake(n->wake_opaque);
}

/* Hand a built batch's memory back to the consumer (the next-but-one batch), unless a
 * batch already waits there or it grew past what is worth keeping. Service thread. */
static void give_back(gw_notify_t *n, batch_t *b)
{
    bool keep = b->acap <= SPARE_MAX_ARENA && b->cap <= SPARE_MAX_ENTRIES;

    batch_reset(b);
    pthread_mutex_lock(&n->mu);
    if (keep && !n->spare.e && !n->spare.arena) {
        n->spare = *b;
        n->reused++;
        memset(b, 0, sizeof(*b));
    }
    pthread_mutex_unlock(&n->mu);
    batch_fini(b); /* nothing left when kept */
}

uint64_t gw_notify_batches_reused(gw_notify_t *n)
{
    uint64_t v;
    pthread_mutex_lock(&n->mu);
    v = n->reused;
    pthread_mutex_unlock(&n->mu);
    return v;
}

size_t gw_notify_pending_bytes(gw_notify_t *n)
{
    size_t v;
    pthread_mutex_lock(&n->mu);
    v = n->cur.alen;
    pthread_mutex_unlock(&n->mu);
    return v;
}

static const char ENTER_HEAD[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"all\",\"params\":{\"type\":\"enter\","
    "\"items\":{";
static const char EXIT_HEAD[] =
    "{\"jsonrpc\":\"2.0\",\"method\":\"all\",\"params\":{\"type\":\"exit\","
    "\"items\":{";

static bool push_msg(gw_notify_out_t *out, gw_buf_t *b, size_t *cap)
{
    gw_msg_t *m;
    gw_buf_puts(b, "}}}");
    m = gw_msg_from_buf(b);
    if (!m)
        return false;
    if (out->nmsgs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        gw_msg_t **nm = realloc(out->msgs, ncap * sizeof(*nm));
        if (!nm) {
            gw_msg_unref(m);
            return false;
        }
        out->msgs = nm;
        *cap = ncap;
    }
    out->msgs[out->nmsgs++] = m;
    return true;
}

bool gw_notify_take(gw_notify_t *n, gw_notify_out_t *out)
{
    batch_t b;
    gw_buf_t buf;
    size_t cap = 0, in_msg = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&n->mu);
    if (n->cur.n == 0) {
        pthread_mutex_unlock(&n->mu);
        return false;
    }
    b = n->cur;
    n->cur = n->spare; /* empty; the consumer fills it while this one is built */
    memset(&n->spare, 0, sizeof(n->spare));
    pthread_mutex_unlock(&n->mu);
    out->items = b.n;
    out->ts = malloc(b.n * sizeof(int64_t));
    for (size_t i = 0; out->ts && i < b.n; i++)
        out->ts[i] = b.e[i].ts;

    /* enter: one or more messages of at most GW_NOTIFY_MAX_MSG */
    gw_buf_init_pre(&buf, GW_MSG_PRE);
    for (size_t i = 0; i < b.n; i++) {
        entry_t *e = &b.e[i];
        if (e->json == NO_JSON)
            continue;
        if (in_msg > 0 && buf.len + e->len > GW_NOTIFY_MAX_MSG) {
            push_msg(out, &buf, &cap);
            gw_buf_init_pre(&buf, GW_MSG_PRE);
            in_msg = 0;
        }
        if (in_msg == 0)
            gw_buf_append(&buf, ENTER_HEAD, sizeof(ENTER_HEAD) - 1);
        else
            gw_buf_putc(&buf, ',');
        gw_buf_json_str(&buf, entry_id(&b, e));
        gw_buf_putc(&buf, ':');
        gw_buf_append(&buf, b.arena + e->json, e->len);
        in_msg++;
    }
    if (in_msg)
        push_msg(out, &buf, &cap);
    else
        gw_buf_fini(&buf);

    /* exit: {id: 0} */
    gw_buf_init_pre(&buf, GW_MSG_PRE);
    in_msg = 0;
    for (size_t i = 0; i < b.n; i++) {
        entry_t *e = &b.e[i];
        if (e->json != NO_JSON)
            continue;
        if (in_msg > 0 && buf.len > GW_NOTIFY_MAX_MSG) {
            push_msg(out, &buf, &cap);
            gw_buf_init_pre(&buf, GW_MSG_PRE);
            in_msg = 0;
        }
        if (in_msg == 0)
            gw_buf_append(&buf, EXIT_HEAD, sizeof(EXIT_HEAD) - 1);
        else
            gw_buf_putc(&buf, ',');
        gw_buf_json_str(&buf, entry_id(&b, e));
        gw_buf_puts(&buf, ":0");
        in_msg++;
    }
    if (in_msg)
        push_msg(out, &buf, &cap);
    else
        gw_buf_fini(&buf);
    give_back(n, &b);
    return true;
}

void gw_notify_out_fini(gw_notify_out_t *out)
{
    for (size_t i = 0; i < out->nmsgs; i++)
        gw_msg_unref(out->msgs[i]);
    free(out->msgs);
    free(out->ts);
    memset(out, 0, sizeof(*out));
}
