/*
 * endpoint_static.c - the web UI's files at / (every path no other endpoint mounts):
 * GET and HEAD of the files of http.webui_dir (static_files.c finds it and decides which
 * paths name a file), with their content type, a strict Content-Security-Policy, nosniff,
 * an ETag (If-None-Match answers 304) and a cache policy (no-cache for the app, immutable
 * for the versioned vendor packages). Any other path or method gets the gateway's JSON
 * 404/405, as before this endpoint existed. HTTP only; never reads a body; serves no
 * directory listing and nothing outside its directory.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "transport/endpoint.h"
#include "transport/http_status.h"
#include "transport/static_files.h"
#include "xo_config.h"
#include "xo_log.h"

#define MOD      "webui"
#define PROTOCOL "xo-static"

/* No inline script or style, no eval, nothing from elsewhere: the page talks only to this
 * gateway (its WebSocket API: 'self' covers ws: and wss: of the same host). data: and
 * blob: images: noVNC draws its cursor from a canvas. */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "frame-ancestors 'none'; form-action 'self'"

typedef struct {
    bool enabled;        /* a directory with index.html was found */
    char root[PATH_MAX]; /* its real path */
} static_state_t;

typedef struct {
    int unused; /* lws wants per-connection data; lws_serve_http_file keeps its own */
} static_conn_t;

static void init_state(struct lws *wsi)
{
    static_state_t *st =
        lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi), lws_get_protocol(wsi), sizeof(*st));
    const gw_transport_t *t = gw_transport_of(wsi);
    const char *dir = t && t->ctx->cfg ? xo_config_get(t->ctx->cfg, "http.webui_dir") : NULL;
    char errstr[PATH_MAX * 2 + 128];

    if (!st)
        return;
    if (gw_static_find_root(dir, st->root, sizeof(st->root), errstr, sizeof(errstr)) != XO_OK) {
        xo_warn(MOD, "event=webui_off reason=\"%s\"", errstr);
        return;
    }
    st->enabled = true;
    xo_info(MOD, "event=webui dir=\"%s\"", st->root);
}

/* The headers every file and 304 carry (after the status line). @returns 0, or 1: full. */
static int add_file_headers(struct lws *wsi, const gw_static_file_t *f, unsigned char **p,
                            unsigned char *end)
{
    static const struct {
        const char *name, *value;
    } FIXED[] = {{"content-security-policy:", CSP},
                 {"x-content-type-options:", "nosniff"},
                 {"referrer-policy:", "no-referrer"},
                 {"x-frame-options:", "DENY"}};

    for (size_t i = 0; i < sizeof(FIXED) / sizeof(FIXED[0]); i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)FIXED[i].name,
                                        (const unsigned char *)FIXED[i].value,
                                        (int)strlen(FIXED[i].value), p, end))
            return 1;
    return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                        (const unsigned char *)f->cache_control,
                                        (int)strlen(f->cache_control), p, end) ||
           lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ETAG, (const unsigned char *)f->etag,
                                        (int)strlen(f->etag), p, end);
}

/* The client's copy is current: 304, no body. */
static int not_modified(struct lws *wsi, const gw_static_file_t *f)
{
    unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
                                       *end = buf + sizeof(buf) - 1;

    if (gw_http_add_status(wsi, 304, &p, end) || add_file_headers(wsi, f, &p, end) ||
        lws_add_http_header_content_length(wsi, 0, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int send_file(struct lws *wsi, const gw_static_file_t *f)
{
    unsigned char hdr[1024], *p = hdr, *end = hdr + sizeof(hdr) - 1;
    int n;

    if (add_file_headers(wsi, f, &p, end))
        return -1;
    n = lws_serve_http_file(wsi, f->path, f->content_type, (const char *)hdr, (int)(p - hdr));
    /* <0: failed; >0: sent at once (lws' own convention), the transaction is over */
    return n < 0 || (n > 0 && lws_http_transaction_completed(wsi)) ? -1 : 0;
}

static int answer_status(struct lws *wsi, int status)
{
    bool close = status != HTTP_STATUS_NOT_FOUND; /* 405/414/431: a body may follow, unread */

    if (gw_http_answer(wsi, status, close) || close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int serve(struct lws *wsi)
{
    const gw_transport_t *t = gw_transport_of(wsi);
    static_state_t *st = gw_endpoint_state(wsi, PROTOCOL);
    char *uri = NULL, inm[256];
    int len = 0, method = lws_http_get_uri_and_method(wsi, &uri, &len), size;
    gw_static_file_t f;

    size =
        t ? gw_http_check_size(wsi, t->ctx->limits.max_url_bytes, t->ctx->limits.max_header_bytes)
          : 0;
    if (size)
        return answer_status(wsi, size);
    if (method != LWSHUMETH_GET && method != LWSHUMETH_HEAD)
        return answer_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED);
    if (!st || !st->enabled || !uri || gw_static_resolve(st->root, uri, &f) != XO_OK)
        return answer_status(wsi, HTTP_STATUS_NOT_FOUND);
    if (lws_hdr_copy(wsi, inm, sizeof(inm), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0 &&
        gw_static_etag_matches(inm, f.etag))
        return not_modified(wsi, &f);
    return send_file(wsi, &f);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        init_state(wsi);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return -1; /* HTTP only */
    case LWS_CALLBACK_HTTP:
        return serve(wsi);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* "/" takes every path no other endpoint mounts (the most specific mount wins): the REST
 * endpoint keeps /rest, /healthz and /metrics. */
static const char *const MOUNTS[] = {"/", NULL};

const gw_endpoint_t gw_endpoint_static = {
    .protocol = {.name = PROTOCOL,
                 .callback = callback,
                 .per_session_data_size = sizeof(static_conn_t)},
    .mounts = MOUNTS,
};
