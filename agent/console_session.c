/*
 * console_session.c - one console session on the relay thread: the host side (XAPI's
 * /console as a WebSocket with subprotocol binary and Cookie session_id, else CONNECT
 * with the cookie; raw connections with our own framing and TLS: ws_client.h, tls_pipe.h), the
 * gateway side (a WebSocket to the command's relay URL with the ticket), the splice between them
 * with bounded queues and flow control both ways, and following the VM: when the host side ends
 * mid-session the update in flight is completed for the client, the console is looked up again and
 * the session resumes on the new one (rfb_track.h), or the gateway side is closed with a reason.
 * Must not call XAPI itself (console_lookup.c does) or block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "console_int.h"
#include "tls_pipe.h"
#include "ws_client.h"
#include "xo_log.h"

/* Close codes the gateway hands to the browser (docs/console.md). */
#define CLOSE_ENDED       4000
#define CLOSE_NOT_RUNNING 4409
#define CLOSE_FAILED      4500
#define CLOSE_AGENT       4503

/* ------------------------------------------------------------------ queues */

static size_t q_len(const con_q_t *q)
{
    return q->tail - q->head;
}

/* Room for @p n more bytes at q->tail (grows up to CON_QUEUE + CON_RX + slack). */
static uint8_t *q_room(con_q_t *q, size_t n)
{
    size_t need, cap;
    uint8_t *nb;

    if (q->head > 0 && q->tail + n > q->cap) {
        memmove(q->buf + LWS_PRE, q->buf + LWS_PRE + q->head, q_len(q));
        q->tail -= q->head;
        q->head = 0;
    }
    need = q->tail + n;
    if (need > q->cap) {
        if (need > CON_QUEUE + 2 * CON_RX)
            return NULL;
        cap = q->cap ? q->cap : 16384;
        while (cap < need)
            cap *= 2;
        nb = realloc(q->buf, LWS_PRE + cap);
        if (!nb)
            return NULL;
        q->buf = nb;
        q->cap = cap;
    }
    return q->buf + LWS_PRE + q->tail;
}

static bool q_put(con_q_t *q, const void *p, size_t n)
{
    uint8_t *at = q_room(q, n);

    if (!at)
        return false;
    memcpy(at, p, n);
    q->tail += n;
    return true;
}

static void q_consume(con_q_t *q, size_t n)
{
    q->head += n;
    if (q->head == q->tail)
        q->head = q->tail = 0;
}

/* An idle session keeps no buffer (con_sessions_trim: a streaming one keeps its own). */
static void q_trim(con_q_t *q)
{
    if (q->buf && q_len(q) == 0) {
        free(q->buf);
        q->buf = NULL;
        q->cap = 0;
    }
}

void con_sessions_trim(agent_console_t *con)
{
    for (console_session_t *s = con->head; s; s = s->next)
        if (s->idle_ticks++ >= 4) {
            q_trim(&s->to_gw);
            q_trim(&s->to_host);
        }
}

static void q_free(con_q_t *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

/* ------------------------------------------------------------------ reporting */

static void report_failure(console_session_t *s, const char *code, const char *reason)
{
    xo_warn(CON_MOD, "event=console_failed id=%s vm=%s code=%s reason=\"%s\"", s->req.id, s->req.vm,
            code, reason);
    s->con->report(s->con->report_opaque, s->req.id, "failure", NULL, code, reason, 0);
}

static void report_open(console_session_t *s)
{
    json_object *r = json_object_new_object();

    json_object_object_add(r, "console", json_object_new_string("open"));
    json_object_object_add(r, "vm", json_object_new_string(s->req.vm));
    json_object_object_add(r, "host", json_object_new_string(s->target.host_uuid));
    json_object_object_add(r, "via", json_object_new_string(s->host_raw ? "connect" : "websocket"));
    json_object_object_add(r, "user", json_object_new_string(s->req.user));
    xo_info(CON_MOD, "event=console_opened id=%s vm=%s user=\"%s\" host=%s via=%s", s->req.id,
            s->req.vm, s->req.user, s->target.host_uuid, s->host_raw ? "connect" : "websocket");
    s->con->report(s->con->report_opaque, s->req.id, "success", r, NULL, NULL, 0);
    json_object_put(r);
    s->published_open = true;
}

static void report_closed(console_session_t *s)
{
    json_object *r = json_object_new_object();
    int64_t ms = xo_now_ms() - s->opened_ms;
    const char *why = s->close_reason[0] ? s->close_reason : "the client left";

    json_object_object_add(r, "console", json_object_new_string("closed"));
    json_object_object_add(r, "vm", json_object_new_string(s->req.vm));
    json_object_object_add(r, "user", json_object_new_string(s->req.user));
    json_object_object_add(r, "duration_ms", json_object_new_int64(ms));
    json_object_object_add(r, "bytes_to_client",
                           json_object_new_int64((int64_t)s->bytes_to_client));
    json_object_object_add(r, "bytes_to_host", json_object_new_int64((int64_t)s->bytes_to_host));
    json_object_object_add(r, "reattached", json_object_new_int(s->reattached));
    json_object_object_add(r, "reason", json_object_new_string(why));
    xo_info(CON_MOD,
            "event=console_closed id=%s vm=%s user=\"%s\" duration_ms=%lld bytes_to_client=%llu "
            "bytes_to_host=%llu reattached=%d reason=\"%s\"",
            s->req.id, s->req.vm, s->req.user, (long long)ms,
            (unsigned long long)s->bytes_to_client, (unsigned long long)s->bytes_to_host,
            s->reattached, why);
    s->con->report(s->con->report_opaque, s->req.id, "closed", r, NULL, NULL,
                   (int64_t)(s->bytes_to_client + s->bytes_to_host));
    json_object_put(r);
}

/* ------------------------------------------------------------------ lifetime */

static void unlink_free(console_session_t *s)
{
    agent_console_t *con = s->con;

    if (s->prev)
        s->prev->next = s->next;
    else
        con->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    lws_sul_cancel(&s->retry);
    tls_pipe_free(s->host_tls);
    tls_pipe_free(s->gw_tls);
    q_free(&s->to_gw);
    q_free(&s->to_host);
    memset(s->target.session, 0, sizeof(s->target.session));
    memset(s->req.ticket, 0, sizeof(s->req.ticket));
    pthread_mutex_lock(&con->mu);
    con->count--;
    pthread_mutex_unlock(&con->mu);
    free(s);
}

/* Both connections gone and nothing left to do: audit and free. */
static void maybe_free(console_session_t *s)
{
    if (!s->done || s->host || s->gw)
        return;
    if (s->published_open)
        report_closed(s);
    unlink_free(s);
}

static void drop_host(console_session_t *s)
{
    if (s->host) {
        lws_set_opaque_user_data(s->host, NULL);
        lws_set_timeout(s->host, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        s->host = NULL;
    }
    s->host_up = false;
    s->host_paused = false;
}

/* End the session: the gateway side closes with @p code and @p reason (after what is
 * queued for the client), the host side at once. */
static void finish(console_session_t *s, int code, const char *reason)
{
    if (!s->close_code) {
        s->close_code = code;
        snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
    }
    s->state = CS_CLOSING;
    s->done = true;
    drop_host(s);
    if (s->gw) {
        if (s->gw_paused) {
            lws_rx_flow_control(s->gw, 1);
            s->gw_paused = false;
        }
        lws_callback_on_writable(s->gw);
        lws_set_timeout(s->gw, PENDING_TIMEOUT_USER_OK, 10); /* a client that never reads */
    }
    maybe_free(s);
}

/* ------------------------------------------------------------------ connections */

static struct lws *dial(agent_console_t *con, const char *local_protocol, const char *addr,
                        int port, const char *path, void *opaque)
{
    struct lws_client_connect_info i;
    char host[300];

    memset(&i, 0, sizeof(i));
    snprintf(host, sizeof(host), "%s", addr);
    i.context = con->lws;
    i.vhost = con->vh;
    i.address = addr;
    i.port = port;
    i.path = path;
    i.host = host;
    i.origin = host;
    i.local_protocol_name = local_protocol;
    i.method = "RAW"; /* the request, TLS and WebSocket framing are ours */
    i.opaque_user_data = opaque;
    return lws_client_connect_via_info(&i);
}

static void connect_host(console_session_t *s)
{
    agent_console_t *con = s->con;
    const console_target_t *t = &s->target;
    bool raw = !strcmp(con->transport, "connect") || s->raw_tried;

    s->host_raw = raw;
    s->raw_sent = false;
    s->host_up = false;
    memset(&s->host_answer, 0, sizeof(s->host_answer));
    ws_rx_init(&s->host_rx);
    /* both ways in are a raw connection: the request, the answer and the WebSocket
     * framing are ours (ws_client.h) */
    tls_pipe_free(s->host_tls);
    s->host_tls = NULL;
    if (t->tls) { /* TLS is ours over the raw connection (tls_pipe.h) */
        s->host_tls = tls_pipe_new(con->tls_host, t->addr, con->host_pin);
        if (!s->host_tls)
            return;
    }
    s->host = dial(con, "xo-console-host", t->addr, t->port, t->path, s);
    xo_dbg(XO_DBG_XAPI, CON_MOD, "event=host_dial id=%s host=%s port=%d tls=%d via=%s", s->req.id,
           t->addr, t->port, t->tls, raw ? "connect" : "websocket");
    if (!s->host && !raw && strcmp(con->transport, "websocket") != 0) {
        s->raw_tried = true;
        connect_host(s);
    }
}

/* ws://host:port/path or wss://... of the command's relay URL. */
static bool parse_relay(const char *url, bool *tls, char *addr, size_t addr_size, int *port,
                        char *path, size_t path_size)
{
    const char *p, *slash, *colon;
    size_t n;

    if (!strncmp(url, "wss://", 6))
        *tls = true;
    else if (!strncmp(url, "ws://", 5))
        *tls = false;
    else
        return false;
    p = url + (*tls ? 6 : 5);
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - p) : strlen(p);
    colon = memchr(p, ':', n);
    *port = colon ? atoi(colon + 1) : (*tls ? 443 : 80);
    if (colon)
        n = (size_t)(colon - p);
    if (!n || n >= addr_size || *port <= 0 || *port > 65535)
        return false;
    snprintf(addr, addr_size, "%.*s", (int)n, p);
    snprintf(path, path_size, "%s", slash ? slash : "/");
    return true;
}

static void connect_gateway(console_session_t *s)
{
    agent_console_t *con = s->con;
    char addr[256], path[520];
    bool tls;
    int port;

    if (!parse_relay(s->req.relay, &tls, addr, sizeof(addr), &port, path, sizeof(path))) {
        report_failure(s, "RELAY_UNREACHABLE", "not a ws:// or wss:// relay URL");
        finish(s, CLOSE_FAILED, "bad relay URL");
        return;
    }
    s->state = CS_RELAY;
    snprintf(s->gw_path, sizeof(s->gw_path), "%s", path);
    snprintf(s->gw_host, sizeof(s->gw_host), "%s:%d", addr, port);
    memset(&s->gw_answer, 0, sizeof(s->gw_answer));
    ws_rx_init(&s->gw_rx);
    s->gw_sent = false;
    tls_pipe_free(s->gw_tls);
    s->gw_tls = tls ? tls_pipe_new(con->tls_gw, addr, con->gw_pin) : NULL;
    s->gw = tls && !s->gw_tls ? NULL : dial(con, "xo-console-gw", addr, port, path, s);
    if (!s->gw) {
        report_failure(s, "RELAY_UNREACHABLE", "cannot dial the gateway's relay");
        finish(s, CLOSE_FAILED, "cannot dial the gateway");
    }
}

/* ------------------------------------------------------------------ session start */

void con_session_start(agent_console_t *con, const console_req_t *req)
{
    console_session_t *s = calloc(1, sizeof(*s));

    if (!s) {
        con->report(con->report_opaque, req->id, "failure", NULL, "CONSOLE_LIMIT", "out of memory",
                    0);
        pthread_mutex_lock(&con->mu);
        con->count--;
        pthread_mutex_unlock(&con->mu);
        return;
    }
    s->con = con;
    s->serial = ++con->next_serial;
    s->req = *req;
    s->state = CS_LOOKUP;
    s->opened_ms = xo_now_ms();
    rfb_track_init(&s->track);
    s->next = con->head;
    if (con->head)
        con->head->prev = s;
    con->head = s;
    console_lookup_ask(con->lookup, s->serial, req->vm);
}

static void retry_cb(lws_sorted_usec_list_t *sul)
{
    console_session_t *s = lws_container_of(sul, console_session_t, retry);

    if (s->state == CS_REATTACH && !s->host)
        console_lookup_ask(s->con->lookup, s->serial, s->req.vm);
}

/* While the VM comes back: look again soon, or give up at the deadline. */
static void reattach_later(console_session_t *s, const char *why)
{
    char reason[124];

    if (xo_now_ms() >= s->deadline_ms) {
        snprintf(reason, sizeof(reason), "the console did not come back: %.90s", why);
        finish(s, CLOSE_ENDED, reason);
        return;
    }
    s->state = CS_REATTACH;
    lws_sul_schedule(s->con->lws, 0, &s->retry, retry_cb, CON_RETRY_MS * LWS_US_PER_MS);
}

void con_session_target(agent_console_t *con, const console_target_t *t)
{
    console_session_t *s;
    char reason[124];

    for (s = con->head; s && s->serial != t->serial; s = s->next)
        ;
    if (!s || (s->state != CS_LOOKUP && s->state != CS_REATTACH))
        return;
    if (s->state == CS_LOOKUP && t->code[0]) {
        report_failure(s, t->code, t->reason);
        s->done = true;
        maybe_free(s);
        return;
    }
    if (s->state == CS_REATTACH && t->code[0]) {
        if (!strcmp(t->code, "VM_NOT_RUNNING") || !strcmp(t->code, "UUID_INVALID")) {
            snprintf(
                reason, sizeof(reason), "%s",
                t->power[0] && strcmp(t->power, "Running")
                    ? (!strcmp(t->power, "Halted") ? "the VM halted" : "the VM stopped running")
                    : "the VM is gone");
            finish(s, CLOSE_NOT_RUNNING, reason);
        } else {
            reattach_later(s, t->reason);
        }
        return;
    }
    s->target = *t;
    s->raw_tried = false;
    if (s->state == CS_LOOKUP)
        s->state = CS_HOST;
    connect_host(s);
    if (!s->host && s->state == CS_HOST) {
        report_failure(s, "CONSOLE_UNREACHABLE", "cannot dial the host's console");
        s->done = true;
        maybe_free(s);
    } else if (!s->host) {
        reattach_later(s, "cannot dial the host's console");
    }
}

/* ------------------------------------------------------------------ splice */

static void want_gw_write(console_session_t *s)
{
    if (s->gw && s->gw_up)
        lws_callback_on_writable(s->gw);
}

static void want_host_write(console_session_t *s)
{
    if (s->host && s->host_up)
        lws_callback_on_writable(s->host);
}

/* Bytes from the host's console: observed by the tracker, queued for the client. */
static void host_bytes(console_session_t *s, const uint8_t *in, size_t len)
{
    if (s->state == CS_CLOSING || !len)
        return;
    s->idle_ticks = 0;
    rfb_track_s2c(&s->track, in, len);
    if (!q_put(&s->to_gw, in, len)) {
        finish(s, CLOSE_FAILED, "console queue overflow");
        return;
    }
    if (!s->host_paused && q_len(&s->to_gw) >= CON_QUEUE && s->host) {
        lws_rx_flow_control(s->host, 0);
        s->host_paused = true;
    }
    want_gw_write(s);
}

/* The new console's handshake, answered on the client's behalf; then the splice resumes. */
static void resume_bytes(console_session_t *s, const uint8_t *in, size_t len)
{
    uint8_t tc[64];
    size_t used = 0, out_len = 0, tc_len = 0;
    rfb_resume_status_t st;
    char reason[124];

    st = rfb_resume_feed(&s->resume, &s->track, in, len, &used, s->hs + s->hs_len,
                         sizeof(s->hs) - s->hs_len, &out_len, tc, sizeof(tc), &tc_len);
    s->hs_len += out_len;
    if (st == RFB_RESUME_FAILED) {
        snprintf(reason, sizeof(reason), "the console came back changed: %.80s", s->resume.why);
        finish(s, CLOSE_ENDED, reason);
        return;
    }
    if (out_len)
        want_host_write(s);
    if (st != RFB_RESUME_DONE)
        return;
    s->state = CS_SPLICE;
    s->reattached++;
    xo_info(CON_MOD, "event=console_resumed id=%s vm=%s host=%s via=%s reattached=%d", s->req.id,
            s->req.vm, s->target.host_uuid, s->host_raw ? "connect" : "websocket", s->reattached);
    if (tc_len && !q_put(&s->to_gw, tc, tc_len)) {
        finish(s, CLOSE_FAILED, "console queue overflow");
        return;
    }
    want_gw_write(s);
    want_host_write(s);
    host_bytes(s, in + used, len - used);
}

/* Bytes from the client (the gateway): through the tracker, queued for the host. */
static void gw_bytes(console_session_t *s, const uint8_t *in, size_t len)
{
    s->idle_ticks = 0;
    while (len > 0 && s->state != CS_CLOSING) {
        size_t cap = len + RFB_HDR_MAX + 4 * RFB_MAX_ENCODINGS + 8, used = 0, n;
        uint8_t *at = q_room(&s->to_host, cap);
        if (!at) {
            finish(s, CLOSE_FAILED, "console queue overflow");
            return;
        }
        n = rfb_track_c2s(&s->track, in, len, &used, at, cap);
        s->to_host.tail += n;
        in += used;
        len -= used;
        if (!used && !n)
            break;
    }
    if (!s->gw_paused && q_len(&s->to_host) >= CON_QUEUE && s->gw) {
        lws_rx_flow_control(s->gw, 0);
        s->gw_paused = true;
    }
    if (s->state == CS_SPLICE)
        want_host_write(s);
}

/* The host side ended: follow the VM, or end the session. */
static void host_gone(console_session_t *s, const char *why)
{
    s->host = NULL;
    s->host_up = false;
    s->host_paused = false;
    if (s->done) {
        maybe_free(s);
        return;
    }
    switch (s->state) {
    case CS_HOST:
    case CS_RELAY:
        report_failure(s, "CONSOLE_UNREACHABLE", why);
        finish(s, CLOSE_FAILED, why);
        return;
    case CS_SPLICE:
    case CS_RESUME:
        if (!s->con->follow || !rfb_track_resumable(&s->track)) {
            finish(s, CLOSE_ENDED,
                   s->con->follow ? "the console closed (the session cannot "
                                    "be resumed)"
                                  : "the console closed");
            return;
        }
        if (s->state == CS_SPLICE)
            s->deadline_ms = xo_now_ms() + s->con->reattach_ms;
        s->state = CS_PAD;
        want_gw_write(s); /* pads the update in flight, then looks the console up again */
        return;
    case CS_REATTACH:
        reattach_later(s, why);
        return;
    default:
        return;
    }
}

/* Complete the update the old host left unfinished, as room allows; then look again. */
static void pad_some(console_session_t *s)
{
    static const uint8_t zero[4096];
    size_t n;

    while (q_len(&s->to_gw) < CON_QUEUE && (n = rfb_track_s2c_padding(&s->track, 4096)) > 0) {
        rfb_track_s2c(&s->track, zero, n);
        if (!q_put(&s->to_gw, zero, n)) {
            finish(s, CLOSE_FAILED, "console queue overflow");
            return;
        }
    }
    if (!rfb_track_s2c_at_boundary(&s->track))
        return;
    s->state = CS_REATTACH;
    s->hs_len = 0;
    console_lookup_ask(s->con->lookup, s->serial, s->req.vm);
}

/* ------------------------------------------------------------------ writes */

/* The ciphertext a TLS pipe has for the socket (the handshake's, or records). */
static int flush_tls(tls_pipe_t *tls, struct lws *wsi)
{
    uint8_t buf[LWS_PRE + 16384];
    size_t n;

    while (tls && (n = tls_pipe_out(tls, buf + LWS_PRE, sizeof(buf) - LWS_PRE)) > 0)
        if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
            return -1;
    return 0;
}

/* Bytes onto a connection: as they are, or through its TLS pipe. */
static int conn_send(tls_pipe_t *tls, struct lws *wsi, uint8_t *data, size_t n)
{
    if (!tls)
        return lws_write(wsi, data, n, LWS_WRITE_RAW) < (int)n ? -1 : 0;
    if (tls_pipe_tx(tls, data, n) < 0)
        return -1;
    return flush_tls(tls, wsi);
}

/* One WebSocket frame of @p n payload bytes at @p data (which has WS_HDR_MAX writable bytes
 * before it, LWS_PRE of headroom or bytes already sent): the header goes there, and the
 * payload is masked in place when @p mask is not all zero. */
static int write_frame(tls_pipe_t *tls, struct lws *wsi, uint8_t *data, size_t n, uint8_t opcode,
                       const uint8_t mask[4])
{
    uint8_t hdr[WS_HDR_MAX];
    size_t h = ws_frame_header(hdr, opcode, n, mask);

    if (mask[0] | mask[1] | mask[2] | mask[3])
        ws_mask(data, n, mask);
    memcpy(data - h, hdr, h);
    return conn_send(tls, wsi, data - h, h + n);
}

static void random_mask(uint8_t mask[4])
{
    if (RAND_bytes(mask, 4) != 1)
        for (int i = 0; i < 4; i++)
            mask[i] = (uint8_t)rand();
}

/* The upgrade request on a raw connection. */
static int write_upgrade(tls_pipe_t *tls, struct lws *wsi, const char *host, const char *path,
                         const char *protocol, const char *extra)
{
    uint8_t buf[LWS_PRE + 2048];
    size_t n = ws_client_request((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE, host, path, protocol,
                                 extra);
    int rc = n ? conn_send(tls, wsi, buf + LWS_PRE, n) : -1;

    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

static int gw_writeable(console_session_t *s, struct lws *wsi)
{
    static const uint8_t zero_mask[4];
    size_t n = q_len(&s->to_gw) < CON_CHUNK ? q_len(&s->to_gw) : CON_CHUNK;
    char auth[96];
    int rc;

    if (flush_tls(s->gw_tls, wsi) < 0)
        return -1;
    if (s->gw_tls && !tls_pipe_ready(s->gw_tls))
        return 0;      /* the TLS handshake first */
    if (!s->gw_sent) { /* the upgrade, with the ticket */
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", s->req.ticket);
        s->gw_sent = true;
        rc = write_upgrade(s->gw_tls, wsi, s->gw_host, s->gw_path, "xo-console-relay", auth);
        OPENSSL_cleanse(auth, sizeof(auth));
        return rc;
    }
    if (!s->gw_up)
        return 0;
    if (n) {
        /* to the gateway: the all-zero mask, which it does not XOR (ws_client.h) */
        if (write_frame(s->gw_tls, wsi, s->to_gw.buf + LWS_PRE + s->to_gw.head, n, 2, zero_mask) <
            0)
            return -1;
        q_consume(&s->to_gw, n);
        s->bytes_to_client += n;
    }
    if (s->host_paused && s->host && q_len(&s->to_gw) <= CON_QUEUE / 2) {
        lws_rx_flow_control(s->host, 1);
        s->host_paused = false;
    }
    if (s->state == CS_PAD)
        pad_some(s);
    if (q_len(&s->to_gw)) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (s->state != CS_CLOSING)
        return 0;
    { /* a close frame with the code and reason the browser will see */
        uint8_t buf[LWS_PRE + WS_HDR_MAX + 2 + sizeof(s->close_reason)];
        size_t len = strlen(s->close_reason);
        uint8_t *p = buf + LWS_PRE + WS_HDR_MAX;
        p[0] = (uint8_t)(s->close_code >> 8);
        p[1] = (uint8_t)s->close_code;
        memcpy(p + 2, s->close_reason, len);
        write_frame(s->gw_tls, wsi, p, len + 2, 8, zero_mask);
    }
    return -1;
}

/* CONNECT <path> HTTP/1.0 with the session cookie: XAPI's console over a raw socket. */
static int write_connect(console_session_t *s, struct lws *wsi)
{
    uint8_t buf[LWS_PRE + 1024];
    int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE,
                     "CONNECT %s HTTP/1.0\r\nHost: %s\r\nCookie: session_id=%s\r\n\r\n",
                     s->target.path, s->target.addr, s->target.session);

    if (n <= 0 || (size_t)n >= sizeof(buf) - LWS_PRE)
        return -1;
    n = conn_send(s->host_tls, wsi, buf + LWS_PRE, (size_t)n);
    OPENSSL_cleanse(buf, sizeof(buf));
    return n;
}

/* The request that opens the host's console: WebSocket upgrade, or CONNECT. */
static int write_host_request(console_session_t *s, struct lws *wsi)
{
    char cookie[200];
    int rc;

    s->raw_sent = true;
    if (s->host_raw)
        return write_connect(s, wsi);
    snprintf(cookie, sizeof(cookie), "Cookie: session_id=%s", s->target.session);
    rc = write_upgrade(s->host_tls, wsi, s->target.addr, s->target.path, "binary", cookie);
    OPENSSL_cleanse(cookie, sizeof(cookie));
    return rc;
}

/* Bytes for the host: as they are after CONNECT, one masked frame each over WebSocket. */
static int host_send(console_session_t *s, struct lws *wsi, uint8_t *data, size_t n)
{
    uint8_t mask[4];

    if (s->host_raw)
        return conn_send(s->host_tls, wsi, data, n);
    random_mask(mask);
    return write_frame(s->host_tls, wsi, data, n, 2, mask);
}

static int host_writeable(console_session_t *s, struct lws *wsi)
{
    size_t n;

    if (flush_tls(s->host_tls, wsi) < 0)
        return -1;
    if (s->host_tls && !tls_pipe_ready(s->host_tls))
        return 0; /* the TLS handshake first */
    if (!s->raw_sent)
        return write_host_request(s, wsi);
    if (!s->host_up)
        return 0;
    if (s->hs_len) { /* the resumed handshake goes before anything the client queued */
        uint8_t buf[LWS_PRE + WS_HDR_MAX + sizeof(s->hs)];
        memcpy(buf + LWS_PRE + WS_HDR_MAX, s->hs, s->hs_len);
        if (host_send(s, wsi, buf + LWS_PRE + WS_HDR_MAX, s->hs_len) < 0)
            return -1;
        s->bytes_to_host += s->hs_len;
        s->hs_len = 0;
    }
    if (s->state != CS_SPLICE)
        return 0;
    n = q_len(&s->to_host) < CON_HOST_CHUNK ? q_len(&s->to_host) : CON_HOST_CHUNK;
    if (n) {
        if (host_send(s, wsi, s->to_host.buf + LWS_PRE + s->to_host.head, n) < 0)
            return -1;
        q_consume(&s->to_host, n);
        s->bytes_to_host += n;
    }
    if (s->gw_paused && s->gw && q_len(&s->to_host) <= CON_QUEUE / 2) {
        lws_rx_flow_control(s->gw, 1);
        s->gw_paused = false;
    }
    if (q_len(&s->to_host))
        lws_callback_on_writable(wsi);
    return 0;
}

/* ------------------------------------------------------------------ host up */

static void host_established(console_session_t *s)
{
    s->host_up = true;
    if (s->state == CS_HOST) {
        connect_gateway(s);
        return;
    }
    if (s->state == CS_REATTACH) {
        s->state = CS_RESUME;
        rfb_resume_init(&s->resume);
    }
}

static console_session_t *session_of(struct lws *wsi)
{
    return lws_get_opaque_user_data(wsi);
}

/* A host connection failed before it was up: try CONNECT after the WebSocket. */
static void host_failed(console_session_t *s, struct lws *wsi, const char *why)
{
    if (s->host != wsi)
        return;
    s->host = NULL;
    lws_set_opaque_user_data(wsi, NULL);
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    if (!s->host_raw && strcmp(s->con->transport, "websocket") != 0 && !s->done) {
        xo_dbg(XO_DBG_XAPI, CON_MOD, "event=host_websocket_failed id=%s reason=\"%s\"", s->req.id,
               why);
        s->raw_tried = true;
        connect_host(s);
        if (s->host)
            return;
    }
    host_gone(s, why);
}

/* RFB from the host: to the resumed handshake, or to the splice. */
static bool host_payload(void *opaque, const uint8_t *data, size_t len)
{
    console_session_t *s = opaque;

    if (s->state == CS_RESUME)
        resume_bytes(s, data, len);
    else
        host_bytes(s, data, len);
    return s->host != NULL && s->state != CS_CLOSING;
}

/* Bytes from the host's connection: its answer first, then RFB (in frames or not). */
static void host_rx(console_session_t *s, struct lws *wsi, uint8_t *in, size_t len)
{
    size_t used = 0;
    char why[96];
    int st;

    if (!s->host_up) {
        st = ws_answer_feed(&s->host_answer, in, len, &used);
        if (st == 0)
            return;
        if (st < 0 || s->host_answer.status != (s->host_raw ? 200 : 101)) {
            snprintf(why, sizeof(why), "%s refused: HTTP %d", s->host_raw ? "CONNECT" : "upgrade",
                     s->host_answer.status);
            host_failed(s, wsi, why);
            return;
        }
        host_established(s);
        in += used;
        len -= used;
    }
    if (!len)
        return;
    if (s->host_raw) {
        host_payload(s, in, len);
        return;
    }
    if (ws_rx_feed(&s->host_rx, in, len, host_payload, s) < 0 || s->host_rx.closed) {
        drop_host(s);
        host_gone(s, s->host_rx.closed ? "the console closed" : "bad frames from the console");
    }
}

static bool host_plain(void *opaque, uint8_t *data, size_t len)
{
    console_session_t *s = opaque;
    struct lws *wsi = s->host;

    if (!wsi)
        return false;
    host_rx(s, wsi, data, len);
    return s->host == wsi;
}

/* Bytes from the host's socket: through its TLS pipe first when there is one. */
static int host_raw_rx(console_session_t *s, struct lws *wsi, uint8_t *in, size_t len)
{
    char why[200];

    if (!s->host_tls) {
        host_rx(s, wsi, in, len);
        return 0;
    }
    if (tls_pipe_rx(s->host_tls, in, len, host_plain, s, why, sizeof(why)) < 0) {
        if (s->host == wsi && !s->host_up)
            host_failed(s, wsi, why);
        else if (s->host == wsi)
            host_gone(s, why);
        return 0;
    }
    if (s->host == wsi) /* handshake bytes to send, or the request once it is done */
        lws_callback_on_writable(wsi);
    return 0;
}

static int host_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    console_session_t *s = session_of(wsi);

    if (!s && reason != LWS_CALLBACK_WSI_DESTROY)
        return reason == LWS_CALLBACK_RAW_WRITEABLE ? -1 : 0;
    switch (reason) {
    case LWS_CALLBACK_RAW_CONNECTED: /* plain */
    case LWS_CALLBACK_RAW_ADOPT:     /* after TLS */
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return host_raw_rx(s, wsi, in, len);
    case LWS_CALLBACK_RAW_WRITEABLE:
        return host_writeable(s, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        host_failed(s, wsi, in ? (const char *)in : "cannot connect to the console");
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (s->host != wsi)
            return 0;
        if (!s->host_up)
            host_failed(s, wsi, "the console closed the connection");
        else
            host_gone(s, "the console closed the connection");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (s && s->host == wsi)
            host_gone(s, "the console connection ended");
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void gw_closed(console_session_t *s, struct lws *wsi, const char *why)
{
    if (s->gw != wsi)
        return;
    s->gw = NULL;
    s->gw_up = false;
    s->gw_paused = false;
    lws_set_opaque_user_data(wsi, NULL);
    if (!s->published_open && !s->done) {
        bool refused = s->gw_answer.status == 403;
        report_failure(s, refused ? "RELAY_REFUSED" : "RELAY_UNREACHABLE", why);
    } else if (!s->close_reason[0]) {
        snprintf(s->close_reason, sizeof(s->close_reason), "%s", why);
    }
    s->done = true;
    drop_host(s);
    maybe_free(s);
}

static bool gw_payload(void *opaque, const uint8_t *data, size_t len)
{
    gw_bytes(opaque, data, len);
    return true;
}

/* Bytes from the gateway: its answer to the upgrade, then frames from the browser. */
static int gw_rx(console_session_t *s, struct lws *wsi, uint8_t *in, size_t len)
{
    size_t used = 0;
    char why[96];
    int st;

    if (!s->gw_up) {
        st = ws_answer_feed(&s->gw_answer, in, len, &used);
        if (st == 0)
            return 0;
        if (st < 0 || s->gw_answer.status != 101) {
            snprintf(why, sizeof(why), "the gateway refused the relay: HTTP %d",
                     s->gw_answer.status);
            gw_closed(s, wsi, why);
            return -1;
        }
        s->gw_up = true;
        s->state = CS_SPLICE;
        report_open(s);
        want_gw_write(s);
        want_host_write(s);
        in += used;
        len -= used;
    }
    if (len && ws_rx_feed(&s->gw_rx, in, len, gw_payload, s) < 0)
        return -1;
    if (s->gw_rx.closed) {
        if (!s->close_reason[0])
            snprintf(s->close_reason, sizeof(s->close_reason), "%s",
                     s->gw_rx.close_reason[0] ? s->gw_rx.close_reason : "the client left");
        return -1;
    }
    return 0;
}

typedef struct {
    console_session_t *s;
    struct lws *wsi;
    int rc;
} gw_plain_t;

static bool gw_plain(void *opaque, uint8_t *data, size_t len)
{
    gw_plain_t *g = opaque;

    g->rc = gw_rx(g->s, g->wsi, data, len);
    return g->rc == 0;
}

/* Bytes from the gateway's socket: through its TLS pipe first when there is one. */
static int gw_raw_rx(console_session_t *s, struct lws *wsi, uint8_t *in, size_t len)
{
    gw_plain_t g = {s, wsi, 0};
    char why[200];

    if (!s->gw_tls)
        return gw_rx(s, wsi, in, len);
    if (tls_pipe_rx(s->gw_tls, in, len, gw_plain, &g, why, sizeof(why)) < 0) {
        gw_closed(s, wsi, why);
        return -1;
    }
    if (g.rc == 0 && s->gw == wsi)
        lws_callback_on_writable(wsi);
    return g.rc;
}

static int gw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    console_session_t *s = session_of(wsi);

    if (!s && reason != LWS_CALLBACK_WSI_DESTROY)
        return reason == LWS_CALLBACK_RAW_WRITEABLE ? -1 : 0;
    switch (reason) {
    case LWS_CALLBACK_RAW_CONNECTED:
    case LWS_CALLBACK_RAW_ADOPT:
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return gw_raw_rx(s, wsi, in, len);
    case LWS_CALLBACK_RAW_WRITEABLE:
        return gw_writeable(s, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        gw_closed(s, wsi, in ? (const char *)in : "cannot connect to the gateway");
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        gw_closed(s, wsi, "the client left");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (s && s->gw == wsi)
            gw_closed(s, wsi, "the gateway connection ended");
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

void con_sessions_close_all(agent_console_t *con, int code, const char *reason)
{
    console_session_t *s = con->head, *next;

    for (; s; s = next) {
        next = s->next;
        if (s->state != CS_CLOSING)
            finish(s, code, reason);
    }
}

void con_protocols(struct lws_protocols *out, const struct lws_protocols *core)
{
    memset(out, 0, sizeof(*out) * (CON_PROTOCOLS + 1));
    out[0] = *core;
    out[1] = (struct lws_protocols){
        .name = "xo-console-host", .callback = host_callback, .rx_buffer_size = CON_RX};
    out[2] = (struct lws_protocols){
        .name = "xo-console-gw", .callback = gw_callback, .rx_buffer_size = CON_RX};
}
