/*
 * api_session.c - session.signIn / signOut / getUser and token.create, as xo-server's
 * api/session.mjs and api/token.mjs answer them. Credentials are checked by users.c
 * (throttled, logged without the password); nothing here logs or keeps a secret.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_rpc.h"
#include "xo_envelope.h"
#include "xo_log.h"

#define MOD           "api"
#define TOKEN_TTL_MS  (30LL * 24 * 3600 * 1000) /* default token lifetime: 30 days */
#define TOKEN_TTL_MAX (365LL * 24 * 3600 * 1000)

static const char *str_param(json_object *params, const char *k)
{
    json_object *v;
    if (!json_object_object_get_ex(params, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int sign_in(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                   gw_xo_err_t *err)
{
    const char *token = str_param(params, "token");
    const char *email = str_param(params, "username");
    const char *password = str_param(params, "password");
    const gw_user_t *user = NULL;
    int64_t expires = 0;

    if (!email)
        email = str_param(params, "email");
    if (token) {
        user = gw_tokens_lookup(ctx->users, token, xo_now_ms(), &expires);
        if (!user) {
            xo_warn(MOD, "event=signin_failed method=token addr=%s", s->addr);
            return gw_xo_fail(err, GW_ERR_INVALID_CREDS, "invalid credentials", NULL);
        }
    } else {
        if (!email || !password)
            return gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                              "{\"errors\":[{\"message\":\"expected {username|email, password} "
                              "or {token}\"}]}");
        if (!*password)
            return gw_xo_fail(err, GW_ERR_INVALID_CREDS, "empty password", NULL);
        switch (gw_users_authenticate(ctx->users, email, password, s->addr, gw_mono_ms(), &user)) {
        case GW_AUTH_OK:
            break;
        case GW_AUTH_THROTTLED:
            return gw_xo_fail(err, GW_ERR_INVALID_CREDS, "too fast authentication tries", NULL);
        default:
            return gw_xo_fail(err, GW_ERR_INVALID_CREDS, "invalid credentials", NULL);
        }
    }
    gw_session_set_user(ctx, s, user, expires);
    gw_user_write_json(user, result);
    return 0;
}

static int sign_out(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                    gw_xo_err_t *err)
{
    (void)params;
    (void)err;
    gw_session_set_user(ctx, s, NULL, 0);
    gw_buf_puts(result, "true");
    return 0;
}

static int get_user(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                    gw_xo_err_t *err)
{
    (void)ctx;
    (void)params;
    (void)err;
    gw_user_write_json(s->user, result);
    return 0;
}

static int token_create(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                        gw_xo_err_t *err)
{
    json_object *v;
    int64_t ttl = ctx->token_ttl_ms > 0 ? ctx->token_ttl_ms : TOKEN_TTL_MS;
    char token[GW_TOKEN_LEN + 1];

    if (json_object_object_get_ex(params, "expiresIn", &v) && v) {
        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
            ttl = (int64_t)json_object_get_double(v);
        else
            return gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                              "{\"errors\":[{\"message\":\"expiresIn must be a number of "
                              "milliseconds\"}]}");
        if (ttl <= 0 || ttl > TOKEN_TTL_MAX)
            return gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                              "{\"errors\":[{\"message\":\"expiresIn out of range\"}]}");
    }
    if (gw_tokens_create(ctx->users, s->user, ttl, xo_now_ms(), token) != XO_OK)
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "cannot create a token", NULL);
    gw_buf_json_str(result, token);
    xo_info(MOD, "event=token_created user=\"%s\" ttl_ms=%lld", s->user->email, (long long)ttl);
    return 0;
}

const gw_rpc_method_t gw_api_session_methods[] = {
    {"session.signIn", sign_in, GW_CALL_ANYONE,
     "Sign in with {username (or email), password} or {token}; returns the user.",
     "{\"username\":{\"type\":\"string\",\"optional\":true},\"email\":{\"type\":\"string\","
     "\"optional\":true},\"password\":{\"type\":\"string\",\"optional\":true},\"token\":{\"type\":"
     "\"string\",\"optional\":true}}"},
    {"session.signOut", sign_out, GW_CALL_ANYONE, "Sign out of this connection.", "{}"},
    {"session.getUser", get_user, GW_CALL_SIGNED_IN, "The signed-in user.", "{}"},
    {"token.create", token_create, GW_CALL_SIGNED_IN,
     "Create an authentication token (in memory: valid until the gateway restarts).",
     "{\"expiresIn\":{\"type\":\"number\",\"optional\":true,\"description\":\"milliseconds\"}}"},
    {NULL, NULL, 0, NULL, NULL}};
