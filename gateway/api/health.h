/*
 * health.h - the gateway's verdict on itself: loading, ok or degraded, and every reason
 * why, for GET /healthz (written here) and /metrics (metrics_page.c reads the same
 * verdict, so the two cannot disagree). Reasons come from the rooms below: broker
 * connectivity from the consumer, the topic check's findings (xo_topic_admin), agent
 * heartbeats (late or missing) from the view. A new check is one more
 * reason in gw_health_judge(). Service thread; never blocks on Kafka.
 */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/gw_buf.h"
#include "gateway.h"
#include "xo_kafka_stats.h"
#include "xo_topic_admin.h"

/** Heartbeat interval assumed for agents that do not announce theirs (agent.heartbeat_ms). */
#define GW_HEARTBEAT_DEFAULT_MS 5000
/** Topic findings judged (xo_topic_admin.h); more are counted in the log only. */
#define GW_HEALTH_TOPIC_FINDINGS 8
/** Reasons listed one by one in /healthz; beyond, one line counts the rest. */
#define GW_HEALTH_MAX_REASONS 100

typedef enum {
    GW_HEALTH_OK = 0,   /**< loaded, brokers reachable, every heartbeat on time */
    GW_HEALTH_DEGRADED, /**< serving, but some of what it serves may be stale (reasons say) */
    GW_HEALTH_LOADING,  /**< the view has not read every partition to its end yet */
} gw_health_status_t;

/** @brief "ok", "degraded" or "loading". Static. */
const char *gw_health_status_name(gw_health_status_t s);

/** How late one pool's last agent heartbeat is. */
typedef struct {
    int64_t age_ms;   /**< now - the heartbeat's ts (the agent's clock) */
    int64_t limit_ms; /**< stale_heartbeats x the interval the heartbeat announced */
    bool stale;       /**< age_ms > limit_ms */
} gw_heartbeat_age_t;

/**
 * @brief How late @p p's heartbeat is. Pure.
 * @param stale_heartbeats intervals a heartbeat may be late (health.stale_heartbeats;
 *        <= 0 means the default 3)
 * @returns false when the pool has no heartbeat (nothing to judge), true and @p out filled
 *          otherwise.
 */
bool gw_health_heartbeat(const gw_pool_info_t *p, int64_t now_ms, int stale_heartbeats,
                         gw_heartbeat_age_t *out);

/**
 * @brief True for a pool with records but no agent heartbeat: anyone with write access to
 *        the objects topic can make one; its objects are held back from the API (view.h)
 *        and the gateway is degraded while it lasts. Pure.
 */
bool gw_health_pool_without_agent(const gw_pool_info_t *p);

/** What the verdict is made from (gw_health_input() gathers it from the rooms). */
typedef struct {
    int64_t now_ms;          /**< wall clock */
    bool loaded;             /**< the consumer read every partition to its end once */
    xo_kafka_link_t link;    /**< broker connectivity */
    int64_t applied_ms;      /**< wall clock of the last record applied to the view, 0 none */
    int stale_heartbeats;    /**< as for gw_health_heartbeat() */
    size_t n_topic_findings; /**< warnings and errors about the contract's topics */
    xo_topic_finding_t topic_findings[GW_HEALTH_TOPIC_FINDINGS];
} gw_health_input_t;

/** The verdict. */
typedef struct {
    gw_health_status_t status;
    int64_t idle_ms;            /**< since the view last applied a record, -1 if it never did */
    size_t stale_pools;         /**< pools whose heartbeat is older than their limit */
    size_t pools_without_agent; /**< pools with records but no heartbeat (held, view.h) */
    size_t reasons;             /**< reasons found (all of them, listed or not) */
} gw_health_t;

/** Receives one reason, a human sentence (borrowed for the call). */
typedef void (*gw_health_reason_fn)(void *opaque, const char *text);

/** @brief Gather the input from the consumer (may be NULL: not loaded) and the context. */
void gw_health_input(gw_ctx_t *ctx, gw_health_input_t *in);

/**
 * @brief Judge: degraded when no broker is reachable, a contract topic is misconfigured (a
 *        warning of the topic check, xo_topic_admin.h), a pool has records but no agent
 *        heartbeat (its objects held), or a pool's heartbeat is stale.
 * @param view read under its read lock, taken here (must not be held by the caller)
 * @param on_reason called for each reason, in order (NULL: only count them)
 */
void gw_health_judge(const gw_health_input_t *in, gw_view_t *view, gw_health_reason_fn on_reason,
                     void *opaque, gw_health_t *out);

/**
 * @brief Write the /healthz document (JSON) to @p out.
 * @returns the HTTP status: 200 when serving (ok or degraded), 503 while loading.
 */
int gw_health_page_write(gw_ctx_t *ctx, gw_buf_t *out);

#endif
