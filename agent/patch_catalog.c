/*
 * patch_catalog.c - fetches XenServer's patch catalogue (updates.xml) with libcurl and
 * parses it as it arrives (xo_catalog's push parser): the document is never held whole.
 * Must not: call XAPI, publish anything, or follow redirects to another scheme than https
 * (http only when the configured URL itself is http, for loopback tests).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "patch_int.h"
#include "xo_log.h"

#define CATALOG_MOD "patch"

typedef struct {
    xo_catalog_parser_t *parser;
    xo_err_t err;
    char errstr[256];
} fetch_t;

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
    fetch_t *f = opaque;

    if (f->err != XO_OK)
        return 0;
    f->err = xo_catalog_parser_feed(f->parser, data, size * n, f->errstr, sizeof f->errstr);
    return f->err == XO_OK ? size * n : 0;
}

/* libcurl's outcome as one of ours. */
static xo_err_t curl_err(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return XO_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return XO_ERR_TLS;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return XO_ERR_CONNECT;
    default:
        return XO_ERR_IO;
    }
}

static void set_options(CURL *h, const xo_config_t *cfg, const char *url, fetch_t *f)
{
    const char *ca = xo_config_get(cfg, "patches.ca_file");
    long timeout = xo_config_get_int(cfg, "patches.catalog_timeout_ms");

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, strncmp(url, "http:", 5) ? "https" : "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip is fine: the parser sees XML */
    if (ca && *ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
}

xo_err_t patch_catalog_fetch(const xo_config_t *cfg, xo_catalog_t **out, char *errstr,
                             size_t errstr_size)
{
    const char *url = xo_config_get(cfg, "patches.catalog_url");
    fetch_t f = {.err = XO_OK};
    CURL *h = curl_easy_init();
    long status = 0;
    CURLcode rc;
    xo_err_t err;

    f.parser = xo_catalog_parser_new(NULL);
    if (!h || !f.parser) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
        goto out;
    }
    set_options(h, cfg, url, &f);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (f.err != XO_OK)
        err = xo_seterr(errstr, errstr_size, f.err, "catalogue %s: %s", url, f.errstr);
    else if (rc != CURLE_OK)
        err = xo_seterr(errstr, errstr_size, curl_err(rc), "catalogue %s unreachable: %s", url,
                        curl_easy_strerror(rc));
    else if (status != 200)
        err = xo_seterr(errstr, errstr_size, XO_ERR_HTTP, "catalogue %s: HTTP %ld", url, status);
    else
        err = xo_catalog_parser_finish(f.parser, out, f.errstr, sizeof f.errstr);
    if (err == XO_OK)
        xo_info(CATALOG_MOD, "event=catalog_fetched url=%s patches=%zu", url,
                xo_catalog_patch_count(*out));
    else if (!f.err && rc == CURLE_OK && status == 200)
        err = xo_seterr(errstr, errstr_size, err, "catalogue %s: %s", url, f.errstr);
out:
    xo_catalog_parser_free(f.parser);
    if (h)
        curl_easy_cleanup(h);
    return err;
}
