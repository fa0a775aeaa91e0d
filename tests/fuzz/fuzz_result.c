/*
 * fuzz_result.c - libFuzzer target for the gateway's handling of xo.results messages
 * (commands.c): one input is one message value, pushed as the consumer thread does and
 * applied by the service step, against a table holding one pending command of pool "p"
 * whose id the input may name (the first "ID" is replaced by it). Each input is pushed
 * signed by the agent key trusted for "p" (so that the parser and the table see it), then
 * unsigned, with a broken signature and on the wrong partition (refused before parsing or
 * after). Must never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus/commands.h"
#include "xo_log.h"
#include "xo_sign.h"

#define POOL       "p"
#define PARTITIONS 6

static xo_key_t *agent_key; /* signs the inputs; its public half is trusted for POOL */

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

/* Key files in a fresh directory: the gateway's k/p and the agent's a/ap. */
static void make_keys(const char *dir)
{
    char priv[64], pub[64], errstr[128];
    xo_key_t *k = NULL;

    xo_log_set_level(XO_LOG_ERROR);
    snprintf(priv, sizeof(priv), "%s/k", dir);
    snprintf(pub, sizeof(pub), "%s/p", dir);
    if (xo_key_generate(&k, errstr, sizeof(errstr)) != XO_OK ||
        xo_key_write_pem(k, priv, pub, errstr, sizeof(errstr)) != XO_OK)
        abort();
    xo_key_free(k);
    snprintf(priv, sizeof(priv), "%s/a", dir);
    snprintf(pub, sizeof(pub), "%s/ap", dir);
    if (xo_key_generate(&agent_key, errstr, sizeof(errstr)) != XO_OK ||
        xo_key_write_pem(agent_key, priv, pub, errstr, sizeof(errstr)) != XO_OK)
        abort();
}

/* The input as the consumer thread hands it over: signed, then forged three ways. */
static void push_variants(gw_commands_t *c, const char *msg, size_t size)
{
    char sig[XO_SIG_B64_LEN + 1];
    xo_record_t rec = {xo_pool_partition(POOL, PARTITIONS),
                       PARTITIONS,
                       0,
                       "ID",
                       2,
                       msg,
                       size,
                       sig,
                       XO_SIG_B64_LEN,
                       xo_key_id(agent_key),
                       XO_KEY_ID_LEN};

    if (xo_sign(agent_key, msg, size, sig) != XO_OK)
        abort();
    gw_commands_push_result(c, &rec);
    gw_commands_push_result(c, &rec); /* a duplicate */
    rec.partition = (rec.partition + 1) % PARTITIONS;
    gw_commands_push_result(c, &rec); /* the wrong partition */
    rec.partition = xo_pool_partition(POOL, PARTITIONS);
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    gw_commands_push_result(c, &rec); /* a broken signature */
    rec.sig = NULL;
    gw_commands_push_result(c, &rec); /* unsigned */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char key[] = "/tmp/fuzz_result.XXXXXX";
    static int ready;
    char trust[128];
    gw_cmd_settings_t set = {NULL, 30000, 0, trust, 1 << 20};
    gw_commands_t *c = NULL;
    json_object *args = NULL;
    gw_cmd_req_t req;
    gw_cmd_waiter_t w = {GW_CMD_WAIT_WS, 1, "1", true, NULL, NULL};
    gw_xo_err_t err;
    char id[GW_CMD_ID_LEN + 1], errstr[128], path[64], *msg, *pos;

    if (!ready) {
        if (!mkdtemp(key))
            abort();
        make_keys(key);
        ready = 1;
    }
    snprintf(path, sizeof(path), "%s/k", key);
    snprintf(trust, sizeof(trust), POOL "=%s/ap", key);
    set.private_key = path;
    if (gw_commands_new(&set, NULL, NULL, 6, &c, errstr, sizeof(errstr)) != XO_OK)
        abort();
    gw_commands_set_send(c, no_send, NULL);
    gw_commands_set_reply(c, no_reply, NULL);
    memset(&err, 0, sizeof(err));
    gw_buf_init(&err.data);
    args = json_tokener_parse("{\"id\":\"vm-uuid\"}");
    req = (gw_cmd_req_t){"vm.start", args, POOL, "vm-uuid", "u", "e"};
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
        push_variants(c, msg, size);
        gw_commands_service(c, xo_now_ms(), id_of, NULL);
        gw_commands_service(c, xo_now_ms() + 60000, id_of, NULL); /* the expiry sweep */
        free(msg);
    }
    gw_buf_fini(&err.data);
    json_object_put(args);
    gw_commands_free(c);
    return 0;
}
