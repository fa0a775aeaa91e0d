/*
 * config.h - where `register` keeps the server and its token: a JSON file
 * `$XDG_CONFIG_HOME/xo-fleet/config.json` (`~/.config/...` when unset), mode 0600 in a
 * 0700 directory, written whole through a temporary file and a rename. It holds the
 * server URL, the token and allowUnauthorized; never a password.
 */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "xo_error.h"

typedef struct {
    char server[1024]; /**< "http://host:port/" as register normalised it, "" for none */
    char token[512];
    bool allow_unauthorized;
} cli_config_t;

/**
 * @brief The config file's path.
 * @returns XO_OK, XO_ERR_CONFIG (neither XDG_CONFIG_HOME nor HOME set, or too long).
 */
xo_err_t cli_config_path(char *out, size_t size, char *errstr, size_t errstr_size);

/**
 * @brief Read the file. A missing file is not an error: *found is false and @p c empty.
 * @returns XO_OK, XO_ERR_IO (unreadable), XO_ERR_PARSE (not the JSON object expected).
 */
xo_err_t cli_config_load(const char *path, cli_config_t *c, bool *found, char *errstr,
                         size_t errstr_size);

/**
 * @brief Write the file (and its directory, mode 0700, when missing), mode 0600 whatever
 *        the umask, replacing it atomically.
 * @returns XO_OK, XO_ERR_IO (detail in errstr).
 */
xo_err_t cli_config_save(const char *path, const cli_config_t *c, char *errstr, size_t errstr_size);

/**
 * @brief Forget the server and the token: remove the file (absent already is fine).
 * @returns XO_OK, XO_ERR_IO.
 */
xo_err_t cli_config_remove(const char *path, char *errstr, size_t errstr_size);

#endif
