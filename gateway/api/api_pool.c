/*
 * api_pool.c - the JSON-RPC methods of xo-server's api/pool.mjs that are command ops:
 * pool.listMissingPatches and pool.installPatches. Each is served by the generic op method
 * of api_vm.c, driven by its row of the op table (xo_ops.h); the agent of the object's pool
 * does the work. Never waits: runs on the service thread.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_rpc.h"

static int list_missing_patches(gw_ctx_t *ctx, gw_session_t *s, json_object *params,
                                gw_buf_t *result, gw_xo_err_t *err)
{
    return gw_op_method("pool.listMissingPatches", ctx, s, params, result, err);
}

/* xo-server's installPatches takes {pool} or only {hosts}: then the pool is the first
 * host's (every host must be of one pool; the agent checks they are its own). */
static int install_patches(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                           gw_xo_err_t *err)
{
    json_object *hosts = NULL, *copy = NULL, *first;
    gw_obj_info_t o;
    char pool[64] = "";
    int rc;

    if (!json_object_object_get_ex(params, "pool", NULL) &&
        !json_object_object_get_ex(params, "id", NULL) &&
        json_object_object_get_ex(params, "hosts", &hosts) &&
        json_object_is_type(hosts, json_type_array) && json_object_array_length(hosts) > 0 &&
        json_object_is_type((first = json_object_array_get_idx(hosts, 0)), json_type_string)) {
        gw_view_rdlock(ctx->view);
        if (gw_view_get(ctx->view, json_object_get_string(first), &o) && o.type == GW_T_HOST)
            snprintf(pool, sizeof(pool), "%s", o.pool);
        gw_view_unlock(ctx->view);
    }
    if (pool[0]) {
        copy = json_object_new_object();
        json_object_object_foreach(params, k, v)
            json_object_object_add(copy, k, json_object_get(v));
        json_object_object_add(copy, "pool", json_object_new_string(pool));
    }
    rc = gw_op_method("pool.installPatches", ctx, s, copy ? copy : params, result, err);
    json_object_put(copy);
    return rc;
}

static int rolling_update(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                          gw_xo_err_t *err)
{
    return gw_op_method("pool.rollingUpdate", ctx, s, params, result, err);
}

const gw_rpc_method_t gw_api_pool_methods[] = {
    {"pool.listMissingPatches", list_missing_patches, GW_CALL_SIGNED_IN, NULL, NULL},
    {"pool.installPatches", install_patches, GW_CALL_SIGNED_IN, NULL, NULL},
    {"pool.rollingUpdate", rolling_update, GW_CALL_SIGNED_IN, NULL, NULL},
    {NULL, NULL, 0, NULL, NULL}};
