/*
 * http_server.c - the listener on http.address:port (optional TLS). Each of its service
 * threads runs one libwebsockets context with one vhost (a `side`), built from the
 * ENDPOINTS table: one lws protocol per endpoint it serves, their HTTP mounts, and which
 * one takes WebSocket upgrades naming no subprotocol (see endpoint.h). One side serves
 * everything, or, split (http.session_thread, plain HTTP), the sessions side serves the
 * JSON-RPC endpoint and the HTTP side the others, while acceptor.c owns the listening
 * socket and hands each connection to its side. A side's own protocol, first in its
 * list, turns a wake-up from another thread into its endpoints' wake(), adopts the
 * connections handed to it, delivers the command replies queued for it and, on the side
 * that runs the command bus, its service step (a periodic timer runs that step too, so
 * commands time out while nothing else happens); it answers what no endpoint serves:
 * CONNECT and unknown methods (405/501, then closed). The deadlines libwebsockets keeps
 * itself (connection and headers, keep-alive) and its header table are set here from the
 * settings; the endpoints keep the others. Never blocks on Kafka.
 */
#include "transport/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api_rpc.h"
#include "transport/acceptor.h"
#include "transport/endpoint.h"
#include "transport/http_status.h"
#include "transport/reply_queue.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define SWEEP_US (100 * LWS_US_PER_MS) /* command expiry sweep period */

/* What the listener serves: a new endpoint is one more line (and its module). */
static const gw_endpoint_t *const ENDPOINTS[] = {&gw_endpoint_jsonrpc,  &gw_endpoint_rest,
                                                 &gw_endpoint_console,  &gw_endpoint_console_relay,
                                                 &gw_endpoint_download, &gw_endpoint_static};
#define NEP         (sizeof(ENDPOINTS) / sizeof(ENDPOINTS[0]))
#define MAX_MOUNTS  16
#define SESSIONS_EP (&gw_endpoint_jsonrpc) /* what the sessions side serves, split */

/* The acceptor peeks at most this much of a request head: enough for any request line
 * and upgrade the limits let through; a longer head goes over with its request line. */
#define HEAD_PEEK_BYTES (16 * 1024)
#define MAX_WAITING     1024 /* connections the acceptor classifies at once */

/* libwebsockets parses headers into one table per request: this many times
 * limits.max_header_bytes (plus the target), so a request somewhat over the limits is
 * still parsed and answered 414/431; past the table, lws 4.1 can only close it. */
#define HEADER_TABLE_FACTOR 4
#define ALLOWED_METHODS     "GET, POST, PUT, PATCH, DELETE"

/* One service thread's context: the endpoints it serves and what it was handed. */
typedef struct side {
    gw_transport_t shared; /* first: the vhost's user pointer, what endpoints see */
    gw_http_t *h;
    const gw_endpoint_t *eps[NEP];
    size_t nep;
    bool runs_commands; /* the command bus's service step and its sweep timer run here */
    struct lws_context *lws;
    struct lws_vhost *vhost;
    struct lws_protocols protocols[NEP + 2]; /* ours, the endpoints', the terminator */
    struct lws_http_mount mounts[MAX_MOUNTS];
    struct lws_protocol_vhost_options ws_default, ws_default_opt; /* the side's own */
    struct lws_token_limits token_limits;
    lws_sorted_usec_list_t sweep;
    bool accepted;            /* a connection was accepted in this service pass */
    gw_reply_queue_t replies; /* command replies pushed by the other thread */
    pthread_mutex_t handed_mu;
    int *handed; /* descriptors the acceptor handed over, to adopt (under handed_mu) */
    size_t nhanded, handed_cap;
    pthread_t thread;
    bool thread_started;
} side_t;

struct gw_http {
    side_t http;      /* everything, or all but the JSON-RPC sessions (split) */
    side_t *sessions; /* the JSON-RPC sessions' side: &h->http when not split */
    side_t sessions_side;
    gw_acceptor_t *acceptor; /* split only */
    gw_fair_lock_t lock;     /* split only: the two sides' turns (ctx->service_lock) */
    uint64_t serials;        /* connection serials, both sides */
    atomic_bool stop;
    int port;
    char *test_stall_file; /* gw_http_settings_t; NULL: never stall */
};

static _Thread_local side_t *running_side; /* the side this thread serves, if any */

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

static bool is_split(const gw_http_t *h)
{
    return h->sessions != &h->http;
}

static void *endpoint_state(side_t *sd, size_t i)
{
    return lws_protocol_vh_priv_get(sd->vhost, &sd->protocols[i + 1]);
}

/* The side whose endpoint answers a kind of waiter, and that endpoint's index there. */
static side_t *side_of_waiter(gw_http_t *h, gw_cmd_wait_t kind, size_t *index)
{
    side_t *sides[] = {&h->http, h->sessions};

    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < sides[s]->nep; i++)
            if (sides[s]->eps[i]->deliver && sides[s]->eps[i]->replies == kind) {
                *index = i;
                return sides[s];
            }
    return NULL;
}

/* A command's outcome, on the side it is for. */
static void deliver_here(void *opaque, const gw_cmd_reply_t *r)
{
    side_t *sd = opaque;
    size_t i;

    if (side_of_waiter(sd->h, r->waiter->kind, &i) == sd)
        sd->eps[i]->deliver(endpoint_state(sd, i), r);
}

/* A command's outcome, from whichever side ran the bus: delivered now if the waiting
 * connection is this thread's, else copied to its side, which is woken. */
static void deliver(void *opaque, const gw_cmd_reply_t *r)
{
    gw_http_t *h = opaque;
    size_t i;
    side_t *sd = side_of_waiter(h, r->waiter->kind, &i);

    if (!sd)
        return;
    if (sd == running_side || !is_split(h)) {
        sd->eps[i]->deliver(endpoint_state(sd, i), r);
        return;
    }
    if (gw_reply_queue_push(&sd->replies, r))
        lws_cancel_service(sd->lws);
    else
        xo_warn("http", "event=reply_lost reason=out_of_memory command=%s", r->command_id);
}

static void service_commands(side_t *sd)
{
    gw_ctx_t *ctx = sd->shared.ctx;
    gw_commands_service(ctx->commands, xo_now_ms(), gw_vm_id_of, ctx);
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    side_t *sd = lws_container_of(sul, side_t, sweep);

    gw_fair_lock(sd->shared.ctx->service_lock);
    service_commands(sd);
    gw_fair_unlock(sd->shared.ctx->service_lock);
    lws_sul_schedule(sd->lws, 0, &sd->sweep, sweep_cb, SWEEP_US);
}

/* The connections the acceptor handed to this side: into its context, where libwebsockets
 * reads their requests (the bytes the acceptor peeked are still in the socket). */
static void adopt_handed(side_t *sd)
{
    int *fds;
    size_t n;

    pthread_mutex_lock(&sd->handed_mu);
    fds = sd->handed;
    n = sd->nhanded;
    sd->handed = NULL;
    sd->nhanded = sd->handed_cap = 0;
    pthread_mutex_unlock(&sd->handed_mu);
    for (size_t i = 0; i < n; i++)
        if (lws_adopt_socket_vhost(sd->vhost, fds[i])) /* else closed by lws */
            sd->accepted = true;
    free(fds);
}

/* Woken by another thread (gw_http_wake*, the acceptor, the other side): connections to
 * adopt, notifications, command outcomes. */
static void on_wake(side_t *sd)
{
    adopt_handed(sd);
    for (size_t i = 0; i < sd->nep; i++)
        if (sd->eps[i]->wake)
            sd->eps[i]->wake(endpoint_state(sd, i));
    gw_reply_queue_drain(&sd->replies, deliver_here, sd);
    if (sd->runs_commands)
        service_commands(sd);
}

static side_t *side_of(struct lws *wsi)
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

/* The side's per-connection data: which of its endpoints a routed connection belongs to
 * (index + 1, 0: none), then that endpoint's own per-connection data. */
typedef struct {
    uint32_t route;
} route_t;
#define ROUTE_HDR 16 /* the endpoint's data starts here, aligned */
#define ROUTED(r) ((void *)((unsigned char *)(r) + ROUTE_HDR))

static size_t routed_data_size(const side_t *sd)
{
    size_t n = 0;

    for (size_t i = 0; i < sd->nep; i++)
        if (sd->eps[i]->ws_paths && sd->eps[i]->protocol.per_session_data_size > n)
            n = sd->eps[i]->protocol.per_session_data_size;
    return ROUTE_HDR + n;
}

static size_t routed_rx_size(const side_t *sd)
{
    size_t n = 0;

    for (size_t i = 0; i < sd->nep; i++)
        if (sd->eps[i]->ws_paths && sd->eps[i]->protocol.rx_buffer_size > n)
            n = sd->eps[i]->protocol.rx_buffer_size;
    return n;
}

/* The side's endpoint with the longest ws_paths prefix of the upgrade's path, or -1. */
static int route_of(const side_t *sd, struct lws *wsi)
{
    char uri[512];
    size_t best = 0;
    int found = -1;

    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return -1;
    for (size_t i = 0; i < sd->nep; i++)
        for (size_t k = 0; sd->eps[i]->ws_paths && sd->eps[i]->ws_paths[k]; k++) {
            size_t n = strlen(sd->eps[i]->ws_paths[k]);
            if (n > best && !strncmp(uri, sd->eps[i]->ws_paths[k], n)) {
                best = n;
                found = (int)i;
            }
        }
    return found;
}

/* An upgrade that named no subprotocol: pick its endpoint and let that one filter it. */
static int route_upgrade(side_t *sd, struct lws *wsi, route_t *r, void *in, size_t len)
{
    int i;

    if (in && *(const char *)in)
        return -1; /* it named this protocol: nothing to talk to */
    i = r && sd ? route_of(sd, wsi) : -1;
    if (i < 0)
        return gw_endpoint_refuse_upgrade(wsi, 404, "no WebSocket endpoint at this path");
    r->route = (uint32_t)i + 1;
    return sd->eps[i]->protocol.callback(wsi, LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, ROUTED(r),
                                         in, len);
}

static int locked_0(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

/* A side's own protocol: wake-ups, HTTP that no endpoint mounts, what is not HTTP, and
 * the routed WebSocket connections. Every connection starts bound to it, until a mount or
 * a WebSocket upgrade naming a subprotocol binds an endpoint. */
static int core_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    /* protocol 0 also gets context-wide callbacks, and callbacks of connections bound to
     * another protocol, whose `user` is not ours: only a connection bound here is routed */
    const struct lws_protocols *bound = wsi ? lws_get_protocol(wsi) : NULL;
    route_t *r =
        bound && bound->callback == locked_0 && user && user == lws_wsi_user(wsi) ? user : NULL;
    side_t *sd = wsi ? side_of(wsi) : NULL;

    if (r && r->route && sd && reason != LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return sd->eps[r->route - 1]->protocol.callback(wsi, reason, ROUTED(r), in, len);
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (sd && sd->vhost)
            on_wake(sd);
        return 0;
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: /* accepted: its request comes next pass */
        if (sd)
            sd->accepted = true;
        return 0;
    case LWS_CALLBACK_RAW_ADOPT: /* the answer follows with the bytes (RAW_RX) */
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, 1);
        return 0;
    case LWS_CALLBACK_RAW_RX:
        return refuse_raw(wsi, in, len);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return route_upgrade(sd, wsi, r, in, len);
    case LWS_CALLBACK_HTTP:
        if (gw_http_answer(wsi, HTTP_STATUS_NOT_FOUND, false))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- the service threads' turns: every protocol callback under ctx->service_lock ---- */

/* lws gives a callback no pointer of its own, so protocol k of a side gets locked_<k>,
 * which finds the side from the connection and calls the real callback under the lock
 * (taken again inside is fine: the lock is recursive). */
static int call_locked(size_t k, struct lws *wsi, enum lws_callback_reasons reason, void *user,
                       void *in, size_t len)
{
    side_t *sd = wsi ? side_of(wsi) : NULL;
    gw_fair_lock_t *lock = sd ? sd->shared.ctx->service_lock : NULL;
    int rc;

    if (k > 0 && (!sd || k > sd->nep))
        return 0; /* no side to find the callback in (not a connection's callback) */
    gw_fair_lock(lock);
    rc = k == 0 ? core_callback(wsi, reason, user, in, len)
                : sd->eps[k - 1]->protocol.callback(wsi, reason, user, in, len);
    gw_fair_unlock(lock);
    return rc;
}

#define LOCKED_CALLBACK(k)                                                                         \
    static int locked_##k(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, \
                          size_t len)                                                              \
    {                                                                                              \
        return call_locked(k, wsi, reason, user, in, len);                                         \
    }
LOCKED_CALLBACK(0)
LOCKED_CALLBACK(1)
LOCKED_CALLBACK(2)
LOCKED_CALLBACK(3)
LOCKED_CALLBACK(4)
LOCKED_CALLBACK(5)
LOCKED_CALLBACK(6)
static lws_callback_function *const LOCKED[] = {locked_0, locked_1, locked_2, locked_3,
                                                locked_4, locked_5, locked_6};
_Static_assert(sizeof(LOCKED) / sizeof(LOCKED[0]) >= NEP + 1, "a locked callback per protocol");

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
static void add_mount(side_t *sd, size_t *n, const char *point, const char *protocol)
{
    size_t len = strlen(point), at = *n;

    while (at > 0 && sd->mounts[at - 1].mountpoint_len > len)
        at--;
    memmove(&sd->mounts[at + 1], &sd->mounts[at], (*n - at) * sizeof(sd->mounts[0]));
    memset(&sd->mounts[at], 0, sizeof(sd->mounts[0]));
    sd->mounts[at].mountpoint = point;
    sd->mounts[at].mountpoint_len = (unsigned char)len;
    sd->mounts[at].origin = protocol;
    sd->mounts[at].origin_protocol = LWSMPRO_CALLBACK;
    (*n)++;
}

/* protocols[0] is the side's; then one per endpoint it serves; their mounts, chained.
 * Every callback goes through its locked_<k> (the service threads' turns). */
static void build_routes(side_t *sd, struct lws_context_creation_info *info)
{
    size_t nm = 0;

    sd->protocols[0] = (struct lws_protocols){.name = "xo-core",
                                              .callback = LOCKED[0],
                                              .per_session_data_size = routed_data_size(sd),
                                              .rx_buffer_size = routed_rx_size(sd)};
    for (size_t i = 0; i < sd->nep; i++) {
        const gw_endpoint_t *ep = sd->eps[i];
        sd->protocols[i + 1] = ep->protocol;
        sd->protocols[i + 1].callback = LOCKED[i + 1];
        for (size_t m = 0; ep->mounts && ep->mounts[m] && nm < MAX_MOUNTS; m++)
            add_mount(sd, &nm, ep->mounts[m], ep->protocol.name);
    }
    /* lws: per-vhost option "default" names the protocol of upgrades without one: ours */
    sd->ws_default_opt = (struct lws_protocol_vhost_options){NULL, NULL, "default", ""};
    sd->ws_default =
        (struct lws_protocol_vhost_options){NULL, &sd->ws_default_opt, sd->protocols[0].name, ""};
    info->pvo = &sd->ws_default;
    for (size_t m = 0; m + 1 < nm; m++)
        sd->mounts[m].mount_next = &sd->mounts[m + 1];
    info->protocols = sd->protocols;
    info->mounts = nm ? &sd->mounts[0] : NULL;
}

/* Cut a target or a header libwebsockets knows just above its limit, rather than filling
 * the header table with it: the request then still parses and gets its 414/431. */
static void set_token_limits(side_t *sd, const gw_limits_t *l)
{
    static const enum lws_token_indexes TARGETS[] = {
        WSI_TOKEN_GET_URI,         WSI_TOKEN_POST_URI,     WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_PUT_URI,
        WSI_TOKEN_PATCH_URI,       WSI_TOKEN_DELETE_URI,   WSI_TOKEN_HEAD_URI,    WSI_TOKEN_CONNECT,
        WSI_TOKEN_HTTP_COLON_PATH, WSI_TOKEN_HTTP_URI_ARGS};
    size_t header = l->max_header_bytes + 1 < 65535 ? l->max_header_bytes + 1 : 65535;
    size_t target = l->max_url_bytes + 1 < 65535 ? l->max_url_bytes + 1 : 65535;

    for (int t = 0; t < WSI_TOKEN_COUNT; t++)
        sd->token_limits.token_limit[t] = (unsigned short)header;
    for (size_t i = 0; i < sizeof(TARGETS) / sizeof(TARGETS[0]); i++)
        sd->token_limits.token_limit[TARGETS[i]] = (unsigned short)target;
}

/* The deadlines libwebsockets keeps: connection to first byte and to the end of the
 * headers, TLS handshake (timeout_secs, timeout_secs_ah_idle), idle keep-alive. */
static void set_limits(side_t *sd, struct lws_context_creation_info *info)
{
    const gw_ctx_t *ctx = sd->shared.ctx;

    info->timeout_secs = (unsigned int)ctx->timeouts.headers_s;
    info->timeout_secs_ah_idle = (unsigned int)ctx->timeouts.headers_s;
    info->keepalive_timeout = ctx->timeouts.keepalive_s;
    info->max_http_header_data2 =
        (unsigned int)(ctx->limits.max_url_bytes +
                       HEADER_TABLE_FACTOR * ctx->limits.max_header_bytes);
    set_token_limits(sd, &ctx->limits);
    info->token_limits = &sd->token_limits;
}

/* @p port: where to listen, or CONTEXT_PORT_NO_LISTEN_SERVER (the acceptor hands over) */
static void fill_info(side_t *sd, struct lws_context_creation_info *info, const char *address,
                      int port, const char *tls_cert, const char *tls_key)
{
    memset(info, 0, sizeof(*info));
    info->port = port;
    info->iface = port == CONTEXT_PORT_NO_LISTEN_SERVER ? NULL : address;
    info->user = &sd->shared;
    info->vhost_name = "xo-gateway";
    /* unknown methods go to the raw handler (core_callback) to be answered 501 */
    info->options =
        LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG;
    /* one read per service turn takes at most this: consoles stream megabytes (per thread) */
    info->pt_serv_buf_size = GW_HTTP_READ_MAX + LWS_PRE;
    set_limits(sd, info);
    if (tls_cert && *tls_cert) {
        info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info->ssl_cert_filepath = tls_cert;
        info->ssl_private_key_filepath = tls_key;
    }
    build_routes(sd, info);
}

/* The endpoints a side serves: all of them, or, split, the sessions' or all the others. */
static void pick_endpoints(side_t *sd, bool split, bool sessions)
{
    sd->nep = 0;
    for (size_t i = 0; i < NEP; i++)
        if (!split || (ENDPOINTS[i] == SESSIONS_EP) == sessions)
            sd->eps[sd->nep++] = ENDPOINTS[i];
}

static xo_err_t side_init(gw_http_t *h, side_t *sd, gw_ctx_t *ctx, bool sessions)
{
    bool split = h->sessions != &h->http;

    sd->shared.ctx = ctx;
    sd->shared.serials = &h->serials;
    sd->runs_commands = !sessions && ctx->commands;
    pick_endpoints(sd, split, sessions);
    if (gw_reply_queue_init(&sd->replies) != 0)
        return XO_ERR_NOMEM;
    if (pthread_mutex_init(&sd->handed_mu, NULL) != 0) {
        gw_reply_queue_fini(&sd->replies);
        return XO_ERR_NOMEM;
    }
    sd->h = h; /* initialized: side_fini() undoes it */
    return XO_OK;
}

/* A side's context (its vhost listens on @p port, or on nothing when split). */
static xo_err_t side_open(side_t *sd, const char *address, int port, const char *tls_cert,
                          const char *tls_key, char *errstr, size_t errstr_size)
{
    struct lws_context_creation_info info;
    bool tls = tls_cert && *tls_cert;

    fill_info(sd, &info, address, port, tls_cert, tls_key);
    sd->lws = lws_create_context(&info);
    if (!sd->lws)
        return xo_seterr(errstr, errstr_size, tls ? XO_ERR_TLS : XO_ERR_IO,
                         "cannot listen on %s:%d%s (see the lws log lines above)", address, port,
                         tls ? " with TLS" : "");
    sd->vhost = lws_get_vhost_by_name(sd->lws, "xo-gateway");
    if (sd->runs_commands)
        lws_sul_schedule(sd->lws, 0, &sd->sweep, sweep_cb, SWEEP_US);
    return XO_OK;
}

static void side_fini(side_t *sd)
{
    if (!sd->h)
        return;
    if (sd->lws)
        lws_context_destroy(sd->lws);
    sd->lws = NULL;
    gw_reply_queue_fini(&sd->replies);
    for (size_t i = 0; i < sd->nhanded; i++)
        close(sd->handed[i]);
    free(sd->handed);
    pthread_mutex_destroy(&sd->handed_mu);
}

/* The acceptor classified a connection: queue it for its side and wake that side. */
static void hand(void *opaque, int fd, gw_route_t route)
{
    gw_http_t *h = opaque;
    side_t *sd = route == GW_ROUTE_SESSIONS ? h->sessions : &h->http;
    bool queued = false;

    pthread_mutex_lock(&sd->handed_mu);
    if (sd->nhanded == sd->handed_cap) {
        size_t cap = sd->handed_cap ? 2 * sd->handed_cap : 16;
        int *grown = realloc(sd->handed, cap * sizeof(*grown));
        if (grown) {
            sd->handed = grown;
            sd->handed_cap = cap;
        }
    }
    if (sd->nhanded < sd->handed_cap) {
        sd->handed[sd->nhanded++] = fd;
        queued = true;
    }
    pthread_mutex_unlock(&sd->handed_mu);
    if (!queued)
        close(fd);
    lws_cancel_service(sd->lws);
}

static xo_err_t open_split(gw_http_t *h, const char *address, int port, char *errstr,
                           size_t errstr_size)
{
    const gw_ctx_t *ctx = h->http.shared.ctx;
    gw_acceptor_limits_t lim = {HEAD_PEEK_BYTES, ctx->timeouts.headers_s * 1000, MAX_WAITING};
    xo_err_t err;

    if (gw_fair_lock_init(&h->lock) != 0)
        return XO_ERR_NOMEM;
    h->http.shared.ctx->service_lock = &h->lock;
    err = gw_acceptor_new(address, port, &lim, hand, h, &h->acceptor, errstr, errstr_size);
    if (err == XO_OK)
        err = side_open(&h->http, address, CONTEXT_PORT_NO_LISTEN_SERVER, NULL, NULL, errstr,
                        errstr_size);
    if (err == XO_OK)
        err = side_open(h->sessions, address, CONTEXT_PORT_NO_LISTEN_SERVER, NULL, NULL, errstr,
                        errstr_size);
    if (err == XO_OK)
        h->port = h->http.shared.port = h->sessions->shared.port = gw_acceptor_port(h->acceptor);
    return err;
}

static xo_err_t open_single(gw_http_t *h, const char *address, int port, const char *tls_cert,
                            const char *tls_key, char *errstr, size_t errstr_size)
{
    xo_err_t err = port > 0 ? check_port_free(address, port, errstr, errstr_size) : XO_OK;

    if (err == XO_OK)
        err = side_open(&h->http, address, port, tls_cert, tls_key, errstr, errstr_size);
    if (err == XO_OK)
        h->port = h->http.shared.port =
            h->http.vhost ? lws_get_vhost_listen_port(h->http.vhost) : port;
    return err;
}

xo_err_t gw_http_new(gw_ctx_t *ctx, const gw_http_settings_t *set, gw_http_t **out, char *errstr,
                     size_t errstr_size)
{
    bool tls = set->tls_cert && *set->tls_cert;
    gw_http_t *h;
    xo_err_t err;

    *out = NULL;
    if (tls != (set->tls_key && *set->tls_key))
        return xo_seterr(errstr, errstr_size, XO_ERR_TLS,
                         "http.tls_cert and http.tls_key must be set together");
    h = calloc(1, sizeof(*h));
    if (!h)
        return XO_ERR_NOMEM;
    atomic_init(&h->stop, false);
    h->test_stall_file = set->test_stall_file ? strdup(set->test_stall_file) : NULL;
    /* TLS: a hello cannot be classified without terminating it here; one thread then */
    h->sessions = set->session_thread && !tls ? &h->sessions_side : &h->http;
    lws_set_log_level(LLL_ERR | LLL_WARN | (xo_log_debug_mask & XO_DBG_WS ? LLL_NOTICE : 0),
                      lws_log);
    err = side_init(h, &h->http, ctx, false);
    if (err == XO_OK && is_split(h))
        err = side_init(h, h->sessions, ctx, true);
    if (err == XO_OK)
        err = is_split(h) ? open_split(h, set->address, set->port, errstr, errstr_size)
                          : open_single(h, set->address, set->port, set->tls_cert, set->tls_key,
                                        errstr, errstr_size);
    if (err != XO_OK) {
        gw_http_free(h);
        return err;
    }
    if (ctx->commands)
        gw_commands_set_reply(ctx->commands, deliver, h);
    *out = h;
    return XO_OK;
}

/* One service pass is over: the endpoints' per-pass budgets start again; after an accept,
 * the next pass should leave the new connection's request as little to wait for as it can
 * (it is polled after every connection already open). */
static void on_pass_end(side_t *sd)
{
    bool accepted = sd->accepted;

    sd->accepted = false;
    if (!sd->vhost)
        return;
    gw_fair_lock(sd->shared.ctx->service_lock);
    for (size_t i = 0; i < sd->nep; i++)
        if (sd->eps[i]->serviced)
            sd->eps[i]->serviced(endpoint_state(sd, i), accepted);
    gw_fair_unlock(sd->shared.ctx->service_lock);
}

#define STALL_STEP_NS (20 * 1000 * 1000)
#define STALL_MAX     6000 /* steps: a test's stall ends within 2 minutes whatever it does */

/* The tests' stall (gw_http_settings_t.test_stall_file), between two passes of the thread
 * of the JSON-RPC sessions, holding nothing. */
static void test_stall(side_t *sd)
{
    const char *file = sd->h->test_stall_file;
    struct timespec step = {0, STALL_STEP_NS};
    struct stat st;

    int i = 0;

    for (; file && sd == sd->h->sessions && i < STALL_MAX && !atomic_load(&sd->h->stop) &&
           stat(file, &st) == 0;
         i++) {
        if (i == 0) /* what a test waits for before it relies on the stall */
            xo_info("http", "event=test_stall state=begin");
        nanosleep(&step, NULL);
    }
    if (i > 0)
        xo_info("http", "event=test_stall state=end");
}

static void serve(side_t *sd)
{
    running_side = sd;
    while (!atomic_load(&sd->h->stop)) {
        if (lws_service(sd->lws, 0) < 0)
            break;
        on_pass_end(sd);
        test_stall(sd);
    }
    running_side = NULL;
}

static void *serve_sessions(void *arg)
{
    serve(arg);
    return NULL;
}

/* Split: the sessions' thread and the acceptor's start; this thread serves HTTP. */
static bool start_split(gw_http_t *h)
{
    char errstr[256];

    if (pthread_create(&h->sessions->thread, NULL, serve_sessions, h->sessions) != 0) {
        xo_error("http", "event=thread_failed side=sessions");
        return false;
    }
    h->sessions->thread_started = true;
    if (gw_acceptor_start(h->acceptor, errstr, sizeof(errstr)) != XO_OK) {
        xo_error("http", "event=thread_failed side=acceptor error=\"%s\"", errstr);
        return false;
    }
    return true;
}

static void join_sessions(gw_http_t *h)
{
    if (!is_split(h) || !h->sessions->thread_started)
        return;
    atomic_store(&h->stop, true);
    lws_cancel_service(h->sessions->lws);
    pthread_join(h->sessions->thread, NULL);
    h->sessions->thread_started = false;
}

void gw_http_run(gw_http_t *h)
{
    if (!is_split(h) || start_split(h))
        serve(&h->http);
    gw_acceptor_free(h->acceptor); /* hands nothing more */
    h->acceptor = NULL;
    join_sessions(h);
}

void gw_http_wake(void *hp)
{
    gw_http_t *h = hp;
    lws_cancel_service(h->http.lws);
}

void gw_http_wake_sessions(void *hp)
{
    gw_http_t *h = hp;
    lws_cancel_service(h->sessions->lws);
}

void gw_http_stop(gw_http_t *h)
{
    atomic_store(&h->stop, true);
    lws_cancel_service(h->http.lws);
    if (is_split(h) && h->sessions->lws)
        lws_cancel_service(h->sessions->lws);
}

int gw_http_port(const gw_http_t *h)
{
    return h->port;
}

bool gw_http_split(const gw_http_t *h)
{
    return is_split(h);
}

void gw_http_free(gw_http_t *h)
{
    if (!h)
        return;
    gw_acceptor_free(h->acceptor);
    join_sessions(h);
    if (is_split(h))
        side_fini(h->sessions);
    side_fini(&h->http);
    if (h->http.shared.ctx && h->http.shared.ctx->service_lock == &h->lock) {
        h->http.shared.ctx->service_lock = NULL;
        gw_fair_lock_fini(&h->lock);
    }
    free(h->test_stall_file);
    free(h);
}
