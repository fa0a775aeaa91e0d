/*
 * console.c - the console relays' lifecycle (console.h): settings, the TLS contexts of each
 * side (the pool's hosts, the gateway: tls_pipe.h), the relay thread and its
 * libwebsockets client context (raw connections only), and the inbox of console.open
 * requests from the command thread. Sessions themselves are console_session.c's; XAPI is
 * console_lookup.c's. Must not block the relay thread.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_int.h"
#include "xo_log.h"

#define TICK_US (250 * LWS_US_PER_MS)

/* ------------------------------------------------------------------ the relay thread */

static void take_inbox(agent_console_t *con)
{
    console_req_t reqs[16];
    size_t n;

    do {
        pthread_mutex_lock(&con->mu);
        n = con->inbox_len < 16 ? con->inbox_len : 16;
        if (n) {
            memcpy(reqs, con->inbox, n * sizeof(reqs[0]));
            memmove(con->inbox, con->inbox + n, (con->inbox_len - n) * sizeof(reqs[0]));
            con->inbox_len -= n;
        }
        pthread_mutex_unlock(&con->mu);
        for (size_t i = 0; i < n; i++)
            con_session_start(con, &reqs[i]);
        OPENSSL_cleanse(reqs, sizeof(reqs));
    } while (n == 16);
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
    agent_console_t *con = lws_container_of(sul, agent_console_t, tick);

    con_sessions_trim(con);
    if (!agent_stop)
        lws_sul_schedule(con->lws, 0, &con->tick, tick_cb, TICK_US);
}

static int core_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    agent_console_t *con;
    console_target_t t;

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        con = lws_context_user(lws_get_context(wsi));
        if (!con || !con->lws)
            return 0;
        take_inbox(con);
        while (console_lookup_take(con->lookup, &t)) {
            con_session_target(con, &t);
            OPENSSL_cleanse(t.session, sizeof(t.session));
        }
        return 0;

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);

    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        xo_warn(CON_MOD, "msg=\"lws: %.*s\"", (int)n, line);
    else
        xo_dbg(XO_DBG_XAPI, CON_MOD, "msg=\"lws: %.*s\"", (int)n, line);
}

static bool open_context(agent_console_t *con, struct lws_protocols *protocols)
{
    static const struct lws_protocols core = {.name = "xo-agent-console",
                                              .callback = core_callback};
    struct lws_context_creation_info info;

    con_protocols(protocols, &core);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS; /* TLS is ours: tls_pipe.h */
    info.user = con;
    info.timeout_secs = 20;
    info.pt_serv_buf_size = CON_RX + LWS_PRE; /* one read per turn takes at most this */
    info.protocols = protocols;
    lws_set_log_level(LLL_ERR | (xo_log_debug_mask & XO_DBG_XAPI ? LLL_WARN | LLL_NOTICE : 0),
                      lws_log);
    pthread_mutex_lock(&con->mu); /* wake() reads it from other threads */
    con->lws = lws_create_context(&info);
    pthread_mutex_unlock(&con->mu);
    if (!con->lws)
        return false;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.vhost_name = "console";
    info.protocols = protocols;
    con->vh = lws_create_vhost(con->lws, &info);
    return con->vh != NULL;
}

static void *relay_main(void *arg)
{
    agent_console_t *con = arg;
    struct lws_protocols protocols[CON_PROTOCOLS + 1];
    int64_t stop_deadline;

    if (!open_context(con, protocols)) {
        xo_error(CON_MOD, "event=relay_start_failed reason=\"cannot create the client "
                          "context (see the lws lines above)\"");
        goto out;
    }
    lws_sul_schedule(con->lws, 0, &con->tick, tick_cb, TICK_US);
    take_inbox(con); /* requests that came before the context */
    xo_info(CON_MOD, "event=relay_ready max_sessions=%d follow=%d transport=%s", con->max_sessions,
            con->follow, con->transport);
    while (!agent_stop)
        if (lws_service(con->lws, 0) < 0)
            break;
    /* stopping: every browser is told, each session audited, within a bounded time */
    con_sessions_close_all(con, 4503, "the pool's agent is stopping");
    stop_deadline = xo_now_ms() + 3000;
    while (con->head && xo_now_ms() < stop_deadline)
        if (lws_service(con->lws, 0) < 0)
            break;
out:
    pthread_mutex_lock(&con->mu);
    if (con->lws) {
        lws_sul_cancel(&con->tick);
        lws_context_destroy(con->lws);
    }
    con->lws = NULL;
    pthread_mutex_unlock(&con->mu);
    return NULL;
}

/* ------------------------------------------------------------------ public */

static void wake(void *opaque)
{
    agent_console_t *con = opaque;

    pthread_mutex_lock(&con->mu);
    if (con->lws)
        lws_cancel_service(con->lws);
    pthread_mutex_unlock(&con->mu);
}

xo_err_t agent_console_new(agent_t *a, console_report_fn report, void *opaque,
                           agent_console_t **out, char *errstr, size_t errstr_size)
{
    const xo_config_t *cfg = a->cfg;
    const char *transport = xo_config_get(cfg, "console.host_transport");
    tls_trust_t host_trust, gw_trust;
    agent_console_t *con;
    xo_err_t err;

    *out = NULL;
    if (!xo_config_get_bool(cfg, "console.enabled"))
        return XO_OK;
    if (transport && strcmp(transport, "auto") && strcmp(transport, "websocket") &&
        strcmp(transport, "connect"))
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "console.host_transport: auto, websocket or connect");
    con = calloc(1, sizeof(*con));
    if (!con)
        return XO_ERR_NOMEM;
    con->a = a;
    con->report = report;
    con->report_opaque = opaque;
    con->max_sessions = (int)xo_config_get_int(cfg, "console.max_sessions");
    con->reattach_ms = xo_config_get_int(cfg, "console.reattach_timeout_s") * 1000;
    con->follow = xo_config_get_bool(cfg, "console.follow");
    snprintf(con->transport, sizeof(con->transport), "%s", transport ? transport : "auto");
    con->host_ca = xo_config_get(cfg, "xapi.ca_file");
    con->host_pin = xo_config_get(cfg, "xapi.fingerprint");
    con->host_insecure = xo_config_get_bool(cfg, "xapi.insecure");
    con->gw_ca = xo_config_get(cfg, "console.gateway_ca_file");
    con->gw_pin = xo_config_get(cfg, "console.gateway_fingerprint");
    con->gw_insecure = xo_config_get_bool(cfg, "console.gateway_insecure");
    pthread_mutex_init(&con->mu, NULL);
    host_trust = (tls_trust_t){con->host_ca, con->host_pin, con->host_insecure};
    gw_trust = (tls_trust_t){con->gw_ca, con->gw_pin, con->gw_insecure};
    err = tls_ctx_new(&host_trust, &con->tls_host, errstr, errstr_size);
    if (err == XO_OK)
        err = tls_ctx_new(&gw_trust, &con->tls_gw, errstr, errstr_size);
    if (err == XO_ERR_TLS)
        err = XO_ERR_CONFIG;
    if (err == XO_OK)
        err = console_lookup_new(a, wake, con, &con->lookup, errstr, errstr_size);
    if (err != XO_OK) {
        agent_console_free(con);
        return err;
    }
    if (con->gw_insecure)
        xo_warn(CON_MOD, "event=tls_insecure side=gateway msg=\"the gateway's certificate is "
                         "not checked (console.gateway_insecure)\"");
    *out = con;
    return XO_OK;
}

xo_err_t agent_console_start(agent_console_t *c)
{
    if (pthread_create(&c->thread, NULL, relay_main, c) != 0)
        return XO_ERR_NOMEM;
    c->started = true;
    return console_lookup_start(c->lookup);
}

xo_err_t agent_console_open(agent_console_t *c, const console_req_t *req, char *reason,
                            size_t reason_size)
{
    xo_err_t err = XO_OK;

    if (strncmp(req->relay, "ws://", 5) != 0 && strncmp(req->relay, "wss://", 6) != 0)
        return xo_seterr(reason, reason_size, XO_ERR_INVALID,
                         "args.relay: not a ws:// or wss:// URL");
    pthread_mutex_lock(&c->mu);
    if (c->count >= c->max_sessions) {
        err = xo_seterr(reason, reason_size, XO_ERR_LIMIT,
                        "console.max_sessions (%d) reached on this agent", c->max_sessions);
    } else if (c->inbox_len == c->inbox_cap) {
        size_t cap = c->inbox_cap ? 2 * c->inbox_cap : 16;
        console_req_t *nb = realloc(c->inbox, cap * sizeof(*nb));
        if (!nb)
            err = XO_ERR_NOMEM;
        else {
            c->inbox = nb;
            c->inbox_cap = cap;
        }
    }
    if (err == XO_OK) {
        c->inbox[c->inbox_len++] = *req;
        c->count++;
    }
    pthread_mutex_unlock(&c->mu);
    if (err == XO_OK)
        wake(c);
    return err;
}

int agent_console_count(agent_console_t *c)
{
    int n;

    pthread_mutex_lock(&c->mu);
    n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void agent_console_free(agent_console_t *c)
{
    if (!c)
        return;
    if (c->started)
        pthread_join(c->thread, NULL);
    console_lookup_free(c->lookup);
    SSL_CTX_free(c->tls_host);
    SSL_CTX_free(c->tls_gw);
    if (c->inbox)
        OPENSSL_cleanse(c->inbox, c->inbox_cap * sizeof(*c->inbox));
    free(c->inbox);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
