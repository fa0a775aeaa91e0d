/*
 * view_consumer.h - the Kafka side of the gateway: one thread that reads xo.objects and
 * xo.agents from the beginning (all partitions, explicit assignment, no group), applies
 * every record to the view under its write lock, and hands visible changes to the
 * notifier. It also reads xo.results from its end at start and hands every result to a
 * sink (the command bus, wired by main.c: the view does not know the bus). Malformed
 * records are counted and logged (rate limited), never fatal.
 *
 * It does not trust the topics blindly: a record that is not on the partition its key's
 * pool maps to (docs/topics.md), or larger than limits.max_record_bytes, is refused and
 * counted; snapshot strings longer than limits.max_field_bytes are cut as the agents cut
 * them (docs/security.md, "What a Kafka writer can do"). xo.results records go to the sink
 * whole (value, headers, partition): the bus checks their signatures. So do the records of
 * the tokens topic (read from the beginning, part of "loaded"): the token log checks their
 * size and gateway signatures (bus/token_log.h).
 */
#ifndef GW_VIEW_CONSUMER_H
#define GW_VIEW_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "view/notify.h"
#include "view/view.h"
#include "xo_config.h"
#include "xo_kafka.h"

typedef struct gw_consumer gw_consumer_t;

/**
 * Receives one xo.results record: its value, its signature headers and where it was read
 * (rec->partitions is the topic's partition count), all borrowed for the call.
 * @locality consumer thread: must only check, queue and return.
 */
typedef void (*gw_result_sink_fn)(void *opaque, const xo_record_t *rec);

/**
 * Receives one record of the tokens topic: its key, value (NULL for a tombstone),
 * signature headers and where it was read, all borrowed for the call.
 * @locality consumer thread: must only check, queue and return.
 */
typedef void (*gw_token_sink_fn)(void *opaque, const xo_record_t *rec);

/** Counters (read from any thread; the consumer adds each batch's counts after its settle). */
typedef struct {
    uint64_t records;         /**< messages consumed (both topics) */
    uint64_t objects;         /**< object records applied */
    uint64_t deletes;         /**< tombstones applied */
    uint64_t syncs;           /**< _sync markers */
    uint64_t agents;          /**< heartbeats */
    uint64_t malformed;       /**< records refused (bad key, JSON, fields, record) */
    uint64_t wrong_partition; /**< records refused: not on their pool's partition */
    uint64_t too_large;       /**< records refused: over limits.max_record_bytes */
    uint64_t truncated;       /**< snapshot strings cut to limits.max_field_bytes */
    int64_t lag;              /**< messages behind the high watermarks (cached), -1 unknown */
    bool loaded;              /**< every partition reached its end once since start */
    int64_t load_ms;          /**< ms from start to loaded */
    int64_t started_ms;       /**< wall clock at start */
    bool brokers_down;        /**< no broker connection is up (gw_consumer_kafka_link()) */
    int64_t applied_ms;       /**< wall clock after the last batch applying a record, 0 none */
} gw_consumer_stats_t;

/**
 * @brief Create the consumer, assign every partition of both topics from the beginning,
 *        and start its thread.
 * @param cfg    config for the [kafka] pass-through and limits.max_record_bytes /
 *               limits.max_field_bytes (borrowed, must outlive the consumer)
 * @param topics topic names (copied)
 * @param view, notify borrowed, must outlive the consumer
 * @param on_result where xo.results messages go (@p result_opaque must outlive the
 *        consumer); NULL: xo.results is not read
 * @param on_token where the tokens topic's records go, read from the beginning and part of
 *        "loaded" (@p token_opaque must outlive the consumer); NULL: the topic is not read
 * @returns XO_OK, XO_ERR_CONFIG, XO_ERR_KAFKA (e.g. topic metadata unavailable: detail in
 *          errstr), XO_ERR_NOMEM.
 */
xo_err_t gw_consumer_start(const xo_config_t *cfg, const xo_topics_t *topics, gw_view_t *view,
                           gw_notify_t *notify, gw_result_sink_fn on_result, void *result_opaque,
                           gw_token_sink_fn on_token, void *token_opaque, gw_consumer_t **out,
                           char *errstr, size_t errstr_size);

/** @brief Stop the thread, close the consumer and free it. NULL is allowed. */
void gw_consumer_stop(gw_consumer_t *c);

/**
 * @brief Run @p hook once, when the view has first been loaded: on the consumer's thread,
 * or at once on the caller's if the view already is loaded.
 */
void gw_consumer_on_loaded(gw_consumer_t *c, void (*hook)(void));

/** @brief Copy the counters (any thread). */
void gw_consumer_stats(gw_consumer_t *c, gw_consumer_stats_t *st);

/** Limits applied to every xo.objects and xo.agents record (settings table). */
typedef struct {
    size_t max_record_bytes; /**< a larger value is refused (0: no cap) */
    size_t max_field_bytes;  /**< a longer snapshot string is cut as the agents cut it (0: none) */
} gw_record_limits_t;

/** What became of one record. */
typedef enum {
    GW_REC_APPLIED = 0,     /**< applied to the view (possibly with strings cut) */
    GW_REC_MALFORMED,       /**< bad key, JSON or fields, or the view refused it */
    GW_REC_WRONG_PARTITION, /**< not on the partition its key's pool maps to */
    GW_REC_TOO_LARGE,       /**< over max_record_bytes */
    GW_REC_VERDICT_COUNT
} gw_rec_verdict_t;

/** @brief The verdict's name for logs and metrics ("wrong_partition", ...). Static. */
const char *gw_rec_verdict_name(gw_rec_verdict_t v);

/**
 * @brief Broker connectivity as the consumer sees it (any thread): from librdkafka's
 *        all-brokers-down error at once, and from its statistics every second (which also
 *        say when a broker is back).
 */
void gw_consumer_kafka_link(gw_consumer_t *c, xo_kafka_link_t *out);

/**
 * @brief Check one record and apply it to the view (exposed for tests and the fuzzer).
 *        Checks, in order: the key; the size; the partition (the pool's for xo.objects,
 *        the whole key's for xo.agents; skipped when rec->partitions is 0); then the
 *        value, whose snapshot strings longer than lim->max_field_bytes are cut first.
 * @locality consumer thread, view write lock held
 * @param tok        a tokener from xo_msg_tokener_new() reused record after record
 *                   (borrowed; NULL: one made for this record)
 * @param lim        limits (NULL: none)
 * @param is_objects true for xo.objects, false for xo.agents
 * @param rec        the record (borrowed)
 * @param truncated  receives the number of strings cut
 * @returns GW_REC_APPLIED or why the record was refused (detail in errstr)
 */
gw_rec_verdict_t gw_consumer_apply(gw_view_t *view, gw_notify_t *notify, json_tokener *tok,
                                   const gw_record_limits_t *lim, bool is_objects,
                                   const xo_record_t *rec, unsigned *truncated, char *errstr,
                                   size_t errstr_size);

#endif
