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
    uint64_t users_gen;    /**< gw_users_generation() when the user was last checked */
    bool by_token;         /**< signed in with a token: `token` names it */
    gw_token_ref_t token;  /**< the token of a token sign-in (its digest, never the token) */
} gw_session_t;

/**
 * @brief Sign a session in (@p user borrowed) or out (NULL); keeps ctx->ws_signed_in and
 *        the notifier's subscriber count. Forgets any token binding: a token sign-in sets
 *        s->by_token and s->token after this call.
 */
void gw_session_set_user(gw_ctx_t *ctx, gw_session_t *s, const gw_user_t *user, int64_t expires_ms);

/**
 * @brief Whether @p s is still signed in: signs it out first if its user was removed from
 *        the users file, or it signed in with a token that has since expired or been
 *        deleted (token.delete, session.signOut elsewhere). Checked before every call and
 *        before every notification is queued to the session.
 */
bool gw_session_active(gw_ctx_t *ctx, gw_session_t *s);

#endif
