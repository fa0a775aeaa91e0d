/*
 * agent_fixture.h - an agent_t for unit tests of the agent's XAPI-thread modules (publish,
 * sync, event_follow, readback), set up as main.c's setup() does but with:
 *  - a send hook that records every xo.objects record instead of producing it (and can
 *    answer "queue full" or fail on demand);
 *  - the pool already known (FIXTURE_POOL, its partition of MOCK_KAFKA_PARTITIONS);
 *  - optionally an XAPI connection to a fake_xapi driven by a script of event.from
 *    answers, and Kafka (for the read back) at a mock cluster.
 * Must not: produce to Kafka or talk to anything but loopback.
 */
#ifndef XO_TEST_AGENT_FIXTURE_H
#define XO_TEST_AGENT_FIXTURE_H

#include <json-c/json.h>
#include <stdbool.h>

#include "agent.h"
#include "fake_xapi.h"
#include "mock_kafka.h"

#define FIXTURE_POOL           "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c"
#define FIXTURE_SESSION        "OpaqueRef:fixture-session"
#define FIXTURE_AGENT          "agent-under-test"
#define FIXTURE_MAX_EVENT_FROM 16

/** One record the agent produced, as the send hook saw it. */
typedef struct {
    char *topic, *key;
    char *value; /**< NULL: tombstone */
    size_t len;
    int32_t partition;
    size_t n_headers;
    char op_header[16]; /**< value of the xo-op header, "" when absent */
} fixture_record_t;

/** What the fake XAPI answers (event.from in order; host.get_all_records). */
typedef struct {
    json_object *event_from[FIXTURE_MAX_EVENT_FROM]; /**< envelopes (owned), in order */
    int n_event_from, next_event_from;
    char tokens[FIXTURE_MAX_EVENT_FROM][64]; /**< token argument of each event.from call */
    double timeouts[FIXTURE_MAX_EVENT_FROM]; /**< timeout argument of each event.from call */
    json_object *hosts; /**< Value of host.get_all_records (owned); NULL answers {} */
    int host_calls, other_calls;
} fixture_xapi_script_t;

typedef struct {
    agent_t a;
    xo_config_t *cfg;
    fixture_record_t *recs;
    size_t n, cap;
    int limit_next;    /**< the hook answers XO_ERR_LIMIT to this many next sends */
    long fail_at;      /**< the hook fails the send of record number fail_at (0-based), -1 never */
    xo_err_t fail_err; /**< error of that failed send */
    fake_xapi_t *xapi_server;
    fixture_xapi_script_t script;
} agent_fixture_t;

/**
 * @brief Set up @p f (zeroed first).
 * @param bootstrap Kafka bootstrap servers for the read back, or NULL.
 * @param with_xapi start a fake XAPI and connect the agent to it (logged in).
 * @param extra_config config text appended (e.g. "[limits]\nmax_record_bytes = 10000\n"),
 *        or NULL.
 * @returns 0, or -1 on failure.
 */
int fixture_init(agent_fixture_t *f, const char *bootstrap, bool with_xapi,
                 const char *extra_config);
void fixture_fini(agent_fixture_t *f);

/** @brief Forget the recorded records. */
void fixture_clear(agent_fixture_t *f);
/** @brief The last record with @p key, or NULL. */
const fixture_record_t *fixture_find(const agent_fixture_t *f, const char *key);
/** @brief Index of the last record with @p key, or -1. */
long fixture_index(const agent_fixture_t *f, const char *key);
/** @brief The parsed value of a record (caller puts), NULL for a tombstone. */
json_object *fixture_value(const fixture_record_t *r);
/** @brief "<FIXTURE_POOL>/<cls>/<ref>" into a static buffer (one at a time). */
const char *fixture_key(const char *cls, const char *ref);

/* ---- building XAPI's answers ---- */

/** @brief An event.from event; @p snapshot (taken) may be NULL. */
json_object *fixture_event(const char *op, const char *cls, const char *ref, long id,
                           json_object *snapshot);
/** @brief A small record with uuid and name_label. */
json_object *fixture_snapshot(const char *uuid, const char *name);
/**
 * @brief Queue an event.from answer: {events, valid_ref_counts, token}.
 * @param events taken; @param counts taken, NULL for none; @param token NULL for none.
 */
void fixture_queue_event_from(agent_fixture_t *f, json_object *events, json_object *counts,
                              const char *token);
/** @brief Queue an XAPI failure as the next event.from answer. */
void fixture_queue_event_from_failure(agent_fixture_t *f, const char *code);

#endif
