/*
 * endpoint_jsonrpc.c - the JSON-RPC WebSocket endpoint at /api/ (xo-lib's): admits a
 * connection (path, request size, limits.max_clients), assembles each client message
 * (bounded by limits.max_frame_bytes), hands it to the API layer (gw_rpc_handle) and
 * queues the answer. Its sessions, queues, limits, deadlines and notification fan-out are
 * ws_sessions.c's; JSON-RPC itself is api_rpc.c's. Service thread only; never blocks.
 */
#include <string.h>

#include "api/api_rpc.h"
#include "transport/endpoint.h"
#include "transport/http_status.h"
#include "transport/ws_sessions.h"
#include "xo_log.h"

#define MOD "http"

static bool is_api_path(struct lws *wsi)
{
    char uri[256];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return false;
    return !strcmp(uri, "/api/") || !strcmp(uri, "/api");
}

/* The upgrade: /api/ only, within the request size limits, and no more than
 * limits.max_clients at once. */
static int admit(gw_ctx_t *ctx, struct lws *wsi)
{
    if (!is_api_path(wsi)) {
        xo_dbg(XO_DBG_WS, MOD, "event=ws_refused reason=path");
        return -1;
    }
    if (gw_http_check_size(wsi, ctx->limits.max_url_bytes, ctx->limits.max_header_bytes)) {
        xo_dbg(XO_DBG_WS, MOD, "event=ws_refused reason=oversized");
        return -1;
    }
    if (ctx->ws_clients >= ctx->limits.max_clients) {
        xo_warn(MOD, "event=ws_refused reason=max_clients limit=%zu", ctx->limits.max_clients);
        return -1;
    }
    return 0;
}

/* Commands submitted so far: a call that submits one waits for its outcome. */
static uint64_t submitted(gw_ctx_t *ctx)
{
    gw_cmd_stats_t st;
    gw_commands_stats(ctx->commands, &st);
    return st.submitted;
}

/* Answer one complete client message. */
static int answer(gw_ws_sessions_t *all, gw_ws_session_t *s)
{
    uint64_t before = submitted(all->ctx);
    gw_buf_t reply;
    gw_msg_t *m;
    bool deferred;

    gw_buf_init_pre(&reply, GW_MSG_PRE);
    gw_rpc_handle(all->ctx, &s->sess, s->rx.data ? s->rx.data : "", s->rx.len, &reply);
    gw_buf_reset(&s->rx);
    if (s->rx.cap > 65536)
        gw_buf_fini(&s->rx); /* do not keep a big buffer for every idle client */
    deferred = reply.len == 0 && submitted(all->ctx) > before;
    gw_ws_session_called(all, s, deferred);
    if (reply.len == 0) {
        gw_buf_fini(&reply); /* a notification, or an answer deferred to its command */
        return 0;
    }
    m = gw_msg_from_buf(&reply);
    if (!m)
        return -1;
    gw_ws_session_send(all, s, m, true);
    gw_msg_unref(m);
    return 0;
}

/* A fragment of a client message; the whole message is answered once complete. */
static int receive(gw_ws_sessions_t *all, gw_ws_session_t *s, const void *in, size_t len)
{
    size_t max = all->ctx->limits.max_frame_bytes;

    if (s->dropped || s->expired)
        return 0; /* closing: what it still sends is not read */
    if (s->rx.len + len > max) {
        xo_warn(MOD, "event=ws_message_too_big addr=%s bytes=%zu limit=%zu", s->sess.addr,
                s->rx.len + len, max);
        lws_close_reason(s->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                         (unsigned char *)"message too big", 15);
        return -1;
    }
    gw_buf_append(&s->rx, in, len);
    if (s->rx.failed)
        return -1;
    if (!lws_is_final_fragment(s->wsi) || lws_remaining_packet_payload(s->wsi) > 0)
        return 0;
    return answer(all, s);
}

static int init(struct lws *wsi)
{
    gw_ws_sessions_t *all =
        lws_protocol_vh_priv_zalloc(lws_get_vhost(wsi), lws_get_protocol(wsi), sizeof(*all));
    gw_transport_t *t = gw_transport_of(wsi);

    if (!all || !t)
        return -1;
    gw_ws_sessions_start(all, t->ctx, lws_get_context(wsi));
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_ws_sessions_t *all = reason == LWS_CALLBACK_PROTOCOL_INIT
                                ? NULL
                                : gw_endpoint_state(wsi, gw_endpoint_jsonrpc.protocol.name);
    gw_ws_session_t *s = user;

    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        return init(wsi);
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        if (all)
            gw_ws_sessions_stop(all);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return all ? admit(all->ctx, wsi) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        gw_ws_session_open(all, s, wsi, gw_transport_conn(gw_transport_of(wsi)));
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return receive(all, s, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_ws_session_write(all, s);
    case LWS_CALLBACK_CLOSED:
        if (all && s)
            gw_ws_session_close(all, s);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void wake(void *state)
{
    gw_ws_sessions_flush(state);
}

static void serviced(void *state, bool accepted)
{
    if (state)
        gw_ws_sessions_pass_end(state, accepted);
}

static void deliver(void *state, const gw_cmd_reply_t *r)
{
    gw_ws_sessions_deliver(state, r);
}

static const char *const WS_PATHS[] = {"/api", NULL}; /* admit() wants /api/ exactly */

const gw_endpoint_t gw_endpoint_jsonrpc = {
    .protocol = {.name = "xo-api",
                 .callback = callback,
                 .per_session_data_size = sizeof(gw_ws_session_t),
                 .rx_buffer_size = 65536},
    .mounts = NULL,
    .ws_paths = WS_PATHS,
    .wake = wake,
    .serviced = serviced,
    .replies = GW_CMD_WAIT_WS,
    .deliver = deliver,
};
