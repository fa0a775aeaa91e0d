/*
 * head_route.c - the request-head classifier of head_route.h: the request line, then the
 * header lines for `Upgrade: websocket`. Bytes only: no allocation, no state, no logging.
 */
#include "transport/head_route.h"

#include <string.h>

#define GET_API "GET /api"

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive: does [p, end) start with the lowercase @p word? */
static bool starts_nocase(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(end - p) < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(p[i]) != word[i])
            return false;
    return true;
}

/* The end of the line starting at @p p (its '\n'), or NULL. */
static const char *line_end(const char *p, const char *end)
{
    return memchr(p, '\n', (size_t)(end - p));
}

/* Can [p, eol) be, or begin, the request line "GET /api[/][?query] HTTP/x" (the
 * target's path exactly /api or /api/: lws hands the query apart, and
 * endpoint_jsonrpc.c compares the path only)? @p whole: [p, eol) is the whole line. */
static bool is_api_request_line(const char *p, const char *eol, bool whole)
{
    size_t n = (size_t)(eol - p), k = strlen(GET_API);
    const char *t = p + k;

    if (memcmp(p, GET_API, n < k ? n : k) != 0)
        return false;
    if (t < eol && *t == '/')
        t++;
    if (t >= eol)
        return !whole;
    return *t == ' ' || *t == '?';
}

/* Does the header value [p, eol) name the websocket protocol (a comma-separated list)? */
static bool names_websocket(const char *p, const char *eol)
{
    for (; p < eol; p++)
        if (starts_nocase(p, eol, "websocket"))
            return true;
    return false;
}

/* Header lines from @p p: GW_ROUTE_SESSIONS at the end of the head if one of them is
 * `Upgrade: ...websocket...`, GW_ROUTE_HTTP if none is, GW_ROUTE_WAIT before the end. */
static gw_route_t route_headers(const char *p, const char *end)
{
    bool upgrade = false;

    for (;;) {
        const char *eol = line_end(p, end);

        if (!eol)
            return GW_ROUTE_WAIT;
        if (eol == p || (eol == p + 1 && *p == '\r'))
            return upgrade ? GW_ROUTE_SESSIONS : GW_ROUTE_HTTP; /* the empty line */
        if (starts_nocase(p, eol, "upgrade:") && names_websocket(p + 8, eol))
            upgrade = true;
        p = eol + 1;
    }
}

gw_route_t gw_head_route(const char *head, size_t len, bool full)
{
    const char *end, *eol;
    gw_route_t r;

    if (!head)
        return GW_ROUTE_HTTP;
    end = head + len;
    eol = line_end(head, end);
    if (!is_api_request_line(head, eol ? eol : end, eol != NULL))
        return GW_ROUTE_HTTP; /* not a GET of /api/: often known from the first bytes */
    r = eol ? route_headers(eol + 1, end) : GW_ROUTE_WAIT;
    if (r == GW_ROUTE_WAIT && full)
        return len >= strlen(GET_API) ? GW_ROUTE_SESSIONS : GW_ROUTE_HTTP;
    return r;
}
