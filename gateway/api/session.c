/*
 * session.c - sign-in state of one connection (see session.h). Knows nothing of the
 * wire: the JSON-RPC layer and the transport call it; it only keeps the counts that
 * /metrics and the notifier read consistent with who is signed in.
 */
#include "api/session.h"

void gw_session_set_user(gw_ctx_t *ctx, gw_session_t *s, const gw_user_t *user, int64_t expires_ms)
{
    s->user = user;
    s->expires_ms = expires_ms;
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

void gw_session_expire(gw_ctx_t *ctx, gw_session_t *s, int64_t now_ms)
{
    if (s->user && s->expires_ms && s->expires_ms <= now_ms)
        gw_session_set_user(ctx, s, NULL, 0);
}
