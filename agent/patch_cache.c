/*
 * patch_cache.c - what the agent remembers between patching commands, as xo-server does:
 * XenServer's catalogue for patches.catalog_cache_s (a day), shared by the command
 * thread's listings and the patch worker's installations, and each host's last listing
 * for patches.list_debounce_s (a minute), forgotten when an installation or a rolling
 * update ends. Both threads use it: one lock each. Must not: call XAPI, publish, or hand
 * out a json_object another thread may hold (listings are kept as text).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "patch_int.h"
#include "xo_log.h"

#define CACHE_MOD "patch"

/* ---- the catalogue ---- */

struct patch_catalog_ref {
    xo_catalog_t *cat;
    int refs; /* the cache's, and each caller's between get and release */
};

static struct {
    pthread_mutex_t mu;
    patch_catalog_ref_t *cur; /* the cached catalogue, or NULL */
    char url[1024];
    int64_t fetched_ms;
} catalogs = {PTHREAD_MUTEX_INITIALIZER, NULL, "", 0};

static void unref_locked(patch_catalog_ref_t *r)
{
    if (r && --r->refs == 0) {
        xo_catalog_free(r->cat);
        free(r);
    }
}

/* The cached catalogue when it is @p url's and younger than @p ttl_ms (a reference taken). */
static patch_catalog_ref_t *cached(const char *url, int64_t ttl_ms)
{
    patch_catalog_ref_t *r = NULL;

    pthread_mutex_lock(&catalogs.mu);
    if (catalogs.cur && !strcmp(catalogs.url, url) && xo_now_ms() - catalogs.fetched_ms < ttl_ms) {
        r = catalogs.cur;
        r->refs++;
    }
    pthread_mutex_unlock(&catalogs.mu);
    return r;
}

xo_err_t patch_catalog_get(const xo_config_t *cfg, patch_catalog_ref_t **out, char *errstr,
                           size_t errstr_size)
{
    const char *url = xo_config_get(cfg, "patches.catalog_url");
    int64_t ttl_ms = (int64_t)xo_config_get_int(cfg, "patches.catalog_cache_s") * 1000;
    patch_catalog_ref_t *r = ttl_ms > 0 ? cached(url, ttl_ms) : NULL;
    xo_catalog_t *cat = NULL;
    xo_err_t err;

    if (r) {
        *out = r;
        return XO_OK;
    }
    err = patch_catalog_fetch(cfg, &cat, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    r = calloc(1, sizeof(*r));
    if (!r) {
        xo_catalog_free(cat);
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    }
    r->cat = cat;
    r->refs = 1;
    if (ttl_ms > 0) {
        pthread_mutex_lock(&catalogs.mu);
        unref_locked(catalogs.cur);
        r->refs++;
        catalogs.cur = r;
        snprintf(catalogs.url, sizeof(catalogs.url), "%s", url);
        catalogs.fetched_ms = xo_now_ms();
        pthread_mutex_unlock(&catalogs.mu);
    }
    *out = r;
    return XO_OK;
}

const xo_catalog_t *patch_catalog_of(const patch_catalog_ref_t *r)
{
    return r->cat;
}

void patch_catalog_release(patch_catalog_ref_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&catalogs.mu);
    unref_locked(r);
    pthread_mutex_unlock(&catalogs.mu);
}

/* ---- listings ---- */

#define LISTED_MAX 64 /* hosts remembered; the oldest goes first */

static struct {
    pthread_mutex_t mu;
    struct {
        char host[128];
        int64_t at_ms;
        char *json; /* the answer, as text */
    } e[LISTED_MAX];
    uint64_t gen; /* bumped by patch_listing_forget: older answers are not kept */
} listed = {.mu = PTHREAD_MUTEX_INITIALIZER};

uint64_t patch_listing_gen(void)
{
    uint64_t g;

    pthread_mutex_lock(&listed.mu);
    g = listed.gen;
    pthread_mutex_unlock(&listed.mu);
    return g;
}

json_object *patch_listing_get(const xo_config_t *cfg, const char *host)
{
    int64_t ttl_ms = (int64_t)xo_config_get_int(cfg, "patches.list_debounce_s") * 1000;
    json_object *v = NULL;

    pthread_mutex_lock(&listed.mu);
    for (size_t i = 0; ttl_ms > 0 && i < LISTED_MAX; i++)
        if (listed.e[i].json && !strcmp(listed.e[i].host, host) &&
            xo_now_ms() - listed.e[i].at_ms < ttl_ms)
            v = json_tokener_parse(listed.e[i].json);
    pthread_mutex_unlock(&listed.mu);
    return v;
}

void patch_listing_put(const xo_config_t *cfg, const char *host, json_object *list, uint64_t gen)
{
    const char *text = json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN);
    size_t slot = 0;

    if (xo_config_get_int(cfg, "patches.list_debounce_s") <= 0)
        return;
    pthread_mutex_lock(&listed.mu);
    for (size_t i = 0; i < LISTED_MAX; i++) {
        if (!strcmp(listed.e[i].host, host)) {
            slot = i;
            break;
        }
        if (listed.e[i].at_ms < listed.e[slot].at_ms)
            slot = i;
    }
    if (gen == listed.gen) { /* nothing installed since the listing began */
        free(listed.e[slot].json);
        listed.e[slot].json = strdup(text);
        snprintf(listed.e[slot].host, sizeof(listed.e[slot].host), "%s", host);
        listed.e[slot].at_ms = xo_now_ms();
    }
    pthread_mutex_unlock(&listed.mu);
}

void patch_listing_forget(void)
{
    pthread_mutex_lock(&listed.mu);
    for (size_t i = 0; i < LISTED_MAX; i++) {
        free(listed.e[i].json);
        listed.e[i].json = NULL;
        listed.e[i].host[0] = '\0';
        listed.e[i].at_ms = 0;
    }
    listed.gen++;
    pthread_mutex_unlock(&listed.mu);
}

void patch_cache_free(void)
{
    patch_listing_forget();
    pthread_mutex_lock(&catalogs.mu);
    unref_locked(catalogs.cur);
    catalogs.cur = NULL;
    pthread_mutex_unlock(&catalogs.mu);
    xo_dbg(XO_DBG_XAPI, CACHE_MOD, "event=patch_cache_freed");
}
