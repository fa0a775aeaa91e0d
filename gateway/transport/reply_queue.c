/*
 * reply_queue.c - the copied replies of reply_queue.h, a mutex-protected FIFO. Takes the
 * whole list under the mutex and delivers outside it, so a pusher never waits on a
 * delivery. Never logs.
 */
#include "transport/reply_queue.h"

#include <stdlib.h>
#include <string.h>

struct gw_queued_reply {
    gw_queued_reply_t *next;
    gw_cmd_waiter_t waiter;
    char *command_id, *result_json; /* NULL when the reply had none */
    bool ok, has_err;
    gw_xo_err_t err;
};

int gw_reply_queue_init(gw_reply_queue_t *q)
{
    q->head = q->tail = NULL;
    return pthread_mutex_init(&q->mu, NULL);
}

static void reply_free(gw_queued_reply_t *e)
{
    free(e->command_id);
    free(e->result_json);
    gw_xo_err_fini(&e->err);
    free(e);
}

static gw_queued_reply_t *take_all(gw_reply_queue_t *q)
{
    gw_queued_reply_t *list;

    pthread_mutex_lock(&q->mu);
    list = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return list;
}

void gw_reply_queue_fini(gw_reply_queue_t *q)
{
    for (gw_queued_reply_t *e = take_all(q), *next; e; e = next) {
        next = e->next;
        reply_free(e);
    }
    pthread_mutex_destroy(&q->mu);
}

static bool copy_text(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

bool gw_reply_queue_push(gw_reply_queue_t *q, const gw_cmd_reply_t *r)
{
    gw_queued_reply_t *e = calloc(1, sizeof(*e));

    if (!e)
        return false;
    gw_xo_err_init(&e->err);
    e->waiter = *r->waiter;
    e->ok = r->ok;
    if (r->err) {
        e->has_err = true;
        e->err.code = r->err->code;
        memcpy(e->err.message, r->err->message, sizeof(e->err.message));
        if (r->err->data.len > 0)
            gw_buf_append(&e->err.data, r->err->data.data, r->err->data.len);
    }
    if (!copy_text(&e->command_id, r->command_id) || !copy_text(&e->result_json, r->result_json) ||
        e->err.data.failed) {
        reply_free(e);
        return false;
    }
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    pthread_mutex_unlock(&q->mu);
    return true;
}

void gw_reply_queue_drain(gw_reply_queue_t *q, gw_cmd_reply_cb deliver, void *opaque)
{
    for (gw_queued_reply_t *e = take_all(q), *next; e; e = next) {
        gw_cmd_reply_t r = {&e->waiter, e->command_id, e->ok, e->result_json,
                            e->has_err ? &e->err : NULL};
        next = e->next;
        deliver(opaque, &r);
        reply_free(e);
    }
}
