/*
 * fuzz_result.c - libFuzzer target for the gateway's handling of xo.results messages
 * (commands.c): one input is one message value, pushed as the consumer thread does and
 * applied by the service step, against a table holding one pending command whose id the
 * input may name (the first 36 bytes "ID" are replaced by it). Must never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus/commands.h"
#include "xo_log.h"

static xo_err_t no_send(void *opaque, const char *pool, int32_t partition, const char *value,
                        size_t len, const char *sig_b64, const char *key_id, char *errstr,
                        size_t errstr_size)
{
    (void)opaque, (void)pool, (void)partition, (void)value, (void)len, (void)sig_b64;
    (void)key_id, (void)errstr, (void)errstr_size;
    return XO_OK;
}

static void no_reply(void *opaque, const gw_cmd_reply_t *r)
{
    (void)opaque;
    if (!r->ok && !r->err)
        abort();
}

static const char *id_of(void *opaque, const char *pool, const char *cls, const char *ref)
{
    (void)opaque, (void)pool, (void)cls;
    return ref[0] == 'O' ? "vm-uuid" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char key[] = "/tmp/fuzz_result.XXXXXX";
    static int ready;
    gw_cmd_settings_t set = {NULL, 30000, 0};
    gw_commands_t *c = NULL;
    json_object *args = NULL;
    gw_cmd_req_t req;
    gw_cmd_waiter_t w = {GW_CMD_WAIT_WS, 1, "1", true, NULL, NULL};
    gw_xo_err_t err;
    char id[GW_CMD_ID_LEN + 1], errstr[128], path[64], *msg, *pos;

    if (!ready) {
        char priv[64], pub[64];
        xo_key_t *k = NULL;
        xo_log_set_level(XO_LOG_ERROR);
        if (!mkdtemp(key) || xo_key_generate(&k, errstr, sizeof(errstr)) != XO_OK)
            abort();
        snprintf(priv, sizeof(priv), "%s/k", key);
        snprintf(pub, sizeof(pub), "%s/p", key);
        if (xo_key_write_pem(k, priv, pub, errstr, sizeof(errstr)) != XO_OK)
            abort();
        xo_key_free(k);
        ready = 1;
    }
    snprintf(path, sizeof(path), "%s/k", key);
    set.private_key = path;
    if (gw_commands_new(&set, NULL, NULL, 6, &c, errstr, sizeof(errstr)) != XO_OK)
        abort();
    gw_commands_set_send(c, no_send, NULL);
    gw_commands_set_reply(c, no_reply, NULL);
    memset(&err, 0, sizeof(err));
    gw_buf_init(&err.data);
    args = json_tokener_parse("{\"id\":\"vm-uuid\"}");
    req = (gw_cmd_req_t){"vm.start", args, "pool-1", "vm-uuid", "u", "e"};
    if (gw_commands_submit(c, &req, &w, id, &err) != 0)
        abort();
    msg = malloc(size + 1);
    if (msg) {
        memcpy(msg, data, size);
        msg[size] = '\0';
        pos = strstr(msg, "\"ID\"");
        if (pos && (size_t)(pos - msg) + 2 + GW_CMD_ID_LEN <= size) {
            pos[0] = '"';
            memcpy(pos + 1, id, GW_CMD_ID_LEN);
            pos[GW_CMD_ID_LEN + 1] = '"';
        }
        gw_commands_push_result(c, msg, size);
        gw_commands_push_result(c, msg, size); /* a duplicate */
        gw_commands_service(c, xo_now_ms(), id_of, NULL);
        gw_commands_service(c, xo_now_ms() + 60000, id_of, NULL); /* the expiry sweep */
        free(msg);
    }
    gw_buf_fini(&err.data);
    json_object_put(args);
    gw_commands_free(c);
    return 0;
}
