/* Unit tests of gateway/api_rpc.c and the session/token/system/xo methods: JSON-RPC
 * framing, xo-server's error shapes, and the token lifecycle, without any socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_rpc.h"

typedef struct {
    gw_ctx_t ctx;
    gw_session_t s;
} fx_t;

static int setup(void **state)
{
    static fx_t fx;
    char errstr[64];
    memset(&fx, 0, sizeof(fx));
    fx.ctx.view = gw_view_new();
    fx.ctx.notify = gw_notify_new();
    fx.ctx.metrics = gw_metrics_new();
    assert_int_equal(gw_users_load(NULL, &fx.ctx.users, errstr, sizeof(errstr)), XO_OK);
    snprintf(fx.s.addr, sizeof(fx.s.addr), "test");
    {
        json_object *snap = json_tokener_parse("{\"uuid\":\"vm1\",\"name_label\":\"a\"}");
        gw_view_apply_object(fx.ctx.view, "p", "vm", "OpaqueRef:1", snap, "{}", 2, errstr,
                             sizeof(errstr));
        json_object_put(snap);
        snap = json_tokener_parse("{\"uuid\":\"h1\",\"name_label\":\"h\"}");
        gw_view_apply_object(fx.ctx.view, "p", "host", "OpaqueRef:2", snap, "{}", 2, errstr,
                             sizeof(errstr));
        json_object_put(snap);
    }
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    gw_session_set_user(&fx->ctx, &fx->s, NULL, 0);
    gw_view_free(fx->ctx.view);
    gw_notify_free(fx->ctx.notify);
    gw_metrics_free(fx->ctx.metrics);
    gw_users_free(fx->ctx.users);
    return 0;
}

/* Handle a message; returns the parsed reply (NULL when no reply). */
static json_object *rpc(fx_t *fx, const char *msg)
{
    gw_buf_t reply;
    json_object *o = NULL;
    gw_buf_init_pre(&reply, GW_MSG_PRE);
    gw_rpc_handle(&fx->ctx, &fx->s, msg, strlen(msg), &reply);
    if (reply.len) {
        o = json_tokener_parse(reply.data);
        assert_non_null(o);
    }
    gw_buf_fini(&reply);
    return o;
}

static int err_code(json_object *r)
{
    json_object *e, *c;
    if (!json_object_object_get_ex(r, "error", &e) || !json_object_object_get_ex(e, "code", &c))
        return 12345;
    return json_object_get_int(c);
}

static json_object *result(json_object *r)
{
    json_object *v = NULL;
    json_object_object_get_ex(r, "result", &v);
    return v;
}

static void test_framing_errors(void **state)
{
    fx_t *fx = *state;
    json_object *r, *id;
    r = rpc(fx, "{not json");
    assert_int_equal(err_code(r), -32700);
    assert_true(json_object_object_get_ex(r, "id", &id) && id == NULL);
    json_object_put(r);
    r = rpc(fx, "{\"a\":1} trailing");
    assert_int_equal(err_code(r), -32700);
    json_object_put(r);
    r = rpc(fx, "[1,2]");
    assert_int_equal(err_code(r), -32600);
    json_object_put(r);
    r = rpc(fx, "42");
    assert_int_equal(err_code(r), -32600);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"id\":1}");
    assert_int_equal(err_code(r), -32600);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"1.5\",\"method\":\"system.getVersion\",\"id\":1}");
    assert_int_equal(err_code(r), -32600);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":7}");
    assert_int_equal(err_code(r), -32601);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"system.getVersion\",\"id\":{}}");
    assert_int_equal(err_code(r), -32600);
    json_object_put(r);
    /* deep nesting is refused by the parser, not the stack */
    {
        char deep[4096];
        size_t n = 0;
        for (int i = 0; i < 1000; i++)
            deep[n++] = '[';
        deep[n] = '\0';
        r = rpc(fx, deep);
        assert_int_equal(err_code(r), -32700);
        json_object_put(r);
    }
    /* a response from the client is ignored */
    assert_null(rpc(fx, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":true}"));
}

static void test_ids_and_notifications(void **state)
{
    fx_t *fx = *state;
    json_object *r, *id;
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"system.getServerVersion\",\"id\":\"x-1\"}");
    assert_true(json_object_object_get_ex(r, "id", &id));
    assert_string_equal(json_object_get_string(id), "x-1");
    assert_true(json_object_is_type(result(r), json_type_string));
    json_object_put(r);
    /* no id: a notification, no reply */
    assert_null(rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"system.getServerVersion\"}"));
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"system.getMethodsInfo\",\"id\":2}");
    assert_true(json_object_object_get_ex(result(r), "xo.getAllObjects", NULL));
    assert_true(json_object_object_get_ex(result(r), "session.signIn", NULL));
    json_object_put(r);
}

static void test_auth_gate(void **state)
{
    fx_t *fx = *state;
    json_object *r, *e, *d;
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"xo.getAllObjects\",\"id\":1}");
    assert_int_equal(err_code(r), 2);
    json_object_object_get_ex(r, "error", &e);
    assert_string_equal(json_object_get_string(json_object_object_get(e, "message")),
                        "not enough permissions");
    assert_true(json_object_object_get_ex(e, "data", &d));
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{\"email\":"
                "\"admin@admin.net\",\"password\":\"bad\"},\"id\":1}");
    assert_int_equal(err_code(r), 3);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{\"email\":"
                "\"admin@admin.net\",\"password\":\"\"},\"id\":1}");
    assert_int_equal(err_code(r), 3);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{\"email\":5},"
                "\"id\":1}");
    assert_int_equal(err_code(r), 10);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{\"username\":"
                "\"admin@admin.net\",\"password\":\"admin\"},\"id\":1}");
    assert_string_equal(json_object_get_string(json_object_object_get(result(r), "email")),
                        "admin@admin.net");
    assert_string_equal(json_object_get_string(json_object_object_get(result(r), "permission")),
                        "admin");
    assert_true(json_object_object_get_ex(result(r), "preferences", NULL));
    json_object_put(r);
    assert_int_equal(gw_notify_subscribers(fx->ctx.notify), 1);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"xo.getAllObjects\",\"id\":1}");
    assert_int_equal(json_object_object_length(result(r)), 2);
    assert_true(json_object_object_get_ex(result(r), "vm1", NULL));
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"xo.getAllObjects\",\"params\":{\"filter\":"
                "{\"type\":\"host\"}},\"id\":1}");
    assert_int_equal(json_object_object_length(result(r)), 1);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"xo.getAllObjects\",\"params\":{\"filter\":"
                "{\"name_label\":\"a\"}},\"id\":1}");
    assert_int_equal(json_object_object_length(result(r)), 1);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"xo.getAllObjects\",\"params\":{\"limit\":1},"
                "\"id\":1}");
    assert_int_equal(json_object_object_length(result(r)), 1);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"xo.getAllObjects\",\"params\":{\"limit\":-1},"
                "\"id\":1}");
    assert_int_equal(err_code(r), 10);
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"xo.getAllObjects\",\"params\":[1],\"id\":1}");
    assert_int_equal(err_code(r), 10);
    json_object_put(r);
    /* token sign-in on a second session */
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"token.create\",\"params\":{},\"id\":1}");
    {
        char msg[256];
        gw_session_t s2;
        gw_buf_t reply;
        json_object *r2;
        memset(&s2, 0, sizeof(s2));
        snprintf(msg, sizeof(msg),
                 "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{\"token\":\"%s\"},"
                 "\"id\":1}",
                 json_object_get_string(result(r)));
        gw_buf_init_pre(&reply, GW_MSG_PRE);
        gw_rpc_handle(&fx->ctx, &s2, msg, strlen(msg), &reply);
        r2 = json_tokener_parse(reply.data);
        assert_non_null(result(r2));
        assert_non_null(s2.user);
        gw_session_set_user(&fx->ctx, &s2, NULL, 0);
        json_object_put(r2);
        gw_buf_fini(&reply);
    }
    json_object_put(r);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"session.signOut\",\"id\":1}");
    assert_true(json_object_get_boolean(result(r)));
    json_object_put(r);
    assert_int_equal(gw_notify_subscribers(fx->ctx.notify), 0);
    r = rpc(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"session.getUser\",\"id\":1}");
    assert_int_equal(err_code(r), 2);
    json_object_put(r);
}

/* Handle a message on session @p s (printf-style); returns the parsed reply. */
static json_object *rpc_on(fx_t *fx, gw_session_t *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    gw_buf_t reply;
    json_object *o;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gw_buf_init_pre(&reply, GW_MSG_PRE);
    gw_rpc_handle(&fx->ctx, s, msg, strlen(msg), &reply);
    o = json_tokener_parse(reply.data);
    assert_non_null(o);
    gw_buf_fini(&reply);
    return o;
}

/* The code of a call's error (12345 when it succeeded); the reply is freed. */
static int code_of(json_object *r)
{
    int c = err_code(r);
    json_object_put(r);
    return c;
}

/* A fresh token from token.create on @p s with @p params; copied into @p out. */
static void new_token(fx_t *fx, gw_session_t *s, const char *params, char out[64])
{
    json_object *r = rpc_on(
        fx, s, "{\"jsonrpc\":\"2.0\",\"method\":\"token.create\",\"params\":%s,\"id\":1}", params);
    assert_true(json_object_is_type(result(r), json_type_string));
    snprintf(out, 64, "%s", json_object_get_string(result(r)));
    json_object_put(r);
}

#define SIGN_IN_PW                                                                                 \
    "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{\"email\":\"%s\","             \
    "\"password\":\"%s\"},\"id\":1}"
#define SIGN_IN_TOK                                                                                \
    "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{\"token\":\"%s\"},\"id\":1}"
#define GET_USER "{\"jsonrpc\":\"2.0\",\"method\":\"session.getUser\",\"id\":1}"
#define SIGN_OUT "{\"jsonrpc\":\"2.0\",\"method\":\"session.signOut\",\"id\":1}"
#define CALL     "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":%s,\"id\":1}"

/* token.create's parameters as xo-server takes them. */
static void test_token_create_params(void **state)
{
    fx_t *fx = *state;
    char t[64];

    assert_int_equal(code_of(rpc_on(fx, &fx->s, SIGN_IN_PW, "admin@admin.net", "admin")), 12345);
    new_token(fx, &fx->s, "{\"expiresIn\":\"30 days\"}", t);
    new_token(fx, &fx->s, "{\"expiresIn\":\"1.5h\"}", t);
    new_token(fx, &fx->s, "{\"expiresIn\":\".5 Years\"}", t);
    new_token(fx, &fx->s, "{\"expiresIn\":\"2000\"}", t);
    new_token(fx, &fx->s, "{\"expiresIn\":60000,\"description\":\"cli\",\"client\":{\"id\":\"c\"}}",
              t);
    assert_int_equal(strlen(t), GW_TOKEN_LEN);
    const char *bad[] = {
        "{\"expiresIn\":\"1.\"}",  "{\"expiresIn\":\"2 months\"}", "{\"expiresIn\":\"\"}",
        "{\"expiresIn\":\"abc\"}", "{\"expiresIn\":\"-5 s\"}",     "{\"expiresIn\":-5}",
        "{\"expiresIn\":0}",       "{\"expiresIn\":1e300}",        "{\"expiresIn\":\"2 years\"}",
        "{\"expiresIn\":true}",    "{\"description\":5}",          "{\"client\":\"c\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(code_of(rpc_on(fx, &fx->s, CALL, "token.create", bad[i])), 10);
}

/* token.delete, token.deleteOwn, session.signOut and expiry: a token that is gone is
 * refused at sign-in, and ends every session that signed in with it. */
static void test_token_lifecycle(void **state)
{
    fx_t *fx = *state;
    char path[] = "/tmp/test_gw_rpc_XXXXXX", errstr[256], ta[64], tb[64], tc[64], tv[64], te[64];
    gw_session_t sa, sb, sc, sv, sx;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    assert_int_equal(
        gw_users_add_to_file(path, "a@x", GW_PERM_ADMIN, "a pw", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(
        gw_users_add_to_file(path, "v@x", GW_PERM_VIEWER, "v pw", 1000, errstr, sizeof(errstr)),
        XO_OK);
    gw_users_free(fx->ctx.users);
    assert_int_equal(gw_users_load(path, &fx->ctx.users, errstr, sizeof(errstr)), XO_OK);
    memset(&sa, 0, sizeof(sa));
    sb = sc = sv = sx = sa;
    assert_int_equal(code_of(rpc_on(fx, &sa, SIGN_IN_PW, "a@x", "a pw")), 12345);
    assert_int_equal(code_of(rpc_on(fx, &sv, SIGN_IN_PW, "v@x", "v pw")), 12345);

    /* token.delete (admin): the token is refused, and its sessions end */
    new_token(fx, &sa, "{}", ta);
    assert_int_equal(code_of(rpc_on(fx, &sb, SIGN_IN_TOK, ta)), 12345);
    assert_int_equal(code_of(rpc_on(fx, &sb, GET_USER)), 12345);
    assert_int_equal(gw_notify_subscribers(fx->ctx.notify), 3);
    assert_int_equal(code_of(rpc_on(fx, &sv, CALL, "token.delete", "{\"tokens\":[\"x\"]}")), 2);
    assert_int_equal(code_of(rpc_on(fx, &sa, CALL, "token.delete", "{\"tokens\":[1]}")), 10);
    assert_int_equal(code_of(rpc_on(fx, &sa, CALL, "token.delete", "{}")), 10);
    assert_int_equal(code_of(rpc_on(fx, &sa, CALL, "token.delete", "{\"pattern\":{}}")), 0);
    assert_int_equal(code_of(rpc_on(fx, &sb, GET_USER)), 12345); /* none of that deleted it */
    {
        char params[128];
        snprintf(params, sizeof(params), "{\"tokens\":[\"%s\",\"unknown\"]}", ta);
        assert_int_equal(code_of(rpc_on(fx, &sa, CALL, "token.delete", params)), 12345);
    }
    assert_int_equal(code_of(rpc_on(fx, &sb, GET_USER)), 2);
    assert_null(sb.user);
    assert_int_equal(gw_notify_subscribers(fx->ctx.notify), 2);
    assert_int_equal(code_of(rpc_on(fx, &sc, SIGN_IN_TOK, ta)), 3);

    /* session.signOut of a token sign-in deletes that token, everywhere */
    new_token(fx, &sa, "{}", tb);
    assert_int_equal(code_of(rpc_on(fx, &sb, SIGN_IN_TOK, tb)), 12345);
    assert_int_equal(code_of(rpc_on(fx, &sc, SIGN_IN_TOK, tb)), 12345);
    assert_int_equal(code_of(rpc_on(fx, &sb, SIGN_OUT)), 12345);
    assert_int_equal(code_of(rpc_on(fx, &sc, GET_USER)), 2);
    assert_int_equal(code_of(rpc_on(fx, &sx, SIGN_IN_TOK, tb)), 3);

    /* signing out of a password sign-in leaves the tokens made on it */
    new_token(fx, &sa, "{}", tc);
    assert_int_equal(code_of(rpc_on(fx, &sa, SIGN_OUT)), 12345);
    assert_int_equal(code_of(rpc_on(fx, &sx, SIGN_IN_TOK, tc)), 12345);
    assert_int_equal(code_of(rpc_on(fx, &sx, SIGN_OUT)), 12345); /* (and ends it) */

    /* token.deleteOwn: the viewer's own tokens only; the legacy {token} form */
    new_token(fx, &sv, "{}", tv);
    new_token(fx, &sv, "{}", te);
    assert_int_equal(code_of(rpc_on(fx, &sa, SIGN_IN_PW, "a@x", "a pw")), 12345);
    new_token(fx, &sa, "{}", tc);
    {
        char params[160];
        snprintf(params, sizeof(params), "{\"tokens\":[\"%s\",\"%s\"]}", tc, tv);
        assert_int_equal(code_of(rpc_on(fx, &sv, CALL, "token.deleteOwn", params)), 12345);
        snprintf(params, sizeof(params), "{\"token\":\"%s\"}", te);
        assert_int_equal(code_of(rpc_on(fx, &sa, CALL, "token.delete", params)), 12345);
    }
    assert_int_equal(code_of(rpc_on(fx, &sx, SIGN_IN_TOK, tv)), 3);
    assert_int_equal(code_of(rpc_on(fx, &sx, SIGN_IN_TOK, te)), 3);
    assert_int_equal(code_of(rpc_on(fx, &sx, SIGN_IN_TOK, tc)), 12345); /* not the viewer's */

    /* expiry: refused at sign-in, and the session that used it ends */
    new_token(fx, &sa, "{\"expiresIn\":300}", te);
    assert_int_equal(code_of(rpc_on(fx, &sb, SIGN_IN_TOK, te)), 12345);
    usleep(400 * 1000);
    assert_int_equal(code_of(rpc_on(fx, &sb, GET_USER)), 2);
    assert_int_equal(code_of(rpc_on(fx, &sc, SIGN_IN_TOK, te)), 3);

    gw_session_set_user(&fx->ctx, &sa, NULL, 0);
    gw_session_set_user(&fx->ctx, &sv, NULL, 0);
    gw_session_set_user(&fx->ctx, &sx, NULL, 0);
    assert_int_equal(gw_notify_subscribers(fx->ctx.notify), 0);
    unlink(path);
}

static void test_notify_merge(void **state)
{
    gw_notify_t *n = gw_notify_new();
    gw_notify_out_t out;
    (void)state;
    gw_notify_emit(n, "a", "{}", 2); /* no subscribers: dropped */
    assert_false(gw_notify_take(n, &out));
    gw_notify_subscribers_add(n, 1);
    gw_notify_emit(n, "a", "{\"v\":1}", 7);
    gw_notify_emit(n, "a", "{\"v\":2}", 7); /* last state wins */
    gw_notify_emit(n, "b", "{\"v\":1}", 7);
    gw_notify_emit(n, "b", NULL, 0); /* enter then exit: exit */
    gw_notify_emit(n, "c", NULL, 0);
    gw_notify_emit(n, "c", "{\"v\":3}", 7); /* exit then enter: enter */
    assert_true(gw_notify_take(n, &out));
    assert_int_equal(out.items, 3);
    assert_int_equal(out.nmsgs, 2);
    assert_string_equal(out.msgs[0]->data, "{\"jsonrpc\":\"2.0\",\"method\":\"all\",\"params\":"
                                           "{\"type\":\"enter\",\"items\":{\"a\":{\"v\":2},"
                                           "\"c\":{\"v\":3}}}}");
    assert_string_equal(out.msgs[1]->data, "{\"jsonrpc\":\"2.0\",\"method\":\"all\",\"params\":"
                                           "{\"type\":\"exit\",\"items\":{\"b\":0}}}");
    gw_notify_out_fini(&out);
    assert_false(gw_notify_take(n, &out));
    gw_notify_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_framing_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_and_notifications, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_create_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_lifecycle, setup, teardown),
        cmocka_unit_test(test_notify_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
