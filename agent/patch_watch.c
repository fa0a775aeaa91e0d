/*
 * patch_watch.c - keeps each host's missing patches on its XAPI record, for the view: every
 * patches.check_interval_s (0: never) the command thread, when idle, lists one host at a
 * time (patch_list_missing, so at most once a minute per host) and writes a summary into
 * host.other_config["xo:missing_patches"] when it changed; XAPI's event carries it to
 * xo.objects and the gateway maps it as the host's $missingPatches. An installation's end
 * starts a new round at once. Credentials stay here; Kafka stays the path.
 * Must not: run while the patch worker installs, wait for a busy updater plugin (commands
 * wait behind it), or write when nothing changed (each write is an event).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch_int.h"
#include "xo_log.h"

#define WATCH_MOD      "patch"
#define WATCH_KEY      "xo:missing_patches"
#define WATCH_MAX_NAME 128 /* a name longer than this is cut */

struct patch_watch {
    json_object *queue; /* host refs still to check in this round */
    size_t next;        /* index in queue */
    int64_t next_round_ms;
    uint64_t gen; /* patch_listing_gen() when the round began */
};

patch_watch_t *patch_watch_new(void)
{
    return calloc(1, sizeof(patch_watch_t));
}

void patch_watch_free(patch_watch_t *w)
{
    if (!w)
        return;
    json_object_put(w->queue);
    free(w);
}

/* One patch's name in the summary: an XCP-ng package as name-version-release, a XenServer
 * patch by its name. */
static json_object *summary_name(json_object *p)
{
    const char *name = patch_str(p, "name"), *ver = patch_str(p, "version");
    const char *rel = patch_str(p, "release");
    char buf[3 * WATCH_MAX_NAME];

    if (ver && rel)
        snprintf(buf, sizeof(buf), "%s-%s-%s", name ? name : "", ver, rel);
    else
        snprintf(buf, sizeof(buf), "%s", name ? name : "");
    buf[WATCH_MAX_NAME] = '\0';
    return json_object_new_string(buf);
}

/* {"count": n, "names": [at most patches.watch_max_names names]}, as text (caller frees). */
static char *summary_of(json_object *list, long max_names)
{
    size_t n = json_object_array_length(list);
    json_object *s = json_object_new_object(), *names = json_object_new_array();
    char *text;

    for (size_t i = 0; i < n && (long)i < max_names; i++)
        json_object_array_add(names, summary_name(json_object_array_get_idx(list, i)));
    json_object_object_add(s, "count", json_object_new_int64((int64_t)n));
    json_object_object_add(s, "names", names);
    text = strdup(json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN));
    json_object_put(s);
    return text;
}

/* other_config[WATCH_KEY] = @p value unless it is already. */
static void write_summary(agent_cmd_t *c, const char *host, const char *value)
{
    cmd_outcome_t out = {0};
    json_object *oc = NULL, *cur, *p, *v = NULL;

    if (patch_call(c, "host.get_other_config", patch_arg(host), &oc, &out) != XO_OK)
        goto done;
    if (json_object_object_get_ex(oc, WATCH_KEY, &cur) &&
        !strcmp(json_object_get_string(cur), value))
        goto done; /* unchanged: no write, no event */
    p = patch_arg(host);
    json_object_array_add(p, json_object_new_string(WATCH_KEY));
    patch_call(c, "host.remove_from_other_config", json_object_get(p), &v, &out);
    json_object_put(v);
    v = NULL;
    json_object_array_add(p, json_object_new_string(value));
    if (patch_call(c, "host.add_to_other_config", p, &v, &out) == XO_OK)
        xo_info(WATCH_MOD, "event=missing_patches_written host=%s summary=%s", host, value);
done:
    if (out.xerr.code[0])
        xo_warn(WATCH_MOD, "event=missing_patches_not_written host=%s code=%s", host,
                out.xerr.code);
    xo_xapi_error_clear(&out.xerr);
    json_object_put(v);
    json_object_put(oc);
}

/* Check one host: list (debounced), summarise, write when changed. */
static void check_host(agent_cmd_t *c, const char *host)
{
    cmd_t cmd;
    cmd_outcome_t out = {0};
    char *summary;
    xo_err_t err;

    memset(&cmd, 0, sizeof(cmd));
    cmd.id = "watch"; /* no command: the logs name the watch */
    cmd.op = XO_OP_POOL_LIST_MISSING_PATCHES;
    c->patch_no_wait = true; /* commands wait behind the watch: never for a busy plugin */
    err = patch_list_missing(c, &cmd, host, &out);
    c->patch_no_wait = false;
    if (err != XO_OK) {
        xo_warn(WATCH_MOD, "event=missing_patches_check_failed host=%s code=%s reason=\"%s\"", host,
                out.xerr.code, out.reason);
    } else if ((summary = summary_of(out.result,
                                     xo_config_get_int(c->a->cfg, "patches.watch_max_names")))) {
        write_summary(c, host, summary);
        free(summary);
    }
    json_object_put(out.result);
    xo_xapi_error_clear(&out.xerr);
}

/* A new round: the pool's hosts, now. */
static void start_round(agent_cmd_t *c, patch_watch_t *w, int64_t now, long interval_s)
{
    cmd_outcome_t out = {0};

    json_object_put(w->queue);
    w->queue = NULL;
    w->next = 0;
    w->gen = patch_listing_gen();
    w->next_round_ms = now + (int64_t)interval_s * 1000;
    if (patch_call(c, "host.get_all", json_object_new_array(), &w->queue, &out) != XO_OK)
        xo_warn(WATCH_MOD, "event=missing_patches_round_failed code=%s", out.xerr.code);
    xo_xapi_error_clear(&out.xerr);
}

void patch_watch_tick(agent_cmd_t *c, patch_watch_t *w)
{
    long interval_s = xo_config_get_int(c->a->cfg, "patches.check_interval_s");
    int64_t now = xo_now_ms();

    if (!w || interval_s <= 0 || patch_worker_busy(c->patch_worker))
        return;
    if (interval_s < 60)
        interval_s = 60; /* at most once a minute per host */
    if (now >= w->next_round_ms || w->gen != patch_listing_gen())
        start_round(c, w, now, interval_s); /* due, or an installation ended */
    if (w->queue && w->next < json_object_array_length(w->queue))
        check_host(c, json_object_get_string(json_object_array_get_idx(w->queue, w->next++)));
}
