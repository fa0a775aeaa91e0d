/*
 * mock_kafka.h - librdkafka's mock cluster (a real Kafka-protocol broker in this process,
 * on loopback) with the contract's xo.objects topic, for unit tests that read Kafka back;
 * and a way to seed it with records as an earlier agent run would have left them.
 */
#ifndef XO_TEST_MOCK_KAFKA_H
#define XO_TEST_MOCK_KAFKA_H

#include <stdbool.h>
#include <stdint.h>

#include "xo_kafka.h"

#define MOCK_KAFKA_PARTITIONS 6 /**< of xo.objects */

typedef struct mock_kafka mock_kafka_t;

/** @brief Start a one-broker cluster with xo.objects. @returns NULL on failure. */
mock_kafka_t *mock_kafka_start(void);
void mock_kafka_stop(mock_kafka_t *k);
/** @brief host:port list for bootstrap.servers; borrowed. */
const char *mock_kafka_bootstrap(const mock_kafka_t *k);

/**
 * @brief Produce one xo.objects record and wait for its delivery.
 * @param value NULL for a tombstone (sent with header xo-op: del).
 * @returns XO_OK or the producer's error.
 */
xo_err_t mock_kafka_seed(mock_kafka_t *k, int32_t partition, const char *key, const char *value);

#endif
