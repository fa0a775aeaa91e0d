/*
 * session.h - how every command that needs the server starts: the server and the token
 * from --url or the registered config file, a WebSocket connection, and
 * session.signIn {token}, as xo-cli's connect() does.
 */
#ifndef CLI_SESSION_H
#define CLI_SESSION_H

#include "cli.h"
#include "rpc_client.h"
#include "url.h"

typedef struct {
    cli_url_t url;
    char token[512];
    bool allow_unauthorized;
} cli_server_t;

/**
 * @brief The server to talk to: --url (its user part is the token) or the config file.
 * @returns 0, or an exit status with the line in @p e (XO_EXIT_CONFIG: not registered,
 *          unreadable file; XO_EXIT_USAGE: a bad --url).
 */
int cli_server_resolve(const cli_opts_t *o, cli_server_t *s, cli_err_t *e);

/**
 * @brief Resolve the server, connect and sign in with the token.
 * @returns 0 with *out to cli_rpc_close(), or an exit status with the line in @p e
 *          (XO_EXIT_AUTH when the token is refused).
 */
int cli_connect(const cli_opts_t *o, cli_rpc_t **out, cli_err_t *e);

/**
 * @brief One call on an open connection: 0 with *result (caller puts it), or the exit
 *        status of a transport failure or an error answer, with its line in @p e.
 */
int cli_call(const cli_opts_t *o, cli_rpc_t *c, const char *method, json_object *params,
             json_object **result, cli_err_t *e);

#endif
