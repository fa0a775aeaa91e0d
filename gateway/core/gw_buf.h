/*
 * gw_buf.h - growable byte buffer and a small streaming JSON writer for the gateway.
 *
 * The gateway writes most JSON by concatenation (objects are kept serialized), so this
 * is the one place that escapes strings. Allocation failure is sticky: after it, every
 * append is a no-op and gw_buf_failed() is true; callers check once at the end.
 * Ownership: a gw_buf_t owns its data; gw_buf_steal() hands it to the caller.
 */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;  /**< NUL-terminated when len > 0 or after any append */
    size_t len;  /**< bytes used, excluding the NUL */
    size_t cap;  /**< bytes allocated */
    size_t head; /**< bytes reserved before data (for LWS_PRE), set by gw_buf_init_pre */
    bool failed; /**< an allocation failed */
} gw_buf_t;

/** @brief Initialize an empty buffer (no allocation). */
void gw_buf_init(gw_buf_t *b);
/** @brief Initialize with @p head bytes reserved in front of data (e.g. LWS_PRE). */
void gw_buf_init_pre(gw_buf_t *b, size_t head);
/** @brief Free the data; the buffer can be reused after gw_buf_init. */
void gw_buf_fini(gw_buf_t *b);
/** @brief Forget the contents, keep the allocation. */
void gw_buf_reset(gw_buf_t *b);
/** @brief Ensure room for @p more bytes. @returns false on allocation failure. */
bool gw_buf_reserve(gw_buf_t *b, size_t more);
void gw_buf_append(gw_buf_t *b, const void *p, size_t n);
void gw_buf_puts(gw_buf_t *b, const char *s);
void gw_buf_putc(gw_buf_t *b, char c);
void gw_buf_printf(gw_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** @brief Append @p v in decimal, as printf's "%lld" writes it (without its cost: the
 *         mapping writes several numbers per object). */
void gw_buf_int(gw_buf_t *b, int64_t v);
/** @brief Append @p s (n bytes) as a quoted, escaped JSON string. Invalid UTF-8 is kept. */
void gw_buf_json_strn(gw_buf_t *b, const char *s, size_t n);
void gw_buf_json_str(gw_buf_t *b, const char *s);
/** @brief Append a JSON number: integers exactly, others in the shortest text that reads back
 *         as the same double (%.15g to %.17g); NaN/Inf as null. */
void gw_buf_json_double(gw_buf_t *b, double v);
/**
 * @brief Take the allocation (the caller frees with free(ptr - head) -> use gw_buf_free_stolen).
 * @returns the data pointer (NULL if nothing was allocated or an allocation failed).
 */
char *gw_buf_steal(gw_buf_t *b, size_t *len);

/* ---- JSON writer: keeps track of commas inside objects and arrays ---- */

#define GW_JW_MAX_DEPTH 32

typedef struct {
    gw_buf_t *b;                 /**< borrowed output */
    int depth;                   /**< current nesting */
    bool first[GW_JW_MAX_DEPTH]; /**< no member written yet at this depth */
    bool after_key;              /**< a member name was just written */
} gw_jw_t;

void gw_jw_init(gw_jw_t *w, gw_buf_t *b);
void gw_jw_obj_begin(gw_jw_t *w);
void gw_jw_obj_end(gw_jw_t *w);
void gw_jw_arr_begin(gw_jw_t *w);
void gw_jw_arr_end(gw_jw_t *w);
/** @brief Write a member name (inside an object); the next value call writes its value. */
void gw_jw_key(gw_jw_t *w, const char *k);
void gw_jw_str(gw_jw_t *w, const char *s); /**< NULL writes null */
void gw_jw_int(gw_jw_t *w, int64_t v);
void gw_jw_double(gw_jw_t *w, double v);
void gw_jw_bool(gw_jw_t *w, bool v);
void gw_jw_null(gw_jw_t *w);
/** @brief Write already-serialized JSON as a value. */
void gw_jw_raw(gw_jw_t *w, const char *json, size_t n);

/* ---- shared outbound messages ---- */

/** Bytes reserved in front of every message for the WebSocket header (LWS_PRE). */
#define GW_MSG_PRE 16

/**
 * A message queued to one or more clients: reference counted, immutable once built,
 * only touched on the service thread (so the count is not atomic).
 */
typedef struct {
    unsigned refs;
    size_t len;
    char *data;     /**< len bytes, with GW_MSG_PRE writable bytes before it */
    int64_t ts_ms;  /**< a notification: mean record timestamp (ms) of its batch; else 0 */
    uint32_t items; /**< a notification: changes it stands for (its batch's share) */
} gw_msg_t;

/**
 * @brief Make a message from a buffer initialized with gw_buf_init_pre(b, GW_MSG_PRE).
 *        Takes the buffer's data (the buffer is left empty). refs starts at 1.
 * @returns NULL on allocation failure (the buffer is freed).
 */
gw_msg_t *gw_msg_from_buf(gw_buf_t *b);
/** @brief Copy @p n bytes into a new message. */
gw_msg_t *gw_msg_new_copy(const char *s, size_t n);
void gw_msg_ref(gw_msg_t *m);
/** @brief Drop one reference; frees on the last. NULL is allowed. */
void gw_msg_unref(gw_msg_t *m);

#endif
