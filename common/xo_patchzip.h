/*
 * xo_patchzip.h - a patch zip read as a stream: the compressed bytes are pulled from a
 * caller's source (a download) as the decompressed entry is read (for an upload), so the
 * zip never touches disk and never sits whole in memory. Which entry is the patch, and
 * what a hostile zip may not do (zip bombs, path traversal names, truncation), is decided
 * here. libarchive does the zip format. Contract: docs/patching.md.
 */
#ifndef XO_PATCHZIP_H
#define XO_PATCHZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

/** What the patch inside the zip is: an update ISO (update system) or a legacy .xsupdate. */
typedef enum { XO_PATCH_ISO, XO_PATCH_XSUPDATE } xo_patch_kind_t;

/** Limits; 0 takes the default. */
typedef struct {
    uint64_t max_entry;   /**< bytes of the patch entry (default 4 GiB) */
    unsigned max_ratio;   /**< decompressed bytes per compressed byte read (default 100) */
    unsigned max_entries; /**< entries looked at before the patch (default 64) */
} xo_patchzip_limits_t;

#define XO_PATCHZIP_DEFAULT_MAX_ENTRY   ((uint64_t)4 << 30)
#define XO_PATCHZIP_DEFAULT_MAX_RATIO   100
#define XO_PATCHZIP_DEFAULT_MAX_ENTRIES 64
#define XO_PATCHZIP_NAME_MAX            255

/**
 * @brief Decide about one entry name (pure): refused when unsafe (empty, absolute, a `..`
 *        component, a backslash, a control character, longer than XO_PATCHZIP_NAME_MAX);
 *        else taken when it is the patch of @p kind (a name ending in `.iso`, or
 *        `.xsupdate`, any case, not a directory), skipped otherwise.
 * @param take set to whether the entry is the patch (on XO_OK).
 * @returns XO_OK, or XO_ERR_PARSE for an unsafe name (detail in @p errstr).
 */
xo_err_t xo_patchzip_select(const char *name, xo_patch_kind_t kind, bool *take, char *errstr,
                            size_t errstr_size);

/**
 * The source of compressed bytes: sets *data and *len to the next bytes (borrowed until the
 * next call), *len 0 at the end. Returns XO_OK or an error that ends the read.
 */
typedef xo_err_t (*xo_patchzip_source_fn)(void *opaque, const void **data, size_t *len);

typedef struct xo_patchzip xo_patchzip_t;

/**
 * @brief Read the zip up to the patch entry: skip the others, refuse unsafe names, an
 *        entry whose size the local header does not give (a data descriptor: the upload
 *        needs its length first), or one over max_entry.
 * @param source called on this thread, while open and read run (borrowed until free).
 * @param out receives the reader (free with xo_patchzip_free()) on XO_OK only.
 * @returns XO_OK; XO_ERR_NOTFOUND (no such entry), XO_ERR_PARSE (not a zip, truncated,
 *          unsafe name, unknown size), XO_ERR_LIMIT, XO_ERR_NOMEM, or the source's error.
 */
xo_err_t xo_patchzip_open(xo_patchzip_source_fn source, void *opaque, xo_patch_kind_t kind,
                          const xo_patchzip_limits_t *limits, xo_patchzip_t **out, char *errstr,
                          size_t errstr_size);

/** @brief The patch entry's name (borrowed) and size in bytes. */
const char *xo_patchzip_name(const xo_patchzip_t *z);
uint64_t xo_patchzip_size(const xo_patchzip_t *z);

/** @brief Compressed bytes pulled from the source so far. */
uint64_t xo_patchzip_bytes_in(const xo_patchzip_t *z);

/**
 * @brief The next decompressed bytes of the entry.
 * @param n receives the count; 0 means the whole entry was read, exactly its size, and
 *          its checksum (the zip's CRC-32) verified.
 * @returns XO_OK; XO_ERR_PARSE (corrupt or truncated data, bad CRC, fewer bytes than
 *          declared), XO_ERR_LIMIT (more bytes than declared, or the compression ratio over
 *          max_ratio: a zip bomb), or the source's error. Every later call repeats it.
 */
xo_err_t xo_patchzip_read(xo_patchzip_t *z, void *buf, size_t cap, size_t *n, char *errstr,
                          size_t errstr_size);

void xo_patchzip_free(xo_patchzip_t *z);

#endif
