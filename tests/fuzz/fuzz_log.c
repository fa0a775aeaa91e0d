/*
 * fuzz_log.c - libFuzzer target for the log line formatter (common/xo_log.c): one input
 * builds a format of up to 8 fields (key, quoted or bare, literal text around the value)
 * and the string values for it; the line xo_log_format() writes, into a buffer of a size
 * the input also picks, must read back (tests/support/logfmt.c) as exactly those fields,
 * each decoding to the bytes given, or a clean prefix of them ending in truncated=true.
 * Must never crash; aborts when a value escapes its field.
 *
 * Input: byte 0 = field count (low 3 bits + 1) and level (bits 3-4), byte 1 = buffer
 * size, bytes 2..9 = one descriptor per field (bit 0 quoted, bits 1-3 text before, bits
 * 4-6 text after), then the values separated by NUL bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logfmt.h"
#include "xo_log.h"

#define FIELDS 8

static const char *const around[] = {"", "/", "://", ":", "-x", "[", "]", "."};
static const char *const keys[FIELDS] = {"user", "path", "addr", "vm",
                                         "msg",  "id",   "url",  "reason"};

typedef struct {
    char fmt[512];
    char value[FIELDS][XO_LOG_LINE_MAX]; /* what each field must decode to */
    size_t value_len[FIELDS];
    const char *arg[FIELDS];
    size_t n;
} spec_t;

/* Split the input into the descriptors and the NUL-separated values. */
static void build(const uint8_t *data, size_t size, spec_t *s, char *args)
{
    size_t used, pos = 10 < size ? 10 : size;
    const char *p = args, *end = args + (size - pos);

    s->n = (data[0] & 7u) + 1;
    memcpy(args, data + pos, size - pos);
    args[size - pos] = '\0';
    used = (size_t)snprintf(s->fmt, sizeof(s->fmt), "event=fuzz seq=%%d");
    for (size_t i = 0; i < FIELDS; i++) {
        uint8_t d = 2 + i < size ? data[2 + i] : 0;
        const char *pre = around[(d >> 1) & 7u], *post = around[(d >> 4) & 7u];
        const char *q = d & 1u ? "\"" : "";
        size_t alen = strlen(p);

        s->arg[i] = p;
        p += alen + (p + alen < end ? 1 : 0); /* past the NUL that ended it, if any */
        if (i >= s->n)
            continue;
        used += (size_t)snprintf(s->fmt + used, sizeof(s->fmt) - used, " %s=%s%s%%s%s%s", keys[i],
                                 q, pre, post, q);
        s->value_len[i] =
            (size_t)snprintf(s->value[i], sizeof(s->value[i]), "%s%s%s", pre, s->arg[i], post);
        if (s->value_len[i] >= sizeof(s->value[i]))
            s->value_len[i] = sizeof(s->value[i]) - 1;
    }
}

static void check(const char *line, size_t len, size_t cap, const spec_t *s)
{
    static logfmt_line_t l;
    static const char *const head[] = {"ts", "level", "mod", "event", "seq"};
    const char *why = logfmt_parse(line, len, &l);
    bool cut;
    size_t want;

    if (why || len >= cap || strlen(line) != len) {
        fprintf(stderr, "fuzz_log: %s: %s\n", why ? why : "length", line);
        abort();
    }
    cut = l.n > 0 && strcmp(l.f[l.n - 1].key, "truncated") == 0;
    want = 5 + s->n + (cut ? 1 : 0);
    if ((!cut && l.n != want) || l.n > want || l.n < 5)
        abort();
    if (cut && strcmp(l.f[l.n - 1].value, "true") != 0)
        abort();
    for (size_t i = 0; i + cut < l.n; i++) {
        const logfmt_field_t *f = &l.f[i];
        bool last = i + 1 + cut == l.n;
        if (i < 5) {
            if (strcmp(f->key, head[i]) != 0)
                abort();
            continue;
        }
        if (strcmp(f->key, keys[i - 5]) != 0)
            abort();
        /* a field before the last is whole; the last one of a cut line may be a prefix */
        if (f->value_len > s->value_len[i - 5] ||
            (!(cut && last) && f->value_len != s->value_len[i - 5]) ||
            memcmp(f->value, s->value[i - 5], f->value_len) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static spec_t s;
    static char args[1 << 20], line[XO_LOG_LINE_MAX];
    size_t cap, len;

    if (size < 1 || size > sizeof(args) - 1)
        return 0;
    memset(&s, 0, sizeof(s));
    build(data, size, &s, args);
    cap = XO_LOG_LINE_MIN + (size > 1 ? data[1] : 255) * 16u;
    cap = cap > sizeof(line) ? sizeof(line) : cap;
    len =
        xo_log_format(line, cap, (xo_log_level_t)((data[0] >> 3) & 3u), "fuzz", s.fmt, 7, s.arg[0],
                      s.arg[1], s.arg[2], s.arg[3], s.arg[4], s.arg[5], s.arg[6], s.arg[7]);
    check(line, len, cap, &s);
    return 0;
}
