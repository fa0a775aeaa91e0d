/* Unit tests of gateway/commands.c and api_vm.c without Kafka: XAPI error -> XO error
 * mapping, command building and signing (verified with xo_sign), the pending table (results,
 * late and duplicate results, REPLAYED after accepted, forgotten connections), results
 * believed only when signed by an agent key trusted for the command's pool (each step of
 * a copy across pools from its own pool's agent), the expiry sweep, and the vm.* JSON-RPC checks
 * (deferred reply, 1/2/10 errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_rpc.h"
#include "bus/commands.h"
#include "xo_kafka.h"

#define POOL   "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c"
#define POOL_B "7a1d0c55-2f4e-4b8a-9c3d-1e2f3a4b5c6d"
#define PARTS  6

typedef struct {
    int sent, replies;
    char value[4096], sig[XO_SIG_B64_LEN + 1], key_id[32], pool[64];
    int32_t partition;
    bool ok;
    char result[256], err_message[256], err_data[1024], command_id[64];
    int err_code;
    uint64_t conn;
} cap_t;

static cap_t cap;
static char tmpdir[64];

static xo_err_t fake_send(void *opaque, const char *pool, int32_t partition, const char *value,
                          size_t len, const char *sig_b64, const char *key_id, char *errstr,
                          size_t errstr_size)
{
    (void)opaque;
    (void)errstr;
    (void)errstr_size;
    cap.sent++;
    snprintf(cap.value, sizeof(cap.value), "%.*s", (int)len, value);
    snprintf(cap.sig, sizeof(cap.sig), "%s", sig_b64);
    snprintf(cap.key_id, sizeof(cap.key_id), "%s", key_id);
    snprintf(cap.pool, sizeof(cap.pool), "%s", pool);
    cap.partition = partition;
    return XO_OK;
}

static void fake_reply(void *opaque, const gw_cmd_reply_t *r)
{
    (void)opaque;
    cap.replies++;
    cap.ok = r->ok;
    cap.conn = r->waiter->conn;
    snprintf(cap.command_id, sizeof(cap.command_id), "%s", r->command_id);
    if (r->ok) {
        snprintf(cap.result, sizeof(cap.result), "%s", r->result_json);
    } else {
        cap.err_code = r->err->code;
        snprintf(cap.err_message, sizeof(cap.err_message), "%s", r->err->message);
        snprintf(cap.err_data, sizeof(cap.err_data), "%s",
                 r->err->data.len ? r->err->data.data : "");
    }
}

static const char *id_of(void *opaque, const char *pool, const char *cls, const char *ref)
{
    (void)opaque;
    (void)pool;
    return !strcmp(cls, "vm") && !strcmp(ref, "OpaqueRef:vm1") ? "vm1-uuid" : NULL;
}

static char key_path[128], pub_path[128];
/* Agent keys: a is trusted for POOL, b for POOL_B; the pair files are a.key/a.pub, ... */
static char agent_priv[2][128], agent_pub[2][128], trust_spec[512];
static xo_key_t *agent[2];

static void write_pair(const char *priv, const char *pub, xo_key_t **keep)
{
    xo_key_t *k = NULL;
    char errstr[256];
    assert_int_equal(xo_key_generate(&k, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_key_write_pem(k, priv, pub, errstr, sizeof(errstr)), XO_OK);
    if (keep)
        *keep = k;
    else
        xo_key_free(k);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_gw_commands.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(key_path, sizeof(key_path), "%s/gateway.key", tmpdir);
    snprintf(pub_path, sizeof(pub_path), "%s/gateway.pub", tmpdir);
    write_pair(key_path, pub_path, NULL);
    for (int i = 0; i < 2; i++) {
        snprintf(agent_priv[i], sizeof(agent_priv[i]), "%s/%c.key", tmpdir, 'a' + i);
        snprintf(agent_pub[i], sizeof(agent_pub[i]), "%s/%c.pub", tmpdir, 'a' + i);
        write_pair(agent_priv[i], agent_pub[i], &agent[i]);
    }
    snprintf(trust_spec, sizeof(trust_spec), POOL "=%s, " POOL_B "=%s", agent_pub[0], agent_pub[1]);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(key_path);
    unlink(pub_path);
    for (int i = 0; i < 2; i++) {
        unlink(agent_priv[i]);
        unlink(agent_pub[i]);
        xo_key_free(agent[i]);
    }
    rmdir(tmpdir);
    return 0;
}

static gw_commands_t *new_bus(int64_t timeout_ms, int64_t skew_ms)
{
    gw_cmd_settings_t set = {key_path, timeout_ms, skew_ms, trust_spec, 65536};
    gw_commands_t *c = NULL;
    char errstr[256];
    assert_int_equal(gw_commands_new(&set, NULL, NULL, 6, &c, errstr, sizeof(errstr)), XO_OK);
    gw_commands_set_send(c, fake_send, NULL);
    gw_commands_set_reply(c, fake_reply, NULL);
    memset(&cap, 0, sizeof(cap));
    return c;
}

static void submit_to(gw_commands_t *c, const char *op, const char *pool, uint64_t conn,
                      char id[GW_CMD_ID_LEN + 1])
{
    json_object *args = json_tokener_parse("{\"id\":\"vm1-uuid\"}");
    gw_cmd_req_t req = {op, args, pool, "vm1-uuid", "user-1", "a@b.c"};
    gw_cmd_waiter_t w = {GW_CMD_WAIT_WS, conn, "7", true, NULL, NULL};
    gw_xo_err_t err;
    memset(&err, 0, sizeof(err));
    gw_buf_init(&err.data);
    assert_int_equal(gw_commands_submit(c, &req, &w, id, &err), 0);
    gw_buf_fini(&err.data);
    json_object_put(args);
}

static void submit(gw_commands_t *c, const char *op, uint64_t conn, char id[GW_CMD_ID_LEN + 1])
{
    submit_to(c, op, POOL, conn, id);
}

/* How a result is forged (or not) on its way to the bus. */
typedef enum { SIGNED, UNSIGNED, BROKEN_SIG, WRONG_PARTITION } how_t;

/* A result of @p pool for @p id, signed by agent key @p signer, as the consumer hands it. */
static void push_as(gw_commands_t *c, const char *pool, int signer, how_t how, const char *id,
                    const char *state, const char *extra)
{
    char msg[1024], sig[XO_SIG_B64_LEN + 1];
    int n = snprintf(msg, sizeof(msg),
                     "{\"v\":1,\"id\":\"%s\",\"pool\":\"%s\",\"agent\":\"a\",\"state\":\"%s\","
                     "\"progress\":0.5,\"bytes\":0,\"ts\":1%s}",
                     id, pool, state, extra ? extra : "");
    xo_record_t rec = {xo_pool_partition(pool, PARTS),
                       PARTS,
                       -1,
                       id,
                       strlen(id),
                       msg,
                       (size_t)n,
                       sig,
                       XO_SIG_B64_LEN,
                       xo_key_id(agent[signer]),
                       XO_KEY_ID_LEN};

    assert_int_equal(xo_sign(agent[signer], msg, (size_t)n, sig), XO_OK);
    if (how == UNSIGNED)
        rec.sig = NULL;
    if (how == BROKEN_SIG)
        sig[10] = sig[10] == 'A' ? 'B' : 'A';
    if (how == WRONG_PARTITION)
        rec.partition = (rec.partition + 1) % PARTS;
    gw_commands_push_result(c, &rec);
}

/* A genuine result of POOL's agent. */
static void push(gw_commands_t *c, const char *id, const char *state, const char *extra)
{
    push_as(c, POOL, 0, SIGNED, id, state, extra);
}

/* ---- error mapping ---- */

static void map(const char *state, const char *code, const char *params, const char *op, bool admin,
                gw_xo_err_t *err)
{
    json_object *p = params ? json_tokener_parse(params) : NULL;
    memset(err, 0, sizeof(*err));
    gw_buf_init(&err->data);
    gw_cmd_map_error(state, code, p, "why", op, POOL, "vm1-uuid", admin, id_of, NULL, err);
    json_object_put(p);
}

static void test_map_bad_power_state(void **state)
{
    gw_xo_err_t e;
    (void)state;
    map("failure", "VM_BAD_POWER_STATE", "[\"OpaqueRef:vm1\",\"halted\",\"running\"]", "vm.start",
        true, &e);
    assert_int_equal(e.code, 13);
    assert_string_equal(e.message, "VM state is running but should be halted");
    assert_string_equal(
        e.data.data, "{\"objectId\":\"vm1-uuid\",\"expected\":\"halted\",\"actual\":\"running\"}");
    gw_buf_fini(&e.data);
    /* an unknown ref stays a ref (xo-server's getId) */
    map("failure", "VM_BAD_POWER_STATE", "[\"OpaqueRef:zz\",\"halted\",\"paused\"]", "vm.start",
        false, &e);
    assert_non_null(strstr(e.data.data, "\"objectId\":\"OpaqueRef:zz\""));
    gw_buf_fini(&e.data);
}

static void test_map_others(void **state)
{
    gw_xo_err_t e;
    (void)state;
    map("failure", "VM_IS_TEMPLATE", "[\"OpaqueRef:vm1\"]", "vm.start", true, &e);
    assert_int_equal(e.code, 12);
    assert_string_equal(e.message, "VM is a template");
    gw_buf_fini(&e.data);
    map("failure", "VDI_IN_USE", "[\"OpaqueRef:v\",\"destroy\"]", "vm.delete", true, &e);
    assert_int_equal(e.code, 17);
    assert_string_equal(e.data.data, "{\"objectId\":\"OpaqueRef:v\",\"operation\":\"destroy\"}");
    gw_buf_fini(&e.data);
    map("failure", "OPERATION_BLOCKED", "[\"OpaqueRef:vm1\",\"start\"]", "vm.start", true, &e);
    assert_int_equal(e.code, 19);
    assert_string_equal(e.data.data, "{\"objectId\":\"vm1-uuid\",\"code\":\"start\"}");
    gw_buf_fini(&e.data);
    map("failure", "VM_MISSING_PV_DRIVERS", "[\"OpaqueRef:vm1\"]", "vm.stop", true, &e);
    assert_int_equal(e.code, 10);
    assert_string_equal(e.message, "clean shutdown requires PV drivers");
    gw_buf_fini(&e.data);
    map("failure", "VM_MISSING_PV_DRIVERS", "[\"OpaqueRef:vm1\"]", "vm.suspend", true, &e);
    assert_int_equal(e.code, 11);
    gw_buf_fini(&e.data);
    map("failure", "NO_HOSTS_AVAILABLE", "[]", "vm.start", true, &e);
    assert_int_equal(e.code, 7);
    gw_buf_fini(&e.data);
    map("failure", "HOST_OFFLINE", "[\"OpaqueRef:h\"]", "vm.start", true, &e);
    assert_int_equal(e.code, 18);
    gw_buf_fini(&e.data);
    /* pool.installPatches with HA on: xo-server's incorrectState on the pool */
    map("failure", "HA_IS_ENABLED", "[\"no\"]", "pool.installPatches", true, &e);
    assert_int_equal(e.code, 25);
    assert_string_equal(e.message, "incorrect state");
    assert_string_equal(e.data.data, "{\"actual\":true,\"expected\":false,\"object\":\"" POOL
                                     "\",\"property\":\"ha_enabled\"}");
    gw_buf_fini(&e.data);
}

static void test_map_generic_and_rejected(void **state)
{
    gw_xo_err_t e;
    (void)state;
    map("failure", "UUID_INVALID", "[\"VM\",\"x\"]", "vm.start", true, &e);
    assert_int_equal(e.code, -32000);
    assert_string_equal(e.message, "UUID_INVALID(VM, x)");
    assert_string_equal(e.data.data, "{\"code\":\"UUID_INVALID\",\"params\":[\"VM\",\"x\"]}");
    gw_buf_fini(&e.data);
    map("failure", "UUID_INVALID", "[\"VM\",\"x\"]", "vm.start", false, &e);
    assert_int_equal(e.code, -32000);
    assert_string_equal(e.message, "unknown error from the peer");
    assert_int_equal(e.data.len, 0);
    gw_buf_fini(&e.data);
    map("rejected", "OP_NOT_ALLOWED", NULL, "vm.delete", true, &e);
    assert_int_equal(e.code, 21);
    assert_string_equal(e.message, "operation failed");
    assert_string_equal(
        e.data.data, "{\"objectId\":\"vm1-uuid\",\"code\":\"OP_NOT_ALLOWED\",\"reason\":\"why\"}");
    gw_buf_fini(&e.data);
}

/* ---- building and signing ---- */

static void test_submit_builds_signed_command(void **state)
{
    gw_commands_t *c = new_bus(30000, 5000);
    char id[GW_CMD_ID_LEN + 1], errstr[128];
    json_object *o = NULL, *args;
    xo_key_t *pub = NULL;
    int64_t now = xo_now_ms();
    (void)state;

    submit(c, "vm.start", 1, id);
    assert_int_equal(cap.sent, 1);
    assert_string_equal(cap.pool, POOL);
    assert_int_equal(cap.partition, xo_pool_partition(POOL, 6));
    assert_int_equal(cap.partition, 4); /* docs/topics.md test vector */
    assert_int_equal(xo_key_load_public(pub_path, &pub, errstr, sizeof(errstr)), XO_OK);
    assert_string_equal(cap.key_id, xo_key_id(pub));
    assert_int_equal(xo_verify(pub, cap.value, strlen(cap.value), cap.sig, strlen(cap.sig)), XO_OK);
    cap.value[10] ^= 1; /* any byte changed: the signature fails */
    assert_int_equal(xo_verify(pub, cap.value, strlen(cap.value), cap.sig, strlen(cap.sig)),
                     XO_ERR_BADSIG);
    cap.value[10] ^= 1;
    assert_int_equal(
        xo_msg_parse(XO_MSG_COMMAND, cap.value, strlen(cap.value), &o, errstr, sizeof(errstr)),
        XO_OK);
    assert_string_equal(xo_msg_str(o, "id"), id);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '4'); /* UUID v4 */
    assert_string_equal(xo_msg_str(o, "op"), "vm.start");
    assert_string_equal(xo_msg_str(o, "pool"), POOL);
    assert_string_equal(xo_msg_str(o, "user"), "user-1");
    assert_true(json_object_object_get_ex(o, "args", &args));
    assert_string_equal(json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN),
                        "{\"id\":\"vm1-uuid\"}");
    assert_true(xo_msg_int(o, "issued", 0) >= now - 1000);
    assert_int_equal(xo_msg_int(o, "expires", 0) - xo_msg_int(o, "issued", 0), 30000);
    json_object_put(o);
    xo_key_free(pub);
    gw_commands_free(c);
}

static void test_disabled_without_key(void **state)
{
    gw_cmd_settings_t set = {NULL, 30000, 5000, NULL, 0};
    gw_commands_t *c = NULL;
    json_object *args = json_tokener_parse("{\"id\":\"x\"}");
    gw_cmd_req_t req = {"vm.start", args, POOL, "x", "u", "e"};
    gw_xo_err_t err;
    char id[GW_CMD_ID_LEN + 1], errstr[64];
    (void)state;
    memset(&err, 0, sizeof(err));
    gw_buf_init(&err.data);
    assert_int_equal(gw_commands_new(&set, NULL, NULL, 6, &c, errstr, sizeof(errstr)), XO_OK);
    assert_false(gw_commands_enabled(c));
    assert_int_equal(gw_commands_submit(c, &req, NULL, id, &err), -1);
    assert_int_equal(err.code, 0);
    assert_int_equal(gw_commands_submit(NULL, &req, NULL, id, &err), -1);
    gw_buf_fini(&err.data);
    json_object_put(args);
    gw_commands_free(c);
}

/* ---- the table ---- */

static void test_results_complete_once(void **state)
{
    gw_commands_t *c = new_bus(30000, 5000);
    char id[GW_CMD_ID_LEN + 1];
    gw_buf_t task;
    gw_cmd_stats_t st;
    (void)state;

    submit(c, "vm.snapshot", 3, id);
    push(c, "not-ours", "success", NULL);
    push(c, id, "accepted", NULL);
    push(c, id, "progress", NULL);
    {
        /* signed but malformed: counted, dropped */
        char sig[XO_SIG_B64_LEN + 1];
        xo_record_t bad = {xo_pool_partition(POOL, PARTS),
                           PARTS,
                           -1,
                           NULL,
                           0,
                           "{\"v\":1",
                           6,
                           sig,
                           XO_SIG_B64_LEN,
                           xo_key_id(agent[0]),
                           XO_KEY_ID_LEN};
        assert_int_equal(xo_sign(agent[0], "{\"v\":1", 6, sig), XO_OK);
        gw_commands_push_result(c, &bad);
    }
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 0);
    gw_buf_init(&task);
    assert_true(gw_commands_task_json(c, id, &task));
    assert_non_null(strstr(task.data, "\"status\":\"pending\""));
    assert_non_null(strstr(task.data, "\"state\":\"progress\""));
    assert_non_null(strstr(task.data, "\"progress\":50"));
    gw_buf_reset(&task);
    {
        /* a progress result naming its step: the task keeps the latest one */
        gw_cmd_task_t t;
        assert_true(gw_commands_task(c, id, &t));
        assert_null(t.step_json);
        push(c, id, "progress", ",\"result\":{\"step\":\"download\",\"uploaded\":0}");
        push(c, id, "progress", ",\"result\":{\"step\":\"upload\",\"uploaded\":7}");
        gw_commands_service(c, xo_now_ms(), id_of, NULL);
        assert_true(gw_commands_task(c, id, &t));
        assert_non_null(t.step_json);
        assert_non_null(strstr(t.step_json, "\"step\":\"upload\""));
        assert_non_null(strstr(t.step_json, "\"uploaded\":7"));
    }
    push(c, id, "success", ",\"result\":\"snap-uuid\"");
    push(c, id, "success", ",\"result\":\"other\""); /* a duplicate: ignored */
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 1);
    assert_true(cap.ok);
    assert_int_equal(cap.conn, 3);
    assert_string_equal(cap.result, "\"snap-uuid\"");
    assert_string_equal(cap.command_id, id);
    assert_true(gw_commands_task_json(c, id, &task));
    assert_non_null(strstr(task.data, "\"status\":\"success\""));
    assert_non_null(strstr(task.data, "\"result\":\"snap-uuid\""));
    assert_non_null(strstr(task.data, "\"method\":\"vm.snapshot\""));
    gw_buf_fini(&task);
    gw_commands_stats(c, &st);
    assert_int_equal(st.malformed, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.succeeded, 1);
    gw_commands_free(c);
}

static void test_failure_replayed_and_forgotten(void **state)
{
    gw_commands_t *c = new_bus(30000, 5000);
    char a[GW_CMD_ID_LEN + 1], b[GW_CMD_ID_LEN + 1];
    (void)state;

    submit(c, "vm.start", 1, a);
    push(c, a, "accepted", NULL);
    push(c, a, "rejected", ",\"error\":{\"code\":\"REPLAYED\"},\"reason\":\"seen\"");
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 0); /* the first accepted state is authoritative */
    push(c, a, "failure",
         ",\"error\":{\"code\":\"VM_BAD_POWER_STATE\",\"params\":[\"OpaqueRef:vm1\",\"halted\","
         "\"running\"]}");
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 1);
    assert_false(cap.ok);
    assert_int_equal(cap.err_code, 13);
    assert_string_equal(
        cap.err_data, "{\"objectId\":\"vm1-uuid\",\"expected\":\"halted\",\"actual\":\"running\"}");

    submit(c, "vm.pause", 9, b);
    gw_commands_forget_conn(c, 9); /* the client left */
    push(c, b, "success", ",\"result\":true");
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 1); /* nobody answered, the task is kept */
    gw_commands_free(c);
}

/* Only a result signed by a key trusted for the command's pool completes it: every forgery
 * is refused, counted by verdict, and leaves the command pending. */
static void test_forged_results_refused(void **state)
{
    gw_commands_t *c = new_bus(30000, 5000);
    char id[GW_CMD_ID_LEN + 1];
    gw_cmd_stats_t st;
    (void)state;

    submit(c, "vm.start", 4, id);
    push_as(c, POOL, 0, UNSIGNED, id, "success", ",\"result\":true");
    push_as(c, POOL, 0, BROKEN_SIG, id, "success", ",\"result\":true");
    push_as(c, POOL, 0, WRONG_PARTITION, id, "success", ",\"result\":true");
    push_as(c, POOL, 1, SIGNED, id, "success", ",\"result\":true");   /* B's key, A's pool */
    push_as(c, POOL_B, 1, SIGNED, id, "success", ",\"result\":true"); /* B's pool, A's command */
    push_as(c, POOL_B, 1, SIGNED, id, "failure",
            ",\"error\":{\"code\":\"VM_BAD_POWER_STATE\",\"params\":[]}");
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 0);
    gw_commands_stats(c, &st);
    assert_int_equal(st.refused[GW_RES_SIGNATURE_MISSING], 1);
    assert_int_equal(st.refused[GW_RES_SIGNATURE_INVALID], 1);
    assert_int_equal(st.refused[GW_RES_WRONG_PARTITION], 1);
    assert_int_equal(st.refused[GW_RES_KEY_NOT_FOR_POOL], 1);
    assert_int_equal(st.refused[GW_RES_WRONG_POOL], 2);
    assert_int_equal(st.succeeded + st.failed + st.rejected, 0);
    assert_int_equal(st.pending, 1);

    push(c, id, "success", ",\"result\":true"); /* the pool's own agent */
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 1);
    assert_true(cap.ok);
    gw_commands_free(c);
}

/* With a signing key, at least one agent key must be trusted, and each entry must load. */
static void test_new_needs_agent_keys(void **state)
{
    char spec[512], errstr[256];
    const char *bad[] = {
        NULL, "", " , ", "no-equals-sign", POOL "=", "=/x.pub", POOL "=/nonexistent/agent.pub",
        spec};
    gw_commands_t *c = NULL;
    (void)state;

    snprintf(spec, sizeof(spec), POOL "=%s", key_path); /* a private key is no public key */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gw_cmd_settings_t set = {key_path, 30000, 5000, bad[i], 0};
        errstr[0] = '\0';
        assert_int_equal(gw_commands_new(&set, NULL, NULL, PARTS, &c, errstr, sizeof(errstr)),
                         XO_ERR_CONFIG);
        assert_null(c);
        assert_true(errstr[0] != '\0');
    }
}

static void test_expiry_sweep(void **state)
{
    gw_commands_t *c = new_bus(1000, 500);
    char a[GW_CMD_ID_LEN + 1], b[GW_CMD_ID_LEN + 1];
    int64_t now = xo_now_ms();
    gw_buf_t task;
    (void)state;

    submit(c, "vm.start", 1, a);
    submit(c, "vm.stop", 2, b);
    push(c, b, "accepted", NULL);
    gw_commands_service(c, now + 1400, id_of, NULL); /* expired, but within the skew */
    assert_int_equal(cap.replies, 0);
    gw_commands_service(c, now + 2000, id_of, NULL);
    assert_int_equal(cap.replies, 2);
    assert_int_equal(cap.err_code, 21);
    assert_non_null(strstr(cap.err_data, "\"code\":\"COMMAND_TIMEOUT\""));
    assert_non_null(strstr(cap.err_data, "\"accepted\":true")); /* b was answered last */
    /* a late outcome changes nothing */
    push(c, a, "success", ",\"result\":true");
    gw_commands_service(c, now + 2100, id_of, NULL);
    assert_int_equal(cap.replies, 2);
    gw_buf_init(&task);
    assert_true(gw_commands_task_json(c, a, &task));
    assert_non_null(strstr(task.data, "\"state\":\"timeout\""));
    assert_non_null(strstr(task.data, "\"accepted\":false"));
    gw_buf_fini(&task);
    gw_commands_free(c);
}

/* A progress result proves the command runs: its deadline moves to now + timeout_ms. */
static void test_progress_extends_deadline(void **state)
{
    gw_commands_t *c = new_bus(1000, 500);
    char a[GW_CMD_ID_LEN + 1];
    int64_t now = xo_now_ms();
    (void)state;

    submit(c, "vm.exportTo", 1, a);
    push(c, a, "accepted", NULL);
    gw_commands_service(c, now + 1200, id_of, NULL);
    push(c, a, "progress", NULL);
    gw_commands_service(c, xo_now_ms() + 1400, id_of, NULL); /* past expires + skew: alive */
    assert_int_equal(cap.replies, 0);
    gw_commands_service(c, xo_now_ms() + 3000, id_of, NULL); /* silent since: timed out */
    assert_int_equal(cap.replies, 1);
    assert_non_null(strstr(cap.err_data, "\"code\":\"COMMAND_TIMEOUT\""));
    gw_commands_free(c);
}

/* A workflow step: the gateway is the waiter; its callback may submit the next command,
 * whose outcome answers the client; gw_commands_answer() ends a workflow early; freeing
 * the bus hands pending steps NULL so that they free their state. */
typedef struct {
    gw_commands_t *bus;
    int calls, nulls;
    bool ok;
    char result[64], next[GW_CMD_ID_LEN + 1];
} step_t;

static void step_then(void *opaque, const gw_cmd_reply_t *r)
{
    step_t *st = opaque;

    if (!r) {
        st->nulls++;
        return;
    }
    st->calls++;
    st->ok = r->ok;
    snprintf(st->result, sizeof(st->result), "%s", r->ok ? r->result_json : "");
    if (r->ok) /* the next step, answering the client (conn 9) */
        submit(st->bus, "vm.exportTo", 9, st->next);
}

static void test_workflow_waiter(void **state)
{
    gw_commands_t *c = new_bus(60000, 500);
    step_t st = {.bus = c};
    json_object *args = json_tokener_parse("{\"sr\":\"sr-1\"}");
    gw_cmd_req_t req = {"vm.importPrepare", args, POOL, "sr-1", "user-1", "a@b.c"};
    gw_cmd_waiter_t w = {.kind = GW_CMD_WAIT_CALL, .then = step_then, .then_opaque = &st};
    gw_cmd_reply_t early = {NULL, "", false, NULL, NULL};
    char first[GW_CMD_ID_LEN + 1], other[GW_CMD_ID_LEN + 1];
    gw_xo_err_t err;
    (void)state;

    gw_xo_err_init(&err);
    assert_int_equal(gw_commands_submit(c, &req, &w, first, &err), 0);
    push(c, first, "success", ",\"result\":{\"endpoint\":\"h:1\"}");
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(st.calls, 1);
    assert_true(st.ok);
    assert_string_equal(st.result, "{\"endpoint\":\"h:1\"}");
    assert_int_equal(cap.replies, 0); /* the client waits for the next step */
    push(c, st.next, "success", ",\"result\":\"new-vm\"");
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 1);
    assert_int_equal(cap.conn, 9);
    assert_string_equal(cap.result, "\"new-vm\"");
    /* an answer now, to a client waiter (a failed first step) */
    gw_xo_fail(&err, GW_ERR_OP_FAILED, "operation failed", NULL);
    early.err = &err;
    gw_cmd_waiter_t client = {GW_CMD_WAIT_WS, 5, "1", true, NULL, NULL};
    gw_commands_answer(c, &client, &early);
    assert_int_equal(cap.replies, 2);
    assert_int_equal(cap.conn, 5);
    assert_false(cap.ok);
    /* a step still pending when the bus goes: its callback gets NULL, once */
    assert_int_equal(gw_commands_submit(c, &req, &w, other, &err), 0);
    gw_commands_free(c);
    assert_int_equal(st.nulls, 1);
    assert_int_equal(st.calls, 1);
    gw_xo_err_fini(&err);
    json_object_put(args);
}

/* A copy across pools: the prepare goes to the destination pool (POOL_B), the export to
 * the source pool (POOL). Each step's outcome is believed only from its own pool's agent:
 * the other agent of the same workflow cannot complete it, with its key or with its pool
 * in the result. */
static void cross_step_then(void *opaque, const gw_cmd_reply_t *r)
{
    step_t *st = opaque;

    if (!r) {
        st->nulls++;
        return;
    }
    st->calls++;
    st->ok = r->ok;
    if (r->ok) /* the export, on the source pool, answering the client (conn 9) */
        submit_to(st->bus, "vm.exportTo", POOL, 9, st->next);
}

static void test_workflow_across_pools(void **state)
{
    gw_commands_t *c = new_bus(60000, 500);
    step_t st = {.bus = c};
    json_object *args = json_tokener_parse("{\"sr\":\"sr-b\"}");
    gw_cmd_req_t req = {"vm.importPrepare", args, POOL_B, "sr-b", "user-1", "a@b.c"};
    gw_cmd_waiter_t w = {.kind = GW_CMD_WAIT_CALL, .then = cross_step_then, .then_opaque = &st};
    const char *ok = ",\"result\":{\"endpoint\":\"h:1\"}";
    char prepare[GW_CMD_ID_LEN + 1];
    gw_cmd_stats_t stats;
    gw_xo_err_t err;
    (void)state;

    gw_xo_err_init(&err);
    assert_int_equal(gw_commands_submit(c, &req, &w, prepare, &err), 0);
    assert_string_equal(cap.pool, POOL_B);
    push_as(c, POOL, 0, SIGNED, prepare, "success", ok);   /* the source agent, its own pool */
    push_as(c, POOL_B, 0, SIGNED, prepare, "success", ok); /* the source agent's key */
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(st.calls, 0);
    gw_commands_stats(c, &stats);
    assert_int_equal(stats.refused[GW_RES_WRONG_POOL], 1);
    assert_int_equal(stats.refused[GW_RES_KEY_NOT_FOR_POOL], 1);

    push_as(c, POOL_B, 1, SIGNED, prepare, "success", ok); /* the destination agent */
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(st.calls, 1);
    assert_true(st.ok);
    assert_string_equal(cap.pool, POOL); /* the export went to the source pool */

    push_as(c, POOL_B, 1, SIGNED, st.next, "success", ",\"result\":\"new-vm\"");
    push_as(c, POOL, 1, SIGNED, st.next, "success", ",\"result\":\"new-vm\"");
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 0);
    gw_commands_stats(c, &stats);
    assert_int_equal(stats.refused[GW_RES_WRONG_POOL], 2);
    assert_int_equal(stats.refused[GW_RES_KEY_NOT_FOR_POOL], 2);

    push(c, st.next, "success", ",\"result\":\"new-vm\""); /* the source agent */
    gw_commands_service(c, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 1);
    assert_int_equal(cap.conn, 9);
    assert_true(cap.ok);
    assert_string_equal(cap.result, "\"new-vm\"");
    gw_commands_free(c);
    assert_int_equal(st.nulls, 0);
    gw_xo_err_fini(&err);
    json_object_put(args);
}

/* ---- vm.* through JSON-RPC ---- */

static json_object *rpc(gw_ctx_t *ctx, gw_session_t *s, const char *msg, bool *replied)
{
    gw_buf_t reply;
    json_object *o = NULL;
    gw_buf_init_pre(&reply, GW_MSG_PRE);
    gw_rpc_handle(ctx, s, msg, strlen(msg), &reply);
    *replied = reply.len > 0;
    if (reply.len)
        o = json_tokener_parse(reply.data);
    gw_buf_fini(&reply);
    return o;
}

static int err_code(json_object *o)
{
    json_object *e, *c;
    if (!o || !json_object_object_get_ex(o, "error", &e) ||
        !json_object_object_get_ex(e, "code", &c))
        return 9999;
    return json_object_get_int(c);
}

static void test_rpc_vm_methods(void **state)
{
    gw_ctx_t ctx;
    gw_session_t s;
    gw_user_t admin = {"id-admin", "admin@x", GW_PERM_ADMIN, ""};
    gw_user_t viewer = {"id-viewer", "viewer@x", GW_PERM_VIEWER, ""};
    json_object *snap = json_tokener_parse(
        "{\"uuid\":\"vm1-uuid\",\"name_label\":\"a\",\"power_state\":\"Halted\"}");
    char errstr[64];
    bool replied;
    json_object *o;
    (void)state;

    memset(&ctx, 0, sizeof(ctx));
    memset(&s, 0, sizeof(s));
    ctx.view = gw_view_new();
    ctx.commands = new_bus(30000, 5000);
    gw_view_apply_object(ctx.view, POOL, "vm", "OpaqueRef:vm1", snap, "{}", 2, errstr,
                         sizeof(errstr));
    json_object_put(snap);
    s.user = &viewer;
    s.conn = 42;

    o = rpc(&ctx, &s,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"vm.start\",\"params\":{\"id\":"
            "\"vm1-uuid\"}}",
            &replied);
    assert_int_equal(err_code(o), 2);
    json_object_put(o);
    s.user = &admin;
    o = rpc(&ctx, &s,
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"vm.start\",\"params\":{\"id\":"
            "\"nope\"}}",
            &replied);
    assert_int_equal(err_code(o), 1);
    json_object_put(o);
    o = rpc(&ctx, &s,
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"vm.stop\",\"params\":{\"id\":"
            "\"vm1-uuid\",\"forced\":true}}",
            &replied);
    assert_int_equal(err_code(o), 10);
    json_object_put(o);
    o = rpc(&ctx, &s,
            "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"vm.start\",\"params\":{\"id\":"
            "\"vm1-uuid\",\"force\":true}}",
            &replied);
    assert_int_equal(err_code(o), 0); /* force: true is not on the command bus */
    json_object_put(o);
    assert_int_equal(cap.sent, 0);
    /* a valid call: no reply now, one command sent with the JSON-RPC id kept */
    o = rpc(&ctx, &s,
            "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"vm.stop\",\"params\":{\"id\":"
            "\"vm1-uuid\",\"force\":true}}",
            &replied);
    assert_false(replied);
    assert_null(o);
    assert_int_equal(cap.sent, 1);
    assert_non_null(strstr(cap.value, "\"args\":{\"id\":\"vm1-uuid\",\"force\":true}"));
    {
        json_object *cmd = json_tokener_parse(cap.value);
        push(ctx.commands, xo_msg_str(cmd, "id"), "success", ",\"result\":true");
        json_object_put(cmd);
    }
    gw_commands_service(ctx.commands, xo_now_ms(), id_of, NULL);
    assert_int_equal(cap.replies, 1);
    assert_int_equal(cap.conn, 42);
    /* vm.start's host is passed on to the agent (VM.start_on there) */
    o = rpc(&ctx, &s,
            "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"vm.start\",\"params\":{\"id\":"
            "\"vm1-uuid\",\"host\":\"host-uuid\"}}",
            &replied);
    assert_null(o);
    assert_int_equal(cap.sent, 2);
    assert_non_null(strstr(cap.value, "\"op\":\"vm.start\""));
    assert_non_null(strstr(cap.value, "\"args\":{\"id\":\"vm1-uuid\",\"host\":\"host-uuid\"}"));
    gw_commands_free(ctx.commands);
    gw_view_free(ctx.view);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_bad_power_state),
        cmocka_unit_test(test_map_others),
        cmocka_unit_test(test_map_generic_and_rejected),
        cmocka_unit_test(test_submit_builds_signed_command),
        cmocka_unit_test(test_disabled_without_key),
        cmocka_unit_test(test_results_complete_once),
        cmocka_unit_test(test_failure_replayed_and_forgotten),
        cmocka_unit_test(test_forged_results_refused),
        cmocka_unit_test(test_new_needs_agent_keys),
        cmocka_unit_test(test_expiry_sweep),
        cmocka_unit_test(test_progress_extends_deadline),
        cmocka_unit_test(test_workflow_waiter),
        cmocka_unit_test(test_workflow_across_pools),
        cmocka_unit_test(test_rpc_vm_methods),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
