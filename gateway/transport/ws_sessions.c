/*
 * ws_sessions.c - WebSocket sessions, their outbound queues, notification fan-out,
 * deferred answers, and each connection's limits and deadlines (see ws_sessions.h). Never
 * blocks: the notifier's batch and the commands' answers are taken when the listener is
 * woken, and a client that does not read costs at most its budget, then its connection.
 */
#include "transport/ws_sessions.h"

#include <stdlib.h>
#include <string.h>

#include "api/api_rpc.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define MOD   "http"
#define CHUNK (64 * 1024) /* bytes written per writeable callback */
/* a session that missed its sign-in and was asked to close is reset this long after */
#define EXPIRE_GRACE_MS 2000

_Static_assert(GW_MSG_PRE >= LWS_PRE, "GW_MSG_PRE must cover LWS_PRE");

struct gw_ws_qnode {
    gw_msg_t *m;
    bool answer; /* the answer to a call (in flight until written) */
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
    s->budget.queued = s->off = s->answers = 0;
}

static void count_closed(gw_ctx_t *ctx, gw_close_reason_t why)
{
    if (ctx->metrics)
        gw_metrics_count_closed(ctx->metrics, why);
}

/* Over a limit: close now, writable or not, and free what was queued for it. */
static void drop(gw_ws_sessions_t *all, gw_ws_session_t *s, gw_close_reason_t why, size_t incoming)
{
    xo_warn(MOD,
            "event=client_dropped reason=%s addr=%s user=\"%s\" queued_bytes=%zu "
            "incoming_bytes=%zu limit=%zu",
            why == GW_CLOSE_QUEUE ? "queue" : "stalled", s->sess.addr,
            s->sess.user ? s->sess.user->email : "", s->budget.queued, incoming, s->budget.limit);
    count_closed(all->ctx, why);
    queue_free(s);
    s->dropped = true;
    gw_conn_close_now(s->wsi);
}

/* Read the connection only while it has fewer calls in flight than allowed. */
static void follow_flow(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    bool busy = s->answers + s->deferred >= all->ctx->limits.max_calls_in_flight;

    if (s->dropped || busy == s->paused)
        return;
    s->paused = busy;
    lws_rx_flow_control(s->wsi, busy ? 0 : 1);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    gw_ws_sessions_t *all = lws_container_of(sul, gw_ws_sessions_t, tick);

    gw_fair_lock(all->ctx->service_lock); /* a timer: not a locked callback (endpoint.h) */
    gw_ws_sessions_sweep(all, gw_mono_ms());
    gw_fair_unlock(all->ctx->service_lock);
    lws_sul_schedule(all->lws, 0, &all->tick, tick_cb, GW_WS_SWEEP_MS * LWS_US_PER_MS);
}

void gw_ws_sessions_start(gw_ws_sessions_t *all, gw_ctx_t *ctx, struct lws_context *lws)
{
    all->ctx = ctx;
    all->lws = lws;
    gw_buf_init(&all->gather);
    gw_write_turns_init(&all->turns, 0, 0);
    all->parked = all->waiting = 0;
    all->wait_head = all->wait_tail = NULL;
    lws_sul_schedule(lws, 0, &all->tick, tick_cb, GW_WS_SWEEP_MS * LWS_US_PER_MS);
}

void gw_ws_sessions_stop(gw_ws_sessions_t *all)
{
    if (all->lws)
        lws_sul_cancel(&all->tick);
    all->lws = NULL;
    gw_buf_fini(&all->gather);
}

void gw_ws_session_open(gw_ws_sessions_t *all, gw_ws_session_t *s, struct lws *wsi, uint64_t conn)
{
    memset(s, 0, sizeof(*s));
    s->wsi = wsi;
    s->sess.conn = conn;
    s->open = true;
    gw_conn_budget_init(&s->budget, all->ctx->limits.client_queue_bytes);
    s->signin_due = gw_mono_ms() + (int64_t)all->ctx->timeouts.signin_s * 1000;
    gw_buf_init(&s->rx);
    lws_get_peer_simple(wsi, s->sess.addr, sizeof(s->sess.addr));
    s->next = all->head;
    if (all->head)
        all->head->prev = s;
    all->head = s;
    all->ctx->ws_clients++;
    xo_dbg(XO_DBG_WS, MOD, "event=ws_open addr=%s clients=%zu", s->sess.addr, all->ctx->ws_clients);
}

/* The waiting queue (write_turns.h): sessions that want a turn, not armed, first first. */
static void wait_turn(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    if (s->waiting)
        return;
    s->waiting = true;
    s->wnext = NULL;
    s->wprev = all->wait_tail;
    if (all->wait_tail)
        all->wait_tail->wnext = s;
    else
        all->wait_head = s;
    all->wait_tail = s;
    all->waiting++;
}

static void unwait(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    if (!s->waiting)
        return;
    if (s->wprev)
        s->wprev->wnext = s->wnext;
    else
        all->wait_head = s->wnext;
    if (s->wnext)
        s->wnext->wprev = s->wprev;
    else
        all->wait_tail = s->wprev;
    s->waiting = false;
    s->wnext = s->wprev = NULL;
    all->waiting--;
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
    if (s->parked)
        all->parked--;
    s->parked = false;
    unwait(all, s);
    all->ctx->ws_clients--;
    s->open = false;
    xo_dbg(XO_DBG_WS, MOD, "event=ws_close addr=%s clients=%zu", s->sess.addr,
           all->ctx->ws_clients);
}

void gw_ws_session_send(gw_ws_sessions_t *all, gw_ws_session_t *s, gw_msg_t *m, bool answer)
{
    gw_ws_qnode_t *n;

    if (s->dropped || s->expired)
        return;
    if (!gw_conn_budget_fits(&s->budget, m->len)) {
        drop(all, s, GW_CLOSE_QUEUE, m->len);
        return;
    }
    n = malloc(sizeof(*n));
    if (!n) {
        drop(all, s, GW_CLOSE_QUEUE, m->len);
        return;
    }
    gw_msg_ref(m);
    n->m = m;
    n->answer = answer;
    n->next = NULL;
    if (s->tail)
        s->tail->next = n;
    else
        s->head = n;
    s->tail = n;
    if (s->budget.queued == 0)
        s->waiting_since = gw_mono_ms(); /* the send deadline starts with the first byte */
    gw_conn_budget_take(&s->budget, m->len);
    s->answers += answer;
    follow_flow(all, s);
    if (answer || !(s->parked || s->waiting)) /* else armed in its turn (write_turns.h) */
        lws_callback_on_writable(s->wsi);
}

void gw_ws_session_called(gw_ws_sessions_t *all, gw_ws_session_t *s, bool deferred)
{
    s->deferred += deferred;
    if (s->sess.user)
        s->signin_due = 0;
    else if (!s->signin_due) /* signed out (or its token expired): the clock runs again */
        s->signin_due = gw_mono_ms() + (int64_t)all->ctx->timeouts.signin_s * 1000;
    follow_flow(all, s);
}

/* The head message is written: pop it (its answer is no longer in flight; a notification's
 * age is observed, the last hop inside the gateway). */
static void pop_head(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    gw_ws_qnode_t *n = s->head;

    if (n->m->ts_ms && all->ctx->metrics)
        gw_metrics_observe_written(all->ctx->metrics, (double)(xo_now_ms() - n->m->ts_ms),
                                   n->m->items);
    s->head = n->next;
    if (!s->head)
        s->tail = NULL;
    s->off = 0;
    s->answers -= n->answer;
    gw_msg_unref(n->m);
    free(n);
    follow_flow(all, s);
}

/* Bytes written: the send deadline restarts, the budget is given back. */
static void count_written(gw_ws_session_t *s, size_t len)
{
    s->waiting_since = gw_mono_ms();
    gw_conn_budget_give(&s->budget, len);
}

size_t gw_ws_frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81; /* FIN, text */
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* Bytes of the queue's whole messages, from the head, that fit in one CHUNK with their
 * frame headers; 0 when fewer than two do (one message is written in place instead). */
static size_t gather_count(const gw_ws_session_t *s, size_t *bytes)
{
    size_t n = 0, total = 0;

    for (const gw_ws_qnode_t *q = s->head; q; q = q->next) {
        size_t framed = q->m->len + 10;
        if (total + framed > CHUNK)
            break;
        total += framed;
        n++;
    }
    *bytes = total;
    return n >= 2 ? n : 0;
}

/* A client behind by several messages gets them in one send(): their frames (header and
 * payload) copied one after another into the listener's scratch buffer and written raw.
 * One system call instead of one per message is what lets the service thread keep up with
 * many clients (the kernel's per-call cost dominates small messages on loopback).
 * @returns 1 when it wrote, 0 when the head is written by write_chunk, -1 to close. */
static int write_gathered(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    size_t bytes = 0, n = s->off == 0 ? gather_count(s, &bytes) : 0;
    gw_buf_t *g = &all->gather;
    gw_ws_qnode_t *q = s->head;
    int wrote;

    if (n == 0)
        return 0;
    gw_buf_reset(g);
    if (!gw_buf_reserve(g, bytes))
        return 0; /* no memory for the copy: one message at a time still works */
    for (size_t i = 0; i < n; i++, q = q->next) {
        unsigned char h[10];
        gw_buf_append(g, h, gw_ws_frame_header(h, q->m->len));
        gw_buf_append(g, q->m->data, q->m->len);
    }
    /* lws copies whatever the socket does not take at once and sends it before anything
     * else on this connection, so frames are never interleaved */
    wrote = lws_write(s->wsi, (unsigned char *)g->data, g->len, LWS_WRITE_RAW);
    if (wrote < (int)g->len)
        return -1;
    if (all->ctx->metrics)
        gw_metrics_count_gathered(all->ctx->metrics, n);
    for (size_t i = 0; i < n; i++) {
        count_written(s, s->head->m->len);
        pop_head(all, s);
    }
    return 1;
}

/* Write one chunk of the head message; pop it once complete. */
static int write_chunk(gw_ws_sessions_t *all, gw_ws_session_t *s)
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
    count_written(s, len);
    if (s->off == n->m->len)
        pop_head(all, s);
    return 0;
}

static void park(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    if (s->parked)
        return;
    s->parked = true;
    all->parked++;
}

/* Whether this writeable callback may write now; if not, it is armed again when its turn
 * can come: next pass (an answer over the pass's answer time), from the waiting queue
 * (over the budget, or the pass yields), or next round (parked). Only the first two cost a
 * callback per pass, and the queue arms only about as many as a pass serves. */
static bool take_turn(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    switch (gw_write_turn(&all->turns, &s->turn, s->head->answer, (uint64_t)gw_mono_us())) {
    case GW_TURN_WRITE:
        return true;
    case GW_TURN_PARK:
        park(all, s);
        return false;
    case GW_TURN_WAIT:
        wait_turn(all, s);
        return false;
    default:
        lws_callback_on_writable(s->wsi);
        return false;
    }
}

void gw_ws_sessions_pass_end(gw_ws_sessions_t *all, bool accepted)
{
    gw_turns_next_t next = gw_write_turns_pass_end(&all->turns, accepted, all->waiting);

    for (size_t i = 0; i < next.arm && all->wait_head; i++) {
        gw_ws_session_t *s = all->wait_head;
        unwait(all, s);
        lws_callback_on_writable(s->wsi);
    }
    if (!next.new_round || !all->parked)
        return;
    for (gw_ws_session_t *s = all->head; s; s = s->next)
        if (s->parked) {
            s->parked = false;
            lws_callback_on_writable(s->wsi);
        }
    all->parked = 0;
}

int gw_ws_session_write(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    if (s->dropped)
        return -1;
    if (s->expired) {
        lws_close_reason(s->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         (unsigned char *)"sign-in timeout", 15);
        return -1;
    }
    if (!s->head || !take_turn(all, s))
        return 0;
    switch (write_gathered(all, s)) {
    case -1:
        return -1;
    case 0:
        if (write_chunk(all, s) < 0)
            return -1;
        break;
    default:
        break;
    }
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

/* Stamp the batch's messages with its mean record timestamp and their share of its changes:
 * their age when written, weighted as the queued latency is (per change). */
static void stamp_batch(const gw_notify_out_t *out)
{
    int64_t base = out->ts && out->items ? out->ts[0] : 0, delta = 0;
    uint32_t share = out->nmsgs ? (uint32_t)(out->items / out->nmsgs) : 0;

    for (size_t i = 0; base && i < out->items; i++)
        delta += out->ts[i] - base;
    for (size_t i = 0; base && i < out->nmsgs; i++) {
        out->msgs[i]->ts_ms = base + delta / (int64_t)out->items;
        out->msgs[i]->items = share ? share : 1;
    }
}

void gw_ws_sessions_flush(gw_ws_sessions_t *all)
{
    gw_notify_out_t out;
    size_t bytes = 0;

    if (!gw_notify_take(all->ctx->notify, &out))
        return;
    stamp_batch(&out);
    for (gw_ws_session_t *s = all->head; s; s = s->next) {
        if (!gw_session_active(all->ctx, &s->sess))
            continue; /* signed-in sessions only: not one whose token expired or was deleted */
        for (size_t i = 0; i < out.nmsgs; i++)
            gw_ws_session_send(all, s, out.msgs[i], false);
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
    if (s->deferred > 0)
        s->deferred--;
    gw_buf_init_pre(&out, GW_MSG_PRE);
    gw_rpc_write_reply(&out, r);
    m = out.failed ? NULL : gw_msg_from_buf(&out);
    if (!m) {
        gw_buf_fini(&out);
        follow_flow(all, s);
        return;
    }
    gw_ws_session_send(all, s, m, true);
    gw_msg_unref(m);
    follow_flow(all, s);
}

/* Not signed in by its deadline: close it with 1008 (from its writeable callback), or
 * reset it when that did not happen within EXPIRE_GRACE_MS. */
static void expire(gw_ws_sessions_t *all, gw_ws_session_t *s, int64_t now)
{
    if (s->expired) {
        if (now >= s->signin_due + EXPIRE_GRACE_MS)
            gw_conn_close_now(s->wsi);
        return;
    }
    xo_info(MOD, "event=ws_signin_timeout addr=%s limit_s=%d", s->sess.addr,
            all->ctx->timeouts.signin_s);
    count_closed(all->ctx, GW_CLOSE_SIGNIN);
    queue_free(s);
    s->expired = true;
    lws_callback_on_writable(s->wsi);
}

void gw_ws_sessions_sweep(gw_ws_sessions_t *all, int64_t now)
{
    int64_t send_ms = (int64_t)all->ctx->timeouts.send_s * 1000;

    for (gw_ws_session_t *s = all->head; s; s = s->next) {
        if (s->dropped)
            continue;
        if (s->signin_due && now >= s->signin_due)
            expire(all, s, now);
        else if (s->head && now - s->waiting_since >= send_ms)
            drop(all, s, GW_CLOSE_STALLED, 0);
    }
}
