/*
 * fair_lock.h - a recursive lock handed out in arrival order (a ticket lock). The two
 * service threads of the listener (transport/http_server.c) take it around every piece of
 * work they do on the rooms below the transport, which are single-threaded: whoever waits
 * gets it at the holder's next release, so a thread that takes and releases it in a tight
 * loop (the notification fan-out, one callback per connection) cannot starve the other.
 * Holds nothing but itself; never logs.
 */
#ifndef GW_FAIR_LOCK_H
#define GW_FAIR_LOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t turn;
    uint64_t next;           /**< the next ticket handed out (under mu) */
    uint64_t serving;        /**< the ticket that holds the lock (under mu) */
    _Atomic uintptr_t owner; /**< the holding thread's token, 0: free */
    unsigned depth;          /**< the holder's nested takes (holder only) */
} gw_fair_lock_t;

/** @brief An unheld lock. @returns 0, or the pthread error. */
int gw_fair_lock_init(gw_fair_lock_t *l);

/** @brief Free what gw_fair_lock_init() made; the lock must be unheld. */
void gw_fair_lock_fini(gw_fair_lock_t *l);

/** @brief Take the lock, after every thread that asked before; again by its holder: at
 *         once (count it). NULL: a no-op (nothing shared, as in unit tests). */
void gw_fair_lock(gw_fair_lock_t *l);

/** @brief Give back one take; the last one hands the lock to the longest waiter. */
void gw_fair_unlock(gw_fair_lock_t *l);

/** @brief Threads holding or waiting for the lock (tests). */
size_t gw_fair_lock_queued(gw_fair_lock_t *l);

#endif
