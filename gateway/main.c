/*
 * main.c - xo-gateway: the settings table, the command line (daemon, `keygen`,
 * `useradd`), start-up and shutdown. Wires view, consumer, notifier, users, metrics and
 * the HTTP/WebSocket server together; holds no logic of its own beyond that.
 * Secrets: passwords come from stdin or the environment, never argv, and are not logged.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/downloads.h"
#include "bus/commands.h"
#include "bus/token_log.h"
#include "gateway.h"
#include "transport/http_server.h"
#include "xo_alloc.h"
#include "xo_cli.h"
#include "xo_envelope.h"
#include "xo_kafka.h"
#include "xo_log.h"
#include "xo_sign.h"
#include "xo_topic_admin.h"
#include "xo_version.h"

#define MOD "main"

static const xo_cfg_spec_t SPEC[] = {
    {"http.address", XO_CFG_STRING, "127.0.0.1", 0, 0, false,
     "Address the HTTP/WebSocket listener binds (IPv4)."},
    {"http.port", XO_CFG_INT, "8080", 0, 65535, false,
     "Port of the listener: WebSocket JSON-RPC at /api/, REST at /rest/v0, /healthz, /metrics."},
    {"http.tls_cert", XO_CFG_STRING, NULL, 0, 0, false,
     "PEM certificate (chain) to serve HTTPS/WSS; plain HTTP when unset."},
    {"http.tls_key", XO_CFG_STRING, NULL, 0, 0, false, "PEM private key of http.tls_cert."},
    {"http.session_thread", XO_CFG_BOOL, "true", 0, 0, false,
     "Serve the JSON-RPC WebSocket sessions (/api/) and their notification fan-out on a "
     "thread of their own, apart from REST, /healthz, /metrics, files and consoles, so that "
     "these are answered while thousands of clients are fed (plain HTTP only: with "
     "http.tls_cert one thread serves everything)."},
    {"http.webui_dir", XO_CFG_STRING, NULL, 0, 0, false,
     "Directory of the web UI's files, served at / (docs/webui.md); unset: "
     "../share/xo-fleet/webui from the executable's directory (where both the build tree and "
     "an installed tree have it); none found: / answers 404 and a warning is logged."},
    {"users.file", XO_CFG_STRING, NULL, 0, 0, false,
     "Users file (xo-gateway useradd), read again when it changes; unset: one demo account "
     "admin@admin.net / admin."},
    {"users.cache_ttl", XO_CFG_INT, "60", 0, 3600, false,
     "Seconds a password that verified is remembered (as a keyed hash, in memory), so that "
     "HTTP Basic costs one PBKDF2 per credential and period instead of one per request; 0 "
     "turns the cache off. Failures are never cached; a users file change empties it."},
    {"users.cache_entries", XO_CFG_INT, "1024", 0, 1000000, false,
     "Credentials that cache holds at most (the oldest of a set is replaced); 0 turns it off."},
    {"tokens.ttl", XO_CFG_INT, "2592000", 60, 31536000, false,
     "Default lifetime in seconds of tokens from token.create."},
    {"tokens.private_key", XO_CFG_STRING, NULL, 0, 0, false,
     "Ed25519 private key (xo-gateway keygen) that signs the records of the tokens topic, so "
     "that a token works on every gateway and survives restarts; default: "
     "commands.private_key. With neither, tokens stay in this gateway's memory."},
    {"tokens.public_keys", XO_CFG_STRING, NULL, 0, 0, false,
     "Comma-separated public keys of other gateways whose token records are trusted (when "
     "they sign with another key than this one's, e.g. during a rotation)."},
    {"topics.prefix", XO_CFG_STRING, "xo.", 0, 0, false, "Prefix of the contract's topic names."},
    {"topics.manage", XO_CFG_STRING, "create", 0, 0, false,
     "At start: create (missing contract topics are created with the contract's "
     "configuration, then all are checked), check (only check: a missing topic is an error), "
     "or off. A partition count that differs between topics stops the gateway; a "
     "non-compacted objects topic is a warning and a /healthz reason."},
    {"topics.partitions", XO_CFG_INT, "12", 1, 10000, false,
     "Partitions of the topics created when none exists yet (otherwise the existing "
     "topics' count). Pick it for the estate's future size: it cannot change without "
     "moving pools."},
    {"topics.replication", XO_CFG_INT, "3", -1, 32, false,
     "Replication factor of the topics created; -1: the brokers' default."},
    {"topics.commands_retention_ms", XO_CFG_INT, "3600000", 60000, 31536000000L, false,
     "retention.ms of the commands topic when created."},
    {"topics.results_retention_ms", XO_CFG_INT, "604800000", 60000, 31536000000L, false,
     "retention.ms of the results topic when created."},
    {"topics.tokens_retention_ms", XO_CFG_INT, "31622400000", 86400000, 315360000000L, false,
     "retention.ms of the tokens topic when created (compact,delete: a token's record goes "
     "after this time; at least the longest token life, 365 days)."},
    {"topics.admin_timeout_ms", XO_CFG_INT, "10000", 500, 600000, false,
     "Time given to each Kafka Admin API request (metadata, CreateTopics, "
     "DescribeConfigs)."},
    {"commands.private_key", XO_CFG_STRING, NULL, 0, 0, false,
     "Ed25519 private key (xo-gateway keygen) that signs the commands of the vm.* actions; "
     "unset: actions are disabled (they answer an error)."},
    {"commands.timeout_ms", XO_CFG_INT, "30000", 1000, 3600000, false,
     "Lifetime of a command (expires - issued); must not exceed the agents' "
     "commands.max_expiry_ms. A call whose outcome has not arrived by then (plus "
     "commands.clock_skew_ms) answers a timeout error, and no agent will run it later."},
    {"commands.clock_skew_ms", XO_CFG_INT, "5000", 0, 600000, false,
     "Clock difference tolerated by the agents (their commands.clock_skew_ms): the timeout "
     "answer waits for expires + this, when no agent can accept the command any more."},
    {"view.fetch_wait_ms", XO_CFG_INT, "10", 1, 1000, false,
     "Longest wait of a fetch of the objects topics when they have nothing new. A Kafka "
     "broker answers a waiting fetch as soon as a record arrives; the in-memory "
     "xo-kafka-dev broker holds an empty one this long, so there a change waits for it "
     "(half of it on average) before the gateway sees it: 1 takes about 4 ms off each "
     "notification, for ~1000 empty fetches a second while idle."},
    {"commands.results_fetch_wait_ms", XO_CFG_INT, "1", 1, 1000, false,
     "Longest wait of a fetch of the results topic when it has nothing new. The gateway "
     "fetches results only while a command is pending (and 1 s after), so short waits cost "
     "nothing when idle. A Kafka broker answers as soon as a result arrives; the in-memory "
     "xo-kafka-dev broker holds an empty fetch this long, so there it adds up to this much "
     "to each call's answer."},
    {"health.stale_heartbeats", XO_CFG_INT, "3", 2, 1000, false,
     "A pool's agent is late, and /healthz degraded, when its last heartbeat is older than "
     "this many of the heartbeat intervals it announces (5 s for agents that announce none)."},
    {"commands.agent_keys", XO_CFG_STRING, NULL, 0, 0, false,
     "Agent public keys trusted to sign command results, as comma-separated POOL=PEM-FILE "
     "entries (the agent's agent.private_key pair; several per pool during a rotation). A "
     "result not signed by a key listed for its pool is refused and counted. Required when "
     "commands.private_key is set."},
    {"limits.max_frame_bytes", XO_CFG_INT, "1048576", 1024, 268435456, false,
     "Largest WebSocket message accepted from a client; a bigger one closes the connection "
     "(1009)."},
    {"limits.max_clients", XO_CFG_INT, "10000", 1, 1000000, false,
     "Simultaneous WebSocket clients; more are refused at the upgrade."},
    {"limits.client_queue_bytes", XO_CFG_INT, "67108864", 65536, 4294967296L, false,
     "Bytes queued to one connection and not yet taken by its client: JSON-RPC answers, "
     "notifications, REST responses, console streams (one answer always fits an empty "
     "queue, whatever its size). A WebSocket client that would pass it is disconnected at "
     "once and counted (xo_gateway_clients_dropped_total); a console's stream pauses its "
     "source instead, at most 1 MiB per connection."},
    {"limits.max_http_body", XO_CFG_INT, "268435456", 65536, 4294967296L, false,
     "Largest REST response built; bigger answers get 413 (use limit or filter)."},
    {"limits.max_record_bytes", XO_CFG_INT, "1048576", 10000, 16777216, false,
     "Largest record value read from the objects, agents and results topics; a larger one is "
     "refused and counted. Keep it above the agents' limits.max_record_bytes."},
    {"limits.max_field_bytes", XO_CFG_INT, "65536", 4096, 16777216, false,
     "Longest string in an object record; a longer one is cut to its first 1 KiB and "
     "\"...[truncated N bytes]\", as the agents cut them, and counted."},
    {"limits.max_calls_in_flight", XO_CFG_INT, "32", 1, 100000, false,
     "JSON-RPC calls of one WebSocket connection not answered yet (waiting for their "
     "command's outcome, or their answer not yet taken by the client). At the limit the "
     "gateway stops reading that connection until one is answered: the next call waits, it "
     "is not refused."},
    {"limits.max_url_bytes", XO_CFG_INT, "8192", 256, 65000, false,
     "Longest request target (path and query, percent-decoded); longer: 414 URI Too Long."},
    {"limits.max_header_bytes", XO_CFG_INT, "16384", 1024, 262144, false,
     "Longest request header section, counted over the headers libwebsockets knows by name "
     "(every standard one); longer: 431 Request Header Fields Too Large. Headers that "
     "overflow its parsing table (limits.max_url_bytes + 4 times this) close the connection "
     "without an answer: libwebsockets 4.1 cannot parse further."},
    {"timeouts.headers_s", XO_CFG_INT, "10", 1, 3600, false,
     "Seconds from a connection's accept to the end of its request headers (a TLS handshake "
     "included), and for each request's headers from their first byte; slower: closed."},
    {"timeouts.body_s", XO_CFG_INT, "30", 1, 3600, false,
     "Seconds from the end of a request's headers to the end of its body; slower: 408 "
     "Request Timeout, closed."},
    {"timeouts.keepalive_s", XO_CFG_INT, "30", 1, 3600, false,
     "Seconds an HTTP keep-alive connection may stay idle between two requests."},
    {"timeouts.signin_s", XO_CFG_INT, "30", 1, 3600, false,
     "Seconds a JSON-RPC WebSocket connection has to sign in after its upgrade or its "
     "sign-out; later: closed (1008). Consoles are signed in by their cookie at the upgrade."},
    {"timeouts.send_s", XO_CFG_INT, "60", 1, 3600, false,
     "Seconds a connection with bytes waiting for its client may go without the client "
     "taking any (a console's browser or agent relay too); then closed at once and counted."},
    {"console.relay_url", XO_CFG_STRING, NULL, 0, 0, false,
     "Base URL agents dial back for consoles (ws://host:port/api/console-relay/, wss:// "
     "with TLS); unset: this listener's http.address and port (127.0.0.1 for 0.0.0.0)."},
    {"console.ticket_ttl_ms", XO_CFG_INT, "30000", 1000, 600000, false,
     "How long a console's single-use relay ticket is valid: the agent must dial back "
     "within this time, or the browser's console closes (4503)."},
    {"console.max_total", XO_CFG_INT, "1000", 1, 100000, false,
     "Consoles open at once on this gateway; more are refused at the upgrade (503)."},
    {"console.max_per_user", XO_CFG_INT, "20", 1, 100000, false,
     "Consoles one user may have open at once; more are refused at the upgrade (429)."},
    {"console.idle_timeout_s", XO_CFG_INT, "3600", 0, 604800, false,
     "A console with no input from its browser for this long is closed (4408); 0: never."},
    {"console.agent_stale_ms", XO_CFG_INT, "30000", 1000, 3600000, false,
     "A pool whose last agent heartbeat is older than this (or not live) has its consoles "
     "refused at the upgrade (503)."},
    XO_CFG_LOG_SPECS,
    {NULL, 0, NULL, 0, 0, false, NULL}};

static const char SUBCOMMANDS[] =
    "Subcommands:\n"
    "  xo-gateway topics [--create] [--config FILE]\n"
    "      check the contract's topics on the configured Kafka (partition counts,\n"
    "      compaction, retention, replication) and, with --create, create the missing ones\n"
    "      first; prints one line per finding; exit 0 (no error), 3 (an error), 6\n"
    "      (Kafka unreachable or the topics could not be created)\n"
    "  xo-gateway keygen --out DIR\n"
    "      write an Ed25519 key pair DIR/gateway.key (0600) and DIR/gateway.pub for\n"
    "      commands.private_key\n"
    "  xo-gateway useradd --users FILE --email EMAIL --permission admin|viewer\n"
    "      add or replace a user; the password is read from $XO_GATEWAY_PASSWORD or the\n"
    "      first line of standard input (never from the command line)";

static volatile sig_atomic_t g_stop;
static gw_http_t *g_http;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    if (g_http)
        gw_http_stop(g_http);
}

/* Tokens shared through the tokens topic: users.c publishes and receives through these. */
static void publish_token(void *tl, const unsigned char digest[32], const char *user_id,
                          int64_t issued_ms, int64_t expires_ms)
{
    gw_token_log_publish(tl, digest, user_id, issued_ms, expires_ms);
}

static void apply_token(void *users, const unsigned char digest[32], const char *user_id,
                        int64_t expires_ms)
{
    gw_tokens_apply(users, digest, user_id, expires_ms, xo_now_ms());
}

static void receive_tokens(void *tl, gw_users_t *users)
{
    gw_token_log_drain(tl, apply_token, users);
}

static xo_err_t share_tokens(const xo_config_t *cfg, const xo_topics_t *topics, gw_users_t *users,
                             gw_token_log_t **out, char *errstr, size_t errstr_size)
{
    const char *key = xo_config_get(cfg, "tokens.private_key");
    gw_token_log_settings_t s = {key ? key : xo_config_get(cfg, "commands.private_key"),
                                 xo_config_get(cfg, "tokens.public_keys")};
    xo_err_t err = gw_token_log_new(&s, cfg, topics, out, errstr, errstr_size);

    if (err != XO_OK)
        return err;
    if (!gw_token_log_enabled(*out)) {
        xo_warn(MOD, "event=tokens_local note=\"neither tokens.private_key nor "
                     "commands.private_key is set: tokens work on this gateway only and a "
                     "restart signs them out\"");
        return XO_OK;
    }
    gw_users_share_tokens(users, &(gw_token_share_t){publish_token, receive_tokens, *out});
    xo_info(MOD, "event=tokens_shared topic=%s", topics->tokens);
    return XO_OK;
}

static int cmd_useradd(int argc, char **argv)
{
    static const struct option opts[] = {{"users", required_argument, NULL, 'u'},
                                         {"email", required_argument, NULL, 'e'},
                                         {"permission", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    const char *file = NULL, *email = NULL, *perm_s = "viewer", *env;
    char password[1024] = "", errstr[512];
    gw_perm_t perm;
    int opt;
    xo_err_t err;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "u:e:p:", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            file = optarg;
            break;
        case 'e':
            email = optarg;
            break;
        case 'p':
            perm_s = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (!file || !email || optind < argc)
        goto usage;
    if (gw_perm_parse(perm_s, &perm) != XO_OK) {
        fprintf(stderr, "xo-gateway useradd: --permission must be admin or viewer\n");
        return XO_EXIT_USAGE;
    }
    env = getenv("XO_GATEWAY_PASSWORD");
    if (env) {
        snprintf(password, sizeof(password), "%s", env);
    } else {
        if (isatty(STDIN_FILENO))
            fprintf(stderr, "password: ");
        if (!fgets(password, sizeof(password), stdin)) {
            fprintf(stderr, "xo-gateway useradd: no password on standard input\n");
            return XO_EXIT_USAGE;
        }
        password[strcspn(password, "\r\n")] = '\0';
    }
    err = gw_users_add_to_file(file, email, perm, password, GW_PBKDF2_ITERATIONS, errstr,
                               sizeof(errstr));
    OPENSSL_cleanse(password, sizeof(password));
    if (err != XO_OK) {
        fprintf(stderr, "xo-gateway useradd: %s\n", errstr);
        return err == XO_ERR_INVALID ? XO_EXIT_USAGE : XO_EXIT_FAILURE;
    }
    printf("user %s (%s) written to %s\n", email, gw_perm_name(perm), file);
    return XO_EXIT_OK;
usage:
    fprintf(stderr, "usage: xo-gateway useradd --users FILE --email EMAIL "
                    "--permission admin|viewer  (password on stdin or $XO_GATEWAY_PASSWORD)\n");
    return XO_EXIT_USAGE;
}

static void topic_plan(const xo_config_t *cfg, xo_topic_plan_t *plan)
{
    plan->partitions = (int32_t)xo_config_get_int(cfg, "topics.partitions");
    plan->replication = (int)xo_config_get_int(cfg, "topics.replication");
    plan->commands_retention_ms = xo_config_get_int(cfg, "topics.commands_retention_ms");
    plan->results_retention_ms = xo_config_get_int(cfg, "topics.results_retention_ms");
    plan->tokens_retention_ms = xo_config_get_int(cfg, "topics.tokens_retention_ms");
    plan->timeout_ms = (int)xo_config_get_int(cfg, "topics.admin_timeout_ms");
}

static int exit_code_of(xo_err_t err)
{
    return err == XO_ERR_CONFIG                           ? XO_EXIT_CONFIG
           : err == XO_ERR_KAFKA || err == XO_ERR_TIMEOUT ? XO_EXIT_UNREACH
                                                          : XO_EXIT_FAILURE;
}

/* Start-up: create (or only check) the contract's topics, then check their configuration
 * in the background (a cluster that never answers must not hold the start). */
static xo_err_t start_topic_admin(const xo_config_t *cfg, const xo_topics_t *topics,
                                  xo_topic_admin_t **out, char *errstr, size_t errstr_size)
{
    const char *mode = xo_config_get(cfg, "topics.manage");
    xo_topic_plan_t plan;
    xo_err_t err;

    *out = NULL;
    if (!strcmp(mode, "off"))
        return XO_OK;
    if (strcmp(mode, "create") != 0 && strcmp(mode, "check") != 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "topics.manage must be create, check or off");
    topic_plan(cfg, &plan);
    err = xo_topic_admin_new(cfg, NULL, topics, &plan, out, errstr, errstr_size);
    if (err == XO_OK)
        err = xo_topic_admin_ensure(*out, !strcmp(mode, "create"), errstr, errstr_size);
    if (err != XO_OK) {
        xo_topic_admin_free(*out);
        *out = NULL;
        return err;
    }
    xo_topic_admin_check_configs_async(*out);
    return XO_OK;
}

static void print_finding(const xo_topic_finding_t *f)
{
    printf("%s %s: %s\n", xo_topic_severity_name(f->severity), f->topic[0] ? f->topic : "topics",
           f->text);
}

static int cmd_topics(int argc, char **argv, const xo_cli_info_t *info)
{
    char *args[64], errstr[512];
    xo_topic_finding_t findings[32];
    xo_config_t *cfg = NULL;
    xo_topic_admin_t *admin = NULL;
    xo_topic_plan_t plan;
    xo_topics_t topics;
    bool create = false;
    int n = 0, code = XO_EXIT_FAILURE;
    size_t nf;
    xo_err_t err;

    for (int i = 0; i < argc && n < 63; i++) /* argv[0] stays: the cli wants a program */
        if (strcmp(argv[i], "--create") != 0)
            args[n++] = argv[i];
        else
            create = true;
    args[n] = NULL;
    if (xo_cli_parse(info, n, args, &cfg, &code) == XO_CLI_EXIT)
        return code;
    if (xo_topics_init(&topics, xo_config_get(cfg, "topics.prefix")) != XO_OK) {
        fprintf(stderr, "xo-gateway topics: topics.prefix is too long\n");
        code = XO_EXIT_CONFIG;
        goto out;
    }
    topic_plan(cfg, &plan);
    err = xo_topic_admin_new(cfg, NULL, &topics, &plan, &admin, errstr, sizeof(errstr));
    if (err == XO_OK)
        err = xo_topic_admin_ensure(admin, create, errstr, sizeof(errstr));
    if (err == XO_OK && xo_topic_admin_check_configs(admin, errstr, sizeof(errstr)) != XO_OK)
        printf("warning topics: configuration not checked: %s\n", errstr);
    nf = admin ? xo_topic_admin_findings(admin, findings, 32) : 0;
    for (size_t i = 0; i < nf && i < 32; i++)
        print_finding(&findings[i]);
    if (err != XO_OK)
        fprintf(stderr, "xo-gateway topics: %s\n", errstr);
    code = err == XO_OK ? XO_EXIT_OK : exit_code_of(err);
out:
    xo_topic_admin_free(admin);
    xo_config_free(cfg);
    return code;
}

static long g_freed_delay_ms; /* the allocator's own delay, restored once loaded */

static void on_view_loaded(void)
{
    xo_alloc_release_freed_after(g_freed_delay_ms);
}

int main(int argc, char **argv)
{
    static const xo_cli_info_t info = {
        "xo-gateway",
        "Materialize every pool's objects from Kafka and serve them over xo-server's "
        "WebSocket JSON-RPC API (with VM actions as signed commands), a REST API, /healthz and "
        "/metrics.",
        SUBCOMMANDS, SPEC, "XO_GATEWAY"};
    xo_config_t *cfg = NULL;
    gw_ctx_t ctx;
    gw_token_log_t *token_log = NULL;
    xo_topics_t topics;
    char errstr[512], alloc[32];
    int code = XO_EXIT_FAILURE;
    xo_err_t err;
    struct sigaction sa;

    /* the view's memory, not freed buffers, is what stays resident after a cold start */
    g_freed_delay_ms = xo_alloc_release_freed_at_once();
    if (argc > 1 && !strcmp(argv[1], "keygen"))
        return xo_cli_keygen("xo-gateway", "gateway", argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "useradd"))
        return cmd_useradd(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "topics"))
        return cmd_topics(argc - 1, argv + 1, &info);
    if (xo_cli_parse(&info, argc, argv, &cfg, &code) == XO_CLI_EXIT)
        return code;

    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = cfg;
    ctx.started_ms = xo_now_ms();
    ctx.limits.max_frame_bytes = (size_t)xo_config_get_int(cfg, "limits.max_frame_bytes");
    ctx.limits.max_clients = (size_t)xo_config_get_int(cfg, "limits.max_clients");
    ctx.limits.client_queue_bytes = (size_t)xo_config_get_int(cfg, "limits.client_queue_bytes");
    ctx.limits.max_http_body = (size_t)xo_config_get_int(cfg, "limits.max_http_body");
    ctx.limits.max_calls_in_flight = (size_t)xo_config_get_int(cfg, "limits.max_calls_in_flight");
    ctx.limits.max_url_bytes = (size_t)xo_config_get_int(cfg, "limits.max_url_bytes");
    ctx.limits.max_header_bytes = (size_t)xo_config_get_int(cfg, "limits.max_header_bytes");
    ctx.timeouts.headers_s = (int)xo_config_get_int(cfg, "timeouts.headers_s");
    ctx.timeouts.body_s = (int)xo_config_get_int(cfg, "timeouts.body_s");
    ctx.timeouts.keepalive_s = (int)xo_config_get_int(cfg, "timeouts.keepalive_s");
    ctx.timeouts.signin_s = (int)xo_config_get_int(cfg, "timeouts.signin_s");
    ctx.timeouts.send_s = (int)xo_config_get_int(cfg, "timeouts.send_s");
    ctx.token_ttl_ms = (int64_t)xo_config_get_int(cfg, "tokens.ttl") * 1000;
    ctx.stale_heartbeats = (int)xo_config_get_int(cfg, "health.stale_heartbeats");
    code = XO_EXIT_FAILURE;

    if (xo_topics_init(&topics, xo_config_get(cfg, "topics.prefix")) != XO_OK) {
        xo_error(MOD, "event=config_error key=topics.prefix error=\"too long\"");
        code = XO_EXIT_CONFIG;
        goto out;
    }
    /* Before any other Kafka client asks for the topics. */
    err = start_topic_admin(cfg, &topics, &ctx.topic_admin, errstr, sizeof(errstr));
    if (err != XO_OK) {
        xo_error(MOD, "event=topics_failed error=\"%s\"", errstr);
        fprintf(stderr, "xo-gateway: topics: %s\n", errstr);
        code = exit_code_of(err);
        goto out;
    }
    err = gw_users_load(xo_config_get(cfg, "users.file"), &ctx.users, errstr, sizeof(errstr));
    if (err != XO_OK) {
        xo_error(MOD, "event=users_error error=\"%s\"", errstr);
        code = XO_EXIT_CONFIG;
        goto out;
    }
    err = gw_users_set_cache(ctx.users, (size_t)xo_config_get_int(cfg, "users.cache_entries"),
                             xo_config_get_int(cfg, "users.cache_ttl") * 1000);
    if (err != XO_OK) {
        xo_error(MOD, "event=users_error error=\"%s\"", xo_strerror(err));
        goto out;
    }
    if (!xo_config_get(cfg, "users.file"))
        xo_warn(MOD, "event=demo_user user=admin@admin.net note=\"users.file is not set: the "
                     "demo account is active\"");
    else
        xo_info(MOD, "event=users_loaded users=%zu", gw_users_count(ctx.users));
    {
        gw_cmd_settings_t cs = {xo_config_get(cfg, "commands.private_key"),
                                xo_config_get_int(cfg, "commands.timeout_ms"),
                                xo_config_get_int(cfg, "commands.clock_skew_ms"),
                                xo_config_get(cfg, "commands.agent_keys"),
                                (size_t)xo_config_get_int(cfg, "limits.max_record_bytes")};
        err = gw_commands_new(&cs, cfg, &topics, 0, &ctx.commands, errstr, sizeof(errstr));
        if (err != XO_OK) {
            xo_error(MOD, "event=commands_error error=\"%s\"", errstr);
            code = err == XO_ERR_KAFKA || err == XO_ERR_TIMEOUT ? XO_EXIT_UNREACH : XO_EXIT_CONFIG;
            goto out;
        }
        if (gw_commands_enabled(ctx.commands))
            xo_info(MOD, "event=commands_enabled timeout_ms=%lld", (long long)cs.timeout_ms);
        else if (cs.agent_keys)
            xo_info(MOD, "event=agent_keys_unused note=\"commands.agent_keys is set but "
                         "commands.private_key is not: results are not read\"");
        else
            xo_warn(MOD, "event=commands_disabled note=\"commands.private_key is not set: vm.* "
                         "actions answer an error\"");
    }
    ctx.view = gw_view_new();
    ctx.notify = gw_notify_new();
    ctx.metrics = gw_metrics_new();
    ctx.downloads = gw_downloads_new();
    ctx.uploads = gw_downloads_new();
    if (!ctx.view || !ctx.notify || !ctx.metrics || !ctx.downloads || !ctx.uploads) {
        xo_error(MOD, "event=out_of_memory");
        goto out;
    }
    gw_view_set_emit(ctx.view, gw_notify_emit, ctx.notify);
    gw_view_set_hold_unannounced(ctx.view, true); /* no phantom pools (docs/security.md) */
    err = share_tokens(cfg, &topics, ctx.users, &token_log, errstr, sizeof(errstr));
    if (err != XO_OK) {
        xo_error(MOD, "event=tokens_error error=\"%s\"", errstr);
        code = exit_code_of(err);
        goto out;
    }
    ctx.token_log = gw_token_log_enabled(token_log) ? token_log : NULL;

    gw_http_settings_t http_set = {
        xo_config_get(cfg, "http.address"),
        (int)xo_config_get_int(cfg, "http.port"),
        xo_config_get(cfg, "http.tls_cert"),
        xo_config_get(cfg, "http.tls_key"),
        xo_config_get_bool(cfg, "http.session_thread"),
        getenv("XO_TEST_GATEWAY_STALL_SESSIONS")}; /* tests only (http_server.h) */
    err = gw_http_new(&ctx, &http_set, &g_http, errstr, sizeof(errstr));
    if (err != XO_OK) {
        xo_error(MOD, "event=listen_failed error=\"%s\"", errstr);
        fprintf(stderr, "xo-gateway: %s\n", errstr);
        code = err == XO_ERR_TLS ? XO_EXIT_TLS : XO_EXIT_FAILURE;
        goto out;
    }
    gw_notify_set_wake(ctx.notify, gw_http_wake_sessions, g_http);
    gw_commands_set_wake(ctx.commands, gw_http_wake, g_http);

    /* xo.results: read by the command bus's own consumer, tuned for latency, not the view's */
    err = gw_commands_read_results(ctx.commands, cfg, &topics, errstr, sizeof(errstr));
    if (err == XO_OK)
        err = gw_consumer_start(cfg, &topics, ctx.view, ctx.notify, NULL, NULL,
                                gw_token_log_enabled(token_log) ? gw_token_log_push : NULL,
                                token_log, &ctx.consumer, errstr, sizeof(errstr));
    if (err != XO_OK) {
        xo_error(MOD, "event=kafka_failed error=\"%s\"", errstr);
        fprintf(stderr, "xo-gateway: %s\n", errstr);
        code = XO_EXIT_UNREACH;
        goto out;
    }

    gw_consumer_on_loaded(ctx.consumer, on_view_loaded);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    xo_info(MOD, "event=allocator name=%s", xo_alloc_name(alloc, sizeof(alloc)));
    xo_info(MOD, "event=listening url=%s://%s:%d version=%s session_thread=%s",
            xo_config_get(cfg, "http.tls_cert") ? "https" : "http",
            xo_config_get(cfg, "http.address"), gw_http_port(g_http), XO_VERSION,
            gw_http_split(g_http) ? "true" : "false");
    printf("listening: %s://%s:%d\n", xo_config_get(cfg, "http.tls_cert") ? "https" : "http",
           xo_config_get(cfg, "http.address"), gw_http_port(g_http));
    fflush(stdout);
    if (!g_stop)
        gw_http_run(g_http);
    xo_info(MOD, "event=stopping");
    code = XO_EXIT_OK;
out:
    gw_consumer_stop(ctx.consumer);
    gw_commands_stop_results(ctx.commands); /* its thread wakes g_http */
    gw_http_free(g_http);
    gw_commands_free(ctx.commands);
    g_http = NULL;
    gw_metrics_free(ctx.metrics);
    gw_downloads_free(ctx.downloads);
    gw_downloads_free(ctx.uploads);
    gw_notify_free(ctx.notify);
    gw_view_free(ctx.view);
    gw_users_free(ctx.users);
    gw_token_log_free(token_log, 5000);
    xo_topic_admin_free(ctx.topic_admin);
    xo_config_free(cfg);
    return code;
}
