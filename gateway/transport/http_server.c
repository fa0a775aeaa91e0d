/*
 * http_server.c - libwebsockets context, vhost, routing of HTTP and WebSocket traffic,
 * per-client outbound queues and the flush of `all` notifications (see http_server.h).
 * Never blocks on Kafka and never waits on the consumer: it takes the notifier's batch
 * and the commands' results when woken, and reads the view under its read lock. Deferred
 * answers (vm.* replies, REST ?sync=true) find their connection by serial, so a client
 * that left is simply skipped. JSON-RPC semantics live in api_rpc.c, HTTP routes in rest.c.
 */
#include "transport/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_rpc.h"
#include "bus/commands.h"
#include "api/rest.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define MOD      "http"
#define CHUNK    (64 * 1024)
#define SWEEP_US (100 * LWS_US_PER_MS) /* command expiry sweep period */

_Static_assert(GW_MSG_PRE >= LWS_PRE, "GW_MSG_PRE must cover LWS_PRE");

typedef struct qnode {
    gw_msg_t *m;
    struct qnode *next;
} qnode_t;

typedef struct pss {
    struct lws *wsi;
    bool is_ws;
    gw_session_t sess;
    qnode_t *head, *tail;
    size_t qbytes, off;
    gw_buf_t rx;
    bool closing;
    struct pss *next, *prev; /* clients list */
    uint64_t conn;           /* serial (WebSocket, or an HTTP request waiting for a command) */
    /* HTTP response */
    gw_buf_t body;
    size_t body_off;
    bool body_started;
    /* HTTP request with a body (POST), or waiting for a deferred answer */
    char *post_uri;
    gw_buf_t post;
    bool waiting;             /* in the waiters list until the answer is ready */
    gw_http_resp_t *deferred; /* the answer, headers not yet sent */
    struct pss *wnext, *wprev;
} pss_t;

struct gw_http {
    gw_ctx_t *ctx;
    struct lws_context *lws;
    struct lws_protocols protocols[2];
    pss_t *clients;
    pss_t *waiters; /* HTTP requests waiting for a command's outcome */
    uint64_t next_conn;
    lws_sorted_usec_list_t sweep;
    atomic_bool stop;
    int port;
};

int64_t gw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        xo_log(XO_LOG_WARN, "lws", "msg=\"%.*s\"", (int)n, line);
    else
        xo_dbg(XO_DBG_WS, "lws", "msg=\"%.*s\"", (int)n, line);
}

/* ---- outbound queue ---- */

static void queue_free(pss_t *p)
{
    qnode_t *n = p->head;
    while (n) {
        qnode_t *next = n->next;
        gw_msg_unref(n->m);
        free(n);
        n = next;
    }
    p->head = p->tail = NULL;
    p->qbytes = p->off = 0;
}

/* Queue a message (a reference is taken). notification: subject to the byte bound. */
static void enqueue(gw_http_t *h, pss_t *p, gw_msg_t *m, bool notification)
{
    qnode_t *n;
    if (p->closing)
        return;
    if (notification && p->qbytes + m->len > h->ctx->limits.client_queue_bytes) {
        xo_warn(MOD,
                "event=client_dropped reason=slow addr=%s user=\"%s\" queued_bytes=%zu "
                "limit=%zu",
                p->sess.addr, p->sess.user ? p->sess.user->email : "", p->qbytes,
                h->ctx->limits.client_queue_bytes);
        if (h->ctx->metrics)
            gw_metrics_count_dropped_client(h->ctx->metrics);
        p->closing = true;
        lws_callback_on_writable(p->wsi);
        return;
    }
    n = malloc(sizeof(*n));
    if (!n) {
        p->closing = true;
        lws_callback_on_writable(p->wsi);
        return;
    }
    gw_msg_ref(m);
    n->m = m;
    n->next = NULL;
    if (p->tail)
        p->tail->next = n;
    else
        p->head = n;
    p->tail = n;
    p->qbytes += m->len;
    lws_callback_on_writable(p->wsi);
}

static int write_some(pss_t *p)
{
    qnode_t *n = p->head;
    unsigned char saved[LWS_PRE] = {0}, *buf;
    size_t left, len;
    enum lws_write_protocol flags;
    int wrote;

    if (!n)
        return 0;
    left = n->m->len - p->off;
    len = left > CHUNK ? CHUNK : left;
    flags = lws_write_ws_flags(LWS_WRITE_TEXT, p->off == 0, len == left);
    /* lws writes its frame header into the LWS_PRE bytes before the pointer: the message's
     * reserved head for the first chunk, payload bytes for the next ones. The message is
     * shared by every client, and others may still have those bytes to send: save and
     * restore them (lws copies whatever it cannot send at once, so this is safe). */
    buf = (unsigned char *)n->m->data + p->off;
    if (p->off > 0)
        memcpy(saved, buf - LWS_PRE, LWS_PRE);
    wrote = lws_write(p->wsi, buf, len, flags);
    if (p->off > 0)
        memcpy(buf - LWS_PRE, saved, LWS_PRE);
    if (wrote < (int)len)
        return -1;
    p->off += len;
    if (p->off == n->m->len) {
        p->head = n->next;
        if (!p->head)
            p->tail = NULL;
        p->qbytes -= n->m->len;
        p->off = 0;
        gw_msg_unref(n->m);
        free(n);
    }
    return 0;
}

/* ---- notifications ---- */

static void flush_notifications(gw_http_t *h)
{
    gw_notify_out_t out;
    int64_t now;
    size_t bytes = 0;

    if (!gw_notify_take(h->ctx->notify, &out))
        return;
    for (pss_t *p = h->clients; p; p = p->next) {
        if (!p->sess.user)
            continue;
        for (size_t i = 0; i < out.nmsgs; i++)
            enqueue(h, p, out.msgs[i], true);
    }
    for (size_t i = 0; i < out.nmsgs; i++)
        bytes += out.msgs[i]->len;
    now = xo_now_ms();
    if (h->ctx->metrics) {
        gw_metrics_count_notification(h->ctx->metrics, out.nmsgs, bytes);
        for (size_t i = 0; out.ts && i < out.items; i++)
            gw_metrics_observe_latency(h->ctx->metrics, (double)(now - out.ts[i]));
    }
    xo_dbg(XO_DBG_WS, MOD, "event=flush items=%zu messages=%zu bytes=%zu", out.items, out.nmsgs,
           bytes);
    gw_notify_out_fini(&out);
}

/* ---- HTTP ---- */

static void read_header(struct lws *wsi, enum lws_token_indexes t, char *out, size_t size)
{
    int n = lws_hdr_total_length(wsi, t);
    out[0] = '\0';
    if (n <= 0 || (size_t)n >= size)
        return;
    if (lws_hdr_copy(wsi, out, (int)size, t) < 0)
        out[0] = '\0';
}

static int send_headers(struct lws *wsi, gw_http_resp_t *resp)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *pos = start,
                                       *end = hdr + sizeof(hdr) - 1;

    if (lws_add_http_common_headers(wsi, (unsigned int)resp->status, resp->content_type,
                                    resp->body.len, &pos, end) ||
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

static void waiter_unlink(gw_http_t *h, pss_t *p)
{
    if (!p->waiting)
        return;
    if (p->wprev)
        p->wprev->wnext = p->wnext;
    else
        h->waiters = p->wnext;
    if (p->wnext)
        p->wnext->wprev = p->wprev;
    p->waiting = false;
    p->wnext = p->wprev = NULL;
}

static int http_request(gw_http_t *h, pss_t *p, struct lws *wsi, const char *uri)
{
    gw_http_req_t *req = calloc(1, sizeof(*req));
    gw_http_resp_t resp;
    char frag[GW_HTTP_MAX_VALUE + 80];

    if (!req)
        return -1;
    memset(&resp, 0, sizeof(resp));
    gw_buf_init_pre(&resp.body, LWS_PRE);
    req->is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    req->is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    req->body = p->post.len ? p->post.data : NULL;
    req->body_len = p->post.len;
    p->conn = ++h->next_conn;
    req->conn = p->conn;
    snprintf(req->path, sizeof(req->path), "%s", uri);
    for (int i = 0; req->nargs < GW_HTTP_MAX_ARGS; i++) {
        int n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        char *eq;
        if (n < 0)
            break;
        eq = strchr(frag, '=');
        if (eq)
            *eq = '\0';
        if (strlen(frag) >= sizeof(req->args[0].name) ||
            (eq && strlen(eq + 1) >= sizeof(req->args[0].value)))
            continue; /* over-long arguments are ignored (limits in rest.h) */
        memcpy(req->args[req->nargs].name, frag, strlen(frag) + 1);
        memcpy(req->args[req->nargs].value, eq ? eq + 1 : "", eq ? strlen(eq + 1) + 1 : 1);
        req->nargs++;
    }
    read_header(wsi, WSI_TOKEN_HTTP_COOKIE, req->cookie, sizeof(req->cookie));
    read_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, req->authorization, sizeof(req->authorization));
    lws_get_peer_simple(wsi, req->addr, sizeof(req->addr));

    gw_http_route(h->ctx, req, &resp);
    xo_dbg(XO_DBG_WS, MOD, "event=http path=\"%s\" status=%d bytes=%zu addr=%s deferred=%d",
           req->path, resp.status, resp.body.len, req->addr, resp.deferred ? 1 : 0);
    free(req);
    gw_buf_fini(&p->post);
    if (resp.deferred) { /* gw_rest_reply later, through deliver() */
        gw_buf_fini(&resp.body);
        p->wsi = wsi;
        p->waiting = true;
        p->wnext = h->waiters;
        if (h->waiters)
            h->waiters->wprev = p;
        h->waiters = p;
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        return 0;
    }
    if (resp.body.failed || send_headers(wsi, &resp)) {
        gw_buf_fini(&resp.body);
        return -1;
    }
    p->body = resp.body;
    p->body_off = 0;
    p->body_started = true;
    lws_callback_on_writable(wsi);
    return 0;
}

/* ---- deferred answers (commands.c) ---- */

static void deliver_ws(gw_http_t *h, const gw_cmd_reply_t *r)
{
    gw_buf_t out;
    gw_msg_t *m;
    pss_t *p = h->clients;

    while (p && p->conn != r->waiter->conn)
        p = p->next;
    if (!p)
        return; /* the client left: nobody to answer */
    gw_buf_init_pre(&out, GW_MSG_PRE);
    if (r->ok) {
        gw_buf_printf(&out, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}", r->waiter->rpc_id,
                      r->result_json ? r->result_json : "true");
    } else {
        gw_rpc_write_error(&out, r->waiter->rpc_id, r->err);
    }
    m = out.failed ? NULL : gw_msg_from_buf(&out);
    if (!m) {
        gw_buf_fini(&out);
        return;
    }
    enqueue(h, p, m, false);
    gw_msg_unref(m);
}

static void deliver_http(gw_http_t *h, const gw_cmd_reply_t *r)
{
    pss_t *p = h->waiters;

    while (p && p->conn != r->waiter->conn)
        p = p->wnext;
    if (!p)
        return;
    p->deferred = calloc(1, sizeof(*p->deferred));
    if (!p->deferred)
        return;
    gw_buf_init_pre(&p->deferred->body, LWS_PRE);
    gw_rest_reply(p->deferred, r->ok ? r->result_json : NULL, r->ok ? NULL : r->err);
    waiter_unlink(h, p);
    lws_callback_on_writable(p->wsi);
}

static void deliver(void *opaque, const gw_cmd_reply_t *r)
{
    gw_http_t *h = opaque;
    if (r->waiter->kind == GW_CMD_WAIT_WS)
        deliver_ws(h, r);
    else if (r->waiter->kind == GW_CMD_WAIT_HTTP)
        deliver_http(h, r);
}

static void service_commands(gw_http_t *h)
{
    gw_commands_service(h->ctx->commands, xo_now_ms(), gw_vm_id_of, h->ctx);
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    gw_http_t *h = lws_container_of(sul, gw_http_t, sweep);
    service_commands(h);
    lws_sul_schedule(h->lws, 0, &h->sweep, sweep_cb, SWEEP_US);
}

/* The deferred answer is ready: send its headers now, the body on the next writeable. */
static int http_deferred_headers(pss_t *p, struct lws *wsi)
{
    gw_http_resp_t *resp = p->deferred;
    int rc = send_headers(wsi, resp);

    p->deferred = NULL;
    if (rc) {
        gw_buf_fini(&resp->body);
        free(resp);
        return -1;
    }
    p->body = resp->body;
    p->body_off = 0;
    p->body_started = true;
    free(resp);
    lws_callback_on_writable(wsi);
    return 0;
}

static int http_writeable(pss_t *p, struct lws *wsi)
{
    size_t left, len;
    int flags;

    if (p->deferred)
        return http_deferred_headers(p, wsi);
    if (!p->body_started)
        return 0;
    left = p->body.len - p->body_off;
    len = left > CHUNK ? CHUNK : left;
    flags = len == left ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP;
    if (len > 0 || flags == LWS_WRITE_HTTP_FINAL) {
        unsigned char *from = (unsigned char *)(p->body.data ? p->body.data + p->body_off : NULL);
        unsigned char empty[LWS_PRE + 1];
        if (!from)
            from = empty + LWS_PRE;
        if (lws_write(wsi, from, len, (enum lws_write_protocol)flags) < (int)len)
            return -1;
    }
    p->body_off += len;
    if (p->body_off < p->body.len) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    gw_buf_fini(&p->body);
    p->body_started = false;
    if (lws_http_transaction_completed(wsi))
        return -1;
    return 0;
}

/* ---- the protocol callback ---- */

static bool is_api_path(struct lws *wsi)
{
    char uri[256];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return false;
    return !strcmp(uri, "/api/") || !strcmp(uri, "/api");
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    gw_http_t *h = vh ? lws_vhost_user(vh) : NULL;
    pss_t *p = user;

    if (!h) {
        struct lws_context *c = lws_get_context(wsi);
        h = c ? lws_context_user(c) : NULL;
    }
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (h) {
            flush_notifications(h);
            service_commands(h);
        }
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!is_api_path(wsi)) {
            xo_dbg(XO_DBG_WS, MOD, "event=ws_refused reason=path");
            return -1;
        }
        if (h->ctx->ws_clients >= h->ctx->limits.max_clients) {
            xo_warn(MOD, "event=ws_refused reason=max_clients limit=%zu",
                    h->ctx->limits.max_clients);
            return -1;
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        memset(p, 0, sizeof(*p));
        p->wsi = wsi;
        p->is_ws = true;
        p->conn = p->sess.conn = ++h->next_conn;
        gw_buf_init(&p->rx);
        lws_get_peer_simple(wsi, p->sess.addr, sizeof(p->sess.addr));
        p->next = h->clients;
        if (h->clients)
            h->clients->prev = p;
        h->clients = p;
        h->ctx->ws_clients++;
        xo_dbg(XO_DBG_WS, MOD, "event=ws_open addr=%s clients=%zu", p->sess.addr,
               h->ctx->ws_clients);
        return 0;

    case LWS_CALLBACK_RECEIVE: {
        gw_buf_t reply;
        gw_msg_t *m;
        if (p->closing)
            return 0;
        if (p->rx.len + len > h->ctx->limits.max_frame_bytes) {
            xo_warn(MOD, "event=ws_message_too_big addr=%s bytes=%zu limit=%zu", p->sess.addr,
                    p->rx.len + len, h->ctx->limits.max_frame_bytes);
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                             (unsigned char *)"message too big", 15);
            return -1;
        }
        gw_buf_append(&p->rx, in, len);
        if (p->rx.failed)
            return -1;
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
            return 0;
        gw_buf_init_pre(&reply, GW_MSG_PRE);
        gw_rpc_handle(h->ctx, &p->sess, p->rx.data ? p->rx.data : "", p->rx.len, &reply);
        gw_buf_reset(&p->rx);
        if (p->rx.cap > 65536)
            gw_buf_fini(&p->rx);
        if (reply.len == 0) {
            gw_buf_fini(&reply);
            return 0;
        }
        m = gw_msg_from_buf(&reply);
        if (!m)
            return -1;
        enqueue(h, p, m, false);
        gw_msg_unref(m);
        return 0;
    }

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (p->closing && !p->head) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"too slow",
                             8);
            return -1;
        }
        if (p->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"too slow",
                             8);
            return -1;
        }
        if (write_some(p) < 0)
            return -1;
        if (p->head)
            lws_callback_on_writable(wsi);
        return 0;

    case LWS_CALLBACK_CLOSED:
        if (!p->is_ws)
            return 0;
        gw_session_set_user(h->ctx, &p->sess, NULL, 0);
        gw_commands_forget_conn(h->ctx->commands, p->conn);
        if (p->prev)
            p->prev->next = p->next;
        else
            h->clients = p->next;
        if (p->next)
            p->next->prev = p->prev;
        queue_free(p);
        gw_buf_fini(&p->rx);
        h->ctx->ws_clients--;
        p->is_ws = false;
        xo_dbg(XO_DBG_WS, MOD, "event=ws_close addr=%s clients=%zu", p->sess.addr,
               h->ctx->ws_clients);
        return 0;

    case LWS_CALLBACK_HTTP:
        memset(p, 0, sizeof(*p));
        if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 &&
            lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
            char cl[24];
            read_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl));
            if (strcmp(cl, "0") != 0) { /* route once the body is in */
                p->post_uri = strdup(in ? (const char *)in : "/");
                gw_buf_init(&p->post);
                return p->post_uri ? 0 : -1;
            }
        }
        return http_request(h, p, wsi, in ? (const char *)in : "/");

    case LWS_CALLBACK_HTTP_BODY:
        if (!p->post_uri)
            return 0;
        if (p->post.len + len > GW_HTTP_MAX_BODY)
            return -1; /* an action's parameters are small: drop the connection */
        gw_buf_append(&p->post, in, len);
        return p->post.failed ? -1 : 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
        char *uri = p->post_uri;
        int rc;
        if (!uri)
            return 0;
        p->post_uri = NULL;
        rc = http_request(h, p, wsi, uri);
        free(uri);
        return rc;
    }

    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_writeable(p, wsi);

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (!p)
            return 0;
        if (p->waiting) {
            waiter_unlink(h, p);
            gw_commands_forget_conn(h->ctx->commands, p->conn);
        }
        if (p->deferred) {
            gw_buf_fini(&p->deferred->body);
            free(p->deferred);
            p->deferred = NULL;
        }
        free(p->post_uri);
        p->post_uri = NULL;
        gw_buf_fini(&p->post);
        if (p->body_started) {
            gw_buf_fini(&p->body);
            p->body_started = false;
        }
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static xo_err_t check_port_free(const char *address, int port, char *errstr, size_t errstr_size)
{
    struct sockaddr_in sa;
    int fd, one = 1, rc;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
        return XO_OK; /* not IPv4 text (a name or IPv6): let libwebsockets decide */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return XO_OK;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (rc != 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot listen on %s:%d: %s", address,
                         port, strerror(errno));
    return XO_OK;
}

xo_err_t gw_http_new(gw_ctx_t *ctx, const char *address, int port, const char *tls_cert,
                     const char *tls_key, gw_http_t **out, char *errstr, size_t errstr_size)
{
    struct lws_context_creation_info info;
    gw_http_t *h;
    xo_err_t err;

    if (port > 0) {
        err = check_port_free(address, port, errstr, errstr_size);
        if (err != XO_OK)
            return err;
    }
    if ((tls_cert && *tls_cert) != (tls_key && *tls_key))
        return xo_seterr(errstr, errstr_size, XO_ERR_TLS,
                         "http.tls_cert and http.tls_key must be set together");
    h = calloc(1, sizeof(*h));
    if (!h)
        return XO_ERR_NOMEM;
    h->ctx = ctx;
    atomic_init(&h->stop, false);
    h->protocols[0] = (struct lws_protocols){
        .name = "xo-api",
        .callback = callback,
        .per_session_data_size = sizeof(pss_t),
        .rx_buffer_size = 65536,
    };
    lws_set_log_level(LLL_ERR | LLL_WARN | (xo_log_debug_mask & XO_DBG_WS ? LLL_NOTICE : 0),
                      lws_log);
    memset(&info, 0, sizeof(info));
    info.port = port;
    info.iface = address;
    info.protocols = h->protocols;
    info.user = h;
    info.vhost_name = "xo-gateway";
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
    info.timeout_secs = 30;
    info.keepalive_timeout = 30;
    if (tls_cert && *tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = tls_cert;
        info.ssl_private_key_filepath = tls_key;
    }
    h->lws = lws_create_context(&info);
    if (!h->lws) {
        free(h);
        return xo_seterr(errstr, errstr_size, tls_cert && *tls_cert ? XO_ERR_TLS : XO_ERR_IO,
                         "cannot listen on %s:%d%s (see the lws log lines above)", address, port,
                         tls_cert && *tls_cert ? " with TLS" : "");
    }
    {
        struct lws_vhost *vh = lws_get_vhost_by_name(h->lws, "xo-gateway");
        h->port = vh ? lws_get_vhost_listen_port(vh) : port;
    }
    if (ctx->commands) {
        gw_commands_set_reply(ctx->commands, deliver, h);
        lws_sul_schedule(h->lws, 0, &h->sweep, sweep_cb, SWEEP_US);
    }
    *out = h;
    return XO_OK;
}

void gw_http_run(gw_http_t *h)
{
    while (!atomic_load(&h->stop))
        if (lws_service(h->lws, 0) < 0)
            break;
}

void gw_http_wake(void *hp)
{
    gw_http_t *h = hp;
    lws_cancel_service(h->lws);
}

void gw_http_stop(gw_http_t *h)
{
    atomic_store(&h->stop, true);
    lws_cancel_service(h->lws);
}

int gw_http_port(const gw_http_t *h)
{
    return h->port;
}

void gw_http_free(gw_http_t *h)
{
    if (!h)
        return;
    lws_context_destroy(h->lws);
    free(h);
}
