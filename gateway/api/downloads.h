/*
 * downloads.h - vm.export's pending downloads (docs/streaming.md): what the method
 * resolved (the VM, its pool, the user, the file name, compress) kept under a single-use
 * token until the client GETs the URL the method answered, or the token expires
 * (GW_DOWNLOAD_TTL_MS). The URL is the capability, as xo-server's registered HTTP requests:
 * whoever holds it may download that VM once. Bounded (GW_DOWNLOADS_PENDING). Service
 * thread only.
 */
#ifndef GW_DOWNLOADS_H
#define GW_DOWNLOADS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/random_token.h"

#define GW_DOWNLOADS_PENDING 256   /**< URLs handed out and not used yet, at most */
#define GW_DOWNLOAD_TTL_MS   60000 /**< an unused URL expires after this */
#define GW_DOWNLOADS_RUNNING 64    /**< downloads under way at once, at most (503 beyond) */

/** One pending download. Strings are copies. */
typedef struct {
    char vm[64];       /**< the XO id (a uuid) */
    char uuid[64];     /**< what the agent resolves */
    char pool[64];     /**< the pool whose agent exports it */
    char name[200];    /**< the file name offered ("<date> - <name_label>.xva") */
    char compress[32]; /**< vm.export's compress as JSON text, "" when absent */
    char user_id[40];  /**< who asked (the command's user) */
    char email[256];
    int64_t expires_ms; /**< monotonic */
} gw_download_t;

typedef struct gw_downloads gw_downloads_t;

/** @brief An empty registry. @returns NULL on NOMEM. */
gw_downloads_t *gw_downloads_new(void);
void gw_downloads_free(gw_downloads_t *d);

/**
 * @brief Keep @p dl (copied; expires_ms set from @p now_ms) under a fresh token.
 * @returns true with the token in @p token; false when full (expired ones are dropped first)
 *          or randomness failed.
 */
bool gw_downloads_add(gw_downloads_t *d, const gw_download_t *dl, int64_t now_ms,
                      char token[GW_TOKEN_LEN + 1]);

/**
 * @brief Take (and so forget) the download of @p token if it is known and live.
 * @returns true with it in @p out.
 */
bool gw_downloads_take(gw_downloads_t *d, const char *token, int64_t now_ms, gw_download_t *out);

#endif
