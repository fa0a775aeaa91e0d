/*
 * xo_error.h - the one error type of libxofleet.
 *
 * Every fallible function returns xo_err_t (XO_OK on success). Human detail, when a
 * function offers it, goes into a caller-provided buffer (errstr, errstr_size); nothing
 * in the library prints errors itself.
 */
#ifndef XO_ERROR_H
#define XO_ERROR_H

#include <stddef.h>

typedef enum {
    XO_OK = 0,
    XO_ERR_NOMEM,      /**< allocation failed */
    XO_ERR_INVALID,    /**< invalid argument or value */
    XO_ERR_PARSE,      /**< malformed input (XML, JSON, config, message) */
    XO_ERR_LIMIT,      /**< input exceeds a documented limit (size, depth, count) */
    XO_ERR_IO,         /**< file or socket error */
    XO_ERR_CONNECT,    /**< could not connect to a peer */
    XO_ERR_TIMEOUT,    /**< an operation did not finish in time */
    XO_ERR_TLS,        /**< TLS handshake or certificate verification failed */
    XO_ERR_HTTP,       /**< unexpected HTTP status */
    XO_ERR_XAPI,       /**< XAPI answered with a Failure (see the error code and params) */
    XO_ERR_KAFKA,      /**< librdkafka reported an error */
    XO_ERR_CONFIG,     /**< configuration error */
    XO_ERR_CRYPTO,     /**< key loading, signing or verification machinery failed */
    XO_ERR_BADSIG,     /**< a signature did not verify */
    XO_ERR_NOTFOUND,   /**< a looked-up item does not exist */
    XO_ERR_UNSUPPORTED /**< the operation is not supported */
} xo_err_t;

/**
 * @brief A static, human-readable description of an error code.
 * @returns never NULL; "unknown error" for codes outside the enum.
 */
const char *xo_strerror(xo_err_t err);

/**
 * @brief Format a message into an errstr buffer, as snprintf does; tolerates a NULL
 *        buffer or a zero size. Returns @p err so callers can write `return xo_seterr(...)`.
 */
xo_err_t xo_seterr(char *errstr, size_t errstr_size, xo_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
