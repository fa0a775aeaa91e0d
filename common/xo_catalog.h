/*
 * xo_catalog.h - XenServer's patch catalogue (`updates.xml`): a hostile-input-safe parser
 * and the "missing patches" computation Xen Orchestra does for XenServer / Citrix
 * Hypervisor hosts (xo-server's patching mixin: _getXenUpdates, _listInstallablePatches).
 *
 * The document is `patchdata` → `patches/patch` (attributes uuid, name-label,
 * name-description, url, patch-url, timestamp, after-apply-guidance, update-stream; children
 * `conflictingpatches/conflictingpatch@uuid`, `requiredpatches/requiredpatch@uuid`) and
 * `serverversions/version` (attributes value, name, latest, timestamp, url; children
 * `patch@uuid`). Everything else is skipped. Contract: docs/patching.md.
 */
#ifndef XO_CATALOG_H
#define XO_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "xo_error.h"

/** Hostile-input limits; 0 takes the default. */
typedef struct {
    size_t max_total;   /**< bytes of document (default 32 MiB) */
    size_t max_field;   /**< bytes of one attribute value (default 8 KiB) */
    size_t max_depth;   /**< element nesting (default 16) */
    size_t max_patches; /**< patches, and versions, each (default 20000) */
    size_t max_refs;    /**< conflicts, requirements or version patches per item (default 5000) */
} xo_catalog_limits_t;

#define XO_CATALOG_DEFAULT_MAX_TOTAL   ((size_t)32 << 20)
#define XO_CATALOG_DEFAULT_MAX_FIELD   ((size_t)8 << 10)
#define XO_CATALOG_DEFAULT_MAX_DEPTH   16
#define XO_CATALOG_DEFAULT_MAX_PATCHES 20000
#define XO_CATALOG_DEFAULT_MAX_REFS    5000

/** A list of uuids (owned by the catalogue). */
typedef struct {
    char **uuids;
    size_t count;
} xo_catalog_refs_t;

/** One patch. Strings are never NULL ("" when the attribute is absent). */
typedef struct {
    char *uuid;
    char *name_label;       /**< "XS71E001" */
    char *name_description; /**< one line */
    char *url;              /**< its documentation page (xo-server: documentationUrl) */
    char *patch_url;        /**< the zip to download (xo-server: url) */
    char *timestamp;        /**< as written (xo-server: date) */
    char *guidance;         /**< after-apply-guidance: "restartHost", "restartXAPI", ... */
    xo_catalog_refs_t conflicts;
    xo_catalog_refs_t requirements;
    bool paid;    /**< update-stream="premium" */
    bool upgrade; /**< name-label is a whole release ("XS72", "CH80"): never listed missing */
} xo_catalog_patch_t;

/** One server version and the uuids of its patches, in the document's order. */
typedef struct {
    char *value; /**< "7.1.0": matched against software_version.product_version(_text) */
    char *name;  /**< "XenServer 7.1" */
    char *timestamp;
    char *url;
    bool latest;
    xo_catalog_refs_t patches;
} xo_catalog_version_t;

typedef struct xo_catalog xo_catalog_t;

/** An incremental parser: feed the document as it arrives (from libcurl), then finish. */
typedef struct xo_catalog_parser xo_catalog_parser_t;

/** @brief A new parser (@p limits may be NULL), or NULL on allocation failure. */
xo_catalog_parser_t *xo_catalog_parser_new(const xo_catalog_limits_t *limits);

/** @brief Free a parser and whatever it built (NULL is fine). */
void xo_catalog_parser_free(xo_catalog_parser_t *p);

/**
 * @brief Feed the next bytes of the document.
 * @returns XO_OK; XO_ERR_PARSE (malformed XML, a DTD, an entity reference, a processing
 *          instruction, a missing uuid, a duplicate uuid), XO_ERR_LIMIT (a limit of
 *          xo_catalog_limits_t) or XO_ERR_NOMEM. After an error every call returns it again.
 */
xo_err_t xo_catalog_parser_feed(xo_catalog_parser_t *p, const char *data, size_t len, char *errstr,
                                size_t errstr_size);

/**
 * @brief End the document and take the catalogue.
 * @param out receives the catalogue (caller frees with xo_catalog_free()) on XO_OK only.
 * @returns XO_OK, or the errors of feed (XO_ERR_PARSE also when the root is not patchdata
 *          or the document is incomplete).
 */
xo_err_t xo_catalog_parser_finish(xo_catalog_parser_t *p, xo_catalog_t **out, char *errstr,
                                  size_t errstr_size);

/** @brief One-shot: parse a whole document (new, feed, finish, free). */
xo_err_t xo_catalog_parse(const char *data, size_t len, const xo_catalog_limits_t *limits,
                          xo_catalog_t **out, char *errstr, size_t errstr_size);

void xo_catalog_free(xo_catalog_t *cat);

/** @brief Number of patches and versions; the i-th of each (borrowed; NULL out of range). */
size_t xo_catalog_patch_count(const xo_catalog_t *cat);
const xo_catalog_patch_t *xo_catalog_patch_at(const xo_catalog_t *cat, size_t i);
size_t xo_catalog_version_count(const xo_catalog_t *cat);
const xo_catalog_version_t *xo_catalog_version_at(const xo_catalog_t *cat, size_t i);

/** @brief The patch of that uuid (borrowed), or NULL. */
const xo_catalog_patch_t *xo_catalog_patch(const xo_catalog_t *cat, const char *uuid);

/**
 * @brief The version a host runs, as xo-server finds it: by product_version, else by
 *        product_version_text (either may be NULL). Borrowed, or NULL when unknown.
 */
const xo_catalog_version_t *xo_catalog_version(const xo_catalog_t *cat, const char *product_version,
                                               const char *product_version_text);

/** The answer of xo_catalog_missing(): patches in install order (borrowed from the catalogue). */
typedef struct {
    const xo_catalog_patch_t **patches;
    size_t count;
} xo_catalog_list_t;

/** @brief Free a list's array (not the patches). */
void xo_catalog_list_fini(xo_catalog_list_t *list);

/**
 * @brief What to install on a host: the version's patches (upgrades left out) minus the
 *        installed ones, each preceded by its requirements (transitively), as xo-server's
 *        _listInstallablePatches.
 *
 * Listing (@p requested NULL): a patch that conflicts with an installed one or with one
 * already chosen, or that is paid on a free host, is left out. Requested patches: any of
 * these is an error, as are an unknown or installed requested patch; a conflict names
 * both uuids ("patches A and B conflict with each other"). A requirement the version does
 * not know, or a requirement cycle, is an error either way.
 *
 * @param installed uuids of the patches (legacy) or updates installed on the host.
 * @param requested uuids asked for, or NULL for every missing patch.
 * @param out receives the list (caller calls xo_catalog_list_fini()) on XO_OK only.
 * @returns XO_OK, XO_ERR_NOTFOUND (unknown patch or requirement), XO_ERR_INVALID (already
 *          installed, conflict, cycle, licence), XO_ERR_NOMEM; detail in @p errstr.
 */
xo_err_t xo_catalog_missing(const xo_catalog_t *cat, const xo_catalog_version_t *version,
                            const char *const *installed, size_t n_installed,
                            const char *const *requested, size_t n_requested, bool free_host,
                            xo_catalog_list_t *out, char *errstr, size_t errstr_size);

/**
 * @brief Whether a host installs through the update system (pool_update, XenServer 7.1
 *        and later) rather than legacy pool_patch: platform_version >= 2.1.1, as
 *        xo-server's useUpdateSystem. NULL or unparsable: false.
 */
bool xo_catalog_uses_update_system(const char *platform_version);

#endif
