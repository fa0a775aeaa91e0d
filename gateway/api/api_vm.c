/*
 * api_vm.c - the JSON-RPC methods of the command ops (xo-server's api/vm.mjs: vm.start,
 * stop, ..., set), all served by one generic method driven by the op table (xo_ops.h):
 * check the params as xo-server's ajv would, resolve the object in the view, check the
 * permission, and hand the command to commands.c; the reply is deferred until the outcome
 * arrives. Never waits: everything here runs on the service thread and only queues.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_copy.h"
#include "api/api_rpc.h"
#include "api/downloads.h"
#include "core/clock.h"
#include "bus/commands.h"
#include "xo_log.h"
#include "xo_ops.h"

#define MOD "api"

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

/* A failed xo_op_params_to_args() in xo-server's words (ajv's error objects). */
static int params_error(const xo_args_check_t *c, gw_xo_err_t *err)
{
    char path[80], msg[120];
    const char *type = c->param ? xo_arg_type_name(c->param->type) : "object";

    snprintf(path, sizeof(path), "/%.64s", c->name);
    switch (c->problem) {
    case XO_ARGS_UNKNOWN:
        return invalid(err, "", "additionalProperties", "must NOT have additional properties",
                       "additionalProperty", c->name);
    case XO_ARGS_MISSING:
        snprintf(msg, sizeof(msg), "must have required property '%.64s'", c->name);
        return invalid(err, "", "required", msg, "missingProperty", c->name);
    case XO_ARGS_TYPE:
        snprintf(msg, sizeof(msg), "must be %s", type);
        return invalid(err, path, "type", msg, "type", type);
    case XO_ARGS_TOO_SHORT:
        return invalid(err, path, "minLength", "must NOT have fewer than 1 characters", NULL, NULL);
    case XO_ARGS_NOT_IMPLEMENTED:
        return not_implemented(err, c->name);
    default:
        return invalid(err, "", "params", c->message, NULL, NULL);
    }
}

/* ---- the shared path (JSON-RPC and REST) ---- */

static bool type_ok(gw_type_t t, const gw_type_t *types)
{
    for (; *types != GW_T_NONE; types++)
        if (*types == t)
            return true;
    return false;
}

/* xo-server's noSuchObject error for @p id of type @p type (the id comes from the client:
 * escaped like any text). */
static int no_such_object(gw_xo_err_t *err, const char *id, const char *type)
{
    gw_buf_t d;
    char msg[GW_ID_MAX + 32];

    gw_buf_init(&d);
    gw_buf_puts(&d, "{\"id\":");
    gw_buf_json_str(&d, id);
    gw_buf_printf(&d, ",\"type\":\"%s\"}", type);
    snprintf(msg, sizeof(msg), "no such %s %.128s", type, id);
    gw_xo_fail(err, GW_ERR_NO_SUCH_OBJECT, msg, d.data);
    gw_buf_fini(&d);
    return -1;
}

/* The uuid the agent resolves: the XO id, minus the "<pool>-" of a default template. */
static const char *agent_id(const gw_obj_info_t *o)
{
    size_t n = strlen(o->pool);
    if (o->type == GW_T_VM_TEMPLATE && !strncmp(o->id, o->pool, n) && o->id[n] == '-')
        return o->id + n + 1;
    return o->id;
}

/* xo-server's unauthorized error for @p row, naming the object when it is known (its id
 * comes from Kafka records: escaped like any text). */
static int unauthorized(gw_xo_err_t *err, const xo_op_t *row, const char *id, gw_type_t type)
{
    gw_buf_t d;

    gw_buf_init(&d);
    gw_buf_printf(&d, "{\"permission\":\"%s\"",
                  xo_perm_name(row ? row->permission : XO_PERM_OPERATE));
    if (id) {
        gw_buf_puts(&d, ",\"object\":{\"id\":");
        gw_buf_json_str(&d, id);
        gw_buf_printf(&d, ",\"type\":\"%s\"}", gw_type_name(type));
    }
    gw_buf_putc(&d, '}');
    gw_xo_fail(err, GW_ERR_UNAUTHORIZED, "not enough permissions", d.data);
    gw_buf_fini(&d);
    return -1;
}

int gw_vm_may_run(gw_ctx_t *ctx, const gw_user_t *user, const xo_op_t *op, const char *vm_id,
                  const gw_type_t *types, gw_xo_err_t *err)
{
    gw_obj_info_t o;
    char id[GW_ID_MAX];
    gw_type_t type = GW_T_NONE;

    if (user->permission == GW_PERM_ADMIN)
        return 0;
    id[0] = '\0';
    if (vm_id) { /* name the object as xo-server would, when it is one the op acts on */
        gw_view_rdlock(ctx->view);
        if (gw_view_get(ctx->view, vm_id, &o) && type_ok(o.type, types)) {
            snprintf(id, sizeof(id), "%s", o.id);
            type = o.type;
        }
        gw_view_unlock(ctx->view);
    }
    return unauthorized(err, op, id[0] ? id : NULL, type);
}

int gw_vm_command(gw_ctx_t *ctx, const gw_user_t *user, const char *op, const char *vm_id,
                  json_object *args, const gw_type_t *types, const gw_cmd_waiter_t *w, char *id_out,
                  gw_xo_err_t *err)
{
    const xo_op_t *row = xo_op_find(op);
    gw_obj_info_t o;
    gw_cmd_req_t req;
    json_object *full = json_object_new_object();
    char pool[64], id[GW_ID_MAX], uuid[GW_ID_MAX];
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
        no_such_object(err, vm_id, gw_type_name(types[0]));
        goto out;
    }
    if (user->permission != GW_PERM_ADMIN) { /* callers check first (gw_vm_may_run) */
        unauthorized(err, row, id, type);
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

/* ---- JSON-RPC: the generic method of an op ---- */

/* The XO types an op's "id" may name (GW_T_NONE-terminated). */
void gw_op_target_types(unsigned targets, gw_type_t types[GW_OP_TARGET_TYPES])
{
    int n = 0;

    if (targets & XO_ON_VM)
        types[n++] = GW_T_VM;
    if (targets & XO_ON_VM_SNAPSHOT)
        types[n++] = GW_T_VM_SNAPSHOT;
    if (targets & XO_ON_VM_TEMPLATE)
        types[n++] = GW_T_VM_TEMPLATE;
    if (targets & XO_ON_VM_CONTROLLER)
        types[n++] = GW_T_VM_CONTROLLER;
    if (targets & XO_ON_HOST)
        types[n++] = GW_T_HOST;
    if (targets & XO_ON_POOL)
        types[n++] = GW_T_POOL;
    if (targets & XO_ON_TASK)
        types[n++] = GW_T_TASK;
    types[n] = GW_T_NONE;
}

/* The op's object in the params: "id", or a name of it (pool.listMissingPatches' host). */
static json_object *object_param(const xo_op_t *op, json_object *params)
{
    const xo_op_param_t *id = xo_op_param(op, "id");
    json_object *v = NULL;

    if (id && json_object_object_get_ex(params, xo_op_param_api_name(op, id), &v))
        return v;
    for (const xo_op_param_t *p = op->params; p->name; p++)
        if (p->use == XO_PARAM_ALIAS && strcmp(p->alias_of, "id") == 0 &&
            json_object_object_get_ex(params, p->name, &v))
            return v;
    return NULL;
}

/*
 * The checks every op's method makes, in xo-server's order: the permission before the
 * parameters (a viewer learns nothing from the checks of a call it may not make, and a
 * call that changes nothing, vm.set {id}, is refused like any other), then the params into
 * the command's @p args. @p types receives the XO types the op's object may have.
 */
static int check_call(gw_ctx_t *ctx, const gw_session_t *s, const xo_op_t *op, json_object *params,
                      json_object *args, gw_type_t types[GW_OP_TARGET_TYPES], gw_xo_err_t *err)
{
    json_object *v = object_param(op, params);
    xo_args_check_t check;

    gw_op_target_types(op->targets, types);
    if (gw_vm_may_run(ctx, s->user, op,
                      v && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                    : NULL,
                      types, err) != 0)
        return -1;
    if (xo_op_params_to_args(op, params, args, &check) != XO_OK)
        return params_error(&check, err);
    return 0;
}

/* Who waits for the command's outcome: the WebSocket call, or nobody (a notification). */
static void waiter_of(const gw_session_t *s, gw_cmd_waiter_t *w)
{
    memset(w, 0, sizeof(*w));
    w->kind = s->req_id ? GW_CMD_WAIT_WS : GW_CMD_WAIT_NONE;
    w->conn = s->conn;
    w->admin = s->user->permission == GW_PERM_ADMIN;
    snprintf(w->rpc_id, sizeof(w->rpc_id), "%s", s->req_id ? s->req_id : "null");
}

/* A submitted command's answer: deferred to its outcome, or true at once for a
 * notification (no id, nobody to answer). */
static int submitted(const gw_session_t *s, int rc, gw_buf_t *result)
{
    if (rc == 0 && !s->req_id)
        gw_buf_puts(result, "true");
    else if (rc == 0)
        rc = GW_RPC_DEFERRED;
    return rc;
}

int gw_op_method(const char *name, gw_ctx_t *ctx, gw_session_t *s, json_object *params,
                 gw_buf_t *result, gw_xo_err_t *err)
{
    const xo_op_t *op = xo_op_find(name);
    json_object *args = json_object_new_object(), *v = NULL;
    gw_type_t types[GW_OP_TARGET_TYPES];
    gw_cmd_waiter_t w;
    const char *id;
    char cid[GW_CMD_ID_LEN + 1];
    int rc = -1;

    if (!args || !op) {
        rc = gw_xo_fail(err, GW_ERR_UNKNOWN, args ? "no such op" : "out of memory", NULL);
        goto out;
    }
    if (check_call(ctx, s, op, params, args, types, err) != 0)
        goto out;
    /* "id" names the object; the command gets the agent's uuid for it (gw_vm_command) */
    json_object_object_get_ex(args, "id", &v);
    id = json_object_get_string(v);
    json_object_object_del(args, "id");
    if ((op->flags & XO_OP_NEEDS_CHANGE) && json_object_object_length(args) == 0) {
        gw_buf_puts(result, "true"); /* nothing to change: xo-server answers true too */
        rc = 0;
        goto out;
    }
    waiter_of(s, &w);
    rc = submitted(s, gw_vm_command(ctx, s->user, op->name, id, args, types, &w, cid, err), result);
out:
    json_object_put(args);
    return rc;
}

/*
 * The ops served by the generic method: one line each, (C name, op name). The method's
 * description and params (system.getMethodsInfo) come from the op's row. An op that needs
 * more than the generic method gets its own function and table entry instead.
 */
#define GENERIC_OPS(X)                                                                             \
    X(vm_start, "vm.start")                                                                        \
    X(vm_stop, "vm.stop")                                                                          \
    X(vm_restart, "vm.restart")                                                                    \
    X(vm_suspend, "vm.suspend")                                                                    \
    X(vm_resume, "vm.resume")                                                                      \
    X(vm_pause, "vm.pause")                                                                        \
    X(vm_unpause, "vm.unpause")                                                                    \
    X(vm_snapshot, "vm.snapshot")                                                                  \
    X(vm_delete, "vm.delete")                                                                      \
    X(vm_set, "vm.set")                                                                            \
    X(task_cancel, "task.cancel")                                                                  \
    X(tag_add, "tag.add")                                                                          \
    X(tag_remove, "tag.remove")

#define GENERIC_FN(fn, name)                                                                       \
    static int fn(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,           \
                  gw_xo_err_t *err)                                                                \
    {                                                                                              \
        return gw_op_method(name, ctx, s, params, result, err);                                    \
    }
GENERIC_OPS(GENERIC_FN)

/* ---- JSON-RPC: vm.copy (xo-server's own parameter names) ---- */

/* The pool of object @p id when it is of type @p type, else ""; and the uuid its agent
 * resolves. */
static void pool_of(gw_ctx_t *ctx, const char *id, gw_type_t type, char pool[64],
                    char uuid[GW_ID_MAX])
{
    gw_obj_info_t o;

    pool[0] = uuid[0] = '\0';
    gw_view_rdlock(ctx->view);
    if (id && gw_view_get(ctx->view, id, &o) && o.type == type) {
        snprintf(pool, 64, "%s", o.pool);
        snprintf(uuid, GW_ID_MAX, "%s", agent_id(&o));
    }
    gw_view_unlock(ctx->view);
}

/*
 * vm.copy: within the VM's pool, the pool's agent runs XAPI's VM.copy (command_copy.c);
 * across pools, a transfer between the two pools' agents (api_copy.c, docs/streaming.md).
 */
static int vm_copy(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                   gw_xo_err_t *err)
{
    const xo_op_t *op = xo_op_find("vm.copy");
    json_object *args = json_object_new_object(), *v = NULL;
    gw_type_t types[GW_OP_TARGET_TYPES];
    gw_cmd_waiter_t w;
    const char *vm, *sr;
    char cid[GW_CMD_ID_LEN + 1], vm_pool[64], sr_pool[64], vm_uuid[GW_ID_MAX], sr_uuid[GW_ID_MAX];
    int rc = -1;

    if (!args) {
        rc = gw_xo_fail(err, GW_ERR_UNKNOWN, "out of memory", NULL);
        goto out;
    }
    if (check_call(ctx, s, op, params, args, types, err) != 0)
        goto out;
    v = object_param(op, params); /* a string: check_call took it */
    vm = json_object_get_string(v);
    json_object_object_del(args, "id");
    sr = xo_msg_str(args, "sr");
    pool_of(ctx, vm, GW_T_VM, vm_pool, vm_uuid);
    pool_of(ctx, sr, GW_T_SR, sr_pool, sr_uuid);
    if (vm_pool[0] && !sr_pool[0]) { /* xo-server resolves the VM, then the SR */
        rc = no_such_object(err, sr, "SR");
        goto out;
    }
    waiter_of(s, &w);
    if (vm_pool[0] && strcmp(vm_pool, sr_pool) != 0) {
        json_object *compress = NULL;
        json_object_object_get_ex(args, "compress", &compress);
        gw_copy_req_t req = {vm,      vm_uuid, vm_pool, sr_uuid, sr_pool, xo_msg_str(args, "name"),
                             compress};
        rc = gw_copy_across(ctx, s->user, &req, &w, err);
    } else {
        rc = gw_vm_command(ctx, s->user, op->name, vm, args, types, &w, cid, err);
    }
    rc = submitted(s, rc, result);
out:
    json_object_put(args);
    return rc;
}

/* ---- JSON-RPC: vm.export (a download URL) ---- */

/* vm.export's params as xo-server's schema has them: {vm, compress?, format?}, nothing else. */
static int export_params(json_object *params, const char **vm, gw_xo_err_t *err)
{
    json_object *v = NULL;

    json_object_object_foreach(params, k, val)
    {
        if (strcmp(k, "vm") != 0 && strcmp(k, "compress") != 0 && strcmp(k, "format") != 0)
            return invalid(err, "", "additionalProperties", "must NOT have additional properties",
                           "additionalProperty", k);
        (void)val;
    }
    if (!json_object_object_get_ex(params, "vm", &v))
        return invalid(err, "", "required", "must have required property 'vm'", "missingProperty",
                       "vm");
    if (!json_object_is_type(v, json_type_string))
        return invalid(err, "/vm", "type", "must be string", "type", "string");
    *vm = json_object_get_string(v);
    if (json_object_object_get_ex(params, "compress", &v) &&
        !json_object_is_type(v, json_type_boolean) && !json_object_is_type(v, json_type_string))
        return invalid(err, "/compress", "type", "must be boolean,string", "type",
                       "boolean,string");
    if (json_object_object_get_ex(params, "format", &v) &&
        (!json_object_is_type(v, json_type_string) ||
         (strcmp(json_object_get_string(v), "xva") && strcmp(json_object_get_string(v), "ova"))))
        return invalid(err, "/format", "enum", "must be equal to one of the allowed values", NULL,
                       NULL);
    if (v && !strcmp(json_object_get_string(v), "ova"))
        return not_implemented(err, "format");
    return 0;
}

/* The VM (or snapshot) to export, from the view: its ids, pool and the file name offered
 * ("<UTC date> - <name_label>.xva", as xo-server names it). False when there is none. */
static bool export_target(gw_ctx_t *ctx, const char *vm, gw_download_t *dl)
{
    gw_obj_info_t o;
    json_object *obj = NULL, *v;
    bool found;
    char date[32];
    time_t now = time(NULL);
    struct tm tm;

    gw_view_rdlock(ctx->view);
    found = gw_view_get(ctx->view, vm, &o) && (o.type == GW_T_VM || o.type == GW_T_VM_SNAPSHOT) &&
            o.json;
    if (found) {
        snprintf(dl->vm, sizeof(dl->vm), "%.63s", o.id);
        snprintf(dl->uuid, sizeof(dl->uuid), "%.63s", agent_id(&o));
        snprintf(dl->pool, sizeof(dl->pool), "%s", o.pool);
        obj = json_tokener_parse(o.json);
    }
    gw_view_unlock(ctx->view);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(dl->name, sizeof(dl->name), "%s - %.150s.xva", date,
             json_object_object_get_ex(obj, "name_label", &v) ? json_object_get_string(v) : "VM");
    json_object_put(obj);
    return found;
}

/* "/downloads/<token>/<name, percent-encoded>" */
static void download_url(const char *token, const char *name, gw_buf_t *out)
{
    gw_buf_printf(out, "/downloads/%s/", token);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~", *p))
            gw_buf_putc(out, (char)*p);
        else
            gw_buf_printf(out, "%%%02X", *p);
    }
}

int gw_vm_export_url(gw_ctx_t *ctx, const gw_user_t *user, const char *vm, json_object *compress,
                     gw_buf_t *url, gw_xo_err_t *err)
{
    static const gw_type_t types[] = {GW_T_VM, GW_T_VM_SNAPSHOT, GW_T_NONE};
    gw_download_t dl = {0};
    char token[GW_TOKEN_LEN + 1];

    if (gw_vm_may_run(ctx, user, xo_op_find("vm.exportRelay"), vm, types, err) != 0)
        return -1;
    if (!export_target(ctx, vm, &dl))
        return no_such_object(err, vm, "VM");
    if (!ctx->downloads || !gw_commands_enabled(ctx->commands))
        return gw_xo_fail(err, GW_ERR_NOT_IMPLEMENTED, "not implemented",
                          "{\"reason\":\"commands are disabled on this gateway (no "
                          "commands.private_key)\"}");
    if (compress)
        snprintf(dl.compress, sizeof(dl.compress), "%s",
                 json_object_to_json_string_ext(compress, JSON_C_TO_STRING_PLAIN));
    snprintf(dl.user_id, sizeof(dl.user_id), "%s", user->id);
    snprintf(dl.email, sizeof(dl.email), "%s", user->email);
    if (!gw_downloads_add(ctx->downloads, &dl, gw_mono_ms(), token))
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "too many pending downloads", NULL);
    download_url(token, dl.name, url);
    OPENSSL_cleanse(token, sizeof(token));
    xo_info(MOD, "event=export_url vm=%s pool=%s user=\"%s\"", dl.vm, dl.pool, dl.email);
    return 0;
}

/*
 * vm.export({vm, compress?, format?}) as xo-server's api/vm.mjs: `administrate` on a VM or a
 * snapshot (checked before the params, as every method); the answer {$getFrom: url}.
 */
static int vm_export(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                     gw_xo_err_t *err)
{
    static const gw_type_t types[] = {GW_T_VM, GW_T_VM_SNAPSHOT, GW_T_NONE};
    json_object *v = NULL, *compress = NULL;
    const char *vm = NULL;
    gw_buf_t url;
    int rc;

    json_object_object_get_ex(params, "vm", &v);
    if (gw_vm_may_run(ctx, s->user, xo_op_find("vm.exportRelay"),
                      json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL,
                      types, err) != 0 ||
        export_params(params, &vm, err) != 0)
        return -1;
    json_object_object_get_ex(params, "compress", &compress);
    gw_buf_init(&url);
    rc = gw_vm_export_url(ctx, s->user, vm, compress, &url, err);
    if (rc == 0) {
        gw_buf_puts(result, "{\"$getFrom\":");
        gw_buf_json_str(result, url.data);
        gw_buf_putc(result, '}');
    }
    gw_buf_fini(&url);
    return rc;
}

#define GENERIC_ENTRY(fn, name) {name, fn, GW_CALL_SIGNED_IN, NULL, NULL},

const gw_rpc_method_t gw_api_vm_methods[] = {
    GENERIC_OPS(GENERIC_ENTRY){"vm.copy", vm_copy, GW_CALL_SIGNED_IN, NULL, NULL},
    {"vm.export", vm_export, GW_CALL_SIGNED_IN, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL}};
