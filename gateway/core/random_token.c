/*
 * random_token.c - unguessable tokens (random_token.h). Must not log them.
 */
#include "core/random_token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stddef.h>

bool gw_random_token(char out[GW_TOKEN_LEN + 1])
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33] = {0};
    size_t o = 0;

    if (RAND_bytes(raw, 32) != 1)
        return false;
    for (size_t i = 0; i < 33; i += 3) { /* 11 groups of 3 bytes: 44 characters, 43 kept */
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 3; k >= 0 && o < GW_TOKEN_LEN; k--)
            out[o++] = b64url[(v >> (6 * k)) & 63];
    }
    out[o] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return true;
}
