/*
 * api_copy.c - vm.copy across pools (api_copy.h, docs/streaming.md): a fresh single-use
 * ticket, vm.importPrepare to the destination pool's agent (the ticket admits only the
 * source pool's agent, named from its heartbeats and known by the keys commands.agent_keys
 * trusts for its pool), then vm.exportTo with the endpoint and
 * certificate fingerprint the destination answered. Both commands are signed, so the
 * ticket and the pin reach each agent from the gateway's key. Runs on the service thread
 * and only queues; never sees a byte of the VM.
 */
#include "api/api_copy.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/users.h"
#include "view/view.h"
#include "xo_log.h"

#define MOD "api"

/* What the second step needs, owned by the first step's waiter. */
typedef struct {
    gw_commands_t *bus;
    gw_cmd_waiter_t client; /**< the caller of vm.copy */
    char vm[GW_ID_MAX], vm_uuid[GW_ID_MAX], vm_pool[64];
    char user[48], email[256];
    char ticket[65];
    json_object *compress; /**< owned, or NULL */
} copy_state_t;

typedef struct {
    const char *pool;
    char agent[128];
} agent_of_t;

static void find_agent(void *opaque, const gw_pool_info_t *p)
{
    agent_of_t *a = opaque;

    if (strcmp(p->uuid, a->pool) == 0 && p->agent_id)
        snprintf(a->agent, sizeof(a->agent), "%s", p->agent_id);
}

static void state_free(copy_state_t *st)
{
    json_object_put(st->compress);
    free(st);
}

static void answer_error(copy_state_t *st, const gw_xo_err_t *err)
{
    gw_cmd_reply_t r = {NULL, "", false, NULL, err};

    gw_commands_answer(st->bus, &st->client, &r);
}

/* The second step: the destination is ready; the source streams to it. */
static void export_to(copy_state_t *st, const char *prepared)
{
    json_object *ready = json_tokener_parse(prepared), *args = json_object_new_object();
    const char *endpoint = xo_msg_str(ready, "endpoint"), *pin = xo_msg_str(ready, "fingerprint");
    gw_cmd_req_t req = {"vm.exportTo", args, st->vm_pool, st->vm, st->user, st->email};
    char cid[GW_CMD_ID_LEN + 1];
    gw_xo_err_t err;

    gw_xo_err_init(&err);
    if (!endpoint || !pin) {
        gw_xo_fail(&err, GW_ERR_OP_FAILED, "operation failed",
                   "{\"code\":\"TRANSFER_PREPARE_INVALID\",\"reason\":\"the destination agent's "
                   "answer has no endpoint\"}");
        answer_error(st, &err);
        goto out;
    }
    json_object_object_add(args, "id", json_object_new_string(st->vm_uuid));
    json_object_object_add(args, "endpoint", json_object_new_string(endpoint));
    json_object_object_add(args, "fingerprint", json_object_new_string(pin));
    json_object_object_add(args, "ticket", json_object_new_string(st->ticket));
    if (st->compress)
        json_object_object_add(args, "compress", json_object_get(st->compress));
    if (gw_commands_submit(st->bus, &req, &st->client, cid, &err) != 0)
        answer_error(st, &err);
out:
    gw_xo_err_fini(&err);
    json_object_put(args);
    json_object_put(ready);
}

static void prepared(void *opaque, const gw_cmd_reply_t *r)
{
    copy_state_t *st = opaque;

    if (r && r->ok)
        export_to(st, r->result_json);
    else if (r)
        answer_error(st, r->err);
    state_free(st);
}

static int fail_pool(const char *code, const char *reason, const char *pool, gw_xo_err_t *err)
{
    char data[300];

    snprintf(data, sizeof(data), "{\"code\":\"%s\",\"reason\":\"%s %.64s\"}", code, reason, pool);
    return gw_xo_fail(err, GW_ERR_OP_FAILED, "operation failed", data);
}

int gw_copy_across(gw_ctx_t *ctx, const gw_user_t *user, const gw_copy_req_t *req,
                   const gw_cmd_waiter_t *w, gw_xo_err_t *err)
{
    agent_of_t src = {req->vm_pool, ""};
    unsigned char raw[32];
    copy_state_t *st = calloc(1, sizeof(*st));
    json_object *args = json_object_new_object(), *keys = json_object_new_array();
    gw_cmd_waiter_t step = {.kind = GW_CMD_WAIT_CALL, .admin = w->admin, .then = prepared};
    gw_cmd_req_t prep = {"vm.importPrepare", args, req->sr_pool, req->sr, user->id, user->email};
    char cid[GW_CMD_ID_LEN + 1];
    int rc = -1;

    if (!st || !args || !keys || RAND_bytes(raw, sizeof(raw)) != 1) {
        gw_xo_fail(err, GW_ERR_UNKNOWN, "cannot start the copy", NULL);
        goto out;
    }
    gw_view_rdlock(ctx->view);
    gw_view_foreach_pool(ctx->view, find_agent, &src);
    gw_view_unlock(ctx->view);
    if (!src.agent[0]) {
        fail_pool("NO_AGENT", "no agent is known for pool", req->vm_pool, err);
        goto out;
    }
    /* the destination admits only a link whose hello this pool's agent key signed */
    if (gw_commands_pool_keys(ctx->commands, req->vm_pool, keys) == 0) {
        fail_pool("NO_AGENT_KEY", "commands.agent_keys trusts no key for pool", req->vm_pool, err);
        goto out;
    }
    st->bus = ctx->commands;
    st->client = *w;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(st->ticket + 2 * i, 3, "%02x", raw[i]);
    snprintf(st->vm, sizeof(st->vm), "%s", req->vm);
    snprintf(st->vm_uuid, sizeof(st->vm_uuid), "%s", req->vm_uuid);
    snprintf(st->vm_pool, sizeof(st->vm_pool), "%s", req->vm_pool);
    snprintf(st->user, sizeof(st->user), "%s", user->id);
    snprintf(st->email, sizeof(st->email), "%s", user->email);
    st->compress = req->compress ? json_object_get(req->compress) : NULL;
    json_object_object_add(args, "sr", json_object_new_string(req->sr));
    json_object_object_add(args, "ticket", json_object_new_string(st->ticket));
    json_object_object_add(args, "source", json_object_new_string(src.agent));
    json_object_object_add(args, "source_keys", json_object_get(keys));
    if (req->name)
        json_object_object_add(args, "name", json_object_new_string(req->name));
    step.then_opaque = st;
    rc = gw_commands_submit(ctx->commands, &prep, &step, cid, err);
    if (rc == 0) {
        xo_info(MOD, "event=copy_across vm=%s from=%s to=%s sr=%s prepare=%s", req->vm,
                req->vm_pool, req->sr_pool, req->sr, cid);
        st = NULL; /* the step's waiter owns it */
    }
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    json_object_put(keys);
    json_object_put(args);
    if (st)
        state_free(st);
    return rc;
}
