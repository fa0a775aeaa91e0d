/*
 * gateway.h - the map of xo-gateway: its rooms, what each owns, and the one context
 * structure that ties them together (as redis' server.h does). Files depend downward
 * only, and a test checks it (tests/integration/no_circles.sh):
 *
 *   main.c -> transport/ -> api/ -> bus/ -> view/ -> core/ -> common/ (libxofleet)
 *
 *   transport/  libwebsockets: the listener and its endpoint table (http_server), with
 *               the acceptor that hands each connection to its service thread (acceptor,
 *               head_route) and the replies copied between them (reply_queue), the
 *               WebSocket sessions with their queues and fan-out (ws_sessions), what
 *               bounds any connection (conn_guard), status lines and size checks
 *               (http_status), and one module per endpoint (endpoint_jsonrpc: /api/;
 *               endpoint_rest: /rest, ...; endpoint_console: /api/consoles/<id>,
 *               endpoint_console_relay: the agents' side, console_hub: the console
 *               sessions between them; endpoint_static: the web UI's files at /, with
 *               static_files: which paths name a file, types, ETags, cache policy)
 *   api/        what clients may ask: JSON-RPC framing and answers (api_rpc), the method
 *               tables (api_*.c), REST (rest, rest_*), sessions, users and tokens, the Basic-auth
 *               cache (auth_cache), /metrics page
 *   bus/        signed commands to xo.commands and their outcomes from xo.results, and
 *               the signed token records of the tokens topic (token_log)
 *   view/       Kafka -> the materialized view of XO objects, filters, notifications
 *   core/       byte buffers and JSON writer, XO errors, the clock, counters
 *
 * Threads: the service thread (libwebsockets: HTTP, WebSocket, JSON-RPC, REST, metrics,
 * notification flushes, command replies) and the consumer thread (Kafka -> view,
 * xo.results -> the command bus, the tokens topic -> the token log). They share only the
 * view (rwlock), the notifier (mutex), the commands' result queue (mutex), the token
 * log's queue (mutex) and the consumer's counters (mutex). With http.session_thread the
 * service thread is two (the JSON-RPC sessions and their fan-out; everything else) plus
 * an acceptor (transport/http_server.h); the two take turns on everything below the
 * transport through ctx->service_lock.
 */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/users.h"          /* users file, password hashes, tokens, sign-in throttling */
#include "core/clock.h"         /* gw_mono_ms(): the monotonic clock */
#include "core/fair_lock.h"     /* the service threads' lock */
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
/* bus/token_log.h: tokens shared through the tokens topic; forward-declared likewise */
typedef struct gw_token_log gw_token_log_t;
typedef struct gw_downloads gw_downloads_t;

/** Limits, from the config table (docs/configuration-gateway.md, docs/security.md). */
typedef struct {
    size_t max_frame_bytes;     /**< largest WebSocket message accepted from a client */
    size_t max_clients;         /**< simultaneous WebSocket clients */
    size_t client_queue_bytes;  /**< bytes queued to one connection before it is closed */
    size_t max_http_body;       /**< largest REST response built (bytes) */
    size_t max_calls_in_flight; /**< JSON-RPC calls of one connection not answered yet */
    size_t max_url_bytes;       /**< request target (414 beyond) */
    size_t max_header_bytes;    /**< request header lines (431 beyond) */
} gw_limits_t;

/** Deadlines of the connection states, in seconds (docs/security.md). */
typedef struct {
    int headers_s;   /**< accept (or the previous request) -> end of the request headers */
    int body_s;      /**< end of the headers -> end of the request body */
    int keepalive_s; /**< idle between two requests of a keep-alive connection */
    int signin_s;    /**< WebSocket upgrade (or sign-out) -> signed in */
    int send_s;      /**< bytes waiting for a client that takes none of them */
} gw_timeouts_t;

/** Everything the service-thread modules need. Owned by main.c. */
typedef struct {
    const xo_config_t *cfg;    /**< borrowed */
    gw_view_t *view;           /**< shared with the consumer */
    gw_notify_t *notify;       /**< shared with the consumer */
    gw_consumer_t *consumer;   /**< for counters (may be NULL in tests) */
    gw_users_t *users;         /**< service thread only */
    gw_metrics_t *metrics;     /**< service thread only */
    gw_commands_t *commands;   /**< command bus (NULL in tests: actions answer an error) */
    gw_token_log_t *token_log; /**< tokens topic, for counters (NULL: tokens stay local) */
    gw_downloads_t *downloads; /**< vm.export's pending downloads (NULL: vm.export refused) */
    gw_downloads_t *uploads;   /**< vm.import's pending uploads (NULL: vm.import refused) */
    gw_limits_t limits;
    gw_timeouts_t timeouts;
    int64_t started_ms;   /**< wall clock at start */
    int64_t token_ttl_ms; /**< default token lifetime (tokens.ttl) */
    int stale_heartbeats; /**< heartbeat intervals before an agent is late (health.*) */
    size_t ws_clients;    /**< connected WebSocket clients */
    size_t ws_signed_in;  /**< of which signed in */

    xo_topic_admin_t *topic_admin; /**< topic findings for /healthz (NULL: topics.manage off) */
    /** Held by a service thread around all its work on the rooms below the transport when
     *  there are two (transport/http_server.h); NULL with one. Set by the listener. */
    gw_fair_lock_t *service_lock;
} gw_ctx_t;

#endif
