/*
 * api_rpc.c - JSON-RPC framing, checks, permission gate and dispatch (see api_rpc.h).
 * Never trusts the message: size and depth are bounded by the parser settings, every
 * member is type-checked, and every failure becomes an error response, never a crash or
 * a closed connection. Must not know about WebSockets (http_server.c does).
 */
#include "api/api_rpc.h"

#include <stdio.h>
#include <string.h>

#include "xo_envelope.h"
#include "xo_log.h"

#define MAX_DEPTH 32

int gw_rpc_fail(gw_rpc_err_t *e, int code, const char *message, const char *data_json)
{
    e->code = code;
    snprintf(e->message, sizeof(e->message), "%s", message);
    gw_buf_reset(&e->data);
    if (data_json)
        gw_buf_puts(&e->data, data_json);
    return -1;
}

void gw_rpc_write_error(gw_buf_t *out, const char *id_json, const gw_rpc_err_t *e)
{
    gw_buf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":");
    gw_buf_puts(out, id_json ? id_json : "null");
    gw_buf_printf(out, ",\"error\":{\"code\":%d,\"message\":", e->code);
    gw_buf_json_str(out, e->message);
    if (e->data.len) {
        gw_buf_puts(out, ",\"data\":");
        gw_buf_append(out, e->data.data, e->data.len);
    }
    gw_buf_puts(out, "}}");
}

static const gw_rpc_method_t *const tables[] = {gw_api_session_methods, gw_api_xo_methods,
                                                gw_api_system_methods, gw_api_vm_methods, NULL};

const gw_rpc_method_t *gw_rpc_find(const char *name)
{
    for (int t = 0; tables[t]; t++)
        for (const gw_rpc_method_t *m = tables[t]; m->name; m++)
            if (!strcmp(m->name, name))
                return m;
    return NULL;
}

void gw_rpc_foreach(void (*cb)(const gw_rpc_method_t *m, void *opaque), void *opaque)
{
    for (int t = 0; tables[t]; t++)
        for (const gw_rpc_method_t *m = tables[t]; m->name; m++)
            cb(m, opaque);
}

void gw_user_write_json(const gw_user_t *u, gw_buf_t *out)
{
    gw_buf_puts(out, "{\"id\":");
    gw_buf_json_str(out, u->id);
    gw_buf_puts(out, ",\"email\":");
    gw_buf_json_str(out, u->email);
    gw_buf_puts(out, ",\"permission\":");
    gw_buf_json_str(out, gw_perm_name(u->permission));
    gw_buf_puts(out, ",\"groups\":[],\"preferences\":{}}");
}

void gw_session_set_user(gw_ctx_t *ctx, gw_session_t *s, const gw_user_t *user, int64_t expires_ms)
{
    s->user = user;
    s->expires_ms = expires_ms;
    s->by_token = false;
    memset(&s->token, 0, sizeof(s->token));
    s->users_gen = ctx->users ? gw_users_generation(ctx->users) : 0;
    if (user && !s->subscribed) {
        s->subscribed = true;
        ctx->ws_signed_in++;
        if (ctx->notify)
            gw_notify_subscribers_add(ctx->notify, 1);
    } else if (!user && s->subscribed) {
        s->subscribed = false;
        ctx->ws_signed_in--;
        if (ctx->notify)
            gw_notify_subscribers_add(ctx->notify, -1);
    }
}

/* Why a signed-in session must end now, or NULL. */
static const char *session_end_reason(gw_ctx_t *ctx, gw_session_t *s)
{
    if (ctx->users) { /* the users file may have changed: look the user up only then */
        gw_users_refresh(ctx->users);
        if (s->users_gen != gw_users_generation(ctx->users)) {
            s->users_gen = gw_users_generation(ctx->users);
            if (gw_users_by_id(ctx->users, s->user->id) != s->user)
                return "user_removed";
        }
    }
    if (s->by_token && !gw_tokens_check(ctx->users, &s->token, xo_now_ms()))
        return "token_gone"; /* expired, deleted, or signed out elsewhere */
    if (s->expires_ms && s->expires_ms <= xo_now_ms())
        return "expired";
    return NULL;
}

bool gw_session_active(gw_ctx_t *ctx, gw_session_t *s)
{
    const char *why;

    if (!s->user)
        return false;
    why = session_end_reason(ctx, s);
    if (!why)
        return true;
    xo_info("api", "event=session_ended reason=%s user=\"%s\" addr=%s", why, s->user->email,
            s->addr);
    gw_session_set_user(ctx, s, NULL, 0);
    return false;
}

bool gw_rpc_handle(gw_ctx_t *ctx, gw_session_t *s, const char *msg, size_t len, gw_buf_t *reply)
{
    json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
    json_object *req = NULL, *v, *params = NULL, *empty = NULL;
    enum json_tokener_error jerr;
    const char *id_json = "null", *method;
    const gw_rpc_method_t *m;
    gw_rpc_err_t err;
    gw_buf_t result;
    bool is_notification = false, ok = false;
    char idbuf[256];
    int rc;

    memset(&err, 0, sizeof(err));
    gw_buf_init(&err.data);
    gw_buf_init(&result);
    if (!tok) {
        gw_rpc_fail(&err, GW_ERR_UNKNOWN, "out of memory", NULL);
        gw_rpc_write_error(reply, NULL, &err);
        goto out;
    }
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
        gw_rpc_fail(&err, GW_ERR_INVALID_JSON, "invalid JSON", NULL);
        gw_rpc_write_error(reply, NULL, &err);
        goto out;
    }
    if (!json_object_is_type(req, json_type_object)) {
        gw_rpc_fail(&err, GW_ERR_INVALID_REQUEST,
                    json_object_is_type(req, json_type_array) ? "batch requests are not supported"
                                                              : "invalid JSON-RPC request",
                    NULL);
        gw_rpc_write_error(reply, NULL, &err);
        goto out;
    }
    /* id: number, string or null; absent means a notification (JSON-RPC 2.0) */
    is_notification = !json_object_object_get_ex(req, "id", &v);
    if (!is_notification) {
        if (v && !json_object_is_type(v, json_type_int) &&
            !json_object_is_type(v, json_type_string) &&
            !json_object_is_type(v, json_type_double)) {
            gw_rpc_fail(&err, GW_ERR_INVALID_REQUEST, "invalid identifier", NULL);
            gw_rpc_write_error(reply, NULL, &err);
            goto out;
        }
        if (v) {
            const char *s2 = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
            if (strlen(s2) >= sizeof(idbuf)) {
                gw_rpc_fail(&err, GW_ERR_INVALID_REQUEST, "identifier too long", NULL);
                gw_rpc_write_error(reply, NULL, &err);
                goto out;
            }
            snprintf(idbuf, sizeof(idbuf), "%s", s2);
            id_json = idbuf;
        }
    }
    if (json_object_object_get_ex(req, "jsonrpc", &v) &&
        (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "2.0"))) {
        gw_rpc_fail(&err, GW_ERR_INVALID_REQUEST, "invalid version", NULL);
        goto fail;
    }
    if (!json_object_object_get_ex(req, "method", &v) ||
        !json_object_is_type(v, json_type_string)) {
        /* a response or error from the client: json-rpc-peer ignores unknown ids */
        if (json_object_object_get_ex(req, "result", NULL) ||
            json_object_object_get_ex(req, "error", NULL))
            goto out;
        gw_rpc_fail(&err, GW_ERR_INVALID_REQUEST, "invalid JSON-RPC request", NULL);
        goto fail;
    }
    method = json_object_get_string(v);
    ok = true;
    m = gw_rpc_find(method);
    if (!m) {
        gw_buf_t data;
        char text[200];
        gw_buf_init(&data);
        gw_buf_json_str(&data, method);
        snprintf(text, sizeof(text), "method not found: %.150s", method);
        gw_rpc_fail(&err, GW_ERR_METHOD_NOT_FOUND, text, data.data);
        gw_buf_fini(&data);
        goto fail;
    }
    if (json_object_object_get_ex(req, "params", &params) && params &&
        !json_object_is_type(params, json_type_object)) {
        /* xo-server methods take named parameters only */
        if (!(json_object_is_type(params, json_type_array) &&
              json_object_array_length(params) == 0)) {
            gw_rpc_fail(&err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                        "{\"errors\":[{\"message\":\"params must be an object\"}]}");
            goto fail;
        }
        params = NULL;
    }
    if (!params)
        params = empty = json_object_new_object();
    /* a token sign-in ends with its token; a removed user's sessions end at once */
    (void)gw_session_active(ctx, s);
    if (m->perm != GW_CALL_ANYONE && !s->user) {
        gw_rpc_fail(&err, GW_ERR_UNAUTHORIZED, "not enough permissions",
                    m->perm == GW_CALL_ADMIN ? "{\"permission\":\"admin\"}"
                                             : "{\"permission\":\"view\"}");
        goto fail;
    }
    if (m->perm == GW_CALL_ADMIN && s->user->permission != GW_PERM_ADMIN) {
        gw_rpc_fail(&err, GW_ERR_UNAUTHORIZED, "not enough permissions",
                    "{\"permission\":\"admin\"}");
        goto fail;
    }
    s->req_id = is_notification ? NULL : id_json;
    rc = m->fn(ctx, s, params, &result, &err);
    s->req_id = NULL;
    if (rc == GW_RPC_DEFERRED) {
        if (ctx->metrics)
            gw_metrics_count_rpc(ctx->metrics, 0);
        goto out; /* the reply comes when the command completes */
    }
    if (rc != 0)
        goto fail;
    if (result.failed) {
        gw_rpc_fail(&err, GW_ERR_UNKNOWN, "result too large for memory", NULL);
        goto fail;
    }
    if (!is_notification) {
        gw_buf_puts(reply, "{\"jsonrpc\":\"2.0\",\"id\":");
        gw_buf_puts(reply, id_json);
        gw_buf_puts(reply, ",\"result\":");
        if (result.len)
            gw_buf_append(reply, result.data, result.len);
        else
            gw_buf_puts(reply, "null");
        gw_buf_putc(reply, '}');
    }
    if (ctx->metrics)
        gw_metrics_count_rpc(ctx->metrics, 0);
    goto out;
fail:
    if (ctx->metrics)
        gw_metrics_count_rpc(ctx->metrics, 1);
    if (!is_notification)
        gw_rpc_write_error(reply, id_json, &err);
out:
    json_object_put(empty);
    json_object_put(req);
    if (tok)
        json_tokener_free(tok);
    gw_buf_fini(&result);
    gw_buf_fini(&err.data);
    return ok;
}
