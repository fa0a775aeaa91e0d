/*
 * cli.h - what every module of xo-fleet (the command-line client) shares: the global
 * options of one invocation, and the error a command ends with. A command returns an
 * exit status and, when it fails, leaves exactly one line in a cli_err_t; only main.c
 * prints it (to stderr) and exits. Nothing below main.c prints an error or exits.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "xo_cli.h" /* XO_EXIT_*: the exit statuses shared with the daemons */

#define CLI_PROG "xo-fleet"

/** How results are printed: human on a terminal, JSON for scripts (docs/cli.md). */
typedef enum {
    CLI_OUT_AUTO = 0, /**< human when stdout is a terminal, else JSON (strings raw) */
    CLI_OUT_HUMAN,
    CLI_OUT_JSON /**< --json: always JSON, strings quoted */
} cli_out_mode_t;

/** The global options of one invocation (main.c fills it). */
typedef struct {
    const char *url;         /**< --url (token as user: https://token@host/), or NULL */
    bool allow_unauthorized; /**< --allowUnauthorized / --au */
    cli_out_mode_t out;      /**< --json */
    bool stdout_tty, stderr_tty, stdin_tty;
    int timeout_ms; /**< --timeout: connection and answer timeout, 0 for none */
} cli_opts_t;

/** The one error line a failed command leaves for main.c, and its exit status. */
typedef struct {
    int status;     /**< XO_EXIT_* */
    char line[768]; /**< one line, no newline ("" when the status says it all) */
} cli_err_t;

/**
 * @brief Set the error line (printf-like; newlines become spaces so that it stays one
 *        line) and its exit status.
 * @returns @p status, so that a command can `return cli_fail(...)`.
 */
int cli_fail(cli_err_t *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** A subcommand: argv[0] is its own name. */
typedef int (*cli_cmd_fn)(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);

#endif
