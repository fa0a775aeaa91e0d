/*
 * xo_xapi.c - XAPI transport: one libcurl easy handle per connection, XML-RPC POSTs, the body
 * decoded while it arrives, curl and TLS failures mapped to xo_err_t.
 * Must not: keep a whole response body in memory, log call parameters (they carry session
 * refs and passwords), retry or fail over (the caller decides), or print errors.
 */
#include "xo_xapi.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "xo_log.h"

#define PIN_LEN       32
#define BODY_ERR_SIZE 256
/* libcurl's receive buffer. It still hands the body callback 16 KiB at a time
 * (CURL_MAX_WRITE_SIZE), but a big buffer reads a large answer (a full dump) with one
 * recv and one poll per 512 KiB instead of per 16 KiB: 30 times fewer syscalls on the
 * thread that decodes. */
#define RECV_BUFFER_BYTES (512L * 1024)

struct xo_xapi_conn {
    CURL *easy;
    char *url;      /* as given */
    char *post_url; /* url with a "/" path */
    char *ca_file;
    unsigned char pin[PIN_LEN];
    bool has_pin;
    bool insecure;
    long connect_timeout_ms, timeout_ms;
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];
    /* state of the call in progress */
    xo_xmlrpc_decoder_t *dec;
    xo_err_t body_err;
    char body_errstr[BODY_ERR_SIZE];
    bool pin_mismatch;
    char pin_actual[2 * PIN_LEN + 1];
    volatile sig_atomic_t *abort_flag; /* borrowed; a set flag ends the call in progress */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void to_hex(const unsigned char *md, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* "AB:cd:..." or "abcd..." -> 32 bytes. */
static bool parse_pin(const char *s, unsigned char pin[PIN_LEN])
{
    size_t n = 0;
    int hi = -1;

    for (; *s; s++) {
        int v;
        if (*s == ':')
            continue;
        if (!isxdigit((unsigned char)*s) || n == PIN_LEN)
            return false;
        v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
        if (hi < 0) {
            hi = v;
        } else {
            pin[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    return n == PIN_LEN && hi < 0;
}

static xo_err_t check_url(const char *url, char *errstr, size_t errstr_size)
{
    const char *host;

    if (!url)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "XAPI URL missing");
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                         "XAPI URL must start with https:// or http://: %.200s", url);
    if (*host == '\0' || *host == '/' || strpbrk(url, " \t\r\n"))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "XAPI URL has no host: %.200s", url);
    return XO_OK;
}

static xo_err_t store_url(xo_xapi_conn_t *conn, const char *url, char *errstr, size_t errstr_size)
{
    const char *host = strstr(url, "://") + 3;
    bool has_path = strchr(host, '/') != NULL;
    size_t n = strlen(url);
    char *u = strdup(url), *p = malloc(n + 2);

    if (!u || !p) {
        free(u);
        free(p);
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    }
    snprintf(p, n + 2, "%s%s", url, has_path ? "" : "/");
    free(conn->url);
    free(conn->post_url);
    conn->url = u;
    conn->post_url = p;
    return XO_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* TLS pinning                                                                              */

/* Replaces OpenSSL's chain verification: the leaf certificate must have the pinned hash. */
static int pin_verify(X509_STORE_CTX *store, void *arg)
{
    xo_xapi_conn_t *conn = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!leaf || X509_digest(leaf, EVP_sha256(), md, &n) != 1 || n != PIN_LEN) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_UNSPECIFIED);
        return 0;
    }
    if (CRYPTO_memcmp(md, conn->pin, PIN_LEN) == 0)
        return 1;
    conn->pin_mismatch = true;
    to_hex(md, PIN_LEN, conn->pin_actual);
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
    (void)easy;
    SSL_CTX_set_cert_verify_callback(ssl_ctx, pin_verify, arg);
    return CURLE_OK;
}

static CURLcode setup_tls(xo_xapi_conn_t *conn)
{
    CURL *e = conn->easy;
    CURLcode rc = CURLE_OK;

    if (conn->has_pin) {
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        rc |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        rc |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, conn);
    } else if (conn->insecure) {
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (conn->ca_file)
            rc |= curl_easy_setopt(e, CURLOPT_CAINFO, conn->ca_file);
    }
    return rc;
}

xo_err_t xo_xapi_conn_tls_to(xo_xapi_conn_t *conn, void *easy)
{
    CURL *saved = conn->easy;
    CURLcode rc;

    /* setup_tls works on conn->easy; the pin callback's data stays the connection */
    conn->easy = easy;
    rc = setup_tls(conn);
    conn->easy = saved;
    return rc == CURLE_OK ? XO_OK : XO_ERR_TLS;
}

xo_err_t xo_tls_cert_fingerprint_file(const char *pem_path, char hex[65], char *errstr,
                                      size_t errstr_size)
{
    FILE *f = pem_path ? fopen(pem_path, "r") : NULL;
    X509 *cert = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    xo_err_t err = XO_OK;

    if (!f)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot open %s",
                         pem_path ? pem_path : "(null)");
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != PIN_LEN) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_TLS, "no PEM certificate in %s", pem_path);
        goto done;
    }
    to_hex(md, PIN_LEN, hex);
done:
    X509_free(cert);
    fclose(f);
    return err;
}

/* ---------------------------------------------------------------------------------------- */
/* Connection                                                                               */

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    xo_xapi_conn_t *conn = arg;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(conn->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return n; /* discarded; reported as XO_ERR_HTTP after the transfer */
    conn->body_err =
        xo_xmlrpc_decoder_feed(conn->dec, data, n, conn->body_errstr, sizeof conn->body_errstr);
    return conn->body_err == XO_OK ? n : 0;
}

/* libcurl calls this about once a second and on every transfer step. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    xo_xapi_conn_t *conn = arg;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return conn->abort_flag && *conn->abort_flag;
}

void xo_xapi_conn_set_abort(xo_xapi_conn_t *conn, volatile sig_atomic_t *flag)
{
    conn->abort_flag = flag;
}

static CURLcode setup_easy(xo_xapi_conn_t *conn)
{
    CURL *e = conn->easy;
    CURLcode rc = CURLE_OK;

    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, conn->headers);
    rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "xo-fleet");
    rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, conn->connect_timeout_ms);
    rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, conn->curl_err);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER_BYTES);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, conn);
    rc |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    rc |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    rc |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, conn);
    return rc | setup_tls(conn);
}

static xo_err_t conn_init(xo_xapi_conn_t *conn, const xo_xapi_opts_t *opts, char *errstr,
                          size_t errstr_size)
{
    xo_err_t err = store_url(conn, opts->url, errstr, errstr_size);

    if (err != XO_OK)
        return err;
    conn->insecure = opts->insecure;
    conn->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                            : XO_XAPI_DEFAULT_CONNECT_TIMEOUT_MS;
    conn->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : XO_XAPI_DEFAULT_TIMEOUT_MS;
    if (opts->pin_sha256) {
        conn->has_pin = true;
        if (!parse_pin(opts->pin_sha256, conn->pin))
            return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                             "pin_sha256 must be 64 hex digits (colons optional)");
        if (opts->insecure)
            return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                             "pin_sha256 and insecure are exclusive");
    }
    if (opts->ca_file && !opts->pin_sha256) {
        conn->ca_file = strdup(opts->ca_file);
        if (!conn->ca_file)
            return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    }
    conn->headers = curl_slist_append(NULL, "Content-Type: text/xml");
    if (conn->headers)
        conn->headers = curl_slist_append(conn->headers, "Expect:");
    conn->easy = curl_easy_init();
    if (!conn->headers || !conn->easy)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "cannot create a curl handle");
    if (setup_easy(conn) != CURLE_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_UNSUPPORTED,
                         "libcurl lacks a needed option (https, SSL_CTX_FUNCTION?)");
    return XO_OK;
}

xo_err_t xo_xapi_conn_new(const xo_xapi_opts_t *opts, xo_xapi_conn_t **out, char *errstr,
                          size_t errstr_size)
{
    xo_xapi_conn_t *conn = NULL;
    xo_err_t err;

    if (!opts || !out)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "conn_new: bad arguments");
    *out = NULL;
    err = check_url(opts->url, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "curl_global_init failed");
    conn = calloc(1, sizeof *conn);
    if (!conn)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    err = conn_init(conn, opts, errstr, errstr_size);
    if (err != XO_OK) {
        xo_xapi_conn_free(conn);
        return err;
    }
    if (conn->insecure)
        xo_warn("xapi",
                "msg=\"TLS verification DISABLED (insecure): the XAPI host is not "
                "authenticated\" url=%s",
                conn->url);
    *out = conn;
    return XO_OK;
}

void xo_xapi_conn_free(xo_xapi_conn_t *conn)
{
    if (!conn)
        return;
    if (conn->easy)
        curl_easy_cleanup(conn->easy);
    curl_slist_free_all(conn->headers);
    free(conn->url);
    free(conn->post_url);
    free(conn->ca_file);
    free(conn);
}

xo_err_t xo_xapi_conn_set_url(xo_xapi_conn_t *conn, const char *url, char *errstr,
                              size_t errstr_size)
{
    xo_err_t err;

    if (!conn)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "conn is NULL");
    err = check_url(url, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    return store_url(conn, url, errstr, errstr_size);
}

const char *xo_xapi_conn_url(const xo_xapi_conn_t *conn)
{
    return conn ? conn->url : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Calls                                                                                    */

static xo_err_t map_curl(xo_xapi_conn_t *conn, CURLcode rc, char *errstr, size_t errstr_size)
{
    const char *why = conn->curl_err[0] ? conn->curl_err : curl_easy_strerror(rc);
    xo_err_t err;

    if (rc == CURLE_WRITE_ERROR && conn->body_err != XO_OK)
        return xo_seterr(errstr, errstr_size, conn->body_err, "%s", conn->body_errstr);
    if (conn->pin_mismatch) {
        char expected[2 * PIN_LEN + 1];
        to_hex(conn->pin, PIN_LEN, expected);
        return xo_seterr(errstr, errstr_size, XO_ERR_TLS,
                         "certificate fingerprint mismatch for %s: expected sha256 %s, got %s",
                         conn->url, expected, conn->pin_actual);
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return xo_seterr(errstr, errstr_size, XO_ERR_TIMEOUT, "call aborted (shutting down)");
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        err = XO_ERR_CONNECT;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        err = XO_ERR_TIMEOUT;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        err = XO_ERR_TLS;
        break;
    case CURLE_OUT_OF_MEMORY:
        err = XO_ERR_NOMEM;
        break;
    default: /* connection lost, nothing received, send/recv errors */
        err = XO_ERR_IO;
        break;
    }
    return xo_seterr(errstr, errstr_size, err, "POST %s: %s", conn->url, why);
}

/* Decoded response (or fault) -> value / XAPI error. */
static xo_err_t finish_body(xo_xapi_conn_t *conn, json_object **value, xo_xapi_error_t *xerr,
                            char *errstr, size_t errstr_size)
{
    json_object *resp = NULL, *code, *str;
    xo_err_t err = xo_xmlrpc_decoder_finish(conn->dec, &resp, errstr, errstr_size);

    if (err == XO_ERR_XAPI && xerr) {
        snprintf(xerr->code, sizeof xerr->code, "XMLRPC_FAULT");
        xerr->params = json_object_new_array();
        code = json_object_object_get(resp, "faultCode");
        str = json_object_object_get(resp, "faultString");
        if (xerr->params) {
            json_object_array_add(xerr->params,
                                  json_object_new_string(code ? json_object_get_string(code) : ""));
            json_object_array_add(xerr->params,
                                  json_object_new_string(str ? json_object_get_string(str) : ""));
        }
    }
    if (err != XO_OK)
        goto done;
    err = xo_xapi_unwrap(resp, value, xerr);
    if (err == XO_ERR_XAPI)
        xo_seterr(errstr, errstr_size, err, "%s: XAPI failure %s", conn->url,
                  xerr ? xerr->code : "");
    else if (err == XO_ERR_PARSE)
        xo_seterr(errstr, errstr_size, err, "%s: response is not an XAPI envelope", conn->url);
done:
    json_object_put(resp);
    return err;
}

static xo_err_t perform(xo_xapi_conn_t *conn, const char *body, size_t len, long timeout_ms,
                        char *errstr, size_t errstr_size)
{
    CURL *e = conn->easy;
    CURLcode rc;
    long status = 0;

    conn->curl_err[0] = '\0';
    conn->body_err = XO_OK;
    conn->pin_mismatch = false;
    curl_easy_setopt(e, CURLOPT_URL, conn->post_url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : conn->timeout_ms);
    rc = curl_easy_perform(e);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
    if (rc != CURLE_OK)
        return map_curl(conn, rc, errstr, errstr_size);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return xo_seterr(errstr, errstr_size, XO_ERR_HTTP, "POST %s: HTTP status %ld", conn->url,
                         status);
    return XO_OK;
}

/* The decoder of one call: whole, streaming its elements, or streaming them raw. */
static xo_err_t make_decoder(xo_xapi_conn_t *conn, const char *const *member_path,
                             xo_xmlrpc_elem_cb cb, const xo_xapi_raw_stream_t *raw, void *opaque,
                             char *errstr, size_t errstr_size)
{
    xo_err_t err = XO_OK;

    conn->dec = xo_xmlrpc_decoder_new(NULL);
    if (!conn->dec)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    if (raw)
        err = xo_xmlrpc_decoder_set_stream_raw(conn->dec, raw->path, raw->raw_member, raw->capture,
                                               raw->cb, raw->opaque);
    else if (member_path)
        err = xo_xmlrpc_decoder_set_stream(conn->dec, member_path, cb, opaque);
    if (err != XO_OK)
        xo_seterr(errstr, errstr_size, err, "invalid member path");
    return err;
}

static xo_err_t call_decoding(xo_xapi_conn_t *conn, const char *method, json_object *params,
                              long timeout_ms, const char *const *member_path, xo_xmlrpc_elem_cb cb,
                              const xo_xapi_raw_stream_t *raw, void *opaque, json_object **value,
                              xo_xapi_error_t *xerr, char *errstr, size_t errstr_size)
{
    char *body = NULL;
    size_t len = 0;
    xo_err_t err;

    if (!conn || !method || !value || (member_path && !cb) || (raw && !raw->cb))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "xapi_call: bad arguments");
    *value = NULL;
    xo_xapi_error_clear(xerr);
    err = xo_xmlrpc_encode_call(method, params, &body, &len, errstr, errstr_size);
    if (err == XO_OK)
        err = make_decoder(conn, member_path, cb, raw, opaque, errstr, errstr_size);
    if (err != XO_OK)
        goto done;
    xo_dbg(XO_DBG_XAPI, "xapi", "call method=%s url=%s bytes=%zu", method, conn->url, len);
    err = perform(conn, body, len, timeout_ms, errstr, errstr_size);
    if (err == XO_OK)
        err = finish_body(conn, value, xerr, errstr, errstr_size);
    xo_dbg(XO_DBG_XAPI, "xapi", "done method=%s err=%s", method, xo_strerror(err));
done:
    xo_xmlrpc_decoder_free(conn->dec);
    conn->dec = NULL;
    free(body);
    return err;
}

xo_err_t xo_xapi_call_stream(xo_xapi_conn_t *conn, const char *method, json_object *params,
                             long timeout_ms, const char *const *member_path, xo_xmlrpc_elem_cb cb,
                             void *opaque, json_object **value, xo_xapi_error_t *xerr, char *errstr,
                             size_t errstr_size)
{
    return call_decoding(conn, method, params, timeout_ms, member_path, cb, NULL, opaque, value,
                         xerr, errstr, errstr_size);
}

xo_err_t xo_xapi_call_stream_raw(xo_xapi_conn_t *conn, const char *method, json_object *params,
                                 long timeout_ms, const xo_xapi_raw_stream_t *stream,
                                 json_object **value, xo_xapi_error_t *xerr, char *errstr,
                                 size_t errstr_size)
{
    if (!stream)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "xapi_call: bad arguments");
    return call_decoding(conn, method, params, timeout_ms, NULL, NULL, stream, NULL, value, xerr,
                         errstr, errstr_size);
}

xo_err_t xo_xapi_call(xo_xapi_conn_t *conn, const char *method, json_object *params,
                      long timeout_ms, json_object **value, xo_xapi_error_t *xerr, char *errstr,
                      size_t errstr_size)
{
    return xo_xapi_call_stream(conn, method, params, timeout_ms, NULL, NULL, NULL, value, xerr,
                               errstr, errstr_size);
}
