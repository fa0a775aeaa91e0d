/*
 * url.h - the server address xo-fleet talks to, as `register` and --url take it:
 * http(s):// or ws(s)://, a host name, IPv4 or [IPv6] address, an optional port and path
 * prefix, and for --url a token in the user part (https://<token>@xo.example.net/), as
 * xo-cli accepts it. The WebSocket API is at <prefix>api/ and REST at <prefix>rest/v0.
 * Pure parsing and formatting.
 */
#ifndef CLI_URL_H
#define CLI_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "xo_error.h"

typedef struct {
    bool tls;        /**< https:// or wss:// */
    char host[256];  /**< without brackets for IPv6 */
    int port;        /**< explicit, or 80/443 */
    char base[512];  /**< path prefix, always starting and ending with '/' */
    char token[512]; /**< user part of the URL (--url), "" for none */
} cli_url_t;

/**
 * @brief Parse @p s into @p u.
 * @returns XO_OK, XO_ERR_INVALID (scheme, host, port, query or fragment; detail in errstr),
 *          XO_ERR_LIMIT (a part too long).
 */
xo_err_t cli_url_parse(const char *s, cli_url_t *u, char *errstr, size_t errstr_size);

/**
 * @brief The HTTP(S) origin and prefix, "https://[::1]:8443/prefix/" (never the token),
 *        what `register` stores and REST requests start from.
 */
void cli_url_http(const cli_url_t *u, char *out, size_t size);

/** @brief The Host header value: "host:port", "[::1]:port". */
void cli_url_host_header(const cli_url_t *u, char *out, size_t size);

#endif
