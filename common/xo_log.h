/*
 * xo_log.h - structured logging: one line per event, logfmt key=value fields, to stderr.
 *
 * Line format:  ts=<RFC3339 UTC ms> level=<debug|info|warn|error> mod=<module> <fields>
 * The fields are the caller's printf format: its literal text holds the keys, the spaces
 * and the quotes ("event=signin user=\"%s\" addr=%s"); every conversion is a value, and
 * no value can forge a field or a line. What a conversion produces is escaped:
 *  - inside quotes:  "  -> \"   \ -> \\   newline -> \n   tab -> \t
 *  - outside quotes: a whole value (key=%s then a space or the end) that holds a space,
 *                    '"' or a control byte is put in quotes and escaped as inside;
 *                    within a longer token (url=%s://%s) space and " -> \x20 \x22
 *  - everywhere:     '=' -> \x3d (so that grep level=error never matches inside a value),
 *                    other control bytes, C1 controls, U+2028/9 and every byte of
 *                    invalid UTF-8 -> \xNN; valid UTF-8 passes through unchanged.
 * So a conversion must never carry keys or spaces of its own (no "%s" holding " k=v"):
 * write the key in the format. A line longer than XO_LOG_LINE_MAX is cut at a character,
 * its open quote closed, and " truncated=true" added. Debug output is split into named
 * contexts (e.g. "kafka,xapi") that cost one branch when off.
 * Secrets: never pass a password, token or key to a log call; config dumps go through
 * xo_log_is_secret_key() which the config module uses to redact values.
 */
#ifndef XO_LOG_H
#define XO_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "xo_error.h"

typedef enum { XO_LOG_DEBUG = 0, XO_LOG_INFO, XO_LOG_WARN, XO_LOG_ERROR } xo_log_level_t;

/** Debug contexts, switched on by name with xo_log_set_debug(). */
enum {
    XO_DBG_CONFIG = 1 << 0, /**< "config" */
    XO_DBG_XAPI = 1 << 1,   /**< "xapi": XAPI calls and transport */
    XO_DBG_KAFKA = 1 << 2,  /**< "kafka": our Kafka helpers and librdkafka's own logs */
    XO_DBG_SYNC = 1 << 3,   /**< "sync": agent sync and event follow */
    XO_DBG_VIEW = 1 << 4,   /**< "view": gateway materialized view */
    XO_DBG_WS = 1 << 5,     /**< "ws": WebSocket/HTTP server and libwebsockets' logs */
    XO_DBG_CMD = 1 << 6,    /**< "cmd": command bus */
    XO_DBG_ALL = 0x7f       /**< "all" */
};

/** Global debug mask; read through xo_dbg(). */
extern unsigned xo_log_debug_mask;

/** @brief Minimum level written (default XO_LOG_INFO). */
void xo_log_set_level(xo_log_level_t level);

/**
 * @brief Parse a level name ("debug", "info", "warn", "error").
 * @returns XO_OK, or XO_ERR_INVALID for an unknown name.
 */
xo_err_t xo_log_level_parse(const char *name, xo_log_level_t *level);

/**
 * @brief Enable debug contexts from a comma-separated list of names ("kafka,ws", "all",
 *        "" for none). Enabling any context also lowers the level to debug.
 * @returns XO_OK, or XO_ERR_INVALID naming the unknown context in errstr.
 */
xo_err_t xo_log_set_debug(const char *list, char *errstr, size_t errstr_size);

/** @brief Redirect output (default stderr). Borrowed: the caller keeps @p fp open. */
void xo_log_set_output(FILE *fp);

/** Longest line written, newline included; XO_LOG_LINE_MIN is the smallest buffer
 *  xo_log_format() accepts. */
#define XO_LOG_LINE_MAX 4096
#define XO_LOG_LINE_MIN 128

/**
 * @brief Format one event line (as xo_log() writes it, newline included) into @p dst,
 *        escaping every conversion's output as described above. Pure apart from reading
 *        the clock: the formatter that tests and fuzzers drive.
 * @returns the line's length (excluding the NUL), or 0 when @p size < XO_LOG_LINE_MIN.
 */
size_t xo_log_format(char *dst, size_t size, xo_log_level_t level, const char *mod, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));
size_t xo_log_vformat(char *dst, size_t size, xo_log_level_t level, const char *mod,
                      const char *fmt, va_list ap);

/** @brief Write one event line. Thread-safe (one fputs under a lock). */
void xo_log(xo_log_level_t level, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xo_logv(xo_log_level_t level, const char *mod, const char *fmt, va_list ap);

/** @brief True when a config or header key names a secret whose value must not be logged. */
bool xo_log_is_secret_key(const char *key);

#define xo_info(mod, ...)  xo_log(XO_LOG_INFO, mod, __VA_ARGS__)
#define xo_warn(mod, ...)  xo_log(XO_LOG_WARN, mod, __VA_ARGS__)
#define xo_error(mod, ...) xo_log(XO_LOG_ERROR, mod, __VA_ARGS__)
#define xo_dbg(ctx, mod, ...)                                                                      \
    do {                                                                                           \
        if (xo_log_debug_mask & (ctx))                                                             \
            xo_log(XO_LOG_DEBUG, mod, __VA_ARGS__);                                                \
    } while (0)

#endif
