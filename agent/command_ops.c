/*
 * command_ops.c - the XAPI side of a verified command, on the command thread's own
 * connection and session: resolve its object by uuid and run the op's executor (one
 * function per row of the op table, xo_ops.h; those of vm.copy and of transfers live in
 * command_copy.c and transfer.c, those of patches in patch_*.c), reporting XAPI's own error code
 * and params. The calls, tasks and their progress are command_xapi.c's. Must not verify or consume
 * commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command_int.h"
#include "patch_int.h"
#include "vm_refs.h"
#include "xo_log.h"

/* command_xapi.c's helpers under this file's short names (the executors below use them). */
static xo_err_t call(agent_cmd_t *c, const char *method, json_object *params, json_object **value,
                     cmd_outcome_t *out)
{
    return cmd_call(c, method, params, value, out);
}

static xo_err_t call_str(agent_cmd_t *c, const char *method, json_object *params, char *buf,
                         size_t size, cmd_outcome_t *out)
{
    return cmd_call_str(c, method, params, buf, size, out);
}

static xo_err_t run_async(agent_cmd_t *c, const cmd_t *cmd, const char *method, json_object *params,
                          char **result, cmd_outcome_t *out)
{
    return cmd_run_async(c, cmd, method, params, result, out);
}

static xo_err_t run_async_last(agent_cmd_t *c, const cmd_t *cmd, const char *method,
                               json_object *params, char **result, cmd_outcome_t *out)
{
    return cmd_run_async_last(c, cmd, method, params, result, out);
}

static json_object *args1(const char *s)
{
    json_object *p = json_object_new_array();

    json_object_array_add(p, json_object_new_string(s));
    return p;
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
    xo_err_t err = run_async_last(c, cmd, method, vm_args(vm, n_false), &res, out);

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
    err = run_async_last(c, cmd, "VM.start_on", params, &res, out);
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

/* vm.delete: VM.destroy keeps the disks; deleteDisks (default false, as in xo-server) also
 * destroys the VM's disk VDIs that no other VM uses. */
static xo_err_t op_delete(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    json_object *vdis = NULL;
    char *res = NULL;
    xo_err_t err;

    if (arg_bool(cmd, "deleteDisks")) {
        vdis = cmd_disk_vdis(c, vm, out);
        if (!vdis)
            return XO_ERR_XAPI;
    }
    err = run_async(c, cmd, "VM.destroy", args1(vm), &res, out);
    free(res);
    if (err == XO_OK && vdis)
        cmd_destroy_unused(c, cmd, vdis);
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

/* task.cancel: XAPI's task.cancel (synchronous). Cancelling a transfer's export task stops
 * the export, and so the link and the import (docs/streaming.md). */
static xo_err_t op_task_cancel(agent_cmd_t *c, const cmd_t *cmd, const char *task,
                               cmd_outcome_t *out)
{
    json_object *ignored = NULL;
    xo_err_t err = call(c, "task.cancel", args1(task), &ignored, out);

    (void)cmd;
    json_object_put(ignored);
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

/* console.open: handed to the console relays (console.h), which report on xo.results
 * themselves; the command thread never waits for a console. */
static xo_err_t op_console_open(agent_cmd_t *c, const cmd_t *cmd, const char *vm,
                                cmd_outcome_t *out)
{
    console_req_t req;
    xo_err_t err;

    (void)vm; /* resolved by cmd_run: an unknown uuid already failed with UUID_INVALID */
    if (!c->consoles) {
        snprintf(out->xerr.code, sizeof(out->xerr.code), "CONSOLES_DISABLED");
        return xo_seterr(out->reason, sizeof(out->reason), XO_ERR_UNSUPPORTED,
                         "console.enabled is false on this agent");
    }
    memset(&req, 0, sizeof(req));
    snprintf(req.id, sizeof(req.id), "%s", cmd->id);
    snprintf(req.vm, sizeof(req.vm), "%s", xo_msg_str(cmd->args, "id"));
    snprintf(req.user, sizeof(req.user), "%s", cmd->user ? cmd->user : "");
    snprintf(req.ticket, sizeof(req.ticket), "%s", xo_msg_str(cmd->args, "ticket"));
    snprintf(req.relay, sizeof(req.relay), "%s", xo_msg_str(cmd->args, "relay"));
    err = agent_console_open(c->consoles, &req, out->reason, sizeof(out->reason));
    memset(req.ticket, 0, sizeof(req.ticket));
    if (err == XO_OK)
        out->detached = true;
    else
        snprintf(out->xerr.code, sizeof(out->xerr.code), "%s",
                 err == XO_ERR_LIMIT ? "CONSOLE_LIMIT" : "RELAY_UNREACHABLE");
    return err;
}

/* ------------------------------------------------------------------ dispatch */

/* One executor per row of the op table (xo_ops.h), on the resolved object's ref. */
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
    [XO_OP_VM_COPY] = cmd_op_copy,                     /* command_copy.c */
    [XO_OP_VM_IMPORT_PREPARE] = cmd_op_import_prepare, /* transfer.c */
    [XO_OP_VM_EXPORT_TO] = cmd_op_export_to,
    [XO_OP_TASK_CANCEL] = op_task_cancel,
    [XO_OP_TAG_ADD] = op_tag_add,
    [XO_OP_TAG_REMOVE] = op_tag_remove,
    [XO_OP_POOL_LIST_MISSING_PATCHES] = patch_list_missing, /* patch_*.c */
    [XO_OP_POOL_INSTALL_PATCHES] = patch_install_detached,
    [XO_OP_POOL_ROLLING_UPDATE] = patch_rolling_detached,
    [XO_OP_CONSOLE_OPEN] = op_console_open,
    [XO_OP_POOL_LIST_POOL_MISSING_PATCHES] = patch_list_pool_missing,
    [XO_OP_VM_EXPORT_RELAY] = cmd_op_export_relay, /* transfer.c */
    [XO_OP_VM_IMPORT_RELAY] = cmd_op_import_relay, /* transfer.c */
};

bool cmd_can_run(cmd_op_t op)
{
    return (unsigned)op < XO_OP_COUNT && executors[op] != NULL;
}

/* The XAPI class of the op's object ("VM", "host", "pool", "task"), by its targets. */
static const char *object_class(const xo_op_t *op)
{
    return op->targets & XO_ON_TASK   ? "task"
           : op->targets & XO_ON_HOST ? "host"
           : op->targets & XO_ON_POOL ? "pool"
                                      : "VM";
}

/* The ops whose executor changes XAPI only through Async.* calls on the VM, the first of
 * which fails when the VM's ref is stale: they may take the ref from the agent's event
 * stream (a->vm_refs), since a stale one changed nothing and is simply asked for again. */
static bool takes_streamed_ref(cmd_op_t op)
{
    switch (op) {
    case XO_OP_VM_START:
    case XO_OP_VM_STOP:
    case XO_OP_VM_RESTART:
    case XO_OP_VM_SUSPEND:
    case XO_OP_VM_RESUME:
    case XO_OP_VM_PAUSE:
    case XO_OP_VM_UNPAUSE:
    case XO_OP_VM_SNAPSHOT:
    case XO_OP_VM_DELETE:
        return true;
    default:
        return false;
    }
}

/* Whether XAPI's error params (an array of strings, or NULL when it sent none) name @p ref. */
static bool params_name(json_object *params, const char *ref)
{
    size_t n = json_object_is_type(params, json_type_array) ? json_object_array_length(params) : 0;

    for (size_t i = 0; i < n; i++) {
        const char *p = json_object_get_string(json_object_array_get_idx(params, i));
        if (p && strcmp(p, ref) == 0)
            return true;
    }
    return false;
}

/* XAPI refused before anything ran on the VM: it does not know @p ref (the VM was destroyed,
 * maybe created again under the same uuid, and the stream has not said so yet), or the
 * session or the master was lost before a task was created. */
static bool nothing_ran(xo_err_t err, const cmd_outcome_t *out, const char *ref)
{
    if (err != XO_ERR_XAPI)
        return false;
    if (strcmp(out->xerr.code, "HANDLE_INVALID") == 0)
        return params_name(out->xerr.params, ref);
    return !out->started && (strcmp(out->xerr.code, "SESSION_INVALID") == 0 ||
                             strcmp(out->xerr.code, "HOST_IS_SLAVE") == 0);
}

static void outcome_reset(agent_cmd_t *c, cmd_outcome_t *out)
{
    if (out->done_task[0])
        cmd_destroy_task(c, out->done_task);
    json_object_put(out->result);
    xo_xapi_error_clear(&out->xerr);
    memset(out, 0, sizeof(*out));
}

/* The command on the VM's ref as the event stream published it; true when it ran (*err its
 * outcome). False when the stream does not know the uuid yet (a VM created a moment ago),
 * the op may not, there is no session to call with, or XAPI refused the ref before anything
 * ran (forgotten then): the caller asks XAPI for the ref. */
static bool ran_on_streamed_ref(agent_cmd_t *c, const cmd_t *cmd, cmd_outcome_t *out, xo_err_t *err)
{
    const char *uuid = xo_msg_str(cmd->args, "id");
    char vm[128];

    if (!takes_streamed_ref(cmd->op) || !c->session[0] ||
        !agent_vm_refs_get(c->a->vm_refs, uuid, vm, sizeof(vm)))
        return false;
    *err = executors[cmd->op](c, cmd, vm, out);
    if (!nothing_ran(*err, out, vm))
        return true;
    xo_info(CMD_MOD, "event=vm_ref_refused id=%s vm=%s code=%s action=get_by_uuid", cmd->id, uuid,
            out->xerr.code);
    if (strcmp(out->xerr.code, "HANDLE_INVALID") == 0)
        agent_vm_refs_forget(c->a->vm_refs, vm);
    else /* the session or the master was lost: cmd_resolve logs in again */
        c->session[0] = '\0';
    outcome_reset(c, out);
    return false;
}

xo_err_t cmd_run(agent_cmd_t *c, const cmd_t *cmd, cmd_outcome_t *out)
{
    const xo_op_t *op = xo_op_get(cmd->op);
    char obj[128];
    xo_err_t err;

    if (!cmd_can_run(cmd->op)) /* excluded at start (agent_commands_new); never trusted */
        return xo_seterr(out->reason, sizeof(out->reason), XO_ERR_UNSUPPORTED,
                         "no executor for op %d", (int)cmd->op);
    if (op->targets == 0) /* an op on no object (vm.importPrepare) */
        return executors[cmd->op](c, cmd, NULL, out);
    if (ran_on_streamed_ref(c, cmd, out, &err))
        return err;
    err = cmd_resolve(c, object_class(op), xo_msg_str(cmd->args, "id"), obj, sizeof(obj), out);
    if (err != XO_OK)
        return err;
    return executors[cmd->op](c, cmd, obj, out);
}
