/*
 * view_consumer.h - the Kafka side of the gateway: one thread that reads xo.objects and
 * xo.agents from the beginning (all partitions, explicit assignment, no group), applies
 * every record to the view under its write lock, and hands visible changes to the
 * notifier. It also reads xo.results from its end at start and hands every result to a
 * sink (the command bus, wired by main.c: the view does not know the bus). Malformed
 * records are counted and logged (rate limited), never fatal.
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
 * Receives one xo.results message value (borrowed for the call).
 * @locality consumer thread: must only queue and return.
 */
typedef void (*gw_result_sink_fn)(void *opaque, const void *value, size_t len);

/**
 * Receives one record of the tokens topic (borrowed for the call: key, value or NULL for
 * a tombstone, and the message for its headers).
 * @locality consumer thread: must only check, queue and return.
 */
typedef void (*gw_token_sink_fn)(void *opaque, const rd_kafka_message_t *m);

/** Counters (read from any thread; values are approximate while running). */
typedef struct {
    uint64_t records;   /**< messages consumed (both topics) */
    uint64_t objects;   /**< object records applied */
    uint64_t deletes;   /**< tombstones applied */
    uint64_t syncs;     /**< _sync markers */
    uint64_t agents;    /**< heartbeats */
    uint64_t malformed; /**< records refused (bad key, JSON, fields, record) */
    int64_t lag;        /**< messages behind the high watermarks (cached), -1 unknown */
    bool loaded;        /**< every partition reached its end once since start */
    int64_t load_ms;    /**< ms from start to loaded */
    int64_t started_ms; /**< wall clock at start */
    bool brokers_down;  /**< no broker connection is up (gw_consumer_kafka_link()) */
    int64_t applied_ms; /**< wall clock of the last record applied to the view, 0 none */
} gw_consumer_stats_t;

/**
 * @brief Create the consumer, assign every partition of both topics from the beginning,
 *        and start its thread.
 * @param cfg    config for the [kafka] pass-through (borrowed, must outlive the consumer)
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

/** @brief Copy the counters (any thread). */
void gw_consumer_stats(gw_consumer_t *c, gw_consumer_stats_t *st);

/**
 * @brief Broker connectivity as the consumer sees it (any thread): from librdkafka's
 *        all-brokers-down error at once, and from its statistics every second (which also
 *        say when a broker is back).
 */
void gw_consumer_kafka_link(gw_consumer_t *c, xo_kafka_link_t *out);

/**
 * @brief Apply one message to the view (exposed for tests and the fuzzer).
 * @locality consumer thread, view write lock held
 * @param is_objects true for xo.objects, false for xo.agents
 * @returns XO_OK or the reason the record was refused (detail in errstr)
 */
xo_err_t gw_consumer_apply(gw_view_t *view, gw_notify_t *notify, bool is_objects, const char *key,
                           size_t key_len, const char *value, size_t value_len, char *errstr,
                           size_t errstr_size);

#endif
