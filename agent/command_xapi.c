/*
 * command_xapi.c - XAPI for the command executors, on a context's own connection and
 * session (the command thread's, or a transfer worker's): log in, one call, a call whose
 * answer is a ref, an object by uuid (one re-login when the session or master was lost),
 * Async.* with its task followed to the end (progress results while it moves, the task
 * destroyed after, XAPI's error_info as the outcome), and the disks of a VM. The lowest of
 * the executor files: command_ops.c, command_copy.c and transfer_*.c use it, it uses none
 * of them. Must not verify or consume commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_int.h"
#include "xo_log.h"

xo_err_t cmd_open_xapi(agent_cmd_t *c, char *errstr, size_t errstr_size)
{
    const xo_config_t *cfg = c->a->cfg;
    xo_xapi_opts_t opts = {
        .url = xo_config_get(cfg, "xapi.url"),
        .ca_file = xo_config_get(cfg, "xapi.ca_file"),
        .pin_sha256 = xo_config_get(cfg, "xapi.fingerprint"),
        .insecure = xo_config_get_bool(cfg, "xapi.insecure"),
        .connect_timeout_ms = xo_config_get_int(cfg, "xapi.connect_timeout_ms"),
        .timeout_ms = xo_config_get_int(cfg, "xapi.call_timeout_ms"),
    };
    xo_err_t err = xo_xapi_conn_new(&opts, &c->xapi, errstr, errstr_size);

    if (err == XO_OK)
        xo_xapi_conn_set_abort(c->xapi, &agent_stop);
    return err == XO_ERR_INVALID ? XO_ERR_CONFIG : err;
}

xo_err_t cmd_login(agent_cmd_t *c)
{
    char url[256], errstr[512];

    for (int attempt = 0; !agent_stop; attempt++) {
        xo_err_t err;

        pthread_mutex_lock(&c->a->status_lock);
        snprintf(url, sizeof(url), "%s", c->a->status.master);
        pthread_mutex_unlock(&c->a->status_lock);
        if (!url[0])
            snprintf(url, sizeof(url), "%s", xo_config_get(c->a->cfg, "xapi.url"));
        err = agent_login_conn(c->a, c->xapi, url, c->session, sizeof(c->session), errstr,
                               sizeof(errstr));
        if (err == XO_OK) {
            xo_info(CMD_MOD, "event=logged_in master=%s", xo_xapi_conn_url(c->xapi));
            return XO_OK;
        }
        xo_warn(CMD_MOD, "event=login_failed host=%s error=%s reason=\"%s\"", url, xo_strerror(err),
                errstr);
        agent_sleep(agent_backoff_ms(c->a, attempt));
    }
    return XO_ERR_CONNECT;
}

/* One call on the command session; on failure the outcome holds XAPI's error or the text. */
xo_err_t cmd_call(agent_cmd_t *c, const char *method, json_object *params, json_object **value,
                  cmd_outcome_t *out)
{
    xo_xapi_error_clear(&out->xerr);
    return agent_call_conn(c->xapi, c->session, method, params, 0, value, &out->xerr, out->reason,
                           sizeof(out->reason));
}

static json_object *args1(const char *s)
{
    json_object *p = json_object_new_array();

    json_object_array_add(p, json_object_new_string(s));
    return p;
}

/* A string answer (a ref) copied into buf. */
xo_err_t cmd_call_str(agent_cmd_t *c, const char *method, json_object *params, char *buf,
                      size_t size, cmd_outcome_t *out)
{
    json_object *v = NULL;
    xo_err_t err = cmd_call(c, method, params, &v, out);

    if (err == XO_OK && !json_object_is_type(v, json_type_string))
        err = xo_seterr(out->reason, sizeof(out->reason), XO_ERR_PARSE, "%s: not a string", method);
    if (err == XO_OK)
        snprintf(buf, size, "%s", json_object_get_string(v));
    json_object_put(v);
    return err;
}

/* A lost session or master, or a broken link: worth one re-login before anything ran. */
static bool relogin_helps(xo_err_t err, const xo_xapi_error_t *xerr)
{
    if (err == XO_ERR_XAPI)
        return strcmp(xerr->code, "SESSION_INVALID") == 0 ||
               strcmp(xerr->code, "HOST_IS_SLAVE") == 0;
    return err == XO_ERR_CONNECT || err == XO_ERR_IO || err == XO_ERR_TIMEOUT || err == XO_ERR_HTTP;
}

/* The object of the op: a VM, or a task (XO_ON_TASK), by its uuid. */
xo_err_t cmd_resolve(agent_cmd_t *c, const char *cls, const char *uuid, char *ref, size_t size,
                     cmd_outcome_t *out)
{
    xo_err_t err = XO_ERR_CONNECT;
    char method[48];

    snprintf(method, sizeof(method), "%s.get_by_uuid", cls);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c->session[0] && cmd_login(c) != XO_OK)
            break;
        err = cmd_call_str(c, method, args1(uuid), ref, size, out);
        if (err == XO_OK || !relogin_helps(err, &out->xerr))
            break;
        c->session[0] = '\0';
    }
    return err;
}

/* XAPI's task error_info [code, params...] as an error of the outcome. */
static xo_err_t task_error(json_object *rec, const char *status, cmd_outcome_t *out)
{
    json_object *info = NULL;
    size_t n;

    xo_xapi_error_clear(&out->xerr);
    json_object_object_get_ex(rec, "error_info", &info);
    n = json_object_is_type(info, json_type_array) ? json_object_array_length(info) : 0;
    snprintf(out->xerr.code, sizeof(out->xerr.code), "%s",
             n ? json_object_get_string(json_object_array_get_idx(info, 0))
               : (strcmp(status, "cancelled") == 0 ? "TASK_CANCELLED" : "INTERNAL_ERROR"));
    out->xerr.params = json_object_new_array();
    for (size_t i = 1; i < n; i++)
        json_object_array_add(out->xerr.params, json_object_new_string(json_object_get_string(
                                                    json_object_array_get_idx(info, i))));
    snprintf(out->reason, sizeof(out->reason), "XAPI task %s: %s", status, out->xerr.code);
    return XO_ERR_XAPI;
}

/* One look at the task's record: publishes progress when it moved; on its end *result gets
 * its result text (success) or the outcome its error. XO_OK without *result: still running. */
static xo_err_t task_look(agent_cmd_t *c, const cmd_t *cmd, json_object *rec, double *last,
                          char **result, cmd_outcome_t *out)
{
    const char *status = xo_msg_str(rec, "status");
    json_object *jp = NULL;

    if (!status)
        return xo_seterr(out->reason, sizeof(out->reason), XO_ERR_PARSE, "task without status");
    if (strcmp(status, "pending") == 0) {
        double p = json_object_object_get_ex(rec, "progress", &jp) ? json_object_get_double(jp) : 0;
        if (p != *last && p > 0)
            cmd_publish(c, cmd->id, "progress", p, NULL, NULL, NULL, NULL);
        *last = p;
        return XO_OK;
    }
    if (strcmp(status, "success") == 0) {
        *result = strdup(xo_msg_str(rec, "result") ? xo_msg_str(rec, "result") : "");
        return *result ? XO_OK : XO_ERR_NOMEM;
    }
    return strcmp(status, "cancelling") == 0 ? XO_OK : task_error(rec, status, out);
}

/* The task's record as it changes, through event.from on that one task (as xo-server's
 * xen-api client follows tasks): *rec gets its latest snapshot, or NULL when it did not
 * change within the wait. The first call (empty token) answers at once with its current
 * record; the next ones block until XAPI has a change, so the end is seen without polling. */
static xo_err_t task_event(agent_cmd_t *c, const char *task, char *token, size_t token_size,
                           json_object **rec, cmd_outcome_t *out)
{
    int64_t call_ms = xo_config_get_int(c->a->cfg, "xapi.call_timeout_ms");
    double wait_s = call_ms / 2000.0 < CMD_TASK_WAIT_S ? call_ms / 2000.0 : CMD_TASK_WAIT_S;
    json_object *params = json_object_new_array(), *classes = json_object_new_array(), *v = NULL;
    json_object *events, *tok;
    char sub[160];
    xo_err_t err;

    snprintf(sub, sizeof(sub), "task/%s", task);
    json_object_array_add(classes, json_object_new_string(sub));
    json_object_array_add(params, classes);
    json_object_array_add(params, json_object_new_string(token));
    json_object_array_add(params, json_object_new_double(wait_s)); /* a float for XML-RPC */
    err = cmd_call(c, "event.from", params, &v, out);
    *rec = NULL;
    if (err == XO_OK && (!json_object_object_get_ex(v, "events", &events) ||
                         !json_object_object_get_ex(v, "token", &tok)))
        err = xo_seterr(out->reason, sizeof(out->reason), XO_ERR_PARSE, "event.from: no token");
    for (size_t i = 0; err == XO_OK && i < json_object_array_length(events); i++) {
        json_object *ev = json_object_array_get_idx(events, i), *snap = NULL;
        if (strcmp(xo_msg_str(ev, "ref") ? xo_msg_str(ev, "ref") : "", task) != 0)
            continue;
        if (strcmp(xo_msg_str(ev, "operation") ? xo_msg_str(ev, "operation") : "", "del") == 0)
            err = xo_seterr(out->reason, sizeof(out->reason), XO_ERR_INVALID,
                            "task %s was destroyed before it ended", task);
        else if (json_object_object_get_ex(ev, "snapshot", &snap)) {
            json_object_put(*rec);
            *rec = json_object_get(snap);
        }
    }
    if (err == XO_OK)
        snprintf(token, token_size, "%s", json_object_get_string(tok));
    json_object_put(v);
    return err;
}

/* Polling task.get_record, the fallback where event.from on a task is refused: at once,
 * then backing off to CMD_TASK_POLL_MS. */
static xo_err_t task_poll(agent_cmd_t *c, const char *task, int *delay, json_object **rec,
                          cmd_outcome_t *out)
{
    if (!agent_sleep(*delay))
        return XO_ERR_TIMEOUT;
    *delay = *delay ? (*delay * 2 < CMD_TASK_POLL_MS ? *delay * 2 : CMD_TASK_POLL_MS) : 10;
    return cmd_call(c, "task.get_record", args1(task), rec, out);
}

/* How a worker follows its task: through the shared watcher while it can, else with
 * event.from of its own, else (event.from on a task refused) by polling. */
typedef struct {
    cmd_task_follow_t shared;
    bool own_events; /* own event.from; false: polling */
    char token[256];
    int delay;
} task_follow_t;

#define SHARED_WAIT_MS 500 /* a worker's wait on the watcher before it looks at agent_stop */

/* The task's record once it changed (NULL: not within the wait). */
static xo_err_t next_record(agent_cmd_t *c, const cmd_t *cmd, const char *task, task_follow_t *f,
                            json_object **rec, cmd_outcome_t *out)
{
    xo_err_t err;

    if (f->shared.t) {
        err = cmd_tasks_wait(&f->shared, SHARED_WAIT_MS, rec);
        if (err == XO_ERR_INVALID)
            return xo_seterr(out->reason, sizeof(out->reason), XO_ERR_INVALID,
                             "task %s was destroyed before it ended", task);
        if (err != XO_ERR_UNSUPPORTED)
            return err;
        cmd_tasks_unfollow(&f->shared); /* from the task's current record, on our own */
    }
    if (f->own_events) {
        err = task_event(c, task, f->token, sizeof(f->token), rec, out);
        if (err != XO_ERR_XAPI || agent_stop)
            return err;
        xo_warn(CMD_MOD, "event=task_poll id=%s reason=\"event.from: %s\"", cmd->id,
                out->xerr.code); /* refused, not failed: poll */
        xo_xapi_error_clear(&out->xerr);
        out->reason[0] = '\0';
        f->own_events = false;
    }
    return task_poll(c, task, &f->delay, rec, out);
}

/* Follow a task to its end, publishing progress; *result gets the task's result text. */
static xo_err_t await_task(agent_cmd_t *c, const cmd_t *cmd, const char *task, char **result,
                           cmd_outcome_t *out)
{
    task_follow_t f = {.own_events = true};
    double last = -1;
    xo_err_t err = XO_OK;

    if (c->tasks)
        cmd_tasks_follow(c->tasks, &f.shared, task);
    while (err == XO_OK && !*result) {
        json_object *rec = NULL;

        err = next_record(c, cmd, task, &f, &rec, out);
        if (agent_stop) {
            snprintf(out->xerr.code, sizeof(out->xerr.code), "AGENT_STOPPED");
            err = xo_seterr(out->reason, sizeof(out->reason), XO_ERR_TIMEOUT,
                            "agent stopped while task %s ran; its outcome is in XAPI", task);
        } else if (err == XO_OK && rec)
            err = task_look(c, cmd, rec, &last, result, out);
        json_object_put(rec);
    }
    cmd_tasks_unfollow(&f.shared);
    return err;
}

void cmd_destroy_task(agent_cmd_t *c, const char *task)
{
    cmd_outcome_t scratch = {0};
    json_object *ignored = NULL;

    cmd_call(c, "task.destroy", args1(task), &ignored, &scratch);
    xo_xapi_error_clear(&scratch.xerr);
    json_object_put(ignored);
}

/* Async.<method>(params) and its task; the task is destroyed afterwards, as xen-api does:
 * here, or by the caller when @p later is given (it gets the task's ref). */
static xo_err_t run_async(agent_cmd_t *c, const cmd_t *cmd, const char *method, json_object *params,
                          char **result, cmd_outcome_t *out, char *later, size_t later_size)
{
    char am[96], task[128];
    xo_err_t err;

    snprintf(am, sizeof(am), "Async.%s", method);
    *result = NULL;
    err = cmd_call_str(c, am, params, task, sizeof(task), out);
    if (err != XO_OK)
        return err;
    out->started = true;
    xo_dbg(XO_DBG_XAPI, CMD_MOD, "event=task id=%s method=%s", cmd->id, am);
    err = await_task(c, cmd, task, result, out);
    if (err != XO_OK && out->xerr.code[0] == 'A') /* AGENT_STOPPED: the task may still run */
        return err;
    if (later)
        snprintf(later, later_size, "%s", task);
    else
        cmd_destroy_task(c, task);
    return err;
}

xo_err_t cmd_run_async(agent_cmd_t *c, const cmd_t *cmd, const char *method, json_object *params,
                       char **result, cmd_outcome_t *out)
{
    return run_async(c, cmd, method, params, result, out, NULL, 0);
}

xo_err_t cmd_run_async_last(agent_cmd_t *c, const cmd_t *cmd, const char *method,
                            json_object *params, char **result, cmd_outcome_t *out)
{
    return run_async(c, cmd, method, params, result, out, out->done_task, sizeof(out->done_task));
}

/* The VDIs behind the VM's Disk VBDs (not CD drives), for vm.delete with deleteDisks. */
json_object *cmd_disk_vdis(agent_cmd_t *c, const char *vm, cmd_outcome_t *out)
{
    json_object *vbds = NULL, *vdis = json_object_new_array();

    if (cmd_call(c, "VM.get_VBDs", args1(vm), &vbds, out) != XO_OK) {
        json_object_put(vdis);
        return NULL;
    }
    for (size_t i = 0; i < json_object_array_length(vbds); i++) {
        const char *vbd = json_object_get_string(json_object_array_get_idx(vbds, i));
        char type[32] = "", vdi[128] = "";
        if (cmd_call_str(c, "VBD.get_type", args1(vbd), type, sizeof(type), out) == XO_OK &&
            strcmp(type, "Disk") == 0 &&
            cmd_call_str(c, "VBD.get_VDI", args1(vbd), vdi, sizeof(vdi), out) == XO_OK &&
            strcmp(vdi, "OpaqueRef:NULL") != 0)
            json_object_array_add(vdis, json_object_new_string(vdi));
    }
    json_object_put(vbds);
    xo_xapi_error_clear(&out->xerr);
    return vdis;
}

/* Destroy each VDI no other VM uses any more (xo-server's VM_destroy with deleteDisks). */
void cmd_destroy_unused(agent_cmd_t *c, const cmd_t *cmd, json_object *vdis)
{
    for (size_t i = 0; i < json_object_array_length(vdis); i++) {
        const char *vdi = json_object_get_string(json_object_array_get_idx(vdis, i));
        cmd_outcome_t o = {0};
        json_object *vbds = NULL, *ignored = NULL;

        if (cmd_call(c, "VDI.get_VBDs", args1(vdi), &vbds, &o) == XO_OK &&
            json_object_array_length(vbds) == 0 &&
            cmd_call(c, "VDI.destroy", args1(vdi), &ignored, &o) != XO_OK)
            xo_warn(CMD_MOD, "event=vdi_destroy_failed id=%s code=%s", cmd->id, o.xerr.code);
        json_object_put(vbds);
        json_object_put(ignored);
        xo_xapi_error_clear(&o.xerr);
    }
}

void cmd_destroy_vm_and_disks(agent_cmd_t *c, const cmd_t *cmd, const char *vm)
{
    cmd_outcome_t o = {0};
    json_object *vdis = cmd_disk_vdis(c, vm, &o), *ignored = NULL;

    if (cmd_call(c, "VM.destroy", args1(vm), &ignored, &o) != XO_OK)
        xo_warn(CMD_MOD, "event=vm_destroy_failed id=%s code=%s", cmd->id, o.xerr.code);
    else if (vdis)
        cmd_destroy_unused(c, cmd, vdis);
    json_object_put(ignored);
    json_object_put(vdis);
    xo_xapi_error_clear(&o.xerr);
}
