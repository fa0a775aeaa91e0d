/*
 * result_trust.h - which agent keys the gateway trusts, for which pool, and the checks one
 * xo.results record must pass before the command bus believes it (docs/security.md,
 * "Results"). Anyone who can write to the results topic can write bytes there; only the
 * holder of an agent private key trusted for a pool can complete that pool's commands.
 *
 * The trust list is the setting commands.agent_keys: comma-separated POOL=PEM-PATH
 * entries; a pool may be listed with several keys (rotation), and one key for several
 * pools. The checks are pure (no I/O, no clock) so that tests and fuzzers drive them.
 * Thread-safe once built: read-only.
 */
#ifndef GW_RESULT_TRUST_H
#define GW_RESULT_TRUST_H

#include <json-c/json.h>
#include <stddef.h>

#include "xo_error.h"
#include "xo_kafka.h"

typedef struct gw_result_trust gw_result_trust_t;

/** Why a result is refused; GW_RES_OK when it passes. In check order. */
typedef enum {
    GW_RES_OK = 0,
    GW_RES_TOO_LARGE,         /**< value over the size cap */
    GW_RES_SIGNATURE_MISSING, /**< no xo-sig or no xo-key header */
    GW_RES_UNKNOWN_KEY,       /**< xo-key names no trusted agent key */
    GW_RES_SIGNATURE_INVALID, /**< the signature does not verify over the value bytes */
    GW_RES_MALFORMED,         /**< not a v1 result (checked after the signature) */
    GW_RES_KEY_NOT_FOR_POOL,  /**< a trusted key, but not for the result's pool */
    GW_RES_WRONG_PARTITION,   /**< not on the partition of the result's pool */
    GW_RES_WRONG_POOL,        /**< (command bus) the command it names is another pool's */
    GW_RES_VERDICT_COUNT
} gw_res_verdict_t;

/** @brief The verdict's name for logs and metrics ("signature_missing", ...). Static. */
const char *gw_res_verdict_name(gw_res_verdict_t v);

/**
 * @brief Build the trust list from a commands.agent_keys value (NULL or "" is empty).
 * @returns XO_OK; XO_ERR_CONFIG for an entry that is not POOL=PATH or a pool longer than 63
 *          bytes; XO_ERR_IO / XO_ERR_CRYPTO for a key file that cannot be read or is not
 *          Ed25519 (the entry named in errstr); XO_ERR_NOMEM.
 */
xo_err_t gw_result_trust_new(const char *spec, gw_result_trust_t **out, char *errstr,
                             size_t errstr_size);

/** @brief Number of (pool, key) entries. */
size_t gw_result_trust_count(const gw_result_trust_t *t);

/**
 * @brief Append to @p keys (a JSON array, borrowed) the raw base64 form (xo_key_public_b64)
 *        of every key trusted for @p pool, in the setting's order: what a destination agent
 *        needs to recognise that pool's agent on a transfer link (docs/streaming.md).
 * @returns the number appended (0 for an unknown pool, a NULL list, or no memory).
 */
size_t gw_result_trust_pool_keys(const gw_result_trust_t *t, const char *pool, json_object *keys);

/** @brief Free the list. NULL is allowed. */
void gw_result_trust_free(gw_result_trust_t *t);

/**
 * @brief Check one xo.results record, in the order of gw_res_verdict_t: size, headers,
 *        key, signature over the exact value bytes, then (parsing only signed bytes) the
 *        v1 result, the key's pool and the partition.
 * @param t         the trust list (an empty one refuses every record as unknown key)
 * @param rec       the record (borrowed); rec->partitions 0 skips the partition check
 * @param max_bytes largest value accepted (0: no cap)
 * @param parsed    on GW_RES_OK, the parsed result (caller puts); NULL otherwise
 * @param why       human detail for a refusal (may be NULL)
 */
gw_res_verdict_t gw_result_check(const gw_result_trust_t *t, const xo_record_t *rec,
                                 size_t max_bytes, json_object **parsed, char *why,
                                 size_t why_size);

#endif
