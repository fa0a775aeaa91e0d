/*
 * rest_client.c - one REST request over libcurl (rest_client.h). curl's error codes are
 * sorted into the kinds every xo-fleet error line names: connection refused, TLS failure,
 * timeout.
 */
#include "rest_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interrupt.h"

typedef struct {
    cli_rest_response_t *resp;
    bool too_big;
} sink_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    sink_t *s = opaque;
    size_t n = size * nmemb;

    if ((size_t)printbuf_length(s->resp->body) + n > CLI_REST_MAX_BODY) {
        s->too_big = true;
        return 0; /* curl stops: CURLE_WRITE_ERROR */
    }
    printbuf_memappend(s->resp->body, data, (int)n);
    return n;
}

static int on_progress(void *opaque, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)opaque, (void)dt, (void)dn, (void)ut, (void)un;
    return cli_interrupted ? 1 : 0; /* Ctrl-C aborts the transfer */
}

static xo_err_t curl_error(CURLcode rc, const char *detail, char *errstr, size_t errstr_size)
{
    const char *why = detail && *detail ? detail : curl_easy_strerror(rc);

    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return xo_seterr(errstr, errstr_size, XO_ERR_CONNECT, "connection refused: %s", why);
    case CURLE_COULDNT_RESOLVE_HOST:
        return xo_seterr(errstr, errstr_size, XO_ERR_CONNECT, "cannot connect: %s", why);
    case CURLE_OPERATION_TIMEDOUT:
        return xo_seterr(errstr, errstr_size, XO_ERR_TIMEOUT, "timeout: %s", why);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return xo_seterr(errstr, errstr_size, XO_ERR_TLS, "TLS failure: %s", why);
    case CURLE_ABORTED_BY_CALLBACK:
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "interrupted");
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        return xo_seterr(errstr, errstr_size, XO_ERR_CONNECT, "connection lost: %s", why);
    default:
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "HTTP request failed: %s", why);
    }
}

static void set_options(CURL *h, const cli_url_t *url, bool allow_unauthorized, int timeout_ms,
                        const char *method, const char *body)
{
    const char *ca = getenv("SSL_CERT_FILE");

    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "GET"))
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (timeout_ms > 0) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    }
    if (url->tls && allow_unauthorized) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (url->tls && ca && *ca) {
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    }
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
}

xo_err_t cli_rest_request(const cli_url_t *url, const char *token, bool allow_unauthorized,
                          int timeout_ms, const char *method, const char *target, const char *body,
                          cli_rest_response_t *resp, char *errstr, size_t errstr_size)
{
    char full[4096], cookie[600], curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    sink_t sink = {resp, false};
    char *ct = NULL;
    xo_err_t err = XO_OK;
    CURLcode rc;
    CURL *h;
    int n;

    memset(resp, 0, sizeof(*resp));
    cli_url_http(url, full, sizeof(full));
    n = (int)strlen(full);
    /* the base ends with '/', the target starts with one */
    if (snprintf(full + n - 1, sizeof(full) - (size_t)n + 1, "%s", target) >=
        (int)(sizeof(full) - (size_t)n + 1))
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "path too long");
    resp->body = printbuf_new();
    h = curl_easy_init();
    if (!resp->body || !h) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, full);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    set_options(h, url, allow_unauthorized, timeout_ms, method, body);
    if (token && *token) {
        snprintf(cookie, sizeof(cookie), "authenticationToken=%s", token);
        curl_easy_setopt(h, CURLOPT_COOKIE, cookie);
    }
    headers = curl_slist_append(headers, "Accept: application/json");
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    rc = curl_easy_perform(h);
    if (sink.too_big) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "the answer exceeds %u MiB",
                        CLI_REST_MAX_BODY >> 20);
        goto out;
    }
    if (rc != CURLE_OK) {
        err = curl_error(rc, curl_err, errstr, errstr_size);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        snprintf(resp->content_type, sizeof(resp->content_type), "%.*s", (int)strcspn(ct, "; "),
                 ct);
out:
    curl_slist_free_all(headers);
    if (h)
        curl_easy_cleanup(h);
    if (err != XO_OK)
        cli_rest_response_fini(resp);
    return err;
}

void cli_rest_response_fini(cli_rest_response_t *resp)
{
    if (resp->body)
        printbuf_free(resp->body);
    resp->body = NULL;
}
