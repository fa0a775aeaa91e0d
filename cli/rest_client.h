/*
 * rest_client.h - xo-fleet's HTTP client for `rest` (libcurl): one request to
 * <prefix>rest/v0/<path>, the registered token sent as xo-cli sends it (cookie
 * authenticationToken), TLS verified as rpc_client.h does, the whole answer kept in
 * memory (bounded).
 */
#ifndef CLI_REST_CLIENT_H
#define CLI_REST_CLIENT_H

#include <json-c/printbuf.h>
#include <stdbool.h>
#include <stddef.h>

#include "url.h"
#include "xo_error.h"

#define CLI_REST_MAX_BODY (512u << 20) /* largest answer kept */

typedef struct {
    long status;            /**< HTTP status */
    char content_type[128]; /**< without parameters ("application/json"), "" for none */
    struct printbuf *body;  /**< the answer's bytes (owned: cli_rest_response_fini) */
} cli_rest_response_t;

/**
 * @brief Send one request and read the whole answer.
 * @param method "GET", "POST", "PATCH", "PUT" or "DELETE"
 * @param target path below the base with its query ("/rest/v0/vms?fields=name_label")
 * @param body JSON text or NULL for none (sent with Content-Type: application/json)
 * @returns XO_OK (any HTTP status: the caller judges it), XO_ERR_CONNECT ("connection
 *          refused: ...", unreachable), XO_ERR_TLS ("TLS failure: ..."), XO_ERR_TIMEOUT,
 *          XO_ERR_LIMIT (answer over CLI_REST_MAX_BODY), XO_ERR_NOMEM, XO_ERR_IO.
 */
xo_err_t cli_rest_request(const cli_url_t *url, const char *token, bool allow_unauthorized,
                          int timeout_ms, const char *method, const char *target, const char *body,
                          cli_rest_response_t *resp, char *errstr, size_t errstr_size);

void cli_rest_response_fini(cli_rest_response_t *resp);

#endif
