/*
 * command_ops.c - the XAPI side of a verified command, on the command thread's own
 * connection and session: resolve the VM by uuid, run the op's executor (one function per
 * row of the op table, xo_ops.h), follow its task (task.get_record every CMD_TASK_POLL_MS,
 * `progress` results when it moves), destroy the task, and report XAPI's own error code
 * and params. Must not verify or consume commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command_int.h"
#include "patch_int.h"
#include "xo_log.h"

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
static xo_err_t call(agent_cmd_t *c, const char *method, json_object *params, json_object **value,
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
static xo_err_t call_str(agent_cmd_t *c, const char *method, json_object *params, char *buf,
                         size_t size, cmd_outcome_t *out)
{
    json_object *v = NULL;
    xo_err_t err = call(c, method, params, &v, out);

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

/* The op's object by uuid: a host for host ops, else a VM. */
static xo_err_t resolve_object(agent_cmd_t *c, const xo_op_t *op, const char *uuid, char *ref,
                               size_t size, cmd_outcome_t *out)
{
    const char *method = op->targets & XO_ON_HOST   ? "host.get_by_uuid"
                         : op->targets & XO_ON_POOL ? "pool.get_by_uuid"
                                                    : "VM.get_by_uuid";
    xo_err_t err = XO_ERR_CONNECT;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c->session[0] && cmd_login(c) != XO_OK)
            break;
        err = call_str(c, method, args1(uuid), ref, size, out);
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

/* Follow a task to its end, publishing progress; *result gets the task's result text. */
static xo_err_t await_task(agent_cmd_t *c, const cmd_t *cmd, const char *task, char **result,
                           cmd_outcome_t *out)
{
    double last = -1;
    int delay = 0;

    for (;;) {
        json_object *rec = NULL, *jp = NULL;
        const char *status;
        xo_err_t err;

        /* First look at once, then back off to CMD_TASK_POLL_MS: short tasks end quickly. */
        if (!agent_sleep(delay)) {
            snprintf(out->xerr.code, sizeof(out->xerr.code), "AGENT_STOPPED");
            return xo_seterr(out->reason, sizeof(out->reason), XO_ERR_TIMEOUT,
                             "agent stopped while task %s ran; its outcome is in XAPI", task);
        }
        err = call(c, "task.get_record", args1(task), &rec, out);
        status = err == XO_OK ? xo_msg_str(rec, "status") : NULL;
        if (err == XO_OK && !status)
            err = xo_seterr(out->reason, sizeof(out->reason), XO_ERR_PARSE, "task without status");
        if (err == XO_OK && strcmp(status, "pending") == 0) {
            double p =
                json_object_object_get_ex(rec, "progress", &jp) ? json_object_get_double(jp) : 0;
            if (p != last && p > 0)
                cmd_publish(c, cmd->id, "progress", p, NULL, NULL, NULL, NULL);
            last = p;
        } else if (err == XO_OK && strcmp(status, "success") == 0) {
            *result = strdup(xo_msg_str(rec, "result") ? xo_msg_str(rec, "result") : "");
        } else if (err == XO_OK && strcmp(status, "cancelling") != 0) {
            err = task_error(rec, status, out);
        }
        json_object_put(rec);
        if (err != XO_OK || *result)
            return err;
        delay = delay ? (delay * 2 < CMD_TASK_POLL_MS ? delay * 2 : CMD_TASK_POLL_MS) : 10;
    }
}

/* Async.<method>(params) and its task; the task is destroyed afterwards, as xen-api does. */
static xo_err_t run_async(agent_cmd_t *c, const cmd_t *cmd, const char *method, json_object *params,
                          char **result, cmd_outcome_t *out)
{
    char am[96], task[128];
    json_object *ignored = NULL;
    xo_err_t err;

    snprintf(am, sizeof(am), "Async.%s", method);
    *result = NULL;
    err = call_str(c, am, params, task, sizeof(task), out);
    if (err != XO_OK)
        return err;
    xo_dbg(XO_DBG_XAPI, CMD_MOD, "event=task id=%s method=%s", cmd->id, am);
    err = await_task(c, cmd, task, result, out);
    if (err == XO_OK || out->xerr.code[0] != 'A') { /* not AGENT_STOPPED: the task is over */
        cmd_outcome_t scratch = {0};
        call(c, "task.destroy", args1(task), &ignored, &scratch);
        xo_xapi_error_clear(&scratch.xerr);
        json_object_put(ignored);
    }
    return err;
}

static json_object *vm_args(const char *vm, int n_false)
{
    json_object *p = args1(vm);

    for (int i = 0; i < n_false; i++)
        json_object_array_add(p, json_object_new_boolean(0));
    return p;
}

static bool arg_bool(const cmd_t *cmd, const char *name)
{
    json_object *v;

    return json_object_object_get_ex(cmd->args, name, &v) && json_object_get_boolean(v);
}

/* A power operation: Async.<method>(vm[, false, false]); the result is true. */
static xo_err_t power(agent_cmd_t *c, const cmd_t *cmd, const char *vm, const char *method,
                      int n_false, cmd_outcome_t *out)
{
    char *res = NULL;
    xo_err_t err = run_async(c, cmd, method, vm_args(vm, n_false), &res, out);

    free(res);
    if (err == XO_OK)
        out->result = json_object_new_boolean(1);
    return err;
}

/* vm.start and vm.resume take (start_paused, force) = (false, false); vm.start with a
 * host starts there: VM.start_on(vm, host, false, false), the host found by its uuid. */
static xo_err_t op_start(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    const char *host_uuid = xo_msg_str(cmd->args, "host");
    json_object *params;
    char host[128], *res = NULL;
    xo_err_t err;

    if (!host_uuid)
        return power(c, cmd, vm, "VM.start", 2, out);
    err = call_str(c, "host.get_by_uuid", args1(host_uuid), host, sizeof(host), out);
    if (err != XO_OK)
        return err;
    params = args1(vm);
    json_object_array_add(params, json_object_new_string(host));
    json_object_array_add(params, json_object_new_boolean(0));
    json_object_array_add(params, json_object_new_boolean(0));
    err = run_async(c, cmd, "VM.start_on", params, &res, out);
    free(res);
    if (err == XO_OK)
        out->result = json_object_new_boolean(1);
    return err;
}

static xo_err_t op_stop(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    const char *m = arg_bool(cmd, "force") ? "VM.hard_shutdown" : "VM.clean_shutdown";
    return power(c, cmd, vm, m, 0, out);
}

static xo_err_t op_restart(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    const char *m = arg_bool(cmd, "force") ? "VM.hard_reboot" : "VM.clean_reboot";
    return power(c, cmd, vm, m, 0, out);
}

static xo_err_t op_suspend(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    return power(c, cmd, vm, "VM.suspend", 0, out);
}

static xo_err_t op_resume(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    return power(c, cmd, vm, "VM.resume", 2, out);
}

static xo_err_t op_pause(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    return power(c, cmd, vm, "VM.pause", 0, out);
}

static xo_err_t op_unpause(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    return power(c, cmd, vm, "VM.unpause", 0, out);
}

/* vm.snapshot: name defaults to "<name_label>_<ISO time>" as in xo-server; result = uuid. */
static xo_err_t op_snapshot(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    char name[512], label[256], stamp[32], uuid[64];
    const char *given = xo_msg_str(cmd->args, "name");
    char *res = NULL, *ref;
    time_t now = time(NULL);
    struct tm tm;
    json_object *p;
    xo_err_t err = XO_OK;

    if (!given) {
        err = call_str(c, "VM.get_name_label", args1(vm), label, sizeof(label), out);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        snprintf(name, sizeof(name), "%s_%s", label, stamp);
    }
    if (err != XO_OK)
        return err;
    p = args1(vm);
    json_object_array_add(p, json_object_new_string(given ? given : name));
    err = run_async(c, cmd, "VM.snapshot", p, &res, out);
    ref = err == XO_OK ? strstr(res, "OpaqueRef:") : NULL;
    if (err == XO_OK && !ref)
        err = xo_seterr(out->reason, sizeof(out->reason), XO_ERR_PARSE, "snapshot without ref");
    if (err == XO_OK) {
        ref[strcspn(ref, "<")] = '\0';
        err = call_str(c, "VM.get_uuid", args1(ref), uuid, sizeof(uuid), out);
    }
    if (err == XO_OK)
        out->result = json_object_new_string(uuid);
    free(res);
    return err;
}

/* The VDIs behind the VM's Disk VBDs (not CD drives), for vm.delete with deleteDisks. */
static json_object *disk_vdis(agent_cmd_t *c, const char *vm, cmd_outcome_t *out)
{
    json_object *vbds = NULL, *vdis = json_object_new_array();

    if (call(c, "VM.get_VBDs", args1(vm), &vbds, out) != XO_OK) {
        json_object_put(vdis);
        return NULL;
    }
    for (size_t i = 0; i < json_object_array_length(vbds); i++) {
        const char *vbd = json_object_get_string(json_object_array_get_idx(vbds, i));
        char type[32] = "", vdi[128] = "";
        if (call_str(c, "VBD.get_type", args1(vbd), type, sizeof(type), out) == XO_OK &&
            strcmp(type, "Disk") == 0 &&
            call_str(c, "VBD.get_VDI", args1(vbd), vdi, sizeof(vdi), out) == XO_OK &&
            strcmp(vdi, "OpaqueRef:NULL") != 0)
            json_object_array_add(vdis, json_object_new_string(vdi));
    }
    json_object_put(vbds);
    xo_xapi_error_clear(&out->xerr);
    return vdis;
}

/* Destroy each VDI no other VM uses any more (xo-server's VM_destroy with deleteDisks). */
static void destroy_unused(agent_cmd_t *c, const cmd_t *cmd, json_object *vdis)
{
    for (size_t i = 0; i < json_object_array_length(vdis); i++) {
        const char *vdi = json_object_get_string(json_object_array_get_idx(vdis, i));
        cmd_outcome_t o = {0};
        json_object *vbds = NULL, *ignored = NULL;

        if (call(c, "VDI.get_VBDs", args1(vdi), &vbds, &o) == XO_OK &&
            json_object_array_length(vbds) == 0 &&
            call(c, "VDI.destroy", args1(vdi), &ignored, &o) != XO_OK)
            xo_warn(CMD_MOD, "event=vdi_destroy_failed id=%s code=%s", cmd->id, o.xerr.code);
        json_object_put(vbds);
        json_object_put(ignored);
        xo_xapi_error_clear(&o.xerr);
    }
}

/* vm.delete: VM.destroy keeps the disks; deleteDisks (default false, as in xo-server) also
 * destroys the VM's disk VDIs that no other VM uses. */
static xo_err_t op_delete(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    json_object *vdis = NULL;
    char *res = NULL;
    xo_err_t err;

    if (arg_bool(cmd, "deleteDisks")) {
        vdis = disk_vdis(c, vm, out);
        if (!vdis)
            return XO_ERR_XAPI;
    }
    err = run_async(c, cmd, "VM.destroy", args1(vm), &res, out);
    free(res);
    if (err == XO_OK && vdis)
        destroy_unused(c, cmd, vdis);
    json_object_put(vdis);
    if (err == XO_OK)
        out->result = json_object_new_boolean(1);
    return err;
}

/* vm.set: VM.set_<arg> for each optional argument of the op's row that the command carries
 * (plain setters: XAPI has no Async.* for field setters, so no task and no progress). */
static xo_err_t op_set(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    xo_err_t err = XO_OK;

    for (const xo_op_param_t *p = xo_op_get(cmd->op)->params; p->name && err == XO_OK; p++) {
        const char *v = xo_msg_str(cmd->args, p->name);
        char method[96];
        json_object *params, *ignored = NULL;

        if (p->use != XO_PARAM_ARG || (p->flags & XO_PARAM_REQUIRED) || !v)
            continue;
        snprintf(method, sizeof(method), "VM.set_%s", p->name);
        params = args1(vm);
        json_object_array_add(params, json_object_new_string(v));
        err = call(c, method, params, &ignored, out);
        json_object_put(ignored);
    }
    if (err == XO_OK)
        out->result = json_object_new_boolean(1);
    return err;
}

/* tag.add / tag.remove: VM.add_tags / VM.remove_tags (field modifiers: no Async.*). */
static xo_err_t tag(agent_cmd_t *c, const cmd_t *cmd, const char *vm, const char *method,
                    cmd_outcome_t *out)
{
    json_object *params = args1(vm), *ignored = NULL;
    xo_err_t err;

    json_object_array_add(params, json_object_new_string(xo_msg_str(cmd->args, "tag")));
    err = call(c, method, params, &ignored, out);
    json_object_put(ignored);
    if (err == XO_OK)
        out->result = json_object_new_boolean(1);
    return err;
}

static xo_err_t op_tag_add(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    return tag(c, cmd, vm, "VM.add_tags", out);
}

static xo_err_t op_tag_remove(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    return tag(c, cmd, vm, "VM.remove_tags", out);
}

/* ------------------------------------------------------------------ dispatch */

/* One executor per row of the op table (xo_ops.h), on the resolved VM ref. */
typedef xo_err_t (*executor_fn)(agent_cmd_t *c, const cmd_t *cmd, const char *vm,
                                cmd_outcome_t *out);

static const executor_fn executors[XO_OP_COUNT] = {
    [XO_OP_VM_START] = op_start,
    [XO_OP_VM_STOP] = op_stop,
    [XO_OP_VM_RESTART] = op_restart,
    [XO_OP_VM_SUSPEND] = op_suspend,
    [XO_OP_VM_RESUME] = op_resume,
    [XO_OP_VM_PAUSE] = op_pause,
    [XO_OP_VM_UNPAUSE] = op_unpause,
    [XO_OP_VM_SNAPSHOT] = op_snapshot,
    [XO_OP_VM_DELETE] = op_delete,
    [XO_OP_VM_SET] = op_set,
    [XO_OP_TAG_ADD] = op_tag_add,
    [XO_OP_TAG_REMOVE] = op_tag_remove,
    [XO_OP_POOL_LIST_MISSING_PATCHES] = patch_list_missing,
    [XO_OP_POOL_INSTALL_PATCHES] = patch_install_detached,
    [XO_OP_POOL_ROLLING_UPDATE] = patch_rolling_detached,
};

bool cmd_can_run(cmd_op_t op)
{
    return (unsigned)op < XO_OP_COUNT && executors[op] != NULL;
}

xo_err_t cmd_run(agent_cmd_t *c, const cmd_t *cmd, cmd_outcome_t *out)
{
    char obj[128];
    xo_err_t err;

    if (!cmd_can_run(cmd->op)) /* excluded at start (agent_commands_new); never trusted */
        return xo_seterr(out->reason, sizeof(out->reason), XO_ERR_UNSUPPORTED,
                         "no executor for op %d", (int)cmd->op);
    err = resolve_object(c, xo_op_get(cmd->op), xo_msg_str(cmd->args, "id"), obj, sizeof(obj), out);
    if (err != XO_OK)
        return err;
    return executors[cmd->op](c, cmd, obj, out);
}
