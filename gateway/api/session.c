/*
 * session.c - sign-in state of one connection (see session.h). Knows nothing of the
 * wire: the JSON-RPC layer and the transport call it; it keeps the counts that /metrics
 * and the notifier read consistent with who is signed in, and ends a session whose user
 * was removed or whose token expired or was deleted (the users module says which).
 */
#include "api/session.h"

#include <string.h>

#include "xo_envelope.h"
#include "xo_log.h"

void gw_session_set_user(gw_ctx_t *ctx, gw_session_t *s, const gw_user_t *user, int64_t expires_ms)
{
    s->user = user;
    s->expires_ms = expires_ms;
    s->by_token = false;
    memset(&s->token, 0, sizeof(s->token));
    s->users_gen = ctx->users ? gw_users_generation(ctx->users) : 0;
    if (user && !s->subscribed) {
        s->subscribed = true;
        ctx->ws_signed_in++;
        if (ctx->notify)
            gw_notify_subscribers_add(ctx->notify, 1);
    } else if (!user && s->subscribed) {
        s->subscribed = false;
        ctx->ws_signed_in--;
        if (ctx->notify)
            gw_notify_subscribers_add(ctx->notify, -1);
    }
}

/* Why a signed-in session must end now, or NULL. */
static const char *session_end_reason(gw_ctx_t *ctx, gw_session_t *s)
{
    if (ctx->users) { /* the users file may have changed: look the user up only then */
        gw_users_refresh(ctx->users);
        if (s->users_gen != gw_users_generation(ctx->users)) {
            s->users_gen = gw_users_generation(ctx->users);
            if (gw_users_by_id(ctx->users, s->user->id) != s->user)
                return "user_removed";
        }
    }
    if (s->by_token && !gw_tokens_check(ctx->users, &s->token, xo_now_ms()))
        return "token_gone"; /* expired, deleted, or signed out elsewhere */
    if (s->expires_ms && s->expires_ms <= xo_now_ms())
        return "expired";
    return NULL;
}

bool gw_session_active(gw_ctx_t *ctx, gw_session_t *s)
{
    const char *why;

    if (!s->user)
        return false;
    why = session_end_reason(ctx, s);
    if (!why)
        return true;
    xo_info("api", "event=session_ended reason=%s user=\"%s\" addr=%s", why, s->user->email,
            s->addr);
    gw_session_set_user(ctx, s, NULL, 0);
    return false;
}
