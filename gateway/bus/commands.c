/*
 * commands.c - the gateway side of the command bus (see commands.h): build and sign
 * commands, send them to the pool's partition of xo.commands, keep a bounded table of
 * commands by id, apply results handed over by the results feed (only those signed by
 * an agent key trusted for the command's pool), answer waiters, and time out what the
 * agents can no longer run. Must not block on Kafka nor touch a connection itself
 * (replies go through the reply callback).
 */
#include "bus/commands.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/result_feed.h"
#include "xo_log.h"
#include "xo_strmap.h"

#define MOD "commands"
/* The results feed keeps fetching this long after the last pending command ended: calls
 * often come in sequences (a client's next call, a workflow's next step), and a feed
 * turned on again pays an assignment and a first fetch in librdkafka. */
#define RESULTS_LINGER_MS 1000

/* One result waiting for the service thread (all owned). */
typedef struct rq {
    char id[65];
    char pool[64];
    char state[16];
    double progress;
    char *result_json; /* success */
    char *code;        /* failure/rejected */
    char *params_json; /* failure/rejected, or NULL */
    char *reason;
    struct rq *next;
} rq_t;

typedef struct {
    bool used, done, accepted;
    uint64_t seq;
    char id[GW_CMD_ID_LEN + 1];
    char pool[64];
    char op[24];
    char vm[GW_ID_MAX];
    char user[48];
    char *args_json;
    int64_t issued, expires, end, updated;
    int64_t deadline; /* expires, pushed later by progress results */
    uint64_t version; /* c->version at its last change (REST's ?watch) */
    char state[16];
    double progress;
    char *result_json; /* success */
    char *error_json;  /* {code, message, data} of the XO error */
    char *step_json;   /* the latest progress result naming a step (pool.installPatches) */
    gw_cmd_waiter_t waiter;
} entry_t;

struct gw_commands {
    xo_key_t *key;
    int64_t timeout_ms, skew_ms;
    xo_producer_t *prod;
    char topic[128];
    int32_t partitions;
    gw_cmd_send_fn send;
    void *send_opaque;
    gw_cmd_reply_cb reply;
    void *reply_opaque;
    void (*wake)(void *);
    void *wake_opaque;
    gw_result_trust_t *trust; /* agent keys trusted per pool (read-only once built) */
    gw_result_feed_t *feed;   /* xo.results, read while commands are pending (NULL: tests) */
    int64_t busy_ms;          /* last time a command was pending (service thread) */
    size_t max_result_bytes;
    pthread_mutex_t mu; /* guards the result queue, `malformed` and `refused` */
    rq_t *q_head, *q_tail;
    uint64_t malformed;
    uint64_t refused[GW_RES_VERDICT_COUNT]; /* by the feed thread's checks */
    entry_t *e;                             /* GW_CMD_MAX_TASKS slots */
    size_t nused;
    xo_strmap_t *by_id;
    uint64_t seq;
    uint64_t version; /* bumped by every change of a task */
    gw_cmd_stats_t st;
};

/* ---- pure helpers ---- */

xo_err_t gw_uuid4(char out[GW_CMD_ID_LEN + 1])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return XO_ERR_CRYPTO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, GW_CMD_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return XO_OK;
}

xo_err_t gw_cmd_encode(const xo_key_t *key, const xo_command_msg_t *m, char **value, size_t *len,
                       char sig[XO_SIG_B64_LEN + 1])
{
    char *v = xo_command_msg_encode(m, len);
    xo_err_t err;

    *value = NULL;
    if (!v)
        return XO_ERR_NOMEM;
    err = xo_sign(key, v, *len, sig);
    if (err != XO_OK) {
        free(v);
        return err;
    }
    *value = v;
    return XO_OK;
}

static const char *param_at(json_object *params, size_t i)
{
    json_object *v;
    if (!params || !json_object_is_type(params, json_type_array) ||
        i >= json_object_array_length(params))
        return NULL;
    v = json_object_array_get_idx(params, i);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The XO id of a ref given in an error, or the ref itself (as xo-server's getId). */
static const char *ref_id(json_object *params, size_t i, const char *cls, const char *pool,
                          gw_cmd_id_of_fn id_of, void *opaque)
{
    const char *ref = param_at(params, i), *id = NULL;
    if (ref && id_of)
        id = id_of(opaque, pool, cls, ref);
    return id ? id : ref;
}

/* data {"objectId": id, <k>: <v>...}: pairs of key, string value (NULL values omitted). */
static void data_obj(gw_buf_t *b, const char *object_id, const char *k1, const char *v1,
                     const char *k2, const char *v2)
{
    gw_jw_t w;
    gw_jw_init(&w, b);
    gw_jw_obj_begin(&w);
    if (object_id) {
        gw_jw_key(&w, "objectId");
        gw_jw_str(&w, object_id);
    }
    if (k1 && v1) {
        gw_jw_key(&w, k1);
        gw_jw_str(&w, v1);
    }
    if (k2 && v2) {
        gw_jw_key(&w, k2);
        gw_jw_str(&w, v2);
    }
    gw_jw_obj_end(&w);
}

static void set_err(gw_xo_err_t *err, int code, const char *message, gw_buf_t *data)
{
    gw_xo_fail(err, code, message, data && data->len ? data->data : NULL);
}

/* XAPI errors xo-server maps to its own codes; returns false for the others. */
static bool map_known(const char *code, json_object *params, const char *op, const char *pool,
                      gw_cmd_id_of_fn id_of, void *opaque, gw_xo_err_t *err, gw_buf_t *d)
{
    char msg[256];

    if (!strcmp(op, "vm.stop") &&
        (!strcmp(code, "VM_MISSING_PV_DRIVERS") || !strcmp(code, "VM_LACKS_FEATURE_SHUTDOWN"))) {
        /* vm.stop (clean) turns these into invalidParameters itself */
        set_err(err, GW_ERR_INVALID_PARAMS, "clean shutdown requires PV drivers", NULL);
        gw_buf_puts(&err->data, "{}");
        return true;
    }
    if (!strcmp(code, "VM_BAD_POWER_STATE")) {
        const char *expected = param_at(params, 1), *actual = param_at(params, 2);
        data_obj(d, ref_id(params, 0, "vm", pool, id_of, opaque), "expected", expected, "actual",
                 actual);
        snprintf(msg, sizeof(msg), "VM state is %s but should be %s", actual ? actual : "undefined",
                 expected ? expected : "undefined");
        set_err(err, GW_ERR_BAD_POWER, msg, d);
    } else if (!strcmp(code, "VM_IS_TEMPLATE")) {
        data_obj(d, NULL, NULL, NULL, NULL, NULL); /* xo-server passes no VM: {} */
        set_err(err, GW_ERR_IS_TEMPLATE, "VM is a template", d);
    } else if (!strcmp(code, "VM_MISSING_PV_DRIVERS")) {
        data_obj(d, ref_id(params, 0, "vm", pool, id_of, opaque), NULL, NULL, NULL, NULL);
        set_err(err, GW_ERR_PV_DRIVERS, "missing PV drivers", d);
    } else if (!strcmp(code, "VM_LACKS_FEATURE")) {
        data_obj(d, ref_id(params, 0, "vm", pool, id_of, opaque), NULL, NULL, NULL, NULL);
        set_err(err, GW_ERR_LACKS_FEATURE, "VM lacks feature ", d);
    } else if (!strcmp(code, "VM_LACKS_FEATURE_SHUTDOWN")) {
        data_obj(d, ref_id(params, 0, "vm", pool, id_of, opaque), "feature", "shutdown", NULL,
                 NULL);
        set_err(err, GW_ERR_LACKS_FEATURE, "VM lacks feature shutdown", d);
    } else if (!strcmp(code, "VDI_IN_USE")) {
        data_obj(d, ref_id(params, 0, "vdi", pool, id_of, opaque), "operation", param_at(params, 1),
                 NULL, NULL);
        set_err(err, GW_ERR_VDI_IN_USE, "VDI in use", d);
    } else if (!strcmp(code, "HOST_OFFLINE")) {
        data_obj(d, ref_id(params, 0, "host", pool, id_of, opaque), NULL, NULL, NULL, NULL);
        set_err(err, GW_ERR_HOST_OFFLINE, "host offline", d);
    } else if (!strcmp(code, "OPERATION_BLOCKED")) {
        data_obj(d, ref_id(params, 0, "vm", pool, id_of, opaque), "code", param_at(params, 1), NULL,
                 NULL);
        set_err(err, GW_ERR_OP_BLOCKED, "operation blocked", d);
    } else if (!strcmp(code, "NO_HOSTS_AVAILABLE")) {
        set_err(err, GW_ERR_NO_HOSTS, "no hosts available", NULL);
    } else if (!strcmp(code, "SESSION_AUTHENTICATION_FAILED")) {
        set_err(err, GW_ERR_AUTH_FAILED, "authentication failed", NULL);
    } else if (!strcmp(code, "HA_IS_ENABLED")) {
        /* the agent's refusal of pool.installPatches / rollingUpdate: xo-server's
         * incorrectState on the pool's ha_enabled */
        gw_buf_puts(d, "{\"actual\":true,\"expected\":false,\"object\":");
        gw_buf_json_str(d, pool);
        gw_buf_puts(d, ",\"property\":\"ha_enabled\"}");
        set_err(err, GW_ERR_INCORRECT_STATE, "incorrect state", d);
    } else if (!strcmp(code, "NOT_SUPPORTED_DURING_UPGRADE")) {
        set_err(err, 15, "not supported during upgrade", NULL);
    } else {
        return false;
    }
    return true;
}

/* Any other XAPI error: as xo-server, serialized for admins, opaque for others. */
static void map_generic(const char *code, json_object *params, bool admin, gw_xo_err_t *err,
                        gw_buf_t *d)
{
    gw_buf_t msg;
    gw_jw_t w;
    size_t n = params && json_object_is_type(params, json_type_array)
                   ? json_object_array_length(params)
                   : 0;

    if (!admin) {
        set_err(err, GW_ERR_UNKNOWN, "unknown error from the peer", NULL);
        return;
    }
    gw_buf_init(&msg);
    gw_buf_printf(&msg, "%s(", code); /* xen-api's XapiError message: CODE(p1, p2) */
    for (size_t i = 0; i < n; i++) {
        const char *p = param_at(params, i);
        gw_buf_printf(&msg, "%s%s", i ? ", " : "", p ? p : "");
    }
    gw_buf_putc(&msg, ')');
    gw_jw_init(&w, d);
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "code");
    gw_jw_str(&w, code);
    gw_jw_key(&w, "params");
    if (n) {
        const char *s = json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN);
        gw_jw_raw(&w, s, strlen(s));
    } else {
        gw_jw_raw(&w, "[]", 2);
    }
    gw_jw_obj_end(&w);
    set_err(err, GW_ERR_UNKNOWN, msg.data ? msg.data : code, d);
    gw_buf_fini(&msg);
}

void gw_cmd_map_error(const char *state, const char *code, json_object *params, const char *reason,
                      const char *op, const char *pool, const char *vm, bool admin,
                      gw_cmd_id_of_fn id_of, void *opaque, gw_xo_err_t *err)
{
    gw_buf_t d;

    gw_buf_init(&d);
    if (!code)
        code = "UNKNOWN";
    if (state && !strcmp(state, "rejected")) {
        /* the agent refused to run it: operationFailed with the reason code */
        data_obj(&d, vm, "code", code, "reason", reason ? reason : "");
        set_err(err, GW_ERR_OP_FAILED, "operation failed", &d);
    } else if (!map_known(code, params, op ? op : "", pool, id_of, opaque, err, &d)) {
        gw_buf_reset(&d);
        map_generic(code, params, admin, err, &d);
    }
    gw_buf_fini(&d);
}

/* ---- construction ---- */

static xo_err_t kafka_send(void *opaque, const char *pool, int32_t partition, const char *value,
                           size_t len, const char *sig_b64, const char *key_id, char *errstr,
                           size_t errstr_size)
{
    gw_commands_t *c = opaque;
    xo_kafka_header_t h[2] = {{XO_HDR_SIG, sig_b64, strlen(sig_b64)},
                              {XO_HDR_KEY, key_id, strlen(key_id)}};
    xo_err_t err = xo_producer_send(c->prod, c->topic, partition, pool, strlen(pool), value, len, h,
                                    2, errstr, errstr_size);
    xo_producer_poll(c->prod, 0);
    return err;
}

static xo_err_t open_kafka(gw_commands_t *c, const xo_config_t *cfg, const xo_topics_t *topics,
                           char *errstr, size_t errstr_size)
{
    static const char *const extra[] = {"linger.ms", "0", NULL}; /* a command is latency */
    xo_err_t err = xo_producer_new(cfg, extra, &c->prod, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    snprintf(c->topic, sizeof(c->topic), "%s", topics->commands);
    err = xo_kafka_partition_count(xo_producer_handle(c->prod), c->topic, 10000, &c->partitions,
                                   errstr, errstr_size);
    if (err != XO_OK)
        return err;
    c->send = kafka_send;
    c->send_opaque = c;
    return XO_OK;
}

/* Without a trusted agent key no result could be believed: every command would time out. */
static xo_err_t load_trust(gw_commands_t *c, const char *agent_keys, char *errstr,
                           size_t errstr_size)
{
    xo_err_t err = gw_result_trust_new(agent_keys, &c->trust, errstr, errstr_size);

    if (err == XO_OK && gw_result_trust_count(c->trust) == 0)
        err = xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                        "commands.private_key is set but commands.agent_keys lists no agent key: "
                        "no command result could be trusted");
    return err == XO_ERR_NOMEM ? err : err == XO_OK ? XO_OK : XO_ERR_CONFIG;
}

xo_err_t gw_commands_new(const gw_cmd_settings_t *set, const xo_config_t *cfg,
                         const xo_topics_t *topics, int32_t partitions, gw_commands_t **out,
                         char *errstr, size_t errstr_size)
{
    gw_commands_t *c = calloc(1, sizeof(*c));
    xo_err_t err = XO_ERR_NOMEM;

    *out = NULL;
    if (!c)
        return XO_ERR_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->timeout_ms = set->timeout_ms;
    c->skew_ms = set->skew_ms;
    c->partitions = partitions;
    c->e = calloc(GW_CMD_MAX_TASKS, sizeof(entry_t));
    c->by_id = xo_strmap_new();
    if (!c->e || !c->by_id)
        goto fail;
    c->max_result_bytes = set->max_result_bytes;
    if (set->private_key) {
        err = xo_key_load_private(set->private_key, &c->key, errstr, errstr_size);
        if (err != XO_OK)
            goto fail;
        err = load_trust(c, set->agent_keys, errstr, errstr_size);
        if (err != XO_OK)
            goto fail;
        if (cfg && topics) {
            err = open_kafka(c, cfg, topics, errstr, errstr_size);
            if (err != XO_OK)
                goto fail;
        }
    }
    *out = c;
    return XO_OK;
fail:
    gw_commands_free(c);
    return err;
}

static void rq_free(rq_t *r)
{
    free(r->result_json);
    free(r->code);
    free(r->params_json);
    free(r->reason);
    free(r);
}

static void entry_clear(entry_t *e)
{
    free(e->args_json);
    free(e->result_json);
    free(e->error_json);
    free(e->step_json);
    memset(e, 0, sizeof(*e));
}

void gw_commands_free(gw_commands_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nused; i++) /* workflows still waiting free their state */
        if (c->e[i].used && !c->e[i].done && c->e[i].waiter.kind == GW_CMD_WAIT_CALL)
            c->e[i].waiter.then(c->e[i].waiter.then_opaque, NULL);
    gw_commands_stop_results(c); /* first: its thread pushes results into this bus */
    xo_producer_free(c->prod, 2000);
    while (c->q_head) {
        rq_t *n = c->q_head->next;
        rq_free(c->q_head);
        c->q_head = n;
    }
    for (size_t i = 0; c->e && i < c->nused; i++)
        entry_clear(&c->e[i]);
    free(c->e);
    xo_strmap_free(c->by_id);
    xo_key_free(c->key);
    gw_result_trust_free(c->trust);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

bool gw_commands_enabled(const gw_commands_t *c)
{
    return c && c->key;
}

size_t gw_commands_pool_keys(const gw_commands_t *c, const char *pool, json_object *keys)
{
    return c ? gw_result_trust_pool_keys(c->trust, pool, keys) : 0;
}

void gw_commands_set_reply(gw_commands_t *c, gw_cmd_reply_cb cb, void *opaque)
{
    c->reply = cb;
    c->reply_opaque = opaque;
}

void gw_commands_set_wake(gw_commands_t *c, void (*wake)(void *), void *opaque)
{
    c->wake = wake;
    c->wake_opaque = opaque;
}

void gw_commands_set_send(gw_commands_t *c, gw_cmd_send_fn fn, void *opaque)
{
    c->send = fn;
    c->send_opaque = opaque;
}

static void feed_sink(void *opaque, const xo_record_t *rec)
{
    gw_commands_push_result(opaque, rec);
}

xo_err_t gw_commands_read_results(gw_commands_t *c, const xo_config_t *cfg,
                                  const xo_topics_t *topics, char *errstr, size_t errstr_size)
{
    if (!gw_commands_enabled(c) || c->feed)
        return XO_OK;
    return gw_result_feed_start(cfg, topics->results,
                                (int)xo_config_get_int(cfg, "commands.results_fetch_wait_ms"),
                                feed_sink, c, &c->feed, errstr, errstr_size);
}

void gw_commands_stop_results(gw_commands_t *c)
{
    if (c) {
        gw_result_feed_stop(c->feed);
        c->feed = NULL;
    }
}

/* Fetch results while a command is pending, and RESULTS_LINGER_MS after (service thread). */
static void listen_for_results(gw_commands_t *c, int64_t now)
{
    if (c->st.pending)
        c->busy_ms = now;
    gw_result_feed_listen(c->feed, c->busy_ms && now - c->busy_ms < RESULTS_LINGER_MS);
}

/* ---- the table ---- */

/* A free slot: a never-used one, else the oldest finished command. NULL when all pend. */
static entry_t *slot_take(gw_commands_t *c)
{
    entry_t *oldest = NULL;
    if (c->nused < GW_CMD_MAX_TASKS)
        return &c->e[c->nused++];
    for (size_t i = 0; i < GW_CMD_MAX_TASKS; i++) {
        if (!c->e[i].used)
            return &c->e[i]; /* forgotten (DELETE /rest/v0/tasks/<id>) */
        if (c->e[i].done && (!oldest || c->e[i].seq < oldest->seq))
            oldest = &c->e[i];
    }
    if (oldest) {
        xo_strmap_del(c->by_id, oldest->id);
        entry_clear(oldest);
    }
    return oldest;
}

static entry_t *lookup(gw_commands_t *c, const char *id)
{
    int64_t idx;
    if (!xo_strmap_get(c->by_id, id, &idx) || idx < 0 || (size_t)idx >= c->nused)
        return NULL;
    return c->e[idx].used ? &c->e[idx] : NULL;
}

/* A task changed: remember when, and in which version of the table. */
static void touch(gw_commands_t *c, entry_t *e, int64_t now)
{
    e->updated = now;
    e->version = ++c->version;
}

static void fill_entry(entry_t *e, const gw_cmd_req_t *req, const gw_cmd_waiter_t *w,
                       const char *id, int64_t issued, int64_t expires)
{
    json_object *shown = NULL, *v;
    const char *args;

    /* a ticket (a console's relay, a transfer's link) is a credential: the task hides it */
    if (json_object_object_get_ex(req->args, "ticket", &v) &&
        json_object_deep_copy(req->args, &shown, NULL) == 0)
        json_object_object_add(shown, "ticket", json_object_new_string("(hidden)"));
    args = json_object_to_json_string_ext(shown ? shown : req->args, JSON_C_TO_STRING_PLAIN);
    e->used = true;
    snprintf(e->id, sizeof(e->id), "%s", id);
    snprintf(e->pool, sizeof(e->pool), "%s", req->pool);
    snprintf(e->op, sizeof(e->op), "%s", req->op);
    snprintf(e->vm, sizeof(e->vm), "%s", req->vm);
    snprintf(e->user, sizeof(e->user), "%s", req->user);
    e->args_json = strdup(args ? args : "{}");
    json_object_put(shown);
    e->issued = issued;
    e->expires = expires;
    e->deadline = expires;
    snprintf(e->state, sizeof(e->state), "pending");
    if (w)
        e->waiter = *w;
}

int gw_commands_submit(gw_commands_t *c, const gw_cmd_req_t *req, const gw_cmd_waiter_t *w,
                       char id_out[GW_CMD_ID_LEN + 1], gw_xo_err_t *err)
{
    xo_command_msg_t m;
    char id[GW_CMD_ID_LEN + 1], sig[XO_SIG_B64_LEN + 1], errstr[256] = "";
    char *value = NULL;
    size_t len = 0;
    int64_t now = xo_now_ms();
    entry_t *e;
    int32_t part;

    if (!gw_commands_enabled(c))
        return gw_xo_fail(err, GW_ERR_NOT_IMPLEMENTED, "not implemented",
                          "{\"reason\":\"commands are disabled on this gateway (no "
                          "commands.private_key)\"}");
    part = xo_pool_partition(req->pool, c->partitions);
    if (part < 0 || !c->send || gw_uuid4(id) != XO_OK)
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "cannot issue the command", NULL);
    m = (xo_command_msg_t){id, req->pool, req->op, req->user, req->args, now, now + c->timeout_ms};
    if (gw_cmd_encode(c->key, &m, &value, &len, sig) != XO_OK)
        return gw_xo_fail(err, GW_ERR_UNKNOWN, "cannot sign the command", NULL);
    e = slot_take(c);
    if (!e) {
        free(value);
        return gw_xo_fail(err, GW_ERR_OP_FAILED, "operation failed",
                          "{\"code\":\"TOO_MANY_COMMANDS\",\"reason\":\"too many commands in "
                          "flight\"}");
    }
    if (c->send(c->send_opaque, req->pool, part, value, len, sig, xo_key_id(c->key), errstr,
                sizeof(errstr)) != XO_OK) {
        xo_warn(MOD, "event=command_send_failed id=%s op=%s pool=%s error=\"%s\"", id, req->op,
                req->pool, errstr);
        free(value);
        c->nused -= (e == &c->e[c->nused - 1] && !e->used); /* give a fresh slot back */
        return gw_xo_fail(err, GW_ERR_OP_FAILED, "operation failed",
                          "{\"code\":\"KAFKA_UNAVAILABLE\",\"reason\":\"the command could not "
                          "be queued to Kafka\"}");
    }
    free(value);
    fill_entry(e, req, w, id, m.issued, m.expires);
    e->seq = ++c->seq;
    touch(c, e, now);
    xo_strmap_set(c->by_id, id, e - c->e);
    c->st.submitted++;
    c->st.pending++;
    listen_for_results(c, now); /* before the agent can answer: the send only queued */
    snprintf(id_out, GW_CMD_ID_LEN + 1, "%s", id);
    xo_info(MOD,
            "event=command_sent id=%s op=%s pool=%s vm=%s user=\"%s\" partition=%d "
            "expires_in_ms=%lld",
            id, req->op, req->pool, req->vm, req->email ? req->email : req->user, (int)part,
            (long long)c->timeout_ms);
    return 0;
}

/* Complete a command: remember the outcome and answer its waiter. */
static void finish(gw_commands_t *c, entry_t *e, const char *state, const char *result_json,
                   const gw_xo_err_t *err, int64_t now)
{
    gw_cmd_reply_t r = {&e->waiter, e->id, err == NULL, result_json, err};

    e->done = true;
    e->end = now;
    touch(c, e, now);
    snprintf(e->state, sizeof(e->state), "%s", state);
    if (result_json) {
        e->result_json = strdup(result_json);
        e->progress = 1.0;
    }
    if (err) {
        gw_buf_t b;
        gw_buf_init(&b);
        gw_xo_err_write(&b, err);
        e->error_json = b.data; /* owned now */
    }
    c->st.pending--;
    xo_info(MOD, "event=command_done id=%s op=%s vm=%s state=%s ms=%lld", e->id, e->op, e->vm,
            state, (long long)(now - e->issued));
    if (e->waiter.kind == GW_CMD_WAIT_CALL) {
        gw_cmd_waiter_t w = e->waiter; /* the callback may submit, and so reuse this slot */
        e->waiter.kind = GW_CMD_WAIT_NONE;
        r.waiter = &w;
        w.then(w.then_opaque, &r);
        return;
    }
    if (e->waiter.kind != GW_CMD_WAIT_NONE && c->reply)
        c->reply(c->reply_opaque, &r);
    e->waiter.kind = GW_CMD_WAIT_NONE;
}

void gw_commands_answer(gw_commands_t *c, const gw_cmd_waiter_t *w, const gw_cmd_reply_t *r)
{
    gw_cmd_reply_t copy = *r;

    copy.waiter = w;
    if (w->kind == GW_CMD_WAIT_CALL)
        w->then(w->then_opaque, &copy);
    else if (w->kind != GW_CMD_WAIT_NONE && c->reply)
        c->reply(c->reply_opaque, &copy);
}

/* ---- results ---- */

static char *dup_json(json_object *o)
{
    const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
    return s ? strdup(s) : NULL;
}

static rq_t *rq_from(json_object *o)
{
    rq_t *r = calloc(1, sizeof(*r));
    json_object *v, *errobj;
    const char *id = xo_msg_str(o, "id"), *state = xo_msg_str(o, "state");
    const char *pool = xo_msg_str(o, "pool");

    if (!r || !id || !state || !pool || strlen(id) >= sizeof(r->id) ||
        strlen(state) >= sizeof(r->state) || strlen(pool) >= sizeof(r->pool)) {
        free(r);
        return NULL;
    }
    snprintf(r->id, sizeof(r->id), "%s", id);
    snprintf(r->pool, sizeof(r->pool), "%s", pool);
    snprintf(r->state, sizeof(r->state), "%s", state);
    if (json_object_object_get_ex(o, "progress", &v))
        r->progress = json_object_get_double(v);
    if (json_object_object_get_ex(o, "result", &v))
        r->result_json = dup_json(v);
    if (json_object_object_get_ex(o, "error", &errobj) &&
        json_object_is_type(errobj, json_type_object)) {
        if (json_object_object_get_ex(errobj, "code", &v) &&
            json_object_is_type(v, json_type_string))
            r->code = strdup(json_object_get_string(v));
        if (json_object_object_get_ex(errobj, "params", &v))
            r->params_json = dup_json(v);
    }
    if (json_object_object_get_ex(o, "reason", &v) && json_object_is_type(v, json_type_string))
        r->reason = strdup(json_object_get_string(v));
    return r;
}

/* Count a result that is not believed; log the first ones and then every 1000th. */
static void note_refused(gw_commands_t *c, const xo_record_t *rec, gw_res_verdict_t v,
                         const char *why)
{
    uint64_t n;

    pthread_mutex_lock(&c->mu);
    if (v == GW_RES_MALFORMED)
        n = ++c->malformed;
    else
        n = ++c->refused[v];
    pthread_mutex_unlock(&c->mu);
    if (n <= 20 || n % 1000 == 0)
        xo_warn(MOD,
                "event=result_refused reason=%s partition=%d offset=%lld key_id=\"%.*s\" "
                "count=%llu detail=\"%s\"",
                gw_res_verdict_name(v), (int)rec->partition, (long long)rec->offset,
                (int)(rec->key_id_len < 64 ? rec->key_id_len : 64), rec->key_id ? rec->key_id : "",
                (unsigned long long)n, why);
}

void gw_commands_push_result(gw_commands_t *c, const xo_record_t *rec)
{
    json_object *o = NULL;
    char why[160] = "";
    rq_t *r = NULL;
    bool was_empty;
    gw_res_verdict_t v = gw_result_check(c->trust, rec, c->max_result_bytes, &o, why, sizeof(why));

    if (v == GW_RES_OK) {
        r = rq_from(o);
        if (!r) {
            v = GW_RES_MALFORMED;
            snprintf(why, sizeof(why), "id, state or pool too long");
        }
    }
    json_object_put(o);
    if (v != GW_RES_OK) {
        note_refused(c, rec, v, why);
        return;
    }
    pthread_mutex_lock(&c->mu);
    was_empty = !c->q_head;
    if (c->q_tail)
        c->q_tail->next = r;
    else
        c->q_head = r;
    c->q_tail = r;
    pthread_mutex_unlock(&c->mu);
    if (was_empty && c->wake)
        c->wake(c->wake_opaque);
}

static void apply_failure(gw_commands_t *c, entry_t *e, const rq_t *r, gw_cmd_id_of_fn id_of,
                          void *opaque, int64_t now)
{
    gw_xo_err_t err;
    json_object *params = NULL;

    gw_xo_err_init(&err);
    if (r->params_json)
        params = json_tokener_parse(r->params_json);
    gw_cmd_map_error(r->state, r->code, params, r->reason, e->op, e->pool, e->vm, e->waiter.admin,
                     id_of, opaque, &err);
    if (!strcmp(r->state, "rejected"))
        c->st.rejected++;
    else
        c->st.failed++;
    finish(c, e, r->state, NULL, &err, now);
    json_object_put(params);
    gw_xo_err_fini(&err);
}

static void apply_result(gw_commands_t *c, const rq_t *r, gw_cmd_id_of_fn id_of, void *opaque,
                         int64_t now)
{
    entry_t *e = lookup(c, r->id);

    c->st.results++;
    if (!e || e->done)
        return; /* not ours, or already answered (late result, REPLAYED after a restart) */
    if (strcmp(r->pool, e->pool) != 0) {
        /* signed by a key trusted for another pool: that agent cannot speak for this one */
        c->st.refused[GW_RES_WRONG_POOL]++;
        xo_warn(MOD, "event=result_refused reason=%s id=%s pool=%s result_pool=\"%s\"",
                gw_res_verdict_name(GW_RES_WRONG_POOL), e->id, e->pool, r->pool);
        return;
    }
    if (!strcmp(r->state, "accepted")) {
        e->accepted = true;
        snprintf(e->state, sizeof(e->state), "accepted");
        touch(c, e, now);
    } else if (!strcmp(r->state, "progress")) {
        snprintf(e->state, sizeof(e->state), "progress");
        e->progress = r->progress;
        if (r->result_json && r->result_json[0] == '{') { /* the step: kept for the task */
            free(e->step_json);
            e->step_json = strdup(r->result_json);
        }
        if (e->deadline < now + c->timeout_ms) /* it runs: wait as long again (transfers) */
            e->deadline = now + c->timeout_ms;
        touch(c, e, now);
    } else if (!strcmp(r->state, "success")) {
        c->st.succeeded++;
        finish(c, e, "success", r->result_json ? r->result_json : "true", NULL, now);
    } else if (!strcmp(r->state, "failure")) {
        apply_failure(c, e, r, id_of, opaque, now);
    } else if (!strcmp(r->state, "rejected")) {
        /* the first accepted/terminal state is authoritative (docs/security.md) */
        if (!(e->accepted && r->code && !strcmp(r->code, "REPLAYED")))
            apply_failure(c, e, r, id_of, opaque, now);
    }
}

static void time_out(gw_commands_t *c, entry_t *e, int64_t now)
{
    gw_xo_err_t err;
    gw_buf_t d;
    gw_jw_t w;

    gw_xo_err_init(&err);
    gw_buf_init(&d);
    gw_jw_init(&w, &d);
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "objectId");
    gw_jw_str(&w, e->vm);
    gw_jw_key(&w, "code");
    gw_jw_str(&w, "COMMAND_TIMEOUT");
    gw_jw_key(&w, "commandId");
    gw_jw_str(&w, e->id);
    gw_jw_key(&w, "accepted");
    gw_jw_bool(&w, e->accepted);
    gw_jw_key(&w, "reason");
    gw_jw_str(&w, e->accepted ? "the agent accepted the command but its outcome did not arrive "
                                "before it expired; it may or may not have run"
                              : "the pool's agent did not answer before the command expired; "
                                "it will never run");
    gw_jw_obj_end(&w);
    gw_xo_fail(&err, GW_ERR_OP_FAILED, "operation failed", d.data);
    c->st.timed_out++;
    finish(c, e, "timeout", NULL, &err, now);
    gw_buf_fini(&d);
    gw_xo_err_fini(&err);
}

void gw_commands_service(gw_commands_t *c, int64_t now_ms, gw_cmd_id_of_fn id_of, void *opaque)
{
    rq_t *q;

    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    q = c->q_head;
    c->q_head = c->q_tail = NULL;
    c->st.malformed = c->malformed;
    for (int v = 0; v < GW_RES_VERDICT_COUNT; v++)
        if (v != GW_RES_WRONG_POOL) /* counted here, on the service thread */
            c->st.refused[v] = c->refused[v];
    pthread_mutex_unlock(&c->mu);
    while (q) {
        rq_t *next = q->next;
        apply_result(c, q, id_of, opaque, now_ms);
        rq_free(q);
        q = next;
    }
    for (size_t i = 0; c->st.pending && i < c->nused; i++) {
        entry_t *e = &c->e[i];
        if (e->used && !e->done && now_ms > e->deadline + c->skew_ms)
            time_out(c, e, now_ms);
    }
    listen_for_results(c, now_ms);
    if (c->prod)
        xo_producer_poll(c->prod, 0);
}

void gw_commands_forget_conn(gw_commands_t *c, uint64_t conn)
{
    for (size_t i = 0; c && conn && i < c->nused; i++)
        if (c->e[i].waiter.kind != GW_CMD_WAIT_NONE && c->e[i].waiter.conn == conn)
            c->e[i].waiter.kind = GW_CMD_WAIT_NONE;
}

static const char *task_status(const entry_t *e)
{
    if (!e->done)
        return "pending";
    return strcmp(e->state, "success") ? "failure" : "success";
}

bool gw_commands_task_json(gw_commands_t *c, const char *id, gw_buf_t *out)
{
    entry_t *e = c ? lookup(c, id) : NULL;
    gw_jw_t w;

    if (!e || !e->used)
        return false;
    gw_jw_init(&w, out);
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "id");
    gw_jw_str(&w, e->id);
    gw_jw_key(&w, "href");
    gw_jw_raw(&w, "", 0);
    gw_buf_printf(out, "\"/rest/v0/tasks/%s\"", e->id);
    gw_jw_key(&w, "properties");
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "name");
    gw_jw_str(&w, e->op);
    gw_jw_key(&w, "method");
    gw_jw_str(&w, e->op);
    gw_jw_key(&w, "objectId");
    gw_jw_str(&w, e->vm);
    gw_jw_key(&w, "params");
    gw_jw_raw(&w, e->args_json ? e->args_json : "{}", e->args_json ? strlen(e->args_json) : 2);
    gw_jw_key(&w, "userId");
    gw_jw_str(&w, e->user);
    gw_jw_key(&w, "pool");
    gw_jw_str(&w, e->pool);
    gw_jw_obj_end(&w);
    gw_jw_key(&w, "start");
    gw_jw_int(&w, e->issued);
    gw_jw_key(&w, "expires");
    gw_jw_int(&w, e->expires);
    if (e->done) {
        gw_jw_key(&w, "end");
        gw_jw_int(&w, e->end);
    }
    gw_jw_key(&w, "status");
    gw_jw_str(&w, task_status(e));
    gw_jw_key(&w, "state");
    gw_jw_str(&w, e->state);
    gw_jw_key(&w, "progress");
    gw_jw_double(&w, e->progress * 100.0);
    if (e->result_json) {
        gw_jw_key(&w, "result");
        gw_jw_raw(&w, e->result_json, strlen(e->result_json));
    }
    if (e->error_json) {
        gw_jw_key(&w, "error");
        gw_jw_raw(&w, e->error_json, strlen(e->error_json));
    }
    gw_jw_obj_end(&w);
    return true;
}

static void task_of(const entry_t *e, gw_cmd_task_t *t)
{
    t->id = e->id;
    t->op = e->op;
    t->object = e->vm;
    t->user = e->user;
    t->pool = e->pool;
    t->args_json = e->args_json;
    t->state = e->state;
    t->result_json = e->result_json;
    t->error_json = e->error_json;
    t->step_json = e->step_json;
    t->issued = e->issued;
    t->expires = e->expires;
    t->end = e->end;
    t->updated = e->updated;
    t->progress = e->progress;
    t->done = e->done;
    t->version = e->version;
}

bool gw_commands_task(gw_commands_t *c, const char *id, gw_cmd_task_t *out)
{
    entry_t *e = c ? lookup(c, id) : NULL;
    if (!e)
        return false;
    task_of(e, out);
    return true;
}

void gw_commands_foreach_task(gw_commands_t *c, bool (*cb)(void *opaque, const gw_cmd_task_t *t),
                              void *opaque)
{
    gw_cmd_task_t t;
    for (size_t i = 0; c && i < c->nused; i++) {
        if (!c->e[i].used)
            continue;
        task_of(&c->e[i], &t);
        if (!cb(opaque, &t))
            return;
    }
}

bool gw_commands_forget(gw_commands_t *c, const char *id)
{
    entry_t *e = c ? lookup(c, id) : NULL;
    if (!e || !e->done)
        return false;
    xo_strmap_del(c->by_id, e->id);
    entry_clear(e);
    c->version++;
    return true;
}

uint64_t gw_commands_version(const gw_commands_t *c)
{
    return c ? c->version : 0;
}

void gw_commands_stats(gw_commands_t *c, gw_cmd_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    if (c)
        *st = c->st;
    st->results_fetching = gw_result_feed_listening(c ? c->feed : NULL);
}
