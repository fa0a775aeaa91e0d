/*
 * static_files.h - the web UI's files on disk, as endpoint_static.c serves them: where the
 * directory is (http.webui_dir, else found beside the executable), which request paths
 * name a file of it (anything that could leave the directory is refused), the file's
 * content type, its validator (ETag) and its cache policy. Knows no HTTP library: plain
 * strings in, plain strings out, so that every rule is unit-tested (test_gw_static_files).
 */
#ifndef GW_STATIC_FILES_H
#define GW_STATIC_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

#define GW_STATIC_PATH_MAX 1024 /* longest file path served (directory + request path) */

/** A file to serve: found, inside the directory, a regular file. */
typedef struct {
    char path[GW_STATIC_PATH_MAX]; /**< absolute path on disk */
    const char *content_type;      /**< static string, with charset for text */
    const char *cache_control;     /**< static string (gw_static_cache_control) */
    char etag[48];                 /**< strong validator, quoted: "size-mtime" in hex */
    uint64_t size;
} gw_static_file_t;

/**
 * @brief The web UI's directory: @p configured (http.webui_dir) when set, else
 *        <exe dir>/../share/xo-fleet/webui when it holds index.html (an installed tree,
 *        <prefix>/bin/xo-gateway, and a build tree, build/gateway/xo-gateway, alike).
 * @param out its canonical absolute path (realpath), @p size bytes
 * @returns XO_OK; XO_ERR_NOTFOUND when none holds index.html (the UI is then off: every
 *          path answers 404), with the places looked at in @p errstr.
 */
xo_err_t gw_static_find_root(const char *configured, char *out, size_t size, char *errstr,
                             size_t errstr_size);

/**
 * @brief Is @p url_path (the request's decoded path, no query) a name this endpoint may
 *        serve? Only [A-Za-z0-9._~@+-] and '/', starting with '/', no empty segment
 *        ("//"), no segment starting with '.' (so no "..", no hidden files), no more than
 *        GW_STATIC_PATH_MAX/2 bytes. "/" names index.html.
 */
bool gw_static_path_ok(const char *url_path);

/** @brief The Content-Type of a file name by its extension; NULL: not a type served. */
const char *gw_static_content_type(const char *name);

/**
 * @brief The Cache-Control of a request path: files under /vendor/ carry their package's
 *        version in their path (vendor/novnc-1.7.0/...), so they never change under a name
 *        and are cached for a year, immutable; everything else (index.html, the app's
 *        modules, whose names do not change with their content) is revalidated every time
 *        (no-cache, with its ETag: a 304 costs one round trip, never a stale page).
 */
const char *gw_static_cache_control(const char *url_path);

/**
 * @brief Resolve a request path to a file of @p root (gw_static_find_root's).
 * @returns XO_OK and @p out filled; XO_ERR_NOTFOUND for a path refused by
 *          gw_static_path_ok, a file missing, not regular, of an unserved type, or whose
 *          real path (symbolic links followed) is not inside @p root.
 */
xo_err_t gw_static_resolve(const char *root, const char *url_path, gw_static_file_t *out);

/**
 * @brief Does an If-None-Match header value name @p etag ("*", one tag, or a list; weak
 *        tags W/"..." compare by their opaque part, as RFC 9110 says for this header)?
 */
bool gw_static_etag_matches(const char *if_none_match, const char *etag);

#endif
