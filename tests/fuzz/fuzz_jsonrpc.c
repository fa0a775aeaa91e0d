/*
 * fuzz_jsonrpc.c - libFuzzer target for the gateway's JSON-RPC handling (api_rpc.c and the
 * methods behind it): one input is one WebSocket message from a client, handled on a
 * session that may already be signed in (first byte odd). Must never crash, leak or
 * answer anything but a well-formed JSON-RPC response (checked by parsing the reply).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rpc.h"
#include "xo_log.h"

static gw_ctx_t ctx;

static void init(void)
{
    char errstr[64];
    const char *recs[][3] = {
        {"vm", "OpaqueRef:1",
         "{\"uuid\":\"vm1\",\"name_label\":\"a\",\"power_state\":\"Running\"}"},
        {"host", "OpaqueRef:2", "{\"uuid\":\"h1\",\"name_label\":\"h\"}"},
        {"sr", "OpaqueRef:3", "{\"uuid\":\"s1\",\"name_label\":\"s\",\"shared\":true}"}};
    xo_log_set_level(XO_LOG_ERROR);
    ctx.view = gw_view_new();
    ctx.notify = gw_notify_new();
    ctx.metrics = gw_metrics_new();
    gw_users_load(NULL, &ctx.users, errstr, sizeof(errstr));
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        json_object *snap = json_tokener_parse(recs[i][2]);
        gw_view_apply_object(ctx.view, "pool-1", recs[i][0], recs[i][1], snap, recs[i][2],
                             strlen(recs[i][2]), errstr, sizeof(errstr));
        json_object_put(snap);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    gw_session_t s;
    gw_buf_t reply;
    const gw_user_t *admin = NULL;

    if (!ready) {
        init();
        ready = 1;
    }
    memset(&s, 0, sizeof(s));
    if (size > 0 && (data[0] & 1)) {
        admin = gw_users_by_id(ctx.users, "");
        if (!admin) {
            /* sign in through the API once per input, like a client would */
            static const char in[] =
                "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":"
                "{\"email\":\"admin@admin.net\",\"password\":\"admin\"},\"id\":0}";
            static const gw_user_t *cached;
            if (!cached) {
                gw_buf_init_pre(&reply, GW_MSG_PRE);
                gw_rpc_handle(&ctx, &s, in, sizeof(in) - 1, &reply);
                gw_buf_fini(&reply);
                cached = s.user;
            } else {
                gw_session_set_user(&ctx, &s, cached, 0);
            }
        }
    }
    gw_buf_init_pre(&reply, GW_MSG_PRE);
    gw_rpc_handle(&ctx, &s, (const char *)data, size, &reply);
    if (reply.len) {
        json_object *o = json_tokener_parse(reply.data);
        if (!o || !json_object_object_get_ex(o, "jsonrpc", NULL))
            abort(); /* every reply must be JSON-RPC */
        json_object_put(o);
    }
    gw_buf_fini(&reply);
    gw_session_set_user(&ctx, &s, NULL, 0);
    return 0;
}
