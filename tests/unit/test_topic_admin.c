/* Unit tests of common/xo_topic_admin.c: the judge of the contract's topics (pure), and
 * the admin client against librdkafka's mock cluster, as far as the mock goes: metadata
 * (so existence and partition counts), never auto-creating a topic by asking about it;
 * CreateTopics and DescribeConfigs, which the mock does not implement, end in a bounded
 * timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "xo_topic_admin.h"
/* after rdkafka.h, which xo_kafka.h includes */
#include <librdkafka/rdkafka_mock.h>

static const char *const NAMES[XO_TOPIC_COUNT] = {"xo.objects", "xo.agents", "xo.commands",
                                                  "xo.results", "xo.tokens"};

typedef struct {
    xo_topic_finding_t f[16];
    int n, warnings, errors;
} found_t;

static void collect(void *opaque, const xo_topic_finding_t *f)
{
    found_t *fd = opaque;
    if (fd->n < 16)
        fd->f[fd->n] = *f;
    fd->n++;
    fd->warnings += f->severity == XO_TOPIC_WARNING;
    fd->errors += f->severity == XO_TOPIC_ERROR;
}

/* The first finding of @p sev on @p topic containing @p needle, or NULL. */
static const xo_topic_finding_t *find(const found_t *fd, xo_topic_severity_t sev, const char *topic,
                                      const char *needle)
{
    for (int i = 0; i < fd->n && i < 16; i++)
        if (fd->f[i].severity == sev && !strcmp(fd->f[i].topic, topic) &&
            strstr(fd->f[i].text, needle))
            return &fd->f[i];
    return NULL;
}

static void good_state(xo_topic_state_t st[XO_TOPIC_COUNT])
{
    memset(st, 0, sizeof(xo_topic_state_t) * XO_TOPIC_COUNT);
    for (int i = 0; i < XO_TOPIC_COUNT; i++) {
        st[i].exists = true;
        st[i].partitions = 12;
        st[i].replication = 3;
        st[i].config_known = true;
        snprintf(st[i].cleanup_policy, sizeof(st[i].cleanup_policy), "%s",
                 i <= 1   ? "compact"
                 : i == 4 ? "compact,delete"
                          : "delete");
        st[i].retention_ms = i == 2 ? 3600000 : 604800000;
    }
}

static void test_judge_good(void **state)
{
    xo_topic_state_t st[XO_TOPIC_COUNT];
    found_t fd = {0};

    (void)state;
    good_state(st);
    assert_int_equal(xo_topics_judge(NAMES, st, 3, XO_JUDGE_LAYOUT | XO_JUDGE_CONFIG, collect, &fd),
                     0);
    assert_int_equal(fd.errors, 0);
    assert_int_equal(fd.warnings, 0);
    assert_non_null(find(&fd, XO_TOPIC_INFO, "xo.commands", "retention.ms=3600000"));
}

static void test_judge_partitions_differ(void **state)
{
    xo_topic_state_t st[XO_TOPIC_COUNT];
    found_t fd = {0};
    const xo_topic_finding_t *f;

    (void)state;
    good_state(st);
    st[3].partitions = 4;
    assert_int_equal(xo_topics_judge(NAMES, st, 3, XO_JUDGE_LAYOUT, collect, &fd), 1);
    f = find(&fd, XO_TOPIC_ERROR, "", "partition counts differ");
    assert_non_null(f);
    assert_non_null(strstr(f->text, "xo.objects 12, xo.agents 12, xo.commands 12, xo.results 4"));
    /* The tokens topic carries no pool: its count may differ. */
    good_state(st);
    st[4].partitions = 1;
    memset(&fd, 0, sizeof(fd));
    assert_int_equal(xo_topics_judge(NAMES, st, 3, XO_JUDGE_LAYOUT, collect, &fd), 0);
    /* A missing topic is an error of its own; the others still agree. */
    good_state(st);
    st[1].exists = false;
    memset(&fd, 0, sizeof(fd));
    assert_int_equal(xo_topics_judge(NAMES, st, 3, XO_JUDGE_LAYOUT, collect, &fd), 1);
    assert_non_null(find(&fd, XO_TOPIC_ERROR, "xo.agents", "does not exist"));
    /* The configuration is not judged by a layout-only pass. */
    assert_int_equal(fd.warnings, 0);
}

static void test_judge_config(void **state)
{
    xo_topic_state_t st[XO_TOPIC_COUNT];
    found_t fd = {0};

    (void)state;
    good_state(st);
    snprintf(st[0].cleanup_policy, sizeof(st[0].cleanup_policy), "delete");
    snprintf(st[1].cleanup_policy, sizeof(st[1].cleanup_policy), "compact,delete");
    snprintf(st[2].cleanup_policy, sizeof(st[2].cleanup_policy), "compact");
    assert_int_equal(xo_topics_judge(NAMES, st, 3, XO_JUDGE_CONFIG, collect, &fd), 0);
    assert_int_equal(fd.warnings, 3);
    assert_non_null(find(&fd, XO_TOPIC_WARNING, "xo.objects", "xo.objects is not compacted"));
    assert_non_null(find(&fd, XO_TOPIC_WARNING, "xo.agents", "cleanup.policy=compact,delete"));
    assert_non_null(find(&fd, XO_TOPIC_WARNING, "xo.commands", "compaction can drop"));
    assert_non_null(find(&fd, XO_TOPIC_INFO, "xo.results", "cleanup.policy=delete"));
    assert_non_null(find(&fd, XO_TOPIC_INFO, "xo.tokens", "cleanup.policy=compact,delete"));
    snprintf(st[4].cleanup_policy, sizeof(st[4].cleanup_policy), "delete");
    memset(&fd, 0, sizeof(fd));
    xo_topics_judge(NAMES, st, 3, XO_JUDGE_CONFIG, collect, &fd);
    assert_non_null(find(&fd, XO_TOPIC_WARNING, "xo.tokens", "signed out when a gateway restarts"));
    /* Unknown configuration (the broker did not answer): nothing said about it. */
    for (int i = 0; i < XO_TOPIC_COUNT; i++)
        st[i].config_known = false;
    memset(&fd, 0, sizeof(fd));
    assert_int_equal(xo_topics_judge(NAMES, st, 3, XO_JUDGE_CONFIG, collect, &fd), 0);
    assert_int_equal(fd.n, 0);
}

static void test_judge_replication(void **state)
{
    xo_topic_state_t st[XO_TOPIC_COUNT];
    found_t fd = {0};

    (void)state;
    good_state(st);
    st[0].replication = 1;
    assert_int_equal(xo_topics_judge(NAMES, st, 3, XO_JUDGE_LAYOUT, collect, &fd), 0);
    assert_non_null(find(&fd, XO_TOPIC_WARNING, "xo.objects", "one replica"));
    memset(&fd, 0, sizeof(fd));
    assert_int_equal(xo_topics_judge(NAMES, st, 1, XO_JUDGE_LAYOUT, collect, &fd), 0);
    assert_int_equal(fd.warnings, 0); /* a one-broker cluster cannot do better */
}

/* ---- against the mock cluster ---- */

typedef struct {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc;
    char extra_bootstrap[512];
} cluster_t;

static cluster_t *cluster_new(int objects_partitions, int others_partitions)
{
    static cluster_t c;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    c.host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    c.mc = rd_kafka_mock_cluster_new(c.host, 3);
    snprintf(c.extra_bootstrap, sizeof(c.extra_bootstrap), "%s",
             rd_kafka_mock_cluster_bootstraps(c.mc));
    if (objects_partitions)
        rd_kafka_mock_topic_create(c.mc, "xo.objects", objects_partitions, 3);
    if (others_partitions) {
        rd_kafka_mock_topic_create(c.mc, "xo.agents", others_partitions, 3);
        rd_kafka_mock_topic_create(c.mc, "xo.commands", others_partitions, 3);
        rd_kafka_mock_topic_create(c.mc, "xo.results", others_partitions, 3);
        rd_kafka_mock_topic_create(c.mc, "xo.tokens", others_partitions, 3);
    }
    return &c;
}

static void cluster_free(cluster_t *c)
{
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->host);
}

static xo_topic_admin_t *admin_of(cluster_t *c, int timeout_ms)
{
    const char *extra[] = {"bootstrap.servers", c->extra_bootstrap, "log_level", "3", NULL};
    xo_topic_plan_t plan = {.partitions = 12,
                            .replication = 3,
                            .commands_retention_ms = 3600000,
                            .results_retention_ms = 604800000,
                            .tokens_retention_ms = 31622400000,
                            .timeout_ms = timeout_ms};
    xo_topics_t topics;
    xo_topic_admin_t *a = NULL;
    char errstr[256];

    assert_int_equal(xo_topics_init(&topics, NULL), XO_OK);
    assert_int_equal(xo_topic_admin_new(NULL, extra, &topics, &plan, &a, errstr, sizeof(errstr)),
                     XO_OK);
    return a;
}

static void test_mock_layout(void **state)
{
    cluster_t *c = cluster_new(6, 6);
    xo_topic_admin_t *a = admin_of(c, 5000);
    xo_topic_finding_t f[32];
    xo_topic_state_t st;
    char errstr[256];
    size_t n;

    (void)state;
    assert_int_equal(xo_topic_admin_ensure(a, false, errstr, sizeof(errstr)), XO_OK);
    xo_topic_admin_state(a, 3, &st);
    assert_true(st.exists);
    assert_int_equal(st.partitions, 6);
    assert_int_equal(st.replication, 3);
    n = xo_topic_admin_findings(a, f, 32);
    assert_int_equal(n, 5); /* one info line per topic */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(f[i].severity, XO_TOPIC_INFO);
    xo_topic_admin_free(a);
    cluster_free(c);

    c = cluster_new(6, 4);
    a = admin_of(c, 5000);
    assert_int_equal(xo_topic_admin_ensure(a, true, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    n = xo_topic_admin_findings(a, f, 32);
    assert_int_equal(f[n - 1].severity, XO_TOPIC_ERROR);
    assert_non_null(strstr(f[n - 1].text, "xo.objects 6, xo.agents 4"));
    xo_topic_admin_free(a);
    cluster_free(c);
}

/* Nothing exists: checking says so and creates nothing (the mock would create a topic
 * with 4 partitions for a metadata request that names it); creating needs CreateTopics,
 * which the mock never answers: a bounded timeout. */
static void test_mock_missing(void **state)
{
    cluster_t *c = cluster_new(0, 0);
    xo_topic_admin_t *a = admin_of(c, 1000);
    xo_topic_state_t st;
    char errstr[512];

    (void)state;
    assert_int_equal(xo_topic_admin_ensure(a, false, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    assert_int_equal(xo_topic_admin_ensure(a, false, errstr, sizeof(errstr)), XO_ERR_CONFIG);
    xo_topic_admin_state(a, 0, &st);
    assert_false(st.exists); /* still missing: the first check did not create it */
    assert_int_equal(xo_topic_admin_ensure(a, true, errstr, sizeof(errstr)), XO_ERR_TIMEOUT);
    assert_non_null(strstr(errstr, "CreateTopics"));
    xo_topic_admin_free(a);
    cluster_free(c);
}

static void test_mock_configs(void **state)
{
    cluster_t *c = cluster_new(6, 6);
    xo_topic_admin_t *a = admin_of(c, 1000);
    xo_topic_state_t st;
    char errstr[512];

    (void)state;
    assert_int_equal(xo_topic_admin_ensure(a, false, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_topic_admin_check_configs(a, errstr, sizeof(errstr)), XO_ERR_TIMEOUT);
    assert_non_null(strstr(errstr, "DescribeConfigs"));
    xo_topic_admin_state(a, 0, &st);
    assert_false(st.config_known);
    /* The asynchronous check is cancelled by free, at once. */
    xo_topic_admin_check_configs_async(a);
    xo_topic_admin_free(a);
    cluster_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge_good),   cmocka_unit_test(test_judge_partitions_differ),
        cmocka_unit_test(test_judge_config), cmocka_unit_test(test_judge_replication),
        cmocka_unit_test(test_mock_layout),  cmocka_unit_test(test_mock_missing),
        cmocka_unit_test(test_mock_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
