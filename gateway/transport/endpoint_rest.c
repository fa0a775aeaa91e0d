/*
 * endpoint_rest.c - the HTTP endpoint of the API: /rest/v0, /healthz and /metrics (and a
 * JSON 404 for any path no other endpoint mounts). Turns one HTTP request (target,
 * arguments, Cookie and Authorization headers, a bounded body) into a gw_http_req_t
 * for api/rest.c, and writes the gw_http_resp_t it gets back, in chunks, its status line
 * with its reason phrase. A synchronous change (?sync=true, PATCH, DELETE, tags) waits,
 * without blocking, for its command's outcome (deliver()); GET /rest/v0/tasks/<id>?wait=true
 * is asked again every POLL_MS until its task ends; ?watch=true keeps the response open
 * (no length: it ends with the connection) and sends each new line until the client
 * leaves. Refuses what it will not read (414, 431, and for a method with a body 411, 413,
 * 400) and keeps the deadlines of a request: its body within timeouts.body_s (else 408),
 * its response taken by the client without a pause of timeouts.send_s (else closed at
 * once). A ?watch=true stream is open on purpose: no deadline cuts it while it has nothing
 * to send; the lines queued for it count against limits.client_queue_bytes and must be
 * taken within timeouts.send_s, as any response's.
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
#define POLL_MS 100         /* a ?wait=true or ?watch=true request looks again this often */
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
    /* a request (POST, PUT, PATCH, DELETE) whose body is being read */
    char *post_uri;
    gw_buf_t post;
    gw_http_method_t method;
    /* waiting for a command's outcome */
    struct lws *wsi;
    bool waiting;             /* in the waiters list until the answer is ready */
    int ok_status;            /* the status of its success (204, 201) */
    int conflict_status;      /* the status of a bad power state (409, 500) */
    gw_http_resp_t *deferred; /* the answer, headers not yet sent */
    struct rest_conn *wnext, *wprev;
    /* ?wait=true: the task polled until it ends */
    char wait_task[GW_ID_MAX];
    /* ?watch=true: the open stream and what is queued for it */
    gw_rest_watch_t *watch;
    gw_buf_t stream;
    size_t stream_off;       /* bytes of stream already written */
    gw_conn_budget_t budget; /* the stream's queued bytes (limits.client_queue_bytes) */
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

/* The query arguments, as lws decoded them; one too long or too many set args_dropped
 * (answered 400 by rest.c; limits in rest.h). */
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
    req->method = c->method;
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

/* Bytes wait for a client that has taken none for timeouts.send_s: close now (reset),
 * writable or not, and free what was queued for it. A watch client reconnects and
 * refetches. */
static void stalled(rest_state_t *st, rest_conn_t *c)
{
    xo_warn(MOD, "event=client_dropped reason=stalled bytes_left=%zu",
            c->watch ? c->budget.queued : c->body.len - c->body_off);
    count_closed(st, GW_CLOSE_STALLED);
    if (c->body_started) {
        c->body_started = false; /* closing: nothing more to write */
        gw_buf_fini(&c->body);
    }
    gw_buf_fini(&c->stream);
    c->stream_off = 0;
    gw_conn_budget_give(&c->budget, c->budget.queued);
    gw_rest_watch_free(c->watch);
    c->watch = NULL;
    lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
    gw_conn_close_now(c->wsi);
}

/* The deadlines of every live request: its body (timeouts.body_s), and bytes waiting for
 * a client that takes none (timeouts.send_s). A ?watch=true stream with nothing queued
 * has no deadline: it stays open on purpose until the client leaves. A request waiting
 * for a command (?sync=true) or a task (?wait=true) has none here either: the command bus
 * times commands out. */
static void sweep(rest_state_t *st, int64_t now)
{
    int64_t send_ms = (int64_t)st->ctx->timeouts.send_s * 1000;

    for (rest_conn_t *c = st->live; c; c = c->lnext) {
        bool queued = c->body_started || (c->watch && c->budget.queued);

        if (c->post_uri && now >= c->body_due)
            body_late(st, c, now);
        else if (queued && now - c->waiting_since >= send_ms)
            stalled(st, c);
    }
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    rest_state_t *st = lws_container_of(sul, rest_state_t, tick);

    gw_fair_lock(st->ctx->service_lock); /* a timer: not a locked callback (endpoint.h) */
    sweep(st, gw_mono_ms());
    gw_fair_unlock(st->ctx->service_lock);
    lws_sul_schedule(st->lws, 0, &st->tick, tick_cb, TICK_MS * LWS_US_PER_MS);
}

/* ---- ?wait=true and ?watch=true ---- */

/* The stream's headers now: no length, so it ends with the connection (HTTP/1.1; its own
 * stream in HTTP/2); its lines come from on_timer(). */
static int start_stream(rest_state_t *st, rest_conn_t *c, struct lws *wsi, gw_http_resp_t *resp)
{
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *pos = start,
                                      *end = hdr + sizeof(hdr) - 1;
    const char *type = resp->content_type;

    c->watch = resp->watch;
    c->wsi = wsi;
    gw_buf_fini(&resp->body);
    gw_buf_init_pre(&c->stream, LWS_PRE);
    gw_conn_budget_init(&c->budget, st->ctx->limits.client_queue_bytes);
    if (gw_http_add_status(wsi, resp->status, &pos, end) ||
        (type &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)type,
                                      (int)strlen(type), &pos, end)) ||
        (lws_get_network_wsi(wsi) == wsi &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                      &pos, end)) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &pos, end) ||
        lws_finalize_write_http_header(wsi, start, &pos, end))
        return -1;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* open until the client leaves */
    lws_set_timer_usecs(wsi, POLL_MS * LWS_US_PER_MS);
    return 0;
}

static int write_stream(rest_conn_t *c, struct lws *wsi)
{
    size_t left = c->stream.len - c->stream_off, len = left > CHUNK ? CHUNK : left;

    if (!len)
        return 0;
    if (lws_write(wsi, (unsigned char *)c->stream.data + c->stream_off, len, LWS_WRITE_HTTP) <
        (int)len)
        return -1;
    c->stream_off += len;
    gw_conn_budget_give(&c->budget, len);
    c->waiting_since = gw_mono_ms();
    if (c->stream_off == c->stream.len) {
        c->stream.len = c->stream_off = 0;
    } else if (c->stream_off >= c->stream.len - c->stream_off) { /* keep the buffer short */
        memmove(c->stream.data, c->stream.data + c->stream_off, c->stream.len - c->stream_off);
        c->stream.len -= c->stream_off;
        c->stream_off = 0;
    }
    if (c->stream.len)
        lws_callback_on_writable(wsi);
    return 0;
}

/* New lines for a ?watch=true stream. Its queued lines count in the connection's byte
 * budget (limits.client_queue_bytes); while they fill it the stream stops polling until
 * the client has taken some (back-pressure, nothing lost: the next poll sends the latest
 * state of every task changed meanwhile; one poll adds at most a line per task of the
 * bus's bounded table). A client that takes none for timeouts.send_s is closed (sweep). */
static int poll_watch(rest_state_t *st, rest_conn_t *c, struct lws *wsi)
{
    size_t before = c->stream.len;

    lws_set_timer_usecs(wsi, POLL_MS * LWS_US_PER_MS);
    if (c->budget.queued >= c->budget.limit)
        return 0;
    if (!gw_rest_watch_poll(st->ctx, c->watch, &c->stream) || c->stream.failed)
        return -1;
    if (c->stream.len > before) {
        if (c->budget.queued == 0) /* the send deadline starts with the first byte */
            c->waiting_since = gw_mono_ms();
        gw_conn_budget_take(&c->budget, c->stream.len - before);
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static int on_timer(rest_state_t *st, rest_conn_t *c, struct lws *wsi)
{
    if (c->watch)
        return poll_watch(st, c, wsi);
    if (c->wait_task[0]) {
        gw_http_resp_t *resp = calloc(1, sizeof(*resp));
        if (!resp)
            return -1;
        gw_buf_init_pre(&resp->body, LWS_PRE);
        if (!gw_rest_task_poll(st->ctx, c->wait_task, resp)) {
            gw_buf_fini(&resp->body);
            free(resp);
            lws_set_timer_usecs(wsi, POLL_MS * LWS_US_PER_MS);
            return 0;
        }
        c->wait_task[0] = '\0';
        c->deferred = resp;
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static int on_writeable(rest_conn_t *c, struct lws *wsi)
{
    if (c->timed_out) { /* its body came too slowly: 408, and close */
        gw_http_answer(wsi, 408, true);
        return -1;
    }
    if (c->watch)
        return write_stream(c, wsi);
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
    gw_rest_reply(c->deferred, c->ok_status, c->conflict_status, r->ok ? r->result_json : NULL,
                  r->ok ? NULL : r->err);
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
    if (resp.watch)
        return start_stream(st, c, wsi, &resp);
    if (resp.wait_task[0]) { /* gw_rest_task_poll answers later, through on_timer() */
        gw_buf_fini(&resp.body);
        snprintf(c->wait_task, sizeof(c->wait_task), "%s", resp.wait_task);
        c->wsi = wsi;
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        lws_set_timer_usecs(wsi, POLL_MS * LWS_US_PER_MS);
        return 0;
    }
    if (!resp.deferred)
        return start_response(c, wsi, &resp);
    gw_buf_fini(&resp.body); /* gw_rest_reply fills the answer later, through deliver() */
    c->ok_status = resp.deferred_ok;
    c->conflict_status = resp.deferred_conflict;
    waiter_add(st, c, wsi);
    return 0;
}

/* ---- reading a request ---- */

static bool has_header(struct lws *wsi, enum lws_token_indexes t)
{
    return lws_hdr_total_length(wsi, t) > 0;
}

static gw_http_method_t method_of(int m)
{
    switch (m) {
    case LWSHUMETH_GET:
        return GW_HTTP_GET;
    case LWSHUMETH_POST:
        return GW_HTTP_POST;
    case LWSHUMETH_PUT:
        return GW_HTTP_PUT;
    case LWSHUMETH_PATCH:
        return GW_HTTP_PATCH;
    case LWSHUMETH_DELETE:
        return GW_HTTP_DELETE;
    default:
        return GW_HTTP_OTHER;
    }
}

/* The methods whose body is read and handed to rest.c (an action's parameters, a PATCH's
 * fields...); any other method's body is left unread and its connection closed. */
static bool takes_body(gw_http_method_t m)
{
    return m == GW_HTTP_POST || m == GW_HTTP_PUT || m == GW_HTTP_PATCH || m == GW_HTTP_DELETE;
}

/* A request with a body says how long it is (no chunked bodies: parameters are small),
 * within GW_HTTP_MAX_BODY: 0 and its length in *len, or the status that refuses it. With
 * neither Content-Length nor Transfer-Encoding its body is empty (RFC 9112 6.3), as
 * `curl -X POST` sends it; a chunked one gets 411. */
static int body_status(struct lws *wsi, gw_http_method_t method, unsigned long long *len)
{
    char cl[24], *end;

    *len = 0;
    if (!takes_body(method))
        return 0;
    if (!has_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH))
        return has_header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) ? 411 : 0;
    read_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl));
    errno = 0;
    *len = strtoull(cl, &end, 10);
    if (cl[0] < '0' || cl[0] > '9' || *end || errno)
        return 400;
    return *len > GW_HTTP_MAX_BODY ? 413 : 0;
}

/* Answer now what this endpoint will not read, and close: 0 when the request may go on
 * (with a body of *len bytes to read). */
static int refuse(rest_state_t *st, struct lws *wsi, gw_http_method_t method,
                  unsigned long long *len)
{
    const gw_limits_t *l = &st->ctx->limits;
    int status = gw_http_check_size(wsi, l->max_url_bytes, l->max_header_bytes);
    char addr[64];

    *len = 0;
    if (!status)
        status = body_status(wsi, method, len);
    if (!status)
        return 0;
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    xo_dbg(XO_DBG_WS, MOD, "event=http_refused status=%d addr=%s", status, addr);
    count_closed(st, GW_CLOSE_REFUSED);
    gw_http_answer(wsi, status, true);
    return -1;
}

/* A request: served now, or once its body is in. */
static int on_request(rest_state_t *st, rest_conn_t *c, struct lws *wsi)
{
    char *uri = NULL;
    int len = 0;
    unsigned long long body_len;

    memset(c, 0, sizeof(*c));
    c->wsi = wsi;
    c->method = method_of(lws_http_get_uri_and_method(wsi, &uri, &len));
    if (!uri)
        uri = "/";
    if (refuse(st, wsi, c->method, &body_len))
        return -1;
    live_add(st, c);
    if (body_len > 0) {
        c->post_uri = strdup(uri);
        gw_buf_init(&c->post);
        c->body_due = gw_mono_ms() + (int64_t)st->ctx->timeouts.body_s * 1000;
        return c->post_uri ? 0 : -1;
    }
    /* a body this endpoint does not read (GET, HEAD, OPTIONS...): answer, then close */
    c->close_after = !takes_body(c->method) && (has_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) ||
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
        return -1; /* parameters are small: drop the connection */
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
    gw_rest_watch_free(c->watch);
    c->watch = NULL;
    gw_buf_fini(&c->stream);
    c->stream_off = 0;
    c->wait_task[0] = '\0';
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
    rest_state_t *st = reason == LWS_CALLBACK_PROTOCOL_INIT
                           ? NULL
                           : gw_endpoint_state(wsi, gw_endpoint_rest.protocol.name);
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
    case LWS_CALLBACK_TIMER:
        return st && c ? on_timer(st, c, wsi) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (c)
            release(st, c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* The web UI's endpoint serves "/" (every path no other endpoint mounts, with the same
 * JSON 404 for unknown ones); this one keeps its own prefixes (lws: the most specific
 * mount wins). */
static const char *const MOUNTS[] = {"/rest", "/healthz", "/metrics", NULL};

const gw_endpoint_t gw_endpoint_rest = {
    .protocol = {.name = "xo-rest",
                 .callback = callback,
                 .per_session_data_size = sizeof(rest_conn_t),
                 .rx_buffer_size = 65536},
    .mounts = MOUNTS,
    .wake = NULL,
    .replies = GW_CMD_WAIT_HTTP,
    .deliver = deliver,
};
