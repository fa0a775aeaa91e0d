/*
 * api_vm.c - the VM actions of xo-server's api/vm.mjs (vm.start, stop, restart, suspend,
 * resume, pause, unpause, snapshot, delete, set) with its parameter names: check the
 * params as ajv would, resolve the VM in the view, check the permission, and hand the
 * command to commands.c; the reply is deferred until the outcome arrives. Never waits:
 * everything here runs on the service thread and only queues.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_rpc.h"
#include "bus/commands.h"
#include "xo_log.h"

#define MOD "api"

/* What a parameter becomes in the command's args. */
typedef enum {
    P_ARG,      /* copied to the command's args under `arg` */
    P_IGNORE,   /* accepted and ignored (checks xo-server makes that XAPI makes anyway) */
    P_NOT_TRUE, /* accepted when false/absent; true is not implemented (code 0) */
    P_NOT_IMPL  /* accepted by xo-server, not implemented here (code 0 when present) */
} pmap_t;

typedef struct {
    const char *name;
    json_type type;
    pmap_t map;
    const char *arg;
    bool may_be_empty; /* ajv: strings are non-empty unless the schema says otherwise */
} pspec_t;

typedef struct {
    const char *op;        /* the method's name, which is also the command's op */
    const pspec_t *params; /* NULL-terminated; `id` is implicit */
    const gw_type_t *types;
} action_t;

static const gw_type_t T_VM[] = {GW_T_VM, GW_T_NONE};
static const gw_type_t T_ANY_VM[] = {GW_T_VM, GW_T_VM_SNAPSHOT, GW_T_VM_TEMPLATE, GW_T_NONE};

static const pspec_t P_START[] = {
    {"force", json_type_boolean, P_NOT_TRUE, NULL, false},
    {"host", json_type_string, P_NOT_IMPL, NULL, false},
    {"bypassMacAddressesCheck", json_type_boolean, P_IGNORE, NULL, false},
    {NULL, 0, 0, NULL, false}};
static const pspec_t P_FORCE[] = {{"force", json_type_boolean, P_ARG, "force", false},
                                  {NULL, 0, 0, NULL, false}};
static const pspec_t P_NONE[] = {{NULL, 0, 0, NULL, false}};
static const pspec_t P_SNAPSHOT[] = {{"name", json_type_string, P_ARG, "name", false},
                                     {"description", json_type_string, P_NOT_IMPL, NULL, true},
                                     {"saveMemory", json_type_boolean, P_NOT_TRUE, NULL, false},
                                     {NULL, 0, 0, NULL, false}};
static const pspec_t P_DELETE[] = {
    {"delete_disks", json_type_boolean, P_ARG, "deleteDisks", false},
    {"deleteDisks", json_type_boolean, P_ARG, "deleteDisks", false},
    {"force", json_type_boolean, P_IGNORE, NULL, false},
    {"forceDeleteDefaultTemplate", json_type_boolean, P_IGNORE, NULL, false},
    {NULL, 0, 0, NULL, false}};
static const pspec_t P_SET[] = {
    {"name_label", json_type_string, P_ARG, "name_label", false},
    {"name_description", json_type_string, P_ARG, "name_description", true},
    {NULL, 0, 0, NULL, false}};

/* ---- errors ---- */

static int invalid(gw_xo_err_t *err, const char *path, const char *keyword, const char *msg,
                   const char *param_name, const char *param_value)
{
    gw_buf_t d;
    gw_jw_t w;

    gw_buf_init(&d);
    gw_jw_init(&w, &d);
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "errors");
    gw_jw_arr_begin(&w);
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "instancePath");
    gw_jw_str(&w, path);
    gw_jw_key(&w, "keyword");
    gw_jw_str(&w, keyword);
    gw_jw_key(&w, "params");
    gw_jw_obj_begin(&w);
    if (param_name) {
        gw_jw_key(&w, param_name);
        gw_jw_str(&w, param_value);
    }
    gw_jw_obj_end(&w);
    gw_jw_key(&w, "message");
    gw_jw_str(&w, msg);
    gw_jw_obj_end(&w);
    gw_jw_arr_end(&w);
    gw_jw_obj_end(&w);
    gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters", d.data);
    gw_buf_fini(&d);
    return -1;
}

static int not_implemented(gw_xo_err_t *err, const char *param)
{
    char data[200];
    snprintf(data, sizeof(data),
             "{\"param\":\"%.64s\",\"reason\":\"not supported by the command "
             "bus\"}",
             param);
    return gw_xo_fail(err, GW_ERR_NOT_IMPLEMENTED, "not implemented", data);
}

/* ---- the shared path (JSON-RPC and REST) ---- */

static bool type_ok(gw_type_t t, const gw_type_t *types)
{
    for (; *types != GW_T_NONE; types++)
        if (*types == t)
            return true;
    return false;
}

/* The uuid the agent resolves: the XO id, minus the "<pool>-" of a default template. */
static const char *agent_id(const gw_obj_info_t *o)
{
    size_t n = strlen(o->pool);
    if (o->type == GW_T_VM_TEMPLATE && !strncmp(o->id, o->pool, n) && o->id[n] == '-')
        return o->id + n + 1;
    return o->id;
}

int gw_vm_command(gw_ctx_t *ctx, const gw_user_t *user, const char *op, const char *vm_id,
                  json_object *args, const gw_type_t *types, const gw_cmd_waiter_t *w, char *id_out,
                  gw_xo_err_t *err)
{
    gw_obj_info_t o;
    gw_cmd_req_t req;
    json_object *full = json_object_new_object();
    char pool[64], id[GW_ID_MAX], uuid[GW_ID_MAX], msg[GW_ID_MAX + 32], data[GW_ID_MAX * 2 + 64];
    bool found;
    gw_type_t type = GW_T_NONE;
    int rc = -1;

    gw_view_rdlock(ctx->view);
    found = gw_view_get(ctx->view, vm_id, &o) && type_ok(o.type, types);
    if (found) {
        snprintf(pool, sizeof(pool), "%s", o.pool);
        snprintf(id, sizeof(id), "%s", o.id);
        snprintf(uuid, sizeof(uuid), "%s", agent_id(&o));
        type = o.type;
    }
    gw_view_unlock(ctx->view);
    if (!full) {
        gw_xo_fail(err, GW_ERR_UNKNOWN, "out of memory", NULL);
        goto out;
    }
    if (!found) {
        gw_buf_t d;
        gw_buf_init(&d);
        gw_buf_puts(&d, "{\"id\":");
        gw_buf_json_str(&d, vm_id);
        gw_buf_printf(&d, ",\"type\":\"%s\"}", gw_type_name(types[0]));
        snprintf(msg, sizeof(msg), "no such %s %.128s", gw_type_name(types[0]), vm_id);
        gw_xo_fail(err, GW_ERR_NO_SUCH_OBJECT, msg, d.data);
        gw_buf_fini(&d);
        goto out;
    }
    if (user->permission != GW_PERM_ADMIN) {
        snprintf(data, sizeof(data),
                 "{\"permission\":\"operate\",\"object\":{\"id\":\"%s\",\"type\":\"%s\"}}", id,
                 gw_type_name(type));
        gw_xo_fail(err, GW_ERR_UNAUTHORIZED, "not enough permissions", data);
        goto out;
    }
    json_object_object_add(full, "id", json_object_new_string(uuid));
    json_object_object_foreach(args, k, v) json_object_object_add(full, k, json_object_get(v));
    req = (gw_cmd_req_t){op, full, pool, id, user->id, user->email};
    rc = gw_commands_submit(ctx->commands, &req, w, id_out, err);
out:
    json_object_put(full);
    return rc;
}

const char *gw_vm_id_of(void *opaque, const char *pool, const char *cls, const char *ref)
{
    static _Thread_local char buf[GW_ID_MAX];
    gw_ctx_t *ctx = opaque;
    gw_obj_info_t o;
    bool found;

    gw_view_rdlock(ctx->view);
    found = gw_view_get_by_ref(ctx->view, pool, cls, ref, &o);
    if (found)
        snprintf(buf, sizeof(buf), "%s", o.id);
    gw_view_unlock(ctx->view);
    return found ? buf : NULL;
}

/* ---- JSON-RPC ---- */

/* Check one parameter against its spec; adds it to args when it maps to one. */
static int check_param(const pspec_t *p, json_object *v, json_object *args, gw_xo_err_t *err)
{
    char path[80];

    snprintf(path, sizeof(path), "/%s", p->name);
    if (!json_object_is_type(v, p->type))
        return invalid(err, path, "type",
                       p->type == json_type_string ? "must be string" : "must be boolean", "type",
                       p->type == json_type_string ? "string" : "boolean");
    if (p->type == json_type_string && !p->may_be_empty && !*json_object_get_string(v))
        return invalid(err, path, "minLength", "must NOT have fewer than 1 characters", NULL, NULL);
    switch (p->map) {
    case P_ARG:
        json_object_object_add(args, p->arg, json_object_get(v));
        return 0;
    case P_NOT_TRUE:
        return json_object_get_boolean(v) ? not_implemented(err, p->name) : 0;
    case P_NOT_IMPL:
        return not_implemented(err, p->name);
    default:
        return 0;
    }
}

/* ajv's checks: id a non-empty string, every other member known and well typed. */
static int check_params(const action_t *a, json_object *params, json_object *args, const char **id,
                        gw_xo_err_t *err)
{
    json_object *v;

    *id = NULL;
    json_object_object_foreach(params, k, val)
    {
        const pspec_t *p = a->params;
        if (!strcmp(k, "id"))
            continue;
        while (p->name && strcmp(p->name, k))
            p++;
        if (!p->name)
            return invalid(err, "", "additionalProperties", "must NOT have additional properties",
                           "additionalProperty", k);
        if (check_param(p, val, args, err) != 0)
            return -1;
    }
    if (!json_object_object_get_ex(params, "id", &v))
        return invalid(err, "", "required", "must have required property 'id'", "missingProperty",
                       "id");
    if (!json_object_is_type(v, json_type_string))
        return invalid(err, "/id", "type", "must be string", "type", "string");
    if (!*json_object_get_string(v))
        return invalid(err, "/id", "minLength", "must NOT have fewer than 1 characters", NULL,
                       NULL);
    *id = json_object_get_string(v);
    return 0;
}

static int vm_action(const action_t *a, gw_ctx_t *ctx, gw_session_t *s, json_object *params,
                     gw_buf_t *result, gw_xo_err_t *err)
{
    json_object *args = json_object_new_object();
    gw_cmd_waiter_t w;
    const char *id;
    char cid[GW_CMD_ID_LEN + 1];
    int rc = -1;

    if (!args)
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "out of memory", NULL);
    if (check_params(a, params, args, &id, err) != 0)
        goto out;
    if (!strcmp(a->op, "vm.set") && json_object_object_length(args) == 0) {
        gw_buf_puts(result, "true"); /* nothing to change: xo-server answers true too */
        rc = 0;
        goto out;
    }
    memset(&w, 0, sizeof(w));
    w.kind = s->req_id ? GW_CMD_WAIT_WS : GW_CMD_WAIT_NONE;
    w.conn = s->conn;
    w.admin = s->user->permission == GW_PERM_ADMIN;
    snprintf(w.rpc_id, sizeof(w.rpc_id), "%s", s->req_id ? s->req_id : "null");
    rc = gw_vm_command(ctx, s->user, a->op, id, args, a->types, &w, cid, err);
    if (rc == 0 && !s->req_id)
        gw_buf_puts(result, "true");
    else if (rc == 0)
        rc = GW_RPC_DEFERRED;
out:
    json_object_put(args);
    return rc;
}

#define ACTION(fn, op, params, types)                                                              \
    static const action_t A_##fn = {op, params, types};                                            \
    static int fn(gw_ctx_t *ctx, gw_session_t *s, json_object *params_, gw_buf_t *result,          \
                  gw_xo_err_t *err)                                                                \
    {                                                                                              \
        return vm_action(&A_##fn, ctx, s, params_, result, err);                                   \
    }

ACTION(vm_start, "vm.start", P_START, T_VM)
ACTION(vm_stop, "vm.stop", P_FORCE, T_VM)
ACTION(vm_restart, "vm.restart", P_FORCE, T_VM)
ACTION(vm_suspend, "vm.suspend", P_NONE, T_VM)
ACTION(vm_resume, "vm.resume", P_NONE, T_VM)
ACTION(vm_pause, "vm.pause", P_NONE, T_VM)
ACTION(vm_unpause, "vm.unpause", P_NONE, T_VM)
ACTION(vm_snapshot, "vm.snapshot", P_SNAPSHOT, T_VM)
ACTION(vm_delete, "vm.delete", P_DELETE, T_ANY_VM)
ACTION(vm_set, "vm.set", P_SET, T_ANY_VM)

#define D_ID              "\"id\":{\"type\":\"string\"}"
#define D_FORCE           ",\"force\":{\"type\":\"boolean\",\"optional\":true}"
#define D_OPT(name, type) ",\"" name "\":{\"type\":\"" type "\",\"optional\":true}"
#define S                 GW_CALL_SIGNED_IN

const gw_rpc_method_t gw_api_vm_methods[] = {
    {"vm.start", vm_start, S, "Start a halted VM.",
     "{" D_ID D_FORCE D_OPT("host", "string") D_OPT("bypassMacAddressesCheck", "boolean") "}"},
    {"vm.stop", vm_stop, S, "Shut a VM down: clean, or hard with force.", "{" D_ID D_FORCE "}"},
    {"vm.restart", vm_restart, S, "Reboot a VM: clean, or hard with force.", "{" D_ID D_FORCE "}"},
    {"vm.suspend", vm_suspend, S, "Suspend a running VM.", "{" D_ID "}"},
    {"vm.resume", vm_resume, S, "Resume a suspended VM.", "{" D_ID "}"},
    {"vm.pause", vm_pause, S, "Pause a running VM.", "{" D_ID "}"},
    {"vm.unpause", vm_unpause, S, "Unpause a paused VM.", "{" D_ID "}"},
    {"vm.snapshot", vm_snapshot, S, "Snapshot a VM; returns the snapshot's id.",
     "{" D_ID D_OPT("name", "string") D_OPT("description", "string")
         D_OPT("saveMemory", "boolean") "}"},
    {"vm.delete", vm_delete, S, "Destroy a VM (and its disks with delete_disks/deleteDisks).",
     "{" D_ID D_OPT("delete_disks", "boolean") D_OPT("deleteDisks", "boolean") D_FORCE "}"},
    {"vm.set", vm_set, S, "Change a VM's name_label and name_description.",
     "{" D_ID D_OPT("name_label", "string") D_OPT("name_description", "string") "}"},
    {NULL, NULL, 0, NULL, NULL}};
