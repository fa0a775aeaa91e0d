/*
 * patch_int.h - the agent's patching files, below the command files: patch_catalog.c
 * fetches XenServer's catalogue (updates.xml) over HTTPS; patch_stream.c pipes a patch zip
 * from its URL into XAPI; patch_ops.c lists missing patches and holds the helpers that
 * patch_install.c, the installer, shares. command_ops.c dispatches to both executors. They
 * run on the command thread, on its XAPI connection and session. Contract:
 * docs/patching.md.
 */
#ifndef XO_PATCH_INT_H
#define XO_PATCH_INT_H

#include "command_int.h"
#include "xo_catalog.h"
#include "xo_patchzip.h"

/* patch_catalog.c */
/**
 * Download and parse the catalogue at setting patches.catalog_url (CA: patches.ca_file,
 * bounded by patches.catalog_timeout_ms and the parser's limits), streaming it into the
 * parser as it arrives.
 * @param out receives the catalogue (caller frees with xo_catalog_free()) on XO_OK.
 * @returns XO_OK; XO_ERR_CONNECT, XO_ERR_TLS, XO_ERR_TIMEOUT, XO_ERR_HTTP (not 200), or the
 *          parser's XO_ERR_PARSE/XO_ERR_LIMIT; detail in @p errstr, naming the URL.
 */
xo_err_t patch_catalog_fetch(const xo_config_t *cfg, xo_catalog_t **out, char *errstr,
                             size_t errstr_size);

/* patch_cache.c: the catalogue and the listings, remembered (docs/patching.md, "Caches") */
typedef struct patch_catalog_ref patch_catalog_ref_t;
/**
 * The catalogue: the one fetched less than patches.catalog_cache_s ago from the same URL,
 * else patch_catalog_fetch()'s (then remembered; 0 s: never). Any thread.
 * @param out receives a reference: patch_catalog_release() it.
 * @returns XO_OK, or patch_catalog_fetch()'s errors.
 */
xo_err_t patch_catalog_get(const xo_config_t *cfg, patch_catalog_ref_t **out, char *errstr,
                           size_t errstr_size);
/** The catalogue of a reference (borrowed, valid until it is released). */
const xo_catalog_t *patch_catalog_of(const patch_catalog_ref_t *r);
/** Drop a reference (NULL is fine). */
void patch_catalog_release(patch_catalog_ref_t *r);
/** The generation of the listings: take it before listing, give it to patch_listing_put. */
uint64_t patch_listing_gen(void);
/** A host's (@p host ref) last listing, younger than patches.list_debounce_s, as a new
 *  object (caller's), or NULL. */
json_object *patch_listing_get(const xo_config_t *cfg, const char *host);
/** Remember @p list (borrowed, kept as text) for @p host, unless patch_listing_forget()
 *  ran since @p gen was taken (the list may predate an installation). */
void patch_listing_put(const xo_config_t *cfg, const char *host, json_object *list, uint64_t gen);
/** Forget every listing: an installation or a rolling update ended (any thread). */
void patch_listing_forget(void);

/* patch_stream.c: a zip from its URL into an XAPI upload handler, as one stream */
typedef struct patch_download patch_download_t;
/** Start downloading @p url (CA patches.ca_file; fails when stalled patches.stall_timeout_s). */
xo_err_t patch_download_open(const xo_config_t *cfg, const char *url, patch_download_t **out,
                             char *errstr, size_t errstr_size);
/** The download as an xo_patchzip_source_fn (@p opaque: the download). */
xo_err_t patch_download_source(void *opaque, const void **data, size_t *len);
/** Why the download failed, naming its URL and libcurl's reason. */
void patch_download_error(const patch_download_t *d, char *errstr, size_t errstr_size);
uint64_t patch_download_bytes(const patch_download_t *d);
void patch_download_free(patch_download_t *d);
/** Called as the upload sends: the entry's bytes sent so far. */
typedef void (*patch_progress_fn)(void *opaque, uint64_t sent);
/**
 * PUT the zip's patch entry to @p url (an XAPI handler of the host behind @p xapi, with its
 * TLS checks), Content-Length its size, the body read from the zip as libcurl sends it.
 * @returns XO_OK when XAPI took every byte (the outcome is XAPI's task); the zip's errors
 *          (XO_ERR_PARSE, XO_ERR_LIMIT, the download's), XO_ERR_IO, XO_ERR_HTTP.
 */
xo_err_t patch_upload(xo_xapi_conn_t *xapi, const char *url, xo_patchzip_t *zip,
                      patch_progress_fn progress, void *opaque, char *errstr, size_t errstr_size);

/* patch_ops.c: listing, and the helpers the patching executors share */
/** One call on the command session; XAPI's error or the text lands in @p out. */
xo_err_t patch_call(agent_cmd_t *c, const char *method, json_object *params, json_object **v,
                    cmd_outcome_t *out);
/** A new params array [s]. */
json_object *patch_arg(const char *s);
/** Fail with our own error code and @p text as its one param (the client sees the text). */
xo_err_t patch_fail(cmd_outcome_t *out, xo_err_t err, const char *code, const char *text);
/** A member of a record (borrowed), or NULL; a string member, or NULL. */
json_object *patch_member(json_object *rec, const char *name);
const char *patch_str(json_object *rec, const char *key);
/** host.call_plugin(host, "updater.py", fn, {}), retried while the plugin is busy. */
xo_err_t patch_updater_call(agent_cmd_t *c, const char *host, const char *fn, json_object **v,
                            cmd_outcome_t *out);
/** The uuids installed on a host (its updates, or its legacy patches' pool_patches). */
json_object *patch_installed(agent_cmd_t *c, json_object *host_rec, bool updates,
                             cmd_outcome_t *out);
/**
 * pool.listMissingPatches on the resolved @p host ref: XCP-ng asks the host's updater.py
 * plugin (check_update, retried while busy); XenServer computes catalogue minus installed.
 * The result is xo-server's answer (an array).
 */
xo_err_t patch_list_missing(agent_cmd_t *c, const cmd_t *cmd, const char *host, cmd_outcome_t *out);
/**
 * pool.listPoolMissingPatches on the resolved @p pool ref (the REST API's pool route):
 * patch_list_missing() of every host of the pool, merged, each patch once (by uuid, or an
 * XCP-ng package's name, version and release); a host's error is the command's.
 */
xo_err_t patch_list_pool_missing(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                                 cmd_outcome_t *out);

/* patch_worker.c: long patching commands on their own thread */
/** An executor as command_ops.c dispatches them. */
typedef xo_err_t (*patch_exec_fn)(agent_cmd_t *c, const cmd_t *cmd, const char *ref,
                                  cmd_outcome_t *out);
/**
 * Run @p fn for @p cmd on the worker thread (its own XAPI session on the master the command
 * thread uses) and return at once with out->detached set: the worker publishes the outcome.
 * @returns XO_OK; PATCH_INSTALL_RUNNING (XO_ERR_INVALID) while another job runs.
 */
xo_err_t patch_worker_run(agent_cmd_t *c, const cmd_t *cmd, patch_exec_fn fn, const char *ref,
                          cmd_outcome_t *out);
/** pool.installPatches through the worker (the executor in command_ops.c's table). */
xo_err_t patch_install_detached(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                                cmd_outcome_t *out);

/* patch_rolling.c */
/** pool.rollingUpdate on the resolved @p pool ref (runs on the worker). */
xo_err_t patch_rolling_update(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                              cmd_outcome_t *out);
/** pool.rollingUpdate through the worker (the executor in command_ops.c's table). */
xo_err_t patch_rolling_detached(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                                cmd_outcome_t *out);

/* patch_install.c */
/**
 * pool.installPatches on the resolved @p pool ref: refused while HA is on; XCP-ng runs the
 * updater plugin's update on each host, the master first; XenServer streams each missing
 * patch from the catalogue's URL into the pool and applies it (docs/patching.md).
 */
xo_err_t patch_install(agent_cmd_t *c, const cmd_t *cmd, const char *pool, cmd_outcome_t *out);

#endif
