/*
 * patch_stream.c - a patch zip from its download URL to an XAPI upload handler as one
 * stream, on one thread: the upload's body is pulled from the zip entry (xo_patchzip),
 * which pulls compressed bytes from the download (a libcurl multi handle pumped on
 * demand). Memory stays bounded (DOWNLOAD_BUF plus libarchive's window) whatever the
 * patch's size, and nothing touches disk. Must not: call XAPI methods or publish.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch_int.h"
#include "xo_log.h"

#define DOWNLOAD_BUF ((size_t)1 << 20) /* the download pauses beyond this */
#define PUMP_WAIT_MS 100

struct patch_download {
    CURLM *multi;
    CURL *easy;
    char *buf;
    size_t len, cap;
    bool handed; /* buf was handed to the zip reader: empty it on the next pull */
    bool paused, done;
    CURLcode result;
    uint64_t bytes;
    char url[1024];
};

static size_t on_data(char *data, size_t size, size_t n, void *opaque)
{
    patch_download_t *d = opaque;
    size_t len = size * n;

    if (d->len && d->len + len > DOWNLOAD_BUF) {
        d->paused = true;
        return CURL_WRITEFUNC_PAUSE; /* libcurl keeps this chunk and gives it again */
    }
    if (d->len + len > d->cap) {
        size_t cap = d->len + len > DOWNLOAD_BUF ? d->len + len : DOWNLOAD_BUF;
        char *nb = realloc(d->buf, cap);
        if (!nb)
            return 0;
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, data, len);
    d->len += len;
    d->bytes += len;
    return len;
}

xo_err_t patch_download_open(const xo_config_t *cfg, const char *url, patch_download_t **out,
                             char *errstr, size_t errstr_size)
{
    patch_download_t *d = calloc(1, sizeof *d);
    const char *ca = xo_config_get(cfg, "patches.ca_file");

    if (!d || !(d->multi = curl_multi_init()) || !(d->easy = curl_easy_init())) {
        patch_download_free(d);
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    }
    snprintf(d->url, sizeof d->url, "%s", url);
    curl_easy_setopt(d->easy, CURLOPT_URL, url);
    curl_easy_setopt(d->easy, CURLOPT_PROTOCOLS_STR,
                     strncmp(url, "http:", 5) ? "https" : "http,https");
    curl_easy_setopt(d->easy, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(d->easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(d->easy, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(d->easy, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(d->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    /* a stalled download fails; a slow one (paused while the upload catches up) does not */
    curl_easy_setopt(d->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(d->easy, CURLOPT_LOW_SPEED_TIME,
                     (long)xo_config_get_int(cfg, "patches.stall_timeout_s"));
    curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, d);
    if (ca && *ca)
        curl_easy_setopt(d->easy, CURLOPT_CAINFO, ca);
    curl_multi_add_handle(d->multi, d->easy);
    *out = d;
    return XO_OK;
}

/* Run the transfer until it has bytes for us or ends. */
static xo_err_t pump(patch_download_t *d)
{
    while (!d->len && !d->done) {
        int running = 0, left;
        CURLMsg *m;

        if (agent_stop)
            return XO_ERR_TIMEOUT;
        if (curl_multi_perform(d->multi, &running) != CURLM_OK)
            return XO_ERR_IO;
        while ((m = curl_multi_info_read(d->multi, &left)) != NULL)
            if (m->msg == CURLMSG_DONE) {
                d->done = true;
                d->result = m->data.result;
            }
        if (!d->len && !d->done)
            curl_multi_poll(d->multi, NULL, 0, PUMP_WAIT_MS, NULL);
    }
    return XO_OK;
}

xo_err_t patch_download_source(void *opaque, const void **data, size_t *len)
{
    patch_download_t *d = opaque;
    xo_err_t err;

    if (d->handed) { /* the reader is done with what it was given */
        d->len = 0;
        d->handed = false;
        if (d->paused) {
            d->paused = false;
            curl_easy_pause(d->easy, CURLPAUSE_CONT);
        }
    }
    err = pump(d);
    if (err != XO_OK)
        return err;
    if (!d->len && d->done && d->result != CURLE_OK)
        return d->result == CURLE_OPERATION_TIMEDOUT ? XO_ERR_TIMEOUT : XO_ERR_IO;
    *data = d->buf;
    *len = d->len;
    d->handed = true;
    return XO_OK;
}

void patch_download_error(const patch_download_t *d, char *errstr, size_t errstr_size)
{
    long status = 0;

    curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
    if (d->done && d->result != CURLE_OK)
        snprintf(errstr, errstr_size, "download of %s failed: %s (HTTP %ld)", d->url,
                 curl_easy_strerror(d->result), status);
    else
        snprintf(errstr, errstr_size, "download of %s failed", d->url);
}

uint64_t patch_download_bytes(const patch_download_t *d)
{
    return d->bytes;
}

void patch_download_free(patch_download_t *d)
{
    if (!d)
        return;
    if (d->multi && d->easy)
        curl_multi_remove_handle(d->multi, d->easy);
    if (d->easy)
        curl_easy_cleanup(d->easy);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    free(d->buf);
    free(d);
}

/* ---------------------------------------------------------------------------------------- */
/* Upload                                                                                   */

typedef struct {
    xo_patchzip_t *zip;
    patch_progress_fn progress;
    void *opaque;
    uint64_t sent;
    xo_err_t err;
    char errstr[256];
} upload_t;

static size_t on_read_body(char *buf, size_t size, size_t n, void *opaque)
{
    upload_t *u = opaque;
    size_t got = 0;

    u->err = xo_patchzip_read(u->zip, buf, size * n, &got, u->errstr, sizeof u->errstr);
    if (u->err != XO_OK)
        return CURL_READFUNC_ABORT;
    u->sent += got;
    if (u->progress)
        u->progress(u->opaque, u->sent);
    return got;
}

static size_t on_answer(char *data, size_t size, size_t n, void *opaque)
{
    (void)data, (void)opaque;
    return size * n; /* XAPI's handlers answer before reading; the outcome is the task's */
}

xo_err_t patch_upload(xo_xapi_conn_t *xapi, const char *url, xo_patchzip_t *zip,
                      patch_progress_fn progress, void *opaque, char *errstr, size_t errstr_size)
{
    upload_t u = {.zip = zip, .progress = progress, .opaque = opaque};
    struct curl_slist *hdr = curl_slist_append(NULL, "Expect:");
    CURL *h = curl_easy_init();
    long status = 0;
    CURLcode rc;
    xo_err_t err = XO_OK;

    if (!h || !hdr) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)xo_patchzip_size(zip));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_body);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (xo_xapi_conn_tls_to(xapi, h) != XO_OK) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_TLS, "TLS setup of the upload failed");
        goto out;
    }
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (u.err != XO_OK)
        err = xo_seterr(errstr, errstr_size, u.err, "%s", u.errstr);
    else if (rc != CURLE_OK)
        err =
            xo_seterr(errstr, errstr_size, XO_ERR_IO, "upload failed: %s", curl_easy_strerror(rc));
    else if (status != 200)
        err = xo_seterr(errstr, errstr_size, XO_ERR_HTTP, "upload answered HTTP %ld", status);
    else if (u.sent != xo_patchzip_size(zip))
        err = xo_seterr(errstr, errstr_size, XO_ERR_IO, "upload sent %llu bytes of %llu",
                        (unsigned long long)u.sent, (unsigned long long)xo_patchzip_size(zip));
out:
    curl_slist_free_all(hdr);
    if (h)
        curl_easy_cleanup(h);
    return err;
}
