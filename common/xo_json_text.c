/*
 * xo_json_text.c - JSON text as json-c writes it, into a growable buffer.
 * Must not: allocate per value (one buffer grows and is reused), build json-c objects, or
 * accept what json-c would write differently (non-finite doubles are refused).
 */
#include "xo_json_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xo_jtext_fini(xo_jtext_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

xo_err_t xo_jtext_reserve(xo_jtext_t *b, size_t extra)
{
    size_t want, cap;
    char *np;

    if (extra > SIZE_MAX - b->len - 1)
        return XO_ERR_NOMEM;
    want = b->len + extra + 1;
    if (want <= b->cap)
        return XO_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    np = realloc(b->p, cap);
    if (!np)
        return XO_ERR_NOMEM;
    b->p = np;
    b->cap = cap;
    return XO_OK;
}

xo_err_t xo_jtext_byte(xo_jtext_t *b, char c)
{
    return xo_jtext_add(b, &c, 1);
}

/* The escape of byte c, or NULL when it is copied as it is (json_escape_str of json-c). */
static const char *escape_of(unsigned char c, char u[7])
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '\b':
        return "\\b";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    case '\f':
        return "\\f";
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    default:
        break;
    }
    if (c >= 0x20)
        return NULL;
    memcpy(u, "\\u00", 4);
    u[4] = hex[c >> 4];
    u[5] = hex[c & 0xF];
    u[6] = '\0';
    return u;
}

/* Whether any of the 8 bytes in w needs an escape: below 0x20, '"' or '\\'. The classic
 * "has a byte less than" tests (exact when they say no; a yes may come from a borrow, and
 * the caller then looks at the bytes one by one, so a false yes only costs time). */
static int word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high ? 1 : 0;
}

/* Bytes from s[i] that need no escape, eight at a time while they last. */
static size_t plain_run(const unsigned char *u, size_t i, size_t n)
{
    uint64_t w;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, u + i, 8);
        if (word_needs_escape(w))
            break;
    }
    if (i < n && n - i < 8 && n >= 8) { /* the tail: the last 8 bytes, overlapping */
        memcpy(&w, u + n - 8, 8);
        if (!word_needs_escape(w))
            return n;
    }
    while (i < n && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\')
        i++;
    return i;
}

xo_err_t xo_jtext_str(xo_jtext_t *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run;
    const char *rep;
    char ubuf[7];

    /* Worst case 6 bytes per byte: reserving it once keeps the loop free of checks. */
    if (n > (SIZE_MAX - 2) / 6 ||
        (6 * n + 2 >= b->cap - b->len && xo_jtext_reserve(b, 6 * n + 2) != XO_OK))
        return XO_ERR_NOMEM;
    b->p[b->len++] = '"';
    while (i < n) {
        run = i;
        i = plain_run(u, i, n);
        xo_short_copy(b->p + b->len, s + run, i - run);
        b->len += i - run;
        if (i == n)
            break;
        rep = escape_of(u[i++], ubuf);
        memcpy(b->p + b->len, rep, strlen(rep));
        b->len += strlen(rep);
    }
    b->p[b->len++] = '"';
    b->p[b->len] = '\0';
    return XO_OK;
}

xo_err_t xo_jtext_cstr(xo_jtext_t *b, const char *s)
{
    return s ? xo_jtext_str(b, s, strlen(s)) : xo_jtext_add(b, "null", 4);
}

/* Written by hand, not with snprintf: every record has four integers (its envelope), and
 * snprintf's format parsing was a few per cent of the agent's decoding thread. Same digits
 * as "%" PRId64. */
xo_err_t xo_jtext_int(xo_jtext_t *b, int64_t v)
{
    char num[24], *p = num + sizeof num;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN too */

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return xo_jtext_add(b, p, (size_t)(num + sizeof num - p));
}

xo_err_t xo_jtext_double(xo_jtext_t *b, double d)
{
    char num[40], *comma;
    int n;

    if (!isfinite(d))
        return XO_ERR_INVALID;
    n = snprintf(num, sizeof num, "%.17g", d);
    /* json-c prints in the current locale and turns a decimal comma back into a point */
    comma = strchr(num, ',');
    if (comma)
        *comma = '.';
    if (!strchr(num, '.') && !strchr(num, 'e') && n < (int)sizeof num - 2) {
        memcpy(num + n, ".0", 3);
        n += 2;
    }
    return xo_jtext_add(b, num, (size_t)n);
}
