/*
 * rest.c - HTTP routes (see rest.h): parse the request target into a route and its query,
 * authenticate, check that the route is served for the method (rest_spec.c), and hand
 * the request to its module (rest_objects.c, rest_actions.c, rest_tasks.c); /healthz
 * (health.c), /metrics (metrics_page.c) and /rest/v0/ping are answered here. Parsers take
 * untrusted bytes and must stay bounded and allocation-light; nothing here waits on Kafka.
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
#include "api/rest_int.h"
#include "view/xo_types.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define REST_BASE GW_REST_BASE

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

/* The path below /rest/v0 into route, collection, id and the rest (see rest.h). */
static void route_of(const char *rest, gw_rest_query_t *q)
{
    char coll[64], id[GW_ID_MAX];
    const char *slash, *sub, *dot;
    size_t n;

    if (!*rest || !strcmp(rest, "/")) {
        q->route = GW_ROUTE_REST_ROOT;
        return;
    }
    if (*rest++ != '/')
        return;
    if (!strcmp(rest, "ping")) {
        q->route = GW_ROUTE_PING;
        return;
    }
    if (!strcmp(rest, "docs/swagger.json")) {
        q->route = GW_ROUTE_SWAGGER;
        return;
    }
    slash = strchr(rest, '/');
    n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n >= sizeof(coll))
        return;
    snprintf(coll, sizeof(coll), "%.*s", (int)n, rest);
    q->type = gw_type_from_collection(coll); /* the table of XO types (view/xo_types.h) */
    if (q->type == GW_T_NONE)
        return;
    q->collection = gw_xo_type(q->type)->collection;
    if (!slash) {
        q->route = GW_ROUTE_COLLECTION;
        return;
    }
    /* an empty id ("/vms/", or "/vms/%00" cut at its NUL): not found */
    sub = strchr(slash + 1, '/');
    n = sub ? (size_t)(sub - slash - 1) : strlen(slash + 1);
    if (n == 0 || n >= sizeof(id))
        return;
    snprintf(id, sizeof(id), "%.*s", (int)n, slash + 1);
    snprintf(q->id, sizeof(q->id), "%s", id);
    if (!sub) {
        /* <id>.<format>: an export route (XO ids hold no dot) */
        dot = strrchr(id, '.');
        if (dot && dot > id && dot[1] && strlen(dot + 1) < sizeof(q->format)) {
            q->id[dot - id] = '\0';
            snprintf(q->format, sizeof(q->format), "%s", dot + 1);
            q->route = GW_ROUTE_FORMAT;
            return;
        }
        q->route = GW_ROUTE_OBJECT;
        return;
    }
    sub++;
    if (!strncmp(sub, "actions/", 8) && sub[8] && !strchr(sub + 8, '/') &&
        strlen(sub + 8) < sizeof(q->action)) {
        snprintf(q->action, sizeof(q->action), "%s", sub + 8);
        q->route = GW_ROUTE_ACTION;
    } else if (!strncmp(sub, "tags/", 5) && sub[5] && !strchr(sub + 5, '/') &&
               strlen(sub + 5) < sizeof(q->tag)) {
        snprintf(q->tag, sizeof(q->tag), "%s", sub + 5);
        q->route = GW_ROUTE_TAG;
    } else if (*sub && !strchr(sub, '/') && strlen(sub) < sizeof(q->sub)) {
        snprintf(q->sub, sizeof(q->sub), "%s", sub);
        q->route = GW_ROUTE_SUB;
    }
}

static xo_err_t parse_fields(const char *v, gw_rest_query_t *q, char *errstr, size_t errstr_size)
{
    const char *p = v;

    q->has_fields = true;
    if (!strcmp(v, "*")) {
        q->all_fields = true;
        return XO_OK;
    }
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
    return XO_OK;
}

/* A boolean query argument: present and neither "false" nor "0" (XO: "true"). */
static bool flag(const gw_http_req_t *req, const char *name)
{
    bool present;
    const char *v = gw_rest_arg(req, name, &present);
    return present && strcmp(v, "false") != 0 && strcmp(v, "0") != 0;
}

xo_err_t gw_rest_parse(const gw_http_req_t *req, gw_rest_query_t *q, char *errstr,
                       size_t errstr_size)
{
    const char *path = req->path, *v;
    bool present;
    xo_err_t err;

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
    route_of(path + strlen(REST_BASE), q);
    if (q->route == GW_ROUTE_NOT_FOUND)
        return XO_OK;
    v = gw_rest_arg(req, "fields", &present);
    if (present && (err = parse_fields(v, q, errstr, errstr_size)) != XO_OK)
        return err;
    v = gw_rest_arg(req, "limit", &present);
    if (present) {
        char *end;
        long long l = strtoll(v, &end, 10);
        if (!*v || *end || l < 0)
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                             "limit: expected a non-negative integer");
        q->limit = l;
    }
    q->filter = gw_rest_arg(req, "filter", NULL);
    q->ndjson = flag(req, "ndjson");
    q->markdown = flag(req, "markdown");
    q->sync = flag(req, "sync");
    q->wait = flag(req, "wait");
    q->watch = flag(req, "watch");
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

static void root(gw_http_resp_t *r)
{
    gw_rest_json(r, 200);
    gw_buf_putc(&r->body, '[');
    for (int t = 1; t < GW_T_COUNT; t++)
        gw_buf_printf(&r->body, "%s\"" REST_BASE "/%s\"", t > 1 ? "," : "",
                      gw_xo_type((gw_type_t)t)->collection);
    gw_buf_puts(&r->body, "]\n");
}

static void ping(gw_http_resp_t *r)
{
    gw_rest_json(r, 200);
    gw_buf_printf(&r->body, "{\"result\":\"pong\",\"timestamp\":%lld}\n", (long long)xo_now_ms());
}

/* A served route of the REST API, for an authenticated user. */
static void serve(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                  const gw_user_t *user, gw_http_resp_t *r)
{
    bool tasks = q->type == GW_T_TASK, del = req->method == GW_HTTP_DELETE;

    switch (q->route) {
    case GW_ROUTE_REST_ROOT:
        root(r);
        break;
    case GW_ROUTE_SWAGGER:
        gw_rest_swagger(r);
        break;
    case GW_ROUTE_COLLECTION:
        if (tasks)
            del ? gw_rest_task_delete(ctx, q, r) : gw_rest_tasks(ctx, q, user, r);
        else
            gw_rest_collection(ctx, q, r);
        break;
    case GW_ROUTE_OBJECT:
        if (tasks)
            del ? gw_rest_task_delete(ctx, q, r) : gw_rest_task(ctx, q, r);
        else if (del)
            gw_rest_delete(ctx, req, q, user, r);
        else if (req->method == GW_HTTP_PATCH)
            gw_rest_patch(ctx, req, q, user, r);
        else
            gw_rest_object(ctx, q, r);
        break;
    case GW_ROUTE_FORMAT:
        gw_rest_format(ctx, q, user, r);
        break;
    case GW_ROUTE_SUB:
        if (!strcmp(q->sub, "tasks"))
            gw_rest_tasks_of(ctx, q, r);
        else if (!strcmp(q->sub, "missing_patches"))
            gw_rest_missing_patches(ctx, req, q, user, r);
        else
            gw_rest_sub(ctx, q, r);
        break;
    case GW_ROUTE_TAG:
        gw_rest_tag(ctx, req, q, user, r);
        break;
    case GW_ROUTE_ACTION:
        gw_rest_action(ctx, req, q, user, r);
        break;
    default:
        gw_rest_error(r, 404, "not found", NULL);
        break;
    }
}

void gw_http_route(gw_ctx_t *ctx, const gw_http_req_t *req, gw_http_resp_t *resp)
{
    gw_rest_query_t q;
    char errstr[160] = "";
    const gw_user_t *user;
    int status;

    resp->www_authenticate[0] = '\0';
    resp->location[0] = '\0';
    resp->wait_task[0] = '\0';
    resp->deferred = false;
    resp->watch = NULL;
    if (req->args_dropped) { /* never answer as if a filter or limit had not been asked */
        snprintf(errstr, sizeof(errstr), "query arguments: at most %d, of %d bytes each",
                 GW_HTTP_MAX_ARGS, GW_HTTP_MAX_VALUE - 1);
        gw_rest_error(resp, 400, errstr, NULL);
        goto out;
    }
    if (gw_rest_parse(req, &q, errstr, sizeof(errstr)) != XO_OK) {
        gw_rest_error(resp, 400, errstr, NULL);
        goto out;
    }
    status = gw_rest_allowed(&q, req->method);
    if (status) { /* whatever the method: an unknown route is 404 */
        gw_rest_error(resp, status, status == 404 ? "not found" : "method not allowed", NULL);
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
    case GW_ROUTE_PING: /* no authentication, as XO's */
        ping(resp);
        goto out;
    default:
        break;
    }
    user = authenticate(ctx, req, &status);
    if (!user) {
        gw_rest_error(resp, status,
                      status == 400   ? "use either a cookie or an Authorization header"
                      : status == 429 ? "too fast authentication tries"
                                      : "authentication required",
                      NULL);
        if (status == 401)
            snprintf(resp->www_authenticate, sizeof(resp->www_authenticate),
                     "Basic realm=\"xo-gateway\"");
        goto out;
    }
    serve(ctx, req, &q, user, resp);
out:
    if (ctx->metrics)
        gw_metrics_count_http(ctx->metrics, resp->status);
}
