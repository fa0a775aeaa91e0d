/*
 * xo_strmap.h - a hash map from strings to 64-bit integers, open addressing with linear
 * probing. Used for key sets (the agent's published keys) and small counters (per-class
 * counts). Keys are copied. Not thread-safe.
 */
#ifndef XO_STRMAP_H
#define XO_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

typedef struct xo_strmap xo_strmap_t;

/** @brief A new empty map, or NULL on allocation failure. Free with xo_strmap_free(). */
xo_strmap_t *xo_strmap_new(void);
void xo_strmap_free(xo_strmap_t *m);

/** @brief Insert or replace. @returns XO_OK or XO_ERR_NOMEM. */
xo_err_t xo_strmap_set(xo_strmap_t *m, const char *key, int64_t value);

/** @brief Look a key up. @returns true and sets *value (if not NULL) when present. */
bool xo_strmap_get(const xo_strmap_t *m, const char *key, int64_t *value);

/**
 * @brief Add @p delta to a key's value (inserting 0 first), in one look-up.
 * @param after if not NULL, receives the value after the addition (untouched on failure).
 * @returns XO_OK or XO_ERR_NOMEM.
 */
xo_err_t xo_strmap_add(xo_strmap_t *m, const char *key, int64_t delta, int64_t *after);

/** @brief Remove a key. @returns true if it was present. */
bool xo_strmap_del(xo_strmap_t *m, const char *key);

/** @brief Number of keys. */
size_t xo_strmap_count(const xo_strmap_t *m);

/** @brief Remove every key (keeps the allocation). */
void xo_strmap_clear(xo_strmap_t *m);

/**
 * @brief Iterate: start with *pos = 0; each call returns the next key (borrowed, valid until
 *        the map is modified) and its value, or NULL at the end. Deleting the key just
 *        returned is allowed.
 */
const char *xo_strmap_next(const xo_strmap_t *m, size_t *pos, int64_t *value);

#endif
