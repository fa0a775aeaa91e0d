/*
 * xo_strmap.c - open-addressing string map. Deletions leave tombstones that inserts reuse
 * and that a rehash (on growth) drops. Must not be shared between threads without a lock.
 */
#include "xo_strmap.h"

#include <stdlib.h>
#include <string.h>

#define TOMBSTONE ((char *)1)

typedef struct {
    char *key; /* NULL empty, TOMBSTONE deleted */
    int64_t value;
    uint64_t hash;
} slot_t;

struct xo_strmap {
    slot_t *slots;
    size_t cap, count, used; /* used = live + tombstones */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

xo_strmap_t *xo_strmap_new(void)
{
    xo_strmap_t *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->cap = 16;
    m->slots = calloc(m->cap, sizeof(slot_t));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void xo_strmap_clear(xo_strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key && m->slots[i].key != TOMBSTONE)
            free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->count = m->used = 0;
}

void xo_strmap_free(xo_strmap_t *m)
{
    if (!m)
        return;
    xo_strmap_clear(m);
    free(m->slots);
    free(m);
}

/* Index of the key's slot, or of the slot where it would go (first tombstone or empty). */
static size_t find(const xo_strmap_t *m, const char *key, uint64_t h, bool *found)
{
    size_t mask = m->cap - 1, i = h & mask, first_free = (size_t)-1;

    for (;; i = (i + 1) & mask) {
        slot_t *s = &m->slots[i];
        if (!s->key) {
            *found = false;
            return first_free != (size_t)-1 ? first_free : i;
        }
        if (s->key == TOMBSTONE) {
            if (first_free == (size_t)-1)
                first_free = i;
        } else if (s->hash == h && strcmp(s->key, key) == 0) {
            *found = true;
            return i;
        }
    }
}

static xo_err_t grow(xo_strmap_t *m)
{
    size_t cap = m->count * 4 > m->cap ? m->cap * 2 : m->cap; /* else just drop tombstones */
    slot_t *old = m->slots, *slots = calloc(cap, sizeof(slot_t));
    size_t old_cap = m->cap;

    if (!slots)
        return XO_ERR_NOMEM;
    m->slots = slots;
    m->cap = cap;
    m->used = m->count;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key && old[i].key != TOMBSTONE) {
            size_t j = old[i].hash & (cap - 1);
            while (slots[j].key)
                j = (j + 1) & (cap - 1);
            slots[j] = old[i];
        }
    }
    free(old);
    return XO_OK;
}

/* Set or add @p value at @p key; the value now stored goes to *@p now when not NULL. */
static xo_err_t upsert(xo_strmap_t *m, const char *key, int64_t value, bool add, int64_t *now)
{
    uint64_t h = hash_str(key);
    bool found;
    size_t i;

    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) != XO_OK)
        return XO_ERR_NOMEM;
    i = find(m, key, h, &found);
    if (found) {
        m->slots[i].value = add ? m->slots[i].value + value : value;
    } else {
        char *copy = strdup(key);
        if (!copy)
            return XO_ERR_NOMEM;
        if (!m->slots[i].key)
            m->used++;
        m->slots[i] = (slot_t){copy, value, h};
        m->count++;
    }
    if (now)
        *now = m->slots[i].value;
    return XO_OK;
}

xo_err_t xo_strmap_set(xo_strmap_t *m, const char *key, int64_t value)
{
    return upsert(m, key, value, false, NULL);
}

xo_err_t xo_strmap_add(xo_strmap_t *m, const char *key, int64_t delta, int64_t *after)
{
    return upsert(m, key, delta, true, after);
}

bool xo_strmap_get(const xo_strmap_t *m, const char *key, int64_t *value)
{
    bool found;
    size_t i = find(m, key, hash_str(key), &found);

    if (found && value)
        *value = m->slots[i].value;
    return found;
}

bool xo_strmap_del(xo_strmap_t *m, const char *key)
{
    bool found;
    size_t i = find(m, key, hash_str(key), &found);

    if (!found)
        return false;
    free(m->slots[i].key);
    m->slots[i].key = TOMBSTONE;
    m->count--;
    return true;
}

size_t xo_strmap_count(const xo_strmap_t *m)
{
    return m->count;
}

const char *xo_strmap_next(const xo_strmap_t *m, size_t *pos, int64_t *value)
{
    for (; *pos < m->cap; (*pos)++) {
        slot_t *s = &m->slots[*pos];
        if (s->key && s->key != TOMBSTONE) {
            (*pos)++;
            if (value)
                *value = s->value;
            return s->key;
        }
    }
    return NULL;
}
