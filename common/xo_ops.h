/*
 * xo_ops.h - the one table of command ops, shared by the agent and the gateway. Each row
 * gives an op's name, its typed parameters (the command's arguments on xo.commands and the
 * xo-server API parameters that map to them), the permission it needs on its object, its
 * REST actions and a one-line summary. The agent verifies and dispatches with it, the
 * gateway checks JSON-RPC params and maps REST actions with it, `xo-agent --help` lists
 * it, and unit.ops holds schemas/xo.commands.schema.json and the docs to it.
 * How to add an op: docs/architecture.md, "How to extend: add a command op".
 */
#ifndef XO_OPS_H
#define XO_OPS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "xo_error.h"

/** The ops, as indexes of their rows in xo_ops[] (also bits of an allow-list mask). */
typedef enum {
    XO_OP_VM_START,
    XO_OP_VM_STOP,
    XO_OP_VM_RESTART,
    XO_OP_VM_SUSPEND,
    XO_OP_VM_RESUME,
    XO_OP_VM_PAUSE,
    XO_OP_VM_UNPAUSE,
    XO_OP_VM_SNAPSHOT,
    XO_OP_VM_DELETE,
    XO_OP_VM_SET,
    XO_OP_VM_COPY,
    XO_OP_VM_IMPORT_PREPARE,
    XO_OP_VM_EXPORT_TO,
    XO_OP_TASK_CANCEL,
    XO_OP_TAG_ADD,
    XO_OP_TAG_REMOVE,
    XO_OP_POOL_LIST_MISSING_PATCHES,
    XO_OP_POOL_INSTALL_PATCHES,
    XO_OP_POOL_ROLLING_UPDATE,
    XO_OP_CONSOLE_OPEN,
    XO_OP_POOL_LIST_POOL_MISSING_PATCHES,
    XO_OP_VM_EXPORT_RELAY,
    XO_OP_COUNT
} xo_op_id_t;

/** JSON type of a parameter. */
typedef enum {
    XO_ARG_STRING,
    XO_ARG_BOOLEAN,
    XO_ARG_BOOLEAN_OR_STRING, /**< either, as xo-server's type: ['boolean', 'string'] */
    XO_ARG_STRING_LIST        /**< an array of strings (min_len/max_len bound each item) */
} xo_arg_type_t;

#define XO_ARG_LIST_MAX 1000 /**< items of an XO_ARG_STRING_LIST, at most */

/** What a parameter is: a command argument, or an xo-server API parameter handled there. */
typedef enum {
    XO_PARAM_ARG,      /**< a command argument, on the wire under its name */
    XO_PARAM_ALIAS,    /**< API only: another name of the argument `alias_of` */
    XO_PARAM_IGNORED,  /**< API only: accepted and dropped (XAPI makes that check anyway) */
    XO_PARAM_NOT_TRUE, /**< API only: false is accepted and dropped; true is not implemented */
    XO_PARAM_NOT_IMPL  /**< API only: xo-server takes it; present means not implemented */
} xo_param_use_t;

#define XO_PARAM_REQUIRED (1u << 0) /**< must be present (API and wire) */
#define XO_PARAM_EMPTY_OK (1u << 1) /**< API strings: "" accepted (xo-server's minLength: 0) */

/** One parameter of an op. The first parameter of an op with targets is "id", its object. */
typedef struct {
    const char *name;
    xo_arg_type_t type;
    xo_param_use_t use;
    unsigned flags;            /**< XO_PARAM_* */
    const char *alias_of;      /**< XO_PARAM_ALIAS: the argument it stands for */
    size_t min_len, max_len;   /**< wire strings: length bounds in bytes (max 0: none) */
    const char *const *values; /**< wire strings: the accepted values (NULL-terminated), or NULL */
    const char *doc;           /**< one line for the docs */
} xo_op_param_t;

/** The permission an op needs on its object, as xo-server's `resolve` names it. */
typedef enum { XO_PERM_OPERATE, XO_PERM_ADMINISTRATE } xo_perm_t;

/* The XO types an op's "id" may name. */
#define XO_ON_VM            (1u << 0) /**< "VM" */
#define XO_ON_VM_SNAPSHOT   (1u << 1) /**< "VM-snapshot" */
#define XO_ON_VM_TEMPLATE   (1u << 2) /**< "VM-template" */
#define XO_ON_VM_CONTROLLER (1u << 3) /**< "VM-controller" (dom0) */
#define XO_ON_HOST          (1u << 4) /**< "host" */
#define XO_ON_POOL          (1u << 5) /**< "pool" */
#define XO_ON_TASK          (1u << 6) /**< "task": an XAPI task (the agent: task.get_by_uuid) */

#define XO_OP_NEEDS_CHANGE (1u << 0) /**< at least one argument besides "id" (vm.set) */
/** A step the gateway issues itself: no API method, no REST action. A transfer's steps, and
 *  console.open for /api/consoles/<id> (its arguments, a relay ticket, are the gateway's own). */
#define XO_OP_INTERNAL (1u << 1)

/** A REST action: POST /rest/v0/<collection of the op's targets>/<id>/actions/<action>
 *  (other REST routes of an op, such as PATCH or tags, are the REST API's:
 *  gateway/api/rest_actions.c). */
typedef struct {
    const char *action;
    const char *set_true; /**< a boolean argument the action sets (hard_shutdown: force), or NULL */
    const char *body;     /**< the member of an optional JSON body it reads, or NULL */
    const char *body_arg; /**< the argument that member becomes */
} xo_op_rest_t;

/** One row of the table. */
typedef struct {
    const char *name;            /**< "vm.start": the command's op and the JSON-RPC method */
    const char *summary;         /**< one sentence for --help and system.getMethodsInfo */
    xo_perm_t permission;        /**< needed on the object */
    unsigned targets;            /**< XO_ON_*: what "id" may name */
    unsigned flags;              /**< XO_OP_* */
    const xo_op_param_t *params; /**< terminated by a NULL name */
    const xo_op_rest_t *rest;    /**< terminated by a NULL action; NULL for none */
    const char *api_id;          /**< the API's name of "id" when not "id" (vm.copy: "vm") */
} xo_op_t;

/** The table, indexed by xo_op_id_t. */
extern const xo_op_t xo_ops[XO_OP_COUNT];

/** @brief The row of @p id, or NULL when out of range. */
const xo_op_t *xo_op_get(xo_op_id_t id);

/** @brief The row named @p name ("vm.start"), or NULL (also for NULL). */
const xo_op_t *xo_op_find(const char *name);

/** @brief The index of a row of xo_ops[]. */
xo_op_id_t xo_op_id(const xo_op_t *op);

/** @brief The parameter named @p name (any use), or NULL. */
const xo_op_param_t *xo_op_param(const xo_op_t *op, const char *name);

/** @brief The name of @p p in xo-server's API: the row's api_id for "id", else its name. */
const char *xo_op_param_api_name(const xo_op_t *op, const xo_op_param_t *p);

/** @brief "operate" or "administrate". */
const char *xo_perm_name(xo_perm_t perm);

/** @brief "string", "boolean", "boolean,string" or "array" (ajv's words in its messages). */
const char *xo_arg_type_name(xo_arg_type_t type);

/**
 * @brief The op and REST action named @p action ("hard_shutdown").
 * @param rest receives the action's entry (borrowed from the table); may be NULL.
 * @returns the op, or NULL when no op has that action.
 */
const xo_op_t *xo_op_find_rest(const char *action, const xo_op_rest_t **rest);

/** What is wrong with a set of arguments or parameters. */
typedef enum {
    XO_ARGS_OK,
    XO_ARGS_UNKNOWN,        /**< a member the op does not take */
    XO_ARGS_MISSING,        /**< a required member is absent */
    XO_ARGS_TYPE,           /**< a member of the wrong JSON type */
    XO_ARGS_TOO_SHORT,      /**< a string under its minimum length (API: empty) */
    XO_ARGS_TOO_LONG,       /**< a string over its maximum length */
    XO_ARGS_NOT_ALLOWED,    /**< a string outside the parameter's values */
    XO_ARGS_NO_CHANGE,      /**< XO_OP_NEEDS_CHANGE and no argument besides "id" */
    XO_ARGS_NOT_IMPLEMENTED /**< API: a parameter xo-server takes that the bus does not do */
} xo_args_problem_t;

/** The outcome of a check: the problem, the member concerned and a sentence. */
typedef struct {
    xo_args_problem_t problem;
    const xo_op_param_t *param; /**< borrowed from the table; NULL for UNKNOWN, NO_CHANGE */
    char name[72];              /**< the member concerned, "" for NO_CHANGE */
    char message[200];          /**< "args.force: expected a boolean" */
} xo_args_check_t;

/**
 * @brief Check a command's `args` as the agent receives them: exactly the op's XO_PARAM_ARG
 *        parameters, required ones present, each of its type and within its limits, and
 *        XO_OP_NEEDS_CHANGE honoured.
 * @param op a row (of xo_ops[] or a caller's own, as in the tests).
 * @param check receives the outcome (always set).
 * @returns XO_OK or XO_ERR_INVALID (detail in @p check).
 */
xo_err_t xo_op_check_args(const xo_op_t *op, json_object *args, xo_args_check_t *check);

/**
 * @brief Check xo-server API parameters (JSON-RPC params) as xo-server's ajv schema would,
 *        and translate them into command arguments: XO_PARAM_ARG members are copied,
 *        aliases copied under their argument's name, the others dropped or refused.
 *        Members are checked in their order, the required ones last (xo-server's order).
 *        API strings are non-empty unless XO_PARAM_EMPTY_OK; wire limits are not applied.
 * @param args an object that receives the arguments, "id" included (borrowed).
 * @returns XO_OK; XO_ERR_INVALID (UNKNOWN, MISSING, TYPE, TOO_SHORT) or XO_ERR_UNSUPPORTED
 *          (NOT_IMPLEMENTED), detail in @p check.
 */
xo_err_t xo_op_params_to_args(const xo_op_t *op, json_object *params, json_object *args,
                              xo_args_check_t *check);

/**
 * @brief The op's parameters as system.getMethodsInfo describes them:
 *        {"id":{"type":"string"},"force":{"type":"boolean","optional":true},...}.
 * @returns a new object (caller puts), or NULL on allocation failure.
 */
json_object *xo_op_params_info(const xo_op_t *op);

/**
 * @brief The op list for --help: one line per op, "  vm.stop  {id, force?}  Shut ...".
 * @returns the length written (truncated to @p size like snprintf).
 */
size_t xo_ops_help(char *buf, size_t size);

#endif
