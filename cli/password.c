/*
 * password.c - reading a password without echo (password.h). Reads byte by byte from
 * fd 0, so that nothing past the line is consumed, and restores the terminal on every
 * path.
 */
#include "password.h"

#include "interrupt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static xo_err_t read_line(char *out, size_t size, char *errstr, size_t errstr_size)
{
    size_t n = 0;

    for (;;) {
        char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r < 0 && errno == EINTR && !cli_interrupted)
            continue;
        if (r < 0)
            return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot read the password: %s",
                             strerror(errno));
        if (r == 0) {
            if (n == 0)
                return xo_seterr(errstr, errstr_size, XO_ERR_IO,
                                 "no password: give it as an argument or on stdin");
            break;
        }
        if (c == '\n')
            break;
        if (n + 1 >= size)
            return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "password too long");
        out[n++] = c;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    return XO_OK;
}

xo_err_t cli_read_password(bool tty, char *out, size_t size, char *errstr, size_t errstr_size)
{
    struct termios saved, quiet;
    xo_err_t err;

    if (!tty)
        return read_line(out, size, errstr, errstr_size);
    if (tcgetattr(STDIN_FILENO, &saved) != 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot read the terminal: %s",
                         strerror(errno));
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    fputs("Password: ", stderr);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot turn the echo off: %s",
                         strerror(errno));
    err = read_line(out, size, errstr, errstr_size);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    return err;
}
