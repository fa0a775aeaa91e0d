/*
 * endpoint_download.c - the console hub's HTTP transfers (console_hub.h, docs/streaming.md):
 * vm.export's download URLs, GET /downloads/<token>/<name>, and vm.import's upload URLs,
 * POST /uploads/<token>. The token that the method registered (api/downloads.h: once,
 * within GW_DOWNLOAD_TTL_MS) admits one transfer; the hub then issues vm.exportRelay to the
 * VM's pool agent (vm.importRelay to the SR's), which dials the relay endpoint back with
 * its ticket. A download's body is what the agent relays; an upload's request body goes
 * to the agent, read only as fast as the relay drains, and its answer is the command's
 * outcome. Service thread only.
 */
#include <string.h>

#include "api/downloads.h"
#include "transport/console_hub.h"
#include "transport/endpoint.h"
#include "xo_log.h"

#define MOD           "console"
#define PREFIX        "/downloads/"
#define UPLOAD_PREFIX "/uploads/"

/* What the registration said, into the hub's session. */
static void fill(gw_console_t *c, const gw_download_t *dl, const char *addr)
{
    memset(c, 0, sizeof(*c));
    c->download = true;
    snprintf(c->vm, sizeof(c->vm), "%s", dl->vm);
    snprintf(c->uuid, sizeof(c->uuid), "%s", dl->uuid);
    snprintf(c->pool, sizeof(c->pool), "%s", dl->pool);
    snprintf(c->type, sizeof(c->type), "VM");
    snprintf(c->user_id, sizeof(c->user_id), "%s", dl->user_id);
    snprintf(c->email, sizeof(c->email), "%s", dl->email);
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    snprintf(c->compress, sizeof(c->compress), "%s", dl->compress);
    for (size_t i = 0; dl->name[i] && i + 1 < sizeof(c->filename); i++) /* a header value */
        c->filename[i] =
            dl->name[i] == '"' || (unsigned char)dl->name[i] < 0x20 ? '_' : dl->name[i];
}

/* An HTTP error now; the connection closes once it is sent. */
static int refuse(struct lws *wsi, int status)
{
    gw_http_answer(wsi, status, true);
    return -1;
}

/* The token of "<prefix><token>[/…]" into @p token. False when the URI has none. */
static bool uri_token(const char *uri, const char *prefix, char token[GW_TOKEN_LEN + 1])
{
    size_t n = strcspn(uri + strlen(prefix), "/?");

    if (strncmp(uri, prefix, strlen(prefix)) != 0 || n != GW_TOKEN_LEN)
        return false;
    memcpy(token, uri + strlen(prefix), n);
    token[n] = '\0';
    return true;
}

static int on_request(struct lws *wsi, gw_console_t *c)
{
    gw_transport_t *t = gw_transport_of(wsi);
    gw_console_hub_t *h = gw_console_hub_of(wsi);
    char uri[512], token[GW_TOKEN_LEN + 1], addr[64] = "";
    bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    const char *what = post ? "upload" : "download";
    gw_downloads_t *reg;
    gw_download_t dl;
    int size;

    if (!t || !h || !c)
        return -1;
    reg = post ? t->ctx->uploads : t->ctx->downloads;
    size = gw_http_check_size(wsi, t->ctx->limits.max_url_bytes, t->ctx->limits.max_header_bytes);
    if (size)
        return refuse(wsi, size);
    if (lws_hdr_copy(wsi, uri, sizeof(uri), post ? WSI_TOKEN_POST_URI : WSI_TOKEN_GET_URI) <= 0)
        return refuse(wsi, 405);
    if (!uri_token(uri, post ? UPLOAD_PREFIX : PREFIX, token))
        return refuse(wsi, 404);
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    if (!reg || !gw_downloads_take(reg, token, gw_mono_ms(), &dl)) {
        xo_warn(MOD, "event=%s_refused addr=%s reason=\"unknown, used or expired URL\"", what,
                addr);
        return refuse(wsi, 404);
    }
    memset(token, 0, sizeof(token));
    if (gw_download_count(h) >= GW_DOWNLOADS_RUNNING) {
        xo_warn(MOD, "event=%s_refused addr=%s vm=%s reason=\"too many transfers\"", what, addr,
                dl.vm);
        return refuse(wsi, 503);
    }
    fill(c, &dl, addr);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* the hub's deadlines apply instead */
    if (post) {
        char te[64] = "";
        snprintf(c->type, sizeof(c->type), "SR");
        c->chunked = lws_hdr_copy(wsi, te, sizeof(te), WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 &&
                     strstr(te, "chunked");
        gw_chunked_init(&c->dechunk);
        gw_upload_open(h, c, wsi);
    } else {
        gw_download_open(h, c, wsi);
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_console_hub_t *h = reason == LWS_CALLBACK_PROTOCOL_INIT ? NULL : gw_console_hub_of(wsi);
    gw_console_t *c = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return -1; /* HTTP only */
    case LWS_CALLBACK_HTTP:
        return on_request(wsi, c);
    case LWS_CALLBACK_HTTP_BODY: /* an upload's bytes: queued to the relay, paused when full */
        if (h && c && c->registered && c->upload)
            gw_upload_body(h, c, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (h && c && c->registered && c->upload)
            gw_upload_body_done(h, c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return h && c && c->registered ? gw_console_client_writeable(h, c) : -1;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (h && c)
            gw_console_client_closed(h, c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const char *const MOUNTS[] = {"/downloads", "/uploads",
                                     NULL}; /* lws: a prefix ends at a '/' */

const gw_endpoint_t gw_endpoint_download = {
    .protocol = {.name = "xo-download",
                 .callback = callback,
                 .per_session_data_size = sizeof(gw_console_t),
                 .rx_buffer_size = 4096},
    .mounts = MOUNTS,
};
