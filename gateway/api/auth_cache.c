/*
 * auth_cache.c - the verified-credentials cache (see auth_cache.h). Must never store a
 * password, never insert a failure, and never grow: the table is allocated once.
 * Comparisons of keys are constant-time.
 */
#include "api/auth_cache.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define WAYS     4  /* entries per set: a hot credential is not evicted by one collision */
#define KEY_LEN  32 /* HMAC-SHA256 */
#define SALT_LEN 32

typedef struct {
    unsigned char key[KEY_LEN];
    const void *owner;
    uint64_t stamp;
    int64_t expires_ms;
    bool used;
} entry_t;

struct gw_auth_cache {
    unsigned char salt[SALT_LEN]; /* the per-process HMAC key */
    EVP_MAC *mac;
    entry_t *entries;
    size_t nsets;
    int64_t ttl_ms;
};

xo_err_t gw_auth_cache_new(size_t entries, int64_t ttl_ms, gw_auth_cache_t **out)
{
    gw_auth_cache_t *c = calloc(1, sizeof(*c));
    xo_err_t err = XO_ERR_NOMEM;

    if (!c)
        return XO_ERR_NOMEM;
    c->ttl_ms = ttl_ms > 0 ? ttl_ms : 0;
    c->nsets = c->ttl_ms ? (entries + WAYS - 1) / WAYS : 0;
    if (c->nsets) {
        c->entries = calloc(c->nsets * WAYS, sizeof(*c->entries));
        if (!c->entries)
            goto fail;
        err = XO_ERR_CRYPTO;
        c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (!c->mac || RAND_bytes(c->salt, sizeof(c->salt)) != 1)
            goto fail;
    }
    *out = c;
    return XO_OK;
fail:
    gw_auth_cache_free(c);
    return err;
}

void gw_auth_cache_free(gw_auth_cache_t *c)
{
    if (!c)
        return;
    if (c->entries) {
        OPENSSL_cleanse(c->entries, c->nsets * WAYS * sizeof(*c->entries));
        free(c->entries);
    }
    EVP_MAC_free(c->mac);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

/* HMAC-SHA256(salt, email NUL password): the NUL keeps ("a", "bc") and ("ab", "c") apart
 * (an email never holds a NUL). */
static bool cache_key(gw_auth_cache_t *c, const char *email, const char *password,
                      unsigned char out[KEY_LEN])
{
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(c->mac);
    size_t len = 0;
    bool ok;

    ok = ctx && EVP_MAC_init(ctx, c->salt, sizeof(c->salt), params) == 1 &&
         EVP_MAC_update(ctx, (const unsigned char *)email, strlen(email) + 1) == 1 &&
         EVP_MAC_update(ctx, (const unsigned char *)password, strlen(password)) == 1 &&
         EVP_MAC_final(ctx, out, &len, KEY_LEN) == 1 && len == KEY_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

/* The set of a key: its first bytes (uniform, being an HMAC output). */
static entry_t *set_of(gw_auth_cache_t *c, const unsigned char key[KEY_LEN])
{
    uint64_t h;

    memcpy(&h, key, sizeof(h));
    return &c->entries[(h % c->nsets) * WAYS];
}

bool gw_auth_cache_lookup(gw_auth_cache_t *c, const char *email, const char *password,
                          int64_t now_ms, const void **owner, uint64_t *stamp)
{
    unsigned char key[KEY_LEN];
    entry_t *set;
    bool hit = false;

    if (!c || !c->nsets || !cache_key(c, email, password, key))
        return false;
    set = set_of(c, key);
    for (int i = 0; i < WAYS && !hit; i++) {
        entry_t *e = &set[i];
        if (!e->used || e->expires_ms <= now_ms || CRYPTO_memcmp(e->key, key, KEY_LEN) != 0)
            continue;
        *owner = e->owner;
        *stamp = e->stamp;
        hit = true;
    }
    OPENSSL_cleanse(key, sizeof(key));
    return hit;
}

void gw_auth_cache_insert(gw_auth_cache_t *c, const char *email, const char *password,
                          const void *owner, uint64_t stamp, int64_t now_ms)
{
    unsigned char key[KEY_LEN];
    entry_t *set, *victim = NULL;

    if (!c || !c->nsets || !cache_key(c, email, password, key))
        return;
    set = set_of(c, key);
    for (int i = 0; i < WAYS; i++) {
        entry_t *e = &set[i];
        if (e->used && CRYPTO_memcmp(e->key, key, KEY_LEN) == 0) {
            victim = e; /* the same credential verified again: renew it */
            break;
        }
        /* else the first free or expired way, or the one that expires first */
        if (!victim ||
            (victim->used && victim->expires_ms > now_ms &&
             (!e->used || e->expires_ms <= now_ms || e->expires_ms < victim->expires_ms)))
            victim = e;
    }
    memcpy(victim->key, key, KEY_LEN);
    victim->owner = owner;
    victim->stamp = stamp;
    victim->expires_ms = now_ms + c->ttl_ms;
    victim->used = true;
    OPENSSL_cleanse(key, sizeof(key));
}

void gw_auth_cache_clear(gw_auth_cache_t *c)
{
    if (c && c->entries)
        OPENSSL_cleanse(c->entries, c->nsets * WAYS * sizeof(*c->entries));
}

size_t gw_auth_cache_count(const gw_auth_cache_t *c, int64_t now_ms)
{
    size_t n = 0;

    for (size_t i = 0; c && i < c->nsets * WAYS; i++)
        n += c->entries[i].used && c->entries[i].expires_ms > now_ms;
    return n;
}

size_t gw_auth_cache_capacity(const gw_auth_cache_t *c)
{
    return c ? c->nsets * WAYS : 0;
}
