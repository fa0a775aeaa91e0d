/*
 * logfmt.c - the strict log-line reader of logfmt.h (test support). It accepts only what
 * xo_log.c promises to write, so a test that parses a line proves that no logged value
 * escaped its field. Must not: accept anything the grammar in logfmt.h does not allow.
 */
#include "logfmt.h"

#include <stdbool.h>
#include <string.h>

/* Length of the valid UTF-8 character at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80 ? 1 : s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    unsigned cp;

    if (len == 0 || s[0] > 0xf4 || len > n)
        return 0;
    cp = len == 1 ? s[0] : len == 2 ? s[0] & 0x1fu : len == 3 ? s[0] & 0x0fu : s[0] & 0x07u;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode one escape at *p (just after the backslash) into f. */
static const char *decode_escape(const char **p, const char *end, logfmt_field_t *f)
{
    char c = *p < end ? **p : '\0', out;

    if (c == '"' || c == '\\')
        out = c;
    else if (c == 'n')
        out = '\n';
    else if (c == 't')
        out = '\t';
    else if (c == 'x' && end - *p >= 3 && hexval((*p)[1]) >= 0 && hexval((*p)[2]) >= 0)
        out = (char)(hexval((*p)[1]) << 4 | hexval((*p)[2]));
    else
        return "unknown escape";
    *p += c == 'x' ? 3 : 1;
    f->value[f->value_len++] = out;
    return NULL;
}

static const char *parse_value(const char **p, const char *end, logfmt_field_t *f)
{
    const char *s = *p, *why;
    bool quoted = s < end && *s == '"';

    f->quoted = quoted;
    s += quoted;
    while (s < end) {
        unsigned char c = (unsigned char)*s;
        size_t len;
        if (f->value_len + 4 >= LOGFMT_MAX_VALUE)
            return "value too long";
        if (quoted && c == '"')
            break;
        if (!quoted && c == ' ')
            break;
        if (!quoted && (c == '"' || c == '='))
            return "quote or '=' inside a bare value";
        if (c == '\\') {
            s++;
            if ((why = decode_escape(&s, end, f)) != NULL)
                return why;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            return "raw control byte";
        if ((len = utf8_len((const unsigned char *)s, (size_t)(end - s))) == 0)
            return "invalid UTF-8";
        memcpy(f->value + f->value_len, s, len);
        f->value_len += len;
        s += len;
    }
    if (quoted && (s >= end || *s != '"'))
        return "unterminated quoted value";
    f->value[f->value_len] = '\0';
    *p = s + quoted;
    return NULL;
}

static const char *parse_field(const char **p, const char *end, logfmt_field_t *f)
{
    const char *s = *p;
    size_t k = 0;

    memset(f, 0, sizeof(*f));
    while (s < end && (strchr("_.-", *s) || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                       (*s >= '0' && *s <= '9'))) {
        if (*s == '\0' || k + 1 >= LOGFMT_MAX_KEY)
            return "bad or long key";
        f->key[k++] = *s++;
    }
    if (k == 0 || s >= end || *s != '=')
        return "field without key=";
    *p = s + 1;
    return parse_value(p, end, f);
}

const char *logfmt_parse(const char *line, size_t len, logfmt_line_t *out)
{
    const char *p = line, *end = line + len - 1, *why;

    out->n = 0;
    if (len == 0 || line[len - 1] != '\n')
        return "no final newline";
    while (p < end) {
        if (out->n == LOGFMT_MAX_FIELDS)
            return "too many fields";
        if ((why = parse_field(&p, end, &out->f[out->n])) != NULL)
            return why;
        out->n++;
        if (p < end && *p++ != ' ')
            return "fields not separated by one space";
        if (p == end && p[-1] == ' ')
            return "trailing space";
    }
    return out->n ? NULL : "empty line";
}

const logfmt_field_t *logfmt_get(const logfmt_line_t *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->f[i].key, key) == 0)
            return &l->f[i];
    }
    return NULL;
}
