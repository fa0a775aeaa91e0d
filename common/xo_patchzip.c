/*
 * xo_patchzip.c - the patch entry of a zip, pulled through libarchive's streamable zip
 * reader from a caller's source: entry selection, size and ratio limits, truncation and
 * CRC checks. Must not: seek, write files, allocate per byte, print or log.
 */
#include "xo_patchzip.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RATIO_SLACK ((uint64_t)1 << 20) /* a small entry may decompress beyond the ratio */

struct xo_patchzip {
    struct archive *a;
    xo_patchzip_source_fn source;
    void *opaque;
    xo_patchzip_limits_t lim;
    char name[XO_PATCHZIP_NAME_MAX + 1];
    uint64_t size, bytes_in, bytes_out;
    xo_err_t source_err; /* the source's own error, reported instead of libarchive's */
    bool source_ended;   /* the source said end: a failure after it is a truncated zip */
    xo_err_t err;        /* sticky outcome of read */
    char errmsg[256];
};

/* ---------------------------------------------------------------------------------------- */
/* Entry selection                                                                          */

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n > k && strcasecmp(s + n - k, suffix) == 0;
}

/* Whether the name has a ".." component ("..", "../x", "a/../b", "a/.."). */
static bool has_dotdot(const char *name)
{
    for (const char *p = name; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == name || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

xo_err_t xo_patchzip_select(const char *name, xo_patch_kind_t kind, bool *take, char *errstr,
                            size_t errstr_size)
{
    size_t n = name ? strlen(name) : 0;

    *take = false;
    if (n == 0 || n > XO_PATCHZIP_NAME_MAX)
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "zip entry name empty or over %d bytes",
                         XO_PATCHZIP_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f || name[i] == '\\')
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                             "zip entry name with a control character or backslash refused");
    if (name[0] == '/' || has_dotdot(name))
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                         "zip entry name %.80s refused: absolute or with a .. component", name);
    if (name[n - 1] != '/')
        *take = ends_with(name, n, kind == XO_PATCH_ISO ? ".iso" : ".xsupdate");
    return XO_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                   */

static la_ssize_t on_read(struct archive *a, void *opaque, const void **buf)
{
    xo_patchzip_t *z = opaque;
    size_t len = 0;
    xo_err_t err = z->source(z->opaque, buf, &len);

    if (err != XO_OK) {
        z->source_err = err;
        archive_set_error(a, EIO, "the zip's source failed");
        return -1;
    }
    z->bytes_in += len;
    z->source_ended |= len == 0;
    return (la_ssize_t)len;
}

static void apply_defaults(xo_patchzip_limits_t *l)
{
    if (!l->max_entry)
        l->max_entry = XO_PATCHZIP_DEFAULT_MAX_ENTRY;
    if (!l->max_ratio)
        l->max_ratio = XO_PATCHZIP_DEFAULT_MAX_RATIO;
    if (!l->max_entries)
        l->max_entries = XO_PATCHZIP_DEFAULT_MAX_ENTRIES;
}

/* A libarchive failure as our error: the source's own when it caused it. */
static xo_err_t archive_fail(xo_patchzip_t *z, const char *what, char *errstr, size_t errstr_size)
{
    const char *msg = archive_error_string(z->a);

    if (z->source_err != XO_OK)
        return xo_seterr(errstr, errstr_size, z->source_err, "%s: the download failed", what);
    if (z->source_ended)
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "%s: the zip is truncated (%s)", what,
                         msg ? msg : "ends early");
    return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "%s: %s", what,
                     msg ? msg : "corrupt or truncated zip");
}

/* The patch entry's header is current: check and keep its name and size. */
static xo_err_t take_entry(xo_patchzip_t *z, struct archive_entry *e, const char *name,
                           char *errstr, size_t errstr_size)
{
    if (!archive_entry_size_is_set(e))
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                         "zip entry %s has no size in its header (data descriptor)", name);
    if ((uint64_t)archive_entry_size(e) > z->lim.max_entry)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT,
                         "zip entry %s is %lld bytes, over the limit of %llu", name,
                         (long long)archive_entry_size(e), (unsigned long long)z->lim.max_entry);
    snprintf(z->name, sizeof z->name, "%s", name);
    z->size = (uint64_t)archive_entry_size(e);
    return XO_OK;
}

/* Walk the headers up to the patch entry. */
static xo_err_t find_entry(xo_patchzip_t *z, xo_patch_kind_t kind, char *errstr, size_t errstr_size)
{
    for (unsigned seen = 0;; seen++) {
        struct archive_entry *e;
        const char *name;
        bool take;
        int rc;

        if (seen >= z->lim.max_entries)
            return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT,
                             "no patch entry among the first %u entries", z->lim.max_entries);
        rc = archive_read_next_header(z->a, &e);
        if (rc == ARCHIVE_EOF)
            return xo_seterr(errstr, errstr_size, XO_ERR_NOTFOUND, "no %s entry in the zip",
                             kind == XO_PATCH_ISO ? ".iso" : ".xsupdate");
        if (rc != ARCHIVE_OK)
            return archive_fail(z, "zip header", errstr, errstr_size);
        name = archive_entry_pathname(e);
        if (xo_patchzip_select(name, kind, &take, errstr, errstr_size) != XO_OK)
            return XO_ERR_PARSE;
        if (take)
            return take_entry(z, e, name, errstr, errstr_size);
        if (archive_read_data_skip(z->a) != ARCHIVE_OK)
            return archive_fail(z, "zip entry", errstr, errstr_size);
    }
}

xo_err_t xo_patchzip_open(xo_patchzip_source_fn source, void *opaque, xo_patch_kind_t kind,
                          const xo_patchzip_limits_t *limits, xo_patchzip_t **out, char *errstr,
                          size_t errstr_size)
{
    xo_patchzip_t *z = calloc(1, sizeof *z);
    xo_err_t err;

    if (!z || !source || !out) {
        free(z);
        return xo_seterr(errstr, errstr_size, z ? XO_ERR_INVALID : XO_ERR_NOMEM,
                         "no reader, source or output");
    }
    z->source = source;
    z->opaque = opaque;
    if (limits)
        z->lim = *limits;
    apply_defaults(&z->lim);
    z->a = archive_read_new();
    if (!z->a) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* Streamable: the local headers, read in order; the central directory is never sought. */
    archive_read_support_format_zip_streamable(z->a);
    if (archive_read_open(z->a, z, NULL, on_read, NULL) != ARCHIVE_OK) {
        err = archive_fail(z, "zip", errstr, errstr_size);
        goto fail;
    }
    err = find_entry(z, kind, errstr, errstr_size);
    if (err != XO_OK)
        goto fail;
    *out = z;
    return XO_OK;
fail:
    xo_patchzip_free(z);
    return err;
}

const char *xo_patchzip_name(const xo_patchzip_t *z)
{
    return z->name;
}

uint64_t xo_patchzip_size(const xo_patchzip_t *z)
{
    return z->size;
}

uint64_t xo_patchzip_bytes_in(const xo_patchzip_t *z)
{
    return z->bytes_in;
}

static xo_err_t sticky(xo_patchzip_t *z, xo_err_t err, char *errstr, size_t errstr_size)
{
    z->err = err;
    snprintf(z->errmsg, sizeof z->errmsg, "%s", errstr && errstr_size ? errstr : "");
    return err;
}

xo_err_t xo_patchzip_read(xo_patchzip_t *z, void *buf, size_t cap, size_t *n, char *errstr,
                          size_t errstr_size)
{
    la_ssize_t r;

    *n = 0;
    if (z->err != XO_OK)
        return xo_seterr(errstr, errstr_size, z->err, "%s", z->errmsg);
    r = archive_read_data(z->a, buf, cap);
    if (r < 0)
        return sticky(z, archive_fail(z, z->name, errstr, errstr_size), errstr, errstr_size);
    if (r == 0 && z->bytes_out != z->size)
        return sticky(z,
                      xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                                "%s: %llu bytes of %llu, truncated", z->name,
                                (unsigned long long)z->bytes_out, (unsigned long long)z->size),
                      errstr, errstr_size);
    z->bytes_out += (uint64_t)r;
    if (z->bytes_out > z->size)
        return sticky(z,
                      xo_seterr(errstr, errstr_size, XO_ERR_LIMIT,
                                "%s: more bytes than the %llu its header declares", z->name,
                                (unsigned long long)z->size),
                      errstr, errstr_size);
    if (z->bytes_out > (uint64_t)z->lim.max_ratio * z->bytes_in + RATIO_SLACK)
        return sticky(z,
                      xo_seterr(errstr, errstr_size, XO_ERR_LIMIT,
                                "%s: compression ratio over %u (a zip bomb?)", z->name,
                                z->lim.max_ratio),
                      errstr, errstr_size);
    *n = (size_t)r;
    return XO_OK;
}

void xo_patchzip_free(xo_patchzip_t *z)
{
    if (!z)
        return;
    if (z->a)
        archive_read_free(z->a);
    free(z);
}
