/*
 * transfer_io.c - blocking TCP/TLS connections with timeouts, the HTTP/1.0 client of a XAPI
 * host's bulk handlers, the link's frames and the link's in-memory self-signed certificate
 * (transfer_io.h). Holds at most one small read buffer per connection: the bytes of a
 * transfer pass through, they are never stored. Must not log credentials (the session is
 * in the request path).
 */
#include "transfer_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ sockets */

static void set_timeouts(int fd, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Whole frames go out at once: no Nagle wait for the ACK of the previous one. */
static void set_nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A non-blocking connect bounded by timeout_ms, then back to blocking. */
static int connect_bounded(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct pollfd p;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
        goto fail;
    p = (struct pollfd){fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
        soerr != 0)
        goto fail;
    if (fcntl(fd, F_SETFL, 0) != 0)
        goto fail;
    set_nodelay(fd);
    set_timeouts(fd, timeout_ms);
    return fd;
fail:
    close(fd);
    return -1;
}

static xo_err_t tls_error(char *errstr, size_t errstr_size, const char *what)
{
    char e[160];

    ERR_error_string_n(ERR_get_error(), e, sizeof(e));
    ERR_clear_error();
    return xo_seterr(errstr, errstr_size, XO_ERR_TLS, "%s: %s", what, e);
}

/* The peer certificate's SHA-256 equals @p pin (hex, any case). */
static bool pin_matches(SSL *ssl, const char *pin)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    bool ok;

    ok = cert && X509_digest(cert, EVP_sha256(), md, &n) == 1 && n == 32;
    for (unsigned i = 0; ok && i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ok = ok && strlen(pin) == TX_PIN_HEX && strncasecmp(hex, pin, TX_PIN_HEX) == 0;
    X509_free(cert);
    return ok;
}

static xo_err_t tls_client(tx_conn_t *c, const char *host, const tx_tls_opts_t *tls, char *errstr,
                           size_t errstr_size)
{
    bool verify = !tls->pin_sha256 && !tls->insecure;

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        return tls_error(errstr, errstr_size, "TLS context");
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    if (tls->eof_is_end)
        SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(c->ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (verify && (tls->ca_file ? SSL_CTX_load_verify_locations(c->ctx, tls->ca_file, NULL)
                                : SSL_CTX_set_default_verify_paths(c->ctx)) != 1)
        return tls_error(errstr, errstr_size, "CA file");
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return tls_error(errstr, errstr_size, "TLS session");
    if (verify)
        SSL_set1_host(c->ssl, host);
    SSL_set_tlsext_host_name(c->ssl, host);
    if (SSL_connect(c->ssl) != 1)
        return tls_error(errstr, errstr_size, "TLS handshake");
    if (tls->pin_sha256 && !pin_matches(c->ssl, tls->pin_sha256))
        return xo_seterr(errstr, errstr_size, XO_ERR_TLS,
                         "the peer's certificate is not the pinned one");
    return XO_OK;
}

xo_err_t tx_connect(tx_conn_t *c, const char *host, int port, const tx_tls_opts_t *tls,
                    int timeout_ms, char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[16];
    xo_err_t err = XO_OK;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONNECT, "cannot resolve %.128s", host);
    for (struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next)
        c->fd = connect_bounded(ai, timeout_ms);
    freeaddrinfo(res);
    if (c->fd < 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONNECT, "cannot connect to %.128s:%d", host,
                         port);
    if (tls)
        err = tls_client(c, host, tls, errstr, errstr_size);
    if (err != XO_OK)
        tx_close(c, false);
    return err;
}

xo_err_t tx_accept_tls(tx_conn_t *c, int fd, SSL_CTX *ctx, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
    xo_err_t err = XO_OK;

    memset(c, 0, sizeof(*c));
    c->fd = fd;
    set_nodelay(fd);
    set_timeouts(fd, timeout_ms);
    c->ssl = SSL_new(ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1 || SSL_accept(c->ssl) != 1)
        err = tls_error(errstr, errstr_size, "TLS accept");
    if (err != XO_OK)
        tx_close(c, false);
    return err;
}

void tx_set_timeout(tx_conn_t *c, int timeout_ms)
{
    set_timeouts(c->fd, timeout_ms);
}

void tx_close(tx_conn_t *c, bool clean)
{
    if (c->ssl && clean)
        SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
    c->pos = c->len = 0;
}

static ssize_t raw_read(tx_conn_t *c, void *p, size_t n)
{
    if (c->ssl) {
        size_t got = 0;
        int rc = SSL_read_ex(c->ssl, p, n, &got);
        if (rc == 1)
            return (ssize_t)got;
        if (SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN)
            return 0;
        ERR_clear_error();
        return -1; /* an end without close_notify is an error: the stream may be cut */
    }
    for (;;) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

ssize_t tx_read(tx_conn_t *c, void *p, size_t n)
{
    if (c->pos < c->len) {
        size_t k = c->len - c->pos < n ? c->len - c->pos : n;
        memcpy(p, c->buf + c->pos, k);
        c->pos += k;
        return (ssize_t)k;
    }
    return raw_read(c, p, n);
}

xo_err_t tx_read_full(tx_conn_t *c, void *p, size_t n)
{
    unsigned char *b = p;

    while (n) {
        ssize_t r = tx_read(c, b, n);
        if (r <= 0)
            return XO_ERR_IO;
        b += r;
        n -= (size_t)r;
    }
    return XO_OK;
}

xo_err_t tx_write_all(tx_conn_t *c, const void *p, size_t n)
{
    const unsigned char *b = p;

    while (n) {
        ssize_t w;
        if (c->ssl) {
            size_t done = 0;
            w = SSL_write_ex(c->ssl, b, n, &done) == 1 ? (ssize_t)done : -1;
            if (w < 0)
                ERR_clear_error();
        } else {
            w = send(c->fd, b, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
        }
        if (w <= 0)
            return XO_ERR_IO;
        b += w;
        n -= (size_t)w;
    }
    return XO_OK;
}

/* ------------------------------------------------------------------ HTTP */

/* "http[s]://host[:port]" -> parts. */
static xo_err_t parse_url(const char *url, bool *tls, char *host, size_t hsize, int *port)
{
    const char *h, *colon, *end;

    if (strncmp(url, "https://", 8) == 0) {
        *tls = true;
        h = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        *tls = false;
        h = url + 7;
    } else {
        return XO_ERR_INVALID;
    }
    end = h + strcspn(h, "/?");
    colon = memchr(h, ':', (size_t)(end - h));
    if (h[0] == '[') /* [v6]:port */
        colon = memchr(h, ']', (size_t)(end - h)) ? strchr(memchr(h, ']', (size_t)(end - h)), ':')
                                                  : NULL;
    *port = colon && colon < end ? atoi(colon + 1) : (*tls ? 443 : 80);
    snprintf(host, hsize, "%.*s", (int)((colon && colon < end ? colon : end) - h), h);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    return *port > 0 && *port < 65536 && host[0] ? XO_OK : XO_ERR_INVALID;
}

/* Read the head (up to the blank line) into head; the rest stays in c->buf. */
static xo_err_t read_head(tx_conn_t *c, tx_http_head_t *head, char *errstr, size_t errstr_size)
{
    char text[TX_HEAD_MAX + 1];
    size_t n = 0;
    char *line, *save = NULL;

    while (n < TX_HEAD_MAX) { /* byte by byte: the body that follows is not ours to read */
        if (tx_read(c, text + n, 1) != 1)
            return xo_seterr(errstr, errstr_size, XO_ERR_IO, "no HTTP answer");
        n++;
        if (n >= 4 && memcmp(text + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    text[n] = '\0';
    if (n >= TX_HEAD_MAX || sscanf(text, "HTTP/%*d.%*d %d", &head->status) != 1)
        return xo_seterr(errstr, errstr_size, XO_ERR_HTTP, "malformed HTTP answer");
    for (line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char *v = strchr(line, ':');
        if (!v)
            continue;
        *v++ = '\0';
        v += strspn(v, " \t");
        if (strcasecmp(line, "Location") == 0)
            snprintf(head->location, sizeof(head->location), "%s", v);
        else if (strcasecmp(line, "task-id") == 0)
            snprintf(head->task_id, sizeof(head->task_id), "%s", v);
    }
    return XO_OK;
}

/* The host of a 302's Location ("https://10.0.0.2/import?…", no port as XAPI writes it). */
static void location_host(const char *location, char *host, size_t size)
{
    bool tls;
    int port;

    if (parse_url(location, &tls, host, size, &port) != XO_OK)
        host[0] = '\0';
}

xo_err_t tx_http_open(tx_conn_t *c, const char *base_url, const char *method, const char *path,
                      const tx_tls_opts_t *tls, int timeout_ms, tx_http_head_t *head, char *errstr,
                      size_t errstr_size)
{
    char host[256], req[4096];
    bool use_tls;
    int port, len;
    xo_err_t err;

    if (parse_url(base_url, &use_tls, host, sizeof(host), &port) != XO_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "bad URL %.128s", base_url);
    for (int hop = 0; hop < 4; hop++) {
        memset(head, 0, sizeof(*head));
        err = tx_connect(c, host, port, use_tls ? tls : NULL, timeout_ms, errstr, errstr_size);
        if (err != XO_OK)
            return err;
        len = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: xo-agent\r\n",
                       method, path, host);
        if (strcmp(method, "PUT") == 0)
            len += snprintf(req + len, sizeof(req) - (size_t)len,
                            "Content-Length: %llu\r\nContent-Type: application/octet-stream\r\n",
                            (unsigned long long)TX_IMPORT_CLAIM);
        len += snprintf(req + len, sizeof(req) - (size_t)len, "\r\n");
        if (len >= (int)sizeof(req))
            err = xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "request too long");
        else if (tx_write_all(c, req, (size_t)len) != XO_OK)
            err = xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot send the request");
        else
            err = read_head(c, head, errstr, errstr_size);
        if (err == XO_OK && head->status == 200)
            return XO_OK;
        tx_close(c, false);
        if (err != XO_OK)
            return err;
        if (head->status != 302 || !head->location[0])
            return xo_seterr(errstr, errstr_size, XO_ERR_HTTP, "HTTP %d", head->status);
        location_host(head->location, host, sizeof(host)); /* keep our port, as xen-api */
        if (!host[0])
            return xo_seterr(errstr, errstr_size, XO_ERR_HTTP, "302 without a usable Location");
    }
    return xo_seterr(errstr, errstr_size, XO_ERR_HTTP, "too many redirects");
}

/* ------------------------------------------------------------------ link frames */

static void frame_header(unsigned char h[4], size_t n)
{
    h[0] = (unsigned char)(n >> 24);
    h[1] = (unsigned char)(n >> 16);
    h[2] = (unsigned char)(n >> 8);
    h[3] = (unsigned char)n;
}

xo_err_t tx_frame_write(tx_conn_t *c, const void *p, size_t n)
{
    unsigned char frame[4 + TX_CONTROL_MAX];

    if (n > TX_CONTROL_MAX)
        return XO_ERR_LIMIT;
    frame_header(frame, n);
    if (n)
        memcpy(frame + 4, p, n);
    return tx_write_all(c, frame, 4 + n);
}

xo_err_t tx_frame_send(tx_conn_t *c, unsigned char *frame, size_t n)
{
    if (n > TX_FRAME_MAX)
        return XO_ERR_LIMIT;
    frame_header(frame, n);
    return tx_write_all(c, frame, 4 + n); /* one write: whole TLS records, no Nagle wait */
}

xo_err_t tx_frame_read(tx_conn_t *c, void *p, size_t cap, size_t *n)
{
    unsigned char h[4];
    size_t len;

    *n = 0;
    if (tx_read_full(c, h, 4) != XO_OK)
        return XO_ERR_IO;
    len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    if (len > cap)
        return XO_ERR_LIMIT;
    *n = len;
    return len ? tx_read_full(c, p, len) : XO_OK;
}

/* ------------------------------------------------------------------ the link's certificate */

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char serial[8];

    if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    X509_set_version(x, 2);
    ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), (uint64_t)serial[0] << 24 | serial[1] << 16 |
                                                          serial[2] << 8 | serial[3]);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"xo-agent transfer",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

xo_err_t tx_server_ctx_new(SSL_CTX **out, char pin[TX_PIN_HEX + 1], char *errstr,
                           size_t errstr_size)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = key ? self_signed(key) : NULL;
    SSL_CTX *ctx = cert ? SSL_CTX_new(TLS_server_method()) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    xo_err_t err = XO_OK;

    *out = NULL;
    if (!ctx || SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        err = tls_error(errstr, errstr_size, "transfer certificate");
        SSL_CTX_free(ctx);
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    for (unsigned i = 0; i < n; i++)
        snprintf(pin + 2 * i, 3, "%02x", md[i]);
    *out = ctx;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return err;
}
