/*
 * command_pool.c - runs a pool's accepted commands concurrently (issue 16): up to
 * commands.concurrency worker threads, each on its own XAPI connection and session (a copy
 * of the command thread's context), with commands on the same object run one after another
 * in arrival order (XAPI serialises operations on one VM; a later command must see what an
 * earlier one did). The bound counts every accepted command not yet finished, waiting or
 * running, so that the command thread accepts no more than it can start: what a SIGKILL
 * loses is at most that many accepted commands, never a command run twice.
 * Must not consume, verify or accept commands (command_exec.c does, before submitting).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command_int.h"
#include "xo_log.h"

#define POOL_KEY_MAX 64 /* an object uuid; longer ids are compared on their prefix */
#define POOL_TICK_MS 200

typedef struct job {
    struct job *next;
    cmd_t cmd;              /* owned (cmd_fini) */
    char key[POOL_KEY_MAX]; /* the object of the command; "" orders with nothing */
} job_t;

typedef struct {
    cmd_pool_t *p;
    agent_cmd_t ctx;        /* the command thread's, with a connection and session of its own */
    char key[POOL_KEY_MAX]; /* the running job's key (under p->mu), "" when idle */
    bool busy;              /* running a job (under p->mu) */
    pthread_t thread;
    bool started;
} worker_t;

struct cmd_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued, a key was freed, or stop */
    pthread_cond_t room; /* a job ended */
    job_t *head, *tail;  /* accepted, not started: arrival order */
    int pending;         /* waiting + running: never more than n */
    int n;
    bool stopping;
    worker_t *workers;
    char shared_session[128]; /* the command thread's session when the pool started: the task
                               * watcher calls with it and never logs it out */
    cmd_tasks_t *tasks;       /* owned: the task watcher the workers share, or NULL */
};

/* ------------------------------------------------------------------ run one command */

/* Runs the command and publishes its outcome; an ended task still to destroy is left in
 * @p done_task ("" when none). */
static void execute(agent_cmd_t *c, const cmd_t *cmd, char *done_task, size_t size)
{
    cmd_outcome_t out = {0};
    xo_err_t err = cmd_run(c, cmd, &out);

    if (err == XO_OK && out.detached) /* another thread runs it and reports: the console
                                       * relays (console.h), patch_worker.c, transfer.c */
        xo_info(CMD_MOD, "event=command_handed_over id=%s op=%s", cmd->id, cmd_op_name(cmd->op));
    else
        cmd_publish_outcome(c, cmd, err, &out);
    snprintf(done_task, size, "%s", out.done_task);
    json_object_put(out.result);
    xo_xapi_error_clear(&out.xerr);
}

void cmd_execute(agent_cmd_t *c, const cmd_t *cmd)
{
    char done_task[128];

    execute(c, cmd, done_task, sizeof(done_task));
    if (done_task[0]) /* after the outcome: nobody waits for this */
        cmd_destroy_task(c, done_task);
}

/* Waiting behind its object's earlier commands may outlast a command's lifetime: an
 * expired command is never started (the same deadline as accepting it). */
static void run_job(agent_cmd_t *c, const cmd_t *cmd, char *done_task, size_t size)
{
    cmd_outcome_t out = {0};

    done_task[0] = '\0';
    if (xo_now_ms() <= cmd->expires + c->policy.skew_ms) {
        execute(c, cmd, done_task, size);
        return;
    }
    snprintf(out.xerr.code, sizeof(out.xerr.code), "EXPIRED");
    snprintf(out.reason, sizeof(out.reason),
             "expired while waiting behind earlier commands on the same object; not started");
    cmd_publish_outcome(c, cmd, XO_ERR_TIMEOUT, &out);
}

/* ------------------------------------------------------------------ the queue */

static bool key_running(const cmd_pool_t *p, const char *key)
{
    for (int i = 0; i < p->n; i++)
        if (p->workers[i].busy && strcmp(p->workers[i].key, key) == 0)
            return true;
    return false;
}

/* The first waiting job whose object has no running command: a job behind another on the
 * same object stays behind it, since the earlier one is picked first once the key is free. */
static job_t *take(cmd_pool_t *p)
{
    for (job_t **pp = &p->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        job_t *j = *pp;
        if (j->key[0] && key_running(p, j->key))
            continue;
        *pp = j->next;
        if (p->tail == j)
            p->tail = prev;
        return j;
    }
    return NULL;
}

/* The lowest idle worker takes the next job: a pool that never runs more than k commands at
 * once only ever opens k XAPI connections (each holds its TLS context: ~1 MiB). */
static bool first_idle(const cmd_pool_t *p, const worker_t *w)
{
    for (const worker_t *o = p->workers; o < w; o++)
        if (!o->busy)
            return false;
    return true;
}

/* Its connection and session when its first job comes (cmd_resolve logs in again later
 * when the session or the master was lost). */
static void connect_once(worker_t *w)
{
    char errstr[256];

    if (w->ctx.xapi)
        return;
    if (cmd_open_xapi(&w->ctx, errstr, sizeof(errstr)) != XO_OK)
        xo_error(CMD_MOD, "event=worker_xapi_failed reason=\"%s\"", errstr);
    else
        cmd_login(&w->ctx);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    cmd_pool_t *p = w->p;
    char done_task[128];
    struct timespec ts;

    pthread_mutex_lock(&p->mu);
    while (!p->stopping && !agent_stop) {
        job_t *j = first_idle(p, w) ? take(p) : NULL;
        if (!j) {
            cmd_deadline_in(&ts, POOL_TICK_MS); /* agent_stop is a flag, not a signal to us */
            pthread_cond_timedwait(&p->work, &p->mu, &ts);
            continue;
        }
        w->busy = true;
        snprintf(w->key, sizeof(w->key), "%s", j->key);
        if (p->head) /* the next idle worker is the lowest now: let it look */
            pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        connect_once(w);
        run_job(&w->ctx, &j->cmd, done_task, sizeof(done_task));
        cmd_fini(&j->cmd);
        free(j);
        if (done_task[0]) { /* its outcome is out: room for the next command meanwhile */
            pthread_mutex_lock(&p->mu);
            p->pending--;
            pthread_cond_broadcast(&p->room);
            pthread_mutex_unlock(&p->mu);
            cmd_destroy_task(&w->ctx, done_task);
        }
        pthread_mutex_lock(&p->mu);
        w->busy = false;
        w->key[0] = '\0'; /* the object's next command starts after the clean-up */
        p->pending -= !done_task[0];
        pthread_cond_broadcast(&p->work); /* its key is free: a job behind it may start */
        pthread_cond_broadcast(&p->room);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ------------------------------------------------------------------ the pool */

/* A worker's context: the command thread's (pool, partition, keys, policy), without its
 * consumer and its connection (connect_once opens one of its own). */
static void worker_init(worker_t *w, cmd_pool_t *p, const agent_cmd_t *c)
{
    w->p = p;
    w->ctx = *c;
    w->ctx.xapi = NULL;
    w->ctx.session[0] = '\0';
    w->ctx.consumer = NULL;
    w->ctx.started = false;
    w->ctx.tasks = p->tasks;
}

/* The task watcher on a connection of its own; without one (no connection could be made),
 * each worker follows its tasks with calls of its own. */
static cmd_tasks_t *tasks_new(const agent_cmd_t *c)
{
    agent_cmd_t scratch = *c;
    char errstr[256];

    scratch.xapi = NULL;
    if (cmd_open_xapi(&scratch, errstr, sizeof(errstr)) != XO_OK) {
        xo_warn(CMD_MOD, "event=task_watch_off reason=\"%s\"", errstr);
        return NULL;
    }
    return cmd_tasks_new(c->a, scratch.xapi, c->session);
}

cmd_pool_t *cmd_pool_new(const agent_cmd_t *c, int n)
{
    cmd_pool_t *p = calloc(1, sizeof(*p));
    pthread_condattr_t attr;

    if (!p)
        return NULL;
    p->workers = calloc((size_t)(n > 0 ? n : 1), sizeof(*p->workers));
    if (!p->workers) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work, &attr);
    pthread_cond_init(&p->room, &attr);
    pthread_condattr_destroy(&attr);
    snprintf(p->shared_session, sizeof(p->shared_session), "%s", c->session);
    p->tasks = tasks_new(c);
    for (int i = 0; i < n; i++) {
        worker_t *w = &p->workers[i];
        worker_init(w, p, c);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            break;
        w->started = true;
        p->n++;
    }
    if (p->n == 0) {
        cmd_pool_free(p);
        return NULL;
    }
    xo_info(CMD_MOD, "event=workers_started n=%d", p->n);
    return p;
}

int cmd_pool_wait_room(cmd_pool_t *p, int ms)
{
    struct timespec ts;
    int room;

    cmd_deadline_in(&ts, ms);
    pthread_mutex_lock(&p->mu);
    while (p->pending >= p->n && !agent_stop &&
           pthread_cond_timedwait(&p->room, &p->mu, &ts) != ETIMEDOUT)
        ;
    room = p->n - p->pending;
    pthread_mutex_unlock(&p->mu);
    return room;
}

void cmd_pool_wait_idle(cmd_pool_t *p, const char *key)
{
    struct timespec ts;
    bool busy = true;

    pthread_mutex_lock(&p->mu);
    while (busy && !agent_stop) {
        busy = key_running(p, key);
        for (const job_t *j = p->head; j && !busy; j = j->next)
            busy = strcmp(j->key, key) == 0;
        if (busy) {
            cmd_deadline_in(&ts, POOL_TICK_MS);
            pthread_cond_timedwait(&p->room, &p->mu, &ts);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

void cmd_pool_submit(cmd_pool_t *p, cmd_t *cmd, const char *key)
{
    job_t *j = calloc(1, sizeof(*j));

    if (!j) { /* accepted, never started: at most once holds; say so */
        xo_error(CMD_MOD, "event=command_not_run id=%s reason=\"out of memory\"", cmd->id);
        return;
    }
    j->cmd = *cmd;
    memset(cmd, 0, sizeof(*cmd)); /* the job owns the message now */
    snprintf(j->key, sizeof(j->key), "%s", key ? key : "");
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->pending++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

static void worker_close(worker_t *w)
{
    agent_logout_conn(w->ctx.xapi, w->ctx.session);
    xo_xapi_conn_free(w->ctx.xapi);
}

void cmd_pool_free(cmd_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        if (p->workers[i].started)
            pthread_join(p->workers[i].thread, NULL);
        worker_close(&p->workers[i]);
    }
    cmd_tasks_free(p->tasks, p->shared_session); /* no worker waits on it any more */
    while (p->head) { /* accepted but never started: never started now either */
        job_t *j = p->head;
        p->head = j->next;
        xo_warn(CMD_MOD, "event=command_not_run id=%s reason=\"agent stopped before it started\"",
                j->cmd.id);
        cmd_fini(&j->cmd);
        free(j);
    }
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->room);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}
