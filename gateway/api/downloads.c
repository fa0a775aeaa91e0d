/*
 * downloads.c - the pending downloads of vm.export (downloads.h): a small fixed table.
 * Tokens are compared in constant time and wiped when taken or expired. Must not log them.
 */
#include "api/downloads.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool used;
    char token[GW_TOKEN_LEN + 1];
    gw_download_t dl;
} slot_t;

struct gw_downloads {
    slot_t slots[GW_DOWNLOADS_PENDING];
};

gw_downloads_t *gw_downloads_new(void)
{
    return calloc(1, sizeof(gw_downloads_t));
}

void gw_downloads_free(gw_downloads_t *d)
{
    if (d)
        OPENSSL_cleanse(d, sizeof(*d));
    free(d);
}

static void forget(slot_t *s)
{
    OPENSSL_cleanse(s, sizeof(*s));
}

bool gw_downloads_add(gw_downloads_t *d, const gw_download_t *dl, int64_t now_ms,
                      char token[GW_TOKEN_LEN + 1])
{
    slot_t *free_slot = NULL;

    for (size_t i = 0; i < GW_DOWNLOADS_PENDING; i++) {
        slot_t *s = &d->slots[i];
        if (s->used && s->dl.expires_ms < now_ms)
            forget(s);
        if (!s->used && !free_slot)
            free_slot = s;
    }
    if (!free_slot || !gw_random_token(free_slot->token))
        return false;
    free_slot->used = true;
    free_slot->dl = *dl;
    free_slot->dl.expires_ms = now_ms + GW_DOWNLOAD_TTL_MS;
    memcpy(token, free_slot->token, GW_TOKEN_LEN + 1);
    return true;
}

bool gw_downloads_take(gw_downloads_t *d, const char *token, int64_t now_ms, gw_download_t *out)
{
    if (strlen(token) != GW_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < GW_DOWNLOADS_PENDING; i++) {
        slot_t *s = &d->slots[i];
        if (!s->used || CRYPTO_memcmp(s->token, token, GW_TOKEN_LEN) != 0)
            continue;
        bool live = s->dl.expires_ms >= now_ms;
        if (live)
            *out = s->dl;
        forget(s);
        return live;
    }
    return false;
}
