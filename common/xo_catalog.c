/*
 * xo_catalog.c - XenServer's updates.xml on a libxml2 SAX2 push parser, and the missing
 * patches of a host computed from it. Keeps the catalogue's items, never the document.
 * Must not: build a DOM, load DTDs or entities, touch the network or files, print or log
 * (errors go to the caller's errstr), or know about XAPI or HTTP.
 */
#include "xo_catalog.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_strmap.h"
#include "xo_xml_guard.h"

#define FEED_SLICE    ((size_t)64 << 10) /* largest slice handed to libxml2 at once */
#define MAX_REQ_CHAIN 64                 /* requirements of requirements, at most */

/* ---------------------------------------------------------------------------------------- */
/* The catalogue                                                                            */

struct xo_catalog {
    xo_catalog_patch_t *patches;
    size_t n_patches, cap_patches;
    xo_catalog_version_t *versions;
    size_t n_versions, cap_versions;
    xo_strmap_t *patch_index;   /* uuid → index in patches */
    xo_strmap_t *version_index; /* value → index in versions */
};

static void refs_free(xo_catalog_refs_t *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->uuids[i]);
    free(r->uuids);
}

static void patch_fini(xo_catalog_patch_t *p)
{
    free(p->uuid);
    free(p->name_label);
    free(p->name_description);
    free(p->url);
    free(p->patch_url);
    free(p->timestamp);
    free(p->guidance);
    refs_free(&p->conflicts);
    refs_free(&p->requirements);
}

static void version_fini(xo_catalog_version_t *v)
{
    free(v->value);
    free(v->name);
    free(v->timestamp);
    free(v->url);
    refs_free(&v->patches);
}

void xo_catalog_free(xo_catalog_t *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n_patches; i++)
        patch_fini(&cat->patches[i]);
    for (size_t i = 0; i < cat->n_versions; i++)
        version_fini(&cat->versions[i]);
    free(cat->patches);
    free(cat->versions);
    xo_strmap_free(cat->patch_index);
    xo_strmap_free(cat->version_index);
    free(cat);
}

/* Grow an array of `size`-byte items to hold one more; returns false on overflow/ENOMEM. */
static bool grow(void **arr, size_t *cap, size_t count, size_t size)
{
    size_t ncap;
    void *np;

    if (count < *cap)
        return true;
    ncap = *cap ? *cap * 2 : 8;
    if (ncap > SIZE_MAX / size)
        return false;
    np = realloc(*arr, ncap * size);
    if (!np)
        return false;
    *arr = np;
    *cap = ncap;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Parser state                                                                             */

/* What an open element is, from its name and its parent's kind. */
typedef enum {
    K_OTHER, /* skipped, with everything inside it */
    K_ROOT,
    K_PATCHES,
    K_PATCH,
    K_CONFLICTS,
    K_REQUIREMENTS,
    K_VERSIONS,
    K_VERSION,
} kind_t;

struct xo_catalog_parser {
    xo_xml_guard_t g; /* first: the guard's SAX callbacks find it at the user data */
    xo_catalog_limits_t lim;
    xo_catalog_t *cat;
    kind_t *stack; /* kinds of the open elements, lim.max_depth of them */
    size_t depth;
    size_t total;
    bool seen_root;
};

static void fail(xo_catalog_parser_t *p, xo_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(xo_catalog_parser_t *p, xo_err_t err, const char *fmt, ...)
{
    char msg[XO_XML_GUARD_ERRMSG];
    va_list ap;

    if (p->g.err != XO_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xo_xml_guard_fail(&p->g, err, "%s", msg);
}

/* Copy an attribute value, NUL-terminated. Without entity substitution libxml2 hands every
 * '&' of an attribute (from &amp; or &#38;) over as the text "&#38;", and only those. */
static void unescape_amp(char *dst, const char *src, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (src[i] == '&' && len - i >= 5 && memcmp(src + i, "&#38;", 5) == 0) {
            *dst++ = '&';
            i += 5;
        } else {
            *dst++ = src[i++];
        }
    }
    *dst = '\0';
}

/* The value of attribute @name as a new string ("" when absent), or NULL after a failure. */
static char *attr_dup(xo_catalog_parser_t *p, const xmlChar **attrs, int n, const char *name)
{
    const char *v = "";
    size_t len = 0;
    char *s;

    for (int i = 0; i < n; i++) {
        if (strcmp((const char *)attrs[i * 5], name) != 0)
            continue;
        v = (const char *)attrs[i * 5 + 3];
        len = (size_t)(attrs[i * 5 + 4] - attrs[i * 5 + 3]);
        break;
    }
    if (len > p->lim.max_field) {
        fail(p, XO_ERR_LIMIT, "attribute %s is %zu bytes, over the limit of %zu", name, len,
             p->lim.max_field);
        return NULL;
    }
    if (memchr(v, '\0', len)) {
        fail(p, XO_ERR_PARSE, "attribute %s holds a NUL character", name);
        return NULL;
    }
    s = malloc(len + 1);
    if (!s) {
        fail(p, XO_ERR_NOMEM, "out of memory");
        return NULL;
    }
    unescape_amp(s, v, len);
    return s;
}

/* Add a referenced uuid (a conflict, a requirement, a version's patch); empty ones skipped. */
static void add_ref(xo_catalog_parser_t *p, xo_catalog_refs_t *refs, const xmlChar **attrs, int n)
{
    char *uuid = attr_dup(p, attrs, n, "uuid");
    char **np;

    if (!uuid)
        return;
    if (!*uuid) {
        free(uuid);
        return;
    }
    if (refs->count >= p->lim.max_refs) {
        free(uuid);
        fail(p, XO_ERR_LIMIT, "more than %zu references in one item", p->lim.max_refs);
        return;
    }
    np = realloc(refs->uuids, (refs->count + 1) * sizeof *np);
    if (!np) {
        free(uuid);
        fail(p, XO_ERR_NOMEM, "out of memory");
        return;
    }
    refs->uuids = np;
    refs->uuids[refs->count++] = uuid;
}

/* A name-label that is a whole release (XS72, CH80): xo-server's /^(XS|CH)\d{2,}$/. */
static bool is_upgrade_name(const char *name)
{
    size_t digits = 0;

    if (strncmp(name, "XS", 2) != 0 && strncmp(name, "CH", 2) != 0)
        return false;
    for (name += 2; *name; name++, digits++)
        if (*name < '0' || *name > '9')
            return false;
    return digits >= 2;
}

static void start_patch(xo_catalog_parser_t *p, const xmlChar **attrs, int n)
{
    xo_catalog_t *c = p->cat;
    xo_catalog_patch_t *pt;
    char *stream;

    if (c->n_patches >= p->lim.max_patches) {
        fail(p, XO_ERR_LIMIT, "more than %zu patches", p->lim.max_patches);
        return;
    }
    if (!grow((void **)&c->patches, &c->cap_patches, c->n_patches, sizeof *c->patches)) {
        fail(p, XO_ERR_NOMEM, "out of memory");
        return;
    }
    pt = &c->patches[c->n_patches++];
    memset(pt, 0, sizeof *pt);
    pt->uuid = attr_dup(p, attrs, n, "uuid");
    pt->name_label = attr_dup(p, attrs, n, "name-label");
    pt->name_description = attr_dup(p, attrs, n, "name-description");
    pt->url = attr_dup(p, attrs, n, "url");
    pt->patch_url = attr_dup(p, attrs, n, "patch-url");
    pt->timestamp = attr_dup(p, attrs, n, "timestamp");
    pt->guidance = attr_dup(p, attrs, n, "after-apply-guidance");
    stream = attr_dup(p, attrs, n, "update-stream");
    if (p->g.err != XO_OK) {
        free(stream);
        return;
    }
    pt->paid = strcmp(stream, "premium") == 0;
    pt->upgrade = is_upgrade_name(pt->name_label);
    free(stream);
    if (!*pt->uuid)
        fail(p, XO_ERR_PARSE, "patch %zu has no uuid", c->n_patches);
    else if (xo_strmap_get(c->patch_index, pt->uuid, NULL))
        fail(p, XO_ERR_PARSE, "patch %s appears twice", pt->uuid);
    else if (xo_strmap_set(c->patch_index, pt->uuid, (int64_t)(c->n_patches - 1)) != XO_OK)
        fail(p, XO_ERR_NOMEM, "out of memory");
}

static void start_version(xo_catalog_parser_t *p, const xmlChar **attrs, int n)
{
    xo_catalog_t *c = p->cat;
    xo_catalog_version_t *v;
    char *latest;

    if (c->n_versions >= p->lim.max_patches) {
        fail(p, XO_ERR_LIMIT, "more than %zu versions", p->lim.max_patches);
        return;
    }
    if (!grow((void **)&c->versions, &c->cap_versions, c->n_versions, sizeof *c->versions)) {
        fail(p, XO_ERR_NOMEM, "out of memory");
        return;
    }
    v = &c->versions[c->n_versions++];
    memset(v, 0, sizeof *v);
    v->value = attr_dup(p, attrs, n, "value");
    v->name = attr_dup(p, attrs, n, "name");
    v->timestamp = attr_dup(p, attrs, n, "timestamp");
    v->url = attr_dup(p, attrs, n, "url");
    latest = attr_dup(p, attrs, n, "latest");
    if (p->g.err != XO_OK) {
        free(latest);
        return;
    }
    v->latest = strcmp(latest, "true") == 0;
    free(latest);
    if (!*v->value)
        fail(p, XO_ERR_PARSE, "server version %zu has no value", c->n_versions);
    else if (xo_strmap_get(c->version_index, v->value, NULL))
        fail(p, XO_ERR_PARSE, "server version %s appears twice", v->value);
    else if (xo_strmap_set(c->version_index, v->value, (int64_t)(c->n_versions - 1)) != XO_OK)
        fail(p, XO_ERR_NOMEM, "out of memory");
}

/* The kind of a new element, acting on its attributes where it is an item or a reference. */
static kind_t open_element(xo_catalog_parser_t *p, kind_t parent, const char *name,
                           const xmlChar **attrs, int n)
{
    xo_catalog_t *c = p->cat;

    switch (parent) {
    case K_ROOT:
        if (strcmp(name, "patches") == 0)
            return K_PATCHES;
        return strcmp(name, "serverversions") == 0 ? K_VERSIONS : K_OTHER;
    case K_PATCHES:
        if (strcmp(name, "patch") != 0)
            return K_OTHER;
        start_patch(p, attrs, n);
        return K_PATCH;
    case K_PATCH:
        if (strcmp(name, "conflictingpatches") == 0)
            return K_CONFLICTS;
        return strcmp(name, "requiredpatches") == 0 ? K_REQUIREMENTS : K_OTHER;
    case K_CONFLICTS:
        if (strcmp(name, "conflictingpatch") == 0)
            add_ref(p, &c->patches[c->n_patches - 1].conflicts, attrs, n);
        return K_OTHER;
    case K_REQUIREMENTS:
        if (strcmp(name, "requiredpatch") == 0)
            add_ref(p, &c->patches[c->n_patches - 1].requirements, attrs, n);
        return K_OTHER;
    case K_VERSIONS:
        if (strcmp(name, "version") != 0)
            return K_OTHER;
        start_version(p, attrs, n);
        return K_VERSION;
    case K_VERSION:
        if (strcmp(name, "patch") == 0)
            add_ref(p, &c->versions[c->n_versions - 1].patches, attrs, n);
        return K_OTHER;
    default:
        return K_OTHER;
    }
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    xo_catalog_parser_t *p = ctx;
    const char *name = (const char *)localname;
    kind_t kind;

    (void)prefix, (void)uri, (void)nb_namespaces, (void)namespaces, (void)nb_defaulted;
    if (p->g.err != XO_OK)
        return;
    if (p->depth >= p->lim.max_depth) {
        fail(p, XO_ERR_LIMIT, "elements nest deeper than %zu", p->lim.max_depth);
        return;
    }
    if (p->depth == 0) {
        if (strcmp(name, "patchdata") != 0) {
            fail(p, XO_ERR_PARSE, "the root element is <%.64s>, not <patchdata>", name);
            return;
        }
        p->seen_root = true;
        kind = K_ROOT;
    } else {
        kind = open_element(p, p->stack[p->depth - 1], name, attributes, nb_attributes);
    }
    p->stack[p->depth++] = kind;
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xo_catalog_parser_t *p = ctx;

    (void)localname, (void)prefix, (void)uri;
    if (p->g.err == XO_OK && p->depth)
        p->depth--;
}

/* The guards (no DTD, no entity, no processing instruction), then the elements. */
static void init_sax(xmlSAXHandler *sax)
{
    xo_xml_guard_sax(sax);
    sax->startElementNs = on_start;
    sax->endElementNs = on_end;
}

/* ---------------------------------------------------------------------------------------- */
/* Public parser API                                                                        */

static void apply_defaults(xo_catalog_limits_t *l)
{
    if (!l->max_total)
        l->max_total = XO_CATALOG_DEFAULT_MAX_TOTAL;
    if (!l->max_field)
        l->max_field = XO_CATALOG_DEFAULT_MAX_FIELD;
    if (!l->max_depth)
        l->max_depth = XO_CATALOG_DEFAULT_MAX_DEPTH;
    if (!l->max_patches)
        l->max_patches = XO_CATALOG_DEFAULT_MAX_PATCHES;
    if (!l->max_refs)
        l->max_refs = XO_CATALOG_DEFAULT_MAX_REFS;
}

xo_catalog_parser_t *xo_catalog_parser_new(const xo_catalog_limits_t *limits)
{
    xo_catalog_parser_t *p = calloc(1, sizeof *p);
    xmlSAXHandler sax;

    if (!p)
        return NULL;
    if (limits)
        p->lim = *limits;
    apply_defaults(&p->lim);
    p->stack = calloc(p->lim.max_depth, sizeof *p->stack);
    p->cat = calloc(1, sizeof *p->cat);
    if (!p->stack || !p->cat)
        goto fail;
    p->cat->patch_index = xo_strmap_new();
    p->cat->version_index = xo_strmap_new();
    if (!p->cat->patch_index || !p->cat->version_index)
        goto fail;
    init_sax(&sax);
    if (xo_xml_guard_init(&p->g, &sax, p) != XO_OK)
        goto fail;
    return p;
fail:
    xo_catalog_parser_free(p);
    return NULL;
}

void xo_catalog_parser_free(xo_catalog_parser_t *p)
{
    if (!p)
        return;
    xo_xml_guard_fini(&p->g);
    xo_catalog_free(p->cat);
    free(p->stack);
    free(p);
}

/* Input must be UTF-8 without NUL bytes, checked before libxml2 so that no charset
 * converter is ever involved (a UTF-16 or Latin-1 document is refused here). */
static void check_utf8(xo_catalog_parser_t *p, const unsigned char *s, size_t n)
{
    size_t bad_at;
    bool nul;

    if (!xo_xml_guard_utf8(&p->g, s, n, &bad_at, &nul))
        fail(p, XO_ERR_PARSE, "the document is not UTF-8 text (byte %zu)", p->total);
}

xo_err_t xo_catalog_parser_feed(xo_catalog_parser_t *p, const char *data, size_t len, char *errstr,
                                size_t errstr_size)
{
    if (!p || (!data && len))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "no parser or no data");
    while (len && p->g.err == XO_OK) {
        size_t n = len < FEED_SLICE ? len : FEED_SLICE;
        if (n > p->lim.max_total - p->total) {
            fail(p, XO_ERR_LIMIT, "the document is over the limit of %zu bytes", p->lim.max_total);
            break;
        }
        check_utf8(p, (const unsigned char *)data, n);
        p->total += n;
        if (p->g.err == XO_OK && xmlParseChunk(p->g.ctxt, data, (int)n, 0) != 0)
            fail(p, XO_ERR_PARSE, "malformed XML");
        data += n;
        len -= n;
    }
    if (p->g.err != XO_OK)
        return xo_seterr(errstr, errstr_size, p->g.err, "%s", p->g.errmsg);
    return XO_OK;
}

xo_err_t xo_catalog_parser_finish(xo_catalog_parser_t *p, xo_catalog_t **out, char *errstr,
                                  size_t errstr_size)
{
    if (!p || !out)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "no parser or no output");
    if (p->g.err == XO_OK && xo_xml_guard_utf8_pending(&p->g))
        fail(p, XO_ERR_PARSE, "the document ends inside a UTF-8 sequence");
    if (p->g.err == XO_OK && xmlParseChunk(p->g.ctxt, NULL, 0, 1) != 0)
        fail(p, XO_ERR_PARSE, "malformed XML");
    if (p->g.err == XO_OK && (!p->seen_root || p->depth || !p->g.ctxt->wellFormed))
        fail(p, XO_ERR_PARSE, "the document is incomplete");
    if (p->g.err != XO_OK)
        return xo_seterr(errstr, errstr_size, p->g.err, "%s", p->g.errmsg);
    *out = p->cat;
    p->cat = NULL;
    return XO_OK;
}

xo_err_t xo_catalog_parse(const char *data, size_t len, const xo_catalog_limits_t *limits,
                          xo_catalog_t **out, char *errstr, size_t errstr_size)
{
    xo_catalog_parser_t *p = xo_catalog_parser_new(limits);
    xo_err_t err;

    if (!p)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    err = xo_catalog_parser_feed(p, data, len, errstr, errstr_size);
    if (err == XO_OK)
        err = xo_catalog_parser_finish(p, out, errstr, errstr_size);
    xo_catalog_parser_free(p);
    return err;
}

/* ---------------------------------------------------------------------------------------- */
/* Look-ups                                                                                 */

size_t xo_catalog_patch_count(const xo_catalog_t *cat)
{
    return cat ? cat->n_patches : 0;
}

const xo_catalog_patch_t *xo_catalog_patch_at(const xo_catalog_t *cat, size_t i)
{
    return cat && i < cat->n_patches ? &cat->patches[i] : NULL;
}

size_t xo_catalog_version_count(const xo_catalog_t *cat)
{
    return cat ? cat->n_versions : 0;
}

const xo_catalog_version_t *xo_catalog_version_at(const xo_catalog_t *cat, size_t i)
{
    return cat && i < cat->n_versions ? &cat->versions[i] : NULL;
}

const xo_catalog_patch_t *xo_catalog_patch(const xo_catalog_t *cat, const char *uuid)
{
    int64_t i;

    if (!cat || !uuid || !xo_strmap_get(cat->patch_index, uuid, &i))
        return NULL;
    return &cat->patches[i];
}

const xo_catalog_version_t *xo_catalog_version(const xo_catalog_t *cat, const char *product_version,
                                               const char *product_version_text)
{
    int64_t i;

    if (!cat)
        return NULL;
    if (product_version && xo_strmap_get(cat->version_index, product_version, &i))
        return &cat->versions[i];
    if (product_version_text && xo_strmap_get(cat->version_index, product_version_text, &i))
        return &cat->versions[i];
    return NULL;
}

bool xo_catalog_uses_update_system(const char *platform_version)
{
    static const long min[3] = {2, 1, 1};
    const char *s = platform_version;

    if (!s)
        return false;
    for (int i = 0; i < 3; i++) {
        char *end;
        long v;
        if (*s < '0' || *s > '9')
            return false;
        v = strtol(s, &end, 10);
        if (v != min[i])
            return v > min[i];
        s = *end == '.' ? end + 1 : end;
        if (*end != '.' && i < 2)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Missing patches                                                                          */

typedef struct {
    const xo_catalog_t *cat;
    xo_strmap_t *offered;   /* the version's patches (upgrades left out) */
    xo_strmap_t *installed; /* installed on the host */
    xo_strmap_t *chosen;    /* already in the answer */
    xo_strmap_t *visiting;  /* on the current requirement chain */
    bool free_host;
    xo_catalog_list_t *out;
    xo_err_t code; /* of the refusal, when one step FAILED */
    char *errstr;
    size_t errstr_size;
} missing_t;

typedef enum { ADDED, SKIPPED, FAILED } add_outcome_t;

static add_outcome_t refuse(missing_t *m, xo_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record why the computation stops; returns FAILED. */
static add_outcome_t refuse(missing_t *m, xo_err_t code, const char *fmt, ...)
{
    va_list ap;

    m->code = code;
    if (m->errstr && m->errstr_size) {
        va_start(ap, fmt);
        vsnprintf(m->errstr, m->errstr_size, fmt, ap);
        va_end(ap);
    }
    return FAILED;
}

void xo_catalog_list_fini(xo_catalog_list_t *list)
{
    if (!list)
        return;
    free(list->patches);
    list->patches = NULL;
    list->count = 0;
}

static const xo_catalog_patch_t *offered_patch(const missing_t *m, const char *uuid)
{
    return xo_strmap_get(m->offered, uuid, NULL) ? xo_catalog_patch(m->cat, uuid) : NULL;
}

/* Whether catalogue patch @uuid declares a conflict with @pt. */
static bool declares_conflict(const xo_catalog_t *cat, const char *uuid,
                              const xo_catalog_patch_t *pt)
{
    const xo_catalog_patch_t *other = xo_catalog_patch(cat, uuid);

    for (size_t j = 0; other && j < other->conflicts.count; j++)
        if (strcmp(other->conflicts.uuids[j], pt->uuid) == 0)
            return true;
    return false;
}

/* The first conflict of @pt with an installed or chosen patch, declared either way round. */
static const char *find_conflict(const missing_t *m, const xo_catalog_patch_t *pt,
                                 bool *with_installed)
{
    size_t pos = 0;
    const char *c;

    for (size_t i = 0; i < pt->conflicts.count; i++) {
        c = pt->conflicts.uuids[i];
        *with_installed = xo_strmap_get(m->installed, c, NULL);
        if (*with_installed || xo_strmap_get(m->chosen, c, NULL))
            return c;
    }
    *with_installed = true;
    while ((c = xo_strmap_next(m->installed, &pos, NULL)))
        if (declares_conflict(m->cat, c, pt))
            return c;
    *with_installed = false;
    for (size_t i = 0; i < m->out->count; i++)
        if (declares_conflict(m->cat, m->out->patches[i]->uuid, pt))
            return m->out->patches[i]->uuid;
    return NULL;
}

/* Refusals that a listing skips and a request reports. */
static add_outcome_t check_installable(missing_t *m, const xo_catalog_patch_t *pt, bool listing)
{
    bool with_installed;
    const char *c;

    if (pt->paid && m->free_host) {
        if (!listing)
            refuse(m, XO_ERR_INVALID, "patch %s (%s) requires a XenServer license", pt->name_label,
                   pt->uuid);
        return listing ? SKIPPED : FAILED;
    }
    c = find_conflict(m, pt, &with_installed);
    if (!c)
        return ADDED;
    if (!listing && with_installed)
        refuse(m, XO_ERR_INVALID, "patch %s (%s) conflicts with installed patch %s", pt->name_label,
               pt->uuid, c);
    else if (!listing)
        refuse(m, XO_ERR_INVALID, "patches %s and %s conflict with each other", pt->uuid, c);
    return listing ? SKIPPED : FAILED;
}

static add_outcome_t push(missing_t *m, const xo_catalog_patch_t *pt)
{
    const xo_catalog_patch_t **np;

    np = realloc(m->out->patches, (m->out->count + 1) * sizeof *np);
    if (!np || xo_strmap_set(m->chosen, pt->uuid, 1) != XO_OK) {
        if (np)
            m->out->patches = np;
        refuse(m, XO_ERR_NOMEM, "out of memory");
        return FAILED;
    }
    m->out->patches = np;
    m->out->patches[m->out->count++] = pt;
    return ADDED;
}

/* Add @pt after its requirements (depth: the length of the requirement chain so far). */
static add_outcome_t add_patch(missing_t *m, const xo_catalog_patch_t *pt, bool listing, int depth)
{
    add_outcome_t r = check_installable(m, pt, listing);

    if (r != ADDED)
        return r;
    if (depth > MAX_REQ_CHAIN) {
        refuse(m, XO_ERR_LIMIT, "requirements of %s chain deeper than %d", pt->uuid, MAX_REQ_CHAIN);
        return FAILED;
    }
    if (xo_strmap_set(m->visiting, pt->uuid, 1) != XO_OK) {
        refuse(m, XO_ERR_NOMEM, "out of memory");
        return FAILED;
    }
    for (size_t i = 0; i < pt->requirements.count && r == ADDED; i++) {
        const char *id = pt->requirements.uuids[i];
        const xo_catalog_patch_t *req = offered_patch(m, id);
        if (xo_strmap_get(m->installed, id, NULL) || xo_strmap_get(m->chosen, id, NULL))
            continue;
        if (!req) {
            refuse(m, XO_ERR_NOTFOUND, "required patch %s not found", id);
            r = FAILED;
        } else if (xo_strmap_get(m->visiting, id, NULL)) {
            refuse(m, XO_ERR_INVALID, "patches %s and %s require each other", pt->uuid, id);
            r = FAILED;
        } else {
            r = add_patch(m, req, listing, depth + 1);
        }
    }
    xo_strmap_del(m->visiting, pt->uuid);
    return r == ADDED ? push(m, pt) : r;
}

/* One requested (or, listing, offered) uuid. */
static add_outcome_t add_requested(missing_t *m, const char *id, bool listing)
{
    const xo_catalog_patch_t *pt = offered_patch(m, id);

    if (!pt) {
        refuse(m, XO_ERR_NOTFOUND, "patch not found: %s", id);
        return FAILED;
    }
    if (xo_strmap_get(m->installed, id, NULL)) {
        if (!listing)
            refuse(m, XO_ERR_INVALID, "patch already installed: %s (%s)", pt->name_label, id);
        return listing ? SKIPPED : FAILED;
    }
    if (xo_strmap_get(m->chosen, id, NULL))
        return SKIPPED;
    return add_patch(m, pt, listing, 0);
}

static xo_err_t fill_sets(missing_t *m, const xo_catalog_version_t *version,
                          const char *const *installed, size_t n_installed)
{
    for (size_t i = 0; i < version->patches.count; i++) {
        const xo_catalog_patch_t *pt = xo_catalog_patch(m->cat, version->patches.uuids[i]);
        if (pt && !pt->upgrade && xo_strmap_set(m->offered, pt->uuid, 1) != XO_OK)
            return XO_ERR_NOMEM;
    }
    for (size_t i = 0; i < n_installed; i++)
        if (installed[i] && xo_strmap_set(m->installed, installed[i], 1) != XO_OK)
            return XO_ERR_NOMEM;
    return XO_OK;
}

xo_err_t xo_catalog_missing(const xo_catalog_t *cat, const xo_catalog_version_t *version,
                            const char *const *installed, size_t n_installed,
                            const char *const *requested, size_t n_requested, bool free_host,
                            xo_catalog_list_t *out, char *errstr, size_t errstr_size)
{
    xo_catalog_list_t list = {0};
    missing_t m = {.cat = cat,
                   .free_host = free_host,
                   .out = &list,
                   .errstr = errstr,
                   .errstr_size = errstr_size};
    const char *const *ids = requested ? requested : (const char *const *)version->patches.uuids;
    size_t n = requested ? n_requested : version ? version->patches.count : 0;
    xo_err_t err = XO_OK;

    if (!cat || !version || !out || (n_installed && !installed) || (n_requested && !requested))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "missing argument");
    m.offered = xo_strmap_new();
    m.installed = xo_strmap_new();
    m.chosen = xo_strmap_new();
    m.visiting = xo_strmap_new();
    if (!m.offered || !m.installed || !m.chosen || !m.visiting ||
        fill_sets(&m, version, installed, n_installed) != XO_OK) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && err == XO_OK; i++) {
        /* Listing walks the version's list, upgrades included: those are not offered. */
        if (!requested && !xo_strmap_get(m.offered, ids[i], NULL))
            continue;
        if (add_requested(&m, ids[i], !requested) == FAILED)
            err = m.code;
    }
out:
    if (err == XO_OK)
        *out = list;
    else
        xo_catalog_list_fini(&list);
    xo_strmap_free(m.offered);
    xo_strmap_free(m.installed);
    xo_strmap_free(m.chosen);
    xo_strmap_free(m.visiting);
    return err;
}
