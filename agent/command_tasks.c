/*
 * command_tasks.c - the pool's tasks followed for every command worker at once: one thread,
 * one XAPI connection, one event.from on the task class, while at least one worker follows
 * a task (as xo-server's xen-api client follows every task of its calls in one event loop).
 * A worker following its own task made five calls of it (the first look, one per progress
 * step, the end); a hundred at once made the pool master answer five hundred. Workers fall
 * back to following their task themselves whenever this watcher cannot (command_xapi.c).
 * Must not run commands or publish results: it only keeps the latest record of each task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command_int.h"
#include "xo_log.h"

#define TASKS_KEEP_DELETED 1024 /* deleted tasks remembered before the oldest are dropped */
#define TASKS_IDLE_MS      200  /* how often an idle watcher looks at agent_stop */

typedef struct {
    char ref[128];
    json_object *rec; /* latest snapshot (owned), NULL once deleted */
    uint64_t gen;     /* bumped at each change */
    bool deleted;
} task_entry_t;

struct cmd_tasks {
    agent_t *a;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a task changed, the watcher failed, or stop */
    pthread_cond_t wanted;  /* a worker began following */
    task_entry_t *tasks;    /* every task seen since the watcher became active */
    size_t n, cap;
    int followers;   /* workers following a task now */
    bool broken;     /* the last event.from failed: workers follow their tasks themselves */
    uint64_t faults; /* failures so far: a worker that saw one falls back */
    bool stopping;
    xo_xapi_conn_t *xapi; /* owned */
    char session[128];    /* the session it calls with (borrowed from the command thread) */
    char token[256];      /* "" when idle: the next look takes every task's record */
    pthread_t thread;
    bool started;
};

static task_entry_t *find(cmd_tasks_t *t, const char *ref)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->tasks[i].ref, ref) == 0)
            return &t->tasks[i];
    return NULL;
}

static void forget_all(cmd_tasks_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        json_object_put(t->tasks[i].rec);
    t->n = 0;
}

/* Deleted tasks are kept for a worker that has not looked yet, up to a bound. */
static void drop_deleted(cmd_tasks_t *t)
{
    size_t deleted = 0, j = 0;

    for (size_t i = 0; i < t->n; i++)
        deleted += t->tasks[i].deleted;
    if (deleted <= TASKS_KEEP_DELETED)
        return;
    for (size_t i = 0; i < t->n; i++)
        if (!t->tasks[i].deleted)
            t->tasks[j++] = t->tasks[i];
    t->n = j;
}

static task_entry_t *entry_for(cmd_tasks_t *t, const char *ref)
{
    task_entry_t *e = find(t, ref);

    if (e)
        return e;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        task_entry_t *grown = realloc(t->tasks, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        t->tasks = grown;
        t->cap = cap;
    }
    e = &t->tasks[t->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->ref, sizeof(e->ref), "%s", ref);
    return e;
}

/* One event of the task class: the task's new record, or its deletion. Under mu. */
static void apply_event(cmd_tasks_t *t, json_object *ev)
{
    const char *ref = xo_msg_str(ev, "ref"), *op = xo_msg_str(ev, "operation");
    json_object *snap = NULL;
    task_entry_t *e;

    if (!ref || strlen(ref) >= sizeof(e->ref) || !(e = entry_for(t, ref)))
        return;
    json_object_put(e->rec);
    e->rec = NULL;
    e->deleted = op && strcmp(op, "del") == 0;
    if (!e->deleted && json_object_object_get_ex(ev, "snapshot", &snap))
        e->rec = json_object_get(snap);
    e->gen++;
}

/* Log in again when the session or the master was lost (the command thread's session was
 * borrowed; this one is the watcher's own, logged out at the end). */
static xo_err_t relogin(cmd_tasks_t *t, char *errstr, size_t errstr_size)
{
    char url[256];

    pthread_mutex_lock(&t->a->status_lock);
    snprintf(url, sizeof(url), "%s", t->a->status.master);
    pthread_mutex_unlock(&t->a->status_lock);
    if (!url[0])
        snprintf(url, sizeof(url), "%s", xo_config_get(t->a->cfg, "xapi.url"));
    return agent_login_conn(t->a, t->xapi, url, t->session, sizeof(t->session), errstr,
                            errstr_size);
}

/* One event.from on the task class with the watcher's token; its events applied. */
static xo_err_t look(cmd_tasks_t *t, const char *token, double wait_s)
{
    json_object *params = json_object_new_array(), *classes = json_object_new_array(), *v = NULL;
    json_object *events = NULL, *tok = NULL;
    xo_xapi_error_t xerr = {0};
    char errstr[256];
    xo_err_t err;

    json_object_array_add(classes, json_object_new_string("task"));
    json_object_array_add(params, classes);
    json_object_array_add(params, json_object_new_string(token));
    json_object_array_add(params, json_object_new_double(wait_s)); /* a float for XML-RPC */
    err = agent_call_conn(t->xapi, t->session, "event.from", params, 0, &v, &xerr, errstr,
                          sizeof(errstr));
    if (err == XO_OK && (!json_object_object_get_ex(v, "events", &events) ||
                         !json_object_object_get_ex(v, "token", &tok)))
        err = xo_seterr(errstr, sizeof(errstr), XO_ERR_PARSE, "event.from: no token");
    pthread_mutex_lock(&t->mu);
    if (err == XO_OK) {
        for (size_t i = 0; i < json_object_array_length(events); i++)
            apply_event(t, json_object_array_get_idx(events, i));
        drop_deleted(t);
        snprintf(t->token, sizeof(t->token), "%s", json_object_get_string(tok));
        t->broken = false;
    } else {
        t->broken = true;
        t->faults++;
        t->token[0] = '\0'; /* start over with every task's record */
        if (err != XO_ERR_XAPI || strcmp(xerr.code, "SESSION_INVALID") == 0 ||
            strcmp(xerr.code, "HOST_IS_SLAVE") == 0)
            t->session[0] = '\0';
    }
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->mu);
    if (err != XO_OK && !agent_stop)
        xo_warn(CMD_MOD, "event=task_watch_failed code=%s reason=\"%s\"",
                xerr.code[0] ? xerr.code : xo_strerror(err), errstr);
    xo_xapi_error_clear(&xerr);
    json_object_put(v);
    return err;
}

static void *watch_main(void *arg)
{
    cmd_tasks_t *t = arg;
    int64_t call_ms = xo_config_get_int(t->a->cfg, "xapi.call_timeout_ms");
    double wait_s = call_ms / 2000.0 < CMD_TASK_WAIT_S ? call_ms / 2000.0 : CMD_TASK_WAIT_S;
    int failures = 0;

    pthread_mutex_lock(&t->mu);
    while (!t->stopping && !agent_stop) {
        char token[256], errstr[256];
        struct timespec ts;
        xo_err_t err = XO_OK;

        if (t->followers == 0) { /* idle: nothing followed, nothing asked of XAPI */
            forget_all(t);
            t->token[0] = '\0';
            t->broken = false; /* past the backoff: the next follower tries again */
            cmd_deadline_in(&ts, TASKS_IDLE_MS);
            pthread_cond_timedwait(&t->wanted, &t->mu, &ts);
            continue;
        }
        snprintf(token, sizeof(token), "%s", t->token);
        pthread_mutex_unlock(&t->mu);
        if (!t->session[0])
            err = relogin(t, errstr, sizeof(errstr));
        if (err == XO_OK)
            err = look(t, token, wait_s);
        failures = err == XO_OK ? 0 : failures + 1;
        if (failures) /* the workers follow their own tasks meanwhile */
            agent_sleep(agent_backoff_ms(t->a, failures - 1));
        pthread_mutex_lock(&t->mu);
    }
    t->broken = true;
    pthread_cond_broadcast(&t->changed);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

cmd_tasks_t *cmd_tasks_new(agent_t *a, xo_xapi_conn_t *xapi, const char *session)
{
    cmd_tasks_t *t = calloc(1, sizeof(*t));
    pthread_condattr_t attr;

    if (!t) {
        xo_xapi_conn_free(xapi);
        return NULL;
    }
    t->a = a;
    t->xapi = xapi;
    snprintf(t->session, sizeof(t->session), "%s", session);
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->changed, &attr);
    pthread_cond_init(&t->wanted, &attr);
    pthread_condattr_destroy(&attr);
    t->started = pthread_create(&t->thread, NULL, watch_main, t) == 0;
    if (!t->started) {
        cmd_tasks_free(t, NULL);
        return NULL;
    }
    return t;
}

void cmd_tasks_free(cmd_tasks_t *t, const char *borrowed_session)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stopping = true;
    pthread_cond_broadcast(&t->wanted);
    pthread_mutex_unlock(&t->mu);
    if (t->started)
        pthread_join(t->thread, NULL);
    if (strcmp(t->session, borrowed_session ? borrowed_session : ""))
        agent_logout_conn(t->xapi, t->session);
    xo_xapi_conn_free(t->xapi);
    forget_all(t);
    free(t->tasks);
    pthread_cond_destroy(&t->changed);
    pthread_cond_destroy(&t->wanted);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

bool cmd_tasks_follow(cmd_tasks_t *t, cmd_task_follow_t *f, const char *task)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_lock(&t->mu);
    if (!t->broken && !t->stopping) {
        t->followers++;
        f->t = t;
        f->faults = t->faults;
        snprintf(f->ref, sizeof(f->ref), "%s", task);
        pthread_cond_broadcast(&t->wanted);
    }
    pthread_mutex_unlock(&t->mu);
    return f->t != NULL;
}

void cmd_tasks_unfollow(cmd_task_follow_t *f)
{
    if (!f->t)
        return;
    pthread_mutex_lock(&f->t->mu);
    f->t->followers--;
    pthread_mutex_unlock(&f->t->mu);
    f->t = NULL;
}

xo_err_t cmd_tasks_wait(cmd_task_follow_t *f, int ms, json_object **rec)
{
    cmd_tasks_t *t = f->t;
    struct timespec ts;
    xo_err_t err = XO_OK;

    *rec = NULL;
    cmd_deadline_in(&ts, ms);
    pthread_mutex_lock(&t->mu);
    for (;;) {
        task_entry_t *e = find(t, f->ref);
        if (t->faults != f->faults || t->stopping) {
            err = XO_ERR_UNSUPPORTED;
            break;
        }
        if (e && e->gen != f->gen) {
            f->gen = e->gen;
            if (e->deleted)
                err = XO_ERR_INVALID;
            else if (e->rec && json_object_deep_copy(e->rec, rec, NULL) != 0)
                err = XO_ERR_NOMEM;
            break;
        }
        if (agent_stop || pthread_cond_timedwait(&t->changed, &t->mu, &ts) != 0)
            break; /* nothing new within @p ms */
    }
    pthread_mutex_unlock(&t->mu);
    return err;
}
