/*
 * command_exec.c - the command thread: waits for the pool, rebuilds the replay window from
 * recent xo.results, consumes the pool's partition of xo.commands from the group's committed
 * offset, verifies each message, and for a valid one publishes `accepted`, commits, waits
 * for Kafka to acknowledge both, and only then executes (at most once; docs/security.md).
 * Must not touch the XAPI thread's connection or fields (only status under its lock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_int.h"
#include "xo_log.h"

/* ------------------------------------------------------------------ configuration */

static xo_err_t load_keys(agent_cmd_t *c, const char *list, char *errstr, size_t errstr_size)
{
    c->keys = xo_keyring_new();
    if (!c->keys)
        return XO_ERR_NOMEM;
    while (list && *list) {
        char path[1024];
        size_t n = strcspn(list, ",");
        xo_err_t err;

        snprintf(path, sizeof(path), "%.*s", (int)(n < 1023 ? n : 1023), list);
        list += n;
        list += strspn(list, ", ");
        if (!path[strspn(path, " ")])
            continue;
        err = xo_keyring_add_file(c->keys, path + strspn(path, " "), errstr, errstr_size);
        if (err != XO_OK)
            return XO_ERR_CONFIG;
    }
    return xo_keyring_count(c->keys)
               ? XO_OK
               : xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "commands.public_keys lists no key");
}

/* This agent's own key: every result it publishes is signed, so that gateways can tell its
 * results from those anyone with write access to the results topic could write. */
static xo_err_t load_sign_key(agent_cmd_t *c, char *errstr, size_t errstr_size)
{
    const char *path = xo_config_get(c->a->cfg, "agent.private_key");
    xo_err_t err;

    if (!path || !*path)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "commands need agent.private_key (xo-agent keygen) to sign their results");
    err = xo_key_load_private(path, &c->sign_key, errstr, errstr_size);
    return err == XO_OK || err == XO_ERR_NOMEM ? err : XO_ERR_CONFIG;
}

/* Every allowed op must have an executor (command_ops.c): refuse to start otherwise. */
static xo_err_t check_executors(unsigned allowed, char *errstr, size_t errstr_size)
{
    for (int op = 0; op < XO_OP_COUNT; op++)
        if ((allowed & (1u << op)) && !cmd_can_run((cmd_op_t)op))
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                             "commands.allowed_ops: this agent cannot run %s",
                             cmd_op_name((cmd_op_t)op));
    return XO_OK;
}

/* Results are small and few: no batching, and no zstd context. */
static const char *const results_unbatched[] = {"linger.ms", "0", "compression.codec", "none",
                                                NULL};

xo_err_t agent_commands_new(agent_t *a, agent_cmd_t **out, char *errstr, size_t errstr_size)
{
    const char *enabled = xo_config_get(a->cfg, "commands.enabled");
    const char *keys = xo_config_get(a->cfg, "commands.public_keys");
    const char *ops = xo_config_get(a->cfg, "commands.allowed_ops");
    bool has_keys = keys && keys[strspn(keys, ", ")];
    agent_cmd_t *c;
    xo_err_t err;

    *out = NULL;
    if (enabled ? !xo_config_get_bool(a->cfg, "commands.enabled") : !has_keys) {
        xo_info(CMD_MOD, "event=commands_disabled reason=\"%s\"",
                enabled ? "commands.enabled=false" : "no commands.public_keys");
        return XO_OK;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return XO_ERR_NOMEM;
    c->a = a;
    c->partition = -1;
    c->replay = cmd_replay_new();
    c->patch_worker = patch_worker_new();
    c->patch_watch = patch_watch_new();
    err = c->replay && c->patch_worker && c->patch_watch ? load_keys(c, keys, errstr, errstr_size)
                                                         : XO_ERR_NOMEM;
    if (err == XO_OK)
        err = load_sign_key(c, errstr, errstr_size);
    c->policy.allowed_ops = cmd_ops_all();
    if (err == XO_OK && ops)
        err = cmd_ops_mask(ops, &c->policy.allowed_ops, errstr, errstr_size);
    if (err == XO_OK)
        err = check_executors(c->policy.allowed_ops, errstr, errstr_size);
    if (err == XO_OK)
        err = cmd_open_xapi(c, errstr, errstr_size);
    if (err == XO_OK) /* a person waits for each result: no linger (objects keep theirs) */
        err = xo_producer_new(a->cfg, results_unbatched, &c->results, errstr, errstr_size);
    if (err == XO_OK)
        err = agent_console_new(a, cmd_console_report, c, &c->consoles, errstr, errstr_size);
    if (err != XO_OK) {
        agent_commands_free(c);
        return err;
    }
    c->policy.keys = c->keys;
    c->policy.pool = c->pool;
    c->policy.replay = c->replay;
    c->policy.max_expiry_ms = xo_config_get_int(a->cfg, "commands.max_expiry_ms");
    c->policy.skew_ms = xo_config_get_int(a->cfg, "commands.clock_skew_ms");
    c->concurrency = (int)xo_config_get_int(a->cfg, "commands.concurrency");
    xo_info(CMD_MOD,
            "event=commands_enabled keys=%zu result_key=%s max_expiry_ms=%lld skew_ms=%lld "
            "concurrency=%d",
            xo_keyring_count(c->keys), xo_key_id(c->sign_key), (long long)c->policy.max_expiry_ms,
            (long long)c->policy.skew_ms, c->concurrency);
    *out = c;
    return XO_OK;
}

/* ------------------------------------------------------------------ start-up */

static bool wait_for_pool(agent_cmd_t *c)
{
    while (agent_sleep(100)) {
        pthread_mutex_lock(&c->a->status_lock);
        c->partition = c->a->partition;
        snprintf(c->pool, sizeof(c->pool), "%s", c->a->pool_uuid);
        pthread_mutex_unlock(&c->a->status_lock);
        if (c->partition >= 0 && c->pool[0])
            return true;
    }
    return false;
}

/* Earliest offset of @p topic's pool partition with a timestamp >= ts_ms (END when none). */
static xo_err_t offset_for_time(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t ts_ms,
                                int64_t *offset)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t kerr;

    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = ts_ms;
    kerr = rd_kafka_offsets_for_times(rk, list, 10000);
    if (!kerr)
        kerr = list->elems[0].err;
    *offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    return kerr ? XO_ERR_KAFKA : XO_OK;
}

/* Timestamp of the record at @p offset, or -1. */
static int64_t record_ts(xo_consumer_t *k, const char *topic, int32_t partition, int64_t offset)
{
    char errstr[256];
    int64_t ts = -1, deadline = xo_now_ms() + 5000;

    if (xo_consumer_assign(k, topic, &partition, 1, offset, errstr, sizeof(errstr)) != XO_OK)
        return -1;
    while (ts < 0 && xo_now_ms() < deadline && !agent_stop) {
        rd_kafka_message_t *m = xo_consumer_poll(k, 200);
        if (m && !m->err && m->offset == offset)
            ts = rd_kafka_message_timestamp(m, NULL);
        if (m)
            rd_kafka_message_destroy(m);
    }
    /* assignments are incremental (xo_consumer_assign): give the partition back so that
     * read_back() can assign it again from the window's start */
    {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_error_t *e;
        rd_kafka_topic_partition_list_add(list, topic, partition);
        e = rd_kafka_incremental_unassign(xo_consumer_handle(k), list);
        if (e)
            rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(list);
    }
    return ts;
}

/* First offset of the window starting at @p since_ms. A broker that cannot look offsets up
 * by time (librdkafka's mock cluster answers -1) is detected by the last record's timestamp:
 * then the whole partition is scanned and the checks sort old records out. */
static xo_err_t window_start(xo_consumer_t *k, const char *topic, int32_t partition,
                             int64_t since_ms, int64_t *offset)
{
    int64_t lo = 0, hi = 0;
    xo_err_t err = xo_consumer_watermarks(k, topic, partition, &lo, &hi, 10000);

    *offset = hi;
    if (err != XO_OK || hi <= lo)
        return err;
    err = offset_for_time(xo_consumer_handle(k), topic, partition, since_ms, offset);
    if (err == XO_OK && *offset < 0)
        *offset = record_ts(k, topic, partition, hi - 1) >= since_ms ? lo : hi;
    return err;
}

/* A result of this pool in a state that proves the command passed verification. */
static void fold_result(agent_cmd_t *c, const rd_kafka_message_t *m, int64_t keep_ms)
{
    json_object *o = NULL;
    const char *state, *id;

    if (!m->payload || xo_msg_parse(XO_MSG_RESULT, m->payload, m->len, &o, NULL, 0) != XO_OK)
        return;
    state = xo_msg_str(o, "state");
    id = xo_msg_str(o, "id");
    if (strcmp(xo_msg_str(o, "pool"), c->pool) == 0 && id[0] && strcmp(state, "rejected") != 0)
        cmd_replay_add(c->replay, id, xo_msg_int(o, "ts", 0) + keep_ms);
    json_object_put(o);
}

/* Read back xo.results of the pool's partition over the replay window. */
static xo_err_t read_back(agent_cmd_t *c)
{
    int64_t keep = c->policy.max_expiry_ms + 2 * c->policy.skew_ms, from = -1, lo = 0, hi = 0;
    int64_t next = 0, deadline = xo_now_ms() + CMD_READBACK_MS;
    const char *topic = c->a->topics.results;
    char errstr[256];
    xo_consumer_t *k = NULL;
    xo_err_t err = xo_consumer_new(c->a->cfg, NULL, NULL, &k, errstr, sizeof(errstr));

    if (err == XO_OK)
        err = xo_consumer_watermarks(k, topic, c->partition, &lo, &hi, 10000);
    if (err == XO_OK)
        err = window_start(k, topic, c->partition, xo_now_ms() - keep, &from);
    if (err == XO_OK && from < hi)
        err = xo_consumer_assign(k, topic, &c->partition, 1, from, errstr, sizeof(errstr));
    next = from;
    while (err == XO_OK && next < hi) {
        rd_kafka_message_t *m = xo_consumer_poll(k, 200);
        if (agent_stop || xo_now_ms() > deadline)
            err = XO_ERR_TIMEOUT;
        if (m && !m->err) {
            fold_result(c, m, keep);
            next = m->offset + 1;
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    xo_consumer_free(k);
    xo_info(CMD_MOD, "event=results_read_back error=%s ids=%zu from=%lld to=%lld", xo_strerror(err),
            cmd_replay_count(c->replay), (long long)from, (long long)hi);
    return err;
}

/* Resume at the group's committed offset, or at the start of the replay window. */
static xo_err_t open_commands(agent_cmd_t *c)
{
    const char *topic = c->a->topics.commands;
    const char *group = xo_config_get(c->a->cfg, "commands.group_id");
    rd_kafka_topic_partition_list_t *list;
    char errstr[256], wait[24];
    /* Commands are few and a person waits for each: fetch without librdkafka's 500 ms wait
     * (a real broker answers a waiting fetch as soon as a command arrives; the in-memory
     * dev broker holds an empty one for the whole wait: commands.fetch_wait_ms) */
    const char *low_latency[] = {"fetch.wait.max.ms", wait, NULL};
    int64_t offset = RD_KAFKA_OFFSET_INVALID;
    xo_err_t err;

    snprintf(wait, sizeof(wait), "%lld",
             (long long)xo_config_get_int(c->a->cfg, "commands.fetch_wait_ms"));
    snprintf(c->group_id, sizeof(c->group_id), "%s", group ? group : "");
    if (!c->group_id[0])
        snprintf(c->group_id, sizeof(c->group_id), "xo-agent.%s", c->pool);
    err =
        xo_consumer_new(c->a->cfg, c->group_id, low_latency, &c->consumer, errstr, sizeof(errstr));
    if (err != XO_OK)
        return err;
    list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, c->partition);
    if (rd_kafka_committed(xo_consumer_handle(c->consumer), list, 10000) == 0)
        offset = list->elems[0].offset;
    else
        err = XO_ERR_KAFKA;
    rd_kafka_topic_partition_list_destroy(list);
    /* No committed offset: the commands still valid, else the end now (not a logical END
     * resolved later, which would skip commands written meanwhile). */
    if (err == XO_OK && offset < 0)
        err = window_start(c->consumer, topic, c->partition,
                           xo_now_ms() - c->policy.max_expiry_ms - c->policy.skew_ms, &offset);
    if (err == XO_OK)
        err = xo_consumer_assign(c->consumer, topic, &c->partition, 1, offset, errstr,
                                 sizeof(errstr));
    xo_info(CMD_MOD, "event=consuming topic=%s partition=%d group=%s offset=%lld error=%s", topic,
            (int)c->partition, c->group_id, (long long)offset, xo_strerror(err));
    if (err != XO_OK) {
        xo_consumer_free(c->consumer);
        c->consumer = NULL;
    }
    return err;
}

/* ------------------------------------------------------------------ one command */

/* The commands read in one go: each accepted one waits in it for the flush and commit
 * that make it runnable. */
typedef struct {
    cmd_t cmd[CMD_BATCH_MAX]; /* verified, `accepted` queued; owned until dispatched */
    int n;
    int64_t next;    /* offset to commit: the last message read + 1; -1: none read */
    int64_t give_up; /* the latest deadline of the accepted ones */
} batch_t;

static void reject_command(agent_cmd_t *c, const rd_kafka_message_t *m, const cmd_t *cmd,
                           cmd_verdict_t v, const char *reason)
{
    char id[CMD_ID_MAX + 1];

    if (cmd->id)
        snprintf(id, sizeof(id), "%s", cmd->id);
    else
        cmd_peek_id(m->payload, m->len, id, sizeof(id));
    xo_warn(CMD_MOD, "event=command_rejected id=%s offset=%lld code=%s reason=\"%s\"", id,
            (long long)m->offset, cmd_verdict_code(v), reason);
    cmd_publish(c, id, "rejected", 0, NULL, cmd_verdict_code(v), NULL, reason);
}

/* Verify one message: rejected at once, or `accepted` queued and the command kept in @p b. */
static void handle(agent_cmd_t *c, const rd_kafka_message_t *m, batch_t *b)
{
    const void *sig = NULL, *kid = NULL;
    size_t sig_len = 0, kid_len = 0;
    char reason[256];
    cmd_t *cmd = &b->cmd[b->n];
    cmd_verdict_t v;
    int64_t give_up;

    xo_kafka_header_get(m, XO_HDR_SIG, &sig, &sig_len);
    xo_kafka_header_get(m, XO_HDR_KEY, &kid, &kid_len);
    v = cmd_verify(&c->policy, m->payload, m->len, sig, sig_len, kid, kid_len, xo_now_ms(), cmd,
                   reason, sizeof(reason));
    b->next = m->offset + 1;
    if (v != CMD_OK) {
        reject_command(c, m, cmd, v, reason);
        cmd_fini(cmd);
        return;
    }
    xo_info(CMD_MOD, "event=command_accepted id=%s op=%s user=%s vm=%s", cmd->id,
            cmd_op_name(cmd->op), cmd->user, xo_msg_str(cmd->args, "id"));
    give_up = cmd->expires + c->policy.skew_ms;
    cmd_replay_add(c->replay, cmd->id, give_up);
    if (cmd_publish(c, cmd->id, "accepted", 0, NULL, NULL, NULL, NULL) != XO_OK) {
        xo_error(CMD_MOD, "event=command_not_run id=%s reason=\"accepted not queued\"", cmd->id);
        cmd_fini(cmd);
        return;
    }
    b->give_up = b->n++ ? (give_up > b->give_up ? give_up : b->give_up) : give_up;
}

/* Read up to @p room commands: the first waits up to 200 ms, the others are those already
 * fetched (a burst is accepted with one flush and one commit, not one each). */
static void read_batch(agent_cmd_t *c, batch_t *b, int room)
{
    int wait_ms = 200;

    while (b->n < room && b->n < CMD_BATCH_MAX && !agent_stop) {
        rd_kafka_message_t *m = xo_consumer_poll(c->consumer, wait_ms);
        if (!m)
            break;
        if (!m->err)
            handle(c, m, b);
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            xo_warn(CMD_MOD, "event=consume_error reason=\"%s\"", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        wait_ms = 0;
    }
}

/* The offset committed: the commit under way (NULL: it could not be sent, @p errstr says
 * why), then again until the batch's last deadline. False: run none of them. */
static bool commit_batch(agent_cmd_t *c, const batch_t *b, xo_commit_t *under_way, char *errstr,
                         size_t errstr_size)
{
    xo_err_t err = under_way ? xo_commit_wait(under_way, CMD_COMMIT_WAIT_MS, errstr, errstr_size)
                             : XO_ERR_KAFKA;

    while (err != XO_OK) {
        xo_warn(CMD_MOD, "event=commit_failed offset=%lld reason=\"%s\"", (long long)b->next,
                errstr);
        if (!b->n || !agent_sleep(200) || xo_now_ms() > b->give_up)
            return false;
        err = xo_consumer_commit(c->consumer, c->a->topics.commands, c->partition, b->next, errstr,
                                 errstr_size);
    }
    return true;
}

/* `accepted` acknowledged by Kafka and the offset committed: both before executing, so that
 * a crash at any point can never run a command twice. The two round trips overlap (the
 * commit is sent first, the flush waits meanwhile): neither runs anything, and nothing runs
 * until both are done. False: run none of them (the agent stops, or every one expired
 * first). */
static bool make_runnable(agent_cmd_t *c, const batch_t *b)
{
    char errstr[256];
    xo_commit_t *commit = xo_consumer_commit_start(c->consumer, c->a->topics.commands, c->partition,
                                                   b->next, errstr, sizeof(errstr));
    bool acknowledged = true;

    while (acknowledged && b->n && xo_producer_flush(c->results, 1000) != XO_OK)
        acknowledged = !agent_stop && xo_now_ms() <= b->give_up;
    return commit_batch(c, b, commit, errstr, sizeof(errstr)) && acknowledged;
}

/* Ops that hand the command to a thread of their own after a short check (console relays,
 * transfer and patch workers, which keep the command thread's context): run here, once the
 * object's earlier commands are done, as before there were workers. */
static bool hands_over(cmd_op_t op)
{
    return op == XO_OP_CONSOLE_OPEN || op == XO_OP_VM_EXPORT_TO ||
           op == XO_OP_POOL_INSTALL_PATCHES || op == XO_OP_POOL_ROLLING_UPDATE;
}

static void dispatch(agent_cmd_t *c, cmd_t *cmd)
{
    const char *object = xo_msg_str(cmd->args, "id");

    if (!hands_over(cmd->op)) {
        cmd_pool_submit(c->workers, cmd, xo_op_get(cmd->op)->targets ? object : NULL);
        return;
    }
    if (object)
        cmd_pool_wait_idle(c->workers, object);
    cmd_execute(c, cmd);
}

static void run_batch(agent_cmd_t *c, batch_t *b)
{
    bool ok = b->next >= 0 && make_runnable(c, b);

    for (int i = 0; i < b->n; i++) {
        cmd_t *cmd = &b->cmd[i];
        if (ok && xo_now_ms() <= cmd->expires + c->policy.skew_ms)
            dispatch(c, cmd);
        else
            xo_error(CMD_MOD,
                     "event=command_not_run id=%s reason=\"accepted not acknowledged or "
                     "offset not committed before expiry\"",
                     cmd->id);
        cmd_fini(cmd);
    }
}

/* ------------------------------------------------------------------ the thread */

/* Commands are read only when workers can take them: verified and accepted just before
 * they can start, as when commands ran one after another. */
static void consume(agent_cmd_t *c)
{
    int64_t last_evict = xo_now_ms();

    while (!agent_stop) {
        int room = cmd_pool_wait_room(c->workers, 200);
        batch_t b = {.n = 0, .next = -1};

        if (room > 0)
            read_batch(c, &b, room);
        run_batch(c, &b);
        xo_producer_poll(c->results, 0); /* the workers' delivery reports */
        if (xo_now_ms() - last_evict >= 1000) {
            cmd_replay_evict(c->replay, xo_now_ms());
            last_evict = xo_now_ms();
        }
        if (b.n == 0 && room >= c->concurrency) /* idle: the watch may check a host */
            patch_watch_tick(c, c->patch_watch);
    }
}

/* The results producer learns xo.results' metadata now, not when the first command waits
 * for its `accepted` (a first produce costs a metadata round trip and more). */
static void warm_results(agent_cmd_t *c)
{
    char errstr[256];
    int32_t n = 0;

    if (xo_kafka_partition_count(xo_producer_handle(c->results), c->a->topics.results, 10000, &n,
                                 errstr, sizeof(errstr)) != XO_OK)
        xo_warn(CMD_MOD, "event=results_metadata_failed reason=\"%s\"", errstr);
}

static void *cmd_main(void *arg)
{
    agent_cmd_t *c = arg;
    int attempt = 0;

    if (!wait_for_pool(c) || cmd_login(c) != XO_OK)
        return NULL;
    while (read_back(c) != XO_OK && agent_sleep(agent_backoff_ms(c->a, attempt++)))
        cmd_replay_evict(c->replay, INT64_MAX); /* start over: a partial read proves nothing */
    if (!agent_stop)
        patch_rolling_resume(c); /* before new commands: the unfinished one goes first */
    while (!agent_stop && open_commands(c) != XO_OK)
        agent_sleep(agent_backoff_ms(c->a, attempt++));
    if (!agent_stop)
        warm_results(c);
    if (!agent_stop)
        c->workers = cmd_pool_new(c, c->concurrency);
    if (!agent_stop && !c->workers)
        xo_error(CMD_MOD, "event=commands_stopped reason=\"no worker thread could start\"");
    else if (!agent_stop)
        consume(c);
    return NULL;
}

xo_err_t agent_commands_start(agent_cmd_t *c)
{
    if (c->consoles && agent_console_start(c->consoles) != XO_OK)
        return XO_ERR_NOMEM;
    if (pthread_create(&c->thread, NULL, cmd_main, c) != 0)
        return XO_ERR_NOMEM;
    c->started = true;
    return XO_OK;
}

void agent_commands_free(agent_cmd_t *c)
{
    if (!c)
        return;
    if (c->started)
        pthread_join(c->thread, NULL);
    cmd_pool_free(c->workers);       /* its workers hand nothing to the threads freed below */
    agent_console_free(c->consoles); /* after the command thread: nothing hands it more */
    patch_worker_free(c->patch_worker);
    patch_watch_free(c->patch_watch);
    patch_cache_free();
    agent_logout_conn(c->xapi, c->session);
    xo_consumer_free(c->consumer);
    if (c->results &&
        xo_producer_flush(c->results,
                          (int)xo_config_get_int(c->a->cfg, "agent.shutdown_flush_ms")) != XO_OK)
        xo_warn(CMD_MOD, "event=results_unflushed");
    xo_producer_free(c->results, 0);
    xo_xapi_conn_free(c->xapi);
    xo_keyring_free(c->keys);
    xo_key_free(c->sign_key);
    cmd_replay_free(c->replay);
    free(c);
}
