/*
 * console_hub.c - console sessions between a browser and its pool's agent (see
 * console_hub.h): admission, tickets, console.open, splicing with bounded queues and flow
 * control, timeouts, audit lines and counters. Bytes are relayed as they are: RFB is
 * never parsed here, and nothing here blocks. Service thread only.
 */
#include "transport/console_hub.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rpc.h"
#include "core/random_token.h"
#include "transport/endpoint.h"
#include "transport/http_server.h"
#include "xo_log.h"

#define MOD      "console"
#define SWEEP_US (250 * LWS_US_PER_MS)

struct gw_console_hub {
    gw_ctx_t *ctx; /* borrowed */
    struct lws_context *lws;
    struct lws_vhost *vhost;
    gw_console_t *head;
    size_t count;     /* consoles */
    size_t downloads; /* vm.export's downloads (in the same list) */
    lws_sorted_usec_list_t sweep;
    size_t max_total, max_per_user;
    size_t queue_limit; /* each connection's budget: limits.client_queue_bytes, capped */
    int64_t ticket_ttl_ms, idle_ms, agent_stale_ms, send_ms;
    const char *relay_url; /* console.relay_url, or NULL: derived from the listener */
};

/* ------------------------------------------------------------------ queues */

static size_t cq_len(const gw_cq_t *q)
{
    return q->tail - q->head;
}

/* Append, growing up to the budget + rx_max (reads pause before the budget is passed, and
 * one read brings at most rx_max). False when over that. */
static bool cq_put(gw_cq_t *q, const void *p, size_t n)
{
    size_t need, cap, max = q->budget.limit + q->rx_max;
    uint8_t *nb;

    if (q->head > 0 && q->tail + n > q->cap) { /* slide the bytes back to the start */
        memmove(q->buf + LWS_PRE, q->buf + LWS_PRE + q->head, cq_len(q));
        q->tail -= q->head;
        q->head = 0;
    }
    need = q->tail + n;
    if (need > q->cap) {
        if (need > max)
            return false;
        cap = q->cap ? q->cap : 16384;
        while (cap < need)
            cap *= 2;
        if (cap > max)
            cap = max;
        nb = realloc(q->buf, LWS_PRE + cap);
        if (!nb)
            return false;
        q->buf = nb;
        q->cap = cap;
    }
    memcpy(q->buf + LWS_PRE + q->tail, p, n);
    q->tail += n;
    if (q->budget.queued == 0)
        q->waiting_since = gw_mono_ms(); /* the send deadline starts with the first byte */
    gw_conn_budget_take(&q->budget, n);
    return true;
}

/* Write the next chunk of @p q to @p wsi (a binary frame, or HTTP body bytes for a
 * download). Returns bytes written, -1 on error. */
static long cq_write(gw_cq_t *q, struct lws *wsi, enum lws_write_protocol mode)
{
    size_t n = cq_len(q) < GW_CONSOLE_CHUNK ? cq_len(q) : GW_CONSOLE_CHUNK;

    if (n == 0)
        return 0;
    /* lws writes the frame header into the LWS_PRE bytes before the data: spent bytes or
     * the headroom, both free */
    if (lws_write(wsi, q->buf + LWS_PRE + q->head, n, mode) < (int)n)
        return -1;
    q->head += n;
    if (q->head == q->tail)
        q->head = q->tail = 0;
    gw_conn_budget_give(&q->budget, n);
    q->waiting_since = gw_mono_ms();
    return (long)n;
}

/* An idle console keeps no buffer (the sweep calls it: a streaming one keeps its own). */
static void cq_trim(gw_cq_t *q)
{
    if (q->buf && cq_len(q) == 0) {
        free(q->buf);
        q->buf = NULL;
        q->cap = 0;
    }
}

static void cq_free(gw_cq_t *q)
{
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

/* Bytes wait for the connection that @p q feeds, and it has taken none for @p send_ms. */
static bool cq_stalled(const gw_cq_t *q, int64_t now, int64_t send_ms)
{
    return cq_len(q) > 0 && now - q->waiting_since >= send_ms;
}

/* ------------------------------------------------------------------ hub */

gw_console_hub_t *gw_console_hub_of(struct lws *wsi)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    const struct lws_protocols *p = vh ? lws_vhost_name_to_protocol(vh, GW_CONSOLE_PROTOCOL) : NULL;

    return p ? lws_protocol_vh_priv_get(vh, p) : NULL;
}

static void sweep_cb(lws_sorted_usec_list_t *sul);

gw_console_hub_t *gw_console_hub_init(struct lws *wsi, gw_ctx_t *ctx)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    gw_console_hub_t *h = lws_protocol_vh_priv_zalloc(vh, lws_get_protocol(wsi), sizeof(*h));
    const xo_config_t *cfg = ctx ? ctx->cfg : NULL;

    if (!h)
        return NULL;
    h->ctx = ctx;
    h->lws = lws_get_context(wsi);
    h->vhost = vh;
    h->max_total = cfg ? (size_t)xo_config_get_int(cfg, "console.max_total") : 1000;
    h->max_per_user = cfg ? (size_t)xo_config_get_int(cfg, "console.max_per_user") : 20;
    h->ticket_ttl_ms = cfg ? xo_config_get_int(cfg, "console.ticket_ttl_ms") : 30000;
    h->idle_ms = cfg ? xo_config_get_int(cfg, "console.idle_timeout_s") * 1000 : 0;
    h->agent_stale_ms = cfg ? xo_config_get_int(cfg, "console.agent_stale_ms") : 30000;
    h->relay_url = cfg ? xo_config_get(cfg, "console.relay_url") : NULL;
    h->queue_limit = ctx && ctx->limits.client_queue_bytes < GW_CONSOLE_QUEUE
                         ? ctx->limits.client_queue_bytes
                         : GW_CONSOLE_QUEUE;
    h->send_ms = ctx && ctx->timeouts.send_s > 0 ? (int64_t)ctx->timeouts.send_s * 1000 : 60000;
    lws_sul_schedule(h->lws, 0, &h->sweep, sweep_cb, SWEEP_US);
    return h;
}

void gw_console_hub_fini(gw_console_hub_t *h)
{
    if (h)
        lws_sul_cancel(&h->sweep);
}

size_t gw_console_count(const gw_console_hub_t *h)
{
    return h ? h->count : 0;
}

size_t gw_download_count(const gw_console_hub_t *h)
{
    return h ? h->downloads : 0;
}

/* What a session is, for the audit lines. */
static const char *kind(const gw_console_t *c)
{
    return c->upload ? "upload" : c->download ? "download" : "console";
}

static void refused(gw_console_hub_t *h, const char *why)
{
    if (h->ctx && h->ctx->metrics)
        gw_metrics_console_refused(h->ctx->metrics, why);
}

/* Ask for the client's last bytes to go, then close it with @p code and @p reason. */
static void close_client(gw_console_hub_t *h, gw_console_t *c, int code, const char *reason,
                         const char *why)
{
    if (c->state == GW_CS_CLOSING)
        return;
    c->state = GW_CS_CLOSING;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    c->last_input_ms = gw_mono_ms(); /* from now on: when closing started */
    if (why && !c->download)         /* the console refusals' counter */
        refused(h, why);
    if (c->client)
        lws_callback_on_writable(c->client);
}

/* The relay of @p c is dropped: it closes at its next writeable. */
static void drop_relay(gw_console_t *c)
{
    if (c->relay_conn)
        c->relay_conn->c = NULL;
    c->relay_conn = NULL;
    if (!c->relay)
        return;
    if (c->relay_paused)
        lws_rx_flow_control(c->relay, 1);
    lws_callback_on_writable(c->relay);
    c->relay = NULL;
}

/* ------------------------------------------------------------------ admission */

static bool cookie_value(const char *cookies, const char *name, char *out, size_t out_size)
{
    size_t nlen = strlen(name);

    for (const char *p = cookies; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (!strncmp(p, name, nlen) && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t n = strcspn(v, ";");
            if (n >= out_size)
                return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

static bool refuse(gw_console_refusal_t *r, int status, const char *why, const char *fmt,
                   const char *arg)
{
    r->status = status;
    r->why = why;
    snprintf(r->reason, sizeof(r->reason), fmt, arg ? arg : "");
    return false;
}

typedef struct {
    const char *pool;
    const char *state;
    int64_t ts;
    bool found;
    char state_buf[32];
} agent_probe_t;

static void probe_pool(void *opaque, const gw_pool_info_t *p)
{
    agent_probe_t *a = opaque;

    if (strcmp(p->uuid, a->pool) != 0)
        return;
    a->found = true;
    snprintf(a->state_buf, sizeof(a->state_buf), "%s", p->agent_state ? p->agent_state : "absent");
    a->ts = p->agent_ts;
}

/* The VM's fields that decide, read from its XO object under the view's read lock. */
static bool read_vm(gw_console_hub_t *h, const char *id, gw_console_t *c, char *power,
                    size_t power_size, bool *disabled, agent_probe_t *agent)
{
    gw_obj_info_t o;
    json_object *obj = NULL, *v, *other;
    bool found;

    gw_view_rdlock(h->ctx->view);
    found = gw_view_get(h->ctx->view, id, &o) &&
            (o.type == GW_T_VM || o.type == GW_T_VM_CONTROLLER) && o.json;
    if (found) {
        snprintf(c->vm, sizeof(c->vm), "%s", o.id);
        snprintf(c->pool, sizeof(c->pool), "%s", o.pool);
        snprintf(c->type, sizeof(c->type), "%s", gw_type_name(o.type));
        obj = json_tokener_parse(o.json);
        agent->pool = c->pool;
        gw_view_foreach_pool(h->ctx->view, probe_pool, agent);
    }
    gw_view_unlock(h->ctx->view);
    if (!found)
        return false;
    snprintf(c->uuid, sizeof(c->uuid), "%s",
             json_object_object_get_ex(obj, "uuid", &v) ? json_object_get_string(v) : c->vm);
    snprintf(power, power_size, "%s",
             json_object_object_get_ex(obj, "power_state", &v) ? json_object_get_string(v)
                                                               : "unknown");
    *disabled = json_object_object_get_ex(obj, "other", &other) &&
                json_object_object_get_ex(other, "disable_pv_vnc", &v) &&
                !strcmp(json_object_get_string(v), "1");
    json_object_put(obj);
    return true;
}

static size_t user_consoles(const gw_console_hub_t *h, const char *user_id)
{
    size_t n = 0;

    for (const gw_console_t *c = h->head; c; c = c->next)
        n += !c->download && !strcmp(c->user_id, user_id);
    return n;
}

bool gw_console_admit(gw_console_hub_t *h, const char *id, const char *cookie, const char *addr,
                      gw_console_t *c, gw_console_refusal_t *r)
{
    char tok[128], power[32];
    const gw_user_t *user;
    agent_probe_t agent = {0};
    bool disabled = false;

    memset(r, 0, sizeof(*r));
    if (!*id || strlen(id) >= sizeof(c->vm) || strchr(id, '/'))
        return refuse(r, 404, "bad_path", "no such console%s", NULL);
    if (!cookie_value(cookie, "token", tok, sizeof(tok)) &&
        !cookie_value(cookie, "authenticationToken", tok, sizeof(tok)))
        return refuse(r, 401, "no_cookie", "no token cookie: sign in first%s", NULL);
    user = gw_tokens_lookup_ref(h->ctx->users, tok, xo_now_ms(), NULL, &c->token);
    OPENSSL_cleanse(tok, sizeof(tok));
    if (!user)
        return refuse(r, 401, "invalid_token", "invalid or expired token%s", NULL);
    if (user->permission != GW_PERM_ADMIN)
        return refuse(r, 403, "viewer", "not enough permissions: operate on VM %s is needed", id);
    if (!read_vm(h, id, c, power, sizeof(power), &disabled, &agent))
        return refuse(r, 404, "unknown_vm", "no such VM %s", id);
    if (strcmp(power, "Running") != 0)
        return refuse(r, 409, "not_running", "the VM is %s: it has no console", power);
    if (disabled)
        return refuse(r, 403, "disabled",
                      "the VM's console is disabled "
                      "(other_config.disable_pv_vnc)%s",
                      NULL);
    if (!agent.found || strcmp(agent.state_buf, "live") != 0 ||
        xo_now_ms() - agent.ts > h->agent_stale_ms)
        return refuse(r, 503, "agent_down", "the pool's agent is not live (%s)",
                      agent.found ? agent.state_buf : "no heartbeat");
    if (user_consoles(h, user->id) >= h->max_per_user)
        return refuse(r, 429, "user_limit", "console.max_per_user reached%s", NULL);
    if (h->count >= h->max_total)
        return refuse(r, 503, "total_limit", "console.max_total reached%s", NULL);
    snprintf(c->user_id, sizeof(c->user_id), "%s", user->id);
    snprintf(c->email, sizeof(c->email), "%s", user->email);
    snprintf(c->addr, sizeof(c->addr), "%s", addr ? addr : "");
    return true;
}

/* ------------------------------------------------------------------ open */

/* Where the agent dials back: console.relay_url, else this listener as the client saw it. */
static void relay_url(gw_console_hub_t *h, struct lws *wsi, const char *uuid, char *out,
                      size_t size)
{
    const char *addr = h->ctx && h->ctx->cfg ? xo_config_get(h->ctx->cfg, "http.address") : NULL;

    if (h->relay_url && *h->relay_url) {
        size_t n = strlen(h->relay_url);
        snprintf(out, size, "%s%s%s", h->relay_url, n && h->relay_url[n - 1] == '/' ? "" : "/",
                 uuid);
        return;
    }
    if (!addr || !strcmp(addr, "0.0.0.0") || !*addr)
        addr = "127.0.0.1";
    snprintf(out, size, "%s://%s:%d/api/console-relay/%s", lws_is_ssl(wsi) ? "wss" : "ws", addr,
             gw_transport_of(wsi)->port, uuid);
}

static void reg(gw_console_hub_t *h, gw_console_t *c)
{
    c->next = h->head;
    if (h->head)
        h->head->prev = c;
    h->head = c;
    if (c->download)
        h->downloads++;
    else
        h->count++;
    c->registered = true;
}

static void unreg(gw_console_hub_t *h, gw_console_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    if (c->download)
        h->downloads--;
    else
        h->count--;
    c->registered = false;
}

/* Register @p c (its client is @p wsi) and issue @p op with a fresh relay ticket: the
 * console's console.open, or the download's vm.exportRelay. */
static void session_start(gw_console_hub_t *h, gw_console_t *c, struct lws *wsi, const char *op)
{
    char url[600], cid[GW_CMD_ID_LEN + 1] = "";
    json_object *args = json_object_new_object();
    gw_cmd_waiter_t w = {.kind = GW_CMD_WAIT_CONSOLE, .rpc_id = "0", .admin = true};
    gw_cmd_req_t req;
    gw_xo_err_t err;

    c->client = wsi;
    c->serial = gw_transport_conn(gw_transport_of(wsi));
    gw_conn_budget_init(&c->to_client.budget, h->queue_limit);
    gw_conn_budget_init(&c->to_relay.budget, h->queue_limit);
    c->to_client.rx_max = GW_CONSOLE_RX; /* a relay's WebSocket reads */
    /* an upload's body comes in the server's reads, and lws hands all of one over */
    c->to_relay.rx_max = c->upload ? GW_HTTP_READ_MAX : GW_CONSOLE_RX;
    c->opened_ms = c->last_input_ms = gw_mono_ms();
    c->state = GW_CS_WAITING;
    reg(h, c);
    if (h->ctx->metrics && !c->download)
        gw_metrics_console_opened(h->ctx->metrics);
    gw_xo_err_init(&err);
    if (!args || !gw_random_token(c->ticket)) {
        close_client(h, c, GW_CLOSE_FAILED, "out of memory or randomness", "internal");
        goto out;
    }
    relay_url(h, wsi, c->uuid, url, sizeof(url));
    json_object_object_add(args, c->upload ? "sr" : "id", json_object_new_string(c->uuid));
    json_object_object_add(args, "ticket", json_object_new_string(c->ticket));
    json_object_object_add(args, "relay", json_object_new_string(url));
    if (c->download && c->compress[0])
        json_object_object_add(args, "compress", json_tokener_parse(c->compress));
    w.conn = c->serial;
    req = (gw_cmd_req_t){op, args, c->pool, c->vm, c->user_id, c->email};
    if (gw_commands_submit(h->ctx->commands, &req, &w, cid, &err) != 0) {
        char reason[120];
        snprintf(reason, sizeof(reason), "cannot issue %s: %.80s", op, err.message);
        close_client(h, c, GW_CLOSE_AGENT, reason, "command_failed");
        goto out;
    }
    snprintf(c->cmd_id, sizeof(c->cmd_id), "%s", cid);
    c->ticket_expires_ms = gw_mono_ms() + h->ticket_ttl_ms;
    xo_info(MOD, "event=%s_requested user=\"%s\" vm=%s type=%s pool=%s addr=%s command=%s", kind(c),
            c->email, c->vm, c->type, c->pool, c->addr, cid);
out:
    json_object_put(args);
    gw_xo_err_fini(&err);
}

void gw_console_open(gw_console_hub_t *h, gw_console_t *c, struct lws *wsi)
{
    session_start(h, c, wsi, "console.open");
}

void gw_download_open(gw_console_hub_t *h, gw_console_t *c, struct lws *wsi)
{
    c->download = true;
    session_start(h, c, wsi, "vm.exportRelay");
}

void gw_upload_open(gw_console_hub_t *h, gw_console_t *c, struct lws *wsi)
{
    c->download = c->upload = true;
    session_start(h, c, wsi, "vm.importRelay");
}

/* All of the body came: the relay is closed 1000 once it has all of it. */
static void body_complete(gw_console_t *c)
{
    c->body_done = true;
    if (c->relay)
        lws_callback_on_writable(c->relay);
}

/* The upload fails before its body's end: @p status and @p why answer the POST, the relay
 * is cut (never 1000: the agent cancels the import, XAPI removes what it made). */
static void upload_refuse(gw_console_hub_t *h, gw_console_t *c, int status, const char *why)
{
    gw_buf_t body;

    if (c->answer || c->headers_sent)
        return;
    gw_buf_init(&body);
    gw_buf_puts(&body, "{\"error\":");
    gw_buf_json_str(&body, why);
    gw_buf_putc(&body, '}');
    c->answer = body.failed ? NULL : strdup(body.data);
    c->answer_status = status;
    gw_buf_fini(&body);
    xo_warn(MOD, "event=upload_refused user=\"%s\" sr=%s status=%d reading_paused=%d reason=\"%s\"",
            c->email, c->vm, status, c->client_paused, why);
    /* Read on: libwebsockets 4.1 never calls an HTTP connection writable while its reading
     * is paused, so a client paused because the relay was full (the host slower than the
     * upload) would never get this answer, only the headers timeout's close. */
    if (c->client && c->client_paused) {
        lws_rx_flow_control(c->client, 1);
        c->client_paused = false;
    }
    close_client(h, c, GW_CLOSE_FAILED, why, NULL);
    drop_relay(c);
    if (c->client)
        lws_callback_on_writable(c->client);
}

void gw_upload_body_done(gw_console_hub_t *h, gw_console_t *c)
{
    if (c->body_done || c->state == GW_CS_CLOSING)
        return;
    if (!c->chunked) {
        body_complete(c);
        return;
    }
    /* libwebsockets 4.1 reads a chunked body as one of GW_UPLOAD_CHUNKED_MAX bytes and ends
     * it there: a longer one cannot be read whole, and is refused rather than cut */
    upload_refuse(h, c, 413,
                  "a chunked body is limited to 100 MiB by this gateway: send the file with "
                  "Content-Length");
}

typedef struct {
    gw_console_hub_t *h;
    gw_console_t *c;
} body_sink_t;

static void body_to_relay(void *opaque, const uint8_t *p, size_t n)
{
    body_sink_t *b = opaque;

    gw_console_from_client(b->h, b->c, p, n);
}

void gw_upload_body(gw_console_hub_t *h, gw_console_t *c, const void *in, size_t len)
{
    body_sink_t b = {h, c};
    size_t used;
    int rc;

    if (!c->chunked) {
        gw_console_from_client(h, c, in, len);
        return;
    }
    if (c->body_done || c->state == GW_CS_CLOSING)
        return; /* what follows the body's end is not the body's */
    rc = gw_chunked_feed(&c->dechunk, in, len, body_to_relay, &b, &used);
    if (rc > 0)
        body_complete(c);
    else if (rc < 0)
        upload_refuse(h, c, 400, "the request's body is not valid chunked encoding");
}

/* ------------------------------------------------------------------ splice */

/* Stop reading the source of @p q once one more read might not fit its budget. */
static void pause_if_full(gw_cq_t *q, struct lws *reader, bool *paused)
{
    if (!*paused && !gw_conn_budget_fits(&q->budget, q->rx_max)) {
        lws_rx_flow_control(reader, 0);
        *paused = true;
    }
}

static void resume_if_drained(gw_cq_t *q, struct lws *reader, bool *paused)
{
    if (*paused && reader && cq_len(q) <= q->budget.limit / 2) {
        lws_rx_flow_control(reader, 1);
        *paused = false;
    }
}

void gw_console_from_client(gw_console_hub_t *h, gw_console_t *c, const void *in, size_t len)
{
    if (c->state == GW_CS_CLOSING || !len)
        return;
    c->last_input_ms = gw_mono_ms();
    c->idle_sweeps = 0;
    if (!cq_put(&c->to_relay, in, len)) {
        close_client(h, c, GW_CLOSE_FAILED, "console queue overflow", "overflow");
        return;
    }
    pause_if_full(&c->to_relay, c->client, &c->client_paused);
    if (c->relay)
        lws_callback_on_writable(c->relay);
}

/* A download's head: 200, the file, and (HTTP/1.1) a body that ends with the connection, as
 * XAPI's own /export: the XVA has its own end blocks and checksums. */
static int download_head(gw_console_t *c)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *pos = start,
                                       *end = hdr + sizeof(hdr) - 1;
    char disposition[300];
    static const char type[] = "application/octet-stream";

    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", c->filename);
    if (gw_http_add_status(c->client, 200, &pos, end) ||
        lws_add_http_header_by_token(c->client, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)type, (int)strlen(type), &pos, end) ||
        lws_add_http_header_by_name(c->client, (const unsigned char *)"content-disposition:",
                                    (const unsigned char *)disposition, (int)strlen(disposition),
                                    &pos, end) ||
        (lws_get_network_wsi(c->client) == c->client &&
         lws_add_http_header_by_token(c->client, WSI_TOKEN_CONNECTION,
                                      (const unsigned char *)"close", 5, &pos, end)) ||
        lws_add_http_header_by_name(c->client, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &pos, end) ||
        lws_finalize_write_http_header(c->client, start, &pos, end))
        return -1;
    c->headers_sent = true;
    return 0;
}

/* A download that failed before its first byte: an HTTP error naming the agent's reason
 * (503 when the pool's agent did not come or answer, 502 for its failures). */
static int download_error(gw_console_t *c)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *pos = start,
                                       *end = hdr + sizeof(hdr) - 1;
    int status = c->close_code == GW_CLOSE_AGENT ? 503 : 502;
    static const char type[] = "application/json";
    gw_buf_t body;
    int rc = -1;

    gw_buf_init_pre(&body, LWS_PRE);
    gw_buf_puts(&body, "{\"error\":");
    gw_buf_json_str(&body, c->close_reason);
    gw_buf_putc(&body, '}');
    if (!body.failed && !gw_http_add_status(c->client, status, &pos, end) &&
        !lws_add_http_header_by_token(c->client, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                      (const unsigned char *)type, (int)strlen(type), &pos, end) &&
        !lws_add_http_header_content_length(c->client, body.len, &pos, end) &&
        !(lws_get_network_wsi(c->client) == c->client &&
          lws_add_http_header_by_token(c->client, WSI_TOKEN_CONNECTION,
                                       (const unsigned char *)"close", 5, &pos, end)) &&
        !lws_finalize_write_http_header(c->client, start, &pos, end))
        lws_write(c->client, (unsigned char *)body.data, body.len, LWS_WRITE_HTTP_FINAL);
    c->headers_sent = true;
    gw_buf_fini(&body);
    return rc; /* lws sends what it holds, then closes */
}

/* A download's client is writeable: its head with the first bytes, its body, then its end
 * (complete: the final write; failed: cut, so the XVA is visibly incomplete). */
static int download_writeable(gw_console_hub_t *h, gw_console_t *c)
{
    bool complete = c->state == GW_CS_CLOSING && c->close_code == LWS_CLOSE_STATUS_NORMAL;
    unsigned char empty[LWS_PRE + 1];
    long n;

    if (!c->headers_sent) {
        if (c->state == GW_CS_CLOSING && c->close_code != LWS_CLOSE_STATUS_NORMAL &&
            !cq_len(&c->to_client))
            return download_error(c);
        if (!cq_len(&c->to_client) && c->state != GW_CS_CLOSING)
            return 0;
        if (download_head(c) != 0)
            return -1;
        lws_callback_on_writable(c->client); /* the body at the next writeable */
        return 0;
    }
    n = cq_write(&c->to_client, c->client,
                 complete && cq_len(&c->to_client) <= GW_CONSOLE_CHUNK ? LWS_WRITE_HTTP_FINAL
                                                                       : LWS_WRITE_HTTP);
    if (n < 0)
        return -1;
    c->bytes_to_client += (uint64_t)n;
    if (n && complete && !cq_len(&c->to_client))
        return -1; /* that was the last write: lws sends what it holds, then closes */
    resume_if_drained(&c->to_client, c->relay, &c->relay_paused);
    if (cq_len(&c->to_client)) {
        lws_callback_on_writable(c->client);
        return 0;
    }
    if (c->state != GW_CS_CLOSING)
        return 0;
    /* complete with nothing left to write: an HTTP/2 stream still needs its end (an empty
     * final write); HTTP/1.1's body ends with the connection */
    if (complete && lws_get_network_wsi(c->client) != c->client)
        lws_write(c->client, empty + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL);
    (void)h;
    return -1; /* lws sends what it holds, then closes */
}

/* The POST's answer, once: the command's outcome as xo-server's handler writes it (a
 * JSON-RPC response with id 0), or the hub's own failure ({error}, 502/503). */
static int upload_writeable(gw_console_t *c)
{
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *pos = start,
                                      *end = hdr + sizeof(hdr) - 1;
    static const char type[] = "application/json";
    size_t len = c->answer ? strlen(c->answer) : 0;
    unsigned char *body;

    if (c->headers_sent || (!c->answer && c->state != GW_CS_CLOSING))
        return c->headers_sent ? -1 : 0;
    if (!c->answer)
        return download_error(c);
    c->headers_sent = true;
    body = malloc(LWS_PRE + len);
    if (!body || gw_http_add_status(c->client, c->answer_status, &pos, end) ||
        lws_add_http_header_by_token(c->client, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)type, (int)strlen(type), &pos, end) ||
        lws_add_http_header_content_length(c->client, len, &pos, end) ||
        (lws_get_network_wsi(c->client) == c->client &&
         lws_add_http_header_by_token(c->client, WSI_TOKEN_CONNECTION,
                                      (const unsigned char *)"close", 5, &pos, end)) ||
        lws_finalize_write_http_header(c->client, start, &pos, end)) {
        free(body);
        return -1;
    }
    memcpy(body + LWS_PRE, c->answer, len);
    lws_write(c->client, body + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
    free(body);
    return -1; /* lws sends what it holds, then closes */
}

int gw_console_client_writeable(gw_console_hub_t *h, gw_console_t *c)
{
    long n;

    if (c->upload)
        return upload_writeable(c);
    if (c->download)
        return download_writeable(h, c);
    n = cq_write(&c->to_client, c->client, LWS_WRITE_BINARY);

    if (n < 0)
        return -1;
    c->bytes_to_client += (uint64_t)n;
    if (n && h->ctx->metrics)
        gw_metrics_console_bytes(h->ctx->metrics, (uint64_t)n, 0);
    resume_if_drained(&c->to_client, c->relay, &c->relay_paused);
    if (cq_len(&c->to_client)) {
        lws_callback_on_writable(c->client);
        return 0;
    }
    if (c->state != GW_CS_CLOSING)
        return 0;
    lws_close_reason(c->client, (enum lws_close_status)c->close_code,
                     (unsigned char *)c->close_reason, strlen(c->close_reason));
    return -1;
}

void gw_console_client_closed(gw_console_hub_t *h, gw_console_t *c)
{
    if (!c->registered)
        return;
    unreg(h, c);
    drop_relay(c);
    if (h->ctx->commands)
        gw_commands_forget_conn(h->ctx->commands, c->serial);
    if (h->ctx->metrics && !c->download)
        gw_metrics_console_closed(h->ctx->metrics);
    xo_info(MOD,
            "event=%s_closed user=\"%s\" vm=%s pool=%s command=%s duration_ms=%lld "
            "bytes_to_client=%llu bytes_to_host=%llu code=%d reason=\"%s\"",
            kind(c), c->email, c->vm, c->pool, c->cmd_id, (long long)(gw_mono_ms() - c->opened_ms),
            (unsigned long long)c->bytes_to_client, (unsigned long long)c->bytes_to_relay,
            c->close_code ? c->close_code : 1000,
            c->close_reason[0] ? c->close_reason : "client left");
    OPENSSL_cleanse(c->ticket, sizeof(c->ticket));
    free(c->answer);
    c->answer = NULL;
    cq_free(&c->to_client);
    cq_free(&c->to_relay);
    c->client = NULL;
}

/* ------------------------------------------------------------------ relay */

bool gw_console_relay_admit(gw_console_hub_t *h, const char *id, const char *ticket,
                            gw_relay_conn_t *rc, gw_console_refusal_t *r)
{
    gw_console_t *c;

    memset(r, 0, sizeof(*r));
    if (strlen(ticket) != GW_CONSOLE_TICKET)
        return refuse(r, 403, "relay_no_ticket", "no valid ticket%s", NULL);
    for (c = h->head; c; c = c->next)
        if (CRYPTO_memcmp(c->ticket, ticket, GW_CONSOLE_TICKET) == 0)
            break;
    if (!c || c->ticket_used)
        return refuse(r, 403, "relay_bad_ticket", "unknown, expired or spent ticket%s", NULL);
    c->ticket_used = true; /* spent whatever happens next */
    if (strcmp(c->uuid, id) != 0) {
        xo_warn(MOD, "event=relay_ticket_misused vm=%s presented_for=%.64s", c->vm, id);
        close_client(h, c, GW_CLOSE_AGENT,
                     "the console's relay ticket was presented for "
                     "another console",
                     NULL);
        return refuse(r, 403, "relay_wrong_console", "ticket of another console%s", NULL);
    }
    if (c->state != GW_CS_WAITING || gw_mono_ms() > c->ticket_expires_ms)
        return refuse(r, 403, "relay_bad_ticket", "unknown, expired or spent ticket%s", NULL);
    rc->c = c;
    rc->upload = c->upload;
    c->relay_conn = rc; /* cleared by either side's close */
    return true;
}

void gw_console_relay_open(gw_console_hub_t *h, gw_relay_conn_t *rc, struct lws *wsi)
{
    gw_console_t *c = rc->c;

    if (!c || c->state != GW_CS_WAITING) {
        rc->c = NULL;
        lws_callback_on_writable(wsi); /* closes */
        return;
    }
    c->relay = wsi;
    c->relay_conn = rc;
    c->state = GW_CS_SPLICED;
    rc->attached = true;
    xo_info(MOD, "event=%s_opened user=\"%s\" vm=%s pool=%s command=%s wait_ms=%lld", kind(c),
            c->email, c->vm, c->pool, c->cmd_id, (long long)(gw_mono_ms() - c->opened_ms));
    if (cq_len(&c->to_relay) || c->body_done)
        lws_callback_on_writable(wsi);
    (void)h;
}

void gw_console_from_relay(gw_console_hub_t *h, gw_relay_conn_t *rc, const void *in, size_t len)
{
    gw_console_t *c = rc->c;

    if (!c || !len || c->state == GW_CS_CLOSING || c->upload) /* an upload's agent only reads */
        return;
    c->idle_sweeps = 0;
    if (!cq_put(&c->to_client, in, len)) {
        close_client(h, c, GW_CLOSE_FAILED, "console queue overflow", "overflow");
        return;
    }
    pause_if_full(&c->to_client, c->relay, &c->relay_paused);
    lws_callback_on_writable(c->client);
}

int gw_console_relay_writeable(gw_console_hub_t *h, gw_relay_conn_t *rc)
{
    gw_console_t *c = rc->c;
    long n;

    if (!c)
        return -1; /* dropped: its client left */
    n = cq_write(&c->to_relay, c->relay, LWS_WRITE_BINARY);
    if (n < 0)
        return -1;
    c->bytes_to_relay += (uint64_t)n;
    if (n && h->ctx->metrics)
        gw_metrics_console_bytes(h->ctx->metrics, 0, (uint64_t)n);
    resume_if_drained(&c->to_relay, c->client, &c->client_paused);
    if (cq_len(&c->to_relay) || (c->upload && c->body_done && n > 0)) {
        /* the close waits for a turn that writes nothing: lws calls back only once what it
         * still holds of the last write is sent, and a close now would drop it */
        lws_callback_on_writable(c->relay);
    } else if (c->upload && c->body_done) { /* all of the body is out: 1000 says so */
        static const char done[] = "the upload is complete";
        lws_close_reason(c->relay, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)done,
                         sizeof(done) - 1);
        return -1;
    }
    return 0;
}

void gw_console_relay_closed(gw_console_hub_t *h, gw_relay_conn_t *rc, int code, const char *reason)
{
    gw_console_t *c = rc->c;

    rc->c = NULL;
    if (c && c->relay_conn == rc)
        c->relay_conn = NULL;
    if (!c || c->relay == NULL)
        return;
    c->relay = NULL;
    c->relay_conn = NULL;
    c->relay_paused = false;
    if (c->client_paused) { /* nothing will drain to_relay any more */
        lws_rx_flow_control(c->client, 1);
        c->client_paused = false;
    }
    if (c->upload && c->body_done) /* the import finishes: the command's outcome answers */
        return;
    if (c->upload)
        close_client(h, c, GW_CLOSE_AGENT, "the pool's agent went away before the body's end",
                     NULL);
    else if (c->download) /* 1000: the whole export came; else the agent's reason */
        close_client(h, c,
                     code == LWS_CLOSE_STATUS_NORMAL ? LWS_CLOSE_STATUS_NORMAL : GW_CLOSE_FAILED,
                     reason && *reason ? reason : "the pool's agent went away", NULL);
    else if (code >= 4000 && code < 5000 && reason && *reason)
        close_client(h, c, code, reason, code == GW_CLOSE_CONSOLE_ENDED ? NULL : "relay_closed");
    else
        close_client(h, c, GW_CLOSE_AGENT, "the pool's agent went away", "agent_gone");
}

/* ------------------------------------------------------------------ outcomes and timeouts */

/* The agent's failure code (data.code of the bus's error) as a close code and a reason. */
static int close_for(const char *code, char *reason, size_t size, const char *why_default)
{
    static const struct {
        const char *code;
        int close;
        const char *text;
    } map[] = {
        {"NO_RFB_CONSOLE", GW_CLOSE_NO_CONSOLE, "the VM has no RFB console"},
        {"CONSOLE_DISABLED", GW_CLOSE_DISABLED, "the VM's console is disabled"},
        {"VM_NOT_RUNNING", GW_CLOSE_NOT_RUNNING, "the VM is not running"},
        {"VM_BAD_POWER_STATE", GW_CLOSE_NOT_RUNNING, "the VM is not running"},
        {"CONSOLE_LIMIT", GW_CLOSE_LIMIT, "the pool's agent has reached its console limit"},
        {"RELAY_UNREACHABLE", GW_CLOSE_AGENT, "the pool's agent cannot reach this gateway"},
        {"RELAY_REFUSED", GW_CLOSE_AGENT, "this gateway refused the agent's relay"},
        {"CONSOLE_UNREACHABLE", GW_CLOSE_FAILED, "the agent cannot reach the VM's console"},
        {"COMMAND_TIMEOUT", GW_CLOSE_AGENT, "the pool's agent did not answer"},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].code, code)) {
            snprintf(reason, size, "%s", map[i].text);
            return map[i].close;
        }
    snprintf(reason, size, "%s (%.60s)", why_default, code);
    return GW_CLOSE_FAILED;
}

/* An upload's vm.importRelay ended: its outcome is the POST's answer (200 and the new VM's
 * id, or 500 and the error, as xo-server answers), whatever the body's state. */
static void upload_outcome(gw_console_hub_t *h, gw_console_t *c, const gw_cmd_reply_t *r)
{
    gw_buf_t body;

    if (c->answer || c->headers_sent)
        return;
    gw_buf_init(&body);
    gw_rpc_write_reply(&body, r);
    if (body.failed) {
        gw_buf_fini(&body);
        close_client(h, c, GW_CLOSE_FAILED, "out of memory", NULL);
        return;
    }
    c->answer = strdup(body.data);
    c->answer_status = r->ok ? 200 : 500;
    gw_buf_fini(&body);
    xo_info(MOD, "event=upload_%s user=\"%s\" sr=%s command=%s", r->ok ? "done" : "failed",
            c->email, c->vm, r->command_id);
    close_client(h, c, r->ok ? LWS_CLOSE_STATUS_NORMAL : GW_CLOSE_FAILED,
                 r->ok ? "imported" : "the import failed", NULL);
    drop_relay(c);
    if (c->client)
        lws_callback_on_writable(c->client);
}

void gw_console_deliver(gw_console_hub_t *h, const gw_cmd_reply_t *r)
{
    gw_console_t *c;
    json_object *data = NULL, *v;
    char reason[120];
    const char *code;
    int close;

    for (c = h->head; c && c->serial != r->waiter->conn; c = c->next)
        ;
    if (c && c->upload) {
        upload_outcome(h, c, r);
        return;
    }
    if (!c || r->ok || c->state != GW_CS_WAITING)
        return;
    if (r->err && r->err->data.len)
        data = json_tokener_parse(r->err->data.data);
    code = json_object_object_get_ex(data, "code", &v) ? json_object_get_string(v) : "FAILED";
    close = close_for(code, reason, sizeof(reason),
                      c->download ? "the export failed" : "the console could not be opened");
    xo_warn(MOD, "event=%s_failed user=\"%s\" vm=%s command=%s code=%s", kind(c), c->email, c->vm,
            r->command_id, code);
    close_client(h, c, close, reason, "agent_failure");
    json_object_put(data);
}

/* The browser took no byte of what waits for it for timeouts.send_s: closed at once and
 * counted, as any connection that stops reading (ws_sessions.c); its relay goes with it. */
static void drop_stalled_client(gw_console_hub_t *h, gw_console_t *c)
{
    xo_warn(MOD,
            "event=console_dropped reason=stalled user=\"%s\" vm=%s queued_bytes=%zu limit_s=%lld",
            c->email, c->vm, cq_len(&c->to_client), (long long)(h->send_ms / 1000));
    if (h->ctx->metrics)
        gw_metrics_count_closed(h->ctx->metrics, GW_CLOSE_STALLED);
    if (!c->download)
        refused(h, "stalled");
    c->state = GW_CS_CLOSING;
    c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
    snprintf(c->close_reason, sizeof(c->close_reason),
             "the client took no bytes for %lld s (timeouts.send_s)",
             (long long)(h->send_ms / 1000));
    drop_relay(c);
    gw_conn_close_now(c->client);
}

/* The pool's agent took no byte of what waits for it for timeouts.send_s: its relay is
 * closed at once and counted, and the browser told why (4503). */
static void drop_stalled_relay(gw_console_hub_t *h, gw_console_t *c)
{
    struct lws *relay = c->relay;
    char reason[120];

    xo_warn(MOD,
            "event=relay_dropped reason=stalled user=\"%s\" vm=%s queued_bytes=%zu limit_s=%lld",
            c->email, c->vm, cq_len(&c->to_relay), (long long)(h->send_ms / 1000));
    if (h->ctx->metrics)
        gw_metrics_count_closed(h->ctx->metrics, GW_CLOSE_STALLED);
    snprintf(reason, sizeof(reason), "the pool's agent took no bytes for %lld s (timeouts.send_s)",
             (long long)(h->send_ms / 1000));
    close_client(h, c, GW_CLOSE_AGENT, reason, "relay_stalled");
    drop_relay(c);
    if (c->client_paused) { /* nothing drains to_relay any more */
        lws_rx_flow_control(c->client, 1);
        c->client_paused = false;
    }
    gw_conn_close_now(relay);
}

/* Whether the token the console was opened with is still live and its user may still
 * operate: token.delete, a sign-out with it, its expiry or a users file that removed the
 * user or its permission end the console (4401), as they end a JSON-RPC session. */
static bool still_signed_in(gw_console_hub_t *h, const gw_console_t *c)
{
    const gw_user_t *u = gw_tokens_check(h->ctx->users, &c->token, xo_now_ms());

    return u && u->permission == GW_PERM_ADMIN && !strcmp(u->id, c->user_id);
}

/* The deadlines of one console (see console_hub.h). */
static void check_console(gw_console_hub_t *h, gw_console_t *c, int64_t now)
{
    char reason[120];

    if (c->state != GW_CS_CLOSING && !c->download && !still_signed_in(h, c)) {
        close_client(h, c, GW_CLOSE_SIGNED_OUT,
                     "signed out: the session's token was deleted or expired, or its user may "
                     "not operate the VM any more",
                     "token_gone");
        drop_relay(c);
    } else if (c->state == GW_CS_WAITING && now > c->ticket_expires_ms && c->ticket_expires_ms) {
        snprintf(reason, sizeof(reason), "the pool's agent did not connect within %lld s",
                 (long long)(h->ticket_ttl_ms / 1000));
        close_client(h, c, GW_CLOSE_AGENT, reason, "agent_timeout");
    } else if (c->state == GW_CS_SPLICED && cq_stalled(&c->to_client, now, h->send_ms)) {
        drop_stalled_client(h, c);
    } else if (c->state == GW_CS_SPLICED && c->relay && cq_stalled(&c->to_relay, now, h->send_ms)) {
        drop_stalled_relay(h, c);
    } else if (c->state == GW_CS_SPLICED && !c->download && h->idle_ms > 0 &&
               now - c->last_input_ms > h->idle_ms) {
        snprintf(reason, sizeof(reason), "no input for %lld s (console.idle_timeout_s)",
                 (long long)(h->idle_ms / 1000));
        close_client(h, c, GW_CLOSE_IDLE, reason, "idle");
        drop_relay(c);
    } else if (c->state == GW_CS_CLOSING && now - c->last_input_ms > GW_CONSOLE_CLOSING_MS &&
               c->client) {
        lws_set_timeout(c->client, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    gw_console_hub_t *h = lws_container_of(sul, gw_console_hub_t, sweep);
    gw_fair_lock_t *lock = h->ctx ? h->ctx->service_lock : NULL;
    int64_t now = gw_mono_ms();

    gw_fair_lock(lock); /* a timer: not a locked callback (endpoint.h) */
    for (gw_console_t *c = h->head; c; c = c->next) {
        if (c->idle_sweeps++ >= 4) { /* ~1 s without traffic */
            cq_trim(&c->to_client);
            cq_trim(&c->to_relay);
        }
        check_console(h, c, now);
    }
    gw_fair_unlock(lock);
    lws_sul_schedule(h->lws, 0, &h->sweep, sweep_cb, SWEEP_US);
}
