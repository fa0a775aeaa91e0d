/*
 * xo_kafka_stats.h - what librdkafka's statistics say about broker connectivity. librdkafka
 * has no call that answers "is any broker reachable?"; its statistics JSON (emitted every
 * statistics.interval.ms) lists every broker connection with its state. This module reads
 * that JSON and nothing else: it keeps no state and never touches a client handle.
 */
#ifndef XO_KAFKA_STATS_H
#define XO_KAFKA_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

/** Broker connections counted from one statistics report. */
typedef struct {
    int brokers;    /**< real brokers the client knows (bootstrap or learned; not logical ones) */
    int brokers_up; /**< of which with a connection in state UP */
} xo_kafka_brokers_t;

/**
 * @brief Count brokers and their connections in one librdkafka statistics report.
 *        Logical brokers (the group coordinator, source "logical") and the internal one
 *        are left out: they are second connections to a real broker, or none.
 * @param json the report as the stats callback receives it (borrowed, @p len bytes, not
 *             necessarily NUL-terminated)
 * @returns XO_OK, XO_ERR_PARSE (not JSON, or no "brokers" object), XO_ERR_NOMEM.
 */
xo_err_t xo_kafka_stats_brokers(const char *json, size_t len, xo_kafka_brokers_t *out);

/** Broker connectivity of a client as it last knew it (see xo_consumer_link()). */
typedef struct {
    bool reported;    /**< a statistics report or an all-brokers-down error has arrived */
    bool connected;   /**< at least one broker connection is up (true until told otherwise) */
    int brokers;      /**< as in xo_kafka_brokers_t, from the last report */
    int brokers_up;   /**< as in xo_kafka_brokers_t, from the last report */
    int64_t since_ms; /**< wall clock (ms) when connected last changed, 0 if it never did */
} xo_kafka_link_t;

#endif
