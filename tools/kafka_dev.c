/*
 * kafka_dev.c - xo-kafka-dev: a real Kafka-protocol broker cluster on loopback, built on
 * librdkafka's mock cluster, with the contract's topics created. The embedded Kafka of the
 * demo and of every test. Not for production: it keeps everything in memory and does not
 * compact. Prints the bootstrap address as its first line of output.
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xo_kafka.h"
#include "xo_version.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

#define MAX_TOPIC_OVERRIDES 8

typedef struct {
    int brokers, partitions, replication;
    const char *prefix;
    int control;
    int no_topics;
    int n_overrides; /* --topic NAME=PARTITIONS */
    char override_name[MAX_TOPIC_OVERRIDES][128];
    int override_partitions[MAX_TOPIC_OVERRIDES];
} opts_t;

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: xo-kafka-dev [options]\n"
                "Run an in-memory Kafka cluster (librdkafka mock brokers) on 127.0.0.1 with the\n"
                "XO Fleet topics created; print its bootstrap address as the first line; run\n"
                "until SIGINT or SIGTERM.\n\n"
                "  -b, --brokers N       number of brokers (default 3)\n"
                "  -p, --partitions N    partitions of every contract topic (default 6)\n"
                "  -r, --replication N   replication factor (default min(3, brokers))\n"
                "      --prefix P        topic prefix (default \"xo.\")\n"
                "      --no-topics       create no topic (to test topic creation; note that\n"
                "                        this broker creates any topic a metadata request\n"
                "                        names, with 4 partitions, and implements neither\n"
                "                        CreateTopics nor DescribeConfigs)\n"
                "      --topic NAME=N    create topic NAME with N partitions, or give a contract\n"
                "                        topic N partitions instead of --partitions (repeatable,\n"
                "                        up to 8; to test the gateway's topic checks)\n"
                "      --control         read fault commands from standard input, one a line:\n"
                "                          down <broker-id|all>   set broker(s) down\n"
                "                          up <broker-id|all>     set broker(s) up again\n"
                "                          rtt <broker-id> <ms>   add round-trip latency\n"
                "                          quit                   stop the cluster\n"
                "                        each command answers 'ok' or 'error: ...' on stdout\n"
                "  -h, --help            this help\n"
                "  -V, --version         print the version\n");
}

/* NAME=N: a topic and its partition count. */
static int parse_topic_override(opts_t *o, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    int n = eq ? atoi(eq + 1) : 0;
    size_t len = eq ? (size_t)(eq - arg) : 0;

    if (!eq || len == 0 || len >= sizeof(o->override_name[0]) || n < 1 || n > 1000 ||
        o->n_overrides == MAX_TOPIC_OVERRIDES) {
        fprintf(stderr, "xo-kafka-dev: --topic wants NAME=PARTITIONS (1..1000), at most %d\n",
                MAX_TOPIC_OVERRIDES);
        return -1;
    }
    memcpy(o->override_name[o->n_overrides], arg, len);
    o->override_name[o->n_overrides][len] = '\0';
    o->override_partitions[o->n_overrides++] = n;
    return 0;
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option long_opts[] = {
        {"brokers", required_argument, NULL, 'b'},     {"partitions", required_argument, NULL, 'p'},
        {"replication", required_argument, NULL, 'r'}, {"prefix", required_argument, NULL, 'P'},
        {"control", no_argument, NULL, 'C'},           {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},           {"no-topics", no_argument, NULL, 'N'},
        {"topic", required_argument, NULL, 'T'},       {NULL, 0, NULL, 0}};
    int opt;

    memset(o, 0, sizeof(*o));
    o->brokers = 3;
    o->partitions = 6;
    o->prefix = "xo.";
    while ((opt = getopt_long(argc, argv, "b:p:r:hV", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            o->brokers = atoi(optarg);
            break;
        case 'p':
            o->partitions = atoi(optarg);
            break;
        case 'r':
            o->replication = atoi(optarg);
            break;
        case 'P':
            o->prefix = optarg;
            break;
        case 'C':
            o->control = 1;
            break;
        case 'N':
            o->no_topics = 1;
            break;
        case 'T':
            if (parse_topic_override(o, optarg) != 0)
                return -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("xo-kafka-dev %s\n", XO_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->brokers < 1 || o->brokers > 16 || o->partitions < 1 || o->partitions > 1000) {
        fprintf(stderr, "xo-kafka-dev: brokers must be 1..16 and partitions 1..1000\n");
        return -1;
    }
    if (o->replication <= 0)
        o->replication = o->brokers < 3 ? o->brokers : 3;
    if (o->replication > o->brokers) {
        fprintf(stderr, "xo-kafka-dev: replication %d exceeds %d brokers\n", o->replication,
                o->brokers);
        return -1;
    }
    return 0;
}

/* Apply fn to one broker id or to all of them. */
static const char *set_brokers(rd_kafka_mock_cluster_t *mc, const opts_t *o, const char *which,
                               int up)
{
    int from = 1, to = o->brokers;

    if (strcmp(which, "all") != 0) {
        from = to = atoi(which);
        if (from < 1 || from > o->brokers)
            return "no such broker";
    }
    for (int id = from; id <= to; id++) {
        rd_kafka_resp_err_t err =
            up ? rd_kafka_mock_broker_set_up(mc, id) : rd_kafka_mock_broker_set_down(mc, id);
        if (err)
            return rd_kafka_err2str(err);
    }
    return NULL;
}

static void control_line(rd_kafka_mock_cluster_t *mc, const opts_t *o, char *line)
{
    char cmd[32] = "", a1[32] = "", a2[32] = "";
    const char *err = NULL;

    if (sscanf(line, "%31s %31s %31s", cmd, a1, a2) < 1)
        return;
    if (strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0)
        err = a1[0] ? set_brokers(mc, o, a1, cmd[0] == 'u') : "missing broker id";
    else if (strcmp(cmd, "rtt") == 0)
        err = rd_kafka_mock_broker_set_rtt(mc, atoi(a1), atoi(a2)) ? "rtt failed" : NULL;
    else if (strcmp(cmd, "quit") == 0)
        stop = 1;
    else
        err = "unknown command";
    if (err)
        printf("error: %s\n", err);
    else
        printf("ok\n");
    fflush(stdout);
}

/* Partitions of @p name: its --topic override, else --partitions; 0 if it is not to be
 * created (--no-topics and no override). */
static int partitions_of(const opts_t *o, const char *name)
{
    for (int i = 0; i < o->n_overrides; i++)
        if (!strcmp(o->override_name[i], name))
            return o->override_partitions[i];
    return o->no_topics ? 0 : o->partitions;
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const opts_t *o, const char *name,
                        int partitions)
{
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, o->replication);
    if (err) {
        fprintf(stderr, "xo-kafka-dev: create %s: %s\n", name, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static int create_topics(rd_kafka_mock_cluster_t *mc, const opts_t *o)
{
    xo_topics_t t;
    const char *names[5];

    if (xo_topics_init(&t, o->prefix) != XO_OK) {
        fprintf(stderr, "xo-kafka-dev: topic prefix too long\n");
        return -1;
    }
    names[0] = t.objects;
    names[1] = t.agents;
    names[2] = t.commands;
    names[3] = t.results;
    names[4] = t.tokens; /* the gateways' tokens */
    for (int i = 0; i < 5; i++) {
        int n = partitions_of(o, names[i]);
        if (n > 0 && create_topic(mc, o, names[i], n) != 0)
            return -1;
    }
    for (int i = 0; i < o->n_overrides; i++) { /* other topics named by --topic */
        int contract = 0;
        for (int k = 0; k < 5; k++)
            contract |= !strcmp(o->override_name[i], names[k]);
        if (!contract && create_topic(mc, o, o->override_name[i], o->override_partitions[i]) != 0)
            return -1;
    }
    return 0;
}

/*
 * The mock broker keeps about 5 MiB of message sets per partition and never compacts:
 * beyond that it drops the oldest records, which a compacted topic's readers rely on.
 * Watch the low watermarks and say so loudly, once per partition, instead of losing data
 * silently.
 */
typedef struct {
    rd_kafka_t *probe;
    xo_topics_t topics;
    int partitions[5]; /* per contract topic, 0 when not created (never probe those: a
                          metadata request for a missing topic creates it) */
    int max_partitions;
    unsigned char *warned; /* one flag per (topic, partition) */
    pthread_t thread;      /* its own thread: queries block while brokers are down */
    int started;
} watch_t;

static void *watch_main(void *arg);

static void watch_init(watch_t *w, const char *bootstrap, const opts_t *o)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    memset(w, 0, sizeof(*w));
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    w->probe = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    xo_topics_init(&w->topics, o->prefix);
    w->partitions[0] = partitions_of(o, w->topics.objects);
    w->partitions[1] = partitions_of(o, w->topics.agents);
    w->partitions[2] = partitions_of(o, w->topics.commands);
    w->partitions[3] = partitions_of(o, w->topics.results);
    w->partitions[4] = partitions_of(o, w->topics.tokens);
    for (int t = 0; t < 5; t++)
        if (w->partitions[t] > w->max_partitions)
            w->max_partitions = w->partitions[t];
    w->warned = calloc(5 * (size_t)(w->max_partitions ? w->max_partitions : 1), 1);
    w->started = pthread_create(&w->thread, NULL, watch_main, w) == 0;
}

static void watch_check(watch_t *w)
{
    const char *names[5] = {w->topics.objects, w->topics.agents, w->topics.commands,
                            w->topics.results, w->topics.tokens};

    if (!w->probe || !w->warned)
        return;
    for (int t = 0; t < 5; t++) {
        for (int p = 0; p < w->partitions[t]; p++) {
            int64_t lo = 0, hi = 0;
            unsigned char *flag = &w->warned[t * w->max_partitions + p];
            if (*flag || rd_kafka_query_watermark_offsets(w->probe, names[t], p, &lo, &hi, 500))
                continue;
            if (lo > 0) {
                *flag = 1;
                fprintf(stderr,
                        "xo-kafka-dev: WARNING: %s [%d] dropped its oldest %lld records: the "
                        "in-memory broker keeps about 5 MiB per partition and does not compact. "
                        "Readers from the beginning now miss them. Use more --partitions or a "
                        "real Kafka for this much data.\n",
                        names[t], p, (long long)lo);
            }
        }
    }
}

static void *watch_main(void *arg)
{
    watch_t *w = arg;

    for (int ticks = 1; !stop; ticks++) {
        usleep(200 * 1000);
        if (ticks % 10 == 0)
            watch_check(w); /* every ~2 s */
    }
    return NULL;
}

static void watch_fini(watch_t *w)
{
    if (w->started)
        pthread_join(w->thread, NULL);
    if (w->probe)
        rd_kafka_destroy(w->probe);
    free(w->warned);
}

/* Handle complete lines in buf; returns the bytes of an incomplete last line kept. */
static size_t control_lines(rd_kafka_mock_cluster_t *mc, const opts_t *o, char *buf, size_t used,
                            size_t size)
{
    char *nl;

    buf[used] = '\0';
    while ((nl = strchr(buf, '\n'))) {
        *nl = '\0';
        control_line(mc, o, buf);
        used -= (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, used + 1);
    }
    return used == size - 1 ? 0 : used; /* an overlong line is dropped */
}

static void serve(rd_kafka_mock_cluster_t *mc, const opts_t *o)
{
    char line[256];
    size_t used = 0;
    int control = o->control;
    struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};

    while (!stop) {
        if (!control) {
            usleep(200 * 1000);
            continue;
        }
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t n = read(STDIN_FILENO, line + used, sizeof(line) - 1 - used);
        if (n <= 0) {
            control = 0; /* stdin closed: keep running without control */
            continue;
        }
        used = control_lines(mc, o, line, used + (size_t)n, sizeof(line));
    }
}

int main(int argc, char **argv)
{
    char errstr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    opts_t o;
    int rc = 1;

    if (parse_opts(argc, argv, &o) != 0)
        return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    conf = rd_kafka_conf_new();
    /* The host handle never connects anywhere: silence its "no bootstrap.servers" notice. */
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "xo-kafka-dev: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, o.brokers);
    if (!mc) {
        fprintf(stderr, "xo-kafka-dev: cannot start the mock cluster\n");
        goto out;
    }
    if (create_topics(mc, &o) != 0)
        goto out_cluster;
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    printf("xo-kafka-dev %s: %d broker(s), topics %sobjects %sagents %scommands %sresults "
           "%stokens with %d partitions%s; Ctrl-C to stop\n",
           XO_VERSION, o.brokers, o.prefix, o.prefix, o.prefix, o.prefix, o.prefix, o.partitions,
           o.no_topics     ? " (not created: --no-topics)"
           : o.n_overrides ? " (see --topic)"
                           : "");
    fflush(stdout);
    {
        watch_t w;
        watch_init(&w, rd_kafka_mock_cluster_bootstraps(mc), &o);
        serve(mc, &o);
        stop = 1;
        watch_fini(&w);
    }
    rc = 0;
out_cluster:
    rd_kafka_mock_cluster_destroy(mc);
out:
    rd_kafka_destroy(rk);
    return rc;
}
