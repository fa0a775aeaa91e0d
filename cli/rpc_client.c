/*
 * rpc_client.c - the WebSocket JSON-RPC client (rpc_client.h) on a libwebsockets client
 * context of its own. The lws callback only moves bytes: it appends received fragments,
 * writes the one pending request, and records the connection's fate; the functions of
 * the header run the service loop and decide. A recurring 100 ms lws timer bounds every
 * wait of the loop, so deadlines and Ctrl-C are seen promptly.
 */
#include "rpc_client.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/printbuf.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interrupt.h"

#define TICK_US    (100 * LWS_US_PER_MS)
#define TICK_CB_MS 200
#define JSON_DEPTH 128

typedef enum { ST_CONNECTING, ST_OPEN, ST_CLOSED } conn_state_t;

struct cli_rpc {
    struct lws_context *ctx;
    struct lws *wsi;
    conn_state_t state;
    xo_err_t fail;      /* why the connection ended (XO_OK while it has not) */
    char fail_why[512]; /* its detail */
    bool probe;         /* a connect failure lws did not name: probe_connect() names it */
    lws_sorted_usec_list_t tick;
    /* the request being written: LWS_PRE bytes of room, then the JSON text */
    unsigned char *out;
    size_t out_len;
    /* the message being received */
    struct printbuf *in;
    bool in_too_big;
    /* the answer awaited */
    int64_t next_id, await_id;
    json_object *answer;
    bool bad_message;
    long notifications;
    cli_rpc_notify_fn on_notify;
    void *notify_opaque;
    cli_rpc_tick_fn on_tick;
    void *tick_opaque;
    int64_t last_tick_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* lws' last error log line (its TLS failures say why only there); one thread only. */
static char last_lws_error[256];

static void lws_log(int level, const char *line)
{
    size_t n;
    if (getenv("XO_FLEET_DEBUG"))
        fputs(line, stderr);
    if (!(level & LLL_ERR))
        return;
    /* "[2026/01/01 00:00:00:0000] E: SSL error: ..." -> "SSL error: ..." */
    if (strstr(line, "E: "))
        line = strstr(line, "E: ") + 3;
    snprintf(last_lws_error, sizeof(last_lws_error), "%s", line);
    n = strlen(last_lws_error);
    while (n > 0 && (last_lws_error[n - 1] == '\n' || last_lws_error[n - 1] == ' '))
        last_lws_error[--n] = '\0';
}

/*
 * Why a TCP connection to host:port fails (ECONNREFUSED, ...), 0 when it succeeds: lws
 * reports every connect failure as "Unable to connect", so a failure that is not TLS is
 * probed once more with a plain connect (bounded by 2 s) to name it.
 */
static int probe_connect(const char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    char service[16];
    int result = EHOSTUNREACH;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return ENOENT;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct pollfd pfd = {fd, POLLOUT, 0};
        socklen_t len = sizeof(result);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            result = 0;
        else if (errno != EINPROGRESS)
            result = errno;
        else if (poll(&pfd, 1, 2000) != 1)
            result = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &len) != 0)
            result = errno;
        close(fd);
        if (result == 0)
            break;
    }
    freeaddrinfo(res);
    return result;
}

/* lws' error strings into our kinds: TLS, refused, or another connect failure. */
static void connection_error(cli_rpc_t *c, const char *why)
{
    const char *w = why && *why ? why : "connection failed";

    if (strstr(w, "SSL") || strstr(w, "ssl") || strstr(w, "tls") || strstr(w, "TLS")) {
        c->fail = XO_ERR_TLS;
        snprintf(c->fail_why, sizeof(c->fail_why), "TLS failure: %s",
                 strstr(last_lws_error, "SSL") ? last_lws_error : w);
    } else if (strstr(w, "HS: ")) {
        c->fail = XO_ERR_CONNECT;
        snprintf(c->fail_why, sizeof(c->fail_why),
                 "the server refused the WebSocket connection to its API (%s)", w);
    } else {
        c->fail = XO_ERR_CONNECT;
        c->probe = true;
        snprintf(c->fail_why, sizeof(c->fail_why), "cannot connect: %s", w);
    }
}

/* Name a connect failure lws could not name (see probe_connect). */
static void name_connect_failure(cli_rpc_t *c, const cli_url_t *url)
{
    int why = probe_connect(url->host, url->port);
    char hh[300];

    cli_url_host_header(url, hh, sizeof(hh));
    if (why == ECONNREFUSED)
        snprintf(c->fail_why, sizeof(c->fail_why), "connection refused: %s", hh);
    else if (why == ENOENT)
        snprintf(c->fail_why, sizeof(c->fail_why), "cannot connect: unknown host %s", url->host);
    else if (why)
        snprintf(c->fail_why, sizeof(c->fail_why), "cannot connect to %s: %s", hh, strerror(why));
}

static void handle_message(cli_rpc_t *c, const char *text, size_t len)
{
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    json_object *msg = NULL, *id, *method, *params;

    if (!tok) {
        c->bad_message = true;
        return;
    }
    msg = json_tokener_parse_ex(tok, text, (int)len);
    json_tokener_free(tok);
    if (!json_object_is_type(msg, json_type_object)) {
        c->bad_message = true;
        goto out;
    }
    if (json_object_object_get_ex(msg, "id", &id) && id) {
        if (json_object_get_int64(id) == c->await_id && !c->answer)
            c->answer = json_object_get(msg);
        goto out;
    }
    if (json_object_object_get_ex(msg, "method", &method)) {
        c->notifications++;
        if (c->on_notify) {
            if (!json_object_object_get_ex(msg, "params", &params))
                params = NULL;
            c->on_notify(c->notify_opaque, json_object_get_string(method), params);
        }
    }
out:
    json_object_put(msg);
}

static int on_receive(cli_rpc_t *c, struct lws *wsi, const void *in, size_t len)
{
    if (!c->in_too_big) {
        if ((size_t)printbuf_length(c->in) + len > CLI_RPC_MAX_MESSAGE)
            c->in_too_big = true;
        else
            printbuf_memappend(c->in, in, (int)len);
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    if (c->in_too_big) {
        c->fail = XO_ERR_LIMIT;
        snprintf(c->fail_why, sizeof(c->fail_why), "a message of the server exceeds %u MiB",
                 CLI_RPC_MAX_MESSAGE >> 20);
        return -1;
    }
    handle_message(c, c->in->buf, (size_t)printbuf_length(c->in));
    printbuf_reset(c->in);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    cli_rpc_t *c = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        connection_error(c, in ? (const char *)in : NULL);
        c->state = ST_CLOSED;
        c->wsi = NULL;
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = ST_OPEN;
        if (c->out)
            lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->out) {
            int n = lws_write(wsi, c->out + LWS_PRE, c->out_len, LWS_WRITE_TEXT);
            free(c->out);
            c->out = NULL;
            if (n < 0)
                return -1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (c && wsi == c->wsi) {
            if (c->fail == XO_OK) {
                c->fail = XO_ERR_CONNECT;
                snprintf(c->fail_why, sizeof(c->fail_why), "the server closed the connection");
            }
            c->state = ST_CLOSED;
            c->wsi = NULL;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols PROTOCOLS[] = {
    {"xo-fleet-jsonrpc", callback, 0, 64 * 1024, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

static void on_tick(lws_sorted_usec_list_t *sul)
{
    cli_rpc_t *c = lws_container_of(sul, cli_rpc_t, tick);
    lws_sul_schedule(c->ctx, 0, &c->tick, on_tick, TICK_US);
}

/* lws' own log lines would add to the one error line: kept (errors, for the TLS
 * failure's reason), printed only with XO_FLEET_DEBUG set. */
static void quiet_logs(void)
{
    const char *d = getenv("XO_FLEET_DEBUG");
    last_lws_error[0] = '\0';
    lws_set_log_level(d ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : LLL_ERR, lws_log);
}

/* Run the loop until done(c) or the connection ends, the deadline passes, or Ctrl-C. */
static xo_err_t run(cli_rpc_t *c, bool (*done)(cli_rpc_t *c, void *arg), void *arg, int timeout_ms,
                    bool interrupt_ok, char *errstr, size_t errstr_size)
{
    int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;

    for (;;) {
        if (done(c, arg))
            return XO_OK;
        if (c->bad_message)
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                             "the server sent a message that is not JSON-RPC");
        if (c->state == ST_CLOSED)
            return xo_seterr(errstr, errstr_size, c->fail ? c->fail : XO_ERR_CONNECT, "%s",
                             c->fail_why[0] ? c->fail_why : "connection closed");
        if (cli_interrupted)
            return interrupt_ok ? XO_OK : xo_seterr(errstr, errstr_size, XO_ERR_IO, "interrupted");
        if (deadline && now_ms() >= deadline)
            return xo_seterr(errstr, errstr_size, XO_ERR_TIMEOUT,
                             "timeout: no answer from the server in %d ms", timeout_ms);
        if (c->on_tick && now_ms() - c->last_tick_ms >= TICK_CB_MS) {
            c->last_tick_ms = now_ms();
            c->on_tick(c->tick_opaque);
        }
        if (lws_service(c->ctx, 0) < 0)
            return xo_seterr(errstr, errstr_size, XO_ERR_CONNECT, "connection lost");
    }
}

static bool is_open(cli_rpc_t *c, void *arg)
{
    (void)arg;
    return c->state == ST_OPEN;
}

static xo_err_t create_context(cli_rpc_t *c, char *errstr, size_t errstr_size)
{
    struct lws_context_creation_info info;
    const char *ca = getenv("SSL_CERT_FILE");

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = c;
    info.fd_limit_per_thread = 8;
    if (ca && *ca)
        info.client_ssl_ca_filepath = ca;
    c->ctx = lws_create_context(&info);
    if (!c->ctx)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "cannot create the client context");
    lws_sul_schedule(c->ctx, 0, &c->tick, on_tick, TICK_US);
    return XO_OK;
}

xo_err_t cli_rpc_open(const cli_url_t *url, bool allow_unauthorized, int timeout_ms,
                      cli_rpc_t **out, char *errstr, size_t errstr_size)
{
    struct lws_client_connect_info ci;
    char path[600], host[300];
    cli_rpc_t *c = calloc(1, sizeof(*c));
    xo_err_t err;

    *out = NULL;
    if (!c || !(c->in = printbuf_new())) {
        free(c);
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    }
    quiet_logs();
    err = create_context(c, errstr, errstr_size);
    if (err != XO_OK)
        goto fail;
    snprintf(path, sizeof(path), "%sapi/", url->base);
    cli_url_host_header(url, host, sizeof(host));
    memset(&ci, 0, sizeof(ci));
    ci.context = c->ctx;
    ci.address = url->host;
    ci.port = url->port;
    ci.path = path;
    ci.host = host;
    ci.origin = host;
    ci.alpn = "http/1.1";
    ci.pwsi = &c->wsi;
    if (url->tls)
        ci.ssl_connection =
            LCCSCF_USE_SSL |
            (allow_unauthorized ? LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                      LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE
                                : 0);
    c->state = ST_CONNECTING;
    if (!lws_client_connect_via_info(&ci) && c->state != ST_CLOSED)
        connection_error(c, "cannot start the connection"), c->state = ST_CLOSED;
    err = run(c, is_open, NULL, timeout_ms, false, errstr, errstr_size);
    if (err == XO_ERR_CONNECT && c->probe) {
        name_connect_failure(c, url);
        xo_seterr(errstr, errstr_size, err, "%s", c->fail_why);
    }
    if (err != XO_OK)
        goto fail;
    *out = c;
    return XO_OK;
fail:
    cli_rpc_close(c);
    return err;
}

void cli_rpc_on_notify(cli_rpc_t *c, cli_rpc_notify_fn fn, void *opaque)
{
    c->on_notify = fn;
    c->notify_opaque = opaque;
}

void cli_rpc_on_tick(cli_rpc_t *c, cli_rpc_tick_fn fn, void *opaque)
{
    c->on_tick = fn;
    c->tick_opaque = opaque;
}

static bool has_answer(cli_rpc_t *c, void *arg)
{
    (void)arg;
    return c->answer != NULL;
}

/* The request's text after LWS_PRE bytes of room, as lws_write wants it. */
static xo_err_t queue_request(cli_rpc_t *c, const char *method, json_object *params)
{
    json_object *req = json_object_new_object();
    const char *text;
    size_t n;

    if (!req)
        return XO_ERR_NOMEM;
    c->await_id = ++c->next_id;
    json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
    json_object_object_add(req, "method", json_object_new_string(method));
    json_object_object_add(req, "params",
                           params ? json_object_get(params) : json_object_new_object());
    json_object_object_add(req, "id", json_object_new_int64(c->await_id));
    text = json_object_to_json_string_ext(req,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    n = strlen(text);
    free(c->out);
    c->out = malloc(LWS_PRE + n);
    if (!c->out) {
        json_object_put(req);
        return XO_ERR_NOMEM;
    }
    memcpy(c->out + LWS_PRE, text, n);
    c->out_len = n;
    json_object_put(req);
    return XO_OK;
}

xo_err_t cli_rpc_call(cli_rpc_t *c, const char *method, json_object *params, int timeout_ms,
                      json_object **result, json_object **error, char *errstr, size_t errstr_size)
{
    json_object *v;
    xo_err_t err;

    *result = NULL;
    *error = NULL;
    if (queue_request(c, method, params) != XO_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
    err = run(c, has_answer, NULL, timeout_ms, false, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    if (json_object_object_get_ex(c->answer, "error", &v) && v)
        *error = json_object_get(v);
    else if (json_object_object_get_ex(c->answer, "result", &v))
        *result = json_object_get(v);
    json_object_put(c->answer);
    c->answer = NULL;
    return XO_OK;
}

static bool listened_enough(cli_rpc_t *c, void *arg)
{
    long max = *(long *)arg;
    return max > 0 && c->notifications >= max;
}

xo_err_t cli_rpc_listen(cli_rpc_t *c, long max_notifications, char *errstr, size_t errstr_size)
{
    c->notifications = 0;
    return run(c, listened_enough, &max_notifications, 0, true, errstr, errstr_size);
}

void cli_rpc_close(cli_rpc_t *c)
{
    if (!c)
        return;
    if (c->ctx) {
        lws_sul_cancel(&c->tick);
        lws_context_destroy(c->ctx);
    }
    json_object_put(c->answer);
    free(c->out);
    if (c->in)
        printbuf_free(c->in);
    free(c);
}
