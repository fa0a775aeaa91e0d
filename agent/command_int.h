/*
 * command_int.h - internals shared by the command files, which depend downward only:
 * command_exec.c (the thread, Kafka side) uses command_ops.c (the executors, XAPI side),
 * and both report through command_result.c. Everything here belongs to the command thread
 * alone, except `a`, which is shared under the rules of agent.h.
 */
#ifndef XO_COMMAND_INT_H
#define XO_COMMAND_INT_H

#include "command_exec.h"
#include "command_verify.h"

#define CMD_MOD          "command"
#define CMD_TASK_POLL_MS 100   /**< longest task.get_record interval while an Async call runs */
#define CMD_READBACK_MS  60000 /**< bound on reading back xo.results at start */

typedef struct patch_worker patch_worker_t;

struct agent_cmd {
    agent_t *a;              /**< shared; status under a->status_lock */
    xo_keyring_t *keys;      /**< owned: the gateway keys trusted to sign commands */
    xo_key_t *sign_key;      /**< owned: this agent's key, signs every result it publishes;
                              *   read-only, so the patch worker signs with it too */
    cmd_replay_t *replay;    /**< owned */
    cmd_policy_t policy;     /**< borrows keys, replay, pool */
    char pool[64];           /**< copied from a->pool_uuid once known */
    int32_t partition;       /**< the pool's partition of xo.commands and xo.results */
    char group_id[256];      /**< consumer group of the committed offsets */
    xo_xapi_conn_t *xapi;    /**< own connection: xo_xapi_conn_t is not thread-safe */
    char session[128];       /**< own XAPI session (a credential: never logged) */
    xo_consumer_t *consumer; /**< xo.commands, the pool's partition */
    pthread_t thread;
    bool started;
    patch_worker_t *patch_worker; /**< owned: the thread of long patching commands */
};

/** The outcome of one executed command, for the terminal result. */
typedef struct {
    json_object *result;  /**< success value (owned) */
    xo_xapi_error_t xerr; /**< failure: XAPI's code and params (cleared by the caller) */
    char reason[256];     /**< failure: human text */
    bool detached;        /**< a worker took the command and publishes its outcome */
} cmd_outcome_t;

/* patch_worker.c (the worker slot's life follows the command thread's) */
patch_worker_t *patch_worker_new(void);
/** Waits for a running job (it ends soon once agent_stop is set). */
void patch_worker_free(patch_worker_t *w);
/* patch_rolling.c */
/** At start: a rolling update that a previous agent left unfinished (its checkpoint in the
 *  pool's other_config) goes on, on the patch worker, under its command id. */
void patch_rolling_resume(agent_cmd_t *c);

/* command_result.c */
/** Publish one result on xo.results (key = id). @p state accepted|progress|success|... */
xo_err_t cmd_publish(agent_cmd_t *c, const char *id, const char *state, double progress,
                     json_object *result, const char *code, json_object *params,
                     const char *reason);

/* command_ops.c */
/** Log in (own connection), retrying with backoff until it works or the agent stops. */
xo_err_t cmd_login(agent_cmd_t *c);
/**
 * Run a verified command on XAPI: resolve the VM, run the op's executor (Async.VM.* and its
 * task, publishing progress), return the outcome.
 * @returns XO_OK (success) or the error (outcome filled).
 */
xo_err_t cmd_run(agent_cmd_t *c, const cmd_t *cmd, cmd_outcome_t *out);
/** True when this agent has an executor for @p op (every row of the op table should). */
bool cmd_can_run(cmd_op_t op);

#endif
