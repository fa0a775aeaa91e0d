/*
 * latency_hop_probe.c - the first two hops of bench_gateway_latency.py's per-hop split: a
 * plain librdkafka consumer of xo.objects, configured as the gateway's (the same
 * fetch.wait.max.ms), that reads from the end and, for every record whose name_label is one
 * of the bench's "lat:<send ns>:<seq>" labels, splits its age into
 *   change -> agent publish: the record's timestamp (librdkafka's CreateTime, stamped when
 *                            the agent called produce) minus the label's send time, and
 *   Kafka:                   the time this consumer got the record minus that timestamp.
 * The label's send time is CLOCK_MONOTONIC (the driver's clock); the record's timestamp is
 * wall-clock milliseconds: the offset between the two clocks is read once at start (the
 * same machine). A timestamp counts from the middle of its millisecond (+0.5 ms), so the
 * truncation to milliseconds biases neither hop.
 *
 * stdin: "reset" (forget the samples), "report" (one JSON line: count, then mean, p50 and
 * p99 of each hop in ms), "quit". Prints "ready" once assigned at the topic's end.
 */
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (1u << 22)

typedef struct {
    double *v;
    size_t n;
    double sum;
} series_t;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void series_add(series_t *s, double v)
{
    if (s->n < MAX_SAMPLES)
        s->v[s->n++] = v;
    s->sum += v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void series_print(const char *name, series_t *s)
{
    qsort(s->v, s->n, sizeof(double), cmp_double);
    if (s->n == 0) {
        printf("\"%s\":null", name);
        return;
    }
    printf("\"%s\":{\"mean\":%.3f,\"p50\":%.3f,\"p99\":%.3f}", name, s->sum / (double)s->n,
           s->v[s->n / 2], s->v[(size_t)(0.99 * (double)(s->n - 1))]);
}

/* The label's send time (ns, CLOCK_MONOTONIC) of a record value, or -1. */
static int64_t label_sent_ns(const char *v, size_t len)
{
    static const char key[] = "\"name_label\":\"lat:";
    const char *p = memmem(v, len, key, sizeof(key) - 1);

    if (!p)
        return -1;
    return strtoll(p + sizeof(key) - 1, NULL, 10);
}

/* Assign every partition of @p topic at its end. */
static int assign_end(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int rc = -1;

    if (t && rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].partition_cnt > 0) {
            list = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
            for (int i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[i].id)
                    ->offset = RD_KAFKA_OFFSET_END;
            rc = rd_kafka_assign(rk, list) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
            rd_kafka_topic_partition_list_destroy(list);
        }
        rd_kafka_metadata_destroy(md);
    }
    if (t)
        rd_kafka_topic_destroy(t);
    return rc;
}

static rd_kafka_t *consumer_new(const char *bootstrap, const char *wait_ms)
{
    const char *const kv[] = {"bootstrap.servers",
                              bootstrap,
                              "group.id",
                              "latency-hop-probe",
                              "enable.auto.commit",
                              "false",
                              "fetch.wait.max.ms",
                              wait_ms,
                              NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_t *rk;

    for (int i = 0; kv[i]; i += 2) {
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "latency_hop_probe: %s\n", err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "latency_hop_probe: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void take(const rd_kafka_message_t *m, int64_t wall_minus_mono_ns, series_t *pub,
                 series_t *kafka)
{
    rd_kafka_timestamp_type_t type;
    int64_t sent = label_sent_ns(m->payload, m->len), ts = rd_kafka_message_timestamp(m, &type);
    double got_ms, ts_ms, sent_ms;

    if (sent < 0 || ts < 0)
        return;
    got_ms = (double)clock_ns(CLOCK_REALTIME) / 1e6;
    ts_ms = (double)ts + 0.5;
    sent_ms = (double)(sent + wall_minus_mono_ns) / 1e6;
    series_add(pub, ts_ms - sent_ms);
    series_add(kafka, got_ms - ts_ms);
}

/* One stdin command. @returns 1 to quit. */
static int command(const char *line, series_t *pub, series_t *kafka)
{
    if (!strncmp(line, "quit", 4))
        return 1;
    if (!strncmp(line, "reset", 5)) {
        pub->n = kafka->n = 0;
        pub->sum = kafka->sum = 0;
        printf("reset\n");
    } else if (!strncmp(line, "report", 6)) {
        printf("{\"count\":%zu,", pub->n);
        series_print("publish", pub);
        printf(",");
        series_print("kafka", kafka);
        printf("}\n");
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = "xo.objects", *wait_ms = "10";
    series_t pub = {0}, kafka = {0};
    int64_t offset = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
    char line[256];
    rd_kafka_t *rk;
    int done = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bootstrap"))
            bootstrap = argv[i + 1];
        else if (!strcmp(argv[i], "--topic"))
            topic = argv[i + 1];
        else if (!strcmp(argv[i], "--fetch-wait-ms"))
            wait_ms = argv[i + 1];
    }
    if (!bootstrap || argc % 2 == 0) {
        fprintf(stderr, "usage: latency_hop_probe --bootstrap HOST:PORT [--topic xo.objects] "
                        "[--fetch-wait-ms 10]\n");
        return 2;
    }
    pub.v = malloc(MAX_SAMPLES * sizeof(double));
    kafka.v = malloc(MAX_SAMPLES * sizeof(double));
    rk = pub.v && kafka.v ? consumer_new(bootstrap, wait_ms) : NULL;
    if (!rk || assign_end(rk, topic) < 0) {
        fprintf(stderr, "latency_hop_probe: cannot consume %s from %s\n", topic, bootstrap);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (!done) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 5);

        if (m) {
            if (!m->err)
                take(m, offset, &pub, &kafka);
            rd_kafka_message_destroy(m);
        }
        if (poll(&pfd, 1, 0) > 0) {
            if (!fgets(line, sizeof(line), stdin))
                break;
            done = command(line, &pub, &kafka);
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(pub.v);
    free(kafka.v);
    return 0;
}
