/*
 * url.c - parsing the server address of `register` and --url (url.h). Bounded copies
 * only; it never resolves a name (the transports do).
 */
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static xo_err_t copy(char *out, size_t size, const char *s, size_t n, char *errstr,
                     size_t errstr_size, const char *what)
{
    if (n >= size)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "invalid URL: %s too long", what);
    memcpy(out, s, n);
    out[n] = '\0';
    return XO_OK;
}

static xo_err_t parse_scheme(const char **s, cli_url_t *u, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *prefix;
        bool tls;
    } SCHEMES[] = {{"http://", false}, {"ws://", false}, {"https://", true}, {"wss://", true}};

    for (size_t i = 0; i < sizeof(SCHEMES) / sizeof(SCHEMES[0]); i++) {
        size_t n = strlen(SCHEMES[i].prefix);
        if (!strncasecmp(*s, SCHEMES[i].prefix, n)) {
            u->tls = SCHEMES[i].tls;
            *s += n;
            return XO_OK;
        }
    }
    return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                     "invalid URL: expected http://, https://, ws:// or wss://");
}

static xo_err_t parse_port(const char *s, size_t n, int *port, char *errstr, size_t errstr_size)
{
    long v = 0;

    if (n == 0 || n > 5)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid URL: bad port");
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid URL: bad port");
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid URL: bad port");
    *port = (int)v;
    return XO_OK;
}

/* host[:port] or [v6][:port], n bytes of s */
static xo_err_t parse_authority(const char *s, size_t n, cli_url_t *u, char *errstr,
                                size_t errstr_size)
{
    const char *host = s, *colon = NULL;
    size_t host_len;

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid URL: missing ]");
        host = s + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < s + n) {
            if (close[1] != ':')
                return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid URL: bad address");
            colon = close + 1;
        }
    } else {
        colon = memchr(s, ':', n);
        host_len = colon ? (size_t)(colon - s) : n;
    }
    if (host_len == 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid URL: no host");
    if (copy(u->host, sizeof(u->host), host, host_len, errstr, errstr_size, "host") != XO_OK)
        return XO_ERR_LIMIT;
    u->port = u->tls ? 443 : 80;
    if (colon)
        return parse_port(colon + 1, (size_t)(s + n - colon - 1), &u->port, errstr, errstr_size);
    return XO_OK;
}

xo_err_t cli_url_parse(const char *s, cli_url_t *u, char *errstr, size_t errstr_size)
{
    const char *auth, *end, *at;
    size_t plen;
    xo_err_t err;

    memset(u, 0, sizeof(*u));
    if (strpbrk(s, "?# \t\r\n"))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                         "invalid URL: no query, fragment or space allowed");
    err = parse_scheme(&s, u, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    end = s + strcspn(s, "/");
    auth = s;
    at = memchr(s, '@', (size_t)(end - s));
    if (at) {
        err = copy(u->token, sizeof(u->token), s, (size_t)(at - s), errstr, errstr_size, "token");
        if (err != XO_OK)
            return err;
        auth = at + 1;
    }
    err = parse_authority(auth, (size_t)(end - auth), u, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    /* the prefix, with one '/' at each end */
    plen = strlen(end);
    while (plen > 0 && end[plen - 1] == '/')
        plen--;
    if (plen + 2 > sizeof(u->base))
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "invalid URL: path too long");
    if (plen == 0) {
        strcpy(u->base, "/");
    } else {
        memcpy(u->base, end, plen);
        u->base[plen] = '/';
        u->base[plen + 1] = '\0';
    }
    return XO_OK;
}

void cli_url_host_header(const cli_url_t *u, char *out, size_t size)
{
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(out, size, "%s%s%s:%d", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
}

void cli_url_http(const cli_url_t *u, char *out, size_t size)
{
    char hh[300];
    cli_url_host_header(u, hh, sizeof(hh));
    snprintf(out, size, "%s://%s%s", u->tls ? "https" : "http", hh, u->base);
}
