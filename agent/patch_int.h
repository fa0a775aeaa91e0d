/*
 * patch_int.h - the agent's patching files, below the command files: patch_catalog.c
 * fetches XenServer's catalogue (updates.xml) over HTTPS; patch_ops.c holds the executors
 * of the patching ops (pool.listMissingPatches), which command_ops.c dispatches to. They
 * run on the command thread, on its XAPI connection and session. Contract:
 * docs/patching.md.
 */
#ifndef XO_PATCH_INT_H
#define XO_PATCH_INT_H

#include "command_int.h"
#include "xo_catalog.h"

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

/* patch_ops.c */
/**
 * pool.listMissingPatches on the resolved @p host ref: XCP-ng asks the host's updater.py
 * plugin (check_update, retried while busy); XenServer computes catalogue minus installed.
 * The result is xo-server's answer (an array).
 */
xo_err_t patch_list_missing(agent_cmd_t *c, const cmd_t *cmd, const char *host, cmd_outcome_t *out);

#endif
