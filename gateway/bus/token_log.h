/*
 * token_log.h - authentication tokens shared by every gateway and kept across restarts:
 * the tokens topic (<prefix>tokens, compacted) holds one record per token, keyed by the
 * hex SHA-256 of the token (never the token itself), valued {v, user, expires, issued},
 * signed with a gateway key (headers xo-sig over "<key>\n<value>", xo-key); a deleted token
 * is a signed tombstone (xo-sig over "<key>\n"). Every gateway reads the topic from the
 * beginning and applies what verifies to its users' token table (users.h); a record that
 * does not verify is refused and counted: a Kafka writer without a gateway key cannot
 * mint a token. docs/topics.md ("xo.tokens") and docs/security.md say why and what not.
 *
 * Threads: publish from the service thread (producer, never waits); records arrive on the
 * consumer thread (gw_token_log_push: verify, queue) and are applied on the service thread
 * (gw_token_log_drain), which users.c calls before it answers about a token.
 */
#ifndef GW_TOKEN_LOG_H
#define GW_TOKEN_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "xo_config.h"
#include "xo_error.h"
#include "xo_kafka.h"

typedef struct gw_token_log gw_token_log_t;

typedef struct {
    const char *private_key; /**< PEM file that signs records (tokens.private_key or
                                  commands.private_key); NULL: tokens stay local */
    const char *public_keys; /**< comma-separated PEM files of other gateways' keys, or NULL */
} gw_token_log_settings_t;

/** Why a record of the tokens topic was refused. */
typedef enum {
    GW_TOKREC_BAD_KEY = 0, /**< the key is not 64 hex digits (a SHA-256) */
    GW_TOKREC_TOO_LARGE,   /**< value empty or over GW_TOKEN_MAX_VALUE bytes */
    GW_TOKREC_SIGNATURE,   /**< unsigned, unknown key, or the signature does not verify */
    GW_TOKREC_MALFORMED,   /**< signed, but not a v1 token value */
    GW_TOKREC_REASON_COUNT
} gw_token_refusal_t;

/** Largest value of a token record (a live token's is about 100 bytes). */
#define GW_TOKEN_MAX_VALUE 1024

/** @brief The reason's name for logs and metrics ("signature", ...). Static. */
const char *gw_token_refusal_name(gw_token_refusal_t r);

/** Counters (any thread). */
typedef struct {
    uint64_t published;                          /**< records and tombstones queued to Kafka */
    uint64_t applied;                            /**< verified records applied */
    uint64_t refused;                            /**< records refused, all reasons */
    uint64_t refused_by[GW_TOKREC_REASON_COUNT]; /**< records refused, by reason */
} gw_token_log_stats_t;

/**
 * @brief Create the log: load the keys and a producer for the tokens topic.
 * @param cfg [kafka] pass-through (borrowed, must outlive the log)
 * @returns XO_OK (also without a private key: gw_token_log_enabled() is then false),
 *          XO_ERR_CONFIG (unreadable key), XO_ERR_KAFKA, XO_ERR_NOMEM.
 */
xo_err_t gw_token_log_new(const gw_token_log_settings_t *s, const xo_config_t *cfg,
                          const xo_topics_t *topics, gw_token_log_t **out, char *errstr,
                          size_t errstr_size);

/** @brief True when tokens are shared through the topic. */
bool gw_token_log_enabled(const gw_token_log_t *tl);

/**
 * @brief Publish a token (expires_ms > 0) or its deletion (user_id NULL, expires_ms 0).
 * @locality service thread; never waits (a failed delivery is logged)
 */
void gw_token_log_publish(gw_token_log_t *tl, const unsigned char digest[32], const char *user_id,
                          int64_t issued_ms, int64_t expires_ms);

/**
 * @brief Check one record of the tokens topic (borrowed: key, value NULL for a tombstone,
 *        signature headers) and queue it when it passes, else count and log why not.
 *        Checks, in order: the key, the value's size, the signature, the value. Any
 *        partition is fine: the signature covers the key, and keys are not pools.
 * @locality consumer thread
 */
void gw_token_log_push_record(gw_token_log_t *tl, const xo_record_t *r);

/**
 * @brief gw_token_log_push_record() with an untyped log: the consumer's token sink
 *        (view_consumer.h gw_token_sink_fn).
 * @locality consumer thread
 */
void gw_token_log_push(void *tl, const xo_record_t *r);

/** Receives one verified token (expires_ms 0 and user_id NULL: deleted). */
typedef void (*gw_token_apply_fn)(void *opaque, const unsigned char digest[32], const char *user_id,
                                  int64_t expires_ms);

/** @brief Apply what was queued, in order. @locality service thread */
void gw_token_log_drain(gw_token_log_t *tl, gw_token_apply_fn apply, void *opaque);

void gw_token_log_stats(gw_token_log_t *tl, gw_token_log_stats_t *st);

/** @brief Flush for up to @p timeout_ms and free. NULL is allowed. */
void gw_token_log_free(gw_token_log_t *tl, int timeout_ms);

/**
 * @brief The signed text of a record (exposed for tests): "<key>\n<value>" into @p out.
 * @returns its length, or 0 if it does not fit.
 */
size_t gw_token_signed_text(const char *key, size_t key_len, const char *value, size_t value_len,
                            char *out, size_t out_size);

#endif
