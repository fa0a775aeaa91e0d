/*
 * rpc_client.h - xo-fleet's WebSocket JSON-RPC client (libwebsockets), speaking to
 * <prefix>api/ as the xo-lib npm client does: requests {jsonrpc, method, params, id}, one
 * at a time, answers matched by id, and the server's notifications (`all`) handed to a
 * callback while a call waits or while listen() runs. Synchronous, single-threaded: each
 * function runs the lws service loop until its answer, a failure, its deadline or Ctrl-C.
 */
#ifndef CLI_RPC_CLIENT_H
#define CLI_RPC_CLIENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "url.h"
#include "xo_error.h"

#define CLI_RPC_MAX_MESSAGE (512u << 20) /* largest message accepted (getAllObjects) */

typedef struct cli_rpc cli_rpc_t;

/** A notification: params borrowed for the duration of the call. */
typedef void (*cli_rpc_notify_fn)(void *opaque, const char *method, json_object *params);
/** Called about every 200 ms while the loop waits (to redraw a progress bar). */
typedef void (*cli_rpc_tick_fn)(void *opaque);

/**
 * @brief Connect (TCP, TLS, the WebSocket upgrade). TLS verifies the server's
 *        certificate against the system's CAs, or the file named by $SSL_CERT_FILE, unless
 *        @p allow_unauthorized.
 * @param timeout_ms 0: lws' own connect timeouts only
 * @returns XO_OK (*out to cli_rpc_close()), XO_ERR_CONNECT ("connection refused: ...",
 *          unreachable, upgrade refused), XO_ERR_TLS ("TLS failure: ..."), XO_ERR_TIMEOUT,
 *          XO_ERR_IO (interrupted), XO_ERR_NOMEM; the detail in errstr names the kind.
 */
xo_err_t cli_rpc_open(const cli_url_t *url, bool allow_unauthorized, int timeout_ms,
                      cli_rpc_t **out, char *errstr, size_t errstr_size);

/** @brief Where notifications go (NULL: dropped). */
void cli_rpc_on_notify(cli_rpc_t *c, cli_rpc_notify_fn fn, void *opaque);

/** @brief What runs every tick while waiting (NULL: nothing). */
void cli_rpc_on_tick(cli_rpc_t *c, cli_rpc_tick_fn fn, void *opaque);

/**
 * @brief Call a method and wait for its answer. Exactly one of *result / *error is set on
 *        XO_OK (new references, caller puts them; *result may be the JSON null, NULL).
 * @param params borrowed; NULL sends {}
 * @param timeout_ms 0: wait as long as the server takes
 * @returns XO_OK (an answer came, possibly an error answer), XO_ERR_CONNECT (the
 *          connection closed), XO_ERR_TIMEOUT, XO_ERR_IO (interrupted), XO_ERR_PARSE (the
 *          server sent what is not JSON-RPC), XO_ERR_LIMIT (a message over
 *          CLI_RPC_MAX_MESSAGE).
 */
xo_err_t cli_rpc_call(cli_rpc_t *c, const char *method, json_object *params, int timeout_ms,
                      json_object **result, json_object **error, char *errstr, size_t errstr_size);

/**
 * @brief Hand every notification to the callback until Ctrl-C / SIGTERM (XO_OK) or the
 *        connection ends (XO_ERR_CONNECT), or @p max_notifications were handed (XO_OK;
 *        0 for no limit).
 */
xo_err_t cli_rpc_listen(cli_rpc_t *c, long max_notifications, char *errstr, size_t errstr_size);

/** @brief Close the connection and free everything (NULL is fine). */
void cli_rpc_close(cli_rpc_t *c);

#endif
