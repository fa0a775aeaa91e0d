/*
 * api_session.c - session.signIn / signOut / getUser and token.create / delete /
 * deleteOwn, as xo-server's api/session.mjs and api/token.mjs answer them (differences in
 * docs/api.md). Credentials are checked by users.c (throttled, logged without the
 * password); nothing here logs or keeps a secret.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
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
    gw_token_ref_t ref;
    int64_t expires = 0;

    if (!email)
        email = str_param(params, "email");
    if (token) {
        user = gw_tokens_lookup_ref(ctx->users, token, xo_now_ms(), &expires, &ref);
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
    if (token) { /* session.signOut ends this token (docs/api.md) */
        s->by_token = true;
        s->token = ref;
    }
    gw_user_write_json(user, result);
    return 0;
}

/* Signing out of a token sign-in deletes the token: it is this session's credential (the
 * web UI's cookie), and a client that signs out expects it to stop working everywhere.
 * Tokens made with token.create on a session stay until they expire or are deleted. */
static int sign_out(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                    gw_xo_err_t *err)
{
    (void)params;
    (void)err;
    if (s->user && s->by_token) {
        gw_tokens_revoke(ctx->users, &s->token);
        xo_info(MOD, "event=token_deleted reason=signout user=\"%s\" addr=%s", s->user->email,
                s->addr);
    }
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

/*
 * A duration as xo-server's parseDuration reads expiresIn (the `ms` package): a number of
 * milliseconds, or a string "<number> <unit>" ("30 days", "1.5h", "2000"). Years are
 * 365.25 days, as there; months are not a unit, as there.
 */
static bool parse_duration(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"years", 31557600000.0},
                 {"year", 31557600000.0},
                 {"yrs", 31557600000.0},
                 {"yr", 31557600000.0},
                 {"y", 31557600000.0},
                 {"weeks", 604800000.0},
                 {"week", 604800000.0},
                 {"w", 604800000.0},
                 {"days", 86400000.0},
                 {"day", 86400000.0},
                 {"d", 86400000.0},
                 {"hours", 3600000.0},
                 {"hour", 3600000.0},
                 {"hrs", 3600000.0},
                 {"hr", 3600000.0},
                 {"h", 3600000.0},
                 {"minutes", 60000.0},
                 {"minute", 60000.0},
                 {"mins", 60000.0},
                 {"min", 60000.0},
                 {"m", 60000.0},
                 {"seconds", 1000.0},
                 {"second", 1000.0},
                 {"secs", 1000.0},
                 {"sec", 1000.0},
                 {"s", 1000.0},
                 {"milliseconds", 1.0},
                 {"millisecond", 1.0},
                 {"msecs", 1.0},
                 {"msec", 1.0},
                 {"ms", 1.0},
                 {"", 1.0}};
    char num[64];
    size_t n = 0, digits = 0;
    double v;
    const char *p;

    if (strlen(s) > 100) /* as `ms` */
        return false;
    if (s[n] == '-')
        n++;
    for (; isdigit((unsigned char)s[n]); n++)
        digits++;
    if (s[n] == '.') { /* a fraction needs its digits: "1." is not a number, ".5" is */
        size_t frac = 0;
        for (n++; isdigit((unsigned char)s[n]); n++)
            frac++;
        if (!frac)
            return false;
        digits += frac;
    }
    if (!digits || n >= sizeof(num))
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    v = strtod(num, NULL);
    for (p = s + n; *p == ' ';)
        p++;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcasecmp(p, units[i].unit)) {
            v *= units[i].ms;
            if (!(v > -9.2e18 && v < 9.2e18))
                return false;
            *out = (int64_t)v;
            return true;
        }
    return false;
}

static int bad_param(gw_xo_err_t *err, const char *message)
{
    gw_buf_t d;

    gw_buf_init(&d);
    gw_buf_puts(&d, "{\"errors\":[{\"message\":");
    gw_buf_json_str(&d, message);
    gw_buf_puts(&d, "}]}");
    gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters", d.data);
    gw_buf_fini(&d);
    return -1;
}

/* token.create {expiresIn?, description?, client?}: description and client are accepted
 * for xo-cli and xo-web, and not kept (tokens are not listed; each call makes a new one). */
static int token_create(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                        gw_xo_err_t *err)
{
    json_object *v;
    int64_t ttl = ctx->token_ttl_ms > 0 ? ctx->token_ttl_ms : TOKEN_TTL_MS;
    char token[GW_TOKEN_LEN + 1];

    if (json_object_object_get_ex(params, "description", &v) && v &&
        !json_object_is_type(v, json_type_string))
        return bad_param(err, "description must be a string");
    if (json_object_object_get_ex(params, "client", &v) && v &&
        !json_object_is_type(v, json_type_object))
        return bad_param(err, "client must be an object");
    if (json_object_object_get_ex(params, "expiresIn", &v) && v) {
        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
            double d = json_object_get_double(v); /* range-checked before the cast */
            ttl = d > 0 && d <= (double)TOKEN_TTL_MAX ? (int64_t)d : -1;
        } else if (!json_object_is_type(v, json_type_string) ||
                   !parse_duration(json_object_get_string(v), &ttl))
            return bad_param(err, "expiresIn must be a number of milliseconds or a duration "
                                  "such as \"30 days\"");
        if (ttl <= 0 || ttl > TOKEN_TTL_MAX)
            return bad_param(err, "expiresIn out of range (1 ms to 365 days)");
    }
    if (gw_tokens_create(ctx->users, s->user, ttl, xo_now_ms(), token) != XO_OK)
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "cannot create a token", NULL);
    gw_buf_json_str(result, token);
    xo_info(MOD, "event=token_created user=\"%s\" ttl_ms=%lld", s->user->email, (long long)ttl);
    return 0;
}

/* The tokens a delete names: {tokens: [string]} (xo-server), or {token: string} (its
 * older token.delete). A `pattern` (value-matcher) is not supported: tokens are kept as
 * digests only, with nothing to match but the token itself. */
static int delete_tokens(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                         gw_xo_err_t *err, const gw_user_t *owner)
{
    json_object *tokens = NULL, *one = NULL;
    size_t n, deleted = 0;

    if (json_object_object_get_ex(params, "pattern", NULL) ||
        json_object_object_get_ex(params, "patern", NULL))
        return gw_xo_fail(err, GW_ERR_NOT_IMPLEMENTED, "not implemented",
                          "{\"param\":\"pattern\",\"reason\":\"tokens are kept as digests: "
                          "name them in tokens\"}");
    json_object_object_get_ex(params, "tokens", &tokens);
    json_object_object_get_ex(params, "token", &one);
    if (tokens && !json_object_is_type(tokens, json_type_array))
        return bad_param(err, "tokens must be an array of strings");
    if (one && !json_object_is_type(one, json_type_string))
        return bad_param(err, "token must be a string");
    if (!tokens && !one)
        return bad_param(err, "expected {tokens: [string]}");
    n = tokens ? json_object_array_length(tokens) : 0;
    for (size_t i = 0; i < n; i++)
        if (!json_object_is_type(json_object_array_get_idx(tokens, i), json_type_string))
            return bad_param(err, "tokens must be an array of strings");
    for (size_t i = 0; i < n; i++)
        deleted += gw_tokens_delete(
            ctx->users, json_object_get_string(json_object_array_get_idx(tokens, i)), owner);
    if (one)
        deleted += gw_tokens_delete(ctx->users, json_object_get_string(one), owner);
    xo_info(MOD, "event=token_deleted reason=%s user=\"%s\" addr=%s deleted=%zu",
            owner ? "delete_own" : "delete", s->user->email, s->addr, deleted);
    gw_buf_puts(result, "true"); /* as xo-server: unknown tokens are no error */
    return 0;
}

static int token_delete(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                        gw_xo_err_t *err)
{
    return delete_tokens(ctx, s, params, result, err, NULL);
}

static int token_delete_own(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                            gw_xo_err_t *err)
{
    return delete_tokens(ctx, s, params, result, err, s->user);
}

const gw_rpc_method_t gw_api_session_methods[] = {
    {"session.signIn", sign_in, GW_CALL_ANYONE,
     "Sign in with {username (or email), password} or {token}; returns the user.",
     "{\"username\":{\"type\":\"string\",\"optional\":true},\"email\":{\"type\":\"string\","
     "\"optional\":true},\"password\":{\"type\":\"string\",\"optional\":true},\"token\":{\"type\":"
     "\"string\",\"optional\":true}}"},
    {"session.signOut", sign_out, GW_CALL_ANYONE,
     "Sign out of this connection; a token sign-in also deletes that token.", "{}"},
    {"session.getUser", get_user, GW_CALL_SIGNED_IN, "The signed-in user.", "{}"},
    {"token.create", token_create, GW_CALL_SIGNED_IN,
     "Create an authentication token (in memory: valid until the gateway restarts).",
     "{\"expiresIn\":{\"type\":[\"number\",\"string\"],\"optional\":true,\"description\":"
     "\"milliseconds, or a duration such as '30 days'\"},\"description\":{\"type\":\"string\","
     "\"optional\":true},\"client\":{\"type\":\"object\",\"optional\":true}}"},
    {"token.delete", token_delete, GW_CALL_ADMIN, "Delete authentication tokens of any user.",
     "{\"tokens\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"optional\":true},"
     "\"token\":{\"type\":\"string\",\"optional\":true}}"},
    {"token.deleteOwn", token_delete_own, GW_CALL_SIGNED_IN,
     "Delete authentication tokens of the signed-in user.",
     "{\"tokens\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"optional\":true},"
     "\"token\":{\"type\":\"string\",\"optional\":true}}"},
    {NULL, NULL, 0, NULL, NULL}};
