/*
 * main.c - xo-agent: one per pool. Reads its configuration, logs in to the pool master and
 * keeps xo.objects equal to the pool's state (sync.c, event_follow.c) while the service
 * thread publishes heartbeats (heartbeat.c). Decides retries, resyncs and exit codes; the
 * modules below only report errors.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "command_exec.h"
#include "transfer.h"
#include "vm_refs.h"
#include "xo_cli.h"
#include "xo_log.h"
#include "xo_ops.h"
#include "xo_xmlrpc.h"

#define AGENT_MALLOC_ARENAS 4

static const xo_cfg_spec_t agent_spec[] = {
    {"agent.id", XO_CFG_STRING, NULL, 0, 0, false,
     "Agent id in heartbeats and results (default xo-agent@<hostname>)."},
    {"agent.heartbeat_ms", XO_CFG_INT, "5000", 100, 3600000, false,
     "Interval between heartbeats on the agents topic."},
    {"agent.kafka_wait_s", XO_CFG_INT, "0", 0, 86400, false,
     "At start, how long to wait for Kafka before exiting with code 6 (0: forever)."},
    {"agent.shutdown_flush_ms", XO_CFG_INT, "5000", 0, 600000, false,
     "How long a clean shutdown waits for Kafka to acknowledge what is queued."},
    {"agent.private_key", XO_CFG_STRING, NULL, 0, 0, false,
     "This agent's own Ed25519 private key (xo-agent keygen): signs every result it publishes "
     "on the results topic, so that gateways trusting its public key for its pool "
     "(commands.agent_keys) can tell its results from forged ones. Required when commands "
     "are enabled."},
    {"xapi.url", XO_CFG_STRING, NULL, 0, 0, true,
     "Pool master URL, https://host or http://host:port."},
    {"xapi.hosts", XO_CFG_STRING, "", 0, 0, false,
     "Comma-separated fallback host URLs or addresses tried when the master is unreachable."},
    {"xapi.user", XO_CFG_STRING, "root", 0, 0, false, "XAPI user name."},
    {"xapi.password", XO_CFG_SECRET, NULL, 0, 0, false,
     "XAPI password; set it through the environment (XO_AGENT_XAPI_PASSWORD) or password_file."},
    {"xapi.password_file", XO_CFG_STRING, NULL, 0, 0, false,
     "File whose first line is the XAPI password."},
    {"xapi.ca_file", XO_CFG_STRING, NULL, 0, 0, false, "PEM CA bundle to verify the hosts."},
    {"xapi.fingerprint", XO_CFG_STRING, NULL, 0, 0, false,
     "Pinned SHA-256 fingerprint (hex) of the master's TLS certificate."},
    {"xapi.insecure", XO_CFG_BOOL, "false", 0, 0, false,
     "Skip TLS verification (logged loudly; never in production)."},
    {"xapi.connect_timeout_ms", XO_CFG_INT, "10000", 100, 600000, false,
     "TCP+TLS connect timeout."},
    {"xapi.call_timeout_ms", XO_CFG_INT, "120000", 1000, 3600000, false,
     "Whole-call timeout of ordinary XAPI calls (a full dump included)."},
    {"xapi.event_timeout_s", XO_CFG_INT, "10", 1, 3600, false,
     "How long one event.from call waits for changes; also bounds shutdown latency."},
    {"xapi.xml_parser", XO_CFG_STRING, "fast", 0, 0, false,
     "XML parser of XAPI's XML-RPC answers: fast (the agent's own tokenizer for XML-RPC's "
     "subset of XML) or libxml2 (libxml2's SAX parser, the fallback should XAPI ever send "
     "XML the fast one refuses)."},
    {"xapi.backoff_min_ms", XO_CFG_INT, "500", 10, 600000, false, "First reconnect delay."},
    {"xapi.backoff_max_ms", XO_CFG_INT, "30000", 10, 3600000, false, "Reconnect delay cap."},
    {"topics.prefix", XO_CFG_STRING, "xo.", 0, 0, false, "Prefix of the contract's topics."},
    {"limits.kafka_buffer_mb", XO_CFG_INT, "256", 1, 65536, false,
     "Memory librdkafka may buffer while Kafka is unreachable; when full the agent stops "
     "reading XAPI and resyncs once Kafka is back."},
    {"limits.max_record_bytes", XO_CFG_INT, "900000", 10000, 100000000, false,
     "Largest object record; longer string fields of a larger record are truncated."},
    {"commands.enabled", XO_CFG_BOOL, NULL, 0, 0, false,
     "Execute signed commands from the commands topic (default: true when "
     "commands.public_keys is set)."},
    {"commands.public_keys", XO_CFG_STRING, NULL, 0, 0, false,
     "Comma-separated PEM files of the gateway public keys trusted to sign commands (several "
     "during a key rotation)."},
    {"commands.allowed_ops", XO_CFG_STRING, NULL, 0, 0, false,
     "Comma-separated ops this agent executes (default all; `xo-agent --help` lists them, "
     "docs/topics.md gives their arguments)."},
    {"commands.max_expiry_ms", XO_CFG_INT, "300000", 1000, 86400000, false,
     "Longest accepted command lifetime (expires - issued); also the replay window."},
    {"commands.clock_skew_ms", XO_CFG_INT, "5000", 0, 600000, false,
     "Clock difference allowed between gateway and agent when checking expiry."},
    {"commands.group_id", XO_CFG_STRING, NULL, 0, 0, false,
     "Consumer group of the committed command offsets (default xo-agent.<pool-uuid>)."},
    {"commands.fetch_wait_ms", XO_CFG_INT, "10", 1, 1000, false,
     "Longest wait of a fetch of the commands topic when it has nothing new. A Kafka broker "
     "answers as soon as a command arrives; the in-memory xo-kafka-dev broker waits this long, "
     "so there 1 takes about 5 ms off a command's latency, for ~1000 empty fetches a second."},
    {"commands.concurrency", XO_CFG_INT, "32", 1, 256, false,
     "Commands of the pool run at once, each on its own XAPI session; those on one object "
     "run one after another in arrival order. Also the most accepted commands not yet done. "
     "The default runs 100 commands sent at once in 4 rounds and stays far below the 200 "
     "tasks past which XAPI deletes ended ones (docs/security.md)."},
    {"console.enabled", XO_CFG_BOOL, "true", 0, 0, false,
     "Serve console.open: relay VM consoles to the gateway that asks (dialing it back)."},
    {"console.max_sessions", XO_CFG_INT, "200", 1, 100000, false,
     "Consoles this agent relays at once; more are refused (CONSOLE_LIMIT)."},
    {"console.follow", XO_CFG_BOOL, "true", 0, 0, false,
     "When a VM reboots or moves, resume its open consoles on the new console (the client "
     "sees one session); false: close them with a reason."},
    {"console.reattach_timeout_s", XO_CFG_INT, "120", 1, 3600, false,
     "How long a console waits for its VM's console to come back (reboot, migration) "
     "before it closes."},
    {"console.host_transport", XO_CFG_STRING, "auto", 0, 0, false,
     "How the host's console is opened: auto (WebSocket, else CONNECT), websocket, connect."},
    {"console.gateway_ca_file", XO_CFG_STRING, NULL, 0, 0, false,
     "PEM CA bundle that checks the gateway's certificate on wss:// relays (default: the "
     "system's)."},
    {"console.gateway_fingerprint", XO_CFG_STRING, NULL, 0, 0, false,
     "SHA-256 of the gateway's certificate (hex) to pin instead of a CA."},
    {"console.gateway_insecure", XO_CFG_BOOL, "false", 0, 0, false,
     "Do not check the gateway's certificate (tests only)."},
    {"transfer.listen", XO_CFG_STRING, NULL, 0, 0, false,
     "host:port where other agents deliver VM copies to this pool over TLS (port 0: any); "
     "unset: this agent takes no incoming transfer (docs/streaming.md)."},
    {"transfer.advertise", XO_CFG_STRING, NULL, 0, 0, false,
     "Host other agents dial for transfer.listen (default: its host)."},
    {"transfer.max_concurrent", XO_CFG_INT, "2", 1, 64, false,
     "VM exports this agent streams at once; more wait, reported as queued."},
    {"transfer.timeout_ms", XO_CFG_INT, "60000", 1000, 3600000, false,
     "Longest silence on a transfer's connections (host or link) before it fails."},
    {"transfer.link_zstd", XO_CFG_BOOL, "false", 0, 0, false,
     "Compress the link to other agents with zstd when the VM export itself is not "
     "compressed (a slow link between sites; costs CPU on both agents)."},
    {"transfer.ticket_ttl_ms", XO_CFG_INT, "600000", 1000, 86400000, false,
     "How long a prepared import waits for its source agent."},
    {"patches.catalog_url", XO_CFG_STRING,
     "https://updates.ops.xenserver.com/xenserver/updates.xml", 0, 0, false,
     "XenServer's patch catalogue (updates.xml), fetched by this agent over HTTPS."},
    {"patches.ca_file", XO_CFG_STRING, NULL, 0, 0, false,
     "PEM CA bundle to verify the catalogue and patch downloads (default: the system's)."},
    {"patches.catalog_timeout_ms", XO_CFG_INT, "30000", 1000, 600000, false,
     "Whole-download timeout of the catalogue."},
    {"patches.catalog_cache_s", XO_CFG_INT, "86400", 0, 604800, false,
     "How long the catalogue is kept once fetched (xo-server: a day); 0 fetches it for every "
     "listing and installation."},
    {"patches.list_debounce_s", XO_CFG_INT, "60", 0, 3600, false,
     "A host's missing patches asked again within this time get the same answer without asking "
     "the host or the catalogue (xo-server: a minute); an installation's end forgets them."},
    {"patches.check_interval_s", XO_CFG_INT, "0", 0, 604800, false,
     "Every this many seconds, check each host's missing patches and keep a summary on the "
     "host's record (other_config xo:missing_patches, the view's $missingPatches); an "
     "installation's end checks again at once. 0: never. At least 60 when set."},
    {"patches.watch_max_names", XO_CFG_INT, "100", 0, 1000, false,
     "At most this many patch names in a host's summary (the count is always whole)."},
    {"patches.stall_timeout_s", XO_CFG_INT, "120", 5, 3600, false,
     "A patch download that receives nothing for this long fails."},
    {"patches.task_timeout_s", XO_CFG_INT, "3600", 10, 86400, false,
     "Longest wait for one XAPI patch task (an upload, an apply) to end."},
    {"patches.reboot_timeout_s", XO_CFG_INT, "1800", 5, 86400, false,
     "Rolling update: longest wait for a rebooted host to come back enabled."},
    {"patches.busy_retries", XO_CFG_INT, "30", 0, 10000, false,
     "How many times a busy XCP-ng updater.py plugin is asked again before the command fails."},
    {"patches.busy_retry_ms", XO_CFG_INT, "2000", 10, 600000, false,
     "Pause between two attempts on a busy updater.py plugin."},
    XO_CFG_LOG_SPECS,
    {NULL, 0, NULL, 0, 0, false, NULL},
};

#define AGENT_SUMMARY                                                                              \
    "Follow one XAPI pool's events into Kafka (xo.objects, xo.agents) and execute signed "         \
    "commands."
#define AGENT_SUBCOMMANDS                                                                          \
    "Subcommands:\n"                                                                               \
    "  xo-agent keygen --out DIR\n"                                                                \
    "      write an Ed25519 key pair DIR/agent.key (0600) and DIR/agent.pub for\n"                 \
    "      agent.private_key; the gateways trust DIR/agent.pub for this agent's pool\n\n"
#define AGENT_EXIT_CODES                                                                           \
    "Exit codes: 0 clean stop, 1 failure, 2 usage, 3 configuration, 4 XAPI refused the\n"          \
    "credentials, 5 TLS verification failed, 6 Kafka unreachable for agent.kafka_wait_s "          \
    "at\nstart."

/* The subcommands, the exit codes, then the ops of the shared op table (xo_ops.h), so --help cannot
 * drift. */
static const char *usage_extra(char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s%s\n\nCommand ops (commands.allowed_ops):\n",
                                AGENT_SUBCOMMANDS, AGENT_EXIT_CODES);
    size_t len;

    if (n < size)
        xo_ops_help(buf + n, size - n);
    len = strlen(buf);
    if (len && buf[len - 1] == '\n')
        buf[len - 1] = '\0'; /* xo_cli ends the section itself */
    return buf;
}

static void on_signal(int sig)
{
    (void)sig;
    agent_stop = 1;
}

static xo_err_t load_password(agent_t *a, char *errstr, size_t errstr_size)
{
    const char *pw = xo_config_get(a->cfg, "xapi.password");
    const char *file = xo_config_get(a->cfg, "xapi.password_file");
    char line[1024];
    FILE *fp;

    if (pw) {
        a->password = strdup(pw);
        return a->password ? XO_OK : XO_ERR_NOMEM;
    }
    if (!file)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "no XAPI password: set XO_AGENT_XAPI_PASSWORD or xapi.password_file");
    fp = fopen(file, "r");
    if (!fp)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "xapi.password_file %s: %s", file,
                         strerror(errno));
    if (!fgets(line, sizeof(line), fp))
        line[0] = '\0';
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    a->password = strdup(line);
    return a->password ? XO_OK : XO_ERR_NOMEM;
}

static xo_err_t setup(agent_t *a, char *errstr, size_t errstr_size)
{
    char buf[32], host[64] = "localhost";
    const char *extra[] = {"queue.buffering.max.kbytes", buf, NULL};
    xo_xapi_opts_t opts = {
        .url = xo_config_get(a->cfg, "xapi.url"),
        .ca_file = xo_config_get(a->cfg, "xapi.ca_file"),
        .pin_sha256 = xo_config_get(a->cfg, "xapi.fingerprint"),
        .insecure = xo_config_get_bool(a->cfg, "xapi.insecure"),
        .connect_timeout_ms = xo_config_get_int(a->cfg, "xapi.connect_timeout_ms"),
        .timeout_ms = xo_config_get_int(a->cfg, "xapi.call_timeout_ms"),
    };
    const char *hosts = xo_config_get(a->cfg, "xapi.hosts");
    xo_xmlrpc_parser_t parser;
    xo_err_t err;

    if (xo_xmlrpc_parser_from_name(xo_config_get(a->cfg, "xapi.xml_parser"), &parser) != XO_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "xapi.xml_parser must be fast or libxml2");
    xo_xmlrpc_set_default_parser(parser); /* every XAPI connection's, before any exists */
    gethostname(host, sizeof(host) - 1);
    snprintf(a->id, sizeof(a->id), "%s",
             xo_config_get(a->cfg, "agent.id") ? xo_config_get(a->cfg, "agent.id") : "");
    if (!a->id[0])
        snprintf(a->id, sizeof(a->id), "xo-agent@%s", host);
    a->partition = -1;
    pthread_mutex_init(&a->status_lock, NULL);
    a->published = xo_strmap_new();
    a->class_counts = xo_strmap_new();
    a->ignored = xo_strmap_new();
    a->vm_refs = agent_vm_refs_new();
    if (!a->published || !a->class_counts || !a->ignored || !a->vm_refs)
        return XO_ERR_NOMEM;
    if (xo_topics_init(&a->topics, xo_config_get(a->cfg, "topics.prefix")) != XO_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "topics.prefix too long");
    err = load_password(a, errstr, errstr_size);
    if (err == XO_OK)
        err = xo_xapi_conn_new(&opts, &a->xapi, errstr, errstr_size);
    if (err != XO_OK)
        return err == XO_ERR_INVALID ? XO_ERR_CONFIG : err;
    xo_xapi_conn_set_abort(a->xapi, &agent_stop);
    agent_add_host(a, opts.url, false);
    while (hosts && *hosts) {
        char one[256];
        size_t n = strcspn(hosts, ", ");
        snprintf(one, sizeof(one), "%.*s", (int)(n < 255 ? n : 255), hosts);
        agent_add_host(a, one, false);
        hosts += n;
        hosts += strspn(hosts, ", ");
    }
    snprintf(buf, sizeof(buf), "%ld", xo_config_get_int(a->cfg, "limits.kafka_buffer_mb") * 1024);
    return xo_producer_new(a->cfg, extra, &a->producer, errstr, errstr_size);
}

/* The contract topics must exist; retry while Kafka is unreachable. */
static xo_err_t wait_for_kafka(agent_t *a)
{
    char errstr[512];
    long wait_s = xo_config_get_int(a->cfg, "agent.kafka_wait_s");
    int64_t deadline = xo_now_ms() + wait_s * 1000;

    for (int attempt = 0; !agent_stop && (wait_s == 0 || xo_now_ms() < deadline); attempt++) {
        xo_err_t err = xo_kafka_partition_count(xo_producer_handle(a->producer), a->topics.objects,
                                                5000, &a->n_partitions, errstr, sizeof(errstr));
        if (err == XO_OK)
            return XO_OK;
        xo_warn(AGENT_MOD, "event=kafka_unreachable reason=\"%s\" retry=%d", errstr, attempt);
        agent_sleep(agent_backoff_ms(a, attempt));
    }
    return XO_ERR_TIMEOUT;
}

static xo_err_t learn_pool(agent_t *a)
{
    char errstr[256];
    json_object *value = NULL;
    xo_err_t err =
        agent_call(a, "pool.get_all_records", NULL, 0, &value, NULL, errstr, sizeof(errstr));

    if (err != XO_OK)
        return err;
    err = XO_ERR_PARSE;
    json_object_object_foreach(value, ref, rec)
    {
        const char *uuid = xo_msg_str(rec, "uuid");
        (void)ref;
        if (uuid && strlen(uuid) < sizeof(a->pool_uuid)) {
            pthread_mutex_lock(&a->status_lock);
            snprintf(a->pool_uuid, sizeof(a->pool_uuid), "%s", uuid);
            a->partition = xo_pool_partition(uuid, a->n_partitions);
            a->status.changed = true;
            pthread_mutex_unlock(&a->status_lock);
            err = XO_OK;
            break;
        }
    }
    json_object_put(value);
    if (err == XO_OK)
        xo_info(AGENT_MOD, "event=pool pool=%s partition=%d", a->pool_uuid, (int)a->partition);
    return err;
}

/* Connect, sync, follow; on any failure decide between re-login and resync. */
static int run(agent_t *a)
{
    bool need_login = true;
    int failures = 0;

    while (!agent_stop) {
        xo_err_t err = XO_OK;
        if (need_login) {
            err = agent_connect(a);
            if (err == XO_ERR_CONFIG)
                return XO_EXIT_AUTH;
            if (err == XO_ERR_TLS)
                return XO_EXIT_TLS;
            if (err == XO_OK && !a->pool_uuid[0])
                err = learn_pool(a);
            if (err != XO_OK)
                continue;
            need_login = false;
        }
        err = agent_full_sync(a);
        if (err == XO_OK) {
            failures = 0;
            err = agent_follow(a);
        }
        if (agent_stop)
            break;
        /* XO_ERR_INVALID means "resync"; anything else means the session or link is gone. */
        need_login = err != XO_ERR_INVALID;
        if (err != XO_ERR_INVALID || failures > 0) {
            char why[128];
            snprintf(why, sizeof(why), "%s; reconnecting", xo_strerror(err));
            agent_set_state(a, AGENT_ERROR, why);
            agent_sleep(agent_backoff_ms(a, failures));
        }
        failures++;
    }
    return XO_EXIT_OK;
}

static void teardown(agent_t *a, pthread_t *service)
{
    if (a->xapi) {
        xo_xapi_conn_set_abort(a->xapi, NULL); /* the logout itself must not be aborted */
        agent_logout(a);
    }
    agent_set_state(a, AGENT_STOPPED, NULL);
    agent_stop = 1;
    if (service)
        pthread_join(*service, NULL);
    if (a->producer) {
        xo_producer_stats_t st;
        agent_publish_heartbeat(a);
        /* Undelivered records are not lost for good: the next start resyncs the pool. */
        if (xo_producer_flush(a->producer, xo_producer_brokers_down(a->producer)
                                               ? 500
                                               : (int)xo_config_get_int(
                                                     a->cfg, "agent.shutdown_flush_ms")) != XO_OK) {
            xo_producer_stats(a->producer, &st);
            xo_warn(AGENT_MOD, "event=shutdown_unflushed in_queue=%d", st.in_queue);
        }
        xo_producer_free(a->producer, 0);
    }
    xo_xapi_conn_free(a->xapi);
    xo_strmap_free(a->published);
    xo_strmap_free(a->class_counts);
    xo_strmap_free(a->ignored);
    agent_vm_refs_free(a->vm_refs);
    xo_jtext_fini(&a->record);
    if (a->password)
        memset(a->password, 0, strlen(a->password));
    free(a->password);
}

int main(int argc, char **argv)
{
    agent_t a = {0};
    xo_config_t *cfg;
    pthread_t service;
    bool service_started = false;
    agent_cmd_t *cmds = NULL;
    agent_transfer_t *transfer = NULL;
    char errstr[512], usage[4096];
    xo_cli_info_t cli = {"xo-agent", AGENT_SUMMARY, usage_extra(usage, sizeof(usage)), agent_spec,
                         "XO_AGENT"};
    int rc;

    if (argc > 1 && !strcmp(argv[1], "keygen"))
        return xo_cli_keygen("xo-agent", "agent", argc - 1, argv + 1);
    if (xo_cli_parse(&cli, argc, argv, &cfg, &rc) == XO_CLI_EXIT)
        return rc;
    a.cfg = cfg;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    /* glibc gives each new thread a malloc arena of its own, up to 8 per core, and an arena
     * keeps what was freed in it: with the command workers and librdkafka's threads, the
     * transfers' buffers ended up spread over more arenas and the agent's peak RSS grew by
     * 10 MiB more during a copy. A few arenas are enough for an agent's threads. */
    mallopt(M_ARENA_MAX, AGENT_MALLOC_ARENAS);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (setup(&a, errstr, sizeof(errstr)) != XO_OK ||
        agent_transfer_new(&a, &transfer, errstr, sizeof(errstr)) != XO_OK ||
        agent_commands_new(&a, &cmds, errstr, sizeof(errstr)) != XO_OK) {
        xo_error(AGENT_MOD, "event=startup_failed reason=\"%s\"", errstr);
        rc = XO_EXIT_CONFIG;
        goto out;
    }
    a.transfer = transfer; /* before any thread starts */
    xo_info(AGENT_MOD, "event=start agent=%s xapi=%s", a.id, xo_config_get(cfg, "xapi.url"));
    if (wait_for_kafka(&a) != XO_OK) {
        if (!agent_stop)
            xo_error(AGENT_MOD, "event=kafka_unreachable action=exit waited_s=%ld",
                     xo_config_get_int(cfg, "agent.kafka_wait_s"));
        rc = agent_stop ? XO_EXIT_OK : XO_EXIT_UNREACH;
        goto out;
    }
    service_started = agent_service_start(&a, &service) == XO_OK;
    agent_transfer_start(transfer);
    if (cmds)
        agent_commands_start(cmds);
    rc = run(&a);
out:
    agent_stop = 1;
    agent_commands_free(cmds);
    agent_transfer_free(transfer);
    teardown(&a, service_started ? &service : NULL);
    xo_info(AGENT_MOD, "event=stop exit=%d", rc);
    xo_config_free(cfg);
    return rc;
}
