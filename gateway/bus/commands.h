/*
 * commands.h - the gateway side of the signed command bus (docs/security.md): turn a client
 * action into one Ed25519-signed command on xo.commands (key = pool uuid, the pool's
 * partition), remember who waits for it, and answer that waiter when the command's
 * outcome arrives on xo.results, or with a timeout error once the agent can no longer run
 * it (expires + commands.clock_skew_ms; each `progress` result pushes that deadline to at
 * least now + commands.timeout_ms, so a long transfer that keeps reporting is waited
 * for). Keeps the latest state of the last
 * GW_CMD_MAX_TASKS commands for GET /rest/v0/tasks/<command-id>.
 *
 * Results are believed only when signed by an agent key trusted for the command's pool
 * (result_trust.h); every other result is refused, counted and never completes a command.
 *
 * Threads: gw_commands_push_result() is called by the results feed's thread (it checks,
 * parses and queues under a mutex, then wakes the service thread); everything else runs on
 * the service thread and never blocks on Kafka (sending only queues in librdkafka).
 * Never logs signatures or key material.
 */
#ifndef GW_COMMANDS_H
#define GW_COMMANDS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/result_trust.h"
#include "core/gw_buf.h"
#include "core/xo_errors.h"
#include "view/xo_objects.h"
#include "xo_config.h"
#include "xo_envelope.h"
#include "xo_kafka.h"
#include "xo_sign.h"

#define GW_CMD_MAX_TASKS                                                                           \
    10000                /**< commands remembered (pending + finished, oldest finished go first) */
#define GW_CMD_ID_LEN 36 /**< a UUID v4 in text */

/** Who waits for a command's outcome. */
typedef enum {
    GW_CMD_WAIT_NONE = 0, /**< nobody (REST 202): the outcome is only kept for GET tasks */
    GW_CMD_WAIT_WS,       /**< a JSON-RPC request on a WebSocket connection */
    GW_CMD_WAIT_HTTP,     /**< a REST request with ?sync=true */
    GW_CMD_WAIT_CONSOLE,  /**< a console session waiting for its console.open */
    GW_CMD_WAIT_CALL      /**< the gateway itself: `then` runs (a step of a longer workflow) */
} gw_cmd_wait_t;

struct gw_cmd_reply;

typedef struct gw_cmd_waiter {
    gw_cmd_wait_t kind;
    uint64_t conn;    /**< connection serial (transport/endpoint.h); 0 for none */
    char rpc_id[256]; /**< JSON text of the JSON-RPC id (WS) */
    bool admin;       /**< generic XAPI errors are detailed to admins only (as xo-server) */
    /** GW_CMD_WAIT_CALL: called once on the service thread with the outcome, or with NULL
     *  when the bus is freed first; it owns @p then_opaque from then on. It may submit. */
    void (*then)(void *then_opaque, const struct gw_cmd_reply *r);
    void *then_opaque;
} gw_cmd_waiter_t;

/** The answer to one waiter (all pointers borrowed for the duration of the callback). */
typedef struct gw_cmd_reply {
    const gw_cmd_waiter_t *waiter;
    const char *command_id;
    bool ok;
    const char *result_json; /**< ok: the result (`true`, or the snapshot's id as a string) */
    const gw_xo_err_t *err;  /**< !ok: the XO error */
} gw_cmd_reply_t;

/** Delivers a reply to its connection (service thread). The connection may be gone. */
typedef void (*gw_cmd_reply_cb)(void *opaque, const gw_cmd_reply_t *r);

/**
 * Where a built command goes: the Kafka producer by default; tests install their own.
 * Returns XO_OK once queued.
 */
typedef xo_err_t (*gw_cmd_send_fn)(void *opaque, const char *pool, int32_t partition,
                                   const char *value, size_t len, const char *sig_b64,
                                   const char *key_id, char *errstr, size_t errstr_size);

/** Settings (from the config table). */
typedef struct {
    const char *private_key; /**< PEM path, NULL: commands disabled */
    int64_t timeout_ms;      /**< expires - issued */
    int64_t skew_ms;         /**< extra wait after expires before answering a timeout */
    const char *agent_keys;  /**< commands.agent_keys: POOL=PEM,... trusted to sign results */
    size_t max_result_bytes; /**< largest xo.results value believed (0: no cap) */
} gw_cmd_settings_t;

typedef struct gw_commands gw_commands_t;

/**
 * @brief Create the command bus. With no private key it is created disabled (every submit
 *        answers an XO error). With a private key, commands.agent_keys must list at least
 *        one agent key (else no result could ever be believed). With @p cfg and @p topics
 *        it creates the producer and reads the partition count of xo.commands; with NULL
 *        ones (tests) nothing touches Kafka and @p partitions is used.
 * @returns XO_OK, XO_ERR_IO/XO_ERR_CRYPTO (key file), XO_ERR_CONFIG (no or bad agent
 *          keys), XO_ERR_KAFKA/XO_ERR_CONFIG (producer, metadata), XO_ERR_NOMEM. Detail in
 *          errstr.
 */
xo_err_t gw_commands_new(const gw_cmd_settings_t *set, const xo_config_t *cfg,
                         const xo_topics_t *topics, int32_t partitions, gw_commands_t **out,
                         char *errstr, size_t errstr_size);
void gw_commands_free(gw_commands_t *c);

/**
 * @brief Start reading xo.results (from its end now) on the bus's own consumer
 *        (result_feed.h), fetching only while commands are pending; results go through
 *        gw_commands_push_result(). Call once the wake function is installed. A no-op when
 *        the bus is disabled or already reads them.
 * @returns XO_OK, or the errors of gw_result_feed_start() with detail in @p errstr.
 */
xo_err_t gw_commands_read_results(gw_commands_t *c, const xo_config_t *cfg,
                                  const xo_topics_t *topics, char *errstr, size_t errstr_size);

/**
 * @brief Stop reading xo.results: after this no result is pushed and the wake function is
 *        no longer called, so whatever it wakes may be freed. Idempotent; NULL is a no-op.
 */
void gw_commands_stop_results(gw_commands_t *c);

/** @brief True when a private key is configured. */
bool gw_commands_enabled(const gw_commands_t *c);

/**
 * @brief Append the agent keys trusted for @p pool (commands.agent_keys) to the JSON array
 *        @p keys, in raw base64 form: a copy across pools hands them to the destination so
 *        that it admits only the source pool's agent (gw_result_trust_pool_keys).
 * @returns how many were appended.
 */
size_t gw_commands_pool_keys(const gw_commands_t *c, const char *pool, json_object *keys);

/** @brief Install the reply delivery (service thread) and the wake function (any thread). */
void gw_commands_set_reply(gw_commands_t *c, gw_cmd_reply_cb cb, void *opaque);
void gw_commands_set_wake(gw_commands_t *c, void (*wake)(void *), void *opaque);
/** @brief Replace the Kafka send (tests). */
void gw_commands_set_send(gw_commands_t *c, gw_cmd_send_fn fn, void *opaque);

/** One command to issue. All pointers borrowed. */
typedef struct {
    const char *op;    /**< "vm.start", ... (docs/topics.md) */
    json_object *args; /**< exactly the op's args, with `id` */
    const char *pool;  /**< pool uuid of the object */
    const char *vm;    /**< XO id of the VM (for error data and the task) */
    const char *user;  /**< XO user id */
    const char *email; /**< for logs */
} gw_cmd_req_t;

/**
 * @brief Build, sign and send one command, and register @p w as its waiter.
 * @locality service thread
 * @param id_out receives the command id
 * @returns 0, or -1 with @p err filled (commands disabled, table full, Kafka refused).
 *          The waiter is never answered when this fails.
 */
int gw_commands_submit(gw_commands_t *c, const gw_cmd_req_t *req, const gw_cmd_waiter_t *w,
                       char id_out[GW_CMD_ID_LEN + 1], gw_xo_err_t *err);

/**
 * @brief Hand one xo.results record to the service thread. It is checked here first
 *        (gw_result_check: signed by an agent key trusted for its pool, on that pool's
 *        partition); refused and malformed ones are counted, logged (rate limited) and
 *        dropped; unknown ids, and results naming another pool's command, are dropped later.
 * @locality the results feed's thread (any thread)
 */
void gw_commands_push_result(gw_commands_t *c, const xo_record_t *rec);

/** Resolves an XAPI ref of @p cls in @p pool to its XO id (NULL if unknown). */
typedef const char *(*gw_cmd_id_of_fn)(void *opaque, const char *pool, const char *cls,
                                       const char *ref);

/**
 * @brief Apply queued results (answer finished commands), answer expired ones with the
 *        timeout error, serve producer delivery reports.
 * @locality service thread; @p id_of is called with whatever lock the caller holds
 */
void gw_commands_service(gw_commands_t *c, int64_t now_ms, gw_cmd_id_of_fn id_of, void *opaque);

/**
 * @brief Answer @p w now with @p r (its waiter member is ignored): for a workflow that
 *        ends before its last command (a failed first step). @locality service thread
 */
void gw_commands_answer(gw_commands_t *c, const gw_cmd_waiter_t *w, const gw_cmd_reply_t *r);

/** @brief A connection closed: its waiters are forgotten (their commands still run). */
void gw_commands_forget_conn(gw_commands_t *c, uint64_t conn);

/**
 * @brief The REST task of a command: {id, href, properties, start, end?, status, state,
 *        progress, result | error}. @returns false when the id is not remembered.
 */
bool gw_commands_task_json(gw_commands_t *c, const char *id, gw_buf_t *out);

/** A command seen as a task (REST /tasks); every pointer borrowed from the table. */
typedef struct {
    const char *id, *op, *object, *user, *pool;
    const char *args_json; /**< the command's args */
    const char *state;     /**< pending, accepted, progress, success, failure, rejected, timeout */
    const char *result_json;               /**< success: the result, else NULL */
    const char *error_json;                /**< failure: {code, message, data}, else NULL */
    const char *step_json;                 /**< the latest step a progress result named, or NULL */
    int64_t issued, expires, end, updated; /**< ms since the epoch; end 0 while pending */
    double progress;                       /**< 0..1 */
    bool done;
    uint64_t version; /**< gw_commands_version() at its last change */
} gw_cmd_task_t;

/** @brief The task of a remembered command. @returns false when the id is unknown. */
bool gw_commands_task(gw_commands_t *c, const char *id, gw_cmd_task_t *out);

/** @brief Every remembered command, oldest slot first, until @p cb returns false. */
void gw_commands_foreach_task(gw_commands_t *c, bool (*cb)(void *opaque, const gw_cmd_task_t *t),
                              void *opaque);

/**
 * @brief Forget a finished command (DELETE /rest/v0/tasks/<id>).
 * @returns false when the id is unknown or the command still pending.
 */
bool gw_commands_forget(gw_commands_t *c, const char *id);

/** @brief A counter bumped by every change of a task (new, progress, end, forgotten). */
uint64_t gw_commands_version(const gw_commands_t *c);

/** Counters (service thread). */
typedef struct {
    uint64_t submitted, succeeded, failed, rejected, timed_out, results, malformed;
    uint64_t refused[GW_RES_VERDICT_COUNT]; /**< results not believed, by verdict */
    size_t pending;
    bool results_fetching; /**< the results consumer fetches (a command pending lately) */
} gw_cmd_stats_t;
void gw_commands_stats(gw_commands_t *c, gw_cmd_stats_t *st);

/* ---- pure helpers (unit-tested) ---- */

/**
 * @brief Encode and sign a command message.
 * @param value receives the value bytes (caller frees); sig receives the base64 signature.
 */
xo_err_t gw_cmd_encode(const xo_key_t *key, const xo_command_msg_t *m, char **value, size_t *len,
                       char sig[XO_SIG_B64_LEN + 1]);

/**
 * @brief The XO error for a failed or rejected command, as xo-server's
 *        XAPI_ERROR_TO_XO_ERROR gives it (docs/api.md "Errors of actions").
 * @param state "failure" or "rejected"
 * @param code, params, reason from the result (params may be NULL)
 * @param op, vm the command's op and VM id
 */
void gw_cmd_map_error(const char *state, const char *code, json_object *params, const char *reason,
                      const char *op, const char *pool, const char *vm, bool admin,
                      gw_cmd_id_of_fn id_of, void *opaque, gw_xo_err_t *err);

/** @brief A random UUID v4 (OpenSSL RAND_bytes). @returns XO_OK or XO_ERR_CRYPTO. */
xo_err_t gw_uuid4(char out[GW_CMD_ID_LEN + 1]);

#endif
