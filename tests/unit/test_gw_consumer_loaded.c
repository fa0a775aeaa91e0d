/* Unit tests of gw_consumer_on_loaded() (gateway/view/view_consumer.c) against librdkafka's
 * mock cluster on loopback: a hook registered before the view is loaded runs once, on the
 * consumer's thread, after every record present at start is in the view; a hook registered
 * once it is loaded runs at once on the caller's thread; records arriving later never run
 * a hook again. The gateway uses it to restore the allocator's purge delay (gateway/main.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "view/notify.h"
#include "view/view.h"
#include "view/view_consumer.h"
#include "xo_kafka.h"
/* after rdkafka.h, which xo_kafka.h includes */
#include <librdkafka/rdkafka_mock.h>

#define POOL  "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c"
#define PARTS 2

static const xo_cfg_spec_t SPEC[] = {
    {"view.fetch_wait_ms", XO_CFG_INT, "10", 0, 1000, false, "fetch wait"},
    {"limits.max_record_bytes", XO_CFG_INT, "1048576", 0, 1 << 30, false, "record cap"},
    {"limits.max_field_bytes", XO_CFG_INT, "65536", 0, 1 << 30, false, "field cap"},
    {NULL, XO_CFG_STRING, NULL, 0, 0, false, NULL}};

typedef struct {
    rd_kafka_t *host; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    xo_producer_t *producer;
    xo_config_t *cfg;
    xo_topics_t topics;
    gw_view_t *view;
    gw_notify_t *notify;
    gw_consumer_t *consumer;
} fixture_t;

/* What the hooks saw; the hooks take no argument, as the gateway's does. */
static gw_consumer_t *watched;
static atomic_int runs;
static atomic_int runs_late;
static pthread_t ran_on;
static gw_consumer_stats_t seen;

static void on_loaded(void)
{
    gw_consumer_stats(watched, &seen);
    ran_on = pthread_self();
    atomic_fetch_add(&runs, 1);
}

static void on_loaded_late(void)
{
    ran_on = pthread_self();
    atomic_fetch_add(&runs_late, 1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Queue VM @p n's record; flush() sends what is queued. */
static void produce_vm(fixture_t *f, int n)
{
    char key[128], value[512], errstr[256] = "";

    snprintf(key, sizeof(key), "%s/vm/OpaqueRef:%d", POOL, n);
    snprintf(value, sizeof(value),
             "{\"v\":1,\"pool\":\"%s\",\"class\":\"vm\",\"ref\":\"OpaqueRef:%d\",\"uuid\":null,"
             "\"op\":\"add\",\"event_id\":%d,\"ts\":1,\"gen\":1,\"snapshot\":{\"uuid\":\"vm-%d\","
             "\"name_label\":\"vm %d\"}}",
             POOL, n, n, n, n);
    assert_int_equal(xo_producer_send(f->producer, f->topics.objects,
                                      xo_pool_partition(POOL, PARTS), key, strlen(key), value,
                                      strlen(value), NULL, 0, errstr, sizeof(errstr)),
                     XO_OK);
}

static void flush(fixture_t *f)
{
    assert_int_equal(xo_producer_flush(f->producer, 10000), XO_OK);
}

static int setup(void **state)
{
    char text[512], errstr[256] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    fixture_t *f = calloc(1, sizeof(*f));
    /* records queued until flush(): one batch */
    const char *extra[5] = {"bootstrap.servers", NULL, "linger.ms", "1000", NULL};

    assert_non_null(f);
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    f->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(f->host);
    f->mc = rd_kafka_mock_cluster_new(f->host, 1);
    assert_non_null(f->mc);
    assert_int_equal(xo_topics_init(&f->topics, NULL), XO_OK);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, f->topics.objects, PARTS, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, f->topics.agents, PARTS, 1), 0);
    extra[1] = rd_kafka_mock_cluster_bootstraps(f->mc);
    assert_int_equal(xo_producer_new(NULL, extra, &f->producer, errstr, sizeof(errstr)), XO_OK);
    f->cfg = xo_config_new(SPEC, "XO_TEST_LOADED");
    snprintf(text, sizeof(text), "[kafka]\nbootstrap.servers = %s\n", extra[1]);
    assert_int_equal(xo_config_load_string(f->cfg, text, "test", errstr, sizeof(errstr)), XO_OK);
    f->view = gw_view_new();
    f->notify = gw_notify_new();
    assert_non_null(f->view);
    assert_non_null(f->notify);
    atomic_store(&runs, 0);
    atomic_store(&runs_late, 0);
    memset(&seen, 0, sizeof(seen));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    gw_consumer_stop(f->consumer);
    gw_notify_free(f->notify);
    gw_view_free(f->view);
    xo_config_free(f->cfg);
    xo_producer_free(f->producer, 5000);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->host);
    free(f);
    return 0;
}

static void start_consumer(fixture_t *f)
{
    char errstr[256] = "";

    assert_int_equal(gw_consumer_start(f->cfg, &f->topics, f->view, f->notify, NULL, NULL, NULL,
                                       NULL, &f->consumer, errstr, sizeof(errstr)),
                     XO_OK);
    watched = f->consumer;
}

/* Bounded wait (30 s) for @p counter to reach @p n. */
static bool wait_count(atomic_int *counter, int n)
{
    for (int i = 0; i < 3000 && atomic_load(counter) < n; i++)
        sleep_ms(10);
    return atomic_load(counter) >= n;
}

static bool wait_objects(gw_consumer_t *c, uint64_t n)
{
    gw_consumer_stats_t st;

    for (int i = 0; i < 1000; i++) {
        gw_consumer_stats(c, &st);
        if (st.objects >= n)
            return true;
        sleep_ms(10);
    }
    return false;
}

static void test_hook_before_loaded_runs_once_after_the_records(void **state)
{
    fixture_t *f = *state;
    gw_consumer_stats_t st;
    const int seeded = 50;

    for (int i = 1; i <= seeded; i++)
        produce_vm(f, i);
    flush(f); /* in few batches: the mock broker answers a fetch with one batch */
    /* Every answer of the broker 200 ms late: the hook is registered long before the
     * consumer can have reached the partitions' ends. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(f->mc, 1, 200), 0);
    start_consumer(f);
    gw_consumer_on_loaded(f->consumer, on_loaded);
    assert_int_equal(atomic_load(&runs), 0); /* not loaded yet: not run on this thread */
    assert_true(wait_count(&runs, 1));
    assert_false(pthread_equal(ran_on, pthread_self())); /* the consumer's thread */
    assert_true(seen.loaded);
    assert_int_equal(seen.objects, seeded); /* after every record present at start */

    /* Records after the load: applied, and the hook does not run again. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(f->mc, 1, 0), 0);
    produce_vm(f, seeded + 1);
    flush(f);
    assert_true(wait_objects(f->consumer, seeded + 1));
    gw_consumer_stats(f->consumer, &st);
    assert_true(st.loaded);
    assert_int_equal(atomic_load(&runs), 1);
}

static void test_hook_after_loaded_runs_at_once(void **state)
{
    fixture_t *f = *state;
    gw_consumer_stats_t st;

    produce_vm(f, 1);
    flush(f);
    start_consumer(f);
    for (int i = 0; i < 1000; i++) { /* bounded wait (10 s) for the load */
        gw_consumer_stats(f->consumer, &st);
        if (st.loaded)
            break;
        sleep_ms(10);
    }
    assert_true(st.loaded);
    gw_consumer_on_loaded(f->consumer, on_loaded_late);
    assert_int_equal(atomic_load(&runs_late), 1); /* before on_loaded returned */
    assert_true(pthread_equal(ran_on, pthread_self()));
    produce_vm(f, 2);
    flush(f);
    assert_true(wait_objects(f->consumer, 2));
    assert_int_equal(atomic_load(&runs_late), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hook_before_loaded_runs_once_after_the_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hook_after_loaded_runs_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
