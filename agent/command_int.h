/*
 * command_int.h - internals shared by the command files, which depend downward only:
 * command_exec.c (the thread, Kafka side) uses command_ops.c (the executors, XAPI side),
 * and both report through command_result.c. Everything here belongs to the command thread
 * alone, except `a`, which is shared under the rules of agent.h.
 */
#ifndef XO_COMMAND_INT_H
#define XO_COMMAND_INT_H

#include <time.h>

#include "command_exec.h"
#include "console.h"
#include "command_verify.h"

#define CMD_MOD            "command"
#define CMD_TASK_POLL_MS   100   /**< longest task.get_record interval (event.from refused) */
#define CMD_TASK_WAIT_S    5.0   /**< event.from wait on a running task (a new call after) */
#define CMD_READBACK_MS    60000 /**< bound on reading back xo.results at start */
#define CMD_BATCH_MAX      64    /**< commands accepted with one flush and one commit */
#define CMD_COMMIT_WAIT_MS 10000 /**< wait for the broker's answer to a commit, then again */

typedef struct patch_worker patch_worker_t;
typedef struct cmd_pool cmd_pool_t;
typedef struct patch_watch patch_watch_t;
typedef struct cmd_tasks cmd_tasks_t;

/** A worker's task as the shared task watcher follows it (command_tasks.c). */
typedef struct {
    cmd_tasks_t *t;  /**< the watcher while it follows the task, else NULL */
    char ref[128];   /**< the task */
    uint64_t gen;    /**< the task's last change seen */
    uint64_t faults; /**< the watcher's failures when following began */
} cmd_task_follow_t;

struct agent_cmd {
    agent_t *a;                /**< shared; status under a->status_lock */
    xo_keyring_t *keys;        /**< owned: the gateway keys trusted to sign commands */
    xo_key_t *sign_key;        /**< this agent's key, signs every result it publishes: owned by
                                *   the command thread's context; read-only, so the patch
                                *   worker (joined before it is freed) signs with it too; a
                                *   transfer worker's context borrows its own handle
                                *   (xo_key_dup), since that worker may outlive this one; the
                                *   console relays (freed before it) sign with it too */
    cmd_replay_t *replay;      /**< owned */
    cmd_policy_t policy;       /**< borrows keys, replay, pool */
    char pool[64];             /**< copied from a->pool_uuid once known */
    int32_t partition;         /**< the pool's partition of xo.commands and xo.results */
    char group_id[256];        /**< consumer group of the committed offsets */
    xo_xapi_conn_t *xapi;      /**< own connection: xo_xapi_conn_t is not thread-safe */
    char session[128];         /**< own XAPI session (a credential: never logged) */
    xo_consumer_t *consumer;   /**< xo.commands, the pool's partition */
    xo_producer_t *results;    /**< owned by the command thread's context (copies borrow it):
                                *   xo.results without batching; NULL: a->producer */
    agent_console_t *consoles; /**< console relays (own threads); NULL when disabled */
    pthread_t thread;
    bool started;
    patch_worker_t *patch_worker; /**< owned: the thread of long patching commands */
    int concurrency;              /**< commands.concurrency: accepted commands not yet done */
    cmd_pool_t *workers;          /**< owned: the threads that run accepted commands */
    cmd_tasks_t *tasks;           /**< a worker's only, borrowed from its pool: the shared task
                                   *   watcher (NULL: each task followed by its own calls) */
    patch_watch_t *patch_watch;   /**< owned: hosts' missing patches on their records */
    bool patch_no_wait;           /**< set by the watch: a busy updater plugin is not waited for */
};

/** The outcome of one executed command, for the terminal result. */
typedef struct {
    json_object *result;  /**< success value (owned) */
    xo_xapi_error_t xerr; /**< failure: XAPI's code and params (cleared by the caller) */
    char reason[256];     /**< failure: human text */
    bool detached;        /**< another thread took the command and publishes its outcome (the
                           *   console relays, the patch worker, a transfer worker) */
    char done_task[128];  /**< an ended XAPI task that cmd_execute() destroys once the outcome
                           *   is published (cmd_run_async_last), or "" */
    bool started;         /**< an Async.* call created its task (something may have run) */
} cmd_outcome_t;

/* patch_worker.c (the worker slot's life follows the command thread's) */
patch_worker_t *patch_worker_new(void);
/** Waits for a running job (it ends soon once agent_stop is set). */
void patch_worker_free(patch_worker_t *w);
/** Whether an installation or a rolling update runs on the worker. */
bool patch_worker_busy(patch_worker_t *w);
/* patch_watch.c: hosts' missing patches kept on their records (docs/patching.md) */
patch_watch_t *patch_watch_new(void);
void patch_watch_free(patch_watch_t *w);
/** On the command thread between commands: check at most one host when due. */
void patch_watch_tick(agent_cmd_t *c, patch_watch_t *w);
/* patch_cache.c: at the agent's end, forget the catalogue and the listings it remembers */
void patch_cache_free(void);
/* patch_rolling.c */
/** At start: a rolling update that a previous agent left unfinished (its checkpoint in the
 *  pool's other_config) goes on, on the patch worker, under its command id. */
void patch_rolling_resume(agent_cmd_t *c);

/* command_pool.c: accepted commands run on up to commands.concurrency worker threads, those
 * on one object one after another in arrival order */
/** Start @p n workers, each on a copy of @p c with its own XAPI connection; NULL on failure. */
/** @brief @p ts = CLOCK_MONOTONIC now + @p ms (the clock of the pool's and the task
 *         watcher's condition variables). Inline: both files use it, neither owns it. */
static inline void cmd_deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

cmd_pool_t *cmd_pool_new(const agent_cmd_t *c, int n);
/** Join the workers (agent_stop set first); accepted commands not started are dropped. */
void cmd_pool_free(cmd_pool_t *p);
/** Wait up to @p ms until fewer than n accepted commands are unfinished; how many more
 *  can be accepted now (0: still full). */
int cmd_pool_wait_room(cmd_pool_t *p, int ms);
/** Queue an accepted command on object @p key ("" or NULL: no order); takes @p cmd's message
 *  (*cmd is zeroed). Call only after cmd_pool_wait_room said there is room. */
void cmd_pool_submit(cmd_pool_t *p, cmd_t *cmd, const char *key);
/** Wait until no command on @p key waits or runs (or the agent stops). */
void cmd_pool_wait_idle(cmd_pool_t *p, const char *key);
/** Run an accepted command on context @p c and publish its outcome (unless handed over). */
void cmd_execute(agent_cmd_t *c, const cmd_t *cmd);

/* command_tasks.c: one event.from on the task class for every worker's task */
/** Start the watcher on @p xapi (taken, even on failure) calling with @p session (copied:
 *  the command thread's); NULL on failure (workers then follow their own tasks). */
cmd_tasks_t *cmd_tasks_new(agent_t *a, xo_xapi_conn_t *xapi, const char *session);
/** Join the watcher (after the workers); logs out its session unless it is @p borrowed. */
void cmd_tasks_free(cmd_tasks_t *t, const char *borrowed_session);
/** Begin following @p task through the watcher; false (and f->t NULL) when the watcher cannot
 *  now: the caller follows the task itself. */
bool cmd_tasks_follow(cmd_tasks_t *t, cmd_task_follow_t *f, const char *task);
/** The task's latest record once it changed past what @p f saw: *rec a new object (caller
 *  puts), or NULL after @p ms without a change (or when the agent stops). XO_ERR_INVALID:
 *  the task was destroyed; XO_ERR_UNSUPPORTED: the watcher failed since following began
 *  (cmd_tasks_unfollow, then follow the task itself). */
xo_err_t cmd_tasks_wait(cmd_task_follow_t *f, int ms, json_object **rec);
/** Stop following (no-op when not following). */
void cmd_tasks_unfollow(cmd_task_follow_t *f);

/* command_result.c */
/** The terminal result of a command that ran: success with out->result, or failure with
 *  XAPI's code (AGENT_STOPPED / XAPI_UNREACHABLE when none); logged and counted. */
void cmd_publish_outcome(agent_cmd_t *c, const cmd_t *cmd, xo_err_t err, cmd_outcome_t *out);
/** Publish one result on xo.results (key = id). @p state accepted|progress|success|... */
xo_err_t cmd_publish(agent_cmd_t *c, const char *id, const char *state, double progress,
                     json_object *result, const char *code, json_object *params,
                     const char *reason);

/**
 * The console relays' report (console.h's console_report_fn, opaque = the agent_cmd_t):
 * success / failure / closed of a console.open on xo.results. Relay thread; only reads
 * what the command thread set before starting it.
 */
void cmd_console_report(void *opaque, const char *cmd_id, const char *state, json_object *result,
                        const char *code, const char *reason, int64_t bytes);
/** A `progress` result with the bytes moved so far, and a reason ("queued") or NULL;
 *  callable from any thread on a context of its own (transfer workers). */
xo_err_t cmd_publish_bytes(agent_cmd_t *c, const char *id, double progress, uint64_t bytes,
                           const char *reason);

/** A `progress` result with the bytes moved so far and a description of the step as its
 *  `result` (borrowed; pool.installPatches: {step, host, patch, downloaded, uploaded}). */
xo_err_t cmd_publish_progress(agent_cmd_t *c, const char *id, double progress, uint64_t bytes,
                              json_object *result);

/* command_ops.c */
/**
 * Run a verified command on XAPI: resolve the VM, run the op's executor (Async.VM.* and its
 * task, publishing progress), return the outcome.
 * @returns XO_OK (success) or the error (outcome filled).
 */
xo_err_t cmd_run(agent_cmd_t *c, const cmd_t *cmd, cmd_outcome_t *out);
/** True when this agent has an executor for @p op (every row of the op table should). */
bool cmd_can_run(cmd_op_t op);

/* command_xapi.c: XAPI for the executors, on the context's own connection and session */
/** A new connection to xapi.url with the agent's XAPI settings, aborted by agent_stop. */
xo_err_t cmd_open_xapi(agent_cmd_t *c, char *errstr, size_t errstr_size);
/** Log in (own connection), retrying with backoff until it works or the agent stops. */
xo_err_t cmd_login(agent_cmd_t *c);
/** The ref of the @p cls ("VM", "task") whose uuid is @p uuid, logging in again once when
 *  the session or the master was lost. */
xo_err_t cmd_resolve(agent_cmd_t *c, const char *cls, const char *uuid, char *ref, size_t size,
                     cmd_outcome_t *out);
/** The VDIs behind a VM's Disk VBDs (not CD drives); a new array, or NULL. */
json_object *cmd_disk_vdis(agent_cmd_t *c, const char *vm, cmd_outcome_t *out);
/** Destroy each of @p vdis that no VM uses any more (xo-server's deleteDisks). */
void cmd_destroy_unused(agent_cmd_t *c, const cmd_t *cmd, json_object *vdis);
/** One XAPI call on the command session; @p params is taken; *value is the caller's. */
xo_err_t cmd_call(agent_cmd_t *c, const char *method, json_object *params, json_object **value,
                  cmd_outcome_t *out);
/** A call whose answer is a string (a ref, a uuid), copied into @p buf. */
xo_err_t cmd_call_str(agent_cmd_t *c, const char *method, json_object *params, char *buf,
                      size_t size, cmd_outcome_t *out);
/** Async.<method>(params) and its task (progress published, task destroyed); *result is
 *  the task's result text (caller frees) on success. @p params is taken. */
xo_err_t cmd_run_async(agent_cmd_t *c, const cmd_t *cmd, const char *method, json_object *params,
                       char **result, cmd_outcome_t *out);
/** The same for the command's last XAPI call: its ended task is left in out->done_task for
 *  cmd_execute() to destroy after publishing the outcome (a person waits for that outcome,
 *  not for the clean-up). */
xo_err_t cmd_run_async_last(agent_cmd_t *c, const cmd_t *cmd, const char *method,
                            json_object *params, char **result, cmd_outcome_t *out);
/** task.destroy, its error ignored (the task ended; XAPI also expires tasks itself). */
void cmd_destroy_task(agent_cmd_t *c, const char *task);
/** Best effort clean-up: VM.destroy @p vm, then its disk VDIs no other VM uses (a
 *  temporary snapshot, a half copy). Failures are logged, never returned. */
void cmd_destroy_vm_and_disks(agent_cmd_t *c, const cmd_t *cmd, const char *vm);

/* transfer.c: the two steps of a copy across pools (docs/streaming.md) */
/** vm.importPrepare: check the SR, remember the single-use ticket; the result is
 *  {endpoint, fingerprint}. */
xo_err_t cmd_op_import_prepare(agent_cmd_t *c, const cmd_t *cmd, const char *vm,
                               cmd_outcome_t *out);
/** vm.exportTo: hand the transfer to a worker thread (out->detached): its outcome comes
 *  later, with progress and bytes, from that worker. */
xo_err_t cmd_op_export_to(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out);
xo_err_t cmd_op_export_relay(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out);
/** vm.importRelay: hand vm.import's upload to a worker thread (out->detached): the
 *  gateway's relay into PUT /import; the worker publishes the new VM's uuid. */
xo_err_t cmd_op_import_relay(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out);

/* command_copy.c */
/** vm.copy within the pool: VM.copy of the VM, or of a temporary snapshot of a running VM
 *  (destroyed afterwards, as xo-server does); the result is the new VM's uuid. */
xo_err_t cmd_op_copy(agent_cmd_t *c, const cmd_t *cmd, const char *vm, cmd_outcome_t *out);

#endif
