/*
 * http_server.c - the listener: one libwebsockets context and vhost on http.address:port
 * (optional TLS), built from the ENDPOINTS table: one lws protocol per endpoint, its HTTP
 * mounts, and which one takes WebSocket upgrades naming no subprotocol (see endpoint.h).
 * Its own protocol, first in the list, turns a wake-up from another thread into each
 * endpoint's wake() and the command bus's service step (a periodic timer runs that step
 * too, so commands time out while nothing else happens), and answers what no endpoint
 * serves: CONNECT and unknown methods (405/501, then closed). The deadlines libwebsockets
 * keeps itself (connection and headers, keep-alive) and its header table are set here from
 * the settings; the endpoints keep the others. Never blocks on Kafka.
 */
#include "transport/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_rpc.h"
#include "transport/endpoint.h"
#include "transport/http_status.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define SWEEP_US (100 * LWS_US_PER_MS) /* command expiry sweep period */

/* What the listener serves: a new endpoint is one more line (and its module). */
static const gw_endpoint_t *const ENDPOINTS[] = {&gw_endpoint_jsonrpc,  &gw_endpoint_rest,
                                                 &gw_endpoint_console,  &gw_endpoint_console_relay,
                                                 &gw_endpoint_download, &gw_endpoint_static};
#define NEP        (sizeof(ENDPOINTS) / sizeof(ENDPOINTS[0]))
#define MAX_MOUNTS 16

/* libwebsockets parses headers into one table per request: this many times
 * limits.max_header_bytes (plus the target), so a request somewhat over the limits is
 * still parsed and answered 414/431; past the table, lws 4.1 can only close it. */
#define HEADER_TABLE_FACTOR 4
#define ALLOWED_METHODS     "GET, POST, PUT, PATCH, DELETE"

struct gw_http {
    gw_transport_t shared; /* the vhost's user pointer: what endpoints see */
    struct lws_context *lws;
    struct lws_vhost *vhost;
    struct lws_protocols protocols[NEP + 2]; /* ours, the endpoints', the terminator */
    struct lws_http_mount mounts[MAX_MOUNTS];
    struct lws_protocol_vhost_options ws_default, ws_default_opt; /* the listener's own */
    struct lws_token_limits token_limits;
    lws_sorted_usec_list_t sweep;
    bool accepted; /* a connection was accepted in this service pass */
    atomic_bool stop;
    int port;
};

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

/* ---- the service steps ---- */

static void *endpoint_state(gw_http_t *h, size_t i)
{
    return lws_protocol_vh_priv_get(h->vhost, &h->protocols[i + 1]);
}

/* A command's outcome: to the endpoint that answers its kind of waiter. */
static void deliver(void *opaque, const gw_cmd_reply_t *r)
{
    gw_http_t *h = opaque;

    for (size_t i = 0; i < NEP; i++)
        if (ENDPOINTS[i]->deliver && ENDPOINTS[i]->replies == r->waiter->kind)
            ENDPOINTS[i]->deliver(endpoint_state(h, i), r);
}

static void service_commands(gw_http_t *h)
{
    gw_commands_service(h->shared.ctx->commands, xo_now_ms(), gw_vm_id_of, h->shared.ctx);
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    gw_http_t *h = lws_container_of(sul, gw_http_t, sweep);
    service_commands(h);
    lws_sul_schedule(h->lws, 0, &h->sweep, sweep_cb, SWEEP_US);
}

/* Woken by another thread (gw_http_wake): notifications, then command outcomes. */
static void on_wake(gw_http_t *h)
{
    for (size_t i = 0; i < NEP; i++)
        if (ENDPOINTS[i]->wake)
            ENDPOINTS[i]->wake(endpoint_state(h, i));
    service_commands(h);
}

static gw_http_t *listener_of(struct lws *wsi)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    struct lws_context *c;

    if (vh && lws_vhost_user(vh))
        return lws_vhost_user(vh);
    c = lws_get_context(wsi);
    return c ? lws_context_user(c) : NULL;
}

/* libwebsockets hands over as raw bytes what it will not serve as HTTP: a CONNECT (after
 * its headers) and a request line with an unknown method (option
 * FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG). Answer it, then close: a raw connection would
 * otherwise stay open with no deadline at all. */
static int refuse_raw(struct lws *wsi, const void *in, size_t len)
{
    static const char CONNECT[] = "CONNECT ";
    bool connect = len >= sizeof(CONNECT) - 1 && !memcmp(in, CONNECT, sizeof(CONNECT) - 1);
    char out[LWS_PRE + 512], addr[64];
    size_t n = gw_http_format_answer(connect ? 405 : 501, connect ? ALLOWED_METHODS : NULL,
                                     out + LWS_PRE, sizeof(out) - LWS_PRE);

    lws_get_peer_simple(wsi, addr, sizeof(addr));
    xo_dbg(XO_DBG_WS, "http", "event=http_refused reason=%s addr=%s",
           connect ? "connect" : "method", addr);
    lws_write(wsi, (unsigned char *)out + LWS_PRE, n, LWS_WRITE_RAW);
    shutdown(lws_get_socket_fd(wsi), SHUT_WR); /* the answer, then end of stream */
    return -1;
}

/* ---- WebSocket upgrades naming no subprotocol: routed by path (endpoint.h) ---- */

/* The listener's per-connection data: which endpoint a routed connection belongs to (index
 * + 1, 0: none), then that endpoint's own per-connection data. */
typedef struct {
    uint32_t route;
} route_t;
#define ROUTE_HDR 16 /* the endpoint's data starts here, aligned */
#define ROUTED(r) ((void *)((unsigned char *)(r) + ROUTE_HDR))

static size_t routed_data_size(void)
{
    size_t n = 0;

    for (size_t i = 0; i < NEP; i++)
        if (ENDPOINTS[i]->ws_paths && ENDPOINTS[i]->protocol.per_session_data_size > n)
            n = ENDPOINTS[i]->protocol.per_session_data_size;
    return ROUTE_HDR + n;
}

static size_t routed_rx_size(void)
{
    size_t n = 0;

    for (size_t i = 0; i < NEP; i++)
        if (ENDPOINTS[i]->ws_paths && ENDPOINTS[i]->protocol.rx_buffer_size > n)
            n = ENDPOINTS[i]->protocol.rx_buffer_size;
    return n;
}

/* The endpoint with the longest ws_paths prefix of the upgrade's path, or -1. */
static int route_of(struct lws *wsi)
{
    char uri[512];
    size_t best = 0;
    int found = -1;

    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    for (size_t i = 0; i < NEP; i++)
        for (size_t k = 0; ENDPOINTS[i]->ws_paths && ENDPOINTS[i]->ws_paths[k]; k++) {
            size_t n = strlen(ENDPOINTS[i]->ws_paths[k]);
            if (n > best && !strncmp(uri, ENDPOINTS[i]->ws_paths[k], n)) {
                best = n;
                found = (int)i;
            }
        }
    return found;
}

/* An upgrade that named no subprotocol: pick its endpoint and let that one filter it. */
static int route_upgrade(struct lws *wsi, route_t *r, void *in, size_t len)
{
    int i;

    if (in && *(const char *)in)
        return -1; /* it named this protocol: nothing to talk to */
    i = r ? route_of(wsi) : -1;
    if (i < 0)
        return gw_endpoint_refuse_upgrade(wsi, 404, "no WebSocket endpoint at this path");
    r->route = (uint32_t)i + 1;
    return ENDPOINTS[i]->protocol.callback(wsi, LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, ROUTED(r),
                                           in, len);
}

/* The listener's own protocol: wake-ups, HTTP that no endpoint mounts, what is not HTTP,
 * and the routed WebSocket connections. Every connection starts bound to it, until a mount
 * or a WebSocket upgrade naming a subprotocol binds an endpoint. */
static int core_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    /* protocol 0 also gets context-wide callbacks, and callbacks of connections bound to
     * another protocol, whose `user` is not ours: only a connection bound here is routed */
    const struct lws_protocols *bound = wsi ? lws_get_protocol(wsi) : NULL;
    route_t *r = bound && bound->callback == core_callback && user && user == lws_wsi_user(wsi)
                     ? user
                     : NULL;
    gw_http_t *h;

    if (r && r->route && reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return ENDPOINTS[r->route - 1]->protocol.callback(wsi, reason, ROUTED(r), in, len);
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        h = listener_of(wsi);
        if (h && h->vhost)
            on_wake(h);
        return 0;
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: /* accepted: its request comes next pass */
        h = listener_of(wsi);
        if (h)
            h->accepted = true;
        return 0;
    case LWS_CALLBACK_RAW_ADOPT: /* the answer follows with the bytes (RAW_RX) */
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 1);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return refuse_raw(wsi, in, len);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return route_upgrade(wsi, r, in, len);
    case LWS_CALLBACK_HTTP:
        if (gw_http_answer(wsi, HTTP_STATUS_NOT_FOUND, false))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- set-up ---- */

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

/* Insert a mount keeping the chain shortest first: lws lets the last matching callback
 * mount win, so this order makes the most specific mount win. */
static void add_mount(gw_http_t *h, size_t *n, const char *point, const char *protocol)
{
    size_t len = strlen(point), at = *n;

    while (at > 0 && h->mounts[at - 1].mountpoint_len > len)
        at--;
    memmove(&h->mounts[at + 1], &h->mounts[at], (*n - at) * sizeof(h->mounts[0]));
    memset(&h->mounts[at], 0, sizeof(h->mounts[0]));
    h->mounts[at].mountpoint = point;
    h->mounts[at].mountpoint_len = (unsigned char)len;
    h->mounts[at].origin = protocol;
    h->mounts[at].origin_protocol = LWSMPRO_CALLBACK;
    (*n)++;
}

/* protocols[0] is the listener's; then one per endpoint; their mounts, chained. */
static void build_routes(gw_http_t *h, struct lws_context_creation_info *info)
{
    size_t nm = 0;

    h->protocols[0] = (struct lws_protocols){.name = "xo-core",
                                             .callback = core_callback,
                                             .per_session_data_size = routed_data_size(),
                                             .rx_buffer_size = routed_rx_size()};
    for (size_t i = 0; i < NEP; i++) {
        const gw_endpoint_t *ep = ENDPOINTS[i];
        h->protocols[i + 1] = ep->protocol;
        for (size_t m = 0; ep->mounts && ep->mounts[m] && nm < MAX_MOUNTS; m++)
            add_mount(h, &nm, ep->mounts[m], ep->protocol.name);
    }
    /* lws: per-vhost option "default" names the protocol of upgrades without one: ours */
    h->ws_default_opt = (struct lws_protocol_vhost_options){NULL, NULL, "default", ""};
    h->ws_default =
        (struct lws_protocol_vhost_options){NULL, &h->ws_default_opt, h->protocols[0].name, ""};
    info->pvo = &h->ws_default;
    for (size_t m = 0; m + 1 < nm; m++)
        h->mounts[m].mount_next = &h->mounts[m + 1];
    info->protocols = h->protocols;
    info->mounts = nm ? &h->mounts[0] : NULL;
}

/* Cut a target or a header libwebsockets knows just above its limit, rather than filling
 * the header table with it: the request then still parses and gets its 414/431. */
static void set_token_limits(gw_http_t *h, const gw_limits_t *l)
{
    static const enum lws_token_indexes TARGETS[] = {
        WSI_TOKEN_GET_URI,         WSI_TOKEN_POST_URI,     WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_PUT_URI,
        WSI_TOKEN_PATCH_URI,       WSI_TOKEN_DELETE_URI,   WSI_TOKEN_HEAD_URI,    WSI_TOKEN_CONNECT,
        WSI_TOKEN_HTTP_COLON_PATH, WSI_TOKEN_HTTP_URI_ARGS};
    size_t header = l->max_header_bytes + 1 < 65535 ? l->max_header_bytes + 1 : 65535;
    size_t target = l->max_url_bytes + 1 < 65535 ? l->max_url_bytes + 1 : 65535;

    for (int t = 0; t < WSI_TOKEN_COUNT; t++)
        h->token_limits.token_limit[t] = (unsigned short)header;
    for (size_t i = 0; i < sizeof(TARGETS) / sizeof(TARGETS[0]); i++)
        h->token_limits.token_limit[TARGETS[i]] = (unsigned short)target;
}

/* The deadlines libwebsockets keeps: connection to first byte and to the end of the
 * headers, TLS handshake (timeout_secs, timeout_secs_ah_idle), idle keep-alive. */
static void set_limits(gw_http_t *h, struct lws_context_creation_info *info)
{
    const gw_ctx_t *ctx = h->shared.ctx;

    info->timeout_secs = (unsigned int)ctx->timeouts.headers_s;
    info->timeout_secs_ah_idle = (unsigned int)ctx->timeouts.headers_s;
    info->keepalive_timeout = ctx->timeouts.keepalive_s;
    info->max_http_header_data2 =
        (unsigned int)(ctx->limits.max_url_bytes +
                       HEADER_TABLE_FACTOR * ctx->limits.max_header_bytes);
    set_token_limits(h, &ctx->limits);
    info->token_limits = &h->token_limits;
}

static void fill_info(gw_http_t *h, struct lws_context_creation_info *info, const char *address,
                      int port, const char *tls_cert, const char *tls_key)
{
    memset(info, 0, sizeof(*info));
    info->port = port;
    info->iface = address;
    info->user = &h->shared;
    info->vhost_name = "xo-gateway";
    /* unknown methods go to the raw handler (core_callback) to be answered 501 */
    info->options =
        LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
    /* one read per service turn takes at most this: consoles stream megabytes (per thread) */
    info->pt_serv_buf_size = GW_HTTP_READ_MAX + LWS_PRE;
    set_limits(h, info);
    if (tls_cert && *tls_cert) {
        info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info->ssl_cert_filepath = tls_cert;
        info->ssl_private_key_filepath = tls_key;
    }
    build_routes(h, info);
}

xo_err_t gw_http_new(gw_ctx_t *ctx, const char *address, int port, const char *tls_cert,
                     const char *tls_key, gw_http_t **out, char *errstr, size_t errstr_size)
{
    struct lws_context_creation_info info;
    bool tls = tls_cert && *tls_cert;
    gw_http_t *h;
    xo_err_t err;

    if (port > 0) {
        err = check_port_free(address, port, errstr, errstr_size);
        if (err != XO_OK)
            return err;
    }
    if (tls != (tls_key && *tls_key))
        return xo_seterr(errstr, errstr_size, XO_ERR_TLS,
                         "http.tls_cert and http.tls_key must be set together");
    h = calloc(1, sizeof(*h));
    if (!h)
        return XO_ERR_NOMEM;
    h->shared.ctx = ctx;
    atomic_init(&h->stop, false);
    lws_set_log_level(LLL_ERR | LLL_WARN | (xo_log_debug_mask & XO_DBG_WS ? LLL_NOTICE : 0),
                      lws_log);
    fill_info(h, &info, address, port, tls_cert, tls_key);
    h->lws = lws_create_context(&info);
    if (!h->lws) {
        free(h);
        return xo_seterr(errstr, errstr_size, tls ? XO_ERR_TLS : XO_ERR_IO,
                         "cannot listen on %s:%d%s (see the lws log lines above)", address, port,
                         tls ? " with TLS" : "");
    }
    h->vhost = lws_get_vhost_by_name(h->lws, "xo-gateway");
    h->port = h->vhost ? lws_get_vhost_listen_port(h->vhost) : port;
    if (ctx->commands) {
        gw_commands_set_reply(ctx->commands, deliver, h);
        lws_sul_schedule(h->lws, 0, &h->sweep, sweep_cb, SWEEP_US);
    }
    *out = h;
    return XO_OK;
}

/* One service pass is over: the endpoints' per-pass budgets start again; after an accept,
 * the next pass should leave the new connection's request as little to wait for as it can
 * (it is polled after every connection already open). */
static void on_pass_end(gw_http_t *h)
{
    bool accepted = h->accepted;

    h->accepted = false;
    if (!h->vhost)
        return;
    for (size_t i = 0; i < NEP; i++)
        if (ENDPOINTS[i]->serviced)
            ENDPOINTS[i]->serviced(endpoint_state(h, i), accepted);
}

void gw_http_run(gw_http_t *h)
{
    while (!atomic_load(&h->stop)) {
        if (lws_service(h->lws, 0) < 0)
            break;
        on_pass_end(h);
    }
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
