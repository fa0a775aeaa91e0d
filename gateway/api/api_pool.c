/*
 * api_pool.c - the JSON-RPC methods of xo-server's api/pool.mjs that are command ops:
 * pool.listMissingPatches (and, as they come, the other patching methods). Each is served
 * by the generic op method of api_vm.c, driven by its row of the op table (xo_ops.h); the
 * agent of the object's pool does the work. Never waits: runs on the service thread.
 */
#include "api/api_rpc.h"

#define POOL_OPS(X) X(pool_list_missing_patches, "pool.listMissingPatches")

#define POOL_FN(fn, name)                                                                          \
    static int fn(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,           \
                  gw_xo_err_t *err)                                                                \
    {                                                                                              \
        return gw_op_method(name, ctx, s, params, result, err);                                    \
    }
POOL_OPS(POOL_FN)

#define POOL_ENTRY(fn, name) {name, fn, GW_CALL_SIGNED_IN, NULL, NULL},

const gw_rpc_method_t gw_api_pool_methods[] = {POOL_OPS(POOL_ENTRY){NULL, NULL, 0, NULL, NULL}};
