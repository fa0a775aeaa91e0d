/*
 * api_rpc.h - JSON-RPC 2.0 over the /api/ WebSocket, as json-rpc-peer frames it for
 * xo-lib: parse one message, check it, dispatch it to the method table, and write the
 * response (or nothing for a notification). Errors take xo-server's shapes
 * ({code, message, data}, xo-common api-errors; -32700/-32600/-32601 from json-rpc-peer).
 * Runs on the service thread; methods must not block on Kafka: the vm.* actions
 * (api_vm.c) queue a command and return GW_RPC_DEFERRED; their reply is sent later by
 * http_server.c when commands.c completes the command.
 */
#ifndef GW_API_RPC_H
#define GW_API_RPC_H

#include <json-c/json.h>
#include <stdbool.h>

#include "gateway.h"
#include "xo_ops.h" /* the op table: gw_vm_may_run() checks a row's permission */

/* xo-common api-errors codes used here */
#define GW_ERR_NOT_IMPLEMENTED 0
#define GW_ERR_NO_SUCH_OBJECT  1
#define GW_ERR_UNAUTHORIZED    2
#define GW_ERR_INVALID_CREDS   3
#define GW_ERR_INVALID_PARAMS  10
/* json-rpc-peer */
#define GW_ERR_INVALID_JSON     (-32700)
#define GW_ERR_INVALID_REQUEST  (-32600)
#define GW_ERR_METHOD_NOT_FOUND (-32601)
#define GW_ERR_UNKNOWN          (-32000)

/** One connection's session state (owned by the connection). */
typedef struct {
    const gw_user_t *user; /**< NULL until signed in; borrowed from ctx->users */
    uint64_t conn;         /**< connection serial (http_server.c), for deferred replies */
    const char *req_id;    /**< JSON text of the current request's id, NULL for a
                                notification; set by gw_rpc_handle during the call only */
    int64_t expires_ms;    /**< wall-clock expiry of a token sign-in, 0 for none */
    char addr[64];         /**< peer address, for logs and throttling */
    bool subscribed;       /**< counted in the notifier's subscribers */
    uint64_t users_gen;    /**< gw_users_generation() when the user was last checked */
    bool by_token;         /**< signed in with a token: `token` names it */
    gw_token_ref_t token;  /**< the token of a token sign-in (its digest, never the token) */
} gw_session_t;

/** An error to answer with. message is static or owned by data_json's buffer. */
typedef struct {
    int code;
    char message[256];
    gw_buf_t data; /**< serialized `data` member, empty for none */
} gw_rpc_err_t;

/** @brief Set an error (data may be NULL). Returns -1 so handlers can `return gw_rpc_fail(...)`. */
int gw_rpc_fail(gw_rpc_err_t *e, int code, const char *message, const char *data_json);

/** A method's return value when its reply will be sent later (vm.* actions). */
#define GW_RPC_DEFERRED 1

/**
 * A method: writes its result as JSON into @p result and returns 0, or fills @p err and
 * returns -1, or returns GW_RPC_DEFERRED when it registered a deferred reply (then nothing
 * is written now). @p params is an object (never NULL: {} when absent).
 */
typedef int (*gw_rpc_fn)(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                         gw_rpc_err_t *err);

/** Who may call a method. */
typedef enum { GW_CALL_ANYONE, GW_CALL_SIGNED_IN, GW_CALL_ADMIN } gw_call_perm_t;

typedef struct {
    const char *name;
    gw_rpc_fn fn;
    gw_call_perm_t perm;
    const char *description;
    const char *params; /**< JSON text describing the params, for system.getMethodsInfo */
} gw_rpc_method_t;

/** @brief The method table (NULL-terminated), defined by the api_*.c files. */
extern const gw_rpc_method_t gw_api_session_methods[];
extern const gw_rpc_method_t gw_api_xo_methods[];
extern const gw_rpc_method_t gw_api_system_methods[];
extern const gw_rpc_method_t gw_api_vm_methods[];

struct gw_cmd_waiter; /* commands.h */

/**
 * @brief Issue the command @p op on the VM @p vm_id for @p user (api_vm.c, shared with the
 *        REST actions): resolve the VM in the view (noSuchObject), check the permission
 *        (viewers: unauthorized), then gw_commands_submit().
 * @param args the op's args without `id` (borrowed; `id` is added to a copy)
 * @param types accepted XO types of the object (GW_T_NONE-terminated)
 * @returns 0 with @p id_out set, or -1 with @p err filled.
 */
int gw_vm_command(gw_ctx_t *ctx, const gw_user_t *user, const char *op, const char *vm_id,
                  json_object *args, const gw_type_t *types, const struct gw_cmd_waiter *w,
                  char *id_out, gw_rpc_err_t *err);

/**
 * @brief Whether @p user may run the command op @p op at all, checked before its
 *        parameters (api_vm.c, shared with the REST actions): admins may; a viewer gets
 *        xo-server's unauthorized error {permission, object?}, naming the object when
 *        @p vm_id (may be NULL) resolves to one of @p types (GW_T_NONE-terminated).
 * @returns 0, or -1 with @p err filled.
 */
int gw_vm_may_run(gw_ctx_t *ctx, const gw_user_t *user, const xo_op_t *op, const char *vm_id,
                  const gw_type_t *types, gw_rpc_err_t *err);

/** @brief commands.c's ref resolver on the view (takes the read lock itself). */
const char *gw_vm_id_of(void *ctx, const char *pool, const char *cls, const char *ref);

/** @brief Find a method by name. */
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

/** @brief Write {"jsonrpc":"2.0","id":<id_json>,"error":{...}} into @p out. */
void gw_rpc_write_error(gw_buf_t *out, const char *id_json, const gw_rpc_err_t *e);

/**
 * @brief Sign a session in / out (keeps the notifier's subscriber count). Forgets any
 *        token binding: a token sign-in sets s->by_token and s->token after this call.
 */
void gw_session_set_user(gw_ctx_t *ctx, gw_session_t *s, const gw_user_t *user, int64_t expires_ms);

/**
 * @brief Whether @p s is still signed in: signs it out first if its user was removed from
 *        the users file, or it signed in with a token that has since expired or been
 *        deleted (token.delete, session.signOut elsewhere). Checked before every call and
 *        before every notification is queued to the session.
 */
bool gw_session_active(gw_ctx_t *ctx, gw_session_t *s);

/** @brief Write the public user object {id, email, permission, preferences}. */
void gw_user_write_json(const gw_user_t *u, gw_buf_t *out);

#endif
