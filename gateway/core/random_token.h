/*
 * random_token.h - unguessable single-use tokens: 32 random bytes (OpenSSL's RAND) in
 * base64url, 43 characters. The consoles' relay tickets and vm.export's download URLs use
 * them. Any thread.
 */
#ifndef GW_RANDOM_TOKEN_H
#define GW_RANDOM_TOKEN_H

#include <stdbool.h>

#define GW_TOKEN_LEN 43 /**< base64url of 32 random bytes, no padding */

/** @brief A fresh token in @p out. @returns false when randomness failed (nothing written). */
bool gw_random_token(char out[GW_TOKEN_LEN + 1]);

#endif
