/*
 * command_result.c - publishes the command thread's results (accepted, progress, success,
 * failure, rejected) on the pool's partition of xo.results, keyed by the command id. The
 * lowest of the command files: both the thread (command_exec.c) and the executors
 * (command_ops.c) report through it. Must not verify, consume or call XAPI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_int.h"
#include "xo_log.h"

xo_err_t cmd_publish(agent_cmd_t *c, const char *id, const char *state, double progress,
                     json_object *result, const char *code, json_object *params, const char *reason)
{
    xo_result_msg_t m = {id,          c->pool, c->a->id, state,  progress, 0,
                         xo_now_ms(), result,  code,     params, reason};
    char errstr[256], sig[XO_SIG_B64_LEN + 1], *value;
    xo_kafka_header_t h[2];
    size_t len;
    xo_err_t err;

    value = xo_result_msg_encode(&m, &len);
    if (!value)
        return XO_ERR_NOMEM;
    err = xo_sign(c->sign_key, value, len, sig);
    if (err != XO_OK) {
        xo_error(CMD_MOD, "event=result_not_signed id=%s state=%s", id, state);
        free(value);
        return err;
    }
    h[0] = (xo_kafka_header_t){XO_HDR_SIG, sig, strlen(sig)};
    h[1] = (xo_kafka_header_t){XO_HDR_KEY, xo_key_id(c->sign_key), strlen(xo_key_id(c->sign_key))};
    do {
        err =
            xo_producer_send(c->a->producer, c->a->topics.results, c->partition, id[0] ? id : NULL,
                             strlen(id), value, len, h, 2, errstr, sizeof(errstr));
    } while (err == XO_ERR_LIMIT && agent_sleep(20));
    if (err != XO_OK)
        xo_error(CMD_MOD, "event=result_not_queued id=%s state=%s reason=\"%s\"", id, state,
                 errstr);
    free(value);
    return err;
}
