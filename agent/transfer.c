/*
 * transfer.c - VM transfers between two pools' agents (transfer.h, docs/streaming.md).
 * Destination: vm.importPrepare registers a single-use ticket; the listener thread accepts
 * TLS links and hands each to an import worker, which checks the ticket and the named
 * source agent, then pipes the link's frames into PUT /import on its host. Source:
 * vm.exportTo hands the command to an export worker, which waits for a transfer slot
 * (transfer.max_concurrent), pipes GET /export into the link, and publishes the outcome.
 * vm.exportRelay (vm.export's download) is the same export piped into the gateway's relay
 * instead (transfer_relay.c); vm.importRelay (vm.import's upload) reads that relay into the
 * import path of the destination side.
 * Workers have their own XAPI connection and session; the command thread never waits for
 * a transfer. Must not hold transfer bytes beyond one frame per worker, nor log tickets
 * or sessions.
 */
#include "transfer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zstd.h>

#include "command_int.h"
#include "transfer_io.h"
#include "transfer_relay.h"
#include "xo_log.h"
#include "xo_sign.h"

#define TX_MOD         "transfer"
#define TX_TICKETS     64 /**< prepared imports remembered at once */
#define TX_WORKERS     16 /**< worker threads per agent: running + queued transfers */
#define TX_TICKET_HEX  64
#define TX_SOURCE_KEYS 8            /**< keys a ticket may name for its source (rotation) */
#define TX_PROGRESS_MS 500          /**< at most one progress result per transfer per this */
#define TX_ZSTD_IN     (128 * 1024) /**< export bytes read per compressed link frame */
#define TX_ZSTD_LEVEL  1            /**< fast: the link must keep up with the host */
#define TX_HELLO_MS                                                                                \
    10000 /**< TLS handshake and hello of an incoming link: an idle                                \
               connection must not hold a worker long */

typedef struct {
    bool used;
    char ticket[TX_TICKET_HEX + 1];
    char source[128];                              /**< the agent id allowed to present it */
    char keys[TX_SOURCE_KEYS][XO_PUB_B64_LEN + 1]; /**< one of which must sign the hello */
    int nkeys;
    char sr[64];    /**< destination SR uuid */
    char name[256]; /**< the copy's name_label, "" to keep the exported one */
    int64_t expires;
} tx_ticket_t;

typedef struct tx_worker tx_worker_t;

/* One job: an accepted link (import) or a command (export). */
struct tx_worker {
    agent_transfer_t *t;
    bool busy, done;
    pthread_t th;
    int fd;             /**< import: the accepted socket */
    char id[64];        /**< export: the command id */
    json_object *args;  /**< export: a private copy of the command's args */
    int64_t expires;    /**< export: the command's expiry */
    bool relay;         /**< export: to the gateway's relay (vm.export), not to an agent */
    xo_key_t *sign_key; /**< export: its own handle on the agent's key (signs its results) */
    unsigned char *buf; /**< TX_FRAME_BUF bytes: the one data buffer of the transfer */
    /* zstd on the link (transfer.link_zstd, uncompressed exports only): one side each */
    ZSTD_CCtx *cctx;     /**< source */
    ZSTD_DCtx *dctx;     /**< destination */
    unsigned char *zbuf; /**< TX_FRAME_BUF bytes: the other side of the codec */
};

struct agent_transfer {
    agent_t *a;
    SSL_CTX *ctx;
    char pin[TX_PIN_HEX + 1];
    char endpoint[300]; /**< "host:port" other agents dial */
    int listen_fd;
    int max_running, timeout_ms;
    int64_t ticket_ttl_ms;
    tx_tls_opts_t xapi_tls;
    pthread_mutex_t mu; /* tickets, workers, running */
    pthread_cond_t cv;
    int running;
    tx_ticket_t tickets[TX_TICKETS];
    tx_worker_t workers[TX_WORKERS];
    pthread_t listener;
    bool listening;
};

/* ------------------------------------------------------------------ worker XAPI context */

/* A command context of the worker's own: its XAPI connection and session, the pool's
 * partition for results. The cmd_* helpers of command_ops.c work on it. */
static agent_cmd_t *xapi_open(agent_t *a, char *errstr, size_t errstr_size)
{
    const xo_config_t *cfg = a->cfg;
    xo_xapi_opts_t opts = {
        .url = xo_config_get(cfg, "xapi.url"),
        .ca_file = xo_config_get(cfg, "xapi.ca_file"),
        .pin_sha256 = xo_config_get(cfg, "xapi.fingerprint"),
        .insecure = xo_config_get_bool(cfg, "xapi.insecure"),
        .connect_timeout_ms = xo_config_get_int(cfg, "xapi.connect_timeout_ms"),
        .timeout_ms = xo_config_get_int(cfg, "xapi.call_timeout_ms"),
    };
    agent_cmd_t *w = calloc(1, sizeof(*w));
    char url[256];

    if (!w || xo_xapi_conn_new(&opts, &w->xapi, errstr, errstr_size) != XO_OK) {
        free(w);
        return NULL;
    }
    xo_xapi_conn_set_abort(w->xapi, &agent_stop);
    w->a = a;
    pthread_mutex_lock(&a->status_lock);
    w->partition = a->partition;
    snprintf(w->pool, sizeof(w->pool), "%s", a->pool_uuid);
    snprintf(url, sizeof(url), "%s", a->status.master[0] ? a->status.master : opts.url);
    pthread_mutex_unlock(&a->status_lock);
    if (agent_login_conn(a, w->xapi, url, w->session, sizeof(w->session), errstr, errstr_size) !=
        XO_OK) {
        xo_xapi_conn_free(w->xapi);
        free(w);
        return NULL;
    }
    return w;
}

static void xapi_close(agent_cmd_t *w)
{
    json_object *ignored = NULL;
    char errstr[128];

    if (!w)
        return;
    xo_xapi_conn_set_abort(w->xapi, NULL);
    agent_call_conn(w->xapi, w->session, "session.logout", NULL, 5000, &ignored, NULL, errstr,
                    sizeof(errstr));
    json_object_put(ignored);
    xo_xapi_conn_free(w->xapi);
    free(w);
}

static json_object *args1(const char *s)
{
    json_object *p = json_object_new_array();

    json_object_array_add(p, json_object_new_string(s));
    return p;
}

/* task.create(label, description): the task the bulk handler reports on. */
static xo_err_t task_create(agent_cmd_t *w, const char *label, char *task, size_t size,
                            cmd_outcome_t *out)
{
    json_object *p = args1(label);

    json_object_array_add(p, json_object_new_string("xo-agent transfer"));
    return cmd_call_str(w, "task.create", p, task, size, out);
}

static void task_drop(agent_cmd_t *w, const char *task, const char *method)
{
    cmd_outcome_t o = {0};
    json_object *ignored = NULL;

    if (task[0])
        cmd_call(w, method, args1(task), &ignored, &o);
    json_object_put(ignored);
    xo_xapi_error_clear(&o.xerr);
}

/* The task's record once it has left "pending" (bounded by @p wait_ms); NULL if not. */
static json_object *task_end(agent_cmd_t *w, const char *task, int wait_ms, cmd_outcome_t *out)
{
    for (int waited = 0; waited <= wait_ms && !agent_stop; waited += 100) {
        json_object *rec = NULL;
        const char *status;
        if (cmd_call(w, "task.get_record", args1(task), &rec, out) != XO_OK)
            return NULL;
        status = xo_msg_str(rec, "status");
        if (status && strcmp(status, "pending") != 0 && strcmp(status, "cancelling") != 0)
            return rec;
        json_object_put(rec);
        agent_sleep(100);
    }
    return NULL;
}

/* XAPI's task error_info as the outcome's error. */
static xo_err_t task_failed(json_object *rec, cmd_outcome_t *out)
{
    json_object *info = NULL;
    size_t n;

    json_object_object_get_ex(rec, "error_info", &info);
    n = json_object_is_type(info, json_type_array) ? json_object_array_length(info) : 0;
    xo_xapi_error_clear(&out->xerr);
    snprintf(out->xerr.code, sizeof(out->xerr.code), "%s",
             n ? json_object_get_string(json_object_array_get_idx(info, 0)) : "TASK_CANCELLED");
    out->xerr.params = json_object_new_array();
    for (size_t i = 1; i < n; i++)
        json_object_array_add(out->xerr.params, json_object_new_string(json_object_get_string(
                                                    json_object_array_get_idx(info, i))));
    snprintf(out->reason, sizeof(out->reason), "XAPI task failed: %s", out->xerr.code);
    return XO_ERR_XAPI;
}

static xo_err_t fail(cmd_outcome_t *out, const char *code, xo_err_t err, const char *reason)
{
    xo_xapi_error_clear(&out->xerr);
    snprintf(out->xerr.code, sizeof(out->xerr.code), "%s", code);
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
    return err;
}

/* The base URL of the worker's XAPI host (after HOST_IS_SLAVE), for the bulk handlers. */
static void host_url(agent_cmd_t *w, char *url, size_t size)
{
    snprintf(url, size, "%s", xo_xapi_conn_url(w->xapi));
    url[strcspn(url, "?")] = '\0';
    if (strlen(url) > 8 && strchr(url + 8, '/'))
        *strchr(url + 8, '/') = '\0';
}

/* ------------------------------------------------------------------ workers */

/* Join finished workers; a free slot, or NULL. Under t->mu. */
static tx_worker_t *worker_take(agent_transfer_t *t)
{
    for (int i = 0; i < TX_WORKERS; i++) {
        tx_worker_t *w = &t->workers[i];
        if (w->busy && w->done) {
            pthread_join(w->th, NULL);
            w->busy = false;
        }
        if (!w->busy) {
            unsigned char *buf = malloc(TX_FRAME_BUF);
            if (!buf)
                return NULL;
            memset(w, 0, sizeof(*w));
            w->t = t;
            w->fd = -1;
            w->buf = buf; /* not thread-local: every thread of the process would pay for it */
            w->busy = true;
            return w;
        }
    }
    return NULL;
}

static void worker_done(tx_worker_t *w)
{
    pthread_mutex_lock(&w->t->mu);
    json_object_put(w->args);
    w->args = NULL;
    xo_key_free(w->sign_key);
    w->sign_key = NULL;
    free(w->buf);
    w->buf = NULL;
    ZSTD_freeCCtx(w->cctx);
    ZSTD_freeDCtx(w->dctx);
    free(w->zbuf);
    w->cctx = NULL;
    w->dctx = NULL;
    w->zbuf = NULL;
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->done = true;
    pthread_mutex_unlock(&w->t->mu);
}

/* A taken worker whose thread never started: free again. */
static void worker_abandon(tx_worker_t *w)
{
    pthread_mutex_lock(&w->t->mu);
    json_object_put(w->args);
    w->args = NULL;
    xo_key_free(w->sign_key);
    w->sign_key = NULL;
    free(w->buf);
    w->buf = NULL;
    w->busy = false;
    pthread_mutex_unlock(&w->t->mu);
}

static xo_err_t worker_spawn(tx_worker_t *w, void *(*fn)(void *))
{
    if (pthread_create(&w->th, NULL, fn, w) == 0)
        return XO_OK;
    worker_abandon(w);
    return XO_ERR_NOMEM;
}

/* ------------------------------------------------------------------ tickets */

static bool ticket_equal(const char *a, const char *b)
{
    return strlen(a) == TX_TICKET_HEX && strlen(b) == TX_TICKET_HEX &&
           CRYPTO_memcmp(a, b, TX_TICKET_HEX) == 0;
}

static xo_err_t ticket_add(agent_transfer_t *t, const tx_ticket_t *k)
{
    int64_t now = xo_now_ms();
    xo_err_t err = XO_ERR_LIMIT;

    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < TX_TICKETS; i++) {
        tx_ticket_t *s = &t->tickets[i];
        if (s->used && s->expires < now)
            s->used = false;
        if (s->used && ticket_equal(s->ticket, k->ticket)) { /* a ticket serves once */
            err = XO_ERR_INVALID;
            break;
        }
    }
    for (int i = 0; err == XO_ERR_LIMIT && i < TX_TICKETS; i++) {
        if (!t->tickets[i].used) {
            t->tickets[i] = *k;
            t->tickets[i].used = true;
            err = XO_OK;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return err;
}

/* Take (and so consume) the ticket if it is known, live and presented by its source. */
static const char *ticket_claim(agent_transfer_t *t, const char *ticket, const char *source,
                                tx_ticket_t *out)
{
    const char *why = "unknown ticket";
    int64_t now = xo_now_ms();

    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < TX_TICKETS; i++) {
        tx_ticket_t *s = &t->tickets[i];
        if (!s->used || !ticket_equal(s->ticket, ticket))
            continue;
        if (s->expires < now)
            why = "expired ticket";
        else if (strcmp(s->source, source) != 0)
            why = "not the source agent the command names";
        else
            why = NULL;
        if (!why)
            *out = *s;
        s->used = false; /* single use: a refused attempt burns it too */
        break;
    }
    pthread_mutex_unlock(&t->mu);
    return why;
}

/* ------------------------------------------------------------------ the hello's signature */

/* What the source agent signs in its hello: the ticket, the destination's certificate
 * fingerprint (so that a hello seen by one destination cannot be replayed to another) and
 * the source's agent id, under a label of their own (no other signed message reads so). */
static int hello_signed_bytes(char *buf, size_t size, const char *ticket, const char *pin,
                              const char *source)
{
    char low[TX_PIN_HEX + 1];
    size_t i;

    for (i = 0; pin[i] && i < TX_PIN_HEX; i++)
        low[i] = (char)(pin[i] >= 'A' && pin[i] <= 'F' ? pin[i] - 'A' + 'a' : pin[i]);
    low[i] = '\0';
    return snprintf(buf, size, "xo-transfer-hello/1\n%s\n%s\n%s", ticket, low, source);
}

/* True when one of the ticket's source keys signed this hello for this destination. */
static bool hello_signed(const agent_transfer_t *t, const tx_ticket_t *k, const char *sig)
{
    char msg[512];
    int n = hello_signed_bytes(msg, sizeof(msg), k->ticket, t->pin, k->source);
    bool ok = false;

    for (int i = 0; sig && n > 0 && (size_t)n < sizeof(msg) && !ok && i < k->nkeys; i++) {
        xo_key_t *key = NULL;
        ok = xo_key_from_public_b64(k->keys[i], strlen(k->keys[i]), &key) == XO_OK &&
             xo_verify(key, msg, (size_t)n, sig, strlen(sig)) == XO_OK;
        xo_key_free(key);
    }
    return ok;
}

/* ------------------------------------------------------------------ destination */

/* Frames will be zstd: a decoder and its output buffer. */
static const char *want_zstd(tx_worker_t *wk)
{
    wk->dctx = ZSTD_createDCtx();
    wk->zbuf = malloc(TX_FRAME_BUF);
    return wk->dctx && wk->zbuf ? NULL : "out of memory";
}

/* The link's hello: {"ticket", "source", "sig", "zstd"?}; answered {"ok":true} or
 * {"error":…}. Any presentation of a known ticket consumes it, a badly signed one too. */
static const char *link_hello(tx_worker_t *wk, tx_conn_t *link, tx_ticket_t *k)
{
    agent_transfer_t *t = wk->t;
    unsigned char buf[TX_CONTROL_MAX + 1];
    json_object *hello = NULL;
    const char *why;
    size_t n = 0;

    if (tx_frame_read(link, buf, TX_CONTROL_MAX, &n) != XO_OK || n == 0)
        return "no hello";
    buf[n] = '\0';
    hello = json_tokener_parse((const char *)buf);
    why = xo_msg_str(hello, "ticket") && xo_msg_str(hello, "source")
              ? ticket_claim(t, xo_msg_str(hello, "ticket"), xo_msg_str(hello, "source"), k)
              : "malformed hello";
    if (!why && !hello_signed(t, k, xo_msg_str(hello, "sig")))
        why = "the hello is not signed by the source pool's agent key";
    if (!why && json_object_object_get_ex(hello, "zstd", NULL))
        why = want_zstd(wk);
    json_object_put(hello);
    if (why) {
        const char *e = "{\"error\":\"TRANSFER_REFUSED\"}";
        tx_frame_write(link, e, strlen(e));
    } else if (tx_frame_write(link, "{\"ok\":true}", 11) != XO_OK) {
        why = "link lost";
    }
    return why;
}

/* One frame's bytes into the import, through the zstd decoder when the link has one (each
 * frame is flushed by the source, so all of it can be written now). */
static xo_err_t host_write(tx_worker_t *wk, tx_conn_t *host, size_t n, uint64_t *bytes,
                           cmd_outcome_t *out)
{
    ZSTD_inBuffer in = {wk->buf, n, 0};
    ZSTD_outBuffer o;

    if (!wk->dctx) {
        *bytes += n;
        return tx_write_all(host, wk->buf, n) == XO_OK
                   ? XO_OK
                   : fail(out, "IMPORT_ERROR", XO_ERR_IO, "the host stopped reading the import");
    }
    do {
        size_t rc;
        o = (ZSTD_outBuffer){wk->zbuf, TX_FRAME_MAX, 0};
        rc = ZSTD_decompressStream(wk->dctx, &o, &in);
        if (ZSTD_isError(rc))
            return fail(out, "TRANSFER_LINK_CORRUPT", XO_ERR_PARSE, ZSTD_getErrorName(rc));
        if (o.pos && tx_write_all(host, wk->zbuf, o.pos) != XO_OK)
            return fail(out, "IMPORT_ERROR", XO_ERR_IO, "the host stopped reading the import");
        *bytes += o.pos;
    } while (in.pos < in.size || o.pos == o.size);
    return XO_OK;
}

/* Where an import's body comes from (@p src): the source agent's link, or the gateway's
 * relay of a vm.import upload. Writes it into @p host until its end. */
typedef xo_err_t (*import_pump_fn)(tx_worker_t *wk, void *src, tx_conn_t *host, uint64_t *bytes,
                                   cmd_outcome_t *out);

/* Link frames into the import's body until the end frame. */
static xo_err_t pump_to_host(tx_worker_t *wk, void *src, tx_conn_t *host, uint64_t *bytes,
                             cmd_outcome_t *out)
{
    tx_conn_t *link = src;

    for (;;) {
        size_t n = 0;
        xo_err_t err;
        if (agent_stop)
            return fail(out, "AGENT_STOPPED", XO_ERR_IO, "agent stopping");
        if (tx_frame_read(link, wk->buf, TX_FRAME_MAX, &n) != XO_OK)
            return fail(out, "TRANSFER_LINK_LOST", XO_ERR_IO, "the source's link broke");
        if (n == 0)
            return XO_OK;
        err = host_write(wk, host, n, bytes, out);
        if (err != XO_OK)
            return err;
    }
}

/* A vm.import upload's source: the gateway's relay, and the worker's context that reports
 * the bytes (each progress result pushes the gateway's deadline for the command). */
typedef struct {
    tx_conn_t *relay;
    agent_cmd_t *w;
    const char *id;
} relay_src_t;

/* Its bytes, as the relay hands them over, into the import. */
typedef struct {
    const relay_src_t *src;
    tx_conn_t *host;
    uint64_t *bytes;
    int64_t reported_ms;
    bool host_failed;
} relay_sink_t;

static bool relay_to_host(void *opaque, const uint8_t *p, size_t n)
{
    relay_sink_t *s = opaque;

    s->host_failed = agent_stop || tx_write_all(s->host, p, n) != XO_OK;
    if (s->host_failed)
        return false;
    *s->bytes += n;
    if (xo_now_ms() - s->reported_ms >= TX_PROGRESS_MS) {
        cmd_publish_bytes(s->src->w, s->src->id, 0, *s->bytes, NULL);
        s->reported_ms = xo_now_ms();
    }
    return true;
}

/* The gateway's relay frames into the import's body until its close frame: 1000 says that
 * the client's whole body came; anything else leaves the import incomplete. */
static xo_err_t pump_from_relay(tx_worker_t *wk, void *src, tx_conn_t *host, uint64_t *bytes,
                                cmd_outcome_t *out)
{
    const relay_src_t *r = src;
    relay_sink_t s = {r, host, bytes, xo_now_ms(), false};
    uint16_t code = 0;

    xo_err_t err = tx_relay_recv(r->relay, wk->buf, TX_FRAME_BUF, relay_to_host, &s, &code);

    if (err != XO_OK || code != TX_RELAY_DONE) /* XAPI's task may say more, and replace it */
        xo_warn(TX_MOD, "event=upload_cut id=%s bytes=%llu host_failed=%d close_code=%u", r->id,
                (unsigned long long)*bytes, s.host_failed, code);
    if (err != XO_OK)
        return s.host_failed ? fail(out, agent_stop ? "AGENT_STOPPED" : "IMPORT_ERROR", XO_ERR_IO,
                                    "the host stopped reading the import")
                             : fail(out, "RELAY_LOST", XO_ERR_IO, "the gateway's relay broke");
    return code == TX_RELAY_DONE
               ? XO_OK
               : fail(out, "RELAY_LOST", XO_ERR_IO, "the upload ended before its body did");
}

/* @p out without the error an earlier step left in it. */
static cmd_outcome_t *clear_outcome(cmd_outcome_t *out)
{
    xo_xapi_error_clear(&out->xerr);
    out->reason[0] = '\0';
    return out;
}

/* The new VM of a finished import task: rename it if asked, answer its uuid. */
static xo_err_t imported_vm(agent_cmd_t *w, json_object *rec, const char *name, char *uuid,
                            size_t size, cmd_outcome_t *out)
{
    const char *res = xo_msg_str(rec, "result"), *r = res ? strstr(res, "OpaqueRef:") : NULL;
    char ref[128];
    json_object *p, *ignored = NULL;
    xo_err_t err;

    if (!r)
        return fail(out, "IMPORT_ERROR", XO_ERR_PARSE, "import task without a VM");
    snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(r, "<"), r);
    if (name[0]) {
        p = args1(ref);
        json_object_array_add(p, json_object_new_string(name));
        err = cmd_call(w, "VM.set_name_label", p, &ignored, out);
        json_object_put(ignored);
        if (err != XO_OK)
            return err;
    }
    return cmd_call_str(w, "VM.get_uuid", args1(ref), uuid, size, out);
}

/* PUT /import from the link; on any failure the import task is cancelled so that XAPI
 * removes what it created (no half VM). */
/* The import broke on this side of the pipe. If XAPI ended its task first (task.cancel of
 * it, an SR full, a bad checksum: the host stops reading; or a success: it had read the
 * whole XVA), that task's record, and a failure's reason in @p out; else NULL, and the
 * task is cancelled (XAPI destroys what it made). */
static json_object *import_ended(agent_cmd_t *w, const char *task, cmd_outcome_t *out)
{
    cmd_outcome_t probe = {0};
    json_object *rec = task_end(w, task, 0, &probe);

    xo_xapi_error_clear(&probe.xerr);
    if (rec) {
        if (strcmp(xo_msg_str(rec, "status"), "success") != 0)
            task_failed(rec, out);
        return rec;
    }
    task_drop(w, task, "task.cancel");
    return NULL;
}

/* The import's target and body: into SR @p sr_uuid, renamed to @p name unless "", its
 * body from @p pump reading @p src. */
typedef struct {
    const char *sr_uuid, *name;
    import_pump_fn pump;
    void *src;
} import_job_t;

static xo_err_t run_import(tx_worker_t *wk, agent_cmd_t *w, const import_job_t *job, char *uuid,
                           size_t size, uint64_t *bytes, cmd_outcome_t *out)
{
    agent_transfer_t *t = wk->t;
    char sr[128], task[128] = "", url[256], path[1024], errstr[256];
    tx_conn_t host = {.fd = -1};
    tx_http_head_t head;
    json_object *rec = NULL;
    xo_err_t err;

    err = cmd_call_str(w, "SR.get_by_uuid", args1(job->sr_uuid), sr, sizeof(sr), out);
    if (err == XO_OK)
        err = task_create(w, "xo-agent import", task, sizeof(task), out);
    if (err != XO_OK)
        return err;
    host_url(w, url, sizeof(url));
    snprintf(path, sizeof(path), "/import?session_id=%s&task_id=%s&sr_id=%s", w->session, task, sr);
    err = tx_http_open(&host, url, "PUT", path, &t->xapi_tls, t->timeout_ms, &head, errstr,
                       sizeof(errstr));
    if (err != XO_OK)
        fail(out, "IMPORT_ERROR", err, errstr);
    if (err == XO_OK)
        err = job->pump(wk, job->src, &host, bytes, out);
    if (err != XO_OK)
        rec = import_ended(w, task, out);
    tx_close(&host, false); /* the end of the body, as xo-server's 1 PiB then close */
    if (!rec)
        rec = task_end(w, task, t->timeout_ms, out);
    if (rec && strcmp(xo_msg_str(rec, "status"), "success") == 0)
        /* XAPI read the whole XVA and made the VM: whatever broke after that (the end of the
         * relay or of the link), the import is done and its VM is the answer, not an error
         * for a VM that exists */
        err = imported_vm(w, rec, job->name, uuid, size, clear_outcome(out));
    else if (err == XO_OK && !rec)
        err = fail(out, "IMPORT_ERROR", XO_ERR_TIMEOUT, "the import task did not end");
    else if (err == XO_OK)
        err = task_failed(rec, out);
    else if (rec && strcmp(xo_msg_str(rec, "status"), "failure") == 0)
        task_failed(rec, out); /* XAPI's own reason (SR_FULL, checksum) is the better one */
    json_object_put(rec);
    task_drop(w, task, "task.destroy");
    return err;
}

/* The outcome to the source: {"ok":true,"vm":…,"bytes":…} or {"error","params","reason"}. */
static void link_outcome(tx_conn_t *link, xo_err_t err, const char *uuid, uint64_t bytes,
                         const cmd_outcome_t *out)
{
    json_object *o = json_object_new_object();
    const char *s;

    if (err == XO_OK) {
        json_object_object_add(o, "ok", json_object_new_boolean(1));
        json_object_object_add(o, "vm", json_object_new_string(uuid));
    } else {
        json_object_object_add(o, "error", json_object_new_string(out->xerr.code));
        json_object_object_add(o, "params", json_object_get(out->xerr.params));
        json_object_object_add(o, "reason", json_object_new_string(out->reason));
    }
    json_object_object_add(o, "bytes", json_object_new_int64((int64_t)bytes));
    s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (strlen(s) <= TX_CONTROL_MAX)
        tx_frame_write(link, s, strlen(s));
    json_object_put(o);
}

static void *import_main(void *arg)
{
    tx_worker_t *wk = arg;
    agent_transfer_t *t = wk->t;
    tx_conn_t link = {.fd = -1};
    tx_ticket_t k;
    cmd_outcome_t out = {0};
    agent_cmd_t *w = NULL;
    char errstr[256], uuid[64] = "";
    const char *why;
    uint64_t bytes = 0;
    xo_err_t err;

    err = tx_accept_tls(&link, wk->fd, t->ctx, TX_HELLO_MS, errstr, sizeof(errstr));
    wk->fd = -1; /* the link owns it now */
    why = err == XO_OK ? link_hello(wk, &link, &k) : errstr;
    if (!why)
        tx_set_timeout(&link, t->timeout_ms);
    if (why) {
        xo_warn(TX_MOD, "event=transfer_refused reason=\"%s\"", why);
        goto out;
    }
    xo_info(TX_MOD, "event=import_start source=%s sr=%s", k.source, k.sr);
    w = xapi_open(t->a, errstr, sizeof(errstr));
    err = w ? run_import(wk, w, &(import_job_t){k.sr, k.name, pump_to_host, &link}, uuid,
                         sizeof(uuid), &bytes, &out)
            : fail(&out, "XAPI_UNREACHABLE", XO_ERR_CONNECT, errstr);
    link_outcome(&link, err, uuid, bytes, &out);
    xo_info(TX_MOD, "event=import_done source=%s bytes=%llu state=%s code=%s vm=%s", k.source,
            (unsigned long long)bytes, err == XO_OK ? "success" : "failure", out.xerr.code, uuid);
out:
    tx_close(&link, true);
    xo_xapi_error_clear(&out.xerr);
    xapi_close(w);
    worker_done(wk);
    return NULL;
}

static void *listen_main(void *arg)
{
    agent_transfer_t *t = arg;

    while (!agent_stop) {
        struct pollfd p = {t->listen_fd, POLLIN, 0};
        tx_worker_t *wk;
        int fd;

        if (poll(&p, 1, 500) != 1)
            continue;
        fd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&t->mu);
        wk = worker_take(t);
        if (wk)
            wk->fd = fd;
        pthread_mutex_unlock(&t->mu);
        if (!wk || worker_spawn(wk, import_main) != XO_OK) {
            xo_warn(TX_MOD, "event=transfer_refused reason=\"no free worker\"");
            close(fd);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ source */

/* Wait for one of transfer.max_concurrent slots, saying "queued" meanwhile. */
static bool slot_acquire(agent_transfer_t *t, agent_cmd_t *w, const char *id)
{
    bool said = false;

    pthread_mutex_lock(&t->mu);
    while (t->running >= t->max_running && !agent_stop) {
        struct timespec ts;
        if (!said) {
            pthread_mutex_unlock(&t->mu);
            cmd_publish_bytes(w, id, 0, 0, "queued");
            pthread_mutex_lock(&t->mu);
            said = true;
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    if (!agent_stop)
        t->running++;
    pthread_mutex_unlock(&t->mu);
    return !agent_stop;
}

static void slot_release(agent_transfer_t *t)
{
    pthread_mutex_lock(&t->mu);
    t->running--;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* xo-server's VM_export: true or "gzip" -> "true", "zstd" -> "zstd", else "false". */
static const char *use_compression(json_object *args)
{
    json_object *v = NULL;
    const char *s;

    if (!json_object_object_get_ex(args, "compress", &v))
        return "false";
    if (json_object_is_type(v, json_type_boolean))
        return json_object_get_boolean(v) ? "true" : "false";
    s = json_object_get_string(v);
    return strcmp(s, "zstd") == 0 ? "zstd" : strcmp(s, "gzip") == 0 ? "true" : "false";
}

/* zstd on the link when transfer.link_zstd asks for it and the export is not compressed
 * (compressing XAPI's gzip or zstd again would cost CPU for nothing). */
static xo_err_t link_zstd(tx_worker_t *wk, cmd_outcome_t *out)
{
    if (!xo_config_get_bool(wk->t->a->cfg, "transfer.link_zstd") ||
        strcmp(use_compression(wk->args), "false") != 0)
        return XO_OK;
    wk->cctx = ZSTD_createCCtx();
    wk->zbuf = malloc(TX_FRAME_BUF);
    if (!wk->cctx || !wk->zbuf ||
        ZSTD_isError(ZSTD_CCtx_setParameter(wk->cctx, ZSTD_c_compressionLevel, TX_ZSTD_LEVEL)))
        return fail(out, "INTERNAL_ERROR", XO_ERR_NOMEM, "cannot set up zstd on the link");
    return XO_OK;
}

/* "host:port" (or "[v6]:port") of the destination. */
static bool split_endpoint(const char *ep, char *host, size_t size, int *port)
{
    const char *colon = strrchr(ep, ':');

    if (!colon || colon == ep)
        return false;
    *port = atoi(colon + 1);
    snprintf(host, size, "%.*s", (int)(colon - ep), ep);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    return *port > 0 && *port < 65536;
}

/* The source's signature over its hello (hello_signed_bytes), with the agent's own key. */
static xo_err_t hello_sign(tx_worker_t *wk, json_object *hello)
{
    char msg[512], sig[XO_SIG_B64_LEN + 1];
    int n = hello_signed_bytes(msg, sizeof(msg), xo_msg_str(wk->args, "ticket"),
                               xo_msg_str(wk->args, "fingerprint"), wk->t->a->id);
    xo_err_t err;

    if (n <= 0 || (size_t)n >= sizeof(msg))
        return XO_ERR_INVALID;
    err = xo_sign(wk->sign_key, msg, (size_t)n, sig);
    if (err == XO_OK)
        json_object_object_add(hello, "sig", json_object_new_string(sig));
    return err;
}

/* Dial the destination, pinned to the certificate its prepare answered, and say hello. */
static xo_err_t link_open(tx_worker_t *wk, tx_conn_t *link, cmd_outcome_t *out)
{
    agent_transfer_t *t = wk->t;
    json_object *args = wk->args;
    unsigned char buf[TX_CONTROL_MAX + 1];
    tx_tls_opts_t tls = {.pin_sha256 = xo_msg_str(args, "fingerprint")};
    char host[256], errstr[256];
    json_object *hello = json_object_new_object(), *ack;
    const char *s;
    size_t n = 0;
    int port;
    xo_err_t err;

    if (!split_endpoint(xo_msg_str(args, "endpoint"), host, sizeof(host), &port)) {
        json_object_put(hello);
        return fail(out, "TRANSFER_LINK_FAILED", XO_ERR_INVALID, "bad endpoint");
    }
    err = tx_connect(link, host, port, &tls, t->timeout_ms, errstr, sizeof(errstr));
    if (err != XO_OK) {
        json_object_put(hello);
        return fail(out, "TRANSFER_LINK_FAILED", err, errstr);
    }
    json_object_object_add(hello, "ticket", json_object_new_string(xo_msg_str(args, "ticket")));
    json_object_object_add(hello, "source", json_object_new_string(t->a->id));
    err = hello_sign(wk, hello);
    if (err != XO_OK) {
        json_object_put(hello);
        return fail(out, "TRANSFER_LINK_FAILED", err, "cannot sign the link's hello");
    }
    if (wk->cctx)
        json_object_object_add(hello, "zstd", json_object_new_boolean(1));
    s = json_object_to_json_string_ext(hello, JSON_C_TO_STRING_PLAIN);
    err = tx_frame_write(link, s, strlen(s));
    json_object_put(hello);
    if (err == XO_OK)
        err = tx_frame_read(link, buf, TX_CONTROL_MAX, &n);
    buf[n] = '\0';
    ack = err == XO_OK ? json_tokener_parse((const char *)buf) : NULL;
    err = json_object_object_get_ex(ack, "ok", NULL) ? XO_OK : XO_ERR_BADSIG;
    json_object_put(ack);
    return err == XO_OK ? XO_OK
                        : fail(out, "TRANSFER_REFUSED", err,
                               "the destination agent refused the link (ticket or source)");
}

/* Export bytes (at wk->buf + 4) into link frames, compressed and flushed when the link has
 * a zstd encoder: the destination can write all of a frame as soon as it has it. */
static xo_err_t link_send(tx_worker_t *wk, tx_conn_t *link, size_t n, cmd_outcome_t *out)
{
    ZSTD_inBuffer in = {wk->buf + 4, n, 0};
    size_t left;

    if (wk->relay)
        return tx_relay_send(link, wk->buf + 4, n) == XO_OK
                   ? XO_OK
                   : fail(out, "RELAY_LOST", XO_ERR_IO, "the gateway's relay broke");
    if (!wk->cctx)
        return tx_frame_send(link, wk->buf, n) == XO_OK
                   ? XO_OK
                   : fail(out, "TRANSFER_LINK_LOST", XO_ERR_IO, "the destination's link broke");
    do {
        ZSTD_outBuffer o = {wk->zbuf + 4, TX_FRAME_MAX, 0};
        left = ZSTD_compressStream2(wk->cctx, &o, &in, ZSTD_e_flush);
        if (ZSTD_isError(left))
            return fail(out, "INTERNAL_ERROR", XO_ERR_NOMEM, ZSTD_getErrorName(left));
        if (o.pos && tx_frame_send(link, wk->zbuf, o.pos) != XO_OK)
            return fail(out, "TRANSFER_LINK_LOST", XO_ERR_IO, "the destination's link broke");
    } while (left != 0 || in.pos < in.size);
    return XO_OK;
}

/* The export's body into link frames, publishing bytes and the export task's progress. */
static xo_err_t pump_to_link(agent_cmd_t *w, tx_worker_t *wk, const char *task, tx_conn_t *host,
                             tx_conn_t *link, uint64_t *bytes, cmd_outcome_t *out)
{
    int64_t last = xo_now_ms();
    const char *id = wk->id;
    size_t chunk = wk->cctx ? TX_ZSTD_IN : TX_FRAME_MAX;

    for (;;) {
        ssize_t n = agent_stop ? -1 : tx_read(host, wk->buf + 4, chunk);
        xo_err_t err;
        if (n < 0)
            return fail(out, agent_stop ? "AGENT_STOPPED" : "EXPORT_ERROR", XO_ERR_IO,
                        "the export broke");
        if (n == 0)
            return XO_OK;
        err = link_send(wk, link, (size_t)n, out);
        if (err != XO_OK)
            return err;
        *bytes += (uint64_t)n;
        if (xo_now_ms() - last >= TX_PROGRESS_MS) {
            json_object *rec = NULL, *p = NULL;
            cmd_outcome_t o = {0};
            double progress = 0;
            if (cmd_call(w, "task.get_record", args1(task), &rec, &o) == XO_OK &&
                json_object_object_get_ex(rec, "progress", &p))
                progress = json_object_get_double(p);
            json_object_put(rec);
            xo_xapi_error_clear(&o.xerr);
            cmd_publish_bytes(w, id, progress, *bytes, NULL);
            last = xo_now_ms();
        }
    }
}

/* After the body: the export task must have succeeded; then the end frame and the
 * destination's outcome. */
/* The export's body ended: did its XAPI task succeed (a cancelled one ends the body too)? */
static xo_err_t export_task_ok(agent_cmd_t *w, const char *task, cmd_outcome_t *out)
{
    json_object *rec = task_end(w, task, 10000, out);
    xo_err_t err = XO_OK;

    if (!rec)
        return fail(out, "EXPORT_ERROR", XO_ERR_TIMEOUT, "the export task did not end");
    if (strcmp(xo_msg_str(rec, "status"), "success") != 0)
        err = task_failed(rec, out);
    json_object_put(rec);
    return err;
}

/* vm.export's download: dial the gateway's relay with the command's ticket, its
 * certificate checked as the console relays check it (console.gateway_*). */
static xo_err_t relay_open(tx_worker_t *wk, tx_conn_t *relay, cmd_outcome_t *out)
{
    const xo_config_t *cfg = wk->t->a->cfg;
    tx_tls_opts_t tls = {.pin_sha256 = xo_config_get(cfg, "console.gateway_fingerprint"),
                         .ca_file = xo_config_get(cfg, "console.gateway_ca_file"),
                         .insecure = xo_config_get_bool(cfg, "console.gateway_insecure")};
    char errstr[256];
    xo_err_t err =
        tx_relay_open(relay, xo_msg_str(wk->args, "relay"), xo_msg_str(wk->args, "ticket"), &tls,
                      wk->t->timeout_ms, errstr, sizeof(errstr));

    if (err == XO_ERR_BADSIG)
        return fail(out, "RELAY_REFUSED", err, errstr);
    return err == XO_OK ? XO_OK : fail(out, "RELAY_UNREACHABLE", err, errstr);
}

static xo_err_t finish_link(agent_transfer_t *t, agent_cmd_t *w, const char *task, tx_conn_t *link,
                            char *uuid, size_t size, cmd_outcome_t *out)
{
    unsigned char buf[TX_CONTROL_MAX + 1];
    json_object *o;
    size_t n = 0;
    xo_err_t err = export_task_ok(w, task, out);

    if (err != XO_OK)
        return err;
    if (tx_frame_write(link, NULL, 0) != XO_OK ||
        tx_frame_read(link, buf, TX_CONTROL_MAX, &n) != XO_OK)
        return fail(out, "TRANSFER_LINK_LOST", XO_ERR_IO, "no outcome from the destination");
    (void)t;
    buf[n] = '\0';
    o = json_tokener_parse((const char *)buf);
    if (xo_msg_str(o, "vm")) {
        snprintf(uuid, size, "%s", xo_msg_str(o, "vm"));
    } else {
        json_object *params = NULL;
        fail(out, xo_msg_str(o, "error") ? xo_msg_str(o, "error") : "IMPORT_ERROR", XO_ERR_XAPI,
             xo_msg_str(o, "reason") ? xo_msg_str(o, "reason") : "the import failed");
        if (json_object_object_get_ex(o, "params", &params) &&
            json_object_is_type(params, json_type_array))
            out->xerr.params = json_object_get(params);
        err = XO_ERR_XAPI;
    }
    json_object_put(o);
    return err;
}

/* GET /export of @p vm (or its temporary snapshot) into the link. */
static xo_err_t run_export(agent_transfer_t *t, agent_cmd_t *w, tx_worker_t *wk, const char *vm,
                           char *uuid, size_t size, uint64_t *bytes, cmd_outcome_t *out)
{
    char task[128] = "", url[256], path[1024], errstr[256];
    tx_conn_t host = {.fd = -1}, link = {.fd = -1};
    tx_http_head_t head;
    xo_err_t err;

    err = task_create(w, "xo-agent export", task, sizeof(task), out);
    if (err != XO_OK)
        return err;
    host_url(w, url, sizeof(url));
    snprintf(path, sizeof(path), "/export?session_id=%s&task_id=%s&ref=%s&use_compression=%s",
             w->session, task, vm, use_compression(wk->args));
    err = tx_http_open(&host, url, "GET", path, &t->xapi_tls, t->timeout_ms, &head, errstr,
                       sizeof(errstr));
    if (err != XO_OK) {
        json_object *rec = task_end(w, task, 2000, out);
        if (rec && strcmp(xo_msg_str(rec, "status"), "failure") == 0)
            err = task_failed(rec, out);
        else
            fail(out, "EXPORT_ERROR", err, errstr);
        json_object_put(rec);
    }
    if (err == XO_OK)
        err = wk->relay ? relay_open(wk, &link, out) : link_zstd(wk, out);
    if (err == XO_OK && !wk->relay)
        err = link_open(wk, &link, out);
    if (err == XO_OK)
        err = pump_to_link(w, wk, task, &host, &link, bytes, out);
    tx_close(&host, false);
    if (err == XO_OK)
        err = wk->relay ? export_task_ok(w, task, out)
                        : finish_link(t, w, task, &link, uuid, size, out);
    else
        task_drop(w, task, "task.cancel");
    if (wk->relay && link.fd >= 0) /* the download's end: complete, or cut with the reason */
        tx_relay_close(&link, err == XO_OK ? TX_RELAY_DONE : TX_RELAY_FAILED,
                       err == XO_OK ? "the export is complete" : out->xerr.code);
    tx_close(&link, err == XO_OK); /* no end frame and no close_notify: the import aborts */
    task_drop(w, task, "task.destroy");
    return err;
}

/* Resolve the VM; a running one is exported from a temporary snapshot, destroyed after. */
static xo_err_t export_vm(agent_transfer_t *t, agent_cmd_t *w, tx_worker_t *wk, cmd_t *cmd,
                          char *uuid, size_t size, uint64_t *bytes, cmd_outcome_t *out)
{
    char vm[128], state[32], snap[128] = "";
    char *res = NULL;
    json_object *p;
    xo_err_t err;

    err = cmd_call_str(w, "VM.get_by_uuid", args1(xo_msg_str(wk->args, "id")), vm, sizeof(vm), out);
    if (err == XO_OK)
        err = cmd_call_str(w, "VM.get_power_state", args1(vm), state, sizeof(state), out);
    if (err == XO_OK && (strcmp(state, "Running") == 0 || strcmp(state, "Paused") == 0)) {
        p = args1(vm);
        json_object_array_add(p, json_object_new_string("xo-agent transfer snapshot"));
        err = cmd_run_async(w, cmd, "VM.snapshot", p, &res, out);
        if (err == XO_OK && res && strstr(res, "OpaqueRef:"))
            snprintf(snap, sizeof(snap), "%.*s", (int)strcspn(strstr(res, "OpaqueRef:"), "<"),
                     strstr(res, "OpaqueRef:"));
        else if (err == XO_OK)
            err = fail(out, "INTERNAL_ERROR", XO_ERR_PARSE, "snapshot without ref");
        free(res);
    }
    if (err == XO_OK)
        err = run_export(t, w, wk, snap[0] ? snap : vm, uuid, size, bytes, out);
    if (snap[0])
        cmd_destroy_vm_and_disks(w, cmd, snap);
    return err;
}

/* A command worker's own XAPI session; without one, its command fails now. */
static agent_cmd_t *worker_xapi(tx_worker_t *wk)
{
    agent_transfer_t *t = wk->t;
    char errstr[256];
    agent_cmd_t *w = xapi_open(t->a, errstr, sizeof(errstr));

    if (!w) {
        agent_cmd_t bare = {.a = t->a, .partition = t->a->partition, .sign_key = wk->sign_key};
        snprintf(bare.pool, sizeof(bare.pool), "%s", t->a->pool_uuid);
        xo_warn(TX_MOD, "event=transfer_failed id=%s reason=\"%s\"", wk->id, errstr);
        cmd_publish(&bare, wk->id, "failure", 1, NULL, "XAPI_UNREACHABLE", NULL, errstr);
        return NULL;
    }
    w->sign_key = wk->sign_key; /* borrowed: the worker's handle outlives w */
    return w;
}

/* A command worker's outcome: @p r (borrowed) on success, after a last progress with the
 * bytes; else the error in @p out. */
static void worker_publish(agent_cmd_t *w, const tx_worker_t *wk, xo_err_t err, json_object *r,
                           uint64_t bytes, const cmd_outcome_t *out)
{
    if (err == XO_OK) {
        cmd_publish_bytes(w, wk->id, 1, bytes, NULL);
        cmd_publish(w, wk->id, "success", 1, r, NULL, NULL, NULL);
    } else {
        cmd_publish(w, wk->id, "failure", 1, NULL, out->xerr.code, out->xerr.params, out->reason);
    }
}

static void *export_main(void *arg)
{
    tx_worker_t *wk = arg;
    agent_transfer_t *t = wk->t;
    cmd_outcome_t out = {0};
    cmd_t cmd = {.id = wk->id,
                 .args = wk->args,
                 .op = wk->relay ? XO_OP_VM_EXPORT_RELAY : XO_OP_VM_EXPORT_TO};
    agent_cmd_t *w;
    char uuid[64] = "";
    uint64_t bytes = 0;
    xo_err_t err = XO_ERR_CONNECT;
    json_object *r;

    w = worker_xapi(wk);
    if (!w)
        goto out;
    if (slot_acquire(t, w, wk->id)) {
        xo_info(TX_MOD, "event=export_start id=%s vm=%s", wk->id, xo_msg_str(wk->args, "id"));
        err = export_vm(t, w, wk, &cmd, uuid, sizeof(uuid), &bytes, &out);
        slot_release(t);
    } else {
        err = fail(&out, "AGENT_STOPPED", XO_ERR_IO, "agent stopping");
    }
    /* logged before the outcome is published: whoever sees the outcome finds the line */
    xo_info(TX_MOD, "event=export_done id=%s to=%s bytes=%llu link_zstd=%d state=%s code=%s vm=%s",
            wk->id, wk->relay ? "relay" : "agent", (unsigned long long)bytes, wk->cctx != NULL,
            err == XO_OK ? "success" : "failure", out.xerr.code, uuid);
    /* the new VM's uuid across pools; true for a download */
    r = wk->relay ? json_object_new_boolean(1) : json_object_new_string(uuid);
    worker_publish(w, wk, err, r, bytes, &out);
    json_object_put(r);
out:
    agent_count(t->a, &t->a->status.commands, 1); /* counted when done, as the patch worker */
    xo_xapi_error_clear(&out.xerr);
    xapi_close(w);
    worker_done(wk);
    return NULL;
}

/* vm.importRelay (vm.import's upload): the gateway's relay into PUT /import on the SR; the
 * relay is told the outcome in its close frame, the bus in the command's result. */
static void *upload_main(void *arg)
{
    tx_worker_t *wk = arg;
    agent_transfer_t *t = wk->t;
    cmd_outcome_t out = {0};
    tx_conn_t relay = {.fd = -1};
    agent_cmd_t *w = worker_xapi(wk);
    const char *sr = xo_msg_str(wk->args, "sr");
    char uuid[64] = "";
    uint64_t bytes = 0;
    xo_err_t err;
    json_object *r;

    if (!w)
        goto out;
    xo_info(TX_MOD, "event=upload_start id=%s sr=%s", wk->id, sr);
    err = relay_open(wk, &relay, &out);
    if (err == XO_OK)
        err = run_import(
            wk, w, &(import_job_t){sr, "", pump_from_relay, &(relay_src_t){&relay, w, wk->id}},
            uuid, sizeof(uuid), &bytes, &out);
    if (relay.fd >= 0)
        tx_relay_close(&relay, err == XO_OK ? TX_RELAY_DONE : TX_RELAY_FAILED,
                       err == XO_OK ? uuid : out.xerr.code);
    tx_close(&relay, err == XO_OK);
    xo_info(TX_MOD, "event=upload_done id=%s bytes=%llu state=%s code=%s vm=%s reason=\"%s\"",
            wk->id, (unsigned long long)bytes, err == XO_OK ? "success" : "failure", out.xerr.code,
            uuid, err == XO_OK ? "" : out.reason);
    r = json_object_new_string(uuid);
    worker_publish(w, wk, err, r, bytes, &out);
    json_object_put(r);
out:
    agent_count(t->a, &t->a->status.commands, 1);
    xo_xapi_error_clear(&out.xerr);
    xapi_close(w);
    worker_done(wk);
    return NULL;
}

/* ------------------------------------------------------------------ executors */

/* The source keys of a vm.importPrepare into its ticket: each must decode to a key. */
static bool source_keys(json_object *args, tx_ticket_t *k)
{
    json_object *keys = NULL;
    size_t n;

    json_object_object_get_ex(args, "source_keys", &keys);
    n = json_object_is_type(keys, json_type_array) ? json_object_array_length(keys) : 0;
    if (n == 0 || n > TX_SOURCE_KEYS)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *b64 = json_object_get_string(json_object_array_get_idx(keys, i));
        xo_key_t *key = NULL;
        if (!b64 || xo_key_from_public_b64(b64, strlen(b64), &key) != XO_OK)
            return false;
        xo_key_free(key);
        snprintf(k->keys[i], sizeof(k->keys[i]), "%s", b64);
    }
    k->nkeys = (int)n;
    return true;
}

xo_err_t cmd_op_import_prepare(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    agent_transfer_t *t = c->a->transfer;
    tx_ticket_t k = {0};
    const char *name = xo_msg_str(cmd->args, "name");
    char sr[128];
    xo_err_t err;

    (void)vm;
    if (!t || t->listen_fd < 0)
        return fail(out, "TRANSFER_DISABLED", XO_ERR_UNSUPPORTED,
                    "this agent takes no transfers (transfer.listen is not set)");
    err =
        cmd_call_str(c, "SR.get_by_uuid", args1(xo_msg_str(cmd->args, "sr")), sr, sizeof(sr), out);
    if (err != XO_OK)
        return err;
    snprintf(k.ticket, sizeof(k.ticket), "%s", xo_msg_str(cmd->args, "ticket"));
    snprintf(k.source, sizeof(k.source), "%s", xo_msg_str(cmd->args, "source"));
    if (!source_keys(cmd->args, &k))
        return fail(out, "TRANSFER_PREPARE_INVALID", XO_ERR_INVALID,
                    "source_keys: 1 to 8 raw Ed25519 public keys in base64");
    snprintf(k.sr, sizeof(k.sr), "%s", xo_msg_str(cmd->args, "sr"));
    snprintf(k.name, sizeof(k.name), "%s", name ? name : "");
    k.expires = xo_now_ms() + t->ticket_ttl_ms;
    err = ticket_add(t, &k);
    if (err != XO_OK)
        return fail(out, err == XO_ERR_LIMIT ? "TOO_MANY_TRANSFERS" : "TICKET_REUSED", err,
                    err == XO_ERR_LIMIT ? "too many prepared transfers"
                                        : "this ticket was already prepared");
    out->result = json_object_new_object();
    json_object_object_add(out->result, "endpoint", json_object_new_string(t->endpoint));
    json_object_object_add(out->result, "fingerprint", json_object_new_string(t->pin));
    return XO_OK;
}

/* Hand an export (to another agent, or to the gateway's relay) or an upload to a worker
 * thread. */
static xo_err_t start_worker(agent_cmd_t *c, const cmd_t *cmd, bool relay, bool upload,
                             cmd_outcome_t *out)
{
    agent_transfer_t *t = c->a->transfer;
    tx_worker_t *wk = NULL;
    const char *json = json_object_to_json_string_ext(cmd->args, JSON_C_TO_STRING_PLAIN);

    if (!t)
        return fail(out, "TRANSFER_DISABLED", XO_ERR_UNSUPPORTED, "no transfer service");
    pthread_mutex_lock(&t->mu);
    wk = worker_take(t);
    if (wk) {
        snprintf(wk->id, sizeof(wk->id), "%s", cmd->id);
        wk->args = json_tokener_parse(json); /* a private copy: the command is freed soon */
        wk->expires = cmd->expires;
        wk->relay = relay;
        /* the worker may outlive the command thread's context (shutdown): its own handle */
        wk->sign_key = xo_key_dup(c->sign_key);
    }
    pthread_mutex_unlock(&t->mu);
    if (!wk)
        return fail(out, "TOO_MANY_TRANSFERS", XO_ERR_LIMIT, "every transfer worker is busy");
    if (!wk->args || !wk->sign_key) {
        worker_abandon(wk);
        return fail(out, "INTERNAL_ERROR", XO_ERR_NOMEM, "cannot start the transfer");
    }
    if (worker_spawn(wk, upload ? upload_main : export_main) != XO_OK)
        return fail(out, "INTERNAL_ERROR", XO_ERR_NOMEM, "cannot start the transfer");
    out->detached = true; /* the worker publishes the outcome */
    xo_info(TX_MOD, "event=command_detached id=%s op=%s", cmd->id, cmd_op_name(cmd->op));
    return XO_OK;
}

xo_err_t cmd_op_export_to(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    (void)vm;
    return start_worker(c, cmd, false, false, out);
}

xo_err_t cmd_op_export_relay(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    (void)vm;
    return start_worker(c, cmd, true, false, out);
}

xo_err_t cmd_op_import_relay(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out)
{
    (void)vm;
    return start_worker(c, cmd, false, true, out);
}

/* ------------------------------------------------------------------ life cycle */

/* Bind transfer.listen ("host:port", port 0: any) and make the advertised endpoint. */
static xo_err_t bind_listener(agent_transfer_t *t, const char *where, char *errstr,
                              size_t errstr_size)
{
    const char *adv = xo_config_get(t->a->cfg, "transfer.advertise");
    const char *colon = strrchr(where, ':');
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof(ss);
    char host[256];
    int port, one = 1;

    port = colon ? atoi(colon + 1) : -1;
    if (!colon || colon == where || port < 0 || port > 65535)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "transfer.listen: host:port");
    snprintf(host, sizeof(host), "%.*s", (int)(colon - where), where);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "transfer.listen: bad address");
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "transfer.listen: bad address");
    }
    t->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t->listen_fd < 0 ||
        setsockopt(t->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(t->listen_fd, (struct sockaddr *)&ss,
             ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) !=
            0 ||
        listen(t->listen_fd, 16) != 0 ||
        getsockname(t->listen_fd, (struct sockaddr *)&ss, &len) != 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "transfer.listen %s: %s", where,
                         strerror(errno));
    port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(t->endpoint, sizeof(t->endpoint), strchr(adv ? adv : host, ':') ? "[%s]:%d" : "%s:%d",
             adv ? adv : host, port);
    return XO_OK;
}

xo_err_t agent_transfer_new(agent_t *a, agent_transfer_t **out, char *errstr, size_t errstr_size)
{
    agent_transfer_t *t = calloc(1, sizeof(*t));
    const char *listen = xo_config_get(a->cfg, "transfer.listen");
    xo_err_t err;

    *out = NULL;
    if (!t)
        return XO_ERR_NOMEM;
    t->a = a;
    t->listen_fd = -1;
    t->max_running = (int)xo_config_get_int(a->cfg, "transfer.max_concurrent");
    t->timeout_ms = (int)xo_config_get_int(a->cfg, "transfer.timeout_ms");
    t->ticket_ttl_ms = xo_config_get_int(a->cfg, "transfer.ticket_ttl_ms");
    t->xapi_tls = (tx_tls_opts_t){xo_config_get(a->cfg, "xapi.fingerprint"),
                                  xo_config_get(a->cfg, "xapi.ca_file"),
                                  xo_config_get_bool(a->cfg, "xapi.insecure"), true};
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    err = tx_server_ctx_new(&t->ctx, t->pin, errstr, errstr_size);
    if (err == XO_OK && listen && listen[0])
        err = bind_listener(t, listen, errstr, errstr_size);
    if (err != XO_OK) {
        agent_transfer_free(t);
        return err;
    }
    if (t->listen_fd >= 0)
        xo_info(TX_MOD, "event=transfer_listening endpoint=%s fingerprint=%s max_concurrent=%d",
                t->endpoint, t->pin, t->max_running);
    *out = t;
    return XO_OK;
}

xo_err_t agent_transfer_start(agent_transfer_t *t)
{
    if (!t || t->listen_fd < 0)
        return XO_OK;
    if (pthread_create(&t->listener, NULL, listen_main, t) != 0)
        return XO_ERR_NOMEM;
    t->listening = true;
    return XO_OK;
}

void agent_transfer_free(agent_transfer_t *t)
{
    if (!t)
        return;
    if (t->listening)
        pthread_join(t->listener, NULL);
    pthread_mutex_lock(&t->mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < TX_WORKERS; i++) /* each ends within its socket timeout */
        if (t->workers[i].busy)
            pthread_join(t->workers[i].th, NULL);
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    SSL_CTX_free(t->ctx);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
