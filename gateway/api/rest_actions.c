/*
 * rest_actions.c - REST requests that change something, each one command of the op table
 * on the bus (api_vm.c checks the permission and resolves the object): actions, those of
 * the ops acting on the collection's type (POST /vms/<id>/actions/<name>,
 * /pools/<id>/actions/rolling_update: 202 + a task, or with ?sync=true 204, 201 {id} for a
 * snapshot), GET /hosts|pools/<id>/missing_patches (asked of the agent, 200 and its list),
 * PATCH /vms/<id> (vm.set), DELETE of a VM, snapshot or template (vm.delete
 * with its disks, as XO's VM_destroy), and tags (tag.add / tag.remove). The synchronous
 * ones answer when the command's outcome arrives (gw_rest_reply, through the transport).
 * Bodies are bounded (GW_HTTP_MAX_BODY) and parsed once.
 */
#include <stdio.h>
#include <string.h>

#include "api/rest_int.h"
#include "bus/commands.h"
#include "xo_ops.h"

/* The XO types a collection's changes may name (GW_T_NONE-terminated). */
static void collection_types(gw_type_t type, gw_type_t out[2])
{
    out[0] = type;
    out[1] = GW_T_NONE;
}

void gw_rest_reply(gw_http_resp_t *r, int ok_status, int conflict_status, const char *result_json,
                   const gw_xo_err_t *err)
{
    json_object *id;

    gw_buf_reset(&r->body);
    if (err) {
        gw_rest_xo_error(r, err, conflict_status);
        return;
    }
    if (ok_status == 200) { /* a listing: the command's result is the answer */
        gw_rest_json(r, 200);
        gw_buf_puts(&r->body, result_json ? result_json : "null");
        gw_buf_putc(&r->body, '\n');
        return;
    }
    if (ok_status != 201) {
        r->status = ok_status;
        r->content_type = "application/json";
        return;
    }
    /* a snapshot: {id} and where it is */
    id = result_json ? json_tokener_parse(result_json) : NULL;
    gw_rest_json(r, 201);
    gw_buf_puts(&r->body, "{\"id\":");
    gw_buf_puts(&r->body, result_json ? result_json : "null");
    gw_buf_puts(&r->body, "}\n");
    if (json_object_is_type(id, json_type_string))
        snprintf(r->location, sizeof(r->location), GW_REST_BASE "/vm-snapshots/%.80s",
                 json_object_get_string(id));
    json_object_put(id);
}

/* xo-server's invalidParameters with one ajv-like error naming @p member. */
static int invalid(gw_xo_err_t *err, const char *member, const char *msg)
{
    gw_buf_t d;

    gw_buf_init(&d);
    gw_buf_puts(&d, "{\"errors\":[{\"instancePath\":");
    gw_buf_json_str(&d, *member ? member : "");
    gw_buf_puts(&d, ",\"message\":");
    gw_buf_json_str(&d, msg);
    gw_buf_puts(&d, "}]}");
    gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters", d.data);
    gw_buf_fini(&d);
    return -1;
}

/* The request body: NULL when absent; an object, or the answer 400 (not JSON / not an
 * object) already in @p r. */
static bool read_body(const gw_http_req_t *req, gw_http_resp_t *r, json_object **out)
{
    json_tokener *tok;

    *out = NULL;
    if (!req->body || !req->body_len)
        return true;
    tok = json_tokener_new();
    *out = tok && req->body_len < GW_HTTP_MAX_BODY
               ? json_tokener_parse_ex(tok, req->body, (int)req->body_len)
               : NULL;
    if (tok)
        json_tokener_free(tok);
    if (json_object_is_type(*out, json_type_object))
        return true;
    json_object_put(*out);
    *out = NULL;
    gw_rest_error(r, 400, "the body must be a JSON object", NULL);
    return false;
}

/* Issue one command as @p user; sync: answer later with @p ok / @p conflict. */
static void issue(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_user_t *user, const char *op,
                  const char *id, json_object *args, const gw_type_t *types, bool sync, int ok,
                  int conflict, gw_http_resp_t *r)
{
    gw_cmd_waiter_t w;
    gw_xo_err_t err;
    char cid[GW_CMD_ID_LEN + 1];

    gw_xo_err_init(&err);
    memset(&w, 0, sizeof(w));
    w.kind = sync ? GW_CMD_WAIT_HTTP : GW_CMD_WAIT_NONE;
    w.conn = req->conn;
    w.admin = user->permission == GW_PERM_ADMIN;
    if (gw_vm_command(ctx, user, op, id, args, types, &w, cid, &err) != 0) {
        gw_rest_xo_error(r, &err, conflict);
    } else if (sync) {
        r->deferred = true;
        r->deferred_ok = ok;
        r->deferred_conflict = conflict;
    } else {
        gw_rest_json(r, 202);
        snprintf(r->location, sizeof(r->location), GW_REST_BASE "/tasks/%s", cid);
        gw_buf_printf(&r->body, "{\"taskId\":\"%s\"}\n", cid);
    }
    gw_xo_err_fini(&err);
}

/* The permission first, as the JSON-RPC method: a viewer's body is never read. */
static bool may_run(gw_ctx_t *ctx, const gw_user_t *user, const char *op_name, const char *id,
                    const gw_type_t *types, gw_http_resp_t *r)
{
    gw_xo_err_t err;
    bool ok;

    gw_xo_err_init(&err);
    ok = gw_vm_may_run(ctx, user, xo_op_find(op_name), id, types, &err) == 0;
    if (!ok)
        gw_rest_xo_error(r, &err, 500);
    gw_xo_err_fini(&err);
    return ok;
}

/* An action's args: the boolean it sets (hard_*: force) and the member of its optional
 * body it reads (snapshot: name_label -> name; start: hostId -> host), typed as the op's
 * argument. */
static int action_args(json_object *body, const xo_op_t *op, const xo_op_rest_t *ra,
                       json_object *args, gw_xo_err_t *err)
{
    const xo_op_param_t *p = ra->body ? xo_op_param(op, ra->body_arg) : NULL;
    bool string = p && p->type == XO_ARG_STRING;
    json_object *v;

    if (ra->set_true)
        json_object_object_add(args, ra->set_true, json_object_new_boolean(true));
    if (!body || !p || !json_object_object_get_ex(body, ra->body, &v))
        return 0;
    if (!json_object_is_type(v, string ? json_type_string : json_type_boolean) ||
        (string && !*json_object_get_string(v)))
        return invalid(err, ra->body, string ? "must be a non-empty string" : "must be a boolean");
    json_object_object_add(args, ra->body_arg, json_object_get(v));
    return 0;
}

void gw_rest_action(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                    const gw_user_t *user, gw_http_resp_t *r)
{
    const xo_op_rest_t *ra = NULL;
    const xo_op_t *op = gw_rest_action_op(q->action, q->type, &ra);
    json_object *args = json_object_new_object(), *body = NULL;
    gw_type_t types[2];
    gw_xo_err_t err;

    gw_xo_err_init(&err);
    collection_types(q->type, types);
    if (!op || !args) {
        gw_rest_error(r, args ? 404 : 500, args ? "no such action" : "out of memory", NULL);
        goto out;
    }
    if (!may_run(ctx, user, op->name, q->id, types, r) || !read_body(req, r, &body))
        goto out;
    if (action_args(body, op, ra, args, &err) != 0) {
        /* invalidParameters, answered 400: XO's spec lists no 422 for actions */
        gw_rest_error(r, 400, err.message, err.data.len ? err.data.data : NULL);
        goto out;
    }
    issue(ctx, req, user, op->name, q->id, args, types, q->sync,
          xo_op_id(op) == XO_OP_VM_SNAPSHOT ? 201 : 204, 500, r);
out:
    json_object_put(body);
    json_object_put(args);
    gw_xo_err_fini(&err);
}

/* PATCH's members: XO's spec names (nameLabel), and xo-server's JSON-RPC ones. */
static const struct {
    const char *member, *arg;
} PATCHABLE[] = {{"nameLabel", "name_label"},
                 {"nameDescription", "name_description"},
                 {"name_label", "name_label"},
                 {"name_description", "name_description"}};

static int patch_args(json_object *body, json_object *args, gw_xo_err_t *err)
{
    json_object_object_foreach(body, k, v)
    {
        size_t i = 0;
        while (i < sizeof(PATCHABLE) / sizeof(PATCHABLE[0]) && strcmp(PATCHABLE[i].member, k))
            i++;
        if (i == sizeof(PATCHABLE) / sizeof(PATCHABLE[0])) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "%.64s: not supported by this gateway (nameLabel and nameDescription are)", k);
            return invalid(err, k, msg);
        }
        if (!json_object_is_type(v, json_type_string) ||
            (!strcmp(PATCHABLE[i].arg, "name_label") && !*json_object_get_string(v)))
            return invalid(err, k,
                           !strcmp(PATCHABLE[i].arg, "name_label") ? "must be a non-empty string"
                                                                   : "must be a string");
        json_object_object_add(args, PATCHABLE[i].arg, json_object_get(v));
    }
    return 0;
}

void gw_rest_patch(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                   const gw_user_t *user, gw_http_resp_t *r)
{
    json_object *args = json_object_new_object(), *body = NULL;
    gw_type_t types[2];
    gw_xo_err_t err;

    gw_xo_err_init(&err);
    collection_types(q->type, types);
    if (!args || !may_run(ctx, user, "vm.set", q->id, types, r) || !read_body(req, r, &body))
        goto out;
    if (!body) {
        gw_rest_error(r, 400, "the body must be a JSON object", NULL);
        goto out;
    }
    if (patch_args(body, args, &err) != 0) {
        gw_rest_xo_error(r, &err, 500);
        goto out;
    }
    if (json_object_object_length(args) == 0) { /* nothing to change: the object must exist */
        if (gw_rest_exists(ctx, q->id, q->type))
            r->status = 204;
        else
            gw_rest_error(r, 404, "no such object", NULL);
        goto out;
    }
    issue(ctx, req, user, "vm.set", q->id, args, types, true, 204, 500, r);
out:
    json_object_put(body);
    json_object_put(args);
    gw_xo_err_fini(&err);
}

void gw_rest_delete(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                    const gw_user_t *user, gw_http_resp_t *r)
{
    json_object *args = json_object_new_object();
    gw_type_t types[2];

    collection_types(q->type, types);
    if (args && may_run(ctx, user, "vm.delete", q->id, types, r)) {
        /* XO's VM_destroy deletes the VM's disks by default */
        json_object_object_add(args, "deleteDisks", json_object_new_boolean(true));
        issue(ctx, req, user, "vm.delete", q->id, args, types, true, 204, 409, r);
    }
    json_object_put(args);
}

void gw_rest_missing_patches(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                             const gw_user_t *user, gw_http_resp_t *r)
{
    const char *op =
        q->type == GW_T_POOL ? "pool.listPoolMissingPatches" : "pool.listMissingPatches";
    json_object *args = json_object_new_object();
    gw_type_t types[2];

    collection_types(q->type, types);
    if (args && may_run(ctx, user, op, q->id, types, r))
        issue(ctx, req, user, op, q->id, args, types, true, 200, 500, r);
    json_object_put(args);
}

void gw_rest_tag(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                 const gw_user_t *user, gw_http_resp_t *r)
{
    const char *op = req->method == GW_HTTP_PUT ? "tag.add" : "tag.remove";
    json_object *args = json_object_new_object();
    gw_type_t types[2];

    collection_types(q->type, types);
    if (args && may_run(ctx, user, op, q->id, types, r)) {
        json_object_object_add(args, "tag", json_object_new_string(q->tag));
        issue(ctx, req, user, op, q->id, args, types, true, 204, 500, r);
    }
    json_object_put(args);
}
