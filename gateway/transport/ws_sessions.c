/*
 * ws_sessions.c - WebSocket sessions, their outbound queues, notification fan-out and
 * deferred answers (see ws_sessions.h). Never blocks: the notifier's batch and the
 * commands' answers are taken when the listener is woken, and a slow client costs a
 * bounded queue, then its connection.
 */
#include "transport/ws_sessions.h"

#include <stdlib.h>
#include <string.h>

#include "api/api_rpc.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define MOD   "http"
#define CHUNK (64 * 1024) /* bytes written per writeable callback */

_Static_assert(GW_MSG_PRE >= LWS_PRE, "GW_MSG_PRE must cover LWS_PRE");

struct gw_ws_qnode {
    gw_msg_t *m;
    struct gw_ws_qnode *next;
};

static void queue_free(gw_ws_session_t *s)
{
    gw_ws_qnode_t *n = s->head;
    while (n) {
        gw_ws_qnode_t *next = n->next;
        gw_msg_unref(n->m);
        free(n);
        n = next;
    }
    s->head = s->tail = NULL;
    s->qbytes = s->off = 0;
}

/* Mark the session dropped: lws calls it writeable, where it is closed. */
static void drop(gw_ws_session_t *s)
{
    s->closing = true;
    lws_callback_on_writable(s->wsi);
}

void gw_ws_session_open(gw_ws_sessions_t *all, gw_ws_session_t *s, struct lws *wsi, uint64_t conn)
{
    memset(s, 0, sizeof(*s));
    s->wsi = wsi;
    s->sess.conn = conn;
    s->open = true;
    gw_buf_init(&s->rx);
    lws_get_peer_simple(wsi, s->sess.addr, sizeof(s->sess.addr));
    s->next = all->head;
    if (all->head)
        all->head->prev = s;
    all->head = s;
    all->ctx->ws_clients++;
    xo_dbg(XO_DBG_WS, MOD, "event=ws_open addr=%s clients=%zu", s->sess.addr, all->ctx->ws_clients);
}

void gw_ws_session_close(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    if (!s->open)
        return;
    gw_session_set_user(all->ctx, &s->sess, NULL, 0);
    gw_commands_forget_conn(all->ctx->commands, s->sess.conn);
    if (s->prev)
        s->prev->next = s->next;
    else
        all->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    queue_free(s);
    gw_buf_fini(&s->rx);
    all->ctx->ws_clients--;
    s->open = false;
    xo_dbg(XO_DBG_WS, MOD, "event=ws_close addr=%s clients=%zu", s->sess.addr,
           all->ctx->ws_clients);
}

void gw_ws_session_send(gw_ws_sessions_t *all, gw_ws_session_t *s, gw_msg_t *m, bool notification)
{
    size_t limit = all->ctx->limits.client_queue_bytes;
    gw_ws_qnode_t *n;

    if (s->closing)
        return;
    if (notification && s->qbytes + m->len > limit) {
        xo_warn(MOD,
                "event=client_dropped reason=slow addr=%s user=\"%s\" queued_bytes=%zu "
                "limit=%zu",
                s->sess.addr, s->sess.user ? s->sess.user->email : "", s->qbytes, limit);
        if (all->ctx->metrics)
            gw_metrics_count_dropped_client(all->ctx->metrics);
        drop(s);
        return;
    }
    n = malloc(sizeof(*n));
    if (!n) {
        drop(s);
        return;
    }
    gw_msg_ref(m);
    n->m = m;
    n->next = NULL;
    if (s->tail)
        s->tail->next = n;
    else
        s->head = n;
    s->tail = n;
    s->qbytes += m->len;
    lws_callback_on_writable(s->wsi);
}

/* Write one chunk of the head message; pop it once complete. */
static int write_chunk(gw_ws_session_t *s)
{
    gw_ws_qnode_t *n = s->head;
    unsigned char saved[LWS_PRE] = {0}, *buf;
    size_t left = n->m->len - s->off, len = left > CHUNK ? CHUNK : left;
    enum lws_write_protocol flags = lws_write_ws_flags(LWS_WRITE_TEXT, s->off == 0, len == left);
    int wrote;

    /* lws writes its frame header into the LWS_PRE bytes before the pointer: the message's
     * reserved head for the first chunk, payload bytes for the next ones. The message is
     * shared by every client, and others may still have those bytes to send: save and
     * restore them (lws copies whatever it cannot send at once, so this is safe). */
    buf = (unsigned char *)n->m->data + s->off;
    if (s->off > 0)
        memcpy(saved, buf - LWS_PRE, LWS_PRE);
    wrote = lws_write(s->wsi, buf, len, flags);
    if (s->off > 0)
        memcpy(buf - LWS_PRE, saved, LWS_PRE);
    if (wrote < (int)len)
        return -1;
    s->off += len;
    if (s->off < n->m->len)
        return 0;
    s->head = n->next;
    if (!s->head)
        s->tail = NULL;
    s->qbytes -= n->m->len;
    s->off = 0;
    gw_msg_unref(n->m);
    free(n);
    return 0;
}

int gw_ws_session_write(gw_ws_session_t *s)
{
    if (s->closing) {
        lws_close_reason(s->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"too slow", 8);
        return -1;
    }
    if (!s->head)
        return 0;
    if (write_chunk(s) < 0)
        return -1;
    if (s->head)
        lws_callback_on_writable(s->wsi);
    return 0;
}

static void count_flush(gw_ctx_t *ctx, const gw_notify_out_t *out, size_t bytes)
{
    int64_t now = xo_now_ms();

    if (!ctx->metrics)
        return;
    gw_metrics_count_notification(ctx->metrics, out->nmsgs, bytes);
    for (size_t i = 0; out->ts && i < out->items; i++)
        gw_metrics_observe_latency(ctx->metrics, (double)(now - out->ts[i]));
}

void gw_ws_sessions_flush(gw_ws_sessions_t *all)
{
    gw_notify_out_t out;
    size_t bytes = 0;

    if (!gw_notify_take(all->ctx->notify, &out))
        return;
    for (gw_ws_session_t *s = all->head; s; s = s->next) {
        if (!gw_session_active(all->ctx, &s->sess))
            continue; /* signed-in sessions only: not one whose token expired or was deleted */
        for (size_t i = 0; i < out.nmsgs; i++)
            gw_ws_session_send(all, s, out.msgs[i], true);
    }
    for (size_t i = 0; i < out.nmsgs; i++)
        bytes += out.msgs[i]->len;
    count_flush(all->ctx, &out, bytes);
    xo_dbg(XO_DBG_WS, MOD, "event=flush items=%zu messages=%zu bytes=%zu", out.items, out.nmsgs,
           bytes);
    gw_notify_out_fini(&out);
}

void gw_ws_sessions_deliver(gw_ws_sessions_t *all, const gw_cmd_reply_t *r)
{
    gw_ws_session_t *s = all->head;
    gw_buf_t out;
    gw_msg_t *m;

    while (s && s->sess.conn != r->waiter->conn)
        s = s->next;
    if (!s)
        return; /* the client left: nobody to answer */
    gw_buf_init_pre(&out, GW_MSG_PRE);
    gw_rpc_write_reply(&out, r);
    m = out.failed ? NULL : gw_msg_from_buf(&out);
    if (!m) {
        gw_buf_fini(&out);
        return;
    }
    gw_ws_session_send(all, s, m, false);
    gw_msg_unref(m);
}
