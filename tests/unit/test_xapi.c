/*
 * test_xapi.c - unit tests of the XAPI transport (common/xo_xapi.c) against a small
 * HTTP(S) server run in a thread on 127.0.0.1 with a self-signed certificate made here:
 * keep-alive, pinning, CA file, default verification, errors, timeouts, streaming.
 * Must not: leave loopback, wait without a bound, or leak (runs under LeakSanitizer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "xo_xapi.h"

/* ---- Certificate made once for the whole run ---- */

static EVP_PKEY *g_key;
static X509 *g_cert;
static char g_dir[64];
static char g_cert_path[128];
static char g_pin[65];

static void make_cert(void)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    X509_NAME *name;
    unsigned char md[32];
    unsigned int n = 0;

    g_key = EVP_EC_gen("P-256");
    assert_non_null(g_key);
    g_cert = X509_new();
    X509_set_version(g_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(g_cert), (long)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(g_cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(g_cert), 86400);
    X509_set_pubkey(g_cert, g_key);
    name = X509_get_subject_name(g_cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(g_cert, name);
    X509V3_set_ctx(&v3, g_cert, g_cert, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    assert_non_null(ext);
    X509_add_ext(g_cert, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(g_cert, g_key, EVP_sha256()) > 0);
    X509_digest(g_cert, EVP_sha256(), md, &n);
    for (unsigned i = 0; i < n; i++)
        snprintf(g_pin + 2 * i, 3, "%02x", md[i]);
}

static int group_setup(void **state)
{
    FILE *f;

    (void)state;
    make_cert();
    snprintf(g_dir, sizeof g_dir, "/tmp/xo-xapi-test-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_cert_path, sizeof g_cert_path, "%s/cert.pem", g_dir);
    f = fopen(g_cert_path, "w");
    if (!f)
        return -1;
    PEM_write_X509(f, g_cert);
    fclose(f);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(g_cert_path);
    rmdir(g_dir);
    X509_free(g_cert);
    EVP_PKEY_free(g_key);
    return 0;
}

/* ---- The test server ---- */

typedef enum { SRV_NORMAL, SRV_SILENT } srv_mode_t;

typedef struct {
    int lfd;
    int port;
    SSL_CTX *ssl_ctx; /* NULL: plain HTTP */
    srv_mode_t mode;
    atomic_int accepts;
    atomic_int requests;
    atomic_bool stop;
    pthread_t thread;
} server_t;

typedef struct {
    int fd;
    SSL *ssl;
} peer_t;

static const char *ok_body(const char *value_xml, char *buf, size_t size)
{
    snprintf(buf, size,
             "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>"
             "<member><name>Status</name><value>Success</value></member>"
             "<member><name>Value</name><value>%s</value></member>"
             "</struct></value></param></params></methodResponse>",
             value_xml);
    return buf;
}

#define EVENT(id)                                                                                  \
    "<value><struct><member><name>id</name><value>" id "</value></member>"                         \
    "<member><name>class</name><value>vm</value></member></struct></value>"

/* Canned answers by method name. */
static void answer_for(const char *method, int *status, char *buf, size_t size)
{
    *status = 200;
    if (strcmp(method, "session.login_with_password") == 0) {
        ok_body("OpaqueRef:session-1", buf, size);
    } else if (strcmp(method, "VM.start") == 0) {
        snprintf(buf, size,
                 "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>"
                 "<member><name>Status</name><value>Failure</value></member>"
                 "<member><name>ErrorDescription</name><value><array><data>"
                 "<value>VM_BAD_POWER_STATE</value><value>OpaqueRef:vm</value>"
                 "<value>halted</value><value>running</value></data></array></value>"
                 "</member></struct></value></param></params></methodResponse>");
    } else if (strcmp(method, "event.from") == 0) {
        ok_body("<struct><member><name>events</name><value><array><data>" EVENT("1") EVENT("2")
                    EVENT("3") "</data></array></value></member>"
                               "<member><name>token</name><value>42,7</value></member>"
                               "</struct>",
                buf, size);
    } else if (strcmp(method, "fault") == 0) {
        snprintf(buf, size,
                 "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>"
                 "<member><name>faultCode</name><value><int>7</int></value></member>"
                 "<member><name>faultString</name><value>boom</value></member>"
                 "</struct></value></fault></methodResponse>");
    } else if (strcmp(method, "garbage") == 0) {
        snprintf(buf, size, "<html>not xml-rpc</html>");
    } else {
        *status = 500;
        snprintf(buf, size, "internal error");
    }
}

/* Wait until fd is readable or the server stops. */
static bool wait_readable(server_t *s, peer_t *p)
{
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};

    if (p->ssl && SSL_pending(p->ssl) > 0)
        return true;
    while (!atomic_load(&s->stop)) {
        int rc = poll(&pfd, 1, 50);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
    return false;
}

static int peer_read(server_t *s, peer_t *p, char *buf, size_t n)
{
    if (!wait_readable(s, p))
        return -1;
    if (p->ssl)
        return SSL_read(p->ssl, buf, (int)n);
    return (int)recv(p->fd, buf, n, 0);
}

static void peer_write(peer_t *p, const char *buf, size_t n)
{
    if (p->ssl)
        SSL_write(p->ssl, buf, (int)n);
    else if (send(p->fd, buf, n, MSG_NOSIGNAL) < 0)
        return;
}

/* Read one request; returns its body (malloc'd) or NULL at EOF. */
static char *read_request(server_t *s, peer_t *p, size_t *body_len)
{
    char *buf = malloc(65536), *hdr_end, *cl;
    size_t len = 0, need = 0;
    int n;

    while (len < 65535) {
        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        if (hdr_end) {
            cl = strcasestr(buf, "Content-Length:");
            need = (size_t)(hdr_end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
            if (len >= need)
                break;
        }
        n = peer_read(s, p, buf + len, 65535 - len);
        if (n <= 0) {
            free(buf);
            return NULL;
        }
        len += (size_t)n;
    }
    hdr_end = strstr(buf, "\r\n\r\n") + 4;
    *body_len = need - (size_t)(hdr_end - buf);
    memmove(buf, hdr_end, *body_len);
    buf[*body_len] = '\0';
    return buf;
}

static void serve_request(peer_t *p, const char *body, size_t len)
{
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
    json_object *params = NULL;
    char answer[4096], head[256];
    int status = 500;
    const char *method = "";

    if (xo_xmlrpc_decoder_feed(dec, body, len, NULL, 0) == XO_OK &&
        xo_xmlrpc_decoder_finish(dec, &params, NULL, 0) == XO_OK)
        method = xo_xmlrpc_decoder_method(dec);
    answer_for(method, &status, answer, sizeof answer);
    snprintf(head, sizeof head,
             "HTTP/1.1 %d %s\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n\r\n", status,
             status == 200 ? "OK" : "Error", strlen(answer));
    peer_write(p, head, strlen(head));
    peer_write(p, answer, strlen(answer));
    json_object_put(params);
    xo_xmlrpc_decoder_free(dec);
}

static void serve_peer(server_t *s, peer_t *p)
{
    char *body;
    size_t len = 0;

    while ((body = read_request(s, p, &len)) != NULL) {
        atomic_fetch_add(&s->requests, 1);
        if (s->mode == SRV_SILENT) {
            while (!atomic_load(&s->stop))
                usleep(10000);
        } else {
            serve_request(p, body, len);
        }
        free(body);
    }
}

static void handle_conn(server_t *s, int fd)
{
    peer_t p = {.fd = fd};
    struct timeval tv = {.tv_sec = 2};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (s->ssl_ctx) {
        p.ssl = SSL_new(s->ssl_ctx);
        SSL_set_fd(p.ssl, fd);
        if (SSL_accept(p.ssl) != 1)
            goto done;
    }
    serve_peer(s, &p);
done:
    if (p.ssl) {
        SSL_shutdown(p.ssl);
        SSL_free(p.ssl);
    }
    ERR_clear_error();
    close(fd);
}

static void *server_main(void *arg)
{
    server_t *s = arg;
    struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};

    while (!atomic_load(&s->stop)) {
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->accepts, 1);
        handle_conn(s, fd);
    }
    OPENSSL_thread_stop();
    return NULL;
}

static int listen_loopback(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    *port = ntohs(a.sin_port);
    return fd;
}

static server_t *server_start(bool tls, srv_mode_t mode)
{
    server_t *s = calloc(1, sizeof *s);

    s->mode = mode;
    s->lfd = listen_loopback(&s->port);
    if (tls) {
        s->ssl_ctx = SSL_CTX_new(TLS_server_method());
        assert_int_equal(SSL_CTX_use_certificate(s->ssl_ctx, g_cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(s->ssl_ctx, g_key), 1);
    }
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
    return s;
}

static void server_stop(server_t *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ssl_ctx);
    free(s);
}

/* ---- Helpers ---- */

static char errbuf[512];

static xo_xapi_conn_t *connect_to(server_t *s, const char *ca, const char *pin, bool insecure,
                                  long timeout_ms)
{
    char url[64];
    xo_xapi_conn_t *conn = NULL;

    snprintf(url, sizeof url, "%s://127.0.0.1:%d", s->ssl_ctx ? "https" : "http", s->port);
    xo_xapi_opts_t o = {.url = url,
                        .ca_file = ca,
                        .pin_sha256 = pin,
                        .insecure = insecure,
                        .connect_timeout_ms = 2000,
                        .timeout_ms = timeout_ms ? timeout_ms : 5000};
    assert_int_equal(xo_xapi_conn_new(&o, &conn, errbuf, sizeof errbuf), XO_OK);
    assert_string_equal(xo_xapi_conn_url(conn), url);
    return conn;
}

static xo_err_t login(xo_xapi_conn_t *conn, json_object **value)
{
    json_object *params = json_tokener_parse("[\"root\", \"secret\"]");
    xo_xapi_error_t xerr = {0};

    errbuf[0] = '\0';
    xo_err_t err = xo_xapi_call(conn, "session.login_with_password", params, 0, value, &xerr,
                                errbuf, sizeof errbuf);
    xo_xapi_error_clear(&xerr);
    json_object_put(params);
    return err;
}

static void assert_login_ok(xo_xapi_conn_t *conn)
{
    json_object *value = NULL;
    xo_err_t err = login(conn, &value);

    if (err != XO_OK)
        print_message("login failed: %s\n", errbuf);
    assert_int_equal(err, XO_OK);
    assert_string_equal(json_object_get_string(value), "OpaqueRef:session-1");
    json_object_put(value);
}

/* ---- Tests ---- */

static void test_pin_and_keepalive(void **state)
{
    (void)state;
    server_t *s = server_start(true, SRV_NORMAL);
    char colon_pin[100] = "";
    for (int i = 0; i < 32; i++)
        snprintf(colon_pin + strlen(colon_pin), 4, "%.2s%s", g_pin + 2 * i, i < 31 ? ":" : "");
    xo_xapi_conn_t *conn = connect_to(s, NULL, colon_pin, false, 0);

    assert_login_ok(conn);
    assert_login_ok(conn);
    assert_int_equal(atomic_load(&s->accepts), 1);
    assert_int_equal(atomic_load(&s->requests), 2);
    xo_xapi_conn_free(conn);
    server_stop(s);
}

static void test_wrong_pin(void **state)
{
    (void)state;
    server_t *s = server_start(true, SRV_NORMAL);
    const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
    xo_xapi_conn_t *conn = connect_to(s, NULL, zero, false, 0);
    json_object *value = NULL;

    assert_int_equal(login(conn, &value), XO_ERR_TLS);
    assert_null(value);
    assert_non_null(strstr(errbuf, zero));
    assert_non_null(strstr(errbuf, g_pin));
    assert_int_equal(atomic_load(&s->requests), 0);
    xo_xapi_conn_free(conn);
    server_stop(s);
}

static void test_default_verification_refuses_self_signed(void **state)
{
    (void)state;
    server_t *s = server_start(true, SRV_NORMAL);
    xo_xapi_conn_t *conn = connect_to(s, NULL, NULL, false, 0);
    json_object *value = NULL;

    assert_int_equal(login(conn, &value), XO_ERR_TLS);
    assert_int_equal(atomic_load(&s->requests), 0);
    xo_xapi_conn_free(conn);
    server_stop(s);
}

static void test_ca_file_and_insecure(void **state)
{
    (void)state;
    server_t *s = server_start(true, SRV_NORMAL);
    xo_xapi_conn_t *conn = connect_to(s, g_cert_path, NULL, false, 0);
    char hex[65];

    assert_login_ok(conn);
    xo_xapi_conn_free(conn);
    conn = connect_to(s, NULL, NULL, true, 0);
    assert_login_ok(conn);
    xo_xapi_conn_free(conn);
    server_stop(s);

    assert_int_equal(xo_tls_cert_fingerprint_file(g_cert_path, hex, errbuf, sizeof errbuf), XO_OK);
    assert_string_equal(hex, g_pin);
    assert_int_equal(xo_tls_cert_fingerprint_file("/nonexistent", hex, errbuf, sizeof errbuf),
                     XO_ERR_IO);
}

static void test_connect_refused(void **state)
{
    (void)state;
    int port = 0, fd = listen_loopback(&port);
    char url[64];
    xo_xapi_conn_t *conn = NULL;
    json_object *value = NULL;

    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    xo_xapi_opts_t o = {.url = url, .connect_timeout_ms = 2000, .timeout_ms = 2000};
    assert_int_equal(xo_xapi_conn_new(&o, &conn, errbuf, sizeof errbuf), XO_OK);
    assert_int_equal(login(conn, &value), XO_ERR_CONNECT);
    assert_true(errbuf[0] != '\0');
    xo_xapi_conn_free(conn);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The e2e harness's time scale (tests/README.md): XO_TIMEOUT_SCALE, or 3 under sanitizers,
 * where a loaded machine can hold a process back for seconds. */
static double time_scale(void)
{
    const char *scale = getenv("XO_TIMEOUT_SCALE"), *san = getenv("XO_SANITIZE");

    if (scale && atof(scale) > 0)
        return atof(scale);
    return san && strcmp(san, "1") == 0 ? 3.0 : 1.0;
}

static void test_timeout(void **state)
{
    (void)state;
    server_t *s = server_start(true, SRV_SILENT);
    xo_xapi_conn_t *conn = connect_to(s, NULL, g_pin, false, 500);
    json_object *value = NULL;
    double t0 = now_s();

    assert_int_equal(login(conn, &value), XO_ERR_TIMEOUT);
    double took = now_s() - t0;
    /* waited for the timeout (functional), and was cut by it: the upper bound is a speed */
    assert_true(took >= 0.4 && took < 3.0 * time_scale());
    xo_xapi_conn_free(conn);
    server_stop(s);
}

static void test_xapi_failure_and_bad_answers(void **state)
{
    (void)state;
    server_t *s = server_start(false, SRV_NORMAL);
    xo_xapi_conn_t *conn = connect_to(s, NULL, NULL, false, 0);
    xo_xapi_error_t xerr = {0};
    json_object *value = NULL;

    assert_int_equal(xo_xapi_call(conn, "VM.start", NULL, 0, &value, &xerr, errbuf, sizeof errbuf),
                     XO_ERR_XAPI);
    assert_null(value);
    assert_string_equal(xerr.code, "VM_BAD_POWER_STATE");
    assert_int_equal(json_object_array_length(xerr.params), 3);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(xerr.params, 2)),
                        "running");
    assert_non_null(strstr(errbuf, "VM_BAD_POWER_STATE"));
    xo_xapi_error_clear(&xerr);

    assert_int_equal(xo_xapi_call(conn, "fault", NULL, 0, &value, &xerr, errbuf, sizeof errbuf),
                     XO_ERR_XAPI);
    assert_string_equal(xerr.code, "XMLRPC_FAULT");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(xerr.params, 1)), "boom");
    xo_xapi_error_clear(&xerr);

    assert_int_equal(xo_xapi_call(conn, "garbage", NULL, 0, &value, &xerr, errbuf, sizeof errbuf),
                     XO_ERR_PARSE);
    assert_int_equal(xo_xapi_call(conn, "unknown", NULL, 0, &value, &xerr, errbuf, sizeof errbuf),
                     XO_ERR_HTTP);
    assert_non_null(strstr(errbuf, "500"));
    /* The connection still works after all of that. */
    assert_login_ok(conn);
    xo_xapi_conn_free(conn);
    server_stop(s);
}

static xo_err_t count_event(json_object *elem, void *opaque)
{
    (*(int *)opaque)++;
    json_object_put(elem);
    return XO_OK;
}

static void test_plain_http_stream_and_set_url(void **state)
{
    (void)state;
    static const char *const path[] = {"Value", "events", NULL};
    server_t *a = server_start(false, SRV_NORMAL), *b = server_start(false, SRV_NORMAL);
    xo_xapi_conn_t *conn = connect_to(a, NULL, NULL, false, 0);
    json_object *value = NULL, *params = json_tokener_parse("[\"OpaqueRef:s\",[\"*\"],\"\",60.1]");
    int events = 0;
    char url[64];

    assert_int_equal(xo_xapi_call_stream(conn, "event.from", params, 0, path, count_event, &events,
                                         &value, NULL, errbuf, sizeof errbuf),
                     XO_OK);
    assert_int_equal(events, 3);
    assert_int_equal(json_object_array_length(json_object_object_get(value, "events")), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(value, "token")), "42,7");
    json_object_put(value);

    snprintf(url, sizeof url, "http://127.0.0.1:%d", b->port);
    assert_int_equal(xo_xapi_conn_set_url(conn, url, errbuf, sizeof errbuf), XO_OK);
    assert_string_equal(xo_xapi_conn_url(conn), url);
    assert_login_ok(conn);
    assert_int_equal(atomic_load(&b->requests), 1);
    assert_int_equal(xo_xapi_conn_set_url(conn, "ftp://x", errbuf, sizeof errbuf), XO_ERR_INVALID);
    assert_string_equal(xo_xapi_conn_url(conn), url);

    json_object_put(params);
    xo_xapi_conn_free(conn);
    server_stop(a);
    server_stop(b);
}

static void test_bad_options(void **state)
{
    (void)state;
    xo_xapi_conn_t *conn = NULL;
    xo_xapi_opts_t o = {.url = "https://127.0.0.1", .pin_sha256 = "abcd"};

    assert_int_equal(xo_xapi_conn_new(&o, &conn, errbuf, sizeof errbuf), XO_ERR_INVALID);
    assert_null(conn);
    o.pin_sha256 = g_pin;
    o.insecure = true;
    assert_int_equal(xo_xapi_conn_new(&o, &conn, errbuf, sizeof errbuf), XO_ERR_INVALID);
    o = (xo_xapi_opts_t){.url = "127.0.0.1:443"};
    assert_int_equal(xo_xapi_conn_new(&o, &conn, errbuf, sizeof errbuf), XO_ERR_INVALID);
    o.url = "https://";
    assert_int_equal(xo_xapi_conn_new(&o, &conn, errbuf, sizeof errbuf), XO_ERR_INVALID);
    assert_null(conn);
}

int main(void)
{
    /* As in the daemons: a TLS peer that closes first makes SSL_write raise SIGPIPE (the
     * test server's writes and libcurl's, which CURLOPT_NOSIGNAL leaves to the process). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pin_and_keepalive),
        cmocka_unit_test(test_wrong_pin),
        cmocka_unit_test(test_default_verification_refuses_self_signed),
        cmocka_unit_test(test_ca_file_and_insecure),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_xapi_failure_and_bad_answers),
        cmocka_unit_test(test_plain_http_stream_and_set_url),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
