/*
 * reply_queue.h - command replies on their way to another service thread. The command
 * bus answers a waiter on whichever service thread runs it (bus/commands.h: its reply
 * pointers are borrowed for the call only); when the waiting connection belongs to the
 * other thread's libwebsockets context, which only its own thread may touch, the reply is
 * copied here and that thread, woken, delivers it. Any thread may push; one drains.
 */
#ifndef GW_REPLY_QUEUE_H
#define GW_REPLY_QUEUE_H

#include <pthread.h>
#include <stdbool.h>

#include "bus/commands.h"

typedef struct gw_queued_reply gw_queued_reply_t;

typedef struct {
    pthread_mutex_t mu;
    gw_queued_reply_t *head, *tail; /**< under mu, oldest first */
} gw_reply_queue_t;

/** @returns 0 or the pthread error. */
int gw_reply_queue_init(gw_reply_queue_t *q);

/** @brief Free what is still queued (nobody will deliver it), then the queue. */
void gw_reply_queue_fini(gw_reply_queue_t *q);

/** @brief Queue a copy of @p r (borrowed). @returns false when out of memory (the reply
 *         is lost: its waiter then sees nothing, as when its connection left). */
bool gw_reply_queue_push(gw_reply_queue_t *q, const gw_cmd_reply_t *r);

/** @brief Hand every queued reply, oldest first, to @p deliver (pointers valid for the
 *         call), then free it. */
void gw_reply_queue_drain(gw_reply_queue_t *q, gw_cmd_reply_cb deliver, void *opaque);

#endif
