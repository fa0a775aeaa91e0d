/*
 * command_copy.c - the executor of vm.copy within the agent's pool: XAPI's VM.copy to the
 * SR the command names, through a temporary snapshot when the VM runs (destroyed with its
 * disks afterwards, whatever the outcome, as xo-server's _copyVm does). The answer is the
 * new VM's uuid. Copies across pools are transfers between two agents (docs/streaming.md),
 * not this file's job; must not verify or consume commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_int.h"
#include "xo_log.h"

static json_object *args1(const char *s)
{
    json_object *p = json_object_new_array();

    json_object_array_add(p, json_object_new_string(s));
    return p;
}

/* The first OpaqueRef of an Async task's result text ("<value>OpaqueRef:…</value>"). */
static xo_err_t ref_of_result(const char *res, char *ref, size_t size, cmd_outcome_t *out)
{
    const char *r = res ? strstr(res, "OpaqueRef:") : NULL;

    if (!r)
        return xo_seterr(out->reason, sizeof(out->reason), XO_ERR_PARSE, "task result without ref");
    snprintf(ref, size, "%.*s", (int)strcspn(r, "<"), r);
    return XO_OK;
}

/* XAPI copies a halted or suspended VM; a running or paused one is copied from a snapshot
 * (xo-server's isVmRunning: Running or Paused). */
static xo_err_t needs_snapshot(agent_cmd_t *c, const char *vm, bool *yes, cmd_outcome_t *out)
{
    char state[32];
    xo_err_t err = cmd_call_str(c, "VM.get_power_state", args1(vm), state, sizeof(state), out);

    *yes = err == XO_OK && (strcmp(state, "Running") == 0 || strcmp(state, "Paused") == 0);
    return err;
}

/* Async.VM.snapshot(vm, label): the temporary source of a running VM's copy. */
static xo_err_t take_snapshot(agent_cmd_t *c, const cmd_t *cmd, const char *vm, const char *label,
                              char *snap, size_t size, cmd_outcome_t *out)
{
    json_object *p = args1(vm);
    char *res = NULL;
    xo_err_t err;

    json_object_array_add(p, json_object_new_string(label));
    err = cmd_run_async(c, cmd, "VM.snapshot", p, &res, out);
    if (err == XO_OK)
        err = ref_of_result(res, snap, size, out);
    free(res);
    return err;
}

/* Async.VM.copy(src, name, sr) and the new VM's uuid. */
static xo_err_t copy_to(agent_cmd_t *c, const cmd_t *cmd, const char *src, const char *name,
                        const char *sr, char *uuid, size_t size, cmd_outcome_t *out)
{
    json_object *p = args1(src);
    char *res = NULL, ref[128];
    xo_err_t err;

    json_object_array_add(p, json_object_new_string(name));
    json_object_array_add(p, json_object_new_string(sr));
    err = cmd_run_async(c, cmd, "VM.copy", p, &res, out);
    if (err == XO_OK)
        err = ref_of_result(res, ref, sizeof(ref), out);
    if (err == XO_OK)
        err = cmd_call_str(c, "VM.get_uuid", args1(ref), uuid, size, out);
    free(res);
    return err;
}

xo_err_t cmd_op_copy(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    char sr[128], label[256], snap[128] = "", uuid[64];
    const char *name = xo_msg_str(cmd->args, "name");
    bool running = false;
    xo_err_t err;

    err =
        cmd_call_str(c, "SR.get_by_uuid", args1(xo_msg_str(cmd->args, "sr")), sr, sizeof(sr), out);
    if (err == XO_OK)
        err = cmd_call_str(c, "VM.get_name_label", args1(vm), label, sizeof(label), out);
    if (err == XO_OK)
        err = needs_snapshot(c, vm, &running, out);
    if (err == XO_OK && running)
        err = take_snapshot(c, cmd, vm, label, snap, sizeof(snap), out);
    if (err == XO_OK)
        err =
            copy_to(c, cmd, snap[0] ? snap : vm, name ? name : label, sr, uuid, sizeof(uuid), out);
    if (snap[0]) /* whatever the copy's outcome: no snapshot left behind */
        cmd_destroy_vm_and_disks(c, cmd, snap);
    if (err == XO_OK)
        out->result = json_object_new_string(uuid);
    return err;
}
