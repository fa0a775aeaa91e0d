/* Unit tests of agent/tls_pipe.c against an OpenSSL server in memory (a self-signed
 * certificate for IP 127.0.0.1 made here): a pinned certificate accepted and another
 * refused, a CA file with the peer's address checked (the right address accepted, another
 * refused), insecure mode, and plaintext both ways after the handshake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_pipe.h"

/* 64 hex digits: a well-formed pin of no certificate here */
#define OTHER_PIN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

typedef struct {
    EVP_PKEY *key;
    X509 *cert;
    char pin[65];
    char ca_path[64];
    SSL_CTX *server;
} fx_t;

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_get_subject_name(x);
    X509V3_CTX v3;
    X509_EXTENSION *san;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    X509_sign(x, key, EVP_sha256());
    return x;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    unsigned char md[32];
    unsigned int n = 0;
    FILE *fp;
    int fd;

    f->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    f->cert = self_signed(f->key);
    X509_digest(f->cert, EVP_sha256(), md, &n);
    for (unsigned i = 0; i < 32; i++)
        snprintf(f->pin + 2 * i, 3, "%02x", md[i]);
    snprintf(f->ca_path, sizeof(f->ca_path), "/tmp/xo-tls-pipe-XXXXXX");
    fd = mkstemp(f->ca_path);
    fp = fdopen(fd, "w");
    PEM_write_X509(fp, f->cert);
    fclose(fp);
    f->server = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(f->server, f->cert);
    SSL_CTX_use_PrivateKey(f->server, f->key);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    unlink(f->ca_path);
    SSL_CTX_free(f->server);
    X509_free(f->cert);
    EVP_PKEY_free(f->key);
    free(f);
    return 0;
}

typedef struct {
    char got[256];
    size_t n;
} sink_t;

static bool sink(void *opaque, uint8_t *data, size_t len)
{
    sink_t *s = opaque;
    memcpy(s->got + s->n, data, len);
    s->n += len;
    return true;
}

/* Run the handshake between the pipe and a server session; true when both finished. */
static bool handshake(fx_t *f, tls_pipe_t *p, SSL **server_out, char *why, size_t why_size)
{
    SSL *srv = SSL_new(f->server);
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    uint8_t buf[16384];
    sink_t s = {0};

    SSL_set_bio(srv, in, out);
    SSL_set_accept_state(srv);
    for (int round = 0; round < 20; round++) {
        size_t n = tls_pipe_out(p, buf, sizeof(buf));
        int m;
        if (n)
            BIO_write(in, buf, (int)n);
        SSL_do_handshake(srv);
        m = BIO_read(out, buf, sizeof(buf));
        if (m > 0 && tls_pipe_rx(p, buf, (size_t)m, sink, &s, why, why_size) < 0)
            break;
        if (tls_pipe_ready(p) && SSL_is_init_finished(srv)) {
            *server_out = srv;
            return true;
        }
    }
    SSL_free(srv);
    return false;
}

static void test_pin(void **state)
{
    fx_t *f = *state;
    tls_trust_t t = {NULL, f->pin, false};
    SSL_CTX *ctx = NULL;
    SSL *srv = NULL;
    tls_pipe_t *p;
    char why[200] = "";

    assert_int_equal(tls_ctx_new(&t, &ctx, why, sizeof(why)), XO_OK);
    p = tls_pipe_new(ctx, "10.9.9.9", f->pin); /* a pin does not care about the address */
    assert_true(handshake(f, p, &srv, why, sizeof(why)));
    { /* plaintext both ways */
        const uint8_t hello[] = "RFB 003.008\n";
        uint8_t buf[256];
        sink_t s = {0};
        int n;
        assert_int_equal(tls_pipe_tx(p, hello, 12), 0);
        n = (int)tls_pipe_out(p, buf, sizeof(buf));
        BIO_write(SSL_get_rbio(srv), buf, n);
        assert_int_equal(SSL_read(srv, buf, sizeof(buf)), 12);
        assert_memory_equal(buf, hello, 12);
        SSL_write(srv, "ok", 2);
        n = BIO_read(SSL_get_wbio(srv), buf, sizeof(buf));
        assert_int_equal(tls_pipe_rx(p, buf, (size_t)n, sink, &s, why, sizeof(why)), 0);
        assert_int_equal(s.n, 2);
        assert_memory_equal(s.got, "ok", 2);
    }
    SSL_free(srv);
    tls_pipe_free(p);
    /* another certificate's pin */
    p = tls_pipe_new(ctx, "127.0.0.1", OTHER_PIN);
    assert_false(handshake(f, p, &srv, why, sizeof(why)));
    assert_non_null(strstr(why, "not trusted"));
    tls_pipe_free(p);
    SSL_CTX_free(ctx);
}

static void test_ca_and_address(void **state)
{
    fx_t *f = *state;
    tls_trust_t t = {f->ca_path, NULL, false}, sys = {NULL, NULL, false};
    SSL_CTX *ctx = NULL, *sys_ctx = NULL;
    SSL *srv = NULL;
    tls_pipe_t *p;
    char why[200] = "";

    assert_int_equal(tls_ctx_new(&t, &ctx, why, sizeof(why)), XO_OK);
    p = tls_pipe_new(ctx, "127.0.0.1", NULL);
    assert_true(handshake(f, p, &srv, why, sizeof(why)));
    SSL_free(srv);
    tls_pipe_free(p);
    p = tls_pipe_new(ctx, "127.0.0.2", NULL); /* the certificate is not for this address */
    assert_false(handshake(f, p, &srv, why, sizeof(why)));
    tls_pipe_free(p);
    /* the system's CAs do not know a self-signed certificate */
    assert_int_equal(tls_ctx_new(&sys, &sys_ctx, why, sizeof(why)), XO_OK);
    p = tls_pipe_new(sys_ctx, "127.0.0.1", NULL);
    assert_false(handshake(f, p, &srv, why, sizeof(why)));
    tls_pipe_free(p);
    SSL_CTX_free(sys_ctx);
    SSL_CTX_free(ctx);
}

static void test_insecure_and_bad_settings(void **state)
{
    fx_t *f = *state;
    tls_trust_t t = {NULL, NULL, true}, bad_pin = {NULL, "xyz", false};
    tls_trust_t bad_ca = {"/nonexistent/ca.pem", NULL, false};
    SSL_CTX *ctx = NULL;
    SSL *srv = NULL;
    tls_pipe_t *p;
    char why[200] = "";

    assert_int_equal(tls_ctx_new(&t, &ctx, why, sizeof(why)), XO_OK);
    p = tls_pipe_new(ctx, "127.0.0.2", NULL);
    assert_true(handshake(f, p, &srv, why, sizeof(why)));
    SSL_free(srv);
    tls_pipe_free(p);
    SSL_CTX_free(ctx);
    ctx = NULL;
    assert_int_equal(tls_ctx_new(&bad_pin, &ctx, why, sizeof(why)), XO_ERR_TLS);
    assert_int_equal(tls_ctx_new(&bad_ca, &ctx, why, sizeof(why)), XO_ERR_TLS);
    assert_null(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_and_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_and_bad_settings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
