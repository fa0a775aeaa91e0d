/*
 * gw_buf.c - growable buffer and JSON writer (see gw_buf.h).
 * Pure memory functions: no locks, no logging, no I/O. Must stay allocation-failure safe
 * (sticky failure flag) because it builds messages on the service thread.
 */
#include "core/gw_buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_buf_init(gw_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}

void gw_buf_init_pre(gw_buf_t *b, size_t head)
{
    memset(b, 0, sizeof(*b));
    b->head = head;
}

void gw_buf_fini(gw_buf_t *b)
{
    if (b->data)
        free(b->data - b->head);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void gw_buf_reset(gw_buf_t *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

bool gw_buf_reserve(gw_buf_t *b, size_t more)
{
    size_t need, ncap;
    char *p;

    if (b->failed)
        return false;
    need = b->len + more + 1;
    if (need <= b->cap)
        return true;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    p = realloc(b->data ? b->data - b->head : NULL, ncap + b->head);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p + b->head;
    b->cap = ncap;
    return true;
}

void gw_buf_append(gw_buf_t *b, const void *p, size_t n)
{
    if (!gw_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void gw_buf_puts(gw_buf_t *b, const char *s)
{
    gw_buf_append(b, s, strlen(s));
}

void gw_buf_putc(gw_buf_t *b, char c)
{
    if (!gw_buf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void gw_buf_printf(gw_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !gw_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void gw_buf_int(gw_buf_t *b, int64_t v)
{
    char text[24]; /* 20 digits and a sign at most */
    char *p = text + sizeof(text);
    /* the magnitude as unsigned: -INT64_MIN does not fit an int64_t */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    gw_buf_append(b, p, (size_t)(text + sizeof(text) - p));
}

void gw_buf_json_strn(gw_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;

    /* Worst case every byte becomes \u00XX: reserve once. */
    if (!gw_buf_reserve(b, n * 6 + 2))
        return;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        memcpy(b->data + b->len, s + start, i - start);
        b->len += i - start;
        start = i + 1;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            b->data[b->len++] = '\\';
            b->data[b->len++] = 'u';
            b->data[b->len++] = '0';
            b->data[b->len++] = '0';
            b->data[b->len++] = hex[c >> 4];
            b->data[b->len++] = hex[c & 15];
            continue;
        }
        memcpy(b->data + b->len, esc, 2);
        b->len += 2;
    }
    memcpy(b->data + b->len, s + start, n - start);
    b->len += n - start;
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}

void gw_buf_json_str(gw_buf_t *b, const char *s)
{
    gw_buf_json_strn(b, s, strlen(s));
}

void gw_buf_json_double(gw_buf_t *b, double v)
{
    if (isnan(v) || isinf(v)) {
        gw_buf_puts(b, "null");
        return;
    }
    if (v == (double)(int64_t)v && fabs(v) < 9007199254740992.0) {
        gw_buf_int(b, (int64_t)v);
        return;
    }
    /* the shortest text that reads back as the same double (8.4, not 8.4000000000000004),
     * as JavaScript writes numbers */
    for (int prec = 15; prec <= 17; prec++) {
        char text[32];
        snprintf(text, sizeof(text), "%.*g", prec, v);
        if (prec == 17 || strtod(text, NULL) == v) {
            gw_buf_puts(b, text);
            return;
        }
    }
}

char *gw_buf_steal(gw_buf_t *b, size_t *len)
{
    char *p = b->failed ? NULL : b->data;

    if (len)
        *len = b->len;
    if (b->failed)
        gw_buf_fini(b);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- JSON writer ---- */

void gw_jw_init(gw_jw_t *w, gw_buf_t *b)
{
    w->b = b;
    w->depth = 0;
    w->first[0] = true;
    w->after_key = false;
}

/* Before any value: inside an array (or after a previous top-level value) write the comma;
 * right after a member name write nothing. */
static void value_prefix(gw_jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0 && !w->first[w->depth])
        gw_buf_putc(w->b, ',');
    w->first[w->depth] = false;
}

static void push(gw_jw_t *w)
{
    if (w->depth + 1 < GW_JW_MAX_DEPTH)
        w->depth++;
    w->first[w->depth] = true;
}

void gw_jw_obj_begin(gw_jw_t *w)
{
    value_prefix(w);
    gw_buf_putc(w->b, '{');
    push(w);
}

void gw_jw_obj_end(gw_jw_t *w)
{
    gw_buf_putc(w->b, '}');
    if (w->depth > 0)
        w->depth--;
}

void gw_jw_arr_begin(gw_jw_t *w)
{
    value_prefix(w);
    gw_buf_putc(w->b, '[');
    push(w);
}

void gw_jw_arr_end(gw_jw_t *w)
{
    gw_buf_putc(w->b, ']');
    if (w->depth > 0)
        w->depth--;
}

void gw_jw_key(gw_jw_t *w, const char *k)
{
    if (!w->first[w->depth])
        gw_buf_putc(w->b, ',');
    w->first[w->depth] = false;
    gw_buf_json_str(w->b, k);
    gw_buf_putc(w->b, ':');
    w->after_key = true;
}

void gw_jw_str(gw_jw_t *w, const char *s)
{
    value_prefix(w);
    if (s)
        gw_buf_json_str(w->b, s);
    else
        gw_buf_puts(w->b, "null");
}

void gw_jw_int(gw_jw_t *w, int64_t v)
{
    value_prefix(w);
    gw_buf_int(w->b, v);
}

void gw_jw_double(gw_jw_t *w, double v)
{
    value_prefix(w);
    gw_buf_json_double(w->b, v);
}

void gw_jw_bool(gw_jw_t *w, bool v)
{
    value_prefix(w);
    gw_buf_puts(w->b, v ? "true" : "false");
}

void gw_jw_null(gw_jw_t *w)
{
    value_prefix(w);
    gw_buf_puts(w->b, "null");
}

void gw_jw_raw(gw_jw_t *w, const char *json, size_t n)
{
    value_prefix(w);
    gw_buf_append(w->b, json, n);
}

/* ---- shared outbound messages ---- */

gw_msg_t *gw_msg_from_buf(gw_buf_t *b)
{
    gw_msg_t *m;
    size_t len;
    char *data;

    if (b->head != GW_MSG_PRE || b->failed || !b->data) {
        gw_buf_fini(b);
        return NULL;
    }
    m = malloc(sizeof(*m));
    if (!m) {
        gw_buf_fini(b);
        return NULL;
    }
    data = gw_buf_steal(b, &len);
    m->refs = 1;
    m->len = len;
    m->data = data;
    m->ts_ms = 0;
    m->items = 0;
    return m;
}

gw_msg_t *gw_msg_new_copy(const char *s, size_t n)
{
    gw_buf_t b;
    gw_buf_init_pre(&b, GW_MSG_PRE);
    gw_buf_append(&b, s, n);
    return gw_msg_from_buf(&b);
}

void gw_msg_ref(gw_msg_t *m)
{
    m->refs++;
}

void gw_msg_unref(gw_msg_t *m)
{
    if (!m || --m->refs > 0)
        return;
    free(m->data - GW_MSG_PRE);
    free(m);
}
