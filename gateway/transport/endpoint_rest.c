/*
 * endpoint_rest.c - the HTTP endpoint of the API: /rest/v0, /healthz and /metrics (and a
 * JSON 404 for any path no other endpoint mounts). Turns one HTTP request (target,
 * arguments, Cookie and Authorization headers, a bounded POST body) into a gw_http_req_t
 * for api/rest.c, and writes the gw_http_resp_t it gets back, in chunks, its status line
 * with its reason phrase. An action with ?sync=true waits, without blocking, for its
 * command's outcome (deliver()). Refuses what it will not read (414, 431, 411) and keeps
 * the deadlines of a request: its body within timeouts.body_s (else 408), its response
 * taken by the client without a pause of timeouts.send_s (else closed at once).
 * Knows HTTP framing only: routes, authentication and bodies are rest.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest.h"
#include "transport/conn_guard.h"
#include "transport/endpoint.h"
#include "transport/http_status.h"
#include "xo_log.h"

#define MOD     "http"
#define CHUNK   (64 * 1024) /* response bytes written per writeable callback */
#define TICK_MS 250         /* how often the requests' deadlines are checked */
/* a request past its body deadline and asked to close is reset this long after */
#define EXPIRE_GRACE_MS 2000

/* One HTTP connection's current request (the protocol's per-connection data). */
typedef struct rest_conn {
    uint64_t conn; /* serial of the current request, named by a ?sync=true waiter */
    /* the response being written */
    gw_buf_t body;
    size_t body_off;
    bool body_started;
    /* a POST whose body is being read */
    char *post_uri;
    gw_buf_t post;
    /* waiting for a command's outcome */
    struct lws *wsi;
    bool waiting;             /* in the waiters list until the answer is ready */
    gw_http_resp_t *deferred; /* the answer, headers not yet sent */
    struct rest_conn *wnext, *wprev;
    /* deadlines (the sweep's list of live requests) */
    bool live;             /* in the live list, from the request to its release */
    bool close_after;      /* the response ends the connection (a body left unread) */
    bool timed_out;        /* its body missed timeouts.body_s: 408 at the next writeable */
    int64_t body_due;      /* monotonic ms by which the body must be in (while reading) */
    int64_t waiting_since; /* monotonic ms of the last bytes the client took (response) */
    struct rest_conn *lnext, *lprev;
} rest_conn_t;

/* The endpoint's per-vhost state. */
typedef struct {
    gw_ctx_t *ctx;
    rest_conn_t *waiters; /* requests waiting for a command's outcome */
    rest_conn_t *live;    /* every request being served: its deadlines */
    struct lws_context *lws;
    lws_sorted_usec_list_t tick; /* checks the deadlines every TICK_MS */
} rest_state_t;

/* ---- the request ---- */

static void read_header(struct lws *wsi, enum lws_token_indexes t, char *out, size_t size)
{
    int n = lws_hdr_total_length(wsi, t);
    out[0] = '\0';
    if (n <= 0 || (size_t)n >= size)
        return;
    if (lws_hdr_copy(wsi, out, (int)size, t) < 0)
        out[0] = '\0';
}

/* The query arguments, as lws decoded them; over-long ones are ignored (limits in rest.h). */
static void read_args(struct lws *wsi, gw_http_req_t *req)
{
    char frag[GW_HTTP_MAX_VALUE + 80];

    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        char *eq;
        if (n < 0) { /* no such fragment, or one too long for frag */
            if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
                req->args_dropped = true;
            break;
        }
        if (req->nargs == GW_HTTP_MAX_ARGS) {
            req->args_dropped = true;
            break;
        }
        eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        if (strlen(frag) >= sizeof(req->args[0].name) ||
            (eq && strlen(eq + 1) >= sizeof(req->args[0].value))) {
            req->args_dropped = true;
            break;
        }
        memcpy(req->args[req->nargs].name, frag, strlen(frag) + 1);
        memcpy(req->args[req->nargs].value, eq ? eq + 1 : "", eq ? strlen(eq + 1) + 1 : 1);
        req->nargs++;
    }
}

static gw_http_req_t *read_request(rest_conn_t *c, struct lws *wsi, const char *uri)
{
    gw_http_req_t *req = calloc(1, sizeof(*req));

    if (!req)
        return NULL;
    req->is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    req->is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    req->body = c->post.len ? c->post.data : NULL;
    req->body_len = c->post.len;
    req->conn = c->conn;
    snprintf(req->path, sizeof(req->path), "%s", uri);
    read_args(wsi, req);
    read_header(wsi, WSI_TOKEN_HTTP_COOKIE, req->cookie, sizeof(req->cookie));
    read_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, req->authorization, sizeof(req->authorization));
    lws_get_peer_simple(wsi, req->addr, sizeof(req->addr));
    return req;
}

/* ---- the response ---- */

static int send_headers(struct lws *wsi, gw_http_resp_t *resp, bool close)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *pos = start,
                                       *end = hdr + sizeof(hdr) - 1;
    const char *type = resp->content_type;

    if (gw_http_add_status(wsi, resp->status, &pos, end) ||
        (type &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)type,
                                      (int)strlen(type), &pos, end)) ||
        lws_add_http_header_content_length(wsi, resp->body.len, &pos, end) ||
        (close && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                               (const unsigned char *)"close", 5, &pos, end)) ||
        (resp->www_authenticate[0] &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                      (unsigned char *)resp->www_authenticate,
                                      (int)strlen(resp->www_authenticate), &pos, end)) ||
        (resp->location[0] &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_LOCATION, (unsigned char *)resp->location,
                                      (int)strlen(resp->location), &pos, end)) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &pos, end) ||
        lws_finalize_write_http_header(wsi, start, &pos, end))
        return -1;
    return 0;
}

/* Send the headers now and the body (taken from @p resp) at the next writeables. */
static int start_response(rest_conn_t *c, struct lws *wsi, gw_http_resp_t *resp)
{
    if (resp->body.failed || send_headers(wsi, resp, c->close_after)) {
        gw_buf_fini(&resp->body);
        return -1;
    }
    c->body = resp->body;
    c->body_off = 0;
    c->body_started = true;
    c->waiting_since = gw_mono_ms(); /* the send deadline runs while the body waits */
    lws_callback_on_writable(wsi);
    return 0;
}

static int write_body(rest_conn_t *c, struct lws *wsi)
{
    size_t left = c->body.len - c->body_off, len = left > CHUNK ? CHUNK : left;
    int flags = len == left ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP;
    unsigned char empty[LWS_PRE + 1], *from;

    from = (unsigned char *)(c->body.data ? c->body.data + c->body_off : NULL);
    if (!from)
        from = empty + LWS_PRE;
    if (lws_write(wsi, from, len, (enum lws_write_protocol)flags) < (int)len)
        return -1;
    c->body_off += len;
    c->waiting_since = gw_mono_ms();
    if (c->body_off < c->body.len) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    gw_buf_fini(&c->body);
    c->body_started = false;
    if (c->close_after)
        return -1; /* lws flushes what it holds, then closes */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_writeable(rest_conn_t *c, struct lws *wsi)
{
    if (c->timed_out) { /* its body came too slowly: 408, and close */
        gw_http_answer(wsi, 408, true);
        return -1;
    }
    if (c->deferred) { /* the command's answer arrived: its headers now, its body next */
        gw_http_resp_t *resp = c->deferred;
        int rc;
        c->deferred = NULL;
        rc = start_response(c, wsi, resp);
        free(resp);
        return rc;
    }
    return c->body_started ? write_body(c, wsi) : 0;
}

/* ---- requests waiting for a command ---- */

static void waiter_add(rest_state_t *st, rest_conn_t *c, struct lws *wsi)
{
    c->wsi = wsi;
    c->waiting = true;
    c->wnext = st->waiters;
    if (st->waiters)
        st->waiters->wprev = c;
    st->waiters = c;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* the command bus times the wait out */
}

static void waiter_unlink(rest_state_t *st, rest_conn_t *c)
{
    if (!c->waiting)
        return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        st->waiters = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    c->waiting = false;
    c->wnext = c->wprev = NULL;
}

static void deliver(void *state, const gw_cmd_reply_t *r)
{
    rest_state_t *st = state;
    rest_conn_t *c = st->waiters;

    while (c && c->conn != r->waiter->conn)
        c = c->wnext;
    if (!c)
        return; /* the client left */
    c->deferred = calloc(1, sizeof(*c->deferred));
    if (!c->deferred)
        return;
    gw_buf_init_pre(&c->deferred->body, LWS_PRE);
    gw_rest_reply(c->deferred, r->ok ? r->result_json : NULL, r->ok ? NULL : r->err);
    waiter_unlink(st, c);
    lws_callback_on_writable(c->wsi);
}

/* ---- one request ---- */

static int serve(rest_state_t *st, rest_conn_t *c, struct lws *wsi, const char *uri)
{
    gw_http_req_t *req;
    gw_http_resp_t resp;

    c->conn = gw_transport_conn(gw_transport_of(wsi));
    req = read_request(c, wsi, uri);
    if (!req)
        return -1;
    memset(&resp, 0, sizeof(resp));
    gw_buf_init_pre(&resp.body, LWS_PRE);
    gw_http_route(st->ctx, req, &resp);
    xo_dbg(XO_DBG_WS, MOD, "event=http path=\"%s\" status=%d bytes=%zu addr=%s deferred=%d",
           req->path, resp.status, resp.body.len, req->addr, resp.deferred ? 1 : 0);
    free(req);
    gw_buf_fini(&c->post);
    if (!resp.deferred)
        return start_response(c, wsi, &resp);
    gw_buf_fini(&resp.body); /* gw_rest_reply fills the answer later, through deliver() */
    waiter_add(st, c, wsi);
    return 0;
}

/* ---- the live requests and their deadlines ---- */

static void live_add(rest_state_t *st, rest_conn_t *c)
{
    c->live = true;
    c->lnext = st->live;
    if (st->live)
        st->live->lprev = c;
    st->live = c;
}

static void live_unlink(rest_state_t *st, rest_conn_t *c)
{
    if (!c->live)
        return;
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        st->live = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    c->live = false;
    c->lnext = c->lprev = NULL;
}

static void count_closed(rest_state_t *st, gw_close_reason_t why)
{
    if (st->ctx->metrics)
        gw_metrics_count_closed(st->ctx->metrics, why);
}

/* The body did not come in time: 408 from its writeable callback (lws re-arms its own
 * per-read timeout at every byte, so a trickle would never end), or reset when that did
 * not happen within EXPIRE_GRACE_MS. */
static void body_late(rest_state_t *st, rest_conn_t *c, int64_t now)
{
    if (c->timed_out) {
        if (now >= c->body_due + EXPIRE_GRACE_MS)
            gw_conn_close_now(c->wsi);
        return;
    }
    xo_info(MOD, "event=http_body_timeout bytes=%zu limit_s=%d", c->post.len,
            st->ctx->timeouts.body_s);
    count_closed(st, GW_CLOSE_BODY);
    c->timed_out = true;
    lws_callback_on_writable(c->wsi);
}

static void sweep(rest_state_t *st, int64_t now)
{
    int64_t send_ms = (int64_t)st->ctx->timeouts.send_s * 1000;

    for (rest_conn_t *c = st->live; c; c = c->lnext) {
        if (c->post_uri && now >= c->body_due) {
            body_late(st, c, now);
        } else if (c->body_started && now - c->waiting_since >= send_ms) {
            xo_warn(MOD, "event=client_dropped reason=stalled bytes_left=%zu",
                    c->body.len - c->body_off);
            count_closed(st, GW_CLOSE_STALLED);
            c->body_started = false; /* closing: nothing more to write */
            gw_buf_fini(&c->body);
            gw_conn_close_now(c->wsi);
        }
    }
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    rest_state_t *st = lws_container_of(sul, rest_state_t, tick);

    sweep(st, gw_mono_ms());
    lws_sul_schedule(st->lws, 0, &st->tick, tick_cb, TICK_MS * LWS_US_PER_MS);
}

/* ---- reading a request ---- */

static bool has_header(struct lws *wsi, enum lws_token_indexes t)
{
    return lws_hdr_total_length(wsi, t) > 0;
}

/* A POST says how long its body is (no chunked bodies: an action's parameters are
 * small), within GW_HTTP_MAX_BODY: 0, or the status that refuses it. With neither
 * Content-Length nor Transfer-Encoding its body is empty (RFC 9112 6.3), as `curl -X POST`
 * sends it; a chunked one gets 411. */
static int post_status(struct lws *wsi)
{
    char cl[24], *end;
    unsigned long long n;

    if (!has_header(wsi, WSI_TOKEN_POST_URI))
        return 0;
    if (!has_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH))
        return has_header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) ? 411 : 0;
    read_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl));
    errno = 0;
    n = strtoull(cl, &end, 10);
    if (cl[0] < '0' || cl[0] > '9' || *end || errno)
        return 400;
    return n > GW_HTTP_MAX_BODY ? 413 : 0;
}

/* Answer now what this endpoint will not read, and close: 0 when the request may go on. */
static int refuse(rest_state_t *st, struct lws *wsi)
{
    const gw_limits_t *l = &st->ctx->limits;
    int status = gw_http_check_size(wsi, l->max_url_bytes, l->max_header_bytes);
    char addr[64];

    if (!status)
        status = post_status(wsi);
    if (!status)
        return 0;
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    xo_dbg(XO_DBG_WS, MOD, "event=http_refused status=%d addr=%s", status, addr);
    count_closed(st, GW_CLOSE_REFUSED);
    gw_http_answer(wsi, status, true);
    return -1;
}

/* A request: served now, or once its POST body is in. */
static int on_request(rest_state_t *st, rest_conn_t *c, struct lws *wsi)
{
    char *uri = NULL, cl[24];
    int len = 0;

    memset(c, 0, sizeof(*c));
    c->wsi = wsi;
    if (refuse(st, wsi))
        return -1;
    live_add(st, c);
    if (lws_http_get_uri_and_method(wsi, &uri, &len) < 0 || !uri)
        uri = "/";
    read_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl));
    if (has_header(wsi, WSI_TOKEN_POST_URI) && cl[0] && strcmp(cl, "0") != 0) {
        c->post_uri = strdup(uri);
        gw_buf_init(&c->post);
        c->body_due = gw_mono_ms() + (int64_t)st->ctx->timeouts.body_s * 1000;
        return c->post_uri ? 0 : -1;
    }
    /* a body this endpoint does not read (PUT, PATCH...): answer, then close */
    c->close_after =
        !has_header(wsi, WSI_TOKEN_POST_URI) && (has_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) ||
                                                 has_header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING));
    return serve(st, c, wsi, uri);
}

static int on_body(rest_conn_t *c, const void *in, size_t len)
{
    if (c->timed_out)
        return -1; /* too late: the 408 is owed, the rest is not read */
    if (!c->post_uri)
        return 0;
    if (c->post.len + len > GW_HTTP_MAX_BODY)
        return -1; /* an action's parameters are small: drop the connection */
    gw_buf_append(&c->post, in, len);
    return c->post.failed ? -1 : 0;
}

static int on_body_complete(rest_state_t *st, rest_conn_t *c, struct lws *wsi)
{
    char *uri = c->post_uri;
    int rc;

    if (!uri || c->timed_out)
        return 0; /* late: its 408 is on its way (on_writeable) */
    c->post_uri = NULL;
    rc = serve(st, c, wsi, uri);
    free(uri);
    return rc;
}

/* The request ended (closed, or the connection moves to its next request). */
static void release(rest_state_t *st, rest_conn_t *c)
{
    if (st)
        live_unlink(st, c);
    if (c->waiting && st) {
        waiter_unlink(st, c);
        gw_commands_forget_conn(st->ctx->commands, c->conn);
    }
    if (c->deferred) {
        gw_buf_fini(&c->deferred->body);
        free(c->deferred);
        c->deferred = NULL;
    }
    free(c->post_uri);
    c->post_uri = NULL;
    gw_buf_fini(&c->post);
    if (c->body_started) {
        gw_buf_fini(&c->body);
        c->body_started = false;
    }
}

static int init(struct lws *wsi)
{
    rest_state_t *st =
        lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi), lws_get_protocol(wsi), sizeof(*st));
    gw_transport_t *t = gw_transport_of(wsi);

    if (!st || !t)
        return -1;
    st->ctx = t->ctx;
    st->lws = lws_get_context(wsi);
    lws_sul_schedule(st->lws, 0, &st->tick, tick_cb, TICK_MS * LWS_US_PER_MS);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    rest_state_t *st = reason == LWS_CALLBACK_PROTOCOL_INIT ? NULL : gw_endpoint_state(wsi);
    rest_conn_t *c = user;

    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        return init(wsi);
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        if (st && st->lws)
            lws_sul_cancel(&st->tick);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return -1; /* a WebSocket upgrade naming this protocol: HTTP only here */
    case LWS_CALLBACK_HTTP:
        return st ? on_request(st, c, wsi) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return on_body_complete(st, c, wsi);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_writeable(c, wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (c)
            release(st, c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* "/" takes every path no other endpoint mounts (lws: the most specific mount wins), so
 * unknown paths get rest.c's JSON 404. An endpoint serving "/" itself (the web UI's
 * files) would leave this one "/rest", "/healthz" and "/metrics". */
static const char *const MOUNTS[] = {"/", NULL};

const gw_endpoint_t gw_endpoint_rest = {
    .protocol = {.name = "xo-rest",
                 .callback = callback,
                 .per_session_data_size = sizeof(rest_conn_t),
                 .rx_buffer_size = 65536},
    .mounts = MOUNTS,
    .ws_default = false,
    .wake = NULL,
    .replies = GW_CMD_WAIT_HTTP,
    .deliver = deliver,
};
