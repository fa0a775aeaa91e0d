/*
 * xo_kafka.h - the Kafka side of the topic contract on librdkafka: topic names, the
 * pool-to-partition function, an idempotent zstd producer with counted deliveries, and a
 * consumer that assigns partitions explicitly and reads from a chosen offset.
 *
 * Configuration order for every handle: our defaults, then the [kafka] pass-through
 * settings of the daemon's config, then the caller's `extra` pairs; settings the contract
 * depends on (enable.idempotence=true for producers) are forced last.
 * librdkafka's own logs are routed into xo_log (module "rdkafka").
 */
#ifndef XO_KAFKA_H
#define XO_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "xo_config.h"
#include "xo_error.h"
#include "xo_kafka_stats.h"

/**
 * @brief Build a librdkafka configuration in the order every handle uses: @p defaults,
 *        the [kafka] section of @p cfg, @p extra, then @p forced (each a NULL-terminated
 *        list of name, value pairs, or NULL), with librdkafka's logs routed into xo_log.
 * @param out the configuration (caller passes it to rd_kafka_new() or destroys it)
 * @returns XO_OK, XO_ERR_CONFIG (a property librdkafka refuses; named in errstr), XO_ERR_NOMEM.
 */
xo_err_t xo_kafka_conf_build(const xo_config_t *cfg, const char *const *defaults,
                             const char *const *extra, const char *const *forced,
                             rd_kafka_conf_t **out, char *errstr, size_t errstr_size);

/** The four topics of the contract, and the gateways' own tokens topic, with the
 *  configured prefix (default "xo."). */
typedef struct {
    char objects[128];  /**< compacted object changes */
    char agents[128];   /**< compacted agent heartbeats */
    char commands[128]; /**< signed commands */
    char results[128];  /**< command progress and outcomes */
    char tokens[128];   /**< the gateways' authentication tokens (hashed, signed) */
} xo_topics_t;

/** @brief Fill @p t from @p prefix (NULL means "xo."). @returns XO_ERR_INVALID if too long. */
xo_err_t xo_topics_init(xo_topics_t *t, const char *prefix);

/**
 * @brief Kafka's murmur2 hash (the Java client's Utils.murmur2, seed 0x9747b28c).
 */
int32_t xo_murmur2(const void *data, size_t len);

/**
 * @brief The partition of a pool on every topic: (murmur2(pool_uuid) & 0x7fffffff) % count,
 *        i.e. the partition Kafka's default partitioner picks for the key <pool_uuid>.
 *        Stable across versions; documented in docs/topics.md with a test vector.
 * @returns the partition, or -1 when partition_count <= 0.
 */
int32_t xo_pool_partition(const char *pool_uuid, int32_t partition_count);

/** A message header (name borrowed, value borrowed, len bytes). */
typedef struct {
    const char *name;
    const void *value;
    size_t len;
} xo_kafka_header_t;

/** Delivery counters of a producer. */
typedef struct {
    uint64_t produced;  /**< accepted into the local queue */
    uint64_t delivered; /**< acknowledged by the broker */
    uint64_t failed;    /**< permanently failed deliveries */
    int in_queue;       /**< messages and requests still waiting (rd_kafka_outq_len) */
} xo_producer_stats_t;

/** Called (from xo_producer_poll's thread) for every delivery report. */
typedef void (*xo_delivery_cb)(const rd_kafka_message_t *msg, void *opaque);

typedef struct xo_producer xo_producer_t;

/**
 * @brief Create an idempotent, zstd-compressing producer.
 * @param cfg   daemon config for the [kafka] pass-through, or NULL.
 * @param extra NULL-terminated list of name, value pairs applied after cfg, or NULL.
 * @returns XO_OK, XO_ERR_CONFIG (a property librdkafka refuses; named in errstr),
 *          XO_ERR_KAFKA, XO_ERR_NOMEM.
 */
xo_err_t xo_producer_new(const xo_config_t *cfg, const char *const *extra, xo_producer_t **out,
                         char *errstr, size_t errstr_size);

/** @brief Set a callback for each delivery report (counting happens regardless). */
void xo_producer_set_delivery_cb(xo_producer_t *p, xo_delivery_cb cb, void *opaque);

/**
 * @brief Queue one message. @p value NULL makes a tombstone.
 * @returns XO_OK; XO_ERR_LIMIT when the local queue is full (back-pressure: poll and retry
 *          or stop reading input); XO_ERR_KAFKA otherwise (detail in errstr).
 */
xo_err_t xo_producer_send(xo_producer_t *p, const char *topic, int32_t partition, const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          const xo_kafka_header_t *headers, size_t n_headers, char *errstr,
                          size_t errstr_size);

/** @brief Serve delivery reports and callbacks for up to @p timeout_ms. */
void xo_producer_poll(xo_producer_t *p, int timeout_ms);

/**
 * @brief Wait until every queued message is delivered or failed.
 * @returns XO_OK, or XO_ERR_TIMEOUT with messages still queued.
 */
xo_err_t xo_producer_flush(xo_producer_t *p, int timeout_ms);

void xo_producer_stats(xo_producer_t *p, xo_producer_stats_t *st);

/** @brief True while librdkafka reports that no broker is reachable. */
bool xo_producer_brokers_down(const xo_producer_t *p);

/** @brief The underlying handle (borrowed), for metadata queries. */
rd_kafka_t *xo_producer_handle(xo_producer_t *p);

/** @brief Flush for up to @p timeout_ms, then destroy. NULL is allowed. */
void xo_producer_free(xo_producer_t *p, int timeout_ms);

/**
 * @brief Number of partitions of @p topic, from broker metadata.
 * @returns XO_OK, XO_ERR_NOTFOUND (no such topic), XO_ERR_TIMEOUT, XO_ERR_KAFKA.
 */
xo_err_t xo_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, int32_t *count,
                                  char *errstr, size_t errstr_size);

typedef struct xo_consumer xo_consumer_t;

/**
 * @brief Create a consumer. Auto-commit and offset store are off; partition EOF events
 *        are on (a read reports RD_KAFKA_RESP_ERR__PARTITION_EOF at the end of a partition).
 *        It tracks broker connectivity (xo_consumer_link()) from librdkafka's
 *        all-brokers-down error and, when @p extra or the config set
 *        statistics.interval.ms, from every statistics report; both are served by
 *        xo_consumer_poll().
 * @param group_id consumer group for committed offsets, or NULL for none.
 */
xo_err_t xo_consumer_new(const xo_config_t *cfg, const char *group_id, const char *const *extra,
                         xo_consumer_t **out, char *errstr, size_t errstr_size);

/**
 * @brief Assign partitions explicitly (no group rebalancing), in addition to those already
 *        assigned (call once per topic to read several topics). A partition that is already
 *        assigned restarts at @p offset.
 * @param partitions array of @p n partitions of @p topic; NULL means all partitions.
 * @param offset RD_KAFKA_OFFSET_BEGINNING, _END, _STORED (committed) or an absolute offset.
 */
xo_err_t xo_consumer_assign(xo_consumer_t *c, const char *topic, const int32_t *partitions,
                            size_t n, int64_t offset, char *errstr, size_t errstr_size);

/**
 * @brief Next message or event, or NULL after @p timeout_ms. Caller destroys it with
 *        rd_kafka_message_destroy(). Check msg->err (PARTITION_EOF marks the end).
 */
rd_kafka_message_t *xo_consumer_poll(xo_consumer_t *c, int timeout_ms);

/**
 * @brief Move an assigned partition's fetch position to @p offset, without waiting (the
 *        seek happens on librdkafka's broker thread, which it wakes). Records of the old
 *        position still queued are dropped; the next one delivered is at @p offset.
 * @returns XO_OK, or XO_ERR_KAFKA when librdkafka refused it at once.
 */
xo_err_t xo_consumer_seek(xo_consumer_t *c, const char *topic, int32_t partition, int64_t offset);

/** @brief Low and high watermarks of a partition, asked from the broker. */
xo_err_t xo_consumer_watermarks(xo_consumer_t *c, const char *topic, int32_t partition,
                                int64_t *low, int64_t *high, int timeout_ms);

/** @brief Commit @p offset (the next one to read) for the group, synchronously. */
xo_err_t xo_consumer_commit(xo_consumer_t *c, const char *topic, int32_t partition, int64_t offset,
                            char *errstr, size_t errstr_size);

/** A commit under way (xo_consumer_commit_start). */
typedef struct xo_commit xo_commit_t;

/**
 * @brief Start committing @p offset for the group without waiting for the broker, so that
 *        the caller can wait for something else meanwhile (the agent flushes its `accepted`
 *        results during the commit's round trip). xo_commit_wait() tells how it ended.
 * @returns the commit under way, or NULL when it could not be sent (errstr says why).
 */
xo_commit_t *xo_consumer_commit_start(xo_consumer_t *c, const char *topic, int32_t partition,
                                      int64_t offset, char *errstr, size_t errstr_size);

/**
 * @brief Wait up to @p timeout_ms for the broker's answer to @p commit, then free it (an
 *        answer that comes later is dropped). XO_OK only when the broker stored the offset.
 */
xo_err_t xo_commit_wait(xo_commit_t *commit, int timeout_ms, char *errstr, size_t errstr_size);

rd_kafka_t *xo_consumer_handle(xo_consumer_t *c);

/**
 * @brief Broker connectivity as the consumer last saw it (any thread). Without
 *        statistics.interval.ms only the all-brokers-down error moves it, and nothing
 *        says when brokers are back: set the interval where the answer matters.
 */
void xo_consumer_link(xo_consumer_t *c, xo_kafka_link_t *out);

void xo_consumer_free(xo_consumer_t *c);

/** @brief Find a header's value on a message. @returns XO_OK or XO_ERR_NOTFOUND. */
xo_err_t xo_kafka_header_get(const rd_kafka_message_t *msg, const char *name, const void **value,
                             size_t *len);

/**
 * One consumed record as the contract's checks see it: where it was read, its key, its
 * value and its signature headers. Every pointer is borrowed from the message (or the
 * test that built it) and valid as long as that is.
 */
typedef struct {
    int32_t partition;  /**< the partition it was read from */
    int32_t partitions; /**< the topic's partition count; 0: unknown (no partition check) */
    int64_t offset;     /**< its offset, for logs (-1 unknown) */
    const char *key;    /**< NULL when the record has no key */
    size_t key_len;
    const char *value; /**< NULL for a tombstone */
    size_t value_len;
    const char *sig; /**< header xo-sig, NULL when absent */
    size_t sig_len;
    const char *key_id; /**< header xo-key, NULL when absent */
    size_t key_id_len;
} xo_record_t;

/**
 * @brief Describe a consumed message as an xo_record_t (headers xo-sig and xo-key looked
 *        up; a header without a value counts as absent).
 * @param partitions the partition count of the message's topic (0 if unknown)
 */
void xo_record_from_message(xo_record_t *r, const rd_kafka_message_t *msg, int32_t partitions);

#endif
