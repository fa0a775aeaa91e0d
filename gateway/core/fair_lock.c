/*
 * fair_lock.c - the ticket lock of fair_lock.h. A thread is known by the address of a
 * thread-local byte (unique while the thread lives), so recursion needs no pthread_t
 * comparison under a lock. Must not block anywhere but in gw_fair_lock().
 */
#include "core/fair_lock.h"

static _Thread_local char thread_token;

static uintptr_t self(void)
{
    return (uintptr_t)&thread_token;
}

int gw_fair_lock_init(gw_fair_lock_t *l)
{
    int rc = pthread_mutex_init(&l->mu, NULL);

    if (rc != 0)
        return rc;
    rc = pthread_cond_init(&l->turn, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&l->mu);
        return rc;
    }
    l->next = l->serving = 0;
    atomic_init(&l->owner, 0);
    l->depth = 0;
    return 0;
}

void gw_fair_lock_fini(gw_fair_lock_t *l)
{
    pthread_cond_destroy(&l->turn);
    pthread_mutex_destroy(&l->mu);
}

void gw_fair_lock(gw_fair_lock_t *l)
{
    uint64_t ticket;

    if (!l)
        return;
    /* only this thread ever stores its own token: a stale read cannot equal it */
    if (atomic_load_explicit(&l->owner, memory_order_relaxed) == self()) {
        l->depth++;
        return;
    }
    pthread_mutex_lock(&l->mu);
    ticket = l->next++;
    while (ticket != l->serving)
        pthread_cond_wait(&l->turn, &l->mu);
    pthread_mutex_unlock(&l->mu);
    atomic_store_explicit(&l->owner, self(), memory_order_relaxed);
    l->depth = 1;
}

void gw_fair_unlock(gw_fair_lock_t *l)
{
    if (!l || --l->depth > 0)
        return;
    atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
    pthread_mutex_lock(&l->mu);
    l->serving++;
    pthread_cond_broadcast(&l->turn);
    pthread_mutex_unlock(&l->mu);
}

size_t gw_fair_lock_queued(gw_fair_lock_t *l)
{
    size_t n;

    pthread_mutex_lock(&l->mu);
    n = (size_t)(l->next - l->serving);
    pthread_mutex_unlock(&l->mu);
    return n;
}
