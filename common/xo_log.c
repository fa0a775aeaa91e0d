/*
 * xo_log.c - the structured log writer.
 * Formats a whole line in a local buffer and writes it with one call so lines from
 * several threads never interleave. Must not allocate on the hot path.
 */
#include "xo_log.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

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

/* Copy src into dst escaping control characters, so one event stays one line. */
static size_t append_escaped(char *dst, size_t cap, size_t pos, const char *src)
{
    for (; *src && pos + 5 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '\n') {
            dst[pos++] = '\\';
            dst[pos++] = 'n';
        } else if (c < 0x20 || c == 0x7f) {
            pos += (size_t)snprintf(dst + pos, cap - pos, "\\x%02x", c);
        } else {
            dst[pos++] = (char)c;
        }
    }
    dst[pos] = '\0';
    return pos;
}

void xo_logv(xo_log_level_t level, const char *mod, const char *fmt, va_list ap)
{
    char fields[3072], line[4096];
    struct timeval tv;
    struct tm tm;
    size_t pos;

    if (level < min_level || level > XO_LOG_ERROR)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    vsnprintf(fields, sizeof(fields), fmt, ap);
    pos = (size_t)snprintf(
        line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s ",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        (long)(tv.tv_usec / 1000), level_names[level], mod ? mod : "-");
    if (pos >= sizeof(line))
        pos = sizeof(line) - 1;
    pos = append_escaped(line, sizeof(line) - 1, pos, fields);
    line[pos++] = '\n';
    line[pos] = '\0';
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
