/* Unit tests of common/xo_kafka.c against an in-process librdkafka mock cluster (a real
 * Kafka-protocol broker on loopback): partitioning, producer, consumer, back-pressure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_kafka.h"
/* after rdkafka.h, which xo_kafka.h includes */
#include <librdkafka/rdkafka_mock.h>

static void test_topics(void **state)
{
    xo_topics_t t;
    char longp[200];

    (void)state;
    assert_int_equal(xo_topics_init(&t, NULL), XO_OK);
    assert_string_equal(t.objects, "xo.objects");
    assert_string_equal(t.results, "xo.results");
    assert_int_equal(xo_topics_init(&t, "site1.xo."), XO_OK);
    assert_string_equal(t.commands, "site1.xo.commands");
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(xo_topics_init(&t, longp), XO_ERR_INVALID);
}

static void test_murmur2_vectors(void **state)
{
    /* Kafka's own Utils.murmur2 test vectors (clients/src/test/.../UtilsTest.java). */
    static const struct {
        const char *in;
        int32_t want;
    } v[] = {{"21", -973932308},
             {"foobar", -790332482},
             {"a-little-bit-long-string", -985981536},
             {"a-little-bit-longer-string", -1486304829},
             {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
             {"abc", 479470107}};

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_int_equal(xo_murmur2(v[i].in, strlen(v[i].in)), v[i].want);
}

static void test_pool_partition_matches_librdkafka(void **state)
{
    char errstr[256], uuid[64];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof(errstr));
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "t", NULL);

    (void)state;
    /* The contract's documented test vector (docs/topics.md). */
    assert_int_equal(xo_pool_partition("0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c", 6), 4);
    assert_int_equal(xo_pool_partition("0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c", 12), 4);
    assert_int_equal(xo_pool_partition("0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c", 6),
                     rd_kafka_msg_partitioner_murmur2(rkt, "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c",
                                                      36, 6, NULL, NULL));
    for (int i = 0; i < 500; i++) {
        snprintf(uuid, sizeof(uuid), "%08x-0000-4000-8000-%012x", i * 7919, i);
        for (int32_t n = 1; n <= 64; n *= 2)
            assert_int_equal(
                xo_pool_partition(uuid, n),
                rd_kafka_msg_partitioner_murmur2(rkt, uuid, strlen(uuid), n, NULL, NULL));
    }
    assert_int_equal(xo_pool_partition("x", 0), -1);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

typedef struct {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstrap;
} cluster_t;

static int cluster_up(void **state)
{
    static cluster_t c;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    c.host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    c.mc = rd_kafka_mock_cluster_new(c.host, 3);
    c.bootstrap = rd_kafka_mock_cluster_bootstraps(c.mc);
    rd_kafka_mock_topic_create(c.mc, "xo.objects", 6, 3);
    rd_kafka_mock_topic_create(c.mc, "xo.agents", 2, 3);
    *state = &c;
    return 0;
}

static int cluster_down(void **state)
{
    cluster_t *c = *state;
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->host);
    return 0;
}

static void test_produce_consume(void **state)
{
    cluster_t *c = *state;
    const char *extra[] = {"bootstrap.servers", c->bootstrap, NULL};
    const char *pool = "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c";
    xo_kafka_header_t del = {"xo-op", "del", 3};
    char errstr[512];
    xo_producer_t *p;
    xo_consumer_t *cons;
    xo_producer_stats_t st;
    int32_t part, count = 0;
    int64_t lo, hi;
    int got = 0, eof = 0;

    assert_int_equal(xo_producer_new(NULL, extra, &p, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_kafka_partition_count(xo_producer_handle(p), "xo.objects", 5000, &count,
                                              errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(count, 6);
    part = xo_pool_partition(pool, count);
    assert_int_equal(xo_producer_send(p, "xo.objects", part, "k1", 2, "{\"a\":1}", 7, NULL, 0,
                                      errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(xo_producer_send(p, "xo.objects", part, "k2", 2, "{\"b\":2}", 7, NULL, 0,
                                      errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(
        xo_producer_send(p, "xo.objects", part, "k1", 2, NULL, 0, &del, 1, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(xo_producer_flush(p, 10000), XO_OK);
    xo_producer_stats(p, &st);
    assert_int_equal(st.produced, 3);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.failed, 0);

    assert_int_equal(xo_consumer_new(NULL, NULL, extra, &cons, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_consumer_watermarks(cons, "xo.objects", part, &lo, &hi, 5000), XO_OK);
    assert_int_equal(hi - lo, 3);
    assert_int_equal(xo_consumer_assign(cons, "xo.objects", &part, 1, RD_KAFKA_OFFSET_BEGINNING,
                                        errstr, sizeof(errstr)),
                     XO_OK);
    for (int i = 0; i < 100 && !eof; i++) {
        rd_kafka_message_t *m = xo_consumer_poll(cons, 100);
        const void *v;
        size_t vlen;
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof = 1;
        } else if (!m->err) {
            assert_int_equal(m->partition, part);
            if (++got == 3) {
                assert_null(m->payload);
                assert_int_equal(xo_kafka_header_get(m, "xo-op", &v, &vlen), XO_OK);
                assert_memory_equal(v, "del", 3);
            } else {
                assert_int_equal(xo_kafka_header_get(m, "xo-op", &v, &vlen), XO_ERR_NOTFOUND);
            }
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, 3);
    assert_true(eof);
    xo_consumer_free(cons);
    xo_producer_free(p, 5000);
}

/* Assigning a second topic keeps the first one's position (both read from the start). */
static void test_assign_two_topics(void **state)
{
    cluster_t *c = *state;
    const char *extra[] = {"bootstrap.servers", c->bootstrap, NULL};
    char errstr[512];
    xo_producer_t *p;
    xo_consumer_t *cons;
    int objects = 0, agents = 0;

    assert_int_equal(xo_producer_new(NULL, extra, &p, errstr, sizeof(errstr)), XO_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(xo_producer_send(p, i % 2 ? "xo.agents" : "xo.objects", i % 2, "k", 1, "v",
                                          1, NULL, 0, errstr, sizeof(errstr)),
                         XO_OK);
    assert_int_equal(xo_producer_flush(p, 10000), XO_OK);
    assert_int_equal(xo_consumer_new(NULL, NULL, extra, &cons, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_consumer_assign(cons, "xo.objects", NULL, 0, RD_KAFKA_OFFSET_BEGINNING,
                                        errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(xo_consumer_assign(cons, "xo.agents", NULL, 0, RD_KAFKA_OFFSET_BEGINNING,
                                        errstr, sizeof(errstr)),
                     XO_OK);
    for (int i = 0; i < 100 && objects + agents < 4; i++) {
        rd_kafka_message_t *m = xo_consumer_poll(cons, 100);
        if (m && !m->err) {
            if (strcmp(rd_kafka_topic_name(m->rkt), "xo.agents") == 0)
                agents++;
            else
                objects++;
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    assert_int_equal(objects, 2);
    assert_int_equal(agents, 2);
    /* Assigning a partition again restarts it at the new offset. */
    assert_int_equal(xo_consumer_assign(cons, "xo.agents", NULL, 0, RD_KAFKA_OFFSET_BEGINNING,
                                        errstr, sizeof(errstr)),
                     XO_OK);
    for (int i = 0; i < 100 && agents < 4; i++) {
        rd_kafka_message_t *m = xo_consumer_poll(cons, 100);
        if (m && !m->err && strcmp(rd_kafka_topic_name(m->rkt), "xo.agents") == 0)
            agents++;
        if (m)
            rd_kafka_message_destroy(m);
    }
    assert_int_equal(agents, 4);
    xo_consumer_free(cons);
    xo_producer_free(p, 5000);
}

/* Poll until the consumer's link says @p connected, for at most @p ms. */
static bool wait_link(xo_consumer_t *cons, bool connected, int ms, xo_kafka_link_t *link)
{
    for (int waited = 0; waited < ms; waited += 100) {
        rd_kafka_message_t *m = xo_consumer_poll(cons, 100);
        if (m)
            rd_kafka_message_destroy(m);
        xo_consumer_link(cons, link);
        if (link->reported && link->connected == connected)
            return true;
    }
    return false;
}

/* The committed offset of a group on xo.objects [0], or -1. */
static int64_t committed(xo_consumer_t *cons)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    int64_t off = -1;

    rd_kafka_topic_partition_list_add(list, "xo.objects", 0);
    if (rd_kafka_committed(xo_consumer_handle(cons), list, 5000) == 0)
        off = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    return off;
}

/* A commit started, then waited for: the broker's answer says stored (the offset is the
 * group's), or refused (XO_ERR_KAFKA, the offset stays). */
static void test_commit_start_wait(void **state)
{
    cluster_t *c = *state;
    const char *extra[] = {"bootstrap.servers", c->bootstrap, NULL};
    char errstr[512];
    xo_consumer_t *cons;
    xo_commit_t *commit;

    assert_int_equal(xo_consumer_new(NULL, "g-commit", extra, &cons, errstr, sizeof(errstr)),
                     XO_OK);
    commit = xo_consumer_commit_start(cons, "xo.objects", 0, 7, errstr, sizeof(errstr));
    assert_non_null(commit);
    assert_int_equal(xo_commit_wait(commit, 10000, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(committed(cons), 7);

    /* OffsetCommit (API key 8) refused by the coordinator: not retried, reported */
    rd_kafka_mock_push_request_errors(c->mc, 8, 1, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
    commit = xo_consumer_commit_start(cons, "xo.objects", 0, 9, errstr, sizeof(errstr));
    assert_non_null(commit);
    assert_int_equal(xo_commit_wait(commit, 10000, errstr, sizeof(errstr)), XO_ERR_KAFKA);
    assert_non_null(strstr(errstr, "xo.objects [0] @9"));
    assert_int_equal(committed(cons), 7);
    xo_consumer_free(cons);
}

/* Connectivity from librdkafka's statistics and its all-brokers-down error: down when the
 * whole cluster is, up again when one broker is back. */
static void test_consumer_link(void **state)
{
    cluster_t *c = *state;
    const char *extra[] = {"bootstrap.servers",
                           c->bootstrap,
                           "statistics.interval.ms",
                           "200",
                           "reconnect.backoff.max.ms",
                           "500",
                           NULL};
    int32_t part = 0;
    char errstr[512];
    xo_consumer_t *cons;
    xo_kafka_link_t link;
    int64_t since;

    assert_int_equal(xo_consumer_new(NULL, NULL, extra, &cons, errstr, sizeof(errstr)), XO_OK);
    xo_consumer_link(cons, &link);
    assert_false(link.reported);
    assert_true(link.connected); /* until told otherwise */
    assert_int_equal(xo_consumer_assign(cons, "xo.objects", &part, 1, RD_KAFKA_OFFSET_BEGINNING,
                                        errstr, sizeof(errstr)),
                     XO_OK);
    assert_true(wait_link(cons, true, 10000, &link));
    assert_int_equal(link.brokers, 3);
    assert_true(link.brokers_up >= 1);
    assert_int_equal(link.since_ms, 0);

    for (int id = 1; id <= 3; id++)
        assert_int_equal(rd_kafka_mock_broker_set_down(c->mc, id), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(wait_link(cons, false, 10000, &link));
    assert_int_equal(link.brokers_up, 0);
    assert_true(link.since_ms > 0);
    since = link.since_ms;

    assert_int_equal(rd_kafka_mock_broker_set_up(c->mc, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_true(wait_link(cons, true, 20000, &link));
    assert_true(link.brokers_up >= 1);
    assert_true(link.since_ms >= since);
    for (int id = 1; id <= 3; id++)
        rd_kafka_mock_broker_set_up(c->mc, id);
    xo_consumer_free(cons);
}

static void test_backpressure_and_bad_config(void **state)
{
    /* No broker listens on port 1: messages stay queued and the queue fills up. */
    const char *extra[] = {"bootstrap.servers",
                           "127.0.0.1:1",
                           "queue.buffering.max.messages",
                           "2",
                           "log_level",
                           "0",
                           NULL};
    const char *bad[] = {"no.such.property", "1", NULL};
    char errstr[512];
    xo_producer_t *p;
    xo_err_t err = XO_OK;

    (void)state;
    assert_int_equal(xo_producer_new(NULL, extra, &p, errstr, sizeof(errstr)), XO_OK);
    for (int i = 0; i < 5 && err == XO_OK; i++)
        err = xo_producer_send(p, "xo.objects", 0, "k", 1, "v", 1, NULL, 0, errstr, sizeof(errstr));
    assert_int_equal(err, XO_ERR_LIMIT);
    assert_int_equal(xo_producer_flush(p, 200), XO_ERR_TIMEOUT);
    xo_producer_free(p, 0);
    assert_int_equal(xo_producer_new(NULL, bad, &p, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    assert_non_null(strstr(errstr, "no.such.property"));
}

/* A producer setting as librdkafka holds it. */
static void assert_producer_conf(xo_producer_t *p, const char *name, const char *want)
{
    char val[64];
    size_t n = sizeof(val);

    assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(xo_producer_handle(p)), name, val, &n),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(val, want);
}

static void test_producer_defaults(void **state)
{
    const char *extra[] = {"bootstrap.servers", "127.0.0.1:1", "log_level", "0", NULL};
    const char *level5[] = {"bootstrap.servers", "127.0.0.1:1", "log_level", "0",
                            "compression.level", "5",           NULL};
    char errstr[512];
    xo_producer_t *p;

    (void)state;
    assert_int_equal(xo_producer_new(NULL, extra, &p, errstr, sizeof(errstr)), XO_OK);
    assert_producer_conf(p, "compression.codec", "zstd");
    assert_producer_conf(p, "compression.level", "1"); /* zstd's fastest, not its default 3 */
    assert_producer_conf(p, "linger.ms", "1");
    assert_producer_conf(p, "enable.idempotence", "true");
    xo_producer_free(p, 0);
    assert_int_equal(xo_producer_new(NULL, level5, &p, errstr, sizeof(errstr)), XO_OK);
    assert_producer_conf(p, "compression.level", "5"); /* a default, so the caller's wins */
    xo_producer_free(p, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_murmur2_vectors),
        cmocka_unit_test(test_pool_partition_matches_librdkafka),
        cmocka_unit_test_setup_teardown(test_produce_consume, cluster_up, cluster_down),
        cmocka_unit_test_setup_teardown(test_assign_two_topics, cluster_up, cluster_down),
        cmocka_unit_test_setup_teardown(test_consumer_link, cluster_up, cluster_down),
        cmocka_unit_test_setup_teardown(test_commit_start_wait, cluster_up, cluster_down),
        cmocka_unit_test(test_backpressure_and_bad_config),
        cmocka_unit_test(test_producer_defaults),
    };
    return cmocka_run_group_tests_name("kafka", tests, NULL, NULL);
}
