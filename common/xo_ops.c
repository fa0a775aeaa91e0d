/*
 * xo_ops.c - the op table (one row per command op) and the checks derived from it: the
 * agent's check of a command's args, the gateway's check of xo-server API params, the
 * getMethodsInfo description and the --help list. Pure functions of the table and their
 * inputs: must not log, allocate beyond the JSON asked for, or know about Kafka or XAPI.
 */
#include "xo_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(XO_OP_COUNT <= 32, "allow-lists are 32-bit masks of ops");

#define P_END                                                                                      \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL                                                      \
    }

/* "id": the object the op acts on; xo-server's object id, the VM's uuid on the wire. */
#define P_ID                                                                                       \
    {                                                                                              \
        "id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,                   \
            "the VM's uuid (xo-server's object id); the agent resolves it with VM.get_by_uuid"     \
    }

static const xo_op_param_t p_start[] = {
    P_ID,
    {"force", XO_ARG_BOOLEAN, XO_PARAM_NOT_TRUE, 0, NULL, 0, 0, NULL,
     "xo-server: start despite blocked operations (not on the command bus)"},
    {"host", XO_ARG_STRING, XO_PARAM_ARG, 0, NULL, 1, 64, NULL,
     "the uuid of the host to start on (VM.start_on); default: XAPI picks one"},
    {"bypassMacAddressesCheck", XO_ARG_BOOLEAN, XO_PARAM_IGNORED, 0, NULL, 0, 0, NULL,
     "xo-server: skip the duplicate MAC check (XAPI checks on start anyway)"},
    P_END};
static const xo_op_param_t p_force[] = {P_ID,
                                        {"force", XO_ARG_BOOLEAN, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
                                         "hard instead of clean (default false)"},
                                        P_END};
static const xo_op_param_t p_id[] = {P_ID, P_END};
static const xo_op_param_t p_snapshot[] = {
    P_ID,
    {"name", XO_ARG_STRING, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
     "the snapshot's name_label (default <name_label>_<ISO 8601 UTC time>)"},
    {"description", XO_ARG_STRING, XO_PARAM_NOT_IMPL, XO_PARAM_EMPTY_OK, NULL, 0, 0, NULL,
     "xo-server: the snapshot's name_description (not on the command bus)"},
    {"saveMemory", XO_ARG_BOOLEAN, XO_PARAM_NOT_TRUE, 0, NULL, 0, 0, NULL,
     "xo-server: a checkpoint with memory (not on the command bus)"},
    P_END};
static const xo_op_param_t p_delete[] = {
    P_ID,
    {"delete_disks", XO_ARG_BOOLEAN, XO_PARAM_ALIAS, 0, "deleteDisks", 0, 0, NULL,
     "xo-server's older name of deleteDisks"},
    {"deleteDisks", XO_ARG_BOOLEAN, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
     "also destroy the VM's disks that no other VM uses (default false)"},
    {"force", XO_ARG_BOOLEAN, XO_PARAM_IGNORED, 0, NULL, 0, 0, NULL,
     "xo-server: bypass blocked operations (XAPI refuses anyway)"},
    {"forceDeleteDefaultTemplate", XO_ARG_BOOLEAN, XO_PARAM_IGNORED, 0, NULL, 0, 0, NULL,
     "xo-server: allow deleting a default template (XAPI refuses anyway)"},
    P_END};
/* xo-server's tag.add / tag.remove take {tag, id}; here the object is a VM of any kind */
static const xo_op_param_t p_tag[] = {P_ID,
                                      {"tag", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL,
                                       1, 256, NULL, "the tag (VM.add_tags / VM.remove_tags)"},
                                      P_END};
static const xo_op_param_t p_set[] = {
    P_ID,
    {"name_label", XO_ARG_STRING, XO_PARAM_ARG, 0, NULL, 0, 0, NULL, "the new name"},
    {"name_description", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_EMPTY_OK, NULL, 0, 0, NULL,
     "the new description"},
    P_END};

/* vm.copy: xo-server names the VM `vm` (the row's api_id). */
static const xo_op_param_t p_copy[] = {
    P_ID,
    {"sr", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the destination SR's uuid (xo-server's object id); the agent resolves it with "
     "SR.get_by_uuid"},
    {"name", XO_ARG_STRING, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
     "the copy's name_label (default: the VM's name_label, as in xo-server)"},
    {"compress", XO_ARG_BOOLEAN_OR_STRING, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
     "across pools: the export's compression, read as xo-server's VM_export does (true or "
     "\"gzip\": gzip, \"zstd\": zstd, anything else none); unused within a pool"},
    P_END};

/* The two steps of a copy across pools (docs/streaming.md), issued by the gateway. */
#define P_TICKET                                                                                   \
    {                                                                                              \
        "ticket", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 64, 64, NULL,              \
            "the transfer's single-use ticket: 32 random bytes in hex, made by the gateway"        \
    }
static const xo_op_param_t p_import_prepare[] = {
    {"sr", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the SR's uuid the VM is imported to"},
    P_TICKET,
    {"source", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 128, NULL,
     "the agent id of the only source agent the ticket admits"},
    {"source_keys", XO_ARG_STRING_LIST, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 44, 44, NULL,
     "the public keys (raw Ed25519, base64; at most 8) the gateway trusts for the source "
     "pool's agent: the link's hello must be signed by one of them"},
    {"name", XO_ARG_STRING, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
     "the imported VM's name_label (default: the exported one)"},
    P_END};
static const xo_op_param_t p_export_to[] = {
    P_ID,
    {"endpoint", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 3, 300, NULL,
     "host:port of the destination agent's transfer listener (its vm.importPrepare result)"},
    {"fingerprint", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 64, 64, NULL,
     "SHA-256 (hex) of the destination's link certificate (its vm.importPrepare result)"},
    P_TICKET,
    {"compress", XO_ARG_BOOLEAN_OR_STRING, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
     "the export's compression, as vm.copy's"},
    P_END};

static const xo_op_param_t p_task[] = {
    {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the XAPI task's uuid (xo-server's object id); the agent resolves it with "
     "task.get_by_uuid"},
    P_END};

/* pool.listMissingPatches: xo-server's param is `host`; on the wire it is the op's "id". */
static const xo_op_param_t p_host_patches[] = {
    {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the host's uuid (xo-server's object id); the agent resolves it with host.get_by_uuid"},
    {"host", XO_ARG_STRING, XO_PARAM_ALIAS, 0, "id", 0, 0, NULL,
     "xo-server's name of the host parameter"},
    P_END};

/* pool.installPatches: xo-server's {pool?, hosts?, patches?}; "id" is the pool's uuid (the
 * gateway finds it from the hosts when only they are given). */
static const xo_op_param_t p_install_patches[] = {
    {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the pool's uuid (xo-server's object id); the agent checks it is its pool"},
    {"pool", XO_ARG_STRING, XO_PARAM_ALIAS, 0, "id", 0, 0, NULL,
     "xo-server's name of the pool parameter"},
    {"hosts", XO_ARG_STRING_LIST, XO_PARAM_ARG, 0, NULL, 1, 64, NULL,
     "uuids of the hosts to update (default: every host, the master first)"},
    {"patches", XO_ARG_STRING_LIST, XO_PARAM_ARG, 0, NULL, 1, 64, NULL,
     "XenServer: uuids of the catalogue's patches to install (default: every missing one)"},
    P_END};

/* pool.listPoolMissingPatches: the REST API's GET /pools/<id>/missing_patches. */
static const xo_op_param_t p_pool_patches[] = {
    {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the pool's uuid (xo-server's object id); the agent checks it is its pool"},
    P_END};

static const xo_op_param_t p_rolling_update[] = {
    {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the pool's uuid (xo-server's object id); the agent checks it is its pool"},
    {"pool", XO_ARG_STRING, XO_PARAM_ALIAS, 0, "id", 0, 0, NULL,
     "xo-server's name of the pool parameter"},
    {"bypassBackupCheck", XO_ARG_BOOLEAN, XO_PARAM_IGNORED, 0, NULL, 0, 0, NULL,
     "xo-server: skip its check of running backup jobs (the agents run none)"},
    P_END};

/* console.open: the ticket is 32 random bytes in base64url (no padding), the relay URL is
 * where the gateway that issued it listens for the agent (endpoint_console_relay.c). */
static const xo_op_param_t p_console_open[] = {
    P_ID,
    {"ticket", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 43, 43, NULL,
     "single-use relay ticket the agent presents to the gateway (base64url, 32 random bytes)"},
    {"relay", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 8, 512, NULL,
     "the relay URL of the gateway that issued it (ws:// or wss://.../api/console-relay/<id>)"},
    P_END};

/* vm.export's download: the VM's export streamed to the gateway's relay (docs/streaming.md) */
static const xo_op_param_t p_export_relay[] = {
    P_ID,
    {"ticket", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 43, 43, NULL,
     "single-use relay ticket the agent presents to the gateway (base64url, 32 random bytes)"},
    {"relay", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 8, 512, NULL,
     "the relay URL of the gateway that issued it (ws:// or wss://.../api/console-relay/<id>)"},
    {"compress", XO_ARG_BOOLEAN_OR_STRING, XO_PARAM_ARG, 0, NULL, 0, 0, NULL,
     "the export's compression, as vm.export's (true or \"gzip\": gzip, \"zstd\": zstd)"},
    P_END};
static const xo_op_param_t p_import_relay[] = {
    {"sr", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL,
     "the SR's uuid the VM is imported to"},
    {"ticket", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 43, 43, NULL,
     "single-use relay ticket the agent presents to the gateway (base64url, 32 random bytes)"},
    {"relay", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 8, 512, NULL,
     "the relay URL of the gateway that issued it (ws:// or wss://.../api/console-relay/<id>)"},
    P_END};

#define R_END                                                                                      \
    {                                                                                              \
        NULL, NULL, NULL, NULL                                                                     \
    }
static const xo_op_rest_t r_start[] = {{"start", NULL, "hostId", "host"}, R_END};
static const xo_op_rest_t r_stop[] = {
    {"clean_shutdown", NULL, NULL, NULL}, {"hard_shutdown", "force", NULL, NULL}, R_END};
static const xo_op_rest_t r_restart[] = {
    {"clean_reboot", NULL, NULL, NULL}, {"hard_reboot", "force", NULL, NULL}, R_END};
static const xo_op_rest_t r_suspend[] = {{"suspend", NULL, NULL, NULL}, R_END};
static const xo_op_rest_t r_resume[] = {{"resume", NULL, NULL, NULL}, R_END};
static const xo_op_rest_t r_pause[] = {{"pause", NULL, NULL, NULL}, R_END};
static const xo_op_rest_t r_unpause[] = {{"unpause", NULL, NULL, NULL}, R_END};
static const xo_op_rest_t r_snapshot[] = {{"snapshot", NULL, "name_label", "name"}, R_END};
static const xo_op_rest_t r_rolling_update[] = {{"rolling_update", NULL, NULL, NULL}, R_END};

#define ANY_VM (XO_ON_VM | XO_ON_VM_SNAPSHOT | XO_ON_VM_TEMPLATE)

/* Permissions and targets as xo-server's api/vm.mjs `resolve`. */
const xo_op_t xo_ops[XO_OP_COUNT] = {
    [XO_OP_VM_START] = {"vm.start", "Start a halted VM.", XO_PERM_OPERATE, XO_ON_VM, 0, p_start,
                        r_start, NULL},
    [XO_OP_VM_STOP] = {"vm.stop", "Shut a VM down: clean, or hard with force.", XO_PERM_OPERATE,
                       XO_ON_VM, 0, p_force, r_stop, NULL},
    [XO_OP_VM_RESTART] = {"vm.restart", "Reboot a VM: clean, or hard with force.", XO_PERM_OPERATE,
                          XO_ON_VM, 0, p_force, r_restart, NULL},
    [XO_OP_VM_SUSPEND] = {"vm.suspend", "Suspend a running VM.", XO_PERM_OPERATE, XO_ON_VM, 0, p_id,
                          r_suspend, NULL},
    [XO_OP_VM_RESUME] = {"vm.resume", "Resume a suspended VM.", XO_PERM_OPERATE, XO_ON_VM, 0, p_id,
                         r_resume, NULL},
    [XO_OP_VM_PAUSE] = {"vm.pause", "Pause a running VM.", XO_PERM_OPERATE, XO_ON_VM, 0, p_id,
                        r_pause, NULL},
    [XO_OP_VM_UNPAUSE] = {"vm.unpause", "Unpause a paused VM.", XO_PERM_OPERATE, XO_ON_VM, 0, p_id,
                          r_unpause, NULL},
    [XO_OP_VM_SNAPSHOT] = {"vm.snapshot", "Snapshot a VM; returns the snapshot's id.",
                           XO_PERM_OPERATE, XO_ON_VM, 0, p_snapshot, r_snapshot, NULL},
    [XO_OP_VM_DELETE] = {"vm.delete", "Destroy a VM (and its disks with delete_disks/deleteDisks).",
                         XO_PERM_ADMINISTRATE, ANY_VM, 0, p_delete, NULL, NULL},
    [XO_OP_VM_SET] = {"vm.set", "Change a VM's name_label and name_description.",
                      XO_PERM_ADMINISTRATE, ANY_VM, XO_OP_NEEDS_CHANGE, p_set, NULL, NULL},
    [XO_OP_VM_COPY] = {"vm.copy", "Copy a VM to an SR; returns the new VM's id.",
                       XO_PERM_ADMINISTRATE, ANY_VM, 0, p_copy, NULL, "vm"},
    [XO_OP_VM_IMPORT_PREPARE] = {"vm.importPrepare",
                                 "Across pools, destination: admit one transfer into an SR; "
                                 "returns the agent's endpoint and certificate fingerprint.",
                                 XO_PERM_OPERATE, 0, XO_OP_INTERNAL, p_import_prepare, NULL, NULL},
    [XO_OP_VM_EXPORT_TO] = {"vm.exportTo",
                            "Across pools, source: stream the VM's export to the destination "
                            "agent; returns the new VM's uuid.",
                            XO_PERM_ADMINISTRATE, ANY_VM, XO_OP_INTERNAL, p_export_to, NULL, NULL},
    [XO_OP_TASK_CANCEL] = {"task.cancel",
                           "Cancel an XAPI task (a VM transfer's export task also ends its "
                           "link and the import).",
                           XO_PERM_ADMINISTRATE, XO_ON_TASK, 0, p_task, NULL, NULL},
    [XO_OP_TAG_ADD] = {"tag.add", "Add a tag to a VM, snapshot, template or control domain.",
                       XO_PERM_ADMINISTRATE, ANY_VM | XO_ON_VM_CONTROLLER, 0, p_tag, NULL, NULL},
    [XO_OP_TAG_REMOVE] = {"tag.remove",
                          "Remove a tag from a VM, snapshot, template or control domain.",
                          XO_PERM_ADMINISTRATE, ANY_VM | XO_ON_VM_CONTROLLER, 0, p_tag, NULL, NULL},
    /* xo-server's api/pool.mjs: resolve {host: ['host', 'host', 'administrate']} */
    [XO_OP_POOL_LIST_MISSING_PATCHES] = {"pool.listMissingPatches",
                                         "List the patches or updates a host is missing.",
                                         XO_PERM_ADMINISTRATE, XO_ON_HOST, 0, p_host_patches, NULL,
                                         NULL},
    /* xo-server's api/pool.mjs: resolve {pool: ['pool', 'pool', 'administrate']} */
    [XO_OP_POOL_INSTALL_PATCHES] = {"pool.installPatches",
                                    "Install patches on a pool's hosts, the master first "
                                    "(refused while HA is on).",
                                    XO_PERM_ADMINISTRATE, XO_ON_POOL, 0, p_install_patches, NULL,
                                    NULL},
    [XO_OP_POOL_ROLLING_UPDATE] = {"pool.rollingUpdate",
                                   "Update and reboot a pool's hosts one by one, the master "
                                   "first, moving their VMs away and back; resumable.",
                                   XO_PERM_ADMINISTRATE, XO_ON_POOL, 0, p_rolling_update,
                                   r_rolling_update, NULL},
    [XO_OP_CONSOLE_OPEN] = {"console.open",
                            "Open a VM's RFB console and relay it to the gateway (ticket).",
                            XO_PERM_OPERATE, XO_ON_VM | XO_ON_VM_CONTROLLER, XO_OP_INTERNAL,
                            p_console_open, NULL, NULL},
    /* Xen Orchestra's REST API: GET /pools/<id>/missing_patches (no JSON-RPC method) */
    [XO_OP_POOL_LIST_POOL_MISSING_PATCHES] = {"pool.listPoolMissingPatches",
                                              "List the patches or updates a pool's hosts are "
                                              "missing, each once.",
                                              XO_PERM_ADMINISTRATE, XO_ON_POOL, XO_OP_INTERNAL,
                                              p_pool_patches, NULL, NULL},
    [XO_OP_VM_EXPORT_RELAY] = {"vm.exportRelay",
                               "vm.export's download: stream the VM's export (of a temporary "
                               "snapshot when it runs) to the gateway's relay (ticket).",
                               XO_PERM_ADMINISTRATE, XO_ON_VM | XO_ON_VM_SNAPSHOT, XO_OP_INTERNAL,
                               p_export_relay, NULL, NULL},
    [XO_OP_VM_IMPORT_RELAY] = {"vm.importRelay",
                               "vm.import's upload: read the XVA the gateway's relay carries "
                               "(ticket) into PUT /import on the SR; returns the new VM's uuid.",
                               XO_PERM_ADMINISTRATE, 0, XO_OP_INTERNAL, p_import_relay, NULL, NULL},
};

/* ------------------------------------------------------------------ lookups */

const xo_op_t *xo_op_get(xo_op_id_t id)
{
    return (unsigned)id < XO_OP_COUNT ? &xo_ops[id] : NULL;
}

const xo_op_t *xo_op_find(const char *name)
{
    for (int i = 0; name && i < XO_OP_COUNT; i++)
        if (strcmp(xo_ops[i].name, name) == 0)
            return &xo_ops[i];
    return NULL;
}

xo_op_id_t xo_op_id(const xo_op_t *op)
{
    return (xo_op_id_t)(op - xo_ops);
}

const xo_op_param_t *xo_op_param(const xo_op_t *op, const char *name)
{
    for (const xo_op_param_t *p = op->params; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

const char *xo_op_param_api_name(const xo_op_t *op, const xo_op_param_t *p)
{
    return op->api_id && strcmp(p->name, "id") == 0 ? op->api_id : p->name;
}

/* The parameter an API member names: by its API name ("vm" is vm.copy's "id"). */
static const xo_op_param_t *api_param_named(const xo_op_t *op, const char *name)
{
    for (const xo_op_param_t *p = op->params; p->name; p++)
        if (strcmp(xo_op_param_api_name(op, p), name) == 0)
            return p;
    return NULL;
}

const char *xo_perm_name(xo_perm_t perm)
{
    return perm == XO_PERM_ADMINISTRATE ? "administrate" : "operate";
}

const char *xo_arg_type_name(xo_arg_type_t type)
{
    switch (type) {
    case XO_ARG_BOOLEAN:
        return "boolean";
    case XO_ARG_BOOLEAN_OR_STRING:
        return "boolean,string";
    case XO_ARG_STRING_LIST:
        return "array";
    default:
        return "string";
    }
}

const xo_op_t *xo_op_find_rest(const char *action, const xo_op_rest_t **rest)
{
    for (int i = 0; action && i < XO_OP_COUNT; i++) {
        for (const xo_op_rest_t *r = xo_ops[i].rest; r && r->action; r++) {
            if (strcmp(r->action, action) == 0) {
                if (rest)
                    *rest = r;
                return &xo_ops[i];
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ checks */

static xo_err_t fail(xo_args_check_t *c, xo_args_problem_t problem, const xo_op_param_t *param,
                     const char *name, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static xo_err_t fail(xo_args_check_t *c, xo_args_problem_t problem, const xo_op_param_t *param,
                     const char *name, const char *fmt, ...)
{
    va_list ap;

    c->problem = problem;
    c->param = param;
    snprintf(c->name, sizeof(c->name), "%.64s", name);
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
    return problem == XO_ARGS_NOT_IMPLEMENTED ? XO_ERR_UNSUPPORTED : XO_ERR_INVALID;
}

static void check_ok(xo_args_check_t *c)
{
    memset(c, 0, sizeof(*c));
}

static bool type_is(const xo_op_param_t *p, json_object *v)
{
    bool b = json_object_is_type(v, json_type_boolean),
         s = json_object_is_type(v, json_type_string);
    size_t n;

    if (p->type != XO_ARG_STRING_LIST)
        return p->type == XO_ARG_BOOLEAN ? b : p->type == XO_ARG_STRING ? s : b || s;
    if (!json_object_is_type(v, json_type_array))
        return false;
    n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++)
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
            return false;
    return true;
}

/* The items of a wire list: how many, and each string's length. */
static xo_err_t check_list(const xo_op_param_t *p, json_object *v, xo_args_check_t *c)
{
    size_t n = json_object_array_length(v);

    if (n > XO_ARG_LIST_MAX)
        return fail(c, XO_ARGS_TOO_LONG, p, p->name, "args.%s: more than %d items", p->name,
                    XO_ARG_LIST_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)json_object_get_string_len(json_object_array_get_idx(v, i));
        if (len < p->min_len)
            return fail(c, XO_ARGS_TOO_SHORT, p, p->name, "args.%s[%zu]: shorter than %zu", p->name,
                        i, p->min_len);
        if (p->max_len && len > p->max_len)
            return fail(c, XO_ARGS_TOO_LONG, p, p->name, "args.%s[%zu]: longer than %zu", p->name,
                        i, p->max_len);
    }
    return XO_OK;
}

static bool in_values(const char *const *values, const char *s)
{
    for (; *values; values++)
        if (strcmp(*values, s) == 0)
            return true;
    return false;
}

/* One wire argument: type, then the string limits. */
static xo_err_t check_wire_value(const xo_op_param_t *p, json_object *v, xo_args_check_t *c)
{
    size_t len;

    if (!type_is(p, v))
        return fail(c, XO_ARGS_TYPE, p, p->name, "args.%s: expected %s %s", p->name,
                    p->type == XO_ARG_STRING_LIST ? "an" : "a", xo_arg_type_name(p->type));
    if (p->type == XO_ARG_STRING_LIST)
        return check_list(p, v, c);
    if (!json_object_is_type(v, json_type_string)) /* a boolean of XO_ARG_BOOLEAN_OR_STRING */
        return XO_OK;
    len = (size_t)json_object_get_string_len(v);
    if (len < p->min_len)
        return fail(c, XO_ARGS_TOO_SHORT, p, p->name, "args.%s: shorter than %zu", p->name,
                    p->min_len);
    if (p->max_len && len > p->max_len)
        return fail(c, XO_ARGS_TOO_LONG, p, p->name, "args.%s: longer than %zu", p->name,
                    p->max_len);
    if (p->values && !in_values(p->values, json_object_get_string(v)))
        return fail(c, XO_ARGS_NOT_ALLOWED, p, p->name, "args.%s: not an accepted value", p->name);
    return XO_OK;
}

static const xo_op_param_t *wire_arg(const xo_op_t *op, const char *name)
{
    const xo_op_param_t *p = xo_op_param(op, name);

    return p && p->use == XO_PARAM_ARG ? p : NULL;
}

/* "name_label, name_description": the optional arguments, for XO_OP_NEEDS_CHANGE. */
static void optional_args(const xo_op_t *op, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (const xo_op_param_t *p = op->params; p->name && n < size; p++)
        if (p->use == XO_PARAM_ARG && !(p->flags & XO_PARAM_REQUIRED))
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", p->name);
}

xo_err_t xo_op_check_args(const xo_op_t *op, json_object *args, xo_args_check_t *c)
{
    size_t given = 0;
    json_object *v;
    char list[128];

    check_ok(c);
    if (!json_object_is_type(args, json_type_object))
        return fail(c, XO_ARGS_TYPE, NULL, "args", "args: expected an object");
    for (const xo_op_param_t *p = op->params; p->name; p++) {
        if (p->use != XO_PARAM_ARG || !(p->flags & XO_PARAM_REQUIRED))
            continue;
        if (!json_object_object_get_ex(args, p->name, &v))
            return fail(c, XO_ARGS_MISSING, p, p->name, "args.%s: missing", p->name);
    }
    json_object_object_foreach(args, k, val)
    {
        const xo_op_param_t *p = wire_arg(op, k);
        if (!p)
            return fail(c, XO_ARGS_UNKNOWN, NULL, k, "args.%.64s: not an argument of %s", k,
                        op->name);
        if (check_wire_value(p, val, c) != XO_OK)
            return XO_ERR_INVALID;
        given += !(p->flags & XO_PARAM_REQUIRED);
    }
    if ((op->flags & XO_OP_NEEDS_CHANGE) && given == 0) {
        optional_args(op, list, sizeof(list));
        return fail(c, XO_ARGS_NO_CHANGE, NULL, "", "%s needs at least one of %s", op->name, list);
    }
    return XO_OK;
}

/* One API parameter: ajv's type and minLength, then what it becomes. */
static xo_err_t api_param(const char *api, const xo_op_param_t *p, json_object *v,
                          json_object *args, xo_args_check_t *c)
{
    if (!type_is(p, v))
        return fail(c, XO_ARGS_TYPE, p, api, "%s: expected %s %s", api,
                    p->type == XO_ARG_STRING_LIST ? "an" : "a", xo_arg_type_name(p->type));
    if (p->type == XO_ARG_STRING && !(p->flags & XO_PARAM_EMPTY_OK) &&
        json_object_get_string_len(v) == 0)
        return fail(c, XO_ARGS_TOO_SHORT, p, api, "%s: must not be empty", api);
    switch (p->use) {
    case XO_PARAM_ARG:
        json_object_object_add(args, p->name, json_object_get(v));
        return XO_OK;
    case XO_PARAM_ALIAS:
        json_object_object_add(args, p->alias_of, json_object_get(v));
        return XO_OK;
    case XO_PARAM_NOT_TRUE:
        if (!json_object_get_boolean(v))
            return XO_OK;
        return fail(c, XO_ARGS_NOT_IMPLEMENTED, p, api, "%s: true is not implemented", api);
    case XO_PARAM_NOT_IMPL:
        return fail(c, XO_ARGS_NOT_IMPLEMENTED, p, api, "%s: not implemented", api);
    default:
        return XO_OK;
    }
}

xo_err_t xo_op_params_to_args(const xo_op_t *op, json_object *params, json_object *args,
                              xo_args_check_t *c)
{
    json_object *v;
    xo_err_t err;

    check_ok(c);
    if (!json_object_is_type(params, json_type_object))
        return fail(c, XO_ARGS_TYPE, NULL, "params", "params: expected an object");
    json_object_object_foreach(params, k, val)
    {
        const xo_op_param_t *p = api_param_named(op, k);
        if (p && (p->flags & XO_PARAM_REQUIRED))
            continue; /* checked below, after the others, as xo-server does */
        if (!p)
            return fail(c, XO_ARGS_UNKNOWN, NULL, k, "%.64s: not a parameter of %s", k, op->name);
        err = api_param(k, p, val, args, c);
        if (err != XO_OK)
            return err;
    }
    for (const xo_op_param_t *p = op->params; p->name; p++) {
        const char *api = xo_op_param_api_name(op, p);
        if (!(p->flags & XO_PARAM_REQUIRED))
            continue;
        if (!json_object_object_get_ex(params, api, &v) &&
            json_object_object_get_ex(args, p->name, &v))
            continue; /* given under an alias (pool.listMissingPatches' `host`) */
        if (!v)
            return fail(c, XO_ARGS_MISSING, p, api, "%s: missing", api);
        err = api_param(api, p, v, args, c);
        if (err != XO_OK)
            return err;
    }
    return XO_OK;
}

/* ------------------------------------------------------------------ descriptions */

json_object *xo_op_params_info(const xo_op_t *op)
{
    json_object *o = json_object_new_object();

    for (const xo_op_param_t *p = op->params; o && p->name; p++) {
        json_object *d = json_object_new_object();
        if (!d) {
            json_object_put(o);
            return NULL;
        }
        if (p->type == XO_ARG_BOOLEAN_OR_STRING) { /* xo-server: type: ['boolean', 'string'] */
            json_object *t = json_object_new_array();
            json_object_array_add(t, json_object_new_string("boolean"));
            json_object_array_add(t, json_object_new_string("string"));
            json_object_object_add(d, "type", t);
        } else {
            json_object_object_add(d, "type", json_object_new_string(xo_arg_type_name(p->type)));
        }
        if (!(p->flags & XO_PARAM_REQUIRED))
            json_object_object_add(d, "optional", json_object_new_boolean(1));
        json_object_object_add(o, xo_op_param_api_name(op, p), d);
    }
    return o;
}

/* "id, force?": the op's wire arguments. */
static size_t wire_args(const xo_op_t *op, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (const xo_op_param_t *p = op->params; p->name && n < size; p++)
        if (p->use == XO_PARAM_ARG)
            n += (size_t)snprintf(buf + n, size - n, "%s%s%s", n ? ", " : "", p->name,
                                  p->flags & XO_PARAM_REQUIRED ? "" : "?");
    return n;
}

size_t xo_ops_help(char *buf, size_t size)
{
    size_t n = 0;
    char args[160];

    if (size)
        buf[0] = '\0';
    for (int i = 0; i < XO_OP_COUNT; i++) {
        wire_args(&xo_ops[i], args, sizeof(args));
        n += (size_t)snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0,
                              "  %-13s%s\n  %-13sargs: %s\n", xo_ops[i].name, xo_ops[i].summary, "",
                              args);
    }
    return n;
}
