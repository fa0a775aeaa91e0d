/*
 * tls_pipe.c - TLS client sessions over memory BIOs for the console relays (tls_pipe.h):
 * contexts per side with the agent's certificate rules, the handshake and records driven
 * by the bytes the event loop hands over. Must not do I/O or log.
 */
#include "tls_pipe.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAIN_CHUNK 16384 /* one TLS record's worth of plaintext per SSL_read */

struct tls_pipe {
    SSL *ssl;
    BIO *in, *out; /* ciphertext from / to the socket (owned by ssl) */
    unsigned char pin[32];
    bool has_pin;
    uint8_t plain[PLAIN_CHUNK];
};

static int pipe_index = -1;

/* "ab:cd:..." or "abcd..." (64 hex digits) -> 32 bytes. */
static bool parse_pin(const char *s, unsigned char out[32])
{
    size_t n = 0;

    for (; s && *s; s++) {
        int v;
        if (*s == ':')
            continue;
        if (n >= 64)
            return false;
        if (*s >= '0' && *s <= '9')
            v = *s - '0';
        else if ((*s | 32) >= 'a' && (*s | 32) <= 'f')
            v = (*s | 32) - 'a' + 10;
        else
            return false;
        out[n / 2] = n % 2 ? (unsigned char)(out[n / 2] | v) : (unsigned char)(v << 4);
        n++;
    }
    return n == 64;
}

/* With a pin, the leaf certificate's SHA-256 decides (a self-signed host is fine). */
static int verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_pipe_t *p = ssl && pipe_index >= 0 ? SSL_get_ex_data(ssl, pipe_index) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!p || !p->has_pin)
        return preverify_ok;
    if (!leaf || X509_digest(leaf, EVP_sha256(), md, &n) != 1 || n != 32 ||
        CRYPTO_memcmp(md, p->pin, 32) != 0) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
}

xo_err_t tls_ctx_new(const tls_trust_t *t, SSL_CTX **out, char *errstr, size_t errstr_size)
{
    unsigned char pin[32];
    SSL_CTX *ctx;

    *out = NULL;
    if (t->pin && *t->pin && !parse_pin(t->pin, pin))
        return xo_seterr(errstr, errstr_size, XO_ERR_TLS,
                         "a certificate fingerprint is 64 hex digits (SHA-256 of the DER)");
    if (pipe_index < 0)
        pipe_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return XO_ERR_NOMEM;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (t->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
        if (t->ca_file && *t->ca_file ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1
                                      : SSL_CTX_set_default_verify_paths(ctx) != 1) {
            SSL_CTX_free(ctx);
            return xo_seterr(errstr, errstr_size, XO_ERR_TLS, "cannot load the CA file %s",
                             t->ca_file ? t->ca_file : "(system)");
        }
    }
    *out = ctx;
    return XO_OK;
}

tls_pipe_t *tls_pipe_new(SSL_CTX *ctx, const char *peer, const char *pin)
{
    tls_pipe_t *p = calloc(1, sizeof(*p));
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, peer, addr) == 1 || inet_pton(AF_INET6, peer, addr) == 1;

    if (!p)
        return NULL;
    p->ssl = SSL_new(ctx);
    p->in = BIO_new(BIO_s_mem());
    p->out = BIO_new(BIO_s_mem());
    if (!p->ssl || !p->in || !p->out) {
        BIO_free(p->in);
        BIO_free(p->out);
        SSL_free(p->ssl);
        free(p);
        return NULL;
    }
    SSL_set_bio(p->ssl, p->in, p->out);
    SSL_set_ex_data(p->ssl, pipe_index, p);
    p->has_pin = pin && *pin && parse_pin(pin, p->pin);
    if (!is_ip)
        SSL_set_tlsext_host_name(p->ssl, peer);
    if (!p->has_pin) { /* a CA vouches for a name or an address: check it is this peer's */
        X509_VERIFY_PARAM *vp = SSL_get0_param(p->ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(vp, peer);
        else
            X509_VERIFY_PARAM_set1_host(vp, peer, 0);
    }
    SSL_set_connect_state(p->ssl);
    SSL_do_handshake(p->ssl); /* the ClientHello, into the out BIO */
    return p;
}

void tls_pipe_free(tls_pipe_t *p)
{
    if (!p)
        return;
    SSL_free(p->ssl); /* frees both BIOs */
    OPENSSL_cleanse(p->plain, sizeof(p->plain));
    free(p);
}

bool tls_pipe_ready(const tls_pipe_t *p)
{
    return SSL_is_init_finished(p->ssl);
}

static int tls_fail(tls_pipe_t *p, char *errstr, size_t errstr_size)
{
    long v = SSL_get_verify_result(p->ssl);
    unsigned long e = ERR_get_error();
    char buf[160];

    if (v != X509_V_OK)
        snprintf(errstr, errstr_size, "TLS: certificate not trusted (%s)",
                 X509_verify_cert_error_string(v));
    else {
        ERR_error_string_n(e, buf, sizeof(buf));
        snprintf(errstr, errstr_size, "TLS: %s", e ? buf : "handshake failed");
    }
    ERR_clear_error();
    return -1;
}

int tls_pipe_rx(tls_pipe_t *p, const uint8_t *in, size_t len, tls_plain_fn fn, void *opaque,
                char *errstr, size_t errstr_size)
{
    int n, err;

    if (len && BIO_write(p->in, in, (int)len) != (int)len)
        return tls_fail(p, errstr, errstr_size);
    if (!SSL_is_init_finished(p->ssl)) {
        n = SSL_do_handshake(p->ssl);
        if (n <= 0) {
            err = SSL_get_error(p->ssl, n);
            return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE
                       ? 0
                       : tls_fail(p, errstr, errstr_size);
        }
    }
    for (;;) {
        n = SSL_read(p->ssl, p->plain, sizeof(p->plain));
        if (n > 0) {
            if (!fn(opaque, p->plain, (size_t)n))
                return 0;
            continue;
        }
        err = SSL_get_error(p->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            return 0;
        if (err == SSL_ERROR_ZERO_RETURN)
            return snprintf(errstr, errstr_size, "TLS: the peer closed"), -1;
        return tls_fail(p, errstr, errstr_size);
    }
}

int tls_pipe_tx(tls_pipe_t *p, const uint8_t *in, size_t len)
{
    return len && SSL_write(p->ssl, in, (int)len) != (int)len ? -1 : 0;
}

size_t tls_pipe_out(tls_pipe_t *p, uint8_t *out, size_t cap)
{
    int n = BIO_pending(p->out) > 0 ? BIO_read(p->out, out, (int)cap) : 0;
    return n > 0 ? (size_t)n : 0;
}
