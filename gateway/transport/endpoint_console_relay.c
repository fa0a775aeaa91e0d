/*
 * endpoint_console_relay.c - the agents' side of a console: a WebSocket upgrade on
 * /api/console-relay/<id> (subprotocol xo-console-relay) carrying `Authorization: Bearer
 * <ticket>`, the single-use ticket of one console.open command. Nothing else is accepted:
 * no ticket, a spent, expired or unknown one, or one of another console is refused with
 * 403 before the upgrade (console_hub.c decides). Once admitted, the connection is spliced
 * with its browser. Service thread only.
 */
#include <string.h>

#include "transport/console_hub.h"
#include "transport/endpoint.h"
#include "xo_log.h"

#define MOD    "console"
#define PREFIX "/api/console-relay/"

/* 414 or 431 for a request over limits.max_url_bytes or limits.max_header_bytes, else 0. */
static int oversized(struct lws *wsi)
{
    const gw_transport_t *t = gw_transport_of(wsi);

    return t ? gw_http_check_size(wsi, t->ctx->limits.max_url_bytes,
                                  t->ctx->limits.max_header_bytes)
             : 0;
}

static int admit(gw_console_hub_t *h, struct lws *wsi, gw_relay_conn_t *rc)
{
    char uri[512], auth[256] = "", addr[64] = "";
    const char *ticket = "";
    gw_console_refusal_t r;
    char *id;
    int size;

    if ((size = oversized(wsi))) /* before the path: a long one does not fit uri[] */
        return gw_endpoint_refuse_upgrade(wsi, size, gw_http_reason(size));
    if (!h || !rc || lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        strncmp(uri, PREFIX, strlen(PREFIX)) != 0)
        return gw_endpoint_refuse_upgrade(wsi, 404, "no relay at this path");
    id = uri + strlen(PREFIX);
    id[strcspn(id, "?#")] = '\0';
    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
        !strncasecmp(auth, "Bearer ", 7))
        ticket = auth + 7;
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    if (gw_console_relay_admit(h, id, ticket, rc, &r)) {
        memset(auth, 0, sizeof(auth));
        return 0;
    }
    memset(auth, 0, sizeof(auth));
    xo_warn(MOD, "event=relay_refused addr=%s vm=\"%.64s\" why=%s reason=\"%s\"", addr, id, r.why,
            r.reason);
    if (gw_transport_of(wsi) && gw_transport_of(wsi)->ctx->metrics)
        gw_metrics_console_refused(gw_transport_of(wsi)->ctx->metrics, r.why);
    memset(rc, 0, sizeof(*rc));
    return gw_endpoint_refuse_upgrade(wsi, r.status, r.reason);
}

/* The agent's close frame: its code and reason go to the browser. */
static void peer_close(gw_relay_conn_t *rc, const unsigned char *in, size_t len)
{
    if (!rc || len < 2)
        return;
    rc->close_code = in[0] << 8 | in[1];
    len -= 2;
    if (len >= sizeof(rc->close_reason))
        len = sizeof(rc->close_reason) - 1;
    memcpy(rc->close_reason, in + 2, len);
    rc->close_reason[len] = '\0';
}

static int writeable(gw_console_hub_t *h, gw_relay_conn_t *rc, struct lws *wsi)
{
    static const char left[] = "the client left";

    if (h && rc && rc->c)
        return gw_console_relay_writeable(h, rc);
    /* an upload's agent must not take a cut body for a whole one: 1000 is its end */
    lws_close_reason(wsi, rc && rc->upload ? GW_CLOSE_FAILED : LWS_CLOSE_STATUS_NORMAL,
                     (unsigned char *)left, sizeof(left) - 1);
    return -1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_console_hub_t *h = reason == LWS_CALLBACK_PROTOCOL_INIT ? NULL : gw_console_hub_of(wsi);
    gw_relay_conn_t *rc = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return admit(h, wsi, rc);
    case LWS_CALLBACK_ESTABLISHED:
        if (h)
            gw_console_relay_open(h, rc, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (h)
            gw_console_from_relay(h, rc, in, len);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        peer_close(rc, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return writeable(h, rc, wsi);
    case LWS_CALLBACK_CLOSED:
        if (h && rc)
            gw_console_relay_closed(h, rc, rc->close_code, rc->close_reason);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const char *const WS_PATHS[] = {PREFIX, NULL};

const gw_endpoint_t gw_endpoint_console_relay = {
    .protocol = {.name = GW_RELAY_PROTOCOL,
                 .callback = callback,
                 .per_session_data_size = sizeof(gw_relay_conn_t),
                 .rx_buffer_size = GW_CONSOLE_RX},
    .mounts = NULL,
    .ws_paths = WS_PATHS,
};
