/*
 * endpoint_console.c - the console endpoint: a WebSocket upgrade on /api/consoles/<id>
 * (a VM's or a VM-controller's id), as xo-server serves it to xo-web and noVNC. Admits or
 * refuses the upgrade with an HTTP status (console_hub.c decides), answers the `binary`
 * subprotocol when offered (it is this protocol's name; an upgrade naming none is routed
 * here by path, endpoint.h), then relays raw RFB in binary frames both ways. Never parses
 * RFB. Service thread only.
 */
#include <string.h>

#include "transport/console_hub.h"
#include "transport/endpoint.h"
#include "xo_log.h"

#define MOD    "console"
#define PREFIX "/api/consoles/"

/* 414 or 431 for a request over limits.max_url_bytes or limits.max_header_bytes, else 0. */
static int oversized(struct lws *wsi)
{
    const gw_transport_t *t = gw_transport_of(wsi);

    return t ? gw_http_check_size(wsi, t->ctx->limits.max_url_bytes,
                                  t->ctx->limits.max_header_bytes)
             : 0;
}

/* The upgrade: path, cookie, user, VM, state, agent, limits; refused with an HTTP status. */
static int admit(gw_console_hub_t *h, struct lws *wsi, gw_console_t *c)
{
    char uri[512], cookie[4096] = "", addr[64] = "";
    gw_console_refusal_t r;
    char *id;
    int size;

    if ((size = oversized(wsi))) /* before the path: a long one does not fit uri[] */
        return gw_endpoint_refuse_upgrade(wsi, size, gw_http_reason(size));
    if (!h || !c || lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        strncmp(uri, PREFIX, strlen(PREFIX)) != 0)
        return gw_endpoint_refuse_upgrade(wsi, 404, "no console at this path");
    id = uri + strlen(PREFIX);
    id[strcspn(id, "?#")] = '\0';
    if (lws_hdr_copy(wsi, cookie, sizeof(cookie), WSI_TOKEN_HTTP_COOKIE) < 0)
        cookie[0] = '\0';
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    if (gw_console_admit(h, id, cookie, addr, c, &r))
        return 0;
    xo_info(MOD, "event=console_refused addr=%s vm=\"%.64s\" status=%d why=%s reason=\"%s\"", addr,
            id, r.status, r.why, r.reason);
    if (gw_transport_of(wsi) && gw_transport_of(wsi)->ctx->metrics)
        gw_metrics_console_refused(gw_transport_of(wsi)->ctx->metrics, r.why);
    memset(c, 0, sizeof(*c));
    return gw_endpoint_refuse_upgrade(wsi, r.status, r.reason);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_console_hub_t *h =
        reason == LWS_CALLBACK_PROTOCOL_INIT ? NULL : gw_endpoint_state(wsi, GW_CONSOLE_PROTOCOL);
    gw_console_t *c = user;

    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        return gw_transport_of(wsi) && gw_console_hub_init(wsi, gw_transport_of(wsi)->ctx) ? 0 : -1;
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        gw_console_hub_fini(h);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return admit(h, wsi, c);
    case LWS_CALLBACK_ESTABLISHED:
        gw_console_open(h, c, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        gw_console_from_client(h, c, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_console_client_writeable(h, c);
    case LWS_CALLBACK_CLOSED:
        if (h && c)
            gw_console_client_closed(h, c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void deliver(void *state, const gw_cmd_reply_t *r)
{
    if (state)
        gw_console_deliver(state, r);
}

static const char *const WS_PATHS[] = {PREFIX, NULL};

const gw_endpoint_t gw_endpoint_console = {
    .protocol = {.name = GW_CONSOLE_PROTOCOL,
                 .callback = callback,
                 .per_session_data_size = sizeof(gw_console_t),
                 .rx_buffer_size = GW_CONSOLE_RX},
    .mounts = NULL,
    .ws_paths = WS_PATHS,
    .wake = NULL,
    .replies = GW_CMD_WAIT_CONSOLE,
    .deliver = deliver,
};
