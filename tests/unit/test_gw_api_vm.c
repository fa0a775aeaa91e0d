/* Unit tests of gateway/api/api_vm.c, the generic method of the command ops: every row of
 * the op table is a JSON-RPC method described by its row, parameters are refused in
 * xo-server's shapes, and the object types and permission come from the row. Nothing here
 * reaches the command bus (ctx.commands stays NULL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rpc.h"
#include "xo_ops.h"

#define POOL "6f0c9a44-9f5e-4b3c-8a0e-3f1d2c4b5a69"

typedef struct {
    gw_ctx_t ctx;
    gw_session_t s;
    gw_user_t admin, viewer;
} fx_t;

static void add_vm(gw_view_t *v, const char *ref, const char *record)
{
    json_object *snap = json_tokener_parse(record);
    char errstr[64];

    assert_non_null(snap);
    assert_int_equal(
        gw_view_apply_object(v, POOL, "vm", ref, snap, "{}", 2, errstr, sizeof(errstr)), XO_OK);
    json_object_put(snap);
}

static int setup(void **state)
{
    static fx_t fx;

    memset(&fx, 0, sizeof(fx));
    fx.admin = (gw_user_t){"id-admin", "admin@x", GW_PERM_ADMIN, ""};
    fx.viewer = (gw_user_t){"id-viewer", "viewer@x", GW_PERM_VIEWER, ""};
    fx.ctx.view = gw_view_new();
    add_vm(fx.ctx.view, "OpaqueRef:vm1", "{\"uuid\":\"vm1\",\"name_label\":\"a\"}");
    add_vm(fx.ctx.view, "OpaqueRef:s1",
           "{\"uuid\":\"snap1\",\"name_label\":\"s\",\"is_a_snapshot\":true}");
    fx.s.user = &fx.admin;
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;

    gw_view_free(fx->ctx.view);
    return 0;
}

/* Call @p method with @p params; the reply parsed (NULL when none). */
static json_object *call(fx_t *fx, const char *method, const char *params)
{
    char msg[1024];
    gw_buf_t reply;
    json_object *o = NULL;

    snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}",
             method, params);
    gw_buf_init_pre(&reply, GW_MSG_PRE);
    gw_rpc_handle(&fx->ctx, &fx->s, msg, strlen(msg), &reply);
    if (reply.len)
        o = json_tokener_parse(reply.data);
    gw_buf_fini(&reply);
    return o;
}

static json_object *at(json_object *o, const char *path)
{
    char key[64];

    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(key));
        else if (!json_object_object_get_ex(o, key, &o))
            o = NULL;
        path += n + (path[n] == '.');
    }
    return o;
}

/* A member whose name has dots (a method name). */
static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;

    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *str_at(json_object *o, const char *path)
{
    json_object *v = at(o, path);

    return v ? json_object_get_string(v) : "(absent)";
}

static int code(json_object *o)
{
    json_object *c = at(o, "error.code");

    return c ? json_object_get_int(c) : 9999;
}

/* Each op of the table is a method, described by its row. */
static void test_every_op_is_a_method(void **state)
{
    fx_t *fx = *state;
    json_object *info = call(fx, "system.getMethodsInfo", "{}");

    for (int i = 0; i < XO_OP_COUNT; i++) {
        const xo_op_t *op = &xo_ops[i];
        json_object *m = member(at(info, "result"), op->name), *want;
        if (op->flags & XO_OP_INTERNAL) { /* a step the gateway issues itself: no method */
            assert_null(gw_rpc_find(op->name));
            assert_null(m);
            continue;
        }
        want = xo_op_params_info(op);
        assert_non_null(gw_rpc_find(op->name));
        assert_non_null(m);
        assert_string_equal(str_at(m, "description"), op->summary);
        assert_true(json_object_equal(at(m, "params"), want));
        json_object_put(want);
    }
    /* a method that is no op keeps its own description */
    assert_string_equal(str_at(member(at(info, "result"), "system.getVersion"), "description"),
                        "API version.");
    json_object_put(info);
}

/* ajv's error objects, in xo-server's order: other members, then the required id. */
static void test_params_errors(void **state)
{
    fx_t *fx = *state;
    json_object *r;

    r = call(fx, "vm.stop", "{\"id\":5,\"forced\":true}");
    assert_int_equal(code(r), 10);
    assert_string_equal(str_at(r, "error.data.errors.0.keyword"), "additionalProperties");
    assert_string_equal(str_at(r, "error.data.errors.0.params.additionalProperty"), "forced");
    json_object_put(r);
    r = call(fx, "vm.stop", "{\"force\":\"yes\",\"id\":\"vm1\"}");
    assert_string_equal(str_at(r, "error.data.errors.0.instancePath"), "/force");
    assert_string_equal(str_at(r, "error.data.errors.0.message"), "must be boolean");
    json_object_put(r);
    r = call(fx, "vm.pause", "{}");
    assert_string_equal(str_at(r, "error.data.errors.0.keyword"), "required");
    assert_string_equal(str_at(r, "error.data.errors.0.message"),
                        "must have required property 'id'");
    json_object_put(r);
    r = call(fx, "vm.pause", "{\"id\":\"\"}");
    assert_string_equal(str_at(r, "error.data.errors.0.keyword"), "minLength");
    assert_string_equal(str_at(r, "error.data.errors.0.instancePath"), "/id");
    json_object_put(r);
    r = call(fx, "vm.snapshot", "{\"id\":\"vm1\",\"saveMemory\":true}");
    assert_int_equal(code(r), 0);
    assert_string_equal(str_at(r, "error.data.param"), "saveMemory");
    json_object_put(r);
}

/* Object types and permissions are the row's; vm.set without a change answers true. */
static void test_targets_and_permission(void **state)
{
    fx_t *fx = *state;
    json_object *r;

    r = call(fx, "vm.start", "{\"id\":\"snap1\"}"); /* VM only */
    assert_int_equal(code(r), 1);
    assert_string_equal(str_at(r, "error.data.type"), "VM");
    json_object_put(r);
    fx->s.user = &fx->viewer;
    r = call(fx, "vm.start", "{\"id\":\"vm1\"}");
    assert_int_equal(code(r), 2);
    assert_string_equal(str_at(r, "error.data.permission"), "operate");
    json_object_put(r);
    r = call(fx, "vm.delete", "{\"id\":\"snap1\",\"delete_disks\":true}"); /* any VM type */
    assert_int_equal(code(r), 2);
    assert_string_equal(str_at(r, "error.data.permission"), "administrate");
    assert_string_equal(str_at(r, "error.data.object.type"), "VM-snapshot");
    json_object_put(r);
    fx->s.user = &fx->admin;
    r = call(fx, "vm.set", "{\"id\":\"vm1\"}");
    assert_non_null(r);
    assert_true(json_object_get_boolean(at(r, "result")));
    json_object_put(r);
}

/* The permission comes before the parameters (xo-server checks a method's permission
 * first): a viewer is refused whatever the params, and a call that would change nothing is
 * no exception. The object is named when the id resolves to one the op acts on. */
static void test_permission_before_params(void **state)
{
    fx_t *fx = *state;
    json_object *r;

    fx->s.user = &fx->viewer;
    r = call(fx, "vm.set", "{\"id\":\"vm1\"}"); /* an admin gets true: nothing to change */
    assert_int_equal(code(r), 2);
    assert_string_equal(str_at(r, "error.data.permission"), "administrate");
    assert_string_equal(str_at(r, "error.data.object.id"), "vm1");
    json_object_put(r);
    r = call(fx, "vm.set", "{\"id\":\"vm1\",\"name_label\":5}");
    assert_int_equal(code(r), 2);
    json_object_put(r);
    r = call(fx, "vm.stop", "{\"id\":\"vm1\",\"forced\":true}");
    assert_int_equal(code(r), 2);
    assert_string_equal(str_at(r, "error.data.object.type"), "VM");
    json_object_put(r);
    r = call(fx, "vm.pause", "{}");
    assert_int_equal(code(r), 2);
    assert_string_equal(str_at(r, "error.data.permission"), "operate");
    assert_string_equal(str_at(r, "error.data.object"), "(absent)");
    json_object_put(r);
    r = call(fx, "vm.start", "{\"id\":\"snap1\"}"); /* not a VM the op acts on: not named */
    assert_int_equal(code(r), 2);
    assert_string_equal(str_at(r, "error.data.object"), "(absent)");
    json_object_put(r);
    for (int i = 0; i < XO_OP_COUNT; i++) {
        r = call(fx, xo_ops[i].name, "{\"id\":42,\"nope\":true}");
        assert_int_equal(code(r), xo_ops[i].flags & XO_OP_INTERNAL ? GW_ERR_METHOD_NOT_FOUND : 2);
        json_object_put(r);
    }
    fx->s.user = &fx->admin;
    r = call(fx, "vm.set", "{\"id\":\"vm1\",\"name_label\":5}");
    assert_int_equal(code(r), 10);
    json_object_put(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_is_a_method),
        cmocka_unit_test(test_params_errors),
        cmocka_unit_test(test_targets_and_permission),
        cmocka_unit_test(test_permission_before_params),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
