/*
 * api_rpc.c - JSON-RPC framing, checks, permission gate, dispatch, and every JSON-RPC
 * answer the gateway writes (see api_rpc.h). Never trusts the message: size and depth are
 * bounded by the parser settings, every member is type-checked, and every failure becomes
 * an error response, never a crash or a closed connection. Must not know about WebSockets
 * (the transport does) nor keep anything from one message to the next.
 */
#include "api/api_rpc.h"

#include <stdio.h>
#include <string.h>

#include "xo_envelope.h"
#include "xo_log.h"

#define MAX_DEPTH   32
#define STEP_IGNORE 1 /* read_method: a response from the client, answered with nothing */

/* One request being answered. */
typedef struct {
    json_object *req;    /* the parsed message (owned) */
    bool notification;   /* no id: nothing is answered */
    bool well_formed;    /* a method was named: the call counts in the metrics */
    const char *id_json; /* JSON text of the id ("null" until read) */
    char idbuf[256];
} call_t;

/* ---- answers ---- */

void gw_rpc_write_result(gw_buf_t *out, const char *id_json, const char *result_json, size_t len)
{
    gw_buf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":");
    gw_buf_puts(out, id_json ? id_json : "null");
    gw_buf_puts(out, ",\"result\":");
    if (result_json && len)
        gw_buf_append(out, result_json, len);
    else
        gw_buf_puts(out, "null");
    gw_buf_putc(out, '}');
}

void gw_rpc_write_error(gw_buf_t *out, const char *id_json, const gw_xo_err_t *e)
{
    gw_buf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":");
    gw_buf_puts(out, id_json ? id_json : "null");
    gw_buf_puts(out, ",\"error\":");
    gw_xo_err_write(out, e);
    gw_buf_putc(out, '}');
}

void gw_rpc_write_reply(gw_buf_t *out, const gw_cmd_reply_t *r)
{
    const char *result = r->result_json ? r->result_json : "true";

    if (r->ok)
        gw_rpc_write_result(out, r->waiter->rpc_id, result, strlen(result));
    else
        gw_rpc_write_error(out, r->waiter->rpc_id, r->err);
}

/* ---- reading the request ---- */

/* The message as a JSON object, or -1 with err set (answered with id null). */
static int parse_request(const char *msg, size_t len, json_object **out, gw_xo_err_t *err)
{
    json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
    json_object *req;
    enum json_tokener_error jerr;
    int rc = -1;

    if (!tok)
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "out of memory", NULL);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    req = len <= INT32_MAX ? json_tokener_parse_ex(tok, msg, (int)len) : NULL;
    jerr = json_tokener_get_error(tok);
    if (!req && jerr == json_tokener_continue && len > 0) {
        /* a bare number ("42") is only complete once something follows it */
        req = json_tokener_parse_ex(tok, " ", 1);
        jerr = json_tokener_get_error(tok);
        len = req ? json_tokener_get_parse_end(tok) : 0; /* consumed everything before */
    }
    if (!req || jerr != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
        gw_xo_fail(err, GW_ERR_INVALID_JSON, "invalid JSON", NULL);
    } else if (!json_object_is_type(req, json_type_object)) {
        gw_xo_fail(err, GW_ERR_INVALID_REQUEST,
                   json_object_is_type(req, json_type_array) ? "batch requests are not supported"
                                                             : "invalid JSON-RPC request",
                   NULL);
    } else {
        *out = req;
        req = NULL;
        rc = 0;
    }
    json_object_put(req);
    json_tokener_free(tok);
    return rc;
}

/* id: number, string or null; absent means a notification (JSON-RPC 2.0). */
static int read_id(call_t *c, gw_xo_err_t *err)
{
    json_object *v;
    const char *text;

    c->notification = !json_object_object_get_ex(c->req, "id", &v);
    if (c->notification || !v)
        return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_string) &&
        !json_object_is_type(v, json_type_double))
        return gw_xo_fail(err, GW_ERR_INVALID_REQUEST, "invalid identifier", NULL);
    text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    if (strlen(text) >= sizeof(c->idbuf))
        return gw_xo_fail(err, GW_ERR_INVALID_REQUEST, "identifier too long", NULL);
    snprintf(c->idbuf, sizeof(c->idbuf), "%s", text);
    c->id_json = c->idbuf;
    return 0;
}

/* The jsonrpc and method members: 0 with *method set, STEP_IGNORE, or -1 with err set. */
static int read_method(const call_t *c, const char **method, gw_xo_err_t *err)
{
    json_object *v;

    if (json_object_object_get_ex(c->req, "jsonrpc", &v) &&
        (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0")))
        return gw_xo_fail(err, GW_ERR_INVALID_REQUEST, "invalid version", NULL);
    if (json_object_object_get_ex(c->req, "method", &v) &&
        json_object_is_type(v, json_type_string)) {
        *method = json_object_get_string(v);
        return 0;
    }
    /* a response or error from the client: json-rpc-peer ignores unknown ids */
    if (json_object_object_get_ex(c->req, "result", NULL) ||
        json_object_object_get_ex(c->req, "error", NULL))
        return STEP_IGNORE;
    return gw_xo_fail(err, GW_ERR_INVALID_REQUEST, "invalid JSON-RPC request", NULL);
}

/* params: xo-server methods take named parameters only; absent or [] reads as {}. */
static int read_params(json_object *req, json_object **params, json_object **owned,
                       gw_xo_err_t *err)
{
    json_object *p = NULL;

    if (json_object_object_get_ex(req, "params", &p) && p &&
        !json_object_is_type(p, json_type_object)) {
        if (!(json_object_is_type(p, json_type_array) && json_object_array_length(p) == 0))
            return gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                              "{\"errors\":[{\"message\":\"params must be an object\"}]}");
        p = NULL;
    }
    if (!p)
        p = *owned = json_object_new_object();
    if (!p)
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "out of memory", NULL);
    *params = p;
    return 0;
}

/* ---- dispatch ---- */

static const gw_rpc_method_t *find_method(const char *name, gw_xo_err_t *err)
{
    const gw_rpc_method_t *m = gw_rpc_find(name);
    gw_buf_t data;
    char text[200];

    if (m)
        return m;
    gw_buf_init(&data);
    gw_buf_json_str(&data, name);
    snprintf(text, sizeof(text), "method not found: %.150s", name);
    gw_xo_fail(err, GW_ERR_METHOD_NOT_FOUND, text, data.data);
    gw_buf_fini(&data);
    return NULL;
}

static int check_permission(gw_ctx_t *ctx, gw_session_t *s, const gw_rpc_method_t *m,
                            gw_xo_err_t *err)
{
    /* a token sign-in ends with its token; a removed user's sessions end at once */
    (void)gw_session_active(ctx, s);
    if (m->perm != GW_CALL_ANYONE && !s->user)
        return gw_xo_fail(err, GW_ERR_UNAUTHORIZED, "not enough permissions",
                          m->perm == GW_CALL_ADMIN ? "{\"permission\":\"admin\"}"
                                                   : "{\"permission\":\"view\"}");
    if (m->perm == GW_CALL_ADMIN && s->user->permission != GW_PERM_ADMIN)
        return gw_xo_fail(err, GW_ERR_UNAUTHORIZED, "not enough permissions",
                          "{\"permission\":\"admin\"}");
    return 0;
}

/* Find, check and call the method: 0, GW_RPC_DEFERRED, or -1 with err set. */
static int dispatch(gw_ctx_t *ctx, gw_session_t *s, const call_t *c, const char *method,
                    gw_buf_t *result, gw_xo_err_t *err)
{
    const gw_rpc_method_t *m = find_method(method, err);
    json_object *params = NULL, *owned = NULL;
    int rc = -1;

    if (!m || read_params(c->req, &params, &owned, err) != 0 ||
        check_permission(ctx, s, m, err) != 0)
        goto out;
    s->req_id = c->notification ? NULL : c->id_json;
    rc = m->fn(ctx, s, params, result, err);
    s->req_id = NULL;
    if (rc == 0 && result->failed)
        rc = gw_xo_fail(err, GW_ERR_UNKNOWN, "result too large for memory", NULL);
out:
    json_object_put(owned);
    return rc;
}

/* Count the call and write its answer (none for a notification or a deferred call). */
static void answer(gw_ctx_t *ctx, const call_t *c, int rc, const gw_buf_t *result,
                   const gw_xo_err_t *err, gw_buf_t *reply)
{
    bool failed = rc != 0 && rc != GW_RPC_DEFERRED;

    if (ctx->metrics)
        gw_metrics_count_rpc(ctx->metrics, failed);
    if (c->notification || rc == GW_RPC_DEFERRED)
        return; /* a deferred call is answered when its command completes */
    if (failed)
        gw_rpc_write_error(reply, c->id_json, err);
    else
        gw_rpc_write_result(reply, c->id_json, result->data, result->len);
}

bool gw_rpc_handle(gw_ctx_t *ctx, gw_session_t *s, const char *msg, size_t len, gw_buf_t *reply)
{
    call_t c;
    const char *method = NULL;
    gw_xo_err_t err;
    gw_buf_t result;
    int rc;

    memset(&c, 0, sizeof(c));
    c.id_json = "null";
    gw_xo_err_init(&err);
    gw_buf_init(&result);
    if (parse_request(msg, len, &c.req, &err) != 0 || read_id(&c, &err) != 0) {
        gw_rpc_write_error(reply, NULL, &err); /* no usable id: answered, not counted */
        goto out;
    }
    rc = read_method(&c, &method, &err);
    if (rc == STEP_IGNORE)
        goto out;
    if (rc == 0) {
        c.well_formed = true;
        rc = dispatch(ctx, s, &c, method, &result, &err);
    }
    answer(ctx, &c, rc, &result, &err, reply);
out:
    json_object_put(c.req);
    gw_buf_fini(&result);
    gw_xo_err_fini(&err);
    return c.well_formed;
}
