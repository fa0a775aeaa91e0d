/*
 * password.h - the password `register` asks for when it is not on the command line:
 * prompted on the terminal without echo when stdin is one, else read as the first line of
 * stdin (for scripts: `printf '%s\n' "$PW" | xo-fleet register URL USER`).
 */
#ifndef CLI_PASSWORD_H
#define CLI_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "xo_error.h"

/**
 * @brief Read a password into @p out (NUL-terminated, the line end removed). On a
 *        terminal, "Password: " goes to stderr and echo is off until the line is read
 *        (restored also on error).
 * @returns XO_OK, XO_ERR_IO (end of input before a line, a terminal error),
 *          XO_ERR_LIMIT (longer than size - 1).
 */
xo_err_t cli_read_password(bool tty, char *out, size_t size, char *errstr, size_t errstr_size);

#endif
