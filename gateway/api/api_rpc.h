/*
 * api_rpc.h - JSON-RPC 2.0 over the /api/ WebSocket, as json-rpc-peer frames it for
 * xo-lib: parse one message, check it, dispatch it to the method table, and write the
 * response (or nothing for a notification). Every JSON-RPC answer and error the gateway
 * sends is written here, including the late answer of a command (gw_rpc_write_reply).
 * Errors take xo-server's shapes (core/xo_errors.h). Runs on the service thread; methods
 * must not block on Kafka: the vm.* actions (api_vm.c) queue a command and return
 * GW_RPC_DEFERRED; the transport sends their answer when the command bus completes it.
 */
#ifndef GW_API_RPC_H
#define GW_API_RPC_H

#include <json-c/json.h>
#include <stdbool.h>

#include "api/session.h"
#include "bus/commands.h"
#include "core/xo_errors.h"
#include "gateway.h"
#include "xo_ops.h" /* the op table: gw_vm_may_run() checks a row's permission */

/** A method's return value when its reply will be sent later (vm.* actions). */
#define GW_RPC_DEFERRED 1

/**
 * A method: writes its result as JSON into @p result and returns 0, or fills @p err and
 * returns -1, or returns GW_RPC_DEFERRED when it registered a deferred reply (then nothing
 * is written now). @p params is an object (never NULL: {} when absent).
 */
typedef int (*gw_rpc_fn)(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                         gw_xo_err_t *err);

/** Who may call a method. */
typedef enum { GW_CALL_ANYONE, GW_CALL_SIGNED_IN, GW_CALL_ADMIN } gw_call_perm_t;

typedef struct {
    const char *name;
    gw_rpc_fn fn;
    gw_call_perm_t perm;
    const char *description;
    const char *params; /**< JSON text describing the params, for system.getMethodsInfo */
} gw_rpc_method_t;

/** @brief The method tables (NULL-terminated), one per api_*.c file. */
extern const gw_rpc_method_t gw_api_session_methods[];
extern const gw_rpc_method_t gw_api_xo_methods[];
extern const gw_rpc_method_t gw_api_system_methods[];
extern const gw_rpc_method_t gw_api_vm_methods[];
extern const gw_rpc_method_t gw_api_pool_methods[];

/**
 * @brief The generic method of a command op (api_vm.c; api_pool.c serves its ops with it):
 *        check the permission, then the params against the op's row, resolve the object
 *        ("id" or its alias) in the view, and queue the command; the reply is deferred.
 * @returns as a gw_rpc_fn.
 */
int gw_op_method(const char *name, gw_ctx_t *ctx, gw_session_t *s, json_object *params,
                 gw_buf_t *result, gw_xo_err_t *err);

/**
 * @brief Issue the command @p op on the VM @p vm_id for @p user (api_vm.c, shared with the
 *        REST actions): resolve the VM in the view (noSuchObject), check the permission
 *        (viewers: unauthorized), then gw_commands_submit().
 * @param args the op's args without `id` (borrowed; `id` is added to a copy)
 * @param types accepted XO types of the object (GW_T_NONE-terminated)
 * @returns 0 with @p id_out set, or -1 with @p err filled.
 */
int gw_vm_command(gw_ctx_t *ctx, const gw_user_t *user, const char *op, const char *vm_id,
                  json_object *args, const gw_type_t *types, const gw_cmd_waiter_t *w, char *id_out,
                  gw_xo_err_t *err);

/**
 * @brief Whether @p user may run the command op @p op at all, checked before its
 *        parameters (api_vm.c, shared with the REST actions): admins may; a viewer gets
 *        xo-server's unauthorized error {permission, object?}, naming the object when
 *        @p vm_id (may be NULL) resolves to one of @p types (GW_T_NONE-terminated).
 * @returns 0, or -1 with @p err filled.
 */
int gw_vm_may_run(gw_ctx_t *ctx, const gw_user_t *user, const xo_op_t *op, const char *vm_id,
                  const gw_type_t *types, gw_xo_err_t *err);

/**
 * @brief vm.export's download URL for @p user (api_vm.c, shared with REST's
 *        /vms/<id>.xva): `administrate` on the VM or snapshot @p vm, registered once in
 *        ctx->downloads (api/downloads.h) with @p compress (a JSON boolean or string,
 *        borrowed, or NULL); "/downloads/<token>/<file name>" appended to @p url.
 * @returns 0, or -1 with @p err filled (unauthorized, noSuchObject, commands disabled, too
 *          many pending downloads).
 */
int gw_vm_export_url(gw_ctx_t *ctx, const gw_user_t *user, const char *vm, json_object *compress,
                     gw_buf_t *url, gw_xo_err_t *err);

/** Room for gw_op_target_types(): one per XO_ON_* bit (xo_ops.h) and GW_T_NONE. */
#define GW_OP_TARGET_TYPES 8

/** @brief The XO types an op's "id" may name (its XO_ON_* targets), GW_T_NONE-terminated. */
void gw_op_target_types(unsigned targets, gw_type_t types[GW_OP_TARGET_TYPES]);

/** @brief The command bus's ref resolver on the view (takes the read lock itself). */
const char *gw_vm_id_of(void *ctx, const char *pool, const char *cls, const char *ref);

/** @brief Find a method by name (the registry lives in api_system.c, which describes it). */
const gw_rpc_method_t *gw_rpc_find(const char *name);

/** @brief Visit every method (for system.getMethodsInfo / listMethods). */
void gw_rpc_foreach(void (*cb)(const gw_rpc_method_t *m, void *opaque), void *opaque);

/**
 * @brief Handle one client message.
 * @param reply receives the response text (left empty for notifications). The buffer
 *        should be initialized with gw_buf_init_pre(reply, GW_MSG_PRE).
 * @returns true when the message was well-formed JSON-RPC (counted for metrics).
 */
bool gw_rpc_handle(gw_ctx_t *ctx, gw_session_t *s, const char *msg, size_t len, gw_buf_t *reply);

/** @brief Write {"jsonrpc":"2.0","id":<id_json>,"result":<result_json>} (null if empty). */
void gw_rpc_write_result(gw_buf_t *out, const char *id_json, const char *result_json, size_t len);

/** @brief Write {"jsonrpc":"2.0","id":<id_json or null>,"error":{code, message, data}}. */
void gw_rpc_write_error(gw_buf_t *out, const char *id_json, const gw_xo_err_t *e);

/**
 * @brief Write the late answer of a JSON-RPC request that issued a command (@p r from the
 *        command bus, waiter kind GW_CMD_WAIT_WS): its result (`true` when it has none) or
 *        its XO error, under the request's id.
 */
void gw_rpc_write_reply(gw_buf_t *out, const gw_cmd_reply_t *r);

#endif
