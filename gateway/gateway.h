/*
 * gateway.h - the map of xo-gateway: its rooms, what each owns, and the one context
 * structure that ties them together (as redis' server.h does). Files depend downward
 * only, and a test checks it (tests/integration/no_circles.sh):
 *
 *   main.c -> transport/ -> api/ -> bus/ -> view/ -> core/ -> common/ (libxofleet)
 *
 *   transport/  libwebsockets: the listener and its endpoint table (http_server), the
 *               WebSocket sessions with their queues and fan-out (ws_sessions), and one
 *               module per endpoint (endpoint_jsonrpc: /api/; endpoint_rest: /rest, ...)
 *   api/        what clients may ask: JSON-RPC framing and answers (api_rpc), the method
 *               tables (api_*.c), REST (rest), sessions, users and tokens, the Basic-auth
 *               cache (auth_cache), /metrics page
 *   bus/        signed commands to xo.commands and their outcomes from xo.results
 *   view/       Kafka -> the materialized view of XO objects, filters, notifications
 *   core/       byte buffers and JSON writer, XO errors, the clock, counters
 *
 * Threads: the service thread (libwebsockets: HTTP, WebSocket, JSON-RPC, REST, metrics,
 * notification flushes, command replies) and the consumer thread (Kafka -> view, and
 * xo.results -> the command bus). They share only the view (rwlock), the notifier (mutex),
 * the commands' result queue (mutex) and the consumer's counters (mutex).
 */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/users.h"          /* users file, password hashes, tokens, sign-in throttling */
#include "core/clock.h"         /* gw_mono_ms(): the monotonic clock */
#include "core/gw_buf.h"        /* byte buffers, JSON writer, shared outbound messages */
#include "core/metrics.h"       /* counters and the notification latency histogram */
#include "core/xo_errors.h"     /* XO's error codes and their one JSON writer */
#include "view/filter.h"        /* getAllObjects / REST filters */
#include "view/notify.h"        /* the `all` batch between the two threads */
#include "view/view.h"          /* the materialized view */
#include "view/view_consumer.h" /* Kafka -> view thread */
#include "view/xo_objects.h"    /* XAPI record -> XO object */
#include "xo_config.h"          /* settings table */
#include "xo_topic_admin.h"     /* the contract's topics: created, checked, findings */

/* bus/commands.h: signed commands to xo.commands, their results from xo.results; the
 * context only holds the pointer, so the type is forward-declared here */
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
    int stale_heartbeats; /**< heartbeat intervals before an agent is late (health.*) */
    size_t ws_clients;    /**< connected WebSocket clients */
    size_t ws_signed_in;  /**< of which signed in */

    xo_topic_admin_t *topic_admin; /**< topic findings for /healthz (NULL: topics.manage off) */
} gw_ctx_t;

#endif
