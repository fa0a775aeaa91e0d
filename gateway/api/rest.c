/*
 * rest.c - HTTP routes: /rest/v0 (objects, VM actions, command tasks), /healthz, /metrics
 * (see rest.h). Parsers here take untrusted bytes and must stay bounded and
 * allocation-light; the route handlers read the view under its read lock and hand actions
 * to commands.c (which only queues), never waiting on Kafka.
 */
#include "api/rest.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rpc.h"
#include "api/health.h"
#include "api/metrics_page.h"
#include "bus/commands.h"
#include "view/xo_types.h"
#include "xo_envelope.h"
#include "xo_log.h"
#include "xo_ops.h"

#define REST_BASE "/rest/v0"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode n bytes of s into out (size out_size). */
static xo_err_t decode(const char *s, size_t n, bool plus_space, char *out, size_t out_size)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (w + 1 >= out_size)
            return XO_ERR_LIMIT;
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return XO_ERR_PARSE;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return XO_ERR_PARSE;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return XO_ERR_PARSE;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        out[w++] = c;
    }
    out[w] = '\0';
    return XO_OK;
}

xo_err_t gw_http_parse_target(const char *target, gw_http_req_t *req, char *errstr,
                              size_t errstr_size)
{
    const char *q = strchr(target, '?'), *p;
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    xo_err_t err;

    req->nargs = 0;
    err = decode(target, plen, false, req->path, sizeof(req->path));
    if (err != XO_OK)
        return xo_seterr(errstr, errstr_size, err, "bad path");
    if (!q)
        return XO_OK;
    p = q + 1;
    while (*p) {
        const char *amp = strchr(p, '&'), *eq;
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        gw_kv_t *kv;
        if (n > 0) {
            if (req->nargs == GW_HTTP_MAX_ARGS)
                return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "more than %d arguments",
                                 GW_HTTP_MAX_ARGS);
            kv = &req->args[req->nargs];
            eq = memchr(p, '=', n);
            err = decode(p, eq ? (size_t)(eq - p) : n, true, kv->name, sizeof(kv->name));
            if (err == XO_OK) {
                if (eq)
                    err = decode(eq + 1, n - (size_t)(eq + 1 - p), true, kv->value,
                                 sizeof(kv->value));
                else
                    kv->value[0] = '\0';
            }
            if (err != XO_OK)
                return xo_seterr(errstr, errstr_size, err, "bad query argument");
            req->nargs++;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return XO_OK;
}

/* Text a path or query argument may hold: well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF) without C0 controls or DEL. What fails is refused with
 * a fixed message, so that no error body ever echoes bytes that are not JSON text. */
static bool text_ok(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s) {
        size_t len;
        uint32_t c;
        if (*s < 0x20 || *s == 0x7f)
            return false;
        if (*s < 0x80) {
            s++;
            continue;
        }
        if (*s >= 0xC2 && *s <= 0xDF)
            len = 2, c = *s & 0x1F;
        else if (*s >= 0xE0 && *s <= 0xEF)
            len = 3, c = *s & 0x0F;
        else if (*s >= 0xF0 && *s <= 0xF4)
            len = 4, c = *s & 0x07;
        else
            return false;
        for (size_t i = 1; i < len; i++) { /* a NUL ends the string: never a continuation */
            if ((s[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (s[i] & 0x3F);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
            (c >= 0xD800 && c <= 0xDFFF))
            return false;
        s += len;
    }
    return true;
}

static const char *arg(const gw_http_req_t *req, const char *name, bool *present)
{
    for (int i = 0; i < req->nargs; i++)
        if (!strcmp(req->args[i].name, name)) {
            if (present)
                *present = true;
            return req->args[i].value;
        }
    if (present)
        *present = false;
    return NULL;
}

xo_err_t gw_rest_parse(const gw_http_req_t *req, gw_rest_query_t *q, char *errstr,
                       size_t errstr_size)
{
    const char *path = req->path, *rest, *v;
    char coll[64];
    const char *slash;
    bool present;

    memset(q, 0, sizeof(*q));
    q->limit = -1;
    if (!text_ok(path))
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                         "invalid path: control bytes or invalid UTF-8");
    for (int i = 0; i < req->nargs; i++)
        if (!text_ok(req->args[i].name) || !text_ok(req->args[i].value))
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                             "invalid query argument: control bytes or invalid UTF-8");
    if (!strcmp(path, "/healthz")) {
        q->route = GW_ROUTE_HEALTHZ;
        return XO_OK;
    }
    if (!strcmp(path, "/metrics")) {
        q->route = GW_ROUTE_METRICS;
        return XO_OK;
    }
    if (strncmp(path, REST_BASE, strlen(REST_BASE)) != 0)
        return XO_OK;
    rest = path + strlen(REST_BASE);
    if (!*rest || !strcmp(rest, "/")) {
        q->route = GW_ROUTE_REST_ROOT;
        return XO_OK;
    }
    if (*rest != '/')
        return XO_OK;
    rest++;
    slash = strchr(rest, '/');
    if ((slash ? (size_t)(slash - rest) : strlen(rest)) >= sizeof(coll))
        return XO_OK;
    snprintf(coll, sizeof(coll), "%.*s", (int)(slash ? (size_t)(slash - rest) : strlen(rest)),
             rest);
    q->type = gw_type_from_collection(coll); /* the table of XO types (view/xo_types.h) */
    if (q->type == GW_T_NONE)
        return XO_OK;
    q->collection = gw_xo_type(q->type)->collection;
    if (slash && (!slash[1] || slash[1] == '/'))
        return XO_OK; /* an empty id ("/vms/", or "/vms/%00" cut at its NUL): not found */
    if (slash) {
        const char *sub = strchr(slash + 1, '/');
        if (sub && q->type == GW_T_VM && !strncmp(sub, "/actions/", 9) && sub[9] &&
            !strchr(sub + 9, '/') && (size_t)(sub - slash - 1) < sizeof(q->id) &&
            strlen(sub + 9) < sizeof(q->action)) {
            snprintf(q->id, sizeof(q->id), "%.*s", (int)(sub - slash - 1), slash + 1);
            snprintf(q->action, sizeof(q->action), "%s", sub + 9);
            q->route = GW_ROUTE_REST_ACTION;
            return XO_OK;
        }
        if (sub || strlen(slash + 1) >= sizeof(q->id))
            return XO_OK; /* sub-resources (/vms/<id>/vdis, ...) are not served */
        snprintf(q->id, sizeof(q->id), "%s", slash + 1);
        q->route = GW_ROUTE_REST_OBJECT;
        return XO_OK;
    }
    q->route = GW_ROUTE_REST_COLLECTION;
    v = arg(req, "fields", &present);
    if (present) {
        q->has_fields = true;
        if (!strcmp(v, "*")) {
            q->all_fields = true;
        } else {
            const char *p = v;
            while (*p) {
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);
                if (n > 0) {
                    if (q->nfields == 32 || n >= sizeof(q->fields[0]))
                        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT,
                                         "fields: at most 32 names of 63 bytes");
                    snprintf(q->fields[q->nfields++], sizeof(q->fields[0]), "%.*s", (int)n, p);
                }
                p += n;
                if (*p == ',')
                    p++;
            }
            if (q->nfields == 0)
                return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "fields: empty list");
        }
    }
    v = arg(req, "limit", &present);
    if (present) {
        char *end;
        long long l = strtoll(v, &end, 10);
        if (!*v || *end || l < 0)
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                             "limit: expected a non-negative integer");
        q->limit = l;
    }
    v = arg(req, "filter", &present);
    if (present)
        q->filter = v;
    v = arg(req, "ndjson", &present);
    if (present)
        q->ndjson = strcmp(v, "false") != 0 && strcmp(v, "0") != 0;
    return XO_OK;
}

/* ---- authentication ---- */

static bool cookie_value(const char *cookies, const char *name, char *out, size_t out_size)
{
    size_t nlen = strlen(name);
    const char *p = cookies;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        if (!strncmp(p, name, nlen) && p[nlen] == '=') {
            const char *v = p + nlen + 1, *end = strchr(v, ';');
            size_t n = end ? (size_t)(end - v) : strlen(v);
            if (n >= out_size)
                return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

static const gw_user_t *authenticate(gw_ctx_t *ctx, const gw_http_req_t *req, int *status)
{
    char tok[128];
    const char *a = req->authorization;
    bool has_cookie = cookie_value(req->cookie, "authenticationToken", tok, sizeof(tok)) ||
                      cookie_value(req->cookie, "token", tok, sizeof(tok));

    *status = 401;
    if (has_cookie && *a) {
        *status = 400; /* as xo-server: cookie and Authorization together are refused */
        return NULL;
    }
    if (has_cookie)
        return gw_tokens_lookup(ctx->users, tok, xo_now_ms(), NULL);
    if (!strncasecmp(a, "Bearer ", 7)) {
        const char *t = a + 7;
        while (*t == ' ')
            t++;
        return gw_tokens_lookup(ctx->users, t, xo_now_ms(), NULL);
    }
    if (!strncasecmp(a, "Basic ", 6)) {
        unsigned char dec[768];
        const char *b = a + 6;
        size_t n;
        int len;
        char *colon;
        const gw_user_t *user = NULL;
        while (*b == ' ')
            b++;
        n = strlen(b);
        if (n == 0 || n % 4 || n / 4 * 3 >= sizeof(dec))
            return NULL;
        len = EVP_DecodeBlock(dec, (const unsigned char *)b, (int)n);
        if (len <= 0)
            return NULL;
        len -= (b[n - 1] == '=') + (b[n - 2] == '=');
        dec[len] = '\0';
        colon = strchr((char *)dec, ':');
        if (!colon)
            return NULL;
        *colon = '\0';
        if (gw_users_authenticate(ctx->users, (char *)dec, colon + 1, req->addr, gw_mono_ms(),
                                  &user) == GW_AUTH_THROTTLED)
            *status = 429;
        memset(dec, 0, sizeof(dec));
        return user;
    }
    return NULL;
}

/* ---- handlers ---- */

static void text(gw_http_resp_t *r, int status, const char *msg)
{
    r->status = status;
    r->content_type = "application/json";
    gw_buf_reset(&r->body);
    gw_buf_puts(&r->body, "{\"error\":");
    gw_buf_json_str(&r->body, msg);
    gw_buf_puts(&r->body, "}\n");
}

typedef struct {
    gw_http_resp_t *r;
    const gw_rest_query_t *q;
    gw_filter_t *filter;
    int64_t n;
    size_t max_bytes;
    bool too_big;
} list_t;

static void write_href(gw_buf_t *b, const char *coll, const char *id)
{
    gw_buf_putc(b, '"');
    gw_buf_puts(b, REST_BASE "/");
    gw_buf_puts(b, coll);
    gw_buf_putc(b, '/');
    /* ids are uuids or OpaqueRefs: nothing to escape but keep JSON valid */
    {
        gw_buf_t tmp;
        gw_buf_init(&tmp);
        gw_buf_json_str(&tmp, id);
        if (tmp.len >= 2)
            gw_buf_append(b, tmp.data + 1, tmp.len - 2);
        gw_buf_fini(&tmp);
    }
    gw_buf_putc(b, '"');
}

static bool list_one(void *opaque, const gw_obj_info_t *o)
{
    list_t *l = opaque;
    gw_buf_t *b = &l->r->body;
    json_object *obj = NULL;

    if (l->q->limit >= 0 && l->n >= l->q->limit)
        return false;
    if (b->len > l->max_bytes) {
        l->too_big = true;
        return false;
    }
    if (l->filter) {
        json_tokener *tok = json_tokener_new();
        obj = tok ? json_tokener_parse_ex(tok, o->json, (int)o->json_len) : NULL;
        if (tok)
            json_tokener_free(tok);
        if (!obj || !gw_filter_match(l->filter, obj)) {
            json_object_put(obj);
            return true;
        }
    }
    if (l->n++ && !l->q->ndjson)
        gw_buf_putc(b, ',');
    if (!l->q->has_fields) {
        write_href(b, l->q->collection, o->id);
    } else if (l->q->all_fields) {
        /* the object with its href appended */
        gw_buf_append(b, o->json, o->json_len - 1);
        gw_buf_puts(b, ",\"href\":");
        write_href(b, l->q->collection, o->id);
        gw_buf_putc(b, '}');
    } else {
        gw_jw_t w;
        if (!obj) {
            json_tokener *tok = json_tokener_new();
            obj = tok ? json_tokener_parse_ex(tok, o->json, (int)o->json_len) : NULL;
            if (tok)
                json_tokener_free(tok);
        }
        gw_jw_init(&w, b);
        gw_jw_obj_begin(&w);
        for (int i = 0; obj && i < l->q->nfields; i++) {
            json_object *v;
            if (json_object_object_get_ex(obj, l->q->fields[i], &v)) {
                const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
                gw_jw_key(&w, l->q->fields[i]);
                gw_jw_raw(&w, s, strlen(s));
            }
        }
        gw_jw_key(&w, "href");
        gw_jw_raw(&w, "", 0);
        write_href(b, l->q->collection, o->id);
        gw_jw_obj_end(&w);
    }
    if (l->q->ndjson)
        gw_buf_putc(b, '\n');
    json_object_put(obj);
    return true;
}

static void collection(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    list_t l = {r, q, NULL, 0, ctx->limits.max_http_body, false};
    char errstr[160];

    if (q->filter && gw_filter_parse(q->filter, &l.filter, errstr, sizeof(errstr)) != XO_OK) {
        text(r, 400, errstr);
        return;
    }
    r->status = 200;
    r->content_type = q->ndjson ? "application/x-ndjson" : "application/json";
    if (!q->ndjson)
        gw_buf_putc(&r->body, '[');
    gw_view_rdlock(ctx->view);
    gw_view_foreach(ctx->view, q->type, NULL, list_one, &l);
    gw_view_unlock(ctx->view);
    if (!q->ndjson)
        gw_buf_puts(&r->body, "]\n");
    gw_filter_free(l.filter);
    if (l.too_big)
        text(r, 413, "response too large: use limit or filter");
}

static void object(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_obj_info_t o;
    bool found;

    if (q->type == GW_T_TASK && gw_commands_task_json(ctx->commands, q->id, &r->body)) {
        gw_buf_putc(&r->body, '\n'); /* a command's task (GW_CMD_MAX_TASKS remembered) */
        r->status = 200;
        r->content_type = "application/json";
        return;
    }
    gw_view_rdlock(ctx->view);
    found = gw_view_get(ctx->view, q->id, &o) && o.json && o.type == q->type;
    if (found) {
        gw_buf_append(&r->body, o.json, o.json_len);
        gw_buf_putc(&r->body, '\n');
    }
    gw_view_unlock(ctx->view);
    if (!found) {
        char msg[GW_ID_MAX + 64];
        snprintf(msg, sizeof(msg), "no such %s %s", gw_type_name(q->type), q->id);
        text(r, 404, msg);
        return;
    }
    r->status = 200;
    r->content_type = "application/json";
}

/* ---- VM actions ---- */

/* The actions are those of the op table's rows (xo_ops.h): xo_op_find_rest(). */

void gw_rest_reply(gw_http_resp_t *r, const char *result_json, const gw_xo_err_t *err)
{
    r->content_type = "application/json";
    gw_buf_reset(&r->body);
    if (!err) {
        r->status = 200;
        gw_buf_puts(&r->body, result_json ? result_json : "true");
        gw_buf_putc(&r->body, '\n');
        return;
    }
    switch (err->code) {
    case GW_ERR_NO_SUCH_OBJECT:
        r->status = 404;
        break;
    case GW_ERR_UNAUTHORIZED:
        r->status = 403;
        break;
    case GW_ERR_INVALID_PARAMS:
        r->status = 400;
        break;
    case GW_ERR_NOT_IMPLEMENTED:
        r->status = 501;
        break;
    default:
        r->status = err->data.data && strstr(err->data.data, "\"COMMAND_TIMEOUT\"") ? 504 : 500;
    }
    gw_xo_err_write(&r->body, err);
    gw_buf_putc(&r->body, '\n');
}

/* A body member's check failed: xo-server's invalidParameters with ajv's error object. */
static int body_invalid(gw_xo_err_t *err, const char *member, const char *msg)
{
    gw_buf_t d;

    gw_buf_init(&d);
    gw_buf_puts(&d, "{\"errors\":[{\"instancePath\":\"/");
    gw_buf_puts(&d, member);
    gw_buf_printf(&d, "\",\"message\":\"%s\"}]}", msg);
    gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters", d.data);
    gw_buf_fini(&d);
    return -1;
}

/* The action's args: the boolean it sets (hard_*: force) and the member of the request
 * body it reads, if any (snapshot: {name_label?} -> name), typed as the op's argument. */
static int action_args(const gw_http_req_t *req, const xo_op_t *op, const xo_op_rest_t *ra,
                       json_object *args, gw_xo_err_t *err)
{
    const xo_op_param_t *p = ra->body ? xo_op_param(op, ra->body_arg) : NULL;
    json_object *body = NULL, *v;
    bool string;
    int rc = 0;

    if (ra->set_true)
        json_object_object_add(args, ra->set_true, json_object_new_boolean(true));
    if (!req->body || !req->body_len || !p)
        return 0;
    string = p->type == XO_ARG_STRING;
    body = req->body_len < INT32_MAX ? json_tokener_parse(req->body) : NULL;
    if (!body || !json_object_is_type(body, json_type_object)) {
        rc = gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                        "{\"errors\":[{\"message\":\"the body must be a JSON object\"}]}");
    } else if (json_object_object_get_ex(body, ra->body, &v)) {
        if (!json_object_is_type(v, string ? json_type_string : json_type_boolean) ||
            (string && !*json_object_get_string(v)))
            rc = body_invalid(err, ra->body,
                              string ? "must be a non-empty string" : "must be a boolean");
        else
            json_object_object_add(args, ra->body_arg, json_object_get(v));
    }
    json_object_put(body);
    return rc;
}

static void action(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                   const gw_user_t *user, gw_http_resp_t *r)
{
    static const gw_type_t vm_only[] = {GW_T_VM, GW_T_NONE};
    const char *sync = arg(req, "sync", NULL);
    json_object *args = json_object_new_object();
    gw_cmd_waiter_t w;
    gw_xo_err_t err;
    char cid[GW_CMD_ID_LEN + 1];
    const xo_op_rest_t *ra = NULL;
    const xo_op_t *op = xo_op_find_rest(q->action, &ra);

    gw_xo_err_init(&err);
    if (!op) {
        text(r, 404, "no such action");
        goto out;
    }
    memset(&w, 0, sizeof(w));
    w.kind = sync && !strcmp(sync, "true") ? GW_CMD_WAIT_HTTP : GW_CMD_WAIT_NONE;
    w.conn = req->conn;
    w.admin = user->permission == GW_PERM_ADMIN;
    /* the permission first (as the JSON-RPC method): a viewer's body is never read */
    if (!args || gw_vm_may_run(ctx, user, op, q->id, vm_only, &err) != 0 ||
        action_args(req, op, ra, args, &err) != 0 ||
        gw_vm_command(ctx, user, op->name, q->id, args, vm_only, &w, cid, &err) != 0) {
        if (!args)
            gw_xo_fail(&err, GW_ERR_UNKNOWN, "out of memory", NULL);
        gw_rest_reply(r, NULL, &err);
        goto out;
    }
    if (w.kind == GW_CMD_WAIT_HTTP) {
        r->deferred = true;
        goto out;
    }
    r->status = 202;
    r->content_type = "application/json";
    snprintf(r->location, sizeof(r->location), REST_BASE "/tasks/%s", cid);
    gw_buf_printf(&r->body, "{\"taskId\":\"%s\"}\n", cid);
out:
    json_object_put(args);
    gw_xo_err_fini(&err);
}

void gw_http_route(gw_ctx_t *ctx, const gw_http_req_t *req, gw_http_resp_t *resp)
{
    gw_rest_query_t q;
    char errstr[160] = "";
    const gw_user_t *user;
    int status;

    resp->www_authenticate[0] = '\0';
    resp->location[0] = '\0';
    resp->deferred = false;
    if (!req->is_get && !req->is_post) {
        text(resp, 405, "method not allowed");
        goto out;
    }
    if (req->args_dropped) { /* never answer as if a filter or limit had not been asked */
        snprintf(errstr, sizeof(errstr), "query arguments: at most %d, of %d bytes each",
                 GW_HTTP_MAX_ARGS, GW_HTTP_MAX_VALUE - 1);
        text(resp, 400, errstr);
        goto out;
    }
    if (gw_rest_parse(req, &q, errstr, sizeof(errstr)) != XO_OK) {
        text(resp, 400, errstr);
        goto out;
    }
    if (q.route == GW_ROUTE_NOT_FOUND) { /* whatever the method: an empty id is no action */
        text(resp, 404, "not found");
        goto out;
    }
    if (req->is_post != (q.route == GW_ROUTE_REST_ACTION)) {
        text(resp, 405,
             req->is_post ? "method not allowed (POST is for VM actions)"
                          : "method not allowed (actions take POST)");
        goto out;
    }
    switch (q.route) {
    case GW_ROUTE_HEALTHZ:
        resp->status = gw_health_page_write(ctx, &resp->body);
        resp->content_type = "application/json";
        goto out;
    case GW_ROUTE_METRICS:
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4";
        gw_metrics_page_write(ctx, &resp->body);
        goto out;
    default:
        break;
    }
    user = authenticate(ctx, req, &status);
    if (!user) {
        text(resp, status,
             status == 400   ? "use either a cookie or an Authorization header"
             : status == 429 ? "too fast authentication tries"
                             : "authentication required");
        if (status == 401)
            snprintf(resp->www_authenticate, sizeof(resp->www_authenticate),
                     "Basic realm=\"xo-gateway\"");
        goto out;
    }
    switch (q.route) {
    case GW_ROUTE_REST_ROOT:
        resp->status = 200;
        resp->content_type = "application/json";
        gw_buf_putc(&resp->body, '[');
        for (int t = 1; t < GW_T_COUNT; t++)
            gw_buf_printf(&resp->body, "%s\"" REST_BASE "/%s\"", t > 1 ? "," : "",
                          gw_xo_type((gw_type_t)t)->collection);
        gw_buf_puts(&resp->body, "]\n");
        break;
    case GW_ROUTE_REST_COLLECTION:
        collection(ctx, &q, resp);
        break;
    case GW_ROUTE_REST_OBJECT:
        object(ctx, &q, resp);
        break;
    case GW_ROUTE_REST_ACTION:
        action(ctx, req, &q, user, resp);
        break;
    default:
        text(resp, 404, "not found");
        break;
    }
out:
    if (ctx->metrics)
        gw_metrics_count_http(ctx->metrics, resp->status);
}
