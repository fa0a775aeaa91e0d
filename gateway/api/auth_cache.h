/*
 * auth_cache.h - a short-lived memory of credentials that verified, so that HTTP Basic
 * (every REST request carries the password) costs one PBKDF2 per credential and TTL, not
 * one per request. Entries are keyed by HMAC-SHA256(per-process random key, email NUL
 * password): neither the password nor a hash usable outside this process is kept. Only
 * successes are ever inserted; the owner (users.c) re-checks each hit against the
 * account's current credential stamp, so a password change or a removed account never
 * hits. Bounded: a fixed table, 4-way set-associative, the oldest entry of a set replaced.
 * Not thread-safe: used from the service thread only.
 */
#ifndef GW_AUTH_CACHE_H
#define GW_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

#define GW_AUTH_CACHE_ENTRIES 1024  /**< default size (users.cache_entries) */
#define GW_AUTH_CACHE_TTL_MS  60000 /**< default lifetime of an entry (users.cache_ttl) */

typedef struct gw_auth_cache gw_auth_cache_t;

/**
 * @brief A cache of @p entries credentials (rounded up to a multiple of 4), each kept
 *        @p ttl_ms from its verification. @p entries or @p ttl_ms 0: a cache that never
 *        hits (every request hashes).
 * @returns XO_OK, XO_ERR_NOMEM, XO_ERR_CRYPTO (no randomness for the key).
 */
xo_err_t gw_auth_cache_new(size_t entries, int64_t ttl_ms, gw_auth_cache_t **out);

/** @brief Free the cache (its key and entries are wiped first). NULL is a no-op. */
void gw_auth_cache_free(gw_auth_cache_t *c);

/**
 * @brief Find a live entry for @p email / @p password at monotonic @p now_ms.
 * @param owner receives the owner given to gw_auth_cache_insert (borrowed)
 * @param stamp receives the stamp given to gw_auth_cache_insert
 * @returns true on a hit; the caller must still check that owner and stamp are current.
 */
bool gw_auth_cache_lookup(gw_auth_cache_t *c, const char *email, const char *password,
                          int64_t now_ms, const void **owner, uint64_t *stamp);

/**
 * @brief Remember that @p email / @p password verified as @p owner (its credential
 *        @p stamp) at @p now_ms. Call only after a successful verification.
 */
void gw_auth_cache_insert(gw_auth_cache_t *c, const char *email, const char *password,
                          const void *owner, uint64_t stamp, int64_t now_ms);

/** @brief Forget every entry (the users file changed). */
void gw_auth_cache_clear(gw_auth_cache_t *c);

/** @brief Entries live at @p now_ms (tests, /metrics). */
size_t gw_auth_cache_count(const gw_auth_cache_t *c, int64_t now_ms);

/** @brief Capacity in entries (0 when disabled). */
size_t gw_auth_cache_capacity(const gw_auth_cache_t *c);

#endif
