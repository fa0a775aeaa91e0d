/*
 * api_system.c - the method registry (every api_*.c table, searched by gw_rpc_find) and
 * the system.* methods that describe it: system.getServerVersion, getMethodsInfo,
 * listMethods and getVersion (xo-server api/system.mjs). The registry lives here because
 * these methods list it; api_rpc.c only looks methods up. Reads nothing shared.
 */
#include <string.h>

#include "api/api_rpc.h"
#include "xo_ops.h"
#include "xo_version.h"

/* ---- the registry: a new api_*.c table is one more line here ---- */

static const gw_rpc_method_t *const TABLES[] = {gw_api_session_methods, gw_api_xo_methods,
                                                gw_api_system_methods,  gw_api_vm_methods,
                                                gw_api_pool_methods,    NULL};

const gw_rpc_method_t *gw_rpc_find(const char *name)
{
    for (int t = 0; TABLES[t]; t++)
        for (const gw_rpc_method_t *m = TABLES[t]; m->name; m++)
            if (!strcmp(m->name, name))
                return m;
    return NULL;
}

void gw_rpc_foreach(void (*cb)(const gw_rpc_method_t *m, void *opaque), void *opaque)
{
    for (int t = 0; TABLES[t]; t++)
        for (const gw_rpc_method_t *m = TABLES[t]; m->name; m++)
            cb(m, opaque);
}

/* ---- system.* ---- */

static int server_version(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                          gw_xo_err_t *err)
{
    (void)ctx, (void)s, (void)params, (void)err;
    gw_buf_json_str(result, XO_VERSION);
    return 0;
}

static int version(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                   gw_xo_err_t *err)
{
    (void)ctx, (void)s, (void)params, (void)err;
    gw_buf_json_str(result, "1");
    return 0;
}

typedef struct {
    gw_buf_t *out;
    bool first;
    bool info;
} list_t;

/* A method of a command op (api_vm.c) leaves its description and params to the op table. */
static const char *method_description(const gw_rpc_method_t *m)
{
    const xo_op_t *op = m->description ? NULL : xo_op_find(m->name);

    return m->description ? m->description : op ? op->summary : "";
}

static void method_params(const gw_rpc_method_t *m, gw_buf_t *out)
{
    const xo_op_t *op = m->params ? NULL : xo_op_find(m->name);
    json_object *info = op ? xo_op_params_info(op) : NULL;

    gw_buf_puts(out, m->params ? m->params
                     : info    ? json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN)
                               : "{}");
    json_object_put(info);
}

static void add_method(const gw_rpc_method_t *m, void *opaque)
{
    list_t *l = opaque;
    if (!l->first)
        gw_buf_putc(l->out, ',');
    l->first = false;
    gw_buf_json_str(l->out, m->name);
    if (!l->info)
        return;
    gw_buf_puts(l->out, ":{\"description\":");
    gw_buf_json_str(l->out, method_description(m));
    gw_buf_puts(l->out, ",\"params\":");
    method_params(m, l->out);
    gw_buf_puts(l->out, ",\"permission\":");
    gw_buf_puts(l->out, m->perm == GW_CALL_ANYONE  ? "null"
                        : m->perm == GW_CALL_ADMIN ? "\"admin\""
                                                   : "\"\"");
    gw_buf_putc(l->out, '}');
}

static int methods_info(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                        gw_xo_err_t *err)
{
    list_t l = {result, true, true};
    (void)ctx, (void)s, (void)params, (void)err;
    gw_buf_putc(result, '{');
    gw_rpc_foreach(add_method, &l);
    gw_buf_putc(result, '}');
    return 0;
}

static int list_methods(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                        gw_xo_err_t *err)
{
    list_t l = {result, true, false};
    (void)ctx, (void)s, (void)params, (void)err;
    gw_buf_putc(result, '[');
    gw_rpc_foreach(add_method, &l);
    gw_buf_putc(result, ']');
    return 0;
}

const gw_rpc_method_t gw_api_system_methods[] = {
    {"system.getServerVersion", server_version, GW_CALL_ANYONE, "Version of this server.", "{}"},
    {"system.getVersion", version, GW_CALL_ANYONE, "API version.", "{}"},
    {"system.getMethodsInfo", methods_info, GW_CALL_ANYONE,
     "Every method with its description, parameters and permission.", "{}"},
    {"system.listMethods", list_methods, GW_CALL_ANYONE, "Names of every method.", "{}"},
    {NULL, NULL, 0, NULL, NULL}};
