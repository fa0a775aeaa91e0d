/*
 * console.h - the agent's console relays (issue 11): for each console.open command, find
 * the VM's RFB console, open it with the agent's own XAPI session, dial the gateway back
 * with the command's single-use ticket and splice the two; follow the VM when it reboots
 * or moves (the session goes on over a new console connection) and close the gateway side
 * with a reason when it halts. Runs in its own threads, so that a console never occupies
 * the command thread: a relay thread (libwebsockets client connections, every session in
 * one event loop, bounded by console.max_sessions) and a lookup thread (XAPI calls).
 * XAPI credentials never leave the agent; nothing here listens.
 */
#ifndef XO_AGENT_CONSOLE_H
#define XO_AGENT_CONSOLE_H

#include <json-c/json.h>

#include "agent.h"

typedef struct agent_console agent_console_t;

/** One console.open command (all strings copied). */
typedef struct {
    char id[72];     /**< the command id (results are keyed by it) */
    char vm[72];     /**< args.id: the VM's (or control domain's) uuid */
    char user[160];  /**< the command's user (audit) */
    char ticket[48]; /**< args.ticket (a credential: never logged) */
    char relay[520]; /**< args.relay: ws:// or wss:// URL of the gateway's relay */
} console_req_t;

/**
 * How the console reports on xo.results: @p state "success" (relayed: @p result {console:
 * "open", ...}), "failure" (@p code, @p reason) or "closed" (@p result {console: "closed",
 * duration_ms, bytes_..., reason}, @p bytes both directions). Called on the relay thread;
 * @p result is borrowed.
 */
typedef void (*console_report_fn)(void *opaque, const char *cmd_id, const char *state,
                                  json_object *result, const char *code, const char *reason,
                                  int64_t bytes);

/**
 * @brief Read the console.* settings. @p a is shared (cfg and password read-only).
 * @locality main thread (from agent_commands_new)
 * @param out receives the consoles, or NULL when console.enabled is false
 * @returns XO_OK, XO_ERR_CONFIG (bad setting; errstr), XO_ERR_NOMEM.
 */
xo_err_t agent_console_new(agent_t *a, console_report_fn report, void *opaque,
                           agent_console_t **out, char *errstr, size_t errstr_size);

/** @brief Start the relay and lookup threads. @returns XO_OK or XO_ERR_NOMEM. */
xo_err_t agent_console_start(agent_console_t *c);

/**
 * @brief Hand one verified console.open over (the relay thread takes it from here and
 *        reports through the report callback). Never blocks on the network.
 * @locality command thread
 * @returns XO_OK (queued), XO_ERR_LIMIT (console.max_sessions reached), XO_ERR_INVALID
 *          (a relay URL that is not ws:// or wss://; detail in reason).
 */
xo_err_t agent_console_open(agent_console_t *c, const console_req_t *req, char *reason,
                            size_t reason_size);

/** @brief Sessions open now (requests queued included). Any thread. */
int agent_console_count(agent_console_t *c);

/**
 * @brief Close every session (the gateway side with 4503 "agent stopping", each audited),
 *        join the threads and free. agent_stop must be set. NULL is a no-op.
 */
void agent_console_free(agent_console_t *c);

#endif
