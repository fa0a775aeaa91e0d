/*
 * json_members.c - a top-level member walk over JSON text (see json_members.h).
 */
#include "core/json_members.h"

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 64

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* @p p just past an opening quote: the closing quote's position, or NULL. */
static const char *string_end(const char *p, const char *end)
{
    while (p < end) {
        if (*p == '\\')
            p += 2;
        else if (*p == '"')
            return p;
        else
            p++;
    }
    return NULL;
}

/* An object or array from its opening bracket: just past its closing one, or NULL. The
 * brackets must match (a stack of the open ones); strings inside are skipped whole. */
static const char *nested_end(const char *p, const char *end)
{
    char open[MAX_DEPTH];
    int depth = 0;

    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = string_end(p + 1, end);
            if (!p)
                return NULL;
        } else if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH)
                return NULL;
            open[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || open[depth - 1] != c)
                return NULL;
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

/* A number or a literal: just past its last byte, or NULL when it is not one. */
static const char *scalar_end(const char *p, const char *end)
{
    const char *s = p;

    if (!(*p == '-' || (*p >= '0' && *p <= '9') || *p == 't' || *p == 'f' || *p == 'n'))
        return NULL;
    while (p < end && !strchr(",}] \t\r\n", *p))
        p++;
    return p > s ? p : NULL;
}

/* A value from its first byte: just past its last one, or NULL. */
static const char *value_end(const char *p, const char *end)
{
    const char *q;

    if (p >= end)
        return NULL;
    if (*p == '"') {
        q = string_end(p + 1, end);
        return q ? q + 1 : NULL;
    }
    if (*p == '{' || *p == '[')
        return nested_end(p, end);
    return scalar_end(p, end);
}

/* A key from its opening quote: just past the closing one, or NULL (also for a key with an
 * escape or a control byte, whose raw text is not its name). */
static const char *key_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\' || c < 0x20)
            return NULL;
    }
    return NULL;
}

bool gw_json_members(const char *json, size_t len, gw_json_member_cb cb, void *opaque)
{
    const char *p = json, *end = json + len;

    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return false;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return skip_ws(p + 1, end) == end;
    for (;;) {
        const char *key, *kend, *val, *vend;
        if (p >= end || *p != '"')
            return false;
        key = p + 1;
        kend = key_end(p, end);
        if (!kend)
            return false;
        p = skip_ws(kend, end);
        if (p >= end || *p != ':')
            return false;
        val = skip_ws(p + 1, end);
        vend = value_end(val, end);
        if (!vend)
            return false;
        if (!cb(opaque, key, (size_t)(kend - 1 - key), val, (size_t)(vend - val)))
            return true;
        p = skip_ws(vend, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}')
            return skip_ws(p + 1, end) == end;
        return false;
    }
}
