/*
 * patch_worker.c - runs a long patching command (pool.installPatches) on its own thread,
 * with its own XAPI connection and session, so that the command thread goes on with the
 * pool's other commands. Bounded: one installation per agent at a time (a second one is
 * refused, naming the first). The worker publishes the command's outcome itself.
 * Must not: consume or verify commands, or touch the command thread's connection.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch_int.h"
#include "xo_log.h"

#define WORKER_MOD "patch"

struct patch_worker {
    pthread_mutex_t lock;
    bool busy;     /* a job runs (under lock) */
    bool joinable; /* thread was started and not joined yet */
    pthread_t thread;
    char running[64]; /* the running command's id (under lock) */
};

typedef struct {
    agent_cmd_t *c; /* borrowed: outlives the worker (agent_commands_free joins it) */
    cmd_t cmd;      /* holds its own reference on cmd.msg */
    char ref[128];  /* the resolved object */
    char url[256];  /* the master the command thread talks to */
    patch_exec_fn fn;
} job_t;

patch_worker_t *patch_worker_new(void)
{
    patch_worker_t *w = calloc(1, sizeof *w);

    if (w)
        pthread_mutex_init(&w->lock, NULL);
    return w;
}

void patch_worker_free(patch_worker_t *w)
{
    if (!w)
        return;
    if (w->joinable)
        pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Its own connection to the master, with the agent's XAPI settings, and a session. */
static xo_err_t open_session(agent_cmd_t *wc, const char *url, char *errstr, size_t errstr_size)
{
    const xo_config_t *cfg = wc->a->cfg;
    xo_xapi_opts_t opts = {
        .url = url,
        .ca_file = xo_config_get(cfg, "xapi.ca_file"),
        .pin_sha256 = xo_config_get(cfg, "xapi.fingerprint"),
        .insecure = xo_config_get_bool(cfg, "xapi.insecure"),
        .connect_timeout_ms = xo_config_get_int(cfg, "xapi.connect_timeout_ms"),
        .timeout_ms = xo_config_get_int(cfg, "xapi.call_timeout_ms"),
    };
    xo_err_t err = xo_xapi_conn_new(&opts, &wc->xapi, errstr, errstr_size);

    if (err != XO_OK)
        return err;
    xo_xapi_conn_set_abort(wc->xapi, &agent_stop);
    return agent_login_conn(wc->a, wc->xapi, url, wc->session, sizeof(wc->session), errstr,
                            errstr_size);
}

static void close_session(agent_cmd_t *wc)
{
    json_object *ignored = NULL;
    char errstr[128];

    if (wc->session[0]) {
        xo_xapi_conn_set_abort(wc->xapi, NULL);
        agent_call_conn(wc->xapi, wc->session, "session.logout", NULL, 5000, &ignored, NULL, errstr,
                        sizeof(errstr));
        json_object_put(ignored);
    }
    xo_xapi_conn_free(wc->xapi);
}

static void *worker_main(void *arg)
{
    job_t *job = arg;
    agent_cmd_t wc = *job->c; /* the same pool, partition and agent; its own XAPI below */
    patch_worker_t *w = job->c->patch_worker;
    cmd_outcome_t out = {0};
    xo_err_t err;

    wc.xapi = NULL;
    wc.session[0] = '\0';
    err = open_session(&wc, job->url, out.reason, sizeof(out.reason));
    if (err == XO_OK)
        err = job->fn(&wc, &job->cmd, job->ref, &out);
    patch_listing_forget(); /* what was missing may be installed now: list again */
    cmd_publish_outcome(&wc, &job->cmd, err, &out); /* as the command thread would */
    close_session(&wc);
    json_object_put(out.result);
    xo_xapi_error_clear(&out.xerr);
    cmd_fini(&job->cmd);
    free(job);
    pthread_mutex_lock(&w->lock);
    w->busy = false;
    w->running[0] = '\0';
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

bool patch_worker_busy(patch_worker_t *w)
{
    bool busy;

    pthread_mutex_lock(&w->lock);
    busy = w->busy;
    pthread_mutex_unlock(&w->lock);
    return busy;
}

xo_err_t patch_worker_run(agent_cmd_t *c, const cmd_t *cmd, patch_exec_fn fn, const char *ref,
                          cmd_outcome_t *out)
{
    patch_worker_t *w = c->patch_worker;
    job_t *job;
    char msg[160];

    pthread_mutex_lock(&w->lock);
    if (w->busy) {
        snprintf(msg, sizeof(msg), "an installation is running on this pool (command %s)",
                 w->running);
        pthread_mutex_unlock(&w->lock);
        return patch_fail(out, XO_ERR_INVALID, "PATCH_INSTALL_RUNNING", msg);
    }
    if (w->joinable) { /* the previous job is over: reap its thread */
        pthread_join(w->thread, NULL);
        w->joinable = false;
    }
    job = calloc(1, sizeof *job);
    if (job) {
        job->c = c;
        job->cmd = *cmd;
        json_object_get(cmd->msg);
        job->fn = fn;
        snprintf(job->ref, sizeof(job->ref), "%s", ref);
        snprintf(job->url, sizeof(job->url), "%s", xo_xapi_conn_url(c->xapi));
    }
    if (!job || pthread_create(&w->thread, NULL, worker_main, job) != 0) {
        if (job)
            json_object_put(job->cmd.msg);
        free(job);
        pthread_mutex_unlock(&w->lock);
        return patch_fail(out, XO_ERR_NOMEM, "PATCH_WORKER_ERROR", "could not start a worker");
    }
    w->busy = w->joinable = true;
    snprintf(w->running, sizeof(w->running), "%s", cmd->id);
    pthread_mutex_unlock(&w->lock);
    out->detached = true;
    xo_info(WORKER_MOD, "event=command_detached id=%s op=%s", cmd->id, cmd_op_name(cmd->op));
    return XO_OK;
}

xo_err_t patch_install_detached(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                                cmd_outcome_t *out)
{
    return patch_worker_run(c, cmd, patch_install, pool, out);
}
