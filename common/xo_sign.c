/*
 * xo_sign.c - Ed25519 keys, signatures and the keyring, on OpenSSL 3 EVP.
 * Must not log key material; errors carry file names and OpenSSL's reason only.
 */
#include "xo_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct xo_key {
    EVP_PKEY *pkey;
    char id[XO_KEY_ID_LEN + 1];
};

struct xo_keyring {
    xo_key_t **keys;
    size_t n;
};

static xo_err_t crypto_err(char *errstr, size_t errstr_size, const char *what)
{
    char reason[256];

    ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
    return xo_seterr(errstr, errstr_size, XO_ERR_CRYPTO, "%s: %s", what, reason);
}

/* Wrap an EVP_PKEY (taken) and compute its id. */
static xo_err_t key_wrap(EVP_PKEY *pkey, xo_key_t **out)
{
    unsigned char raw[32], digest[SHA256_DIGEST_LENGTH];
    size_t raw_len = sizeof(raw);
    xo_key_t *key;

    if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != sizeof(raw)) {
        EVP_PKEY_free(pkey);
        return XO_ERR_CRYPTO;
    }
    key = calloc(1, sizeof(*key));
    if (!key) {
        EVP_PKEY_free(pkey);
        return XO_ERR_NOMEM;
    }
    SHA256(raw, raw_len, digest);
    for (int i = 0; i < XO_KEY_ID_LEN / 2; i++)
        snprintf(key->id + 2 * i, 3, "%02x", digest[i]);
    key->pkey = pkey;
    *out = key;
    return XO_OK;
}

xo_err_t xo_key_generate(xo_key_t **out, char *errstr, size_t errstr_size)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    if (!pkey)
        return crypto_err(errstr, errstr_size, "key generation");
    return key_wrap(pkey, out);
}

static xo_err_t write_pem(const char *path, int mode, const xo_key_t *key, int priv, char *errstr,
                          size_t errstr_size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    FILE *fp;
    int ok;

    if (fd < 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: %s", path, strerror(errno));
    fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: %s", path, strerror(errno));
    }
    ok = priv ? PEM_write_PrivateKey(fp, key->pkey, NULL, NULL, 0, NULL, NULL)
              : PEM_write_PUBKEY(fp, key->pkey);
    if (fclose(fp) != 0 || !ok)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: write failed", path);
    return XO_OK;
}

xo_err_t xo_key_write_pem(const xo_key_t *key, const char *private_path, const char *public_path,
                          char *errstr, size_t errstr_size)
{
    xo_err_t err = write_pem(private_path, 0600, key, 1, errstr, errstr_size);

    if (err == XO_OK)
        err = write_pem(public_path, 0644, key, 0, errstr, errstr_size);
    return err;
}

static xo_err_t load_pem(const char *path, int priv, xo_key_t **out, char *errstr,
                         size_t errstr_size)
{
    FILE *fp = fopen(path, "r");
    EVP_PKEY *pkey;
    xo_err_t err;

    if (!fp)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: %s", path, strerror(errno));
    pkey = priv ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : PEM_read_PUBKEY(fp, NULL, NULL, NULL);
    fclose(fp);
    if (!pkey)
        return crypto_err(errstr, errstr_size, path);
    err = key_wrap(pkey, out);
    if (err == XO_ERR_CRYPTO)
        return xo_seterr(errstr, errstr_size, err, "%s: not an Ed25519 key", path);
    return err;
}

xo_err_t xo_key_load_private(const char *path, xo_key_t **out, char *errstr, size_t errstr_size)
{
    return load_pem(path, 1, out, errstr, errstr_size);
}

xo_err_t xo_key_load_public(const char *path, xo_key_t **out, char *errstr, size_t errstr_size)
{
    return load_pem(path, 0, out, errstr, errstr_size);
}

const char *xo_key_id(const xo_key_t *key)
{
    return key->id;
}

xo_key_t *xo_key_dup(const xo_key_t *key)
{
    xo_key_t *k = key ? malloc(sizeof(*k)) : NULL;

    if (!k)
        return NULL;
    if (EVP_PKEY_up_ref(key->pkey) != 1) {
        free(k);
        return NULL;
    }
    *k = *key; /* the same EVP_PKEY, one more reference */
    return k;
}

void xo_key_free(xo_key_t *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

xo_err_t xo_key_public_b64(const xo_key_t *key, char b64[XO_PUB_B64_LEN + 1])
{
    unsigned char raw[32];
    size_t raw_len = sizeof(raw);

    if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &raw_len) != 1 || raw_len != sizeof(raw))
        return XO_ERR_CRYPTO;
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)raw_len);
    return XO_OK;
}

xo_err_t xo_key_from_public_b64(const char *b64, size_t len, xo_key_t **out)
{
    unsigned char raw[33]; /* 44 base64 characters decode to 33 bytes, the last padding */
    EVP_PKEY *pkey;
    xo_err_t err;

    if (len != XO_PUB_B64_LEN || b64[43] != '=' ||
        EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len) != 33)
        return XO_ERR_BADSIG;
    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    if (!pkey) {
        ERR_clear_error();
        return XO_ERR_BADSIG;
    }
    err = key_wrap(pkey, out);
    return err == XO_ERR_CRYPTO ? XO_ERR_BADSIG : err;
}

xo_err_t xo_sign(const xo_key_t *key, const void *data, size_t len,
                 char sig_b64[XO_SIG_B64_LEN + 1])
{
    unsigned char sig[64];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    xo_err_t err = XO_ERR_CRYPTO;

    if (!ctx)
        return XO_ERR_NOMEM;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
        EVP_DigestSign(ctx, sig, &sig_len, data, len) == 1 && sig_len == sizeof(sig)) {
        EVP_EncodeBlock((unsigned char *)sig_b64, sig, (int)sig_len);
        err = XO_OK;
    }
    EVP_MD_CTX_free(ctx);
    return err;
}

xo_err_t xo_verify(const xo_key_t *key, const void *data, size_t len, const char *sig_b64,
                   size_t sig_len)
{
    unsigned char sig[XO_SIG_B64_LEN];
    EVP_MD_CTX *ctx;
    int ok = 0;

    if (sig_len != XO_SIG_B64_LEN)
        return XO_ERR_BADSIG;
    /* 88 base64 chars decode to 66 bytes of which the last two are padding. */
    if (EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, (int)sig_len) != 66 ||
        sig_b64[86] != '=' || sig_b64[87] != '=')
        return XO_ERR_BADSIG;
    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return XO_ERR_NOMEM;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1)
        ok = EVP_DigestVerify(ctx, sig, 64, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok ? XO_OK : XO_ERR_BADSIG;
}

xo_keyring_t *xo_keyring_new(void)
{
    return calloc(1, sizeof(xo_keyring_t));
}

xo_err_t xo_keyring_add_file(xo_keyring_t *ring, const char *path, char *errstr, size_t errstr_size)
{
    xo_key_t *key, **grown;
    xo_err_t err = xo_key_load_public(path, &key, errstr, errstr_size);

    if (err != XO_OK)
        return err;
    grown = realloc(ring->keys, (ring->n + 1) * sizeof(*grown));
    if (!grown) {
        xo_key_free(key);
        return XO_ERR_NOMEM;
    }
    ring->keys = grown;
    ring->keys[ring->n++] = key;
    return XO_OK;
}

size_t xo_keyring_count(const xo_keyring_t *ring)
{
    return ring->n;
}

xo_err_t xo_keyring_verify(const xo_keyring_t *ring, const char *key_id, size_t key_id_len,
                           const void *data, size_t len, const char *sig_b64, size_t sig_len)
{
    for (size_t i = 0; i < ring->n; i++) {
        if (key_id_len == XO_KEY_ID_LEN && memcmp(ring->keys[i]->id, key_id, key_id_len) == 0)
            return xo_verify(ring->keys[i], data, len, sig_b64, sig_len);
    }
    return XO_ERR_NOTFOUND;
}

void xo_keyring_free(xo_keyring_t *ring)
{
    if (!ring)
        return;
    for (size_t i = 0; i < ring->n; i++)
        xo_key_free(ring->keys[i]);
    free(ring->keys);
    free(ring);
}
