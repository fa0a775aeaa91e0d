/*
 * command_verify.h - the pure checks an xo.commands message must pass before the agent runs
 * it (signature against the keyring, JSON shape, pool, expiry, allowed op, arguments, replay
 * window), and the replay window itself. No I/O, no clock, no threads: the caller passes the
 * time, so every rejection can be unit-tested and fuzzed. The ops and their arguments come
 * from the shared op table (xo_ops.h). See docs/security.md.
 */
#ifndef XO_COMMAND_VERIFY_H
#define XO_COMMAND_VERIFY_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"
#include "xo_ops.h"
#include "xo_sign.h"
#include "xo_strmap.h"

#define CMD_ID_MAX       64     /**< longest accepted command id */
#define CMD_SKEW_DEFAULT 5000   /**< default clock-skew allowance between gateway and agent */
#define CMD_MAX_EXPIRY   300000 /**< default commands.max_expiry_ms */

/** An op: the index of its row in the shared op table (xo_ops.h). */
typedef xo_op_id_t cmd_op_t;

/** Outcome of the checks; every value but CMD_OK is a `rejected` reason code on xo.results. */
typedef enum {
    CMD_OK,
    CMD_SIGNATURE_MISSING, /**< no xo-sig or no xo-key header */
    CMD_SIGNATURE_INVALID, /**< the signature does not verify over the value bytes */
    CMD_UNKNOWN_KEY,       /**< xo-key names no configured public key */
    CMD_EXPIRED,           /**< now > expires + skew */
    CMD_WRONG_POOL,        /**< pool is not this agent's pool */
    CMD_REPLAYED,          /**< the id was already accepted within the replay window */
    CMD_OP_NOT_ALLOWED,    /**< unknown op, or not in commands.allowed_ops */
    CMD_MALFORMED,         /**< not a valid v1 command, or bad arguments for its op */
    CMD_EXPIRES_TOO_FAR    /**< expires - issued (or expires - now) beyond max_expiry_ms */
} cmd_verdict_t;

/** @brief The wire code of a verdict ("SIGNATURE_MISSING", ...); "OK" for CMD_OK. */
const char *cmd_verdict_code(cmd_verdict_t v);

/** @brief The op's name ("vm.start", ...), or NULL when out of range. */
const char *cmd_op_name(cmd_op_t op);

/** @brief Look an op name up in the op table. @returns XO_OK or XO_ERR_NOTFOUND. */
xo_err_t cmd_op_parse(const char *name, cmd_op_t *op);

/** @brief The mask of every op of the table (the default commands.allowed_ops). */
unsigned cmd_ops_all(void);

/**
 * @brief Parse a comma/space separated op list into a bit mask (1u << cmd_op_t).
 * @returns XO_OK; XO_ERR_CONFIG naming the unknown op in errstr.
 */
xo_err_t cmd_ops_mask(const char *list, unsigned *mask, char *errstr, size_t errstr_size);

/**
 * The replay window: ids of commands accepted recently, each kept until a deadline after
 * which its command is expired anyway (so a replay would be rejected as EXPIRED).
 * Not thread-safe (the command thread owns it).
 */
typedef struct cmd_replay cmd_replay_t;

/** @brief A new, empty window, or NULL on allocation failure. */
cmd_replay_t *cmd_replay_new(void);
void cmd_replay_free(cmd_replay_t *r);
/** @brief Remember @p id until @p until_ms (keeps the later deadline if already present). */
xo_err_t cmd_replay_add(cmd_replay_t *r, const char *id, int64_t until_ms);
/** @brief True when @p id is in the window. */
bool cmd_replay_seen(const cmd_replay_t *r, const char *id);
/** @brief Forget ids whose deadline is before @p now_ms. @returns how many were forgotten. */
size_t cmd_replay_evict(cmd_replay_t *r, int64_t now_ms);
size_t cmd_replay_count(const cmd_replay_t *r);

/** The agent's policy. All pointers borrowed. */
typedef struct {
    const xo_keyring_t *keys; /**< trusted gateway public keys */
    const char *pool;         /**< this agent's pool uuid */
    unsigned allowed_ops;     /**< mask of (1u << cmd_op_t) */
    int64_t max_expiry_ms;    /**< longest accepted lifetime; also the replay window */
    int64_t skew_ms;          /**< clock-skew allowance on both sides of the agent's clock */
    const cmd_replay_t *replay;
} cmd_policy_t;

/** A verified command. `msg` is owned (json_object_put it with cmd_fini); the rest borrow it. */
typedef struct {
    json_object *msg;
    const char *id, *pool, *user;
    cmd_op_t op;
    json_object *args;
    int64_t issued, expires;
} cmd_t;

/** @brief Release a cmd_t filled by cmd_check()/cmd_verify(). Safe on a zeroed one. */
void cmd_fini(cmd_t *c);

/**
 * @brief The signature checks only: headers present, key known, signature valid.
 * @param sig, key_id header values (may be NULL when absent), not NUL-terminated.
 * @returns CMD_OK, CMD_SIGNATURE_MISSING, CMD_UNKNOWN_KEY or CMD_SIGNATURE_INVALID.
 */
cmd_verdict_t cmd_check_signature(const cmd_policy_t *p, const void *value, size_t len,
                                  const void *sig, size_t sig_len, const void *key_id,
                                  size_t key_id_len, char *reason, size_t reason_size);

/**
 * @brief Every check after the signature: shape, pool, lifetime, expiry, op, args, replay.
 * @param out filled (and owning the parsed message) whenever the value parses as a v1
 *        command, even on a rejection, so the caller can report the id; cmd_fini() it.
 * @returns CMD_OK or the rejection; @p reason gets a human sentence.
 */
cmd_verdict_t cmd_check(const cmd_policy_t *p, const void *value, size_t len, int64_t now_ms,
                        cmd_t *out, char *reason, size_t reason_size);

/** @brief cmd_check_signature() then cmd_check(); @p out as for cmd_check(). */
cmd_verdict_t cmd_verify(const cmd_policy_t *p, const void *value, size_t len, const void *sig,
                         size_t sig_len, const void *key_id, size_t key_id_len, int64_t now_ms,
                         cmd_t *out, char *reason, size_t reason_size);

/**
 * @brief The id of a message that may be unsigned or malformed, for the `rejected` result:
 *        the "id" string of a JSON object value when it has one of at most CMD_ID_MAX
 *        characters, else "". Never trusted for anything but reporting.
 */
void cmd_peek_id(const void *value, size_t len, char *id, size_t id_size);

#endif
