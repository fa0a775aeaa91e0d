/*
 * xo_log.c - the structured log writer.
 * Formats a whole line in a local buffer and writes it with one call so lines from
 * several threads never interleave. Must not allocate on the hot path.
 * The format string is trusted (a literal in our code): it holds the keys and quotes.
 * Every value a conversion produces is not: it is escaped so that no input can end its
 * field, add a key or start a new line (see xo_log.h for the exact rules).
 */
#include "xo_log.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <wchar.h>

unsigned xo_log_debug_mask;
static xo_log_level_t min_level = XO_LOG_INFO;
static FILE *out;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static const struct {
    const char *name;
    unsigned bit;
} debug_contexts[] = {
    {"config", XO_DBG_CONFIG}, {"xapi", XO_DBG_XAPI}, {"kafka", XO_DBG_KAFKA},
    {"sync", XO_DBG_SYNC},     {"view", XO_DBG_VIEW}, {"ws", XO_DBG_WS},
    {"cmd", XO_DBG_CMD},       {"all", XO_DBG_ALL},
};

void xo_log_set_level(xo_log_level_t level)
{
    min_level = level;
}

xo_err_t xo_log_level_parse(const char *name, xo_log_level_t *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = (xo_log_level_t)i;
            return XO_OK;
        }
    }
    return XO_ERR_INVALID;
}

static xo_err_t enable_context(const char *name, size_t len, unsigned *mask, char *errstr,
                               size_t errstr_size)
{
    for (size_t i = 0; i < sizeof(debug_contexts) / sizeof(debug_contexts[0]); i++) {
        if (strlen(debug_contexts[i].name) == len &&
            strncasecmp(debug_contexts[i].name, name, len) == 0) {
            *mask |= debug_contexts[i].bit;
            return XO_OK;
        }
    }
    return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                     "unknown debug context \"%.*s\" (known: config, xapi, kafka, sync, view, "
                     "ws, cmd, all)",
                     (int)len, name);
}

xo_err_t xo_log_set_debug(const char *list, char *errstr, size_t errstr_size)
{
    unsigned mask = 0;
    const char *p = list;

    while (p && *p) {
        size_t len = strcspn(p, ", ");
        if (len > 0) {
            xo_err_t err = enable_context(p, len, &mask, errstr, errstr_size);
            if (err != XO_OK)
                return err;
        }
        p += len;
        p += strspn(p, ", ");
    }
    xo_log_debug_mask = mask;
    if (mask)
        min_level = XO_LOG_DEBUG;
    return XO_OK;
}

void xo_log_set_output(FILE *fp)
{
    pthread_mutex_lock(&out_lock);
    out = fp;
    pthread_mutex_unlock(&out_lock);
}

/* ---- the line being built ---- */

/* Room kept back for what closes a line: a quote, " truncated=true", the newline. */
#define LINE_TAIL 24

typedef struct {
    char *buf;
    size_t cap; /* bytes usable for fields: the buffer size minus LINE_TAIL and the NUL */
    size_t len;
    bool in_quotes; /* the text so far has opened a quoted value and not closed it */
    bool truncated; /* something did not fit; everything after it was dropped */
} line_t;

/* Append n bytes as one unit: all of them or (once the line is full) none, so that an
 * escape sequence or a UTF-8 character is never cut in half. */
static void put(line_t *l, const char *s, size_t n)
{
    if (l->truncated || l->len + n > l->cap) {
        l->truncated = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_hex(line_t *l, unsigned char c)
{
    char esc[5];

    snprintf(esc, sizeof(esc), "\\x%02x", c);
    put(l, esc, 4);
}

/* Length of the well-formed UTF-8 character at s (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

/* Characters that are valid UTF-8 but break or hide lines on some viewers: the C1
 * controls (U+0080..U+009F, NEL among them) and U+2028/U+2029. */
static bool utf8_is_control(const unsigned char *s, size_t len)
{
    if (len == 2)
        return s[0] == 0xc2 && s[1] <= 0x9f;
    return len == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9);
}

/* One ASCII byte of a value. Inside quotes '"', '\', '=' and control bytes need an
 * escape; outside, the value must also stay one token (no space or '"'). */
static void put_value_ascii(line_t *l, unsigned char c)
{
    static const char named[0x20][3] = {['\n'] = "\\n", ['\t'] = "\\t"};

    if (c == '\\')
        put(l, "\\\\", 2);
    else if (c < 0x20 && named[c][0])
        put(l, named[c], 2);
    else if (c < 0x20 || c == 0x7f)
        put_hex(l, c);
    else if (c == '"' && l->in_quotes)
        put(l, "\\\"", 2);
    else if (c == '=' || (!l->in_quotes && (c == '"' || c == ' ')))
        put_hex(l, c); /* '=' everywhere, so that grep key=value never matches a value */
    else
        put(l, (const char *)&c, 1);
}

/* A value produced by a conversion (untrusted): escaped for where it lands. */
static void put_value(line_t *l, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n && !l->truncated) {
        size_t len = p[i] < 0x80 ? 1 : utf8_char_len(p + i, n - i);
        if (p[i] < 0x80) {
            put_value_ascii(l, p[i]);
        } else if (len == 0 || utf8_is_control(p + i, len)) {
            for (size_t k = 0; k < (len ? len : 1); k++)
                put_hex(l, p[i + k]);
            len = len ? len : 1;
        } else {
            put(l, s + i, len);
        }
        i += len;
    }
}

/* True when a value written outside quotes would need an escape to stay one token. */
static bool needs_quotes(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == 0x7f)
            return true;
    }
    return false;
}

/* One conversion's output. A whole value outside quotes (the format reads key=%s and a
 * space or the end follows) that would need escapes is put in quotes instead, so that
 * error=%s of "invalid argument" reads error="invalid argument". */
static void put_conversion(line_t *l, const char *s, size_t n, bool whole_value)
{
    bool quote = whole_value && !l->in_quotes && l->len > 0 && l->buf[l->len - 1] == '=' &&
                 needs_quotes(s, n);

    if (quote) {
        put(l, "\"", 1);
        l->in_quotes = !l->truncated;
    }
    put_value(l, s, n);
    if (quote && l->in_quotes) {
        put(l, "\"", 1);
        l->in_quotes = l->truncated; /* the line's tail closes it otherwise */
    }
}

/* Text of the format string itself (trusted): its quotes open and close values. Control
 * bytes are still escaped so that an event is always one line. A piece that does not fit
 * is taken back whole, so that a line never ends inside a key. */
static void put_literal(line_t *l, const char *s, size_t n)
{
    size_t len0 = l->len;
    bool quotes0 = l->in_quotes;

    for (size_t i = 0; i < n && !l->truncated; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            l->in_quotes = !l->in_quotes;
        if (c < 0x20 || c == 0x7f)
            put_value_ascii(l, c);
        else
            put(l, s + i, 1);
    }
    if (l->truncated) {
        l->len = len0;
        l->in_quotes = quotes0;
    }
}

/* ---- printf conversions, each formatted on its own and then escaped as a value ---- */

typedef enum { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_J, LEN_T, LEN_BIG_L } len_mod_t;

typedef struct {
    char spec[48]; /* the conversion rebuilt for snprintf, with '*' resolved to numbers */
    int width;     /* -1 when not given */
    int prec;      /* -1 when not given */
    len_mod_t len_mod;
    char conv;
} conv_t;

static int parse_number(const char **p)
{
    long v = 0;

    while (**p >= '0' && **p <= '9') {
        if (v < 100000)
            v = v * 10 + (**p - '0');
        (*p)++;
    }
    return (int)v;
}

static len_mod_t parse_len_mod(const char **p)
{
    static const struct {
        const char *text;
        len_mod_t mod;
    } mods[] = {{"hh", LEN_HH}, {"h", LEN_H}, {"ll", LEN_LL}, {"l", LEN_L},    {"q", LEN_LL},
                {"z", LEN_Z},   {"j", LEN_J}, {"t", LEN_T},   {"L", LEN_BIG_L}};

    for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
        size_t n = strlen(mods[i].text);
        if (strncmp(*p, mods[i].text, n) == 0) {
            *p += n;
            return mods[i].mod;
        }
    }
    return LEN_NONE;
}

/* Parse the conversion after a '%' at *p, taking '*' widths and precisions from ap (passed
 * by pointer so that the arguments stay in step). Returns false for a conversion printf
 * does not have; the caller then writes the rest as text, as printf would. */
static bool parse_conv(const char **p, va_list *ap, conv_t *c)
{
    static const char len_text[][3] = {"", "hh", "h", "l", "ll", "z", "j", "t", "L"};
    const char *s = *p;
    char flags[8] = "";
    size_t nf = 0, used;

    c->width = c->prec = -1;
    while (*s && strchr("-+ #0'", *s) && nf < sizeof(flags) - 2)
        flags[nf++] = *s++;
    if (*s == '*') {
        c->width = va_arg(*ap, int);
        s++;
        if (c->width < 0) { /* printf: a negative '*' width is the '-' flag */
            flags[nf++] = '-';
            c->width = c->width == INT32_MIN ? 0 : -c->width;
        }
    } else if (*s >= '0' && *s <= '9') {
        c->width = parse_number(&s);
    }
    if (*s == '.') {
        s++;
        c->prec = *s == '*' ? (s++, va_arg(*ap, int)) : parse_number(&s);
        c->prec = c->prec < 0 ? -1 : c->prec; /* printf: a negative one counts as omitted */
    }
    c->len_mod = parse_len_mod(&s);
    c->conv = *s;
    if (!c->conv || !strchr("diouxXcspfFeEgGaAn", c->conv))
        return false;
    *p = s + 1;
    c->width = c->width > XO_LOG_LINE_MAX ? XO_LOG_LINE_MAX : c->width;
    used = (size_t)snprintf(c->spec, sizeof(c->spec), "%%%s", flags);
    if (c->width >= 0)
        used += (size_t)snprintf(c->spec + used, sizeof(c->spec) - used, "%d", c->width);
    if (c->prec >= 0)
        used += (size_t)snprintf(c->spec + used, sizeof(c->spec) - used, ".%d", c->prec);
    snprintf(c->spec + used, sizeof(c->spec) - used, "%s%c", len_text[c->len_mod], c->conv);
    return true;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

static int format_signed(char *tmp, size_t size, const conv_t *c, va_list *ap)
{
    switch (c->len_mod) {
    case LEN_L:
        return snprintf(tmp, size, c->spec, va_arg(*ap, long));
    case LEN_LL:
        return snprintf(tmp, size, c->spec, va_arg(*ap, long long));
    case LEN_Z:
        return snprintf(tmp, size, c->spec, va_arg(*ap, ssize_t));
    case LEN_J:
        return snprintf(tmp, size, c->spec, va_arg(*ap, intmax_t));
    case LEN_T:
        return snprintf(tmp, size, c->spec, va_arg(*ap, ptrdiff_t));
    default: /* hh and h arrive promoted to int */
        return snprintf(tmp, size, c->spec, va_arg(*ap, int));
    }
}

static int format_unsigned(char *tmp, size_t size, const conv_t *c, va_list *ap)
{
    switch (c->len_mod) {
    case LEN_L:
        return snprintf(tmp, size, c->spec, va_arg(*ap, unsigned long));
    case LEN_LL:
        return snprintf(tmp, size, c->spec, va_arg(*ap, unsigned long long));
    case LEN_Z:
        return snprintf(tmp, size, c->spec, va_arg(*ap, size_t));
    case LEN_J:
        return snprintf(tmp, size, c->spec, va_arg(*ap, uintmax_t));
    case LEN_T:
        return snprintf(tmp, size, c->spec, va_arg(*ap, ptrdiff_t));
    default:
        return snprintf(tmp, size, c->spec, va_arg(*ap, unsigned int));
    }
}

/* Format one conversion into tmp. Returns its length (at most size - 1), or 0. */
static size_t format_conv(char *tmp, size_t size, const conv_t *c, va_list *ap)
{
    const char *str;
    int n = 0;

    switch (c->conv) {
    case 'd':
    case 'i':
        n = format_signed(tmp, size, c, ap);
        break;
    case 'o':
    case 'u':
    case 'x':
    case 'X':
        n = format_unsigned(tmp, size, c, ap);
        break;
    case 'c':
        if (c->len_mod == LEN_L) { /* wide characters are not ours to log */
            (void)va_arg(*ap, wint_t);
            n = snprintf(tmp, size, "?");
            break;
        }
        n = snprintf(tmp, size, c->spec, va_arg(*ap, int));
        break;
    case 's':
        if (c->len_mod == LEN_L) { /* nor wide strings */
            (void)va_arg(*ap, const wchar_t *);
            n = snprintf(tmp, size, "?");
            break;
        }
        str = va_arg(*ap, const char *);
        n = snprintf(tmp, size, c->spec, str ? str : "(null)");
        break;
    case 'p':
        n = snprintf(tmp, size, c->spec, va_arg(*ap, void *));
        break;
    case 'n': /* writes through a pointer: never from a log line */
        (void)va_arg(*ap, void *);
        break;
    default: /* f F e E g G a A */
        n = c->len_mod == LEN_BIG_L ? snprintf(tmp, size, c->spec, va_arg(*ap, long double))
                                    : snprintf(tmp, size, c->spec, va_arg(*ap, double));
        break;
    }
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

#pragma GCC diagnostic pop

/* Write the fields: literal text as it is, each conversion's output escaped as a value.
 * A '%s' without width is escaped straight from its argument (no copy). */
static void put_fields(line_t *l, const char *fmt, va_list *ap)
{
    char tmp[XO_LOG_LINE_MAX];
    const char *p = fmt;
    conv_t c;

    while (*p && !l->truncated) {
        size_t lit = strcspn(p, "%");
        put_literal(l, p, lit);
        p += lit;
        if (!*p)
            break;
        p++;
        if (*p == '%') {
            put_literal(l, "%", 1);
            p++;
        } else if (!parse_conv(&p, ap, &c)) {
            put_literal(l, "%", 1); /* not a conversion: the rest is text, as printf would */
        } else if (c.conv == 's' && c.len_mod == LEN_NONE && c.width < 0) {
            const char *s = va_arg(*ap, const char *);
            s = s ? s : "(null)";
            put_conversion(l, s, c.prec >= 0 ? strnlen(s, (size_t)c.prec) : strlen(s),
                           *p == ' ' || *p == '\0');
        } else {
            size_t n = format_conv(tmp, sizeof(tmp), &c, ap);
            put_conversion(l, tmp, n, *p == ' ' || *p == '\0');
        }
    }
}

size_t xo_log_vformat(char *dst, size_t size, xo_log_level_t level, const char *mod,
                      const char *fmt, va_list ap)
{
    line_t l = {dst, 0, 0, false, false};
    struct timeval tv;
    struct tm tm;
    char head[128];
    va_list args;
    int n;

    if (size < XO_LOG_LINE_MIN)
        return 0;
    l.cap = size - LINE_TAIL - 1;
    if (level < XO_LOG_DEBUG || level > XO_LOG_ERROR)
        level = XO_LOG_ERROR;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(head, sizeof(head),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long)(tv.tv_usec / 1000), level_names[level]);
    put(&l, head, n > 0 && (size_t)n < sizeof(head) ? (size_t)n : 0);
    put_value(&l, mod ? mod : "-", strlen(mod ? mod : "-"));
    put(&l, " ", 1);
    va_copy(args, ap);
    put_fields(&l, fmt, &args);
    va_end(args);
    /* The tail fits: LINE_TAIL bytes were kept back for it. */
    if (l.in_quotes) {
        dst[l.len++] = '"';
    }
    if (l.truncated) {
        memcpy(dst + l.len, " truncated=true", 15);
        l.len += 15;
    }
    dst[l.len++] = '\n';
    dst[l.len] = '\0';
    return l.len;
}

size_t xo_log_format(char *dst, size_t size, xo_log_level_t level, const char *mod, const char *fmt,
                     ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = xo_log_vformat(dst, size, level, mod, fmt, ap);
    va_end(ap);
    return n;
}

void xo_logv(xo_log_level_t level, const char *mod, const char *fmt, va_list ap)
{
    char line[XO_LOG_LINE_MAX];

    if (level < min_level || level > XO_LOG_ERROR)
        return;
    xo_log_vformat(line, sizeof(line), level, mod, fmt, ap);
    pthread_mutex_lock(&out_lock);
    fputs(line, out ? out : stderr);
    fflush(out ? out : stderr);
    pthread_mutex_unlock(&out_lock);
}

void xo_log(xo_log_level_t level, const char *mod, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    xo_logv(level, mod, fmt, ap);
    va_end(ap);
}

bool xo_log_is_secret_key(const char *key)
{
    static const char *const words[] = {"password", "passwd", "secret", "token",
                                        "private",  "apikey", "sasl.",  "key.password"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasestr(key, words[i]))
            return true;
    }
    return false;
}
