/*
 * xo_error.c - names of the error codes and the errstr helper.
 * Must not log: the caller decides what to do with an error.
 */
#include "xo_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *xo_strerror(xo_err_t err)
{
    switch (err) {
    case XO_OK:
        return "success";
    case XO_ERR_NOMEM:
        return "out of memory";
    case XO_ERR_INVALID:
        return "invalid argument";
    case XO_ERR_PARSE:
        return "malformed input";
    case XO_ERR_LIMIT:
        return "limit exceeded";
    case XO_ERR_IO:
        return "I/O error";
    case XO_ERR_CONNECT:
        return "connection failed";
    case XO_ERR_TIMEOUT:
        return "timed out";
    case XO_ERR_TLS:
        return "TLS error";
    case XO_ERR_HTTP:
        return "unexpected HTTP status";
    case XO_ERR_XAPI:
        return "XAPI error";
    case XO_ERR_KAFKA:
        return "Kafka error";
    case XO_ERR_CONFIG:
        return "configuration error";
    case XO_ERR_CRYPTO:
        return "cryptography error";
    case XO_ERR_BADSIG:
        return "signature does not verify";
    case XO_ERR_NOTFOUND:
        return "not found";
    case XO_ERR_UNSUPPORTED:
        return "not supported";
    }
    return "unknown error";
}

xo_err_t xo_seterr(char *errstr, size_t errstr_size, xo_err_t err, const char *fmt, ...)
{
    va_list ap;

    if (!errstr || errstr_size == 0)
        return err;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    return err;
}
