/*
 * static_files.c - the web UI's files on disk (static_files.h): the directory, which
 * request paths name one of its files, content types, ETags and cache policy. Refuses
 * rather than normalises: a path with anything unusual in it is not a file of the UI.
 * Does no HTTP and logs nothing: endpoint_static.c answers and logs.
 */
#include "transport/static_files.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where a build tree and an installed tree keep the UI, relative to the executable's
 * directory: build/gateway/xo-gateway and <prefix>/bin/xo-gateway both find it at
 * ../share/xo-fleet/webui (webui/CMakeLists.txt stages it there). */
static const char *const ROOTS_BESIDE_EXE[] = {"../share/xo-fleet/webui"};

static bool has_index(const char *dir, char *real, size_t size)
{
    char buf[PATH_MAX], index[PATH_MAX + 16];
    struct stat sb;

    if (!realpath(dir, buf) || strlen(buf) >= size)
        return false;
    snprintf(index, sizeof(index), "%s/index.html", buf);
    if (stat(index, &sb) != 0 || !S_ISREG(sb.st_mode))
        return false;
    memcpy(real, buf, strlen(buf) + 1);
    return true;
}

xo_err_t gw_static_find_root(const char *configured, char *out, size_t size, char *errstr,
                             size_t errstr_size)
{
    char exe[PATH_MAX], dir[PATH_MAX + 64];
    ssize_t n;

    if (configured && *configured) {
        if (has_index(configured, out, size))
            return XO_OK;
        return xo_seterr(errstr, errstr_size, XO_ERR_NOTFOUND,
                         "http.webui_dir %s holds no index.html", configured);
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOTFOUND,
                         "cannot read /proc/self/exe; set http.webui_dir");
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0'; /* an absolute path: it has one */
    for (size_t i = 0; i < sizeof(ROOTS_BESIDE_EXE) / sizeof(ROOTS_BESIDE_EXE[0]); i++) {
        snprintf(dir, sizeof(dir), "%s/%s", exe, ROOTS_BESIDE_EXE[i]);
        if (has_index(dir, out, size))
            return XO_OK;
    }
    return xo_seterr(errstr, errstr_size, XO_ERR_NOTFOUND,
                     "no index.html in %s/%s; set http.webui_dir", exe, ROOTS_BESIDE_EXE[0]);
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._~@+-", c);
}

bool gw_static_path_ok(const char *p)
{
    size_t len = strlen(p);

    if (p[0] != '/' || len > GW_STATIC_PATH_MAX / 2)
        return false;
    if (len == 1)
        return true; /* "/": index.html */
    for (size_t i = 1; i < len; i++) {
        if (p[i] == '/') {
            if (p[i - 1] == '/' || i + 1 == len)
                return false; /* "//" or a trailing "/": no directory listings */
        } else if (!name_char(p[i]) || (p[i] == '.' && p[i - 1] == '/')) {
            return false; /* odd bytes, "..", ".hidden" */
        }
    }
    return true;
}

static const struct {
    const char *ext, *type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
};

const char *gw_static_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (!dot || strchr(dot, '/'))
        return NULL;
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
        if (!strcmp(dot, TYPES[i].ext))
            return TYPES[i].type;
    return NULL;
}

const char *gw_static_cache_control(const char *url_path)
{
    return !strncmp(url_path, "/vendor/", 8) ? "public, max-age=31536000, immutable" : "no-cache";
}

xo_err_t gw_static_resolve(const char *root, const char *url_path, gw_static_file_t *out)
{
    const char *rel = strcmp(url_path, "/") ? url_path : "/index.html";
    char joined[GW_STATIC_PATH_MAX + 2], real[PATH_MAX];
    size_t rl = strlen(root);
    struct stat sb;
    int n;

    memset(out, 0, sizeof(*out));
    if (!gw_static_path_ok(url_path) || !(out->content_type = gw_static_content_type(rel)))
        return XO_ERR_NOTFOUND;
    n = snprintf(joined, sizeof(joined), "%s%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof(out->path))
        return XO_ERR_NOTFOUND;
    /* a symbolic link inside the tree may not lead out of it */
    if (!realpath(joined, real) || strncmp(real, root, rl) != 0 || real[rl] != '/' ||
        strlen(real) >= sizeof(out->path) || stat(real, &sb) != 0 || !S_ISREG(sb.st_mode))
        return XO_ERR_NOTFOUND;
    memcpy(out->path, real, strlen(real) + 1);
    out->size = (uint64_t)sb.st_size;
    out->cache_control = gw_static_cache_control(url_path);
    snprintf(out->etag, sizeof(out->etag), "\"%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtim.tv_sec * 1000000000ULL +
                 (unsigned long long)sb.st_mtim.tv_nsec);
    return XO_OK;
}

/* The opaque part of one entity tag at *s ("..." or W/"..."), advancing past it. */
static bool next_tag(const char **s, const char **tag, size_t *len)
{
    const char *p = *s + strspn(*s, " \t,");
    const char *q;

    if (!strncmp(p, "W/", 2))
        p += 2;
    if (*p != '"' || !(q = strchr(p + 1, '"')))
        return false;
    *tag = p;
    *len = (size_t)(q - p) + 1;
    *s = q + 1;
    return true;
}

bool gw_static_etag_matches(const char *inm, const char *etag)
{
    const char *tag;
    size_t len, elen = strlen(etag);

    if (!inm)
        return false;
    if (!strcmp(inm + strspn(inm, " \t"), "*"))
        return true;
    while (next_tag(&inm, &tag, &len))
        if (len == elen && !memcmp(tag, etag, len))
            return true;
    return false;
}
