/*
 * errors.h - the one line a failure of xo-fleet prints: an XO API error named as
 * xo-common's api-errors names it ("vmBadPowerState (13): VM state is running but should
 * be halted {...}"), a transport failure named by its kind (connection refused, TLS
 * failure, timeout), and the exit status each one gets. Pure: formats, prints nothing.
 */
#ifndef CLI_ERRORS_H
#define CLI_ERRORS_H

#include <json-c/json.h>

#include "cli.h"
#include "xo_error.h"

/**
 * @brief xo-common's name of an XO error code (and json-rpc-peer's for -32xxx).
 * @returns a static name ("noSuchObject"), or NULL for a code it does not know.
 */
const char *cli_xo_error_name(int code);

/**
 * @brief Fail with a JSON-RPC / REST error object {code, message, data?} (borrowed).
 *        Status: XO_EXIT_AUTH for invalidCredentials (3), else XO_EXIT_FAILURE.
 *        invalidParameters lists each `data.errors[]` as "property @.<path>: <message>".
 * @returns the exit status.
 */
int cli_fail_xo(cli_err_t *e, json_object *error);

/**
 * @brief Fail with a transport error (from rpc_client.c or rest_client.c): XO_ERR_CONNECT
 *        and XO_ERR_TIMEOUT -> XO_EXIT_UNREACH, XO_ERR_TLS -> XO_EXIT_TLS, the rest ->
 *        XO_EXIT_FAILURE. @p detail is the callee's errstr (it names the kind).
 * @returns the exit status.
 */
int cli_fail_transport(cli_err_t *e, xo_err_t err, const char *detail);

#endif
