/*
 * session.h - one client connection's API session: who is signed in, until when, and
 * whether it counts among the notifier's subscribers. Owned by the connection (the
 * transport embeds it); read and changed by the JSON-RPC layer and the session.* methods.
 * Service thread only.
 */
#ifndef GW_SESSION_H
#define GW_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway.h"

/** One connection's session state (owned by the connection). */
typedef struct {
    const gw_user_t *user; /**< NULL until signed in; borrowed from ctx->users */
    uint64_t conn;         /**< connection serial (transport/endpoint.h), for deferred replies */
    const char *req_id;    /**< JSON text of the current request's id, NULL for a
                                notification; set by gw_rpc_handle during the call only */
    int64_t expires_ms;    /**< wall-clock expiry of a token sign-in, 0 for none */
    char addr[64];         /**< peer address, for logs and throttling */
    bool subscribed;       /**< counted in the notifier's subscribers */
} gw_session_t;

/**
 * @brief Sign a session in (@p user borrowed) or out (NULL); keeps ctx->ws_signed_in and
 *        the notifier's subscriber count.
 */
void gw_session_set_user(gw_ctx_t *ctx, gw_session_t *s, const gw_user_t *user, int64_t expires_ms);

/** @brief Sign out a token session whose token has expired at wall-clock @p now_ms. */
void gw_session_expire(gw_ctx_t *ctx, gw_session_t *s, int64_t now_ms);

#endif
