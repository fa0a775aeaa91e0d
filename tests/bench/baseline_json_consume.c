/*
 * baseline_json_consume.c - the cold-start baseline of bench_gateway_load.py: a plain
 * librdkafka consumer that reads every partition of one topic from the beginning to its
 * end and parses each record's value with json-c, building nothing else. It must stay
 * free of the project's code, so that the gateway is compared with the floor of the same
 * work (fetch + JSON parse) and not with itself.
 */
#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct {
    const char *bootstrap;
    const char *topic;
    int timeout_s;
} args_t;

typedef struct {
    unsigned long long records, parsed, bytes;
} tally_t;

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int parse_args(int argc, char **argv, args_t *a)
{
    a->bootstrap = NULL;
    a->topic = "xo.objects";
    a->timeout_s = 1200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
            a->bootstrap = argv[++i];
        else if (!strcmp(argv[i], "--topic") && i + 1 < argc)
            a->topic = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            a->timeout_s = atoi(argv[++i]);
        else
            return -1;
    }
    return a->bootstrap ? 0 : -1;
}

/* A consumer that reports the end of each partition, as the gateway's does. */
static rd_kafka_t *consumer_new(const char *bootstrap, char *errstr, size_t errstr_size)
{
    static const char *const kv[] = {"bootstrap.servers",
                                     NULL,
                                     "group.id",
                                     "xo-bench-baseline",
                                     "enable.auto.commit",
                                     "false",
                                     "enable.partition.eof",
                                     "true",
                                     "fetch.wait.max.ms",
                                     "10",
                                     NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    for (int i = 0; kv[i]; i += 2) {
        const char *v = kv[i + 1] ? kv[i + 1] : bootstrap;
        if (rd_kafka_conf_set(conf, kv[i], v, errstr, errstr_size) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static int partition_count(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int assign_all(rd_kafka_t *rk, const char *topic, int partitions)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    rd_kafka_resp_err_t kerr;

    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    kerr = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    return kerr ? -1 : 0;
}

/* Parse one value with a reused tokener (as the gateway does) and drop the tree. */
static void parse_value(json_tokener *tok, const rd_kafka_message_t *m, tally_t *t)
{
    json_object *o;

    t->records++;
    if (!m->payload)
        return;
    t->bytes += m->len;
    json_tokener_reset(tok);
    o = json_tokener_parse_ex(tok, m->payload, (int)m->len);
    if (o) {
        t->parsed++;
        json_object_put(o);
    }
}

/* Poll until every partition reported its end; returns the number still open. */
static int drain(rd_kafka_t *rk, int partitions, double deadline, tally_t *t)
{
    char *eof = calloc((size_t)partitions, 1);
    json_tokener *tok = json_tokener_new();
    int open = partitions;

    while (eof && tok && open > 0 && mono_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < partitions && !eof[m->partition]) {
                eof[m->partition] = 1;
                open--;
            }
        } else if (!m->err) {
            parse_value(tok, m, t);
        }
        rd_kafka_message_destroy(m);
    }
    if (tok)
        json_tokener_free(tok);
    free(eof);
    return open;
}

int main(int argc, char **argv)
{
    args_t a;
    tally_t t = {0};
    char errstr[512] = "";
    rd_kafka_t *rk = NULL;
    int partitions, open, rc = 1;
    double t0 = mono_s();

    if (parse_args(argc, argv, &a) != 0) {
        fprintf(stderr,
                "usage: %s --bootstrap HOST:PORT [--topic xo.objects] [--timeout S]\n"
                "Reads every partition of the topic from the beginning to its end, "
                "parsing each value with json-c.\n",
                argv[0]);
        return 2;
    }
    rk = consumer_new(a.bootstrap, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "error: consumer: %s\n", errstr);
        goto out;
    }
    partitions = partition_count(rk, a.topic);
    if (partitions <= 0 || assign_all(rk, a.topic, partitions) != 0) {
        fprintf(stderr, "error: cannot read topic %s\n", a.topic);
        goto out;
    }
    open = drain(rk, partitions, t0 + a.timeout_s, &t);
    if (open > 0) {
        fprintf(stderr, "error: %d partitions not at their end after %d s\n", open, a.timeout_s);
        goto out;
    }
    printf("records=%llu parsed=%llu bytes=%llu ms=%.0f cpu_s=%.2f\n", t.records, t.parsed, t.bytes,
           (mono_s() - t0) * 1000, cpu_s());
    rc = 0;
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return rc;
}
