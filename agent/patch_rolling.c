/*
 * patch_rolling.c - pool.rollingUpdate, as xo-server's rollingPoolUpdate: per host with
 * missing patches, the master first: disable, evacuate (remembering its VMs), install
 * (XCP-ng: updater.py on that host; XenServer: every patch pool-wide once, before the
 * first host), reboot, wait until the host is back and enabled, move its VMs back.
 * Each step done is checkpointed in the pool's other_config (key xo:rolling_update): XAPI
 * keeps it across restarts of this agent, of the gateway and of the master, and the agent
 * publishes it on xo.objects (compacted) like any pool field. A restarted agent resumes
 * from it (patch_rolling_resume) and does no step twice. Runs on the patch worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patch_int.h"
#include "xo_log.h"

#define ROLL_MOD       "patch"
#define CHECKPOINT_KEY "xo:rolling_update"
#define WAIT_POLL_MS   500

typedef struct {
    agent_cmd_t *c;
    const cmd_t *cmd;
    cmd_outcome_t *out;
    char pool_ref[128], pool_uuid[64], url[256];
    json_object *cp; /* the checkpoint: {command, pool, hosts: [uuid], index, step, vms, boot} */
    bool xcp;
} roll_t;

/* ---- XAPI helpers ---- */

static xo_err_t call2(roll_t *r, const char *method, const char *a, const char *b, json_object **v)
{
    json_object *p = patch_arg(a);

    if (b)
        json_object_array_add(p, json_object_new_string(b));
    return patch_call(r->c, method, p, v, r->out);
}

static xo_err_t call_void(roll_t *r, const char *method, const char *a, const char *b)
{
    json_object *v = NULL;
    xo_err_t err = call2(r, method, a, b, &v);

    json_object_put(v);
    return err;
}

static xo_err_t ref_of(roll_t *r, const char *cls, const char *uuid, char *ref, size_t size)
{
    char method[64];
    json_object *v = NULL;
    xo_err_t err;

    snprintf(method, sizeof(method), "%s.get_by_uuid", cls);
    err = call2(r, method, uuid, NULL, &v);
    if (err == XO_OK)
        snprintf(ref, size, "%s", json_object_get_string(v));
    json_object_put(v);
    return err;
}

/* ---- the checkpoint ---- */

/* One write of the whole map (pool.set_other_config), never a remove then an add: an agent
 * killed between those two would leave no checkpoint, and a reader could see none. */
static xo_err_t save_checkpoint(roll_t *r)
{
    const char *text = json_object_to_json_string_ext(r->cp, JSON_C_TO_STRING_PLAIN);
    json_object *oc = NULL, *p, *v = NULL;
    xo_err_t err = call2(r, "pool.get_other_config", r->pool_ref, NULL, &oc);

    if (err != XO_OK)
        return err;
    json_object_object_add(oc, CHECKPOINT_KEY, json_object_new_string(text));
    p = patch_arg(r->pool_ref);
    json_object_array_add(p, oc);
    err = patch_call(r->c, "pool.set_other_config", p, &v, r->out);
    json_object_put(v);
    xo_info(ROLL_MOD, "event=checkpoint id=%s index=%d step=%s", r->cmd->id,
            json_object_get_int(patch_member(r->cp, "index")), patch_str(r->cp, "step"));
    return err;
}

static void clear_checkpoint(roll_t *r)
{
    cmd_outcome_t scratch = {0};
    json_object *v = NULL;

    r->out = &scratch;
    call2(r, "pool.remove_from_other_config", r->pool_ref, CHECKPOINT_KEY, &v);
    xo_xapi_error_clear(&scratch.xerr);
    json_object_put(v);
}

static xo_err_t step_done(roll_t *r, int index, const char *step)
{
    json_object_object_add(r->cp, "index", json_object_new_int(index));
    json_object_object_add(r->cp, "step", json_object_new_string(step));
    return save_checkpoint(r);
}

/* ---- after a reboot: the master may have gone too ---- */

/* A new session when the old one died with the master's reboot. */
static bool relogin(roll_t *r)
{
    char errstr[256];

    r->c->session[0] = '\0';
    return agent_login_conn(r->c->a, r->c->xapi, r->url, r->c->session, sizeof(r->c->session),
                            errstr, sizeof(errstr)) == XO_OK;
}

/* Wait until the host has booted again (boot_time differs), is enabled and live. */
static xo_err_t wait_back(roll_t *r, const char *host, const char *boot)
{
    long limit = xo_config_get_int(r->c->a->cfg, "patches.reboot_timeout_s") * 1000;

    for (long waited = 0; waited <= limit; waited += WAIT_POLL_MS) {
        json_object *rec = NULL, *m = NULL;
        cmd_outcome_t scratch = {0};
        cmd_outcome_t *saved = r->out;
        bool back = false;
        xo_err_t err;

        r->out = &scratch;
        err = call2(r, "host.get_record", host, NULL, &rec);
        if (err != XO_OK && (err != XO_ERR_XAPI || !strcmp(scratch.xerr.code, "SESSION_INVALID")))
            relogin(r);
        if (err == XO_OK) {
            const char *now = patch_str(patch_member(rec, "other_config"), "boot_time");
            back = json_object_get_boolean(patch_member(rec, "enabled")) && now &&
                   strcmp(now, boot) != 0;
            if (back &&
                call2(r, "host_metrics.get_live", patch_str(rec, "metrics"), NULL, &m) == XO_OK)
                back = json_object_get_boolean(m);
        }
        r->out = saved;
        xo_xapi_error_clear(&scratch.xerr);
        json_object_put(rec);
        json_object_put(m);
        if (back)
            return XO_OK;
        if (!agent_sleep(WAIT_POLL_MS))
            break;
    }
    return patch_fail(r->out, XO_ERR_TIMEOUT, "HOST_REBOOT_TIMEOUT",
                      "the host did not come back enabled in time");
}

/* ---- one host ---- */

/* Its running guests (uuids), then disabled and evacuated. */
static xo_err_t evacuate(roll_t *r, const char *host)
{
    json_object *vms = NULL, *uuids = json_object_new_array();
    xo_err_t err = call2(r, "host.get_resident_VMs", host, NULL, &vms);

    for (size_t i = 0; err == XO_OK && i < json_object_array_length(vms); i++) {
        const char *vm = json_object_get_string(json_object_array_get_idx(vms, i));
        json_object *rec = NULL;
        err = call2(r, "VM.get_record", vm, NULL, &rec);
        if (err == XO_OK && !json_object_get_boolean(patch_member(rec, "is_control_domain")) &&
            !strcmp(patch_str(rec, "power_state"), "Running"))
            json_object_array_add(uuids, json_object_new_string(patch_str(rec, "uuid")));
        json_object_put(rec);
    }
    json_object_put(vms);
    if (err == XO_OK)
        err = call_void(r, "host.disable", host, NULL);
    if (err == XO_OK)
        err = call_void(r, "host.evacuate", host, NULL);
    if (err == XO_OK)
        json_object_object_add(r->cp, "vms", uuids);
    else
        json_object_put(uuids);
    return err;
}

/* Reboot, unless the host is already rebooting (a resumed update) or has rebooted. */
static xo_err_t reboot(roll_t *r, const char *host)
{
    const char *boot = patch_str(r->cp, "boot");
    json_object *oc = NULL;
    xo_err_t err = call2(r, "host.get_other_config", host, NULL, &oc);

    if (err == XO_OK && boot && patch_str(oc, "boot_time") &&
        strcmp(patch_str(oc, "boot_time"), boot) != 0) {
        json_object_put(oc);
        return XO_OK; /* it rebooted already */
    }
    json_object_put(oc);
    if (err == XO_OK)
        err = call_void(r, "host.disable", host, NULL);
    if (err == XO_OK)
        err = call_void(r, "host.reboot", host, NULL);
    if (err == XO_ERR_XAPI && !strcmp(r->out->xerr.code, "OTHER_OPERATION_IN_PROGRESS"))
        err = XO_OK; /* the reboot asked before the restart is under way */
    return err;
}

/* The guests that were on the host go back to it (those still running elsewhere). */
static xo_err_t move_back(roll_t *r, const char *host)
{
    json_object *vms = patch_member(r->cp, "vms");
    xo_err_t err = XO_OK;

    for (size_t i = 0; err == XO_OK && i < json_object_array_length(vms); i++) {
        char vm[128];
        json_object *rec = NULL, *p, *v = NULL;
        if (ref_of(r, "VM", json_object_get_string(json_object_array_get_idx(vms, i)), vm,
                   sizeof(vm)) != XO_OK)
            continue; /* gone meanwhile */
        err = call2(r, "VM.get_record", vm, NULL, &rec);
        if (err == XO_OK && !strcmp(patch_str(rec, "power_state"), "Running") &&
            strcmp(patch_str(rec, "resident_on"), host) != 0) {
            p = patch_arg(vm);
            json_object_array_add(p, json_object_new_string(host));
            json_object_array_add(p, json_object_new_object());
            err = patch_call(r->c, "VM.pool_migrate", p, &v, r->out);
        }
        json_object_put(rec);
        json_object_put(v);
    }
    return err;
}

static xo_err_t boot_time(roll_t *r, const char *host)
{
    json_object *oc = NULL;
    xo_err_t err = call2(r, "host.get_other_config", host, NULL, &oc);

    if (err == XO_OK)
        json_object_object_add(
            r->cp, "boot",
            json_object_new_string(patch_str(oc, "boot_time") ? patch_str(oc, "boot_time") : ""));
    json_object_put(oc);
    return err;
}

/* The steps of host @index from the one after @done ("" for none). */
static xo_err_t roll_host(roll_t *r, int index, const char *done)
{
    const char *uuid =
        json_object_get_string(json_object_array_get_idx(patch_member(r->cp, "hosts"), index));
    char host[128];
    json_object *v = NULL;
    xo_err_t err = ref_of(r, "host", uuid, host, sizeof(host));
    int from = !strcmp(done, "evacuated")   ? 1
               : !strcmp(done, "installed") ? 2
               : !strcmp(done, "rebooted")  ? 3
                                            : 0;

    xo_info(ROLL_MOD, "event=rolling_host id=%s host=%s index=%d from=%d", r->cmd->id, uuid, index,
            from);
    if (err == XO_OK && from <= 0) {
        err = evacuate(r, host);
        if (err == XO_OK)
            err = step_done(r, index, "evacuated");
    }
    if (err == XO_OK && from <= 1) {
        if (r->xcp)
            err = patch_updater_call(r->c, host, "update", &v, r->out);
        json_object_put(v);
        if (err == XO_OK)
            err = boot_time(r, host);
        if (err == XO_OK)
            err = step_done(r, index, "installed");
    }
    if (err == XO_OK && from <= 2) {
        err = reboot(r, host);
        if (err == XO_OK)
            err = wait_back(r, host, patch_str(r->cp, "boot"));
        if (err == XO_OK)
            err = call_void(r, "host.enable", host, NULL); /* back enabled: a no-op */
        if (err == XO_OK)
            err = step_done(r, index, "rebooted");
    }
    if (err == XO_OK) {
        err = move_back(r, host);
        if (err == XO_OK)
            err = step_done(r, index + 1, "");
    }
    if (err != XO_OK && !strcmp(r->out->xerr.code, "ROLLING_UPDATE_FAILED"))
        return err;
    if (err != XO_OK) { /* name the host and keep XAPI's error */
        json_object *params = json_object_new_array();
        json_object_array_add(params, json_object_new_string(uuid));
        json_object_array_add(params, json_object_new_string(r->out->xerr.code));
        for (size_t i = 0; r->out->xerr.params && i < json_object_array_length(r->out->xerr.params);
             i++)
            json_object_array_add(
                params, json_object_get(json_object_array_get_idx(r->out->xerr.params, i)));
        xo_xapi_error_clear(&r->out->xerr);
        snprintf(r->out->xerr.code, sizeof(r->out->xerr.code), "ROLLING_UPDATE_FAILED");
        r->out->xerr.params = params;
    }
    return err;
}

/* ---- the plan ---- */

/* The hosts with missing patches, the master first (xo-server's ignoreHost otherwise). */
static xo_err_t plan(roll_t *r)
{
    json_object *pool = NULL, *hosts = NULL, *order = json_object_new_array();
    xo_err_t err = call2(r, "pool.get_record", r->pool_ref, NULL, &pool);
    const char *master = err == XO_OK ? patch_str(pool, "master") : NULL;

    if (err == XO_OK)
        err = patch_call(r->c, "host.get_all", json_object_new_array(), &hosts, r->out);
    for (int pass = 0; err == XO_OK && pass < 2; pass++)
        for (size_t i = 0; err == XO_OK && i < json_object_array_length(hosts); i++) {
            const char *h = json_object_get_string(json_object_array_get_idx(hosts, i));
            json_object *v = NULL, *list = NULL, *uuid = NULL;
            if ((pass == 0) != (strcmp(h, master) == 0))
                continue;
            if (r->xcp) {
                err = patch_updater_call(r->c, h, "check_update", &v, r->out);
                list = err == XO_OK ? json_tokener_parse(json_object_get_string(v)) : NULL;
            }
            if (err == XO_OK && (!r->xcp || json_object_array_length(list) > 0))
                err = call2(r, "host.get_uuid", h, NULL, &uuid);
            if (err == XO_OK && uuid)
                json_object_array_add(order, json_object_get(uuid));
            json_object_put(uuid);
            json_object_put(list);
            json_object_put(v);
        }
    if (err == XO_OK)
        json_object_object_add(r->cp, "hosts", json_object_get(order));
    json_object_put(order);
    json_object_put(hosts);
    json_object_put(pool);
    return err;
}

static xo_err_t run(roll_t *r)
{
    xo_err_t err = XO_OK;
    int index = json_object_get_int(patch_member(r->cp, "index"));
    const char *step = patch_str(r->cp, "step") ? patch_str(r->cp, "step") : "";
    int n = (int)json_object_array_length(patch_member(r->cp, "hosts"));

    if (!r->xcp && !strcmp(step, "planned")) { /* XenServer: the patches pool-wide, first */
        err = patch_install(r->c, r->cmd, r->pool_ref, r->out);
        json_object_put(r->out->result);
        r->out->result = NULL;
        if (err == XO_OK)
            err = step_done(r, 0, "");
        step = "";
    }
    for (; err == XO_OK && index < n; index++) {
        cmd_publish(r->c, r->cmd->id, "progress", (double)index / (double)(n ? n : 1), NULL, NULL,
                    NULL, NULL);
        err = roll_host(r, index, step);
        step = "";
    }
    return err;
}

static xo_err_t roll(agent_cmd_t *c, const cmd_t *cmd, const char *pool, cmd_outcome_t *out,
                     json_object *resume)
{
    roll_t r = {.c = c, .cmd = cmd, .out = out};
    json_object *master = NULL, *rec = NULL, *uuid = NULL;
    xo_err_t err;

    snprintf(r.pool_ref, sizeof(r.pool_ref), "%s", pool);
    snprintf(r.url, sizeof(r.url), "%s", xo_xapi_conn_url(c->xapi));
    err = call2(&r, "pool.get_record", pool, NULL, &rec);
    if (err == XO_OK && json_object_get_boolean(patch_member(rec, "ha_enabled")))
        err = patch_fail(out, XO_ERR_INVALID, "HA_IS_ENABLED",
                         "no rolling update while HA is enabled on the pool");
    if (err == XO_OK)
        err = call2(&r, "host.get_software_version", patch_str(rec, "master"), NULL, &master);
    r.xcp = err == XO_OK && patch_str(master, "product_brand") &&
            !strcmp(patch_str(master, "product_brand"), "XCP-ng");
    if (err == XO_OK)
        err = call2(&r, "pool.get_uuid", pool, NULL, &uuid);
    if (err == XO_OK && resume) {
        r.cp = json_object_get(resume);
    } else if (err == XO_OK) {
        r.cp = json_object_new_object();
        json_object_object_add(r.cp, "command", json_object_new_string(cmd->id));
        json_object_object_add(r.cp, "pool", json_object_get(uuid));
        err = plan(&r);
        if (err == XO_OK)
            err = step_done(&r, 0, r.xcp ? "" : "planned");
    }
    if (err == XO_OK)
        err = run(&r);
    if (r.cp && (err == XO_OK || !agent_stop)) /* stopped: resumed by the next agent */
        clear_checkpoint(&r);
    r.out = out;
    if (err == XO_OK)
        out->result = json_object_new_boolean(1);
    json_object_put(r.cp);
    json_object_put(uuid);
    json_object_put(master);
    json_object_put(rec);
    return err;
}

xo_err_t patch_rolling_update(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                              cmd_outcome_t *out)
{
    return roll(c, cmd, pool, out, NULL);
}

/* The resumed command's worker: the checkpoint travels in the command's args. */
static xo_err_t resume_fn(agent_cmd_t *c, const cmd_t *cmd, const char *pool, cmd_outcome_t *out)
{
    return roll(c, cmd, pool, out, patch_member(cmd->args, "checkpoint"));
}

void patch_rolling_resume(agent_cmd_t *c)
{
    json_object *pools = NULL, *oc = NULL, *cp = NULL, *msg, *args;
    cmd_outcome_t out = {0};
    const char *text, *pool;
    cmd_t cmd;

    if (patch_call(c, "pool.get_all", json_object_new_array(), &pools, &out) != XO_OK ||
        json_object_array_length(pools) < 1)
        goto done;
    pool = json_object_get_string(json_object_array_get_idx(pools, 0));
    if (patch_call(c, "pool.get_other_config", patch_arg(pool), &oc, &out) != XO_OK)
        goto done;
    text = patch_str(oc, CHECKPOINT_KEY);
    cp = text ? json_tokener_parse(text) : NULL;
    if (!patch_str(cp, "command"))
        goto done;
    /* a command of our own making: the checkpoint's id, op and pool; never from Kafka */
    msg = json_object_new_object();
    args = json_object_new_object();
    json_object_object_add(msg, "id", json_object_new_string(patch_str(cp, "command")));
    json_object_object_add(args, "id", json_object_new_string(patch_str(cp, "pool")));
    json_object_object_add(args, "checkpoint", json_object_get(cp));
    json_object_object_add(msg, "args", args);
    memset(&cmd, 0, sizeof(cmd));
    cmd.msg = msg;
    cmd.id = patch_str(msg, "id");
    cmd.pool = c->pool;
    cmd.user = "";
    cmd.op = XO_OP_POOL_ROLLING_UPDATE;
    cmd.args = args;
    xo_info(ROLL_MOD, "event=rolling_resume id=%s index=%d step=%s", cmd.id,
            json_object_get_int(patch_member(cp, "index")), patch_str(cp, "step"));
    if (patch_worker_run(c, &cmd, resume_fn, pool, &out) != XO_OK)
        xo_warn(ROLL_MOD, "event=rolling_resume_failed id=%s reason=\"%s\"", cmd.id, out.reason);
    json_object_put(msg);
done:
    xo_xapi_error_clear(&out.xerr);
    json_object_put(cp);
    json_object_put(oc);
    json_object_put(pools);
}

xo_err_t patch_rolling_detached(agent_cmd_t *c, const cmd_t *cmd, const char *pool,
                                cmd_outcome_t *out)
{
    return patch_worker_run(c, cmd, patch_rolling_update, pool, out);
}
