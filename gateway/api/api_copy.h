/*
 * api_copy.h - vm.copy across pools (docs/streaming.md): the gateway's two signed commands,
 * vm.importPrepare to the destination pool's agent, then, with its answer, vm.exportTo to
 * the source pool's agent, whose outcome answers the client. The bytes never pass here.
 */
#ifndef GW_API_COPY_H
#define GW_API_COPY_H

#include "bus/commands.h"
#include "gateway.h"

/** One copy across pools. Strings borrowed for the call. */
typedef struct {
    const char *vm;        /**< the VM's XO id */
    const char *vm_uuid;   /**< the uuid its agent resolves */
    const char *vm_pool;   /**< its pool */
    const char *sr;        /**< the destination SR's uuid (its XO id) */
    const char *sr_pool;   /**< the destination pool */
    const char *name;      /**< the copy's name_label, or NULL */
    json_object *compress; /**< xo-server's compress (boolean or string), or NULL */
} gw_copy_req_t;

/**
 * @brief Issue vm.importPrepare now; vm.exportTo follows when it succeeds, and the client
 *        waiting in @p w is answered with the export's outcome (the new VM's id), or with
 *        the first failure. @locality service thread
 * @returns 0 (then @p w will be answered), or -1 with @p err filled (nothing issued):
 *          the source pool has no agent known, commands disabled, Kafka refused.
 */
int gw_copy_across(gw_ctx_t *ctx, const gw_user_t *user, const gw_copy_req_t *req,
                   const gw_cmd_waiter_t *w, gw_xo_err_t *err);

#endif
