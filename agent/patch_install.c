/*
 * patch_install.c - pool.installPatches, as xo-server's installPatches does it, with the
 * bytes streamed by this agent: XCP-ng runs updater.py's update host by host, the master
 * first; XenServer streams each missing catalogue patch (download -> unzip -> upload) into
 * legacy /pool_patch_upload or a temporary VDI (update system) and applies it pool-wide.
 * A failure undoes what this command created (the uploaded patch or update, the VDI).
 * Must not: consume or verify commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "patch_int.h"
#include "xo_log.h"

#define INSTALL_MOD       "patch"
#define TASK_POLL_MS      100
#define PROGRESS_EVERY_MS 500

/* One installation: what every step needs. */
typedef struct {
    agent_cmd_t *c;
    const cmd_t *cmd;
    cmd_outcome_t *out;
    json_object *hosts; /* refs, the master first (owned) */
    char master[128];
    size_t step, steps; /* progress: steps done of steps */
    int64_t last_progress_ms;
    uint64_t entry_size;
    /* the step a progress result names (docs/patching.md, "Progress") */
    const char *what;          /* "update", "download", "upload", "precheck", "apply" */
    char host[64], patch[64];  /* uuids, "" when the step has none */
    patch_download_t *dl;      /* the patch being streamed (borrowed), or NULL */
    uint64_t downloaded, sent; /* bytes of the current patch */
} install_t;

/* One progress result: the fraction done, and the step with its bytes as the result (the
 * results' `bytes`: the entry's bytes uploaded so far). */
static void progress(install_t *in, double within)
{
    double p = in->steps ? ((double)in->step + within) / (double)in->steps : 0;
    json_object *r = json_object_new_object();

    if (p > 0.999)
        p = 0.999;
    if (in->dl)
        in->downloaded = patch_download_bytes(in->dl);
    json_object_object_add(r, "step", json_object_new_string(in->what ? in->what : ""));
    json_object_object_add(r, "host", in->host[0] ? json_object_new_string(in->host) : NULL);
    json_object_object_add(r, "patch", in->patch[0] ? json_object_new_string(in->patch) : NULL);
    json_object_object_add(r, "downloaded", json_object_new_int64((int64_t)in->downloaded));
    json_object_object_add(r, "uploaded", json_object_new_int64((int64_t)in->sent));
    cmd_publish_progress(in->c, in->cmd->id, p, in->sent, r);
    json_object_put(r);
    in->last_progress_ms = xo_now_ms();
}

/* Enter a step (on @p host, a uuid or NULL) and say so. */
static void step(install_t *in, const char *what, const char *host, double within)
{
    in->what = what;
    snprintf(in->host, sizeof(in->host), "%s", host ? host : "");
    progress(in, within);
}

static void on_sent(void *opaque, uint64_t sent)
{
    install_t *in = opaque;

    in->sent = sent;
    if (xo_now_ms() - in->last_progress_ms >= PROGRESS_EVERY_MS && in->entry_size)
        progress(in, 0.8 * (double)sent / (double)in->entry_size);
}

/* A host's uuid for the progress (@p buf "" when XAPI does not say). */
static const char *host_uuid(install_t *in, const char *ref, char *buf, size_t size)
{
    cmd_outcome_t o = {0};
    json_object *v = NULL;

    buf[0] = '\0';
    if (patch_call(in->c, "host.get_uuid", patch_arg(ref), &v, &o) == XO_OK)
        snprintf(buf, size, "%s", json_object_get_string(v));
    xo_xapi_error_clear(&o.xerr);
    json_object_put(v);
    return buf;
}

/* A call whose answer does not matter (cleanup), its error logged. */
static void call_quietly(install_t *in, const char *method, const char *ref)
{
    cmd_outcome_t o = {0};
    json_object *v = NULL;

    if (patch_call(in->c, method, patch_arg(ref), &v, &o) != XO_OK)
        xo_warn(INSTALL_MOD, "event=cleanup_failed id=%s call=%s ref=%s code=%s", in->cmd->id,
                method, ref, o.xerr.code);
    json_object_put(v);
    xo_xapi_error_clear(&o.xerr);
}

/* ---- the hosts ---- */

/* The pool's hosts, or the uuids asked for, as refs with the master first. */
static xo_err_t list_hosts(install_t *in, json_object *pool_rec)
{
    json_object *asked = NULL, *all = NULL, *list = json_object_new_array();
    xo_err_t err = XO_OK;

    snprintf(in->master, sizeof(in->master), "%s", patch_str(pool_rec, "master"));
    json_object_array_add(list, json_object_new_string(in->master));
    if (json_object_object_get_ex(in->cmd->args, "hosts", &asked)) {
        all = json_object_new_array();
        for (size_t i = 0; err == XO_OK && i < json_object_array_length(asked); i++) {
            json_object *ref = NULL;
            err = patch_call(in->c, "host.get_by_uuid",
                             patch_arg(json_object_get_string(json_object_array_get_idx(asked, i))),
                             &ref, in->out);
            if (err == XO_OK)
                json_object_array_add(all, ref);
        }
    } else {
        err = patch_call(in->c, "host.get_all", json_object_new_array(), &all, in->out);
    }
    for (size_t i = 0; err == XO_OK && i < json_object_array_length(all); i++) {
        const char *ref = json_object_get_string(json_object_array_get_idx(all, i));
        if (strcmp(ref, in->master) != 0)
            json_object_array_add(list, json_object_new_string(ref));
    }
    /* hosts asked for without the master: the master is not updated */
    if (err == XO_OK && asked) {
        bool has_master = false;
        for (size_t i = 0; i < json_object_array_length(all); i++)
            has_master |=
                !strcmp(json_object_get_string(json_object_array_get_idx(all, i)), in->master);
        if (!has_master)
            json_object_array_del_idx(list, 0, 1);
    }
    json_object_put(all);
    if (err == XO_OK)
        in->hosts = list;
    else
        json_object_put(list);
    return err;
}

/* ---- XCP-ng ---- */

/* other_config[key] = value (remove, then add: add_to_ fails on an existing key). */
static xo_err_t set_other_config(install_t *in, const char *host, const char *key,
                                 const char *value)
{
    json_object *p = patch_arg(host), *v = NULL;
    cmd_outcome_t scratch = {0};
    xo_err_t err;

    json_object_array_add(p, json_object_new_string(key));
    patch_call(in->c, "host.remove_from_other_config", json_object_get(p), &v, &scratch);
    xo_xapi_error_clear(&scratch.xerr);
    json_object_put(v);
    v = NULL;
    json_object_array_add(p, json_object_new_string(value));
    err = patch_call(in->c, "host.add_to_other_config", p, &v, in->out);
    json_object_put(v);
    return err;
}

/* updater.py update on one host; its answer's returncode (or exit, before XCP-ng 8.2.1)
 * must be 0; then other_config.rpm_patch_installation_time, as xo-server records it. */
static xo_err_t xcp_update_host(install_t *in, const char *host)
{
    json_object *v = NULL, *res = NULL, *rc = NULL;
    char stamp[32];
    xo_err_t err = patch_updater_call(in->c, host, "update", &v, in->out);

    if (err == XO_OK && json_object_is_type(v, json_type_string))
        res = json_tokener_parse(json_object_get_string(v));
    if (err == XO_OK &&
        (json_object_object_get_ex(res, "returncode", &rc) ||
         json_object_object_get_ex(res, "exit", &rc)) &&
        json_object_get_int(rc) != 0)
        err = patch_fail(in->out, XO_ERR_XAPI, "UPDATER_ERROR",
                         patch_str(res, "stderr") ? patch_str(res, "stderr")
                                                  : "updater.py update failed");
    if (err == XO_OK) {
        snprintf(stamp, sizeof(stamp), "%.3f", (double)xo_now_ms() / 1000.0);
        err = set_other_config(in, host, "rpm_patch_installation_time", stamp);
    }
    json_object_put(res);
    json_object_put(v);
    return err;
}

static xo_err_t xcp_update(install_t *in)
{
    size_t n = json_object_array_length(in->hosts);
    xo_err_t err = XO_OK;

    in->steps = n;
    for (size_t i = 0; err == XO_OK && i < n; i++) {
        const char *host = json_object_get_string(json_object_array_get_idx(in->hosts, i));
        char uuid[64];
        in->step = i;
        step(in, "update", host_uuid(in, host, uuid, sizeof(uuid)), 0);
        xo_info(INSTALL_MOD, "event=host_update id=%s host=%s", in->cmd->id, host);
        err = xcp_update_host(in, host);
    }
    return err;
}

/* ---- XenServer: one patch, streamed ---- */

/* The master's URL of an HTTP handler: <xapi url><path>?session_id=<s>&<query>. */
static void handler_url(install_t *in, const char *path, const char *query, char *url, size_t size)
{
    const char *base = xo_xapi_conn_url(in->c->xapi);
    size_t n = strlen(base);

    snprintf(url, size, "%.*s/%s?session_id=%s&%s", (int)(n && base[n - 1] == '/' ? n - 1 : n),
             base, path, in->c->session, query);
}

/* Wait for a task to end; its result text goes to *result (caller frees). */
static xo_err_t wait_task(install_t *in, const char *task, char **result)
{
    long limit_ms = xo_config_get_int(in->c->a->cfg, "patches.task_timeout_s") * 1000;

    for (long waited = 0;; waited += TASK_POLL_MS) {
        json_object *rec = NULL, *info;
        const char *status;
        xo_err_t err = patch_call(in->c, "task.get_record", patch_arg(task), &rec, in->out);

        status = err == XO_OK ? patch_str(rec, "status") : NULL;
        if (err == XO_OK && status && strcmp(status, "success") == 0) {
            *result = strdup(patch_str(rec, "result") ? patch_str(rec, "result") : "");
        } else if (err == XO_OK && status && strcmp(status, "pending") != 0) {
            xo_xapi_error_clear(&in->out->xerr);
            info = patch_member(rec, "error_info");
            snprintf(in->out->xerr.code, sizeof(in->out->xerr.code), "%s",
                     json_object_array_length(info)
                         ? json_object_get_string(json_object_array_get_idx(info, 0))
                         : "INTERNAL_ERROR");
            in->out->xerr.params = json_object_new_array();
            for (size_t i = 1; i < json_object_array_length(info); i++)
                json_object_array_add(in->out->xerr.params,
                                      json_object_get(json_object_array_get_idx(info, i)));
            err = xo_seterr(in->out->reason, sizeof(in->out->reason), XO_ERR_XAPI,
                            "XAPI task %s: %s", status, in->out->xerr.code);
        }
        json_object_put(rec);
        if (err != XO_OK || *result)
            return err;
        if (waited >= limit_ms || !agent_sleep(TASK_POLL_MS))
            return patch_fail(in->out, XO_ERR_TIMEOUT, "PATCH_TASK_TIMEOUT",
                              "an XAPI patch task did not end in time");
    }
}

/* Open the patch's zip at its URL, up to its patch entry. */
static xo_err_t open_zip(install_t *in, const xo_catalog_patch_t *pt, xo_patch_kind_t kind,
                         patch_download_t **dl, xo_patchzip_t **zip)
{
    char msg[512];
    xo_err_t err = patch_download_open(in->c->a->cfg, pt->patch_url, dl, msg, sizeof(msg));

    if (err == XO_OK)
        err = xo_patchzip_open(patch_download_source, *dl, kind, NULL, zip, msg, sizeof(msg));
    if (err != XO_OK && *dl && (err == XO_ERR_IO || err == XO_ERR_TIMEOUT))
        patch_download_error(*dl, msg, sizeof(msg));
    if (err != XO_OK)
        return patch_fail(in->out, err, "PATCH_DOWNLOAD_ERROR", msg);
    in->entry_size = xo_patchzip_size(*zip);
    return XO_OK;
}

/* Stream the zip's entry into a handler of the master. */
static xo_err_t upload(install_t *in, const char *url, patch_download_t *dl, xo_patchzip_t *zip)
{
    char msg[512];
    xo_err_t err;

    in->dl = dl;
    in->sent = 0;
    step(in, "upload", NULL, 0);
    err = patch_upload(in->c->xapi, url, zip, on_sent, in, msg, sizeof(msg));
    in->downloaded = patch_download_bytes(dl);
    in->dl = NULL;

    if (err == XO_ERR_IO || err == XO_ERR_TIMEOUT) {
        char why[300];
        patch_download_error(dl, why, sizeof(why));
        if (strstr(msg, "download failed"))
            snprintf(msg, sizeof(msg), "%s", why);
    }
    if (err != XO_OK)
        return patch_fail(in->out, err, "PATCH_UPLOAD_ERROR", msg);
    xo_info(INSTALL_MOD, "event=uploaded id=%s entry=%s bytes=%llu downloaded=%llu", in->cmd->id,
            xo_patchzip_name(zip), (unsigned long long)in->entry_size,
            (unsigned long long)in->downloaded);
    in->sent = in->entry_size;
    step(in, "upload", NULL, 0.8);
    return XO_OK;
}

/* Legacy: PUT /pool_patch_upload (task) -> pool_patch.pool_apply; a failed apply destroys
 * the uploaded patch. */
static xo_err_t install_legacy(install_t *in, const xo_catalog_patch_t *pt)
{
    patch_download_t *dl = NULL;
    xo_patchzip_t *zip = NULL;
    json_object *task = NULL, *p, *v = NULL;
    char url[1024], query[256], *res = NULL, *ref;
    xo_err_t err = open_zip(in, pt, XO_PATCH_XSUPDATE, &dl, &zip);

    if (err == XO_OK) {
        p = patch_arg("Patch upload");
        json_object_array_add(p, json_object_new_string(pt->name_label));
        err = patch_call(in->c, "task.create", p, &task, in->out);
    }
    if (err == XO_OK) {
        snprintf(query, sizeof(query), "task_id=%s", json_object_get_string(task));
        handler_url(in, "pool_patch_upload", query, url, sizeof(url));
        err = upload(in, url, dl, zip);
    }
    if (err == XO_OK)
        err = wait_task(in, json_object_get_string(task), &res);
    ref = err == XO_OK ? strstr(res, "OpaqueRef:") : NULL;
    if (err == XO_OK && !ref)
        err = patch_fail(in->out, XO_ERR_PARSE, "PATCH_UPLOAD_ERROR", "upload task without ref");
    if (err == XO_OK) {
        ref[strcspn(ref, "<")] = '\0';
        step(in, "apply", NULL, 0.85);
        err = patch_call(in->c, "pool_patch.pool_apply", patch_arg(ref), &v, in->out);
        if (err != XO_OK)
            call_quietly(in, "pool_patch.destroy", ref);
    }
    if (task)
        call_quietly(in, "task.destroy", json_object_get_string(task));
    json_object_put(task);
    json_object_put(v);
    free(res);
    xo_patchzip_free(zip);
    patch_download_free(dl);
    return err;
}

/* A shared SR with room for the ISO, not an ISO library: the pool's default SR first. */
static xo_err_t find_sr(install_t *in, json_object *pool_rec, uint64_t size, char *sr,
                        size_t sr_size)
{
    const char *dflt = patch_str(pool_rec, "default_SR");
    json_object *all = NULL;
    xo_err_t err = patch_call(in->c, "SR.get_all_records", json_object_new_array(), &all, in->out);

    sr[0] = '\0';
    if (err != XO_OK)
        return err;
    json_object_object_foreach(all, ref, rec)
    {
        json_object *shared = patch_member(rec, "shared");
        const char *ct = patch_str(rec, "content_type");
        int64_t total = json_object_get_int64(patch_member(rec, "physical_size"));
        int64_t used = json_object_get_int64(patch_member(rec, "physical_utilisation"));
        if (!json_object_get_boolean(shared) || (ct && strcmp(ct, "iso") == 0) ||
            total - used < (int64_t)size)
            continue;
        if (!sr[0] || (dflt && strcmp(ref, dflt) == 0))
            snprintf(sr, sr_size, "%s", ref);
    }
    json_object_put(all);
    if (!sr[0])
        return patch_fail(in->out, XO_ERR_NOTFOUND, "PATCH_NO_SR",
                          "no shared SR with room for the patch's ISO");
    return XO_OK;
}

static json_object *vdi_record(const char *sr, uint64_t size, const char *name)
{
    json_object *r = json_object_new_object();

    json_object_object_add(r, "name_label", json_object_new_string("[XO] Patch ISO"));
    json_object_object_add(r, "name_description", json_object_new_string(name));
    json_object_object_add(r, "SR", json_object_new_string(sr));
    json_object_object_add(r, "virtual_size", json_object_new_int64((int64_t)size));
    json_object_object_add(r, "type", json_object_new_string("user"));
    json_object_object_add(r, "sharable", json_object_new_boolean(0));
    json_object_object_add(r, "read_only", json_object_new_boolean(0));
    json_object_object_add(r, "other_config", json_object_new_object());
    json_object_object_add(r, "xenstore_data", json_object_new_object());
    json_object_object_add(r, "sm_config", json_object_new_object());
    json_object_object_add(r, "tags", json_object_new_array());
    return r;
}

/* pool_update.precheck on every host of the pool, as xo-server. */
static xo_err_t precheck_all(install_t *in, const char *update)
{
    json_object *hosts = NULL;
    xo_err_t err = patch_call(in->c, "host.get_all", json_object_new_array(), &hosts, in->out);

    for (size_t i = 0; err == XO_OK && i < json_object_array_length(hosts); i++) {
        json_object *p = patch_arg(update), *v = NULL;
        const char *host = json_object_get_string(json_object_array_get_idx(hosts, i));
        char uuid[64];
        step(in, "precheck", host_uuid(in, host, uuid, sizeof(uuid)), 0.82);
        json_object_array_add(p, json_object_new_string(host));
        err = patch_call(in->c, "pool_update.precheck", p, &v, in->out);
        json_object_put(v);
    }
    json_object_put(hosts);
    return err;
}

/* Update system: temporary VDI, PUT /import_raw_vdi, introduce, precheck on each host,
 * pool_apply; the VDI is destroyed whatever happens, the update too when it was not
 * applied. */
static xo_err_t install_update(install_t *in, json_object *pool_rec, const xo_catalog_patch_t *pt)
{
    patch_download_t *dl = NULL;
    xo_patchzip_t *zip = NULL;
    json_object *vdi = NULL, *upd = NULL, *v = NULL;
    char sr[128], url[1024], query[256];
    bool applied = false;
    xo_err_t err = open_zip(in, pt, XO_PATCH_ISO, &dl, &zip);

    if (err == XO_OK)
        err = find_sr(in, pool_rec, in->entry_size, sr, sizeof(sr));
    if (err == XO_OK) {
        json_object *p = json_object_new_array();
        json_object_array_add(p, vdi_record(sr, in->entry_size, pt->name_label));
        err = patch_call(in->c, "VDI.create", p, &vdi, in->out);
    }
    if (err == XO_OK) {
        snprintf(query, sizeof(query), "format=raw&vdi=%s", json_object_get_string(vdi));
        handler_url(in, "import_raw_vdi", query, url, sizeof(url));
        err = upload(in, url, dl, zip);
    }
    if (err == XO_OK)
        err = patch_call(in->c, "pool_update.introduce", patch_arg(json_object_get_string(vdi)),
                         &upd, in->out);
    if (err == XO_OK)
        err = precheck_all(in, json_object_get_string(upd));
    if (err == XO_OK) {
        step(in, "apply", NULL, 0.85);
        err = patch_call(in->c, "pool_update.pool_apply", patch_arg(json_object_get_string(upd)),
                         &v, in->out);
        applied = err == XO_OK;
    }
    if (upd && !applied)
        call_quietly(in, "pool_update.destroy", json_object_get_string(upd));
    if (vdi)
        call_quietly(in, "VDI.destroy", json_object_get_string(vdi));
    json_object_put(v);
    json_object_put(upd);
    json_object_put(vdi);
    xo_patchzip_free(zip);
    patch_download_free(dl);
    return err;
}

/* ---- XenServer: which patches ---- */

/* The requested uuids not installed yet (installing an installed patch is a no-op). */
static json_object *not_installed(install_t *in, json_object *installed)
{
    json_object *asked = NULL, *left = json_object_new_array();

    json_object_object_get_ex(in->cmd->args, "patches", &asked);
    for (size_t i = 0; i < json_object_array_length(asked); i++) {
        const char *id = json_object_get_string(json_object_array_get_idx(asked, i));
        bool done = false;
        for (size_t k = 0; k < json_object_array_length(installed) && !done; k++)
            done = !strcmp(id, json_object_get_string(json_object_array_get_idx(installed, k)));
        if (done)
            xo_info(INSTALL_MOD, "event=already_installed id=%s patch=%s", in->cmd->id, id);
        else
            json_object_array_add(left, json_object_new_string(id));
    }
    return left;
}

static const char **strings_of(json_object *arr)
{
    size_t n = json_object_array_length(arr);
    const char **s = calloc(n + 1, sizeof *s);

    for (size_t i = 0; s && i < n; i++)
        s[i] = json_object_get_string(json_object_array_get_idx(arr, i));
    return s;
}

/* The master's missing patches (all, or those asked for and their requirements). */
static xo_err_t xs_plan(install_t *in, json_object *master_rec, const xo_catalog_t *cat,
                        json_object *installed, xo_catalog_list_t *plan)
{
    json_object *sv = patch_member(master_rec, "software_version"), *asked = NULL, *left = NULL;
    const char *sku = patch_str(patch_member(master_rec, "license_params"), "sku_type");
    const xo_catalog_version_t *ver = xo_catalog_version(cat, patch_str(sv, "product_version"),
                                                         patch_str(sv, "product_version_text"));
    const char **inst = strings_of(installed), **req = NULL;
    xo_err_t err = XO_OK;

    if (!ver) {
        free(inst);
        return patch_fail(in->out, XO_ERR_NOTFOUND, "PATCH_CATALOG_ERROR",
                          "the catalogue does not know the master's version");
    }
    if (json_object_object_get_ex(in->cmd->args, "patches", &asked)) {
        left = not_installed(in, installed);
        req = strings_of(left);
    }
    if (!left || json_object_array_length(left))
        err = xo_catalog_missing(cat, ver, inst, json_object_array_length(installed), req,
                                 left ? json_object_array_length(left) : 0,
                                 sku && !strcmp(sku, "free"), plan, in->out->reason,
                                 sizeof(in->out->reason));
    if (err != XO_OK)
        patch_fail(in->out, err, "PATCH_CATALOG_ERROR", in->out->reason);
    free(inst);
    free(req);
    json_object_put(left);
    return err;
}

static xo_err_t xs_install(install_t *in, json_object *pool_rec)
{
    json_object *master_rec = NULL, *installed = NULL;
    patch_catalog_ref_t *cat = NULL;
    xo_catalog_list_t plan = {0};
    bool updates;
    xo_err_t err =
        patch_call(in->c, "host.get_record", patch_arg(in->master), &master_rec, in->out);

    if (err != XO_OK)
        return err;
    updates = xo_catalog_uses_update_system(
        patch_str(patch_member(master_rec, "software_version"), "platform_version"));
    installed = patch_installed(in->c, master_rec, updates, in->out);
    if (!installed)
        err = XO_ERR_XAPI;
    if (err == XO_OK) {
        err = patch_catalog_get(in->c->a->cfg, &cat, in->out->reason, sizeof(in->out->reason));
        if (err != XO_OK)
            patch_fail(in->out, err, "PATCH_CATALOG_ERROR", in->out->reason);
    }
    if (err == XO_OK)
        err = xs_plan(in, master_rec, patch_catalog_of(cat), installed, &plan);
    in->steps = plan.count;
    if (err == XO_OK && plan.count == 0)
        xo_info(INSTALL_MOD, "event=nothing_to_install id=%s", in->cmd->id);
    for (size_t i = 0; err == XO_OK && i < plan.count; i++) {
        in->step = i;
        snprintf(in->patch, sizeof(in->patch), "%s", plan.patches[i]->uuid);
        in->downloaded = in->sent = 0;
        step(in, "download", NULL, 0);
        xo_info(INSTALL_MOD, "event=patch_install id=%s patch=%s name=%s system=%s", in->cmd->id,
                plan.patches[i]->uuid, plan.patches[i]->name_label, updates ? "update" : "legacy");
        err = updates ? install_update(in, pool_rec, plan.patches[i])
                      : install_legacy(in, plan.patches[i]);
    }
    xo_catalog_list_fini(&plan);
    patch_catalog_release(cat);
    json_object_put(installed);
    json_object_put(master_rec);
    return err;
}

/* ---- the op ---- */

xo_err_t patch_install(agent_cmd_t *c, const cmd_t *cmd, const char *pool, cmd_outcome_t *out)
{
    install_t in = {.c = c, .cmd = cmd, .out = out};
    json_object *rec = NULL, *master_rec = NULL;
    const char *brand;
    xo_err_t err = patch_call(c, "pool.get_record", patch_arg(pool), &rec, out);

    if (err == XO_OK && json_object_get_boolean(patch_member(rec, "ha_enabled")))
        err = patch_fail(out, XO_ERR_INVALID, "HA_IS_ENABLED",
                         "patches are not installed while HA is enabled on the pool");
    if (err == XO_OK)
        err = list_hosts(&in, rec);
    if (err == XO_OK)
        err = patch_call(c, "host.get_record", patch_arg(in.master), &master_rec, out);
    if (err == XO_OK) {
        brand = patch_str(patch_member(master_rec, "software_version"), "product_brand");
        err = brand && !strcmp(brand, "XCP-ng") ? xcp_update(&in) : xs_install(&in, rec);
    }
    if (err == XO_OK)
        out->result = json_object_new_boolean(1);
    json_object_put(master_rec);
    json_object_put(in.hosts);
    json_object_put(rec);
    return err;
}
