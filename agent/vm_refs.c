/*
 * vm_refs.c - the VMs' refs by uuid (vm_refs.h): two json-c objects used as hash tables,
 * uuid -> ref and ref -> uuid (a tombstone names the ref only), under one mutex. Must not
 * call XAPI or Kafka: it only remembers what publish.c saw.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_refs.h"

struct agent_vm_refs {
    pthread_mutex_t mu;
    json_object *by_uuid; /* uuid -> ref */
    json_object *by_ref;  /* ref -> uuid */
};

agent_vm_refs_t *agent_vm_refs_new(void)
{
    agent_vm_refs_t *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->by_uuid = json_object_new_object();
    t->by_ref = json_object_new_object();
    if (!t->by_uuid || !t->by_ref) {
        agent_vm_refs_free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void agent_vm_refs_free(agent_vm_refs_t *t)
{
    if (!t)
        return;
    if (t->by_uuid && t->by_ref)
        pthread_mutex_destroy(&t->mu);
    json_object_put(t->by_uuid);
    json_object_put(t->by_ref);
    free(t);
}

static const char *lookup(json_object *map, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(map, key, &v) ? json_object_get_string(v) : NULL;
}

/* Remove @p ref and its uuid, if that uuid still names it. Under t->mu; @p ref may point
 * into the tables, so it is copied first. */
static void forget_locked(agent_vm_refs_t *t, const char *ref)
{
    char *gone = strdup(ref);
    const char *uuid = gone ? lookup(t->by_ref, gone) : NULL;
    const char *now = uuid ? lookup(t->by_uuid, uuid) : NULL;

    if (now && strcmp(now, gone) == 0)
        json_object_object_del(t->by_uuid, uuid);
    if (gone)
        json_object_object_del(t->by_ref, gone); /* frees uuid: last */
    free(gone);
}

void agent_vm_refs_put(agent_vm_refs_t *t, const char *uuid, const char *ref)
{
    const char *old;

    if (!t || !uuid || !*uuid || !ref || !*ref)
        return;
    pthread_mutex_lock(&t->mu);
    old = lookup(t->by_uuid, uuid);
    if (!old || strcmp(old, ref) != 0) {
        if (old) /* the same uuid under a new ref: the old ref is gone */
            forget_locked(t, old);
        forget_locked(t, ref); /* the ref under another uuid (XAPI never does that) */
        json_object_object_add(t->by_uuid, uuid, json_object_new_string(ref));
        json_object_object_add(t->by_ref, ref, json_object_new_string(uuid));
    }
    pthread_mutex_unlock(&t->mu);
}

void agent_vm_refs_forget(agent_vm_refs_t *t, const char *ref)
{
    if (!t || !ref)
        return;
    pthread_mutex_lock(&t->mu);
    forget_locked(t, ref);
    pthread_mutex_unlock(&t->mu);
}

bool agent_vm_refs_get(agent_vm_refs_t *t, const char *uuid, char *ref, size_t size)
{
    const char *found;
    bool ok = false;

    if (!t || !uuid || !*uuid)
        return false;
    pthread_mutex_lock(&t->mu);
    found = lookup(t->by_uuid, uuid);
    if (found && strlen(found) < size) {
        memcpy(ref, found, strlen(found) + 1);
        ok = true;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

size_t agent_vm_refs_count(agent_vm_refs_t *t)
{
    size_t n;

    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    n = (size_t)json_object_object_length(t->by_uuid);
    pthread_mutex_unlock(&t->mu);
    return n;
}
