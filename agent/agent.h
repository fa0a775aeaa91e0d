/*
 * agent.h - the map of xo-agent: its one state struct, shared between the XAPI thread
 * (main: connect, sync, follow), the service thread (Kafka polling, heartbeats) and the
 * command thread (issue 6). Each field says which thread writes it and how it is guarded.
 */
#ifndef XO_AGENT_H
#define XO_AGENT_H

#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "xo_config.h"    /* settings table and values */
#include "xo_envelope.h"  /* v1 messages */
#include "xo_error.h"     /* xo_err_t */
#include "xo_json_text.h" /* reused record buffer */
#include "xo_kafka.h"     /* producer, consumer, partitioning */
#include "xo_strmap.h"    /* key sets and counters */
#include "xo_xapi.h"      /* XAPI transport */

#define AGENT_MOD       "agent"
#define AGENT_MAX_HOSTS 32

/** Agent states as published on xo.agents. */
typedef enum {
    AGENT_CONNECTING,
    AGENT_SYNCING,
    AGENT_LIVE,
    AGENT_ERROR,
    AGENT_STOPPED
} agent_state_t;

/** Counters and state for heartbeats; guarded by agent_t.status_lock. */
typedef struct {
    agent_state_t state;
    char master[256]; /**< URL of the host we talk to */
    char error[256];  /**< last error, when state is AGENT_ERROR */
    int64_t since;    /**< ms when the state was entered */
    int64_t last_event_id, last_event_ts;
    int64_t events, resyncs, xapi_errors, commands;
    int64_t gen;  /**< copy of agent_t.gen for the service thread */
    bool changed; /**< a heartbeat is due now */
} agent_status_t;

/**
 * How agent_send() hands one xo.objects record to Kafka: the arguments of
 * xo_producer_send() with @p opaque in place of the producer, and its return codes
 * (XO_ERR_LIMIT: queue full, try again). Everything borrowed for the call only.
 */
typedef xo_err_t (*agent_send_hook_t)(void *opaque, const char *topic, int32_t partition,
                                      const char *key, size_t key_len, const char *value,
                                      size_t value_len, const xo_kafka_header_t *headers,
                                      size_t n_headers, char *errstr, size_t errstr_size);

typedef struct agent {
    const xo_config_t *cfg; /**< borrowed from main */
    char id[128];           /**< agent id */
    char *password;         /**< XAPI password (never logged); owned */
    xo_topics_t topics;
    int32_t n_partitions; /**< of xo.objects (all contract topics have the same count) */

    /* Written by the XAPI thread before the service thread reads them (under status_lock). */
    char pool_uuid[64];
    int32_t partition; /**< the pool's partition, -1 until the pool is known */

    xo_producer_t *producer; /**< thread-safe; polled only by the service thread */
    /* NULL (the daemon): records go to producer. Unit tests install a hook that records
     * them instead (tests/unit/support/agent_fixture.c). Set before any thread starts. */
    agent_send_hook_t send_hook;
    void *send_hook_opaque;
    /* The VMs' refs by uuid as publish.c last saw them (vm_refs.h: its own lock; the
     * command workers read it). Set before any thread starts; NULL: none kept. */
    struct agent_vm_refs *vm_refs;
    /* VM transfers (transfer.c): set by main before any thread starts, then read-only. */
    struct agent_transfer *transfer;

    /* XAPI thread only. */
    xo_xapi_conn_t *xapi;
    char session[128];                /**< XAPI session ref (a credential: never logged) */
    xo_strmap_t *published;           /**< keys of this pool in xo.objects (AGENT_KEY_*) */
    xo_strmap_t *class_counts;        /**< published objects per class */
    xo_strmap_t *ignored;             /**< classes whose valid_ref_counts cannot be compared */
    char hosts[AGENT_MAX_HOSTS][256]; /**< candidate URLs for failover, most likely first */
    int n_hosts;
    int64_t gen;           /**< current sync generation */
    char token[64];        /**< event.from token */
    xo_jtext_t record;     /**< the record being published, reused (publish.c) */
    long max_record_bytes; /**< limits.max_record_bytes, read once by publish.c (0: not yet) */

    pthread_mutex_t status_lock;
    agent_status_t status;

    atomic_bool need_resync; /**< set by delivery failures, read by the XAPI thread */
    atomic_bool backpressure;
    atomic_uint_fast64_t kafka_failed, published_count;
} agent_t;

/** Set when SIGINT/SIGTERM arrives; every loop checks it. */
extern volatile sig_atomic_t agent_stop;

/* status.c */
void agent_set_state(agent_t *a, agent_state_t s, const char *error);
const char *agent_state_name(agent_state_t s);
void agent_count(agent_t *a, int64_t *field, int64_t n);
/** Sleep up to ms milliseconds, waking early on stop. @returns false if stopping. */
bool agent_sleep(int ms);
/** Capped exponential backoff with jitter for attempt n (0-based), in ms. */
int agent_backoff_ms(const agent_t *a, int attempt);

/* heartbeat.c: the service thread. */
xo_err_t agent_service_start(agent_t *a, pthread_t *thread);
void agent_publish_heartbeat(agent_t *a);

/* xapi_session.c */
/**
 * Connect and log in, following HOST_IS_SLAVE and trying every known host with backoff.
 * @returns XO_OK; XO_ERR_XAPI for refused credentials (fatal); XO_ERR_TLS (fatal);
 *          XO_ERR_CONNECT when stopping.
 */
xo_err_t agent_connect(agent_t *a);
void agent_logout(agent_t *a);
/** Remember a host URL (or bare address, made into a URL like the master's) for failover. */
void agent_add_host(agent_t *a, const char *url_or_address, bool first);
/** Call a method with the session prepended to params (which it takes). */
xo_err_t agent_call(agent_t *a, const char *method, json_object *params, long timeout_ms,
                    json_object **value, xo_xapi_error_t *xerr, char *errstr, size_t errstr_size);
/**
 * Log in on @p conn (another thread's connection) starting at @p url, following
 * HOST_IS_SLAVE; the session ref goes to @p session. Reads only a->cfg and a->password.
 * @returns as agent_connect() for one host: XO_ERR_CONFIG for refused credentials.
 */
xo_err_t agent_login_conn(agent_t *a, xo_xapi_conn_t *conn, const char *url, char *session,
                          size_t session_size, char *errstr, size_t errstr_size);
/** Log @p session out on @p conn, which is being closed (even while the agent stops: the
 *  connection's abort is cleared); failures are only logged. */
void agent_logout_conn(xo_xapi_conn_t *conn, const char *session);
/** agent_call() on any connection and session (takes @p params). */
xo_err_t agent_call_conn(xo_xapi_conn_t *conn, const char *session, const char *method,
                         json_object *params, long timeout_ms, json_object **value,
                         xo_xapi_error_t *xerr, char *errstr, size_t errstr_size);

/* publish.c */
#define AGENT_CLASS_MAX 64
/** The value of a key in a->published: during a full sync the keys read back from
 *  xo.objects start there at AGENT_KEY_READ_BACK, and each record published adds one; what
 *  the dump leaves at AGENT_KEY_READ_BACK is tombstoned (sync.c). */
#define AGENT_KEY_READ_BACK 0
/**
 * Queue one record on the pool's partition of xo.objects (through a->send_hook when set),
 * waiting while the queue is full; a full queue sets need_resync once it drains.
 */
xo_err_t agent_send(agent_t *a, const char *key, const char *value, size_t len,
                    const xo_kafka_header_t *h, size_t nh);
/** The xo.objects key of an event (class lower-cased into @p cls; @p ref borrowed from ev). */
xo_err_t agent_event_key(const agent_t *a, json_object *ev, char *key, size_t key_size,
                         char cls[AGENT_CLASS_MAX], const char **ref);
/** Publish one event.from event (add/mod record, del tombstone). Takes @p ev. */
xo_err_t agent_publish_event(agent_t *a, json_object *ev);
/** As agent_publish_event(), the snapshot given as JSON text (@p raw, borrowed; the event's
 *  tree then has none) or, when @p raw is NULL, in the tree. Takes @p ev. */
xo_err_t agent_publish_event_raw(agent_t *a, json_object *ev, const xo_xmlrpc_raw_t *raw);
/** As agent_publish_event_raw(), the event's key already taken by agent_event_key() (@p key,
 *  @p cls and @p ref borrowed): a full sync needs it first, and takes it once. Takes @p ev. */
xo_err_t agent_publish_event_keyed(agent_t *a, json_object *ev, const xo_xmlrpc_raw_t *raw,
                                   const char *key, const char *cls, const char *ref);
/** The event.from stream of the agent's ingest: each event's snapshot as JSON text, its
 *  uuid captured, @p cb called with @p opaque (sync.c, event_follow.c). */
xo_xapi_raw_stream_t agent_event_stream(xo_xmlrpc_raw_elem_cb cb, void *opaque);
xo_err_t agent_publish_tombstone(agent_t *a, const char *key, const char *cls);
/** An object of class @p cls whose dump event was malformed: it exists in XAPI, so it counts
 *  as published (the count check stays on for its class, and no tombstone is sent for the
 *  record read back for it, which stays the object's last good state). */
void agent_note_kept(agent_t *a, const char *key, const char *cls);
/** An object of this pool is gone (its tombstone, or a resync that no longer finds it):
 *  a VM's ref is forgotten by a->vm_refs. */
void agent_note_deleted(agent_t *a, const char *key);
xo_err_t agent_publish_sync_marker(agent_t *a);

/* readback.c */
/**
 * Read this pool's keys from xo.objects up to the high watermark.
 * @param keys filled with every live key; @param max_gen receives the highest generation seen.
 */
xo_err_t agent_read_back(agent_t *a, xo_strmap_t *keys, int64_t *max_gen);

/* sync.c */
/** The full resync of the contract: read back, dump, publish, tombstone, marker. */
xo_err_t agent_full_sync(agent_t *a);

/* event_follow.c */
/**
 * Follow event.from from a->token until an error or a reason to resync.
 * @returns XO_ERR_XAPI (with SESSION_INVALID etc. logged), XO_ERR_CONNECT..., or
 *          XO_ERR_INVALID when a resync is needed (count drift, delivery failure).
 */
xo_err_t agent_follow(agent_t *a);
/** Compare valid_ref_counts with what is published. @returns true when they agree. */
bool agent_counts_agree(agent_t *a, json_object *counts, bool learn);

#endif
