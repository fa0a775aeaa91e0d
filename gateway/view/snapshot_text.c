/*
 * snapshot_text.c - the snapshot's text in a message (see snapshot_text.h): a scanner of
 * the top-level object's members that skips values by their brackets and strings. Pure.
 */
#include "view/snapshot_text.h"

#include <string.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* @p p at a '"': past the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* @p p at a value: past it (a scalar ends at the ',' or '}' after it), or NULL. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    while (p < end) {
        char ch = *p;
        if (ch == '"') {
            if (!(p = skip_string(p, end)))
                return NULL;
            if (depth == 0)
                return p;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (ch == ',' && depth == 0) {
            return p;
        }
        p++;
    }
    return NULL;
}

bool gw_snapshot_text(const char *msg, size_t len, size_t *off, size_t *n)
{
    const char *end = msg + len, *p = skip_ws(msg, end), *value = NULL, *value_end = NULL;

    if (p == end || *p != '{')
        return false;
    for (p = skip_ws(p + 1, end); p < end && *p == '"'; p = skip_ws(p + 1, end)) {
        const char *key = p + 1, *key_end;
        bool is_snapshot;

        if (!(p = skip_string(p, end)))
            return false;
        key_end = p - 1;
        if (memchr(key, '\\', (size_t)(key_end - key)))
            return false; /* an escaped key may name "snapshot": leave it to the parser */
        is_snapshot = key_end - key == 8 && !memcmp(key, "snapshot", 8);
        if (is_snapshot && value)
            return false; /* a second "snapshot": the parser keeps the last */
        p = skip_ws(p, end);
        if (p == end || *p != ':')
            return false;
        p = skip_ws(p + 1, end);
        if (is_snapshot)
            value = p;
        if (!(p = skip_value(p, end)))
            return false;
        if (is_snapshot)
            value_end = p;
        else if (value)
            return false; /* a member after the snapshot */
        p = skip_ws(p, end);
        if (p == end || *p != ',')
            break;
    }
    /* only an object: a record's snapshot is one, and a bare number's end is where a
     * parser of the kept text alone could not tell it (json-c waits for more digits) */
    if (!value || p == end || *p != '}' || value_end <= value || *value != '{')
        return false;
    *off = (size_t)(value - msg);
    *n = (size_t)(value_end - value);
    return true;
}
