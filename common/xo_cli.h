/*
 * xo_cli.h - the command line every daemon shares: --config, --check-config, --help,
 * --version, --debug, --print-config-docs. Parses arguments, loads the config file,
 * applies the environment and validates. This is the program's boundary, so it prints
 * its errors to stderr itself.
 */
#ifndef XO_CLI_H
#define XO_CLI_H

#include "xo_config.h"

/** Exit codes shared by the daemons (documented in docs/operations.md). */
enum {
    XO_EXIT_OK = 0,      /**< clean shutdown */
    XO_EXIT_FAILURE = 1, /**< runtime failure (see the log) */
    XO_EXIT_USAGE = 2,   /**< bad command line */
    XO_EXIT_CONFIG = 3,  /**< invalid configuration */
    XO_EXIT_AUTH = 4,    /**< a peer refused our credentials */
    XO_EXIT_TLS = 5,     /**< TLS verification failed (wrong fingerprint or CA) */
    XO_EXIT_UNREACH = 6  /**< a required peer stayed unreachable */
};

typedef struct {
    const char *prog;          /**< "xo-agent" */
    const char *summary;       /**< one line: what the program does */
    const char *subcommands;   /**< extra usage text, or NULL */
    const xo_cfg_spec_t *spec; /**< settings table (must include log.level and log.debug) */
    const char *env_prefix;    /**< "XO_AGENT" */
} xo_cli_info_t;

typedef enum { XO_CLI_RUN, XO_CLI_EXIT } xo_cli_action_t;

/**
 * @brief Handle the common options. On XO_CLI_RUN, *cfg is a loaded, validated config
 *        (caller frees) and logging is configured from it. On XO_CLI_EXIT, *exit_code
 *        says how to exit and *cfg is NULL.
 */
xo_cli_action_t xo_cli_parse(const xo_cli_info_t *info, int argc, char **argv, xo_config_t **cfg,
                             int *exit_code);

/**
 * @brief The `keygen --out DIR` subcommand both daemons have: write a new Ed25519 pair
 *        DIR/<base>.key (PKCS#8 PEM, 0600) and DIR/<base>.pub (created 0700 if missing,
 *        never overwriting), print both paths and the key id.
 * @param argv the subcommand's arguments, argv[0] being "keygen"
 * @returns the exit code: XO_EXIT_OK, XO_EXIT_USAGE, XO_EXIT_FAILURE (reason on stderr)
 */
int xo_cli_keygen(const char *prog, const char *base, int argc, char **argv);

/** Settings every daemon has; put this macro inside the spec table. */
#define XO_CFG_LOG_SPECS                                                                           \
    {"log.level", XO_CFG_STRING, "info", 0, 0, false, "Minimum level: debug, info, warn, error."}, \
    {                                                                                              \
        "log.debug", XO_CFG_STRING, "", 0, 0, false,                                               \
            "Debug contexts, comma-separated: config, xapi, kafka, sync, view, ws, cmd, all."      \
    }

#endif
