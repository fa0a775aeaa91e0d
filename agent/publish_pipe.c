/*
 * publish_pipe.c - hands the events of a full dump from the thread that decodes XAPI's answer
 * to a thread of its own that publishes them (issue 16: the decoding thread is the agent's
 * ceiling, and encoding records and queueing them in librdkafka took a third of its time).
 * One publisher, a short FIFO: XAPI's order is kept, memory stays a few events, and a full
 * queue makes the decoder wait, as Kafka back-pressure did before. The first error of the
 * publisher is the pipe's: the decoder sees it on its next push and stops.
 * Must not: publish out of order, or let the decoder touch what the publisher owns (the
 * handler's state) before agent_pipe_finish() joined it.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "agent.h"
#include "xo_log.h"

#define PIPE_SLOTS   64 /* decoded events waiting: a few MiB at most */
#define PIPE_TICK_MS 200

struct agent_pipe {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* an event queued or taken, an error, or the end */
    json_object *slot[PIPE_SLOTS];
    size_t head, count;
    bool closing; /* no more pushes: drain and end */
    xo_err_t err; /* the handler's first error (then events are dropped, not handled) */
    agent_pipe_fn fn;
    void *opaque;
    pthread_t thread;
};

static void wait_tick(agent_pipe_t *p)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += PIPE_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->changed, &p->mu, &ts);
}

static void *publisher(void *arg)
{
    agent_pipe_t *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        json_object *ev;
        xo_err_t err;

        while (!p->count && !p->closing)
            wait_tick(p);
        if (!p->count)
            break;
        ev = p->slot[p->head];
        p->head = (p->head + 1) % PIPE_SLOTS;
        p->count--;
        pthread_cond_broadcast(&p->changed);
        if (p->err != XO_OK) {
            json_object_put(ev);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        err = p->fn(ev, p->opaque);
        pthread_mutex_lock(&p->mu);
        if (err != XO_OK && p->err == XO_OK)
            p->err = err;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

agent_pipe_t *agent_pipe_start(agent_pipe_fn fn, void *opaque)
{
    agent_pipe_t *p = calloc(1, sizeof(*p));
    pthread_condattr_t attr;

    if (!p)
        return NULL;
    p->fn = fn;
    p->opaque = opaque;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->changed, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&p->thread, NULL, publisher, p) != 0) {
        pthread_cond_destroy(&p->changed);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

xo_err_t agent_pipe_push(json_object *ev, void *pipe)
{
    agent_pipe_t *p = pipe;
    xo_err_t err;

    pthread_mutex_lock(&p->mu);
    while (p->count == PIPE_SLOTS && p->err == XO_OK && !agent_stop)
        wait_tick(p);
    err = p->err != XO_OK ? p->err : agent_stop ? XO_ERR_TIMEOUT : XO_OK;
    if (err == XO_OK) {
        p->slot[(p->head + p->count) % PIPE_SLOTS] = ev;
        p->count++;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->mu);
    if (err != XO_OK)
        json_object_put(ev);
    return err;
}

xo_err_t agent_pipe_finish(agent_pipe_t *p)
{
    xo_err_t err;

    if (!p)
        return XO_ERR_NOMEM;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    err = p->err;
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return err;
}
