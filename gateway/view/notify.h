/*
 * notify.h - the `all` notification batch between the consumer thread and the service
 * thread. The consumer adds every visible change (merged per id: last state wins, so
 * enter+exit gives exit and exit+enter gives enter) and wakes the service thread when it
 * has drained what Kafka had immediately available; the service thread takes the batch
 * and turns it into JSON-RPC notifications. No timer anywhere.
 *
 * Ownership: the notifier owns batch entries; gw_notify_take() hands built messages to
 * the caller (one reference each). Memory: a batch's entries are three blocks (entries,
 * hash slots, one arena of ids and states) that the consumer allocates; once taken and
 * built, a batch's blocks go back to the consumer to hold a later batch instead of being
 * freed on the service thread (a batch over 8 MiB or 16,384 entries is freed).
 */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gw_buf.h"

typedef struct gw_notify gw_notify_t;

/** Largest `all` notification built (bytes); a bigger batch is split into several. */
#define GW_NOTIFY_MAX_MSG (4u * 1024 * 1024)

gw_notify_t *gw_notify_new(void);
void gw_notify_free(gw_notify_t *n);

/** @brief Function that wakes the service thread (lws_cancel_service); any thread. */
void gw_notify_set_wake(gw_notify_t *n, void (*wake)(void *), void *opaque);

/**
 * @brief Count of signed-in clients (service thread adds/removes). While zero the consumer
 *        does not build a batch at all. Read by the consumer under the view's write lock.
 */
void gw_notify_subscribers_add(gw_notify_t *n, int delta);
int gw_notify_subscribers(gw_notify_t *n);

/** @brief Timestamp (ms) of the record being applied, for the latency histogram. Consumer. */
void gw_notify_set_ts(gw_notify_t *n, int64_t ts_ms);

/** @brief The view's emit callback (gw_view_emit_cb); @p opaque is the notifier. Consumer. */
void gw_notify_emit(void *opaque, const char *id, const char *json, size_t len);

/** @brief Wake the service thread if the batch is not empty. Consumer, after a drain. */
void gw_notify_publish(gw_notify_t *n);

/** Result of gw_notify_take(). */
typedef struct {
    gw_msg_t **msgs; /**< enter notifications then the exit one (caller unrefs each) */
    size_t nmsgs;
    size_t items; /**< changes in the batch */
    int64_t *ts;  /**< per change: the record timestamp (ms) (caller frees) */
} gw_notify_out_t;

/**
 * @brief Take the current batch and build its notifications. Service thread.
 * @returns true when there was something (out filled; free with gw_notify_out_fini).
 */
bool gw_notify_take(gw_notify_t *n, gw_notify_out_t *out);
void gw_notify_out_fini(gw_notify_out_t *out);

/** @brief Batches whose memory went back to the consumer after gw_notify_take(). Any thread. */
uint64_t gw_notify_batches_reused(gw_notify_t *n);

/**
 * @brief Bytes of ids and states the pending batch holds, merged-away states included until
 *        they are most of it (then the live ones are copied together). Any thread.
 */
size_t gw_notify_pending_bytes(gw_notify_t *n);

#endif
