/*
 * endpoint_download.c - vm.export's download URLs, GET /downloads/<token>/<name>: the token
 * that vm.export registered (api/downloads.h: once, within GW_DOWNLOAD_TTL_MS) admits one
 * download; the console hub then issues vm.exportRelay to the VM's pool agent, which dials
 * the relay endpoint back with its ticket, and writes what the agent relays as the body
 * (console_hub.h, docs/streaming.md). Service thread only.
 */
#include <string.h>

#include "api/downloads.h"
#include "transport/console_hub.h"
#include "transport/endpoint.h"
#include "xo_log.h"

#define MOD    "console"
#define PREFIX "/downloads/"

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

static int on_request(struct lws *wsi, gw_console_t *c)
{
    gw_transport_t *t = gw_transport_of(wsi);
    gw_console_hub_t *h = gw_console_hub_of(wsi);
    char uri[512], token[GW_TOKEN_LEN + 1], addr[64] = "";
    gw_download_t dl;
    size_t n;
    int size;

    if (!t || !h || !c)
        return -1;
    size = gw_http_check_size(wsi, t->ctx->limits.max_url_bytes, t->ctx->limits.max_header_bytes);
    if (size)
        return refuse(wsi, size);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0 ||
        lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
        return refuse(wsi, 405);
    n = strcspn(uri + strlen(PREFIX), "/?");
    if (strncmp(uri, PREFIX, strlen(PREFIX)) != 0 || n != GW_TOKEN_LEN)
        return refuse(wsi, 404);
    memcpy(token, uri + strlen(PREFIX), n);
    token[n] = '\0';
    lws_get_peer_simple(wsi, addr, sizeof(addr));
    if (!t->ctx->downloads || !gw_downloads_take(t->ctx->downloads, token, gw_mono_ms(), &dl)) {
        xo_warn(MOD, "event=download_refused addr=%s reason=\"unknown, used or expired URL\"",
                addr);
        return refuse(wsi, 404);
    }
    memset(token, 0, sizeof(token));
    if (gw_download_count(h) >= GW_DOWNLOADS_RUNNING) {
        xo_warn(MOD, "event=download_refused addr=%s vm=%s reason=\"too many downloads\"", addr,
                dl.vm);
        return refuse(wsi, 503);
    }
    fill(c, &dl, addr);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* the hub's deadlines apply instead */
    gw_download_open(h, c, wsi);
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

static const char *const MOUNTS[] = {"/downloads", NULL}; /* lws: a prefix ends at a '/' */

const gw_endpoint_t gw_endpoint_download = {
    .protocol = {.name = "xo-download",
                 .callback = callback,
                 .per_session_data_size = sizeof(gw_console_t),
                 .rx_buffer_size = 4096},
    .mounts = MOUNTS,
};
