/*
 * result_feed.h - the command bus's own reader of xo.results: a Kafka consumer (its own
 * librdkafka handle and thread, no group) that reads every partition of xo.results from
 * the end it had at start and hands each record to a sink (the bus checks signatures).
 *
 * It is tuned for latency, not throughput: a person waits for each result, so its fetches
 * wait at most commands.results_fetch_wait_ms for data (a Kafka broker answers a fetch as
 * soon as data arrives; the in-memory xo-kafka-dev broker holds an empty fetch that long).
 * Short waits cost empty fetches, so the feed only fetches while the bus listens: the bus
 * turns it on when a command is pending and off once none has been for a while
 * (gw_result_feed_listen: the partitions are assigned again from the next offset the feed
 * had not read, or unassigned, so no result produced while off is skipped; the results of
 * commands nobody waits for any more are dropped by the bus anyway).
 *
 * Must not apply results itself: the sink only checks and queues (commands.h).
 */
#ifndef GW_RESULT_FEED_H
#define GW_RESULT_FEED_H

#include <stdbool.h>

#include "xo_config.h"
#include "xo_error.h"
#include "xo_kafka.h"

typedef struct gw_result_feed gw_result_feed_t;

/**
 * Receives one xo.results record (value, signature headers, partition and the topic's
 * partition count), all borrowed for the call.
 * @locality the feed's thread: must only check, queue and return.
 */
typedef void (*gw_result_feed_fn)(void *opaque, const xo_record_t *rec);

/**
 * @brief Create the consumer, note the current end of every partition of @p topic
 *        (absolute offsets: nothing produced after this call is skipped), and start its
 *        thread, not listening.
 * @param fetch_wait_ms fetch.wait.max.ms of its fetches (commands.results_fetch_wait_ms)
 * @param sink, opaque where records go (@p opaque must outlive the feed)
 * @returns XO_OK; XO_ERR_CONFIG (Kafka settings), XO_ERR_KAFKA or XO_ERR_TIMEOUT (no
 *          metadata or watermarks), XO_ERR_NOTFOUND (no such topic), XO_ERR_NOMEM. Detail
 *          in @p errstr.
 */
xo_err_t gw_result_feed_start(const xo_config_t *cfg, const char *topic, int fetch_wait_ms,
                              gw_result_feed_fn sink, void *opaque, gw_result_feed_t **out,
                              char *errstr, size_t errstr_size);

/**
 * @brief Fetch (true) or stop fetching (false); a no-op when already so. Hands the
 *        (un)assignment to librdkafka's main thread and returns; never waits on a broker.
 * @locality any one thread at a time (the service thread)
 */
void gw_result_feed_listen(gw_result_feed_t *f, bool on);

/** @brief True while listening (gw_result_feed_listen's last state). */
bool gw_result_feed_listening(const gw_result_feed_t *f);

/** @brief Stop the thread (up to one poll, 200 ms) and free the consumer. NULL is a no-op. */
void gw_result_feed_stop(gw_result_feed_t *f);

#endif
