/*
 * gateway.h - the map of xo-gateway: every module, what it owns, and the one context
 * structure that ties them together (as redis' server.h does).
 *
 * Threads: the service thread (libwebsockets: HTTP, WebSocket, JSON-RPC, REST, metrics,
 * notification flushes, command replies) and the consumer thread (Kafka -> view, and
 * xo.results -> commands). They share only the view (rwlock), the notifier (mutex), the
 * commands' result queue (mutex) and the consumer's counters (mutex).
 */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gw_buf.h"        /* byte buffers, JSON writer, shared outbound messages */
#include "view/filter.h"        /* getAllObjects / REST filters */
#include "core/metrics.h"       /* counters and the notification latency histogram */
#include "view/notify.h"        /* the `all` batch between the two threads */
#include "api/users.h"          /* users file, password hashes, tokens, sign-in throttling */
#include "view/view.h"          /* the materialized view */
#include "view/view_consumer.h" /* Kafka -> view thread */
#include "xo_config.h"          /* settings table */
#include "view/xo_objects.h"    /* XAPI record -> XO object */

/* commands.h: signed commands to xo.commands, their results from xo.results (it includes
 * api_rpc.h, which includes this file: forward-declared here) */
typedef struct gw_commands gw_commands_t;

/** Limits, from the config table (docs/configuration-gateway.md). */
typedef struct {
    size_t max_frame_bytes;    /**< largest WebSocket message accepted from a client */
    size_t max_clients;        /**< simultaneous WebSocket clients */
    size_t client_queue_bytes; /**< bytes queued to one client before it is dropped */
    size_t max_http_body;      /**< largest REST response built (bytes) */
} gw_limits_t;

/** Everything the service-thread modules need. Owned by main.c. */
typedef struct {
    const xo_config_t *cfg;  /**< borrowed */
    gw_view_t *view;         /**< shared with the consumer */
    gw_notify_t *notify;     /**< shared with the consumer */
    gw_consumer_t *consumer; /**< for counters (may be NULL in tests) */
    gw_users_t *users;       /**< service thread only */
    gw_metrics_t *metrics;   /**< service thread only */
    gw_commands_t *commands; /**< command bus (NULL in tests: actions answer an error) */
    gw_limits_t limits;
    int64_t started_ms;   /**< wall clock at start */
    int64_t token_ttl_ms; /**< default token lifetime (tokens.ttl) */
    size_t ws_clients;    /**< connected WebSocket clients */
    size_t ws_signed_in;  /**< of which signed in */
} gw_ctx_t;

/** @brief Monotonic milliseconds. */
int64_t gw_mono_ms(void);

#endif
