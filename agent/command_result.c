/*
 * command_result.c - publishes the results of commands (accepted, progress with or without
 * bytes, success, failure, rejected) on the pool's partition of xo.results, keyed by the
 * command id and signed with the agent's own key. The lowest of the command files: the
 * thread (command_exec.c), the executors (command_ops.c), the transfer workers
 * (transfer.c) and the console relays (cmd_console_report) all report through its one
 * publisher. Must not verify, consume or call XAPI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_int.h"
#include "xo_log.h"

/* The one publisher: sign the encoded result with this agent's key (gateways believe only
 * what a key trusted for the pool signed) and queue it. A terminal state waits for room in
 * a full producer queue; progress (@p may_drop) is advisory and dropped instead. */
static xo_err_t publish(agent_cmd_t *c, const xo_result_msg_t *m, bool may_drop)
{
    char errstr[256], sig[XO_SIG_B64_LEN + 1], *value;
    xo_kafka_header_t h[2];
    size_t len;
    xo_err_t err;

    value = xo_result_msg_encode(m, &len);
    if (!value)
        return XO_ERR_NOMEM;
    err = c->sign_key ? xo_sign(c->sign_key, value, len, sig) : XO_ERR_CRYPTO;
    if (err != XO_OK) {
        xo_error(CMD_MOD, "event=result_not_signed id=%s state=%s", m->id, m->state);
        free(value);
        return err;
    }
    h[0] = (xo_kafka_header_t){XO_HDR_SIG, sig, strlen(sig)};
    h[1] = (xo_kafka_header_t){XO_HDR_KEY, xo_key_id(c->sign_key), strlen(xo_key_id(c->sign_key))};
    do {
        err = xo_producer_send(c->results ? c->results : c->a->producer, c->a->topics.results,
                               c->partition, m->id[0] ? m->id : NULL, strlen(m->id), value, len, h,
                               2, errstr, sizeof(errstr));
    } while (err == XO_ERR_LIMIT && !may_drop && agent_sleep(20));
    if (err != XO_OK && may_drop)
        xo_warn(CMD_MOD, "event=progress_not_queued id=%s reason=\"%s\"", m->id, errstr);
    else if (err != XO_OK)
        xo_error(CMD_MOD, "event=result_not_queued id=%s state=%s reason=\"%s\"", m->id, m->state,
                 errstr);
    free(value);
    return err;
}

xo_err_t cmd_publish(agent_cmd_t *c, const char *id, const char *state, double progress,
                     json_object *result, const char *code, json_object *params, const char *reason)
{
    xo_result_msg_t m = {id,          c->pool, c->a->id, state,  progress, 0,
                         xo_now_ms(), result,  code,     params, reason};

    return publish(c, &m, false);
}

xo_err_t cmd_publish_bytes(agent_cmd_t *c, const char *id, double progress, uint64_t bytes,
                           const char *reason)
{
    xo_result_msg_t m = {id,          c->pool, c->a->id, "progress", progress, (int64_t)bytes,
                         xo_now_ms(), NULL,    NULL,     NULL,       reason};

    return publish(c, &m, true);
}

xo_err_t cmd_publish_progress(agent_cmd_t *c, const char *id, double progress, uint64_t bytes,
                              json_object *result)
{
    xo_result_msg_t m = {id,          c->pool, c->a->id, "progress", progress, (int64_t)bytes,
                         xo_now_ms(), result,  NULL,     NULL,       NULL};

    return publish(c, &m, true);
}

void cmd_publish_outcome(agent_cmd_t *c, const cmd_t *cmd, xo_err_t err, cmd_outcome_t *out)
{
    if (err == XO_OK) {
        cmd_publish(c, cmd->id, "success", 1, out->result, NULL, NULL, NULL);
    } else {
        if (!out->xerr.code[0])
            snprintf(out->xerr.code, sizeof(out->xerr.code), "%s",
                     agent_stop ? "AGENT_STOPPED" : "XAPI_UNREACHABLE");
        cmd_publish(c, cmd->id, "failure", 1, NULL, out->xerr.code, out->xerr.params, out->reason);
    }
    xo_info(CMD_MOD, "event=command_done id=%s op=%s state=%s code=%s", cmd->id,
            cmd_op_name(cmd->op), err == XO_OK ? "success" : "failure", out->xerr.code);
    agent_count(c->a, &c->a->status.commands, 1);
}

void cmd_console_report(void *opaque, const char *cmd_id, const char *state, json_object *result,
                        const char *code, const char *reason, int64_t bytes)
{
    agent_cmd_t *c = opaque;
    json_object *params = code ? json_object_new_array() : NULL;
    xo_result_msg_t m = {cmd_id,      c->pool, c->a->id, state,  1,     bytes,
                         xo_now_ms(), result,  code,     params, reason};

    publish(c, &m, false);
    json_object_put(params);
    if (strcmp(state, "closed") != 0)
        agent_count(c->a, &c->a->status.commands, 1);
}
