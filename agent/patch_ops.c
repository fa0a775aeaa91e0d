/*
 * patch_ops.c - the executors of the patching ops, as xo-server's patching mixin does them:
 * pool.listMissingPatches asks an XCP-ng host's updater.py plugin (check_update) or, for
 * XenServer / Citrix Hypervisor, computes the catalogue's patches of the host's version
 * minus the installed ones (xo_catalog). Runs on the command thread, on its session.
 * Must not: consume or verify commands, or keep state between commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch_int.h"
#include "xo_log.h"

#define PATCH_MOD "patch"

/* One call on the command session; XAPI's error or the text lands in the outcome. */
xo_err_t patch_call(agent_cmd_t *c, const char *method, json_object *params, json_object **v,
                    cmd_outcome_t *out)
{
    xo_xapi_error_clear(&out->xerr);
    return agent_call_conn(c->xapi, c->session, method, params, 0, v, &out->xerr, out->reason,
                           sizeof(out->reason));
}

json_object *patch_arg(const char *s)
{
    json_object *p = json_object_new_array();

    json_object_array_add(p, json_object_new_string(s));
    return p;
}

/* Fail with our own error code (XAPI has none for it) and @p text as its only param, so
 * that the client's message names the cause (the gateway shows code(params)). */
xo_err_t patch_fail(cmd_outcome_t *out, xo_err_t err, const char *code, const char *text)
{
    if (text != out->reason)
        snprintf(out->reason, sizeof(out->reason), "%s", text);
    xo_xapi_error_clear(&out->xerr);
    snprintf(out->xerr.code, sizeof(out->xerr.code), "%s", code);
    out->xerr.params = json_object_new_array();
    json_object_array_add(out->xerr.params, json_object_new_string(out->reason));
    return err;
}

/* A map member of a record ("software_version"), or NULL. */
json_object *patch_member(json_object *rec, const char *name)
{
    json_object *v = NULL;

    return json_object_object_get_ex(rec, name, &v) ? v : NULL;
}

/* ---- XCP-ng: the updater.py plugin ---- */

/* The plugin's "busy" answer: XAPI error "-1" whose message says the lock is held
 * (xcp-ng-xapi-plugins' updater.py; Xen Orchestra retries on it too). */
static bool updater_busy(const cmd_outcome_t *out)
{
    const char *msg;

    if (strcmp(out->xerr.code, "-1") != 0 || !out->xerr.params ||
        json_object_array_length(out->xerr.params) < 1)
        return false;
    msg = json_object_get_string(json_object_array_get_idx(out->xerr.params, 0));
    return msg && (strstr(msg, "busy") || strstr(msg, "already in progress"));
}

/* host.call_plugin(host, "updater.py", fn, {}) retried while the plugin is busy, up to
 * patches.busy_retries times patches.busy_retry_ms apart; then the error names the lock. */
xo_err_t patch_updater_call(agent_cmd_t *c, const char *host, const char *fn, json_object **v,
                            cmd_outcome_t *out)
{
    long tries = c->patch_no_wait ? 0 : xo_config_get_int(c->a->cfg, "patches.busy_retries");
    long pause = xo_config_get_int(c->a->cfg, "patches.busy_retry_ms");
    xo_err_t err;

    for (long attempt = 0;; attempt++) {
        json_object *p = patch_arg(host);
        json_object_array_add(p, json_object_new_string("updater.py"));
        json_object_array_add(p, json_object_new_string(fn));
        json_object_array_add(p, json_object_new_object());
        err = patch_call(c, "host.call_plugin", p, v, out);
        if (err != XO_ERR_XAPI || !updater_busy(out))
            return err;
        if (attempt >= tries || !agent_sleep((int)pause)) {
            snprintf(out->reason, sizeof(out->reason),
                     "the updater.py plugin's lock on host %s stayed held (%s) after %ld "
                     "attempts %ld ms apart",
                     host, json_object_get_string(json_object_array_get_idx(out->xerr.params, 0)),
                     attempt + 1, pause);
            return patch_fail(out, err, "UPDATER_BUSY", out->reason);
        }
        xo_info(PATCH_MOD, "event=updater_busy host=%s fn=%s attempt=%ld", host, fn, attempt + 1);
    }
}

/* check_update answers the JSON text of a list of packages, or of {"error": ...}. */
static xo_err_t xcp_missing(agent_cmd_t *c, const char *host, cmd_outcome_t *out)
{
    json_object *v = NULL, *list = NULL, *e;
    xo_err_t err = patch_updater_call(c, host, "check_update", &v, out);

    if (err != XO_OK)
        goto done;
    if (json_object_is_type(v, json_type_string))
        list = json_tokener_parse(json_object_get_string(v));
    if (json_object_is_type(list, json_type_object) && json_object_object_get_ex(list, "error", &e))
        err = patch_fail(out, XO_ERR_XAPI, "UPDATER_ERROR", json_object_get_string(e));
    else if (!json_object_is_type(list, json_type_array))
        err = patch_fail(out, XO_ERR_PARSE, "UPDATER_ERROR",
                         "updater.py check_update did not answer a JSON list");
    if (err == XO_OK) {
        out->result = list;
        list = NULL;
    }
done:
    json_object_put(list);
    json_object_put(v);
    return err;
}

/* ---- XenServer: the catalogue ---- */

/* The uuids of what is installed on the host: its updates (update system) or the
 * pool_patches of its host_patches (legacy), as xo-server's _listInstalledPatches. */
json_object *patch_installed(agent_cmd_t *c, json_object *host_rec, bool updates,
                             cmd_outcome_t *out)
{
    json_object *refs = patch_member(host_rec, updates ? "updates" : "patches");
    json_object *uuids = json_object_new_array();
    size_t n = json_object_is_type(refs, json_type_array) ? json_object_array_length(refs) : 0;

    for (size_t i = 0; i < n && uuids; i++) {
        const char *ref = json_object_get_string(json_object_array_get_idx(refs, i));
        json_object *pp = NULL, *uuid = NULL;
        xo_err_t err = XO_OK;
        if (!updates)
            err = patch_call(c, "host_patch.get_pool_patch", patch_arg(ref), &pp, out);
        if (err == XO_OK)
            err = patch_call(c, updates ? "pool_update.get_uuid" : "pool_patch.get_uuid",
                             patch_arg(updates ? ref : json_object_get_string(pp)), &uuid, out);
        if (err == XO_OK)
            json_object_array_add(uuids, json_object_get(uuid));
        json_object_put(pp);
        json_object_put(uuid);
        if (err != XO_OK) {
            json_object_put(uuids);
            return NULL;
        }
    }
    return uuids;
}

static json_object *refs_json(const xo_catalog_refs_t *r)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < r->count; i++)
        json_object_array_add(a, json_object_new_string(r->uuids[i]));
    return a;
}

/* A patch as xo-server's _getXenUpdates describes it. */
static json_object *patch_json(const xo_catalog_patch_t *p)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "date", json_object_new_string(p->timestamp));
    json_object_object_add(o, "description", json_object_new_string(p->name_description));
    json_object_object_add(o, "documentationUrl", json_object_new_string(p->url));
    json_object_object_add(o, "guidance", json_object_new_string(p->guidance));
    json_object_object_add(o, "name", json_object_new_string(p->name_label));
    json_object_object_add(o, "url", json_object_new_string(p->patch_url));
    json_object_object_add(o, "id", json_object_new_string(p->uuid));
    json_object_object_add(o, "uuid", json_object_new_string(p->uuid));
    json_object_object_add(o, "conflicts", refs_json(&p->conflicts));
    json_object_object_add(o, "requirements", refs_json(&p->requirements));
    json_object_object_add(o, "paid", json_object_new_boolean(p->paid));
    json_object_object_add(o, "upgrade", json_object_new_boolean(p->upgrade));
    return o;
}

const char *patch_str(json_object *sv, const char *key)
{
    json_object *v = patch_member(sv, key);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The missing patches of a host from the catalogue; unknown versions have none. */
static xo_err_t xs_missing(agent_cmd_t *c, json_object *rec, cmd_outcome_t *out)
{
    json_object *sv = patch_member(rec, "software_version"), *installed = NULL;
    const char *sku = patch_str(patch_member(rec, "license_params"), "sku_type");
    bool updates = xo_catalog_uses_update_system(patch_str(sv, "platform_version"));
    patch_catalog_ref_t *ref = NULL;
    const xo_catalog_t *cat;
    const xo_catalog_version_t *ver;
    xo_catalog_list_t list = {0};
    const char **ids = NULL;
    size_t n = 0;
    xo_err_t err;

    installed = patch_installed(c, rec, updates, out);
    if (!installed)
        return XO_ERR_XAPI;
    err = patch_catalog_get(c->a->cfg, &ref, out->reason, sizeof(out->reason));
    if (err != XO_OK) {
        patch_fail(out, err, "PATCH_CATALOG_ERROR", out->reason);
        goto done;
    }
    cat = patch_catalog_of(ref);
    ver = xo_catalog_version(cat, patch_str(sv, "product_version"),
                             patch_str(sv, "product_version_text"));
    out->result = json_object_new_array();
    if (!ver)
        goto done;
    n = json_object_array_length(installed);
    ids = calloc(n + 1, sizeof *ids);
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = json_object_get_string(json_object_array_get_idx(installed, i));
    err = ids ? xo_catalog_missing(cat, ver, ids, n, NULL, 0, sku && !strcmp(sku, "free"), &list,
                                   out->reason, sizeof(out->reason))
              : xo_seterr(out->reason, sizeof(out->reason), XO_ERR_NOMEM, "out of memory");
    if (err != XO_OK)
        patch_fail(out, err, "PATCH_CATALOG_ERROR", out->reason);
    for (size_t i = 0; err == XO_OK && i < list.count; i++)
        json_object_array_add(out->result, patch_json(list.patches[i]));
done:
    if (err != XO_OK) {
        json_object_put(out->result);
        out->result = NULL;
    }
    xo_catalog_list_fini(&list);
    free(ids);
    patch_catalog_release(ref);
    json_object_put(installed);
    return err;
}

/* A host's missing patches, asked now. */
static xo_err_t list_fresh(agent_cmd_t *c, const cmd_t *cmd, const char *host, cmd_outcome_t *out)
{
    json_object *rec = NULL;
    const char *brand;
    xo_err_t err;

    err = patch_call(c, "host.get_record", patch_arg(host), &rec, out);
    if (err != XO_OK)
        return err;
    brand = patch_str(patch_member(rec, "software_version"), "product_brand");
    xo_info(PATCH_MOD, "event=list_missing id=%s host=%s brand=%s", cmd->id, host,
            brand ? brand : "");
    if (brand && strcmp(brand, "XCP-ng") == 0)
        err = xcp_missing(c, host, out);
    else
        err = xs_missing(c, rec, out);
    json_object_put(rec);
    return err;
}

/* As xo-server's listMissingPatches, debounced per host: a host asked again within
 * patches.list_debounce_s gets the same answer without a call (an installation's end
 * forgets it). Only answers are remembered, never errors. */
xo_err_t patch_list_missing(agent_cmd_t *c, const cmd_t *cmd, const char *host, cmd_outcome_t *out)
{
    uint64_t gen = patch_listing_gen();
    xo_err_t err;

    out->result = patch_listing_get(c->a->cfg, host);
    if (out->result) {
        xo_info(PATCH_MOD, "event=list_missing_debounced id=%s host=%s", cmd->id, host);
        return XO_OK;
    }
    err = list_fresh(c, cmd, host, out);
    if (err == XO_OK)
        patch_listing_put(c->a->cfg, host, out->result, gen);
    return err;
}

/* A patch's key in a pool's list: the catalogue's uuid, or an XCP-ng package's name,
 * version and release (the same package pending on two hosts is listed once). */
static void patch_key(json_object *p, char *key, size_t size)
{
    const char *uuid = patch_str(p, "uuid");

    if (uuid)
        snprintf(key, size, "%s", uuid);
    else
        snprintf(key, size, "%s-%s-%s", patch_str(p, "name") ? patch_str(p, "name") : "",
                 patch_str(p, "version") ? patch_str(p, "version") : "",
                 patch_str(p, "release") ? patch_str(p, "release") : "");
}

/* Append the patches of @p list not yet in @p seen (keys) to @p all. */
static void merge_patches(json_object *all, json_object *seen, json_object *list)
{
    size_t n = json_object_array_length(list);

    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(list, i);
        char key[512];
        patch_key(p, key, sizeof(key));
        if (json_object_object_get_ex(seen, key, NULL))
            continue;
        json_object_object_add(seen, key, json_object_new_boolean(true));
        json_object_array_add(all, json_object_get(p));
    }
}

xo_err_t patch_list_pool_missing(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                                 cmd_outcome_t *out)
{
    json_object *hosts = NULL, *seen = json_object_new_object(), *all = json_object_new_array();
    xo_err_t err;

    (void)pool; /* resolved by uuid on this agent's XAPI: it is this agent's pool */
    err = patch_call(c, "host.get_all", json_object_new_array(), &hosts, out);
    if (err == XO_OK && (!seen || !all))
        err = xo_seterr(out->reason, sizeof(out->reason), XO_ERR_NOMEM, "out of memory");
    for (size_t i = 0; err == XO_OK && i < json_object_array_length(hosts); i++) {
        const char *host = json_object_get_string(json_object_array_get_idx(hosts, i));
        /* a host's error fails the whole list: a silently shorter list would read as
         * "nothing missing" on that host */
        err = patch_list_missing(c, cmd, host, out);
        if (err == XO_OK)
            merge_patches(all, seen, out->result);
        json_object_put(out->result);
        out->result = NULL;
    }
    if (err == XO_OK) {
        out->result = all;
        all = NULL;
    }
    json_object_put(all);
    json_object_put(seen);
    json_object_put(hosts);
    return err;
}
