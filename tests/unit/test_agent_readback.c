/*
 * test_agent_readback.c - unit tests of agent/readback.c against librdkafka's mock cluster:
 * the pool's live keys folded from its partition (tombstones remove, a later record
 * revives), other pools sharing the partition ignored, the highest _sync generation.
 * Must not: publish through the agent (read back never publishes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_fixture.h"

typedef struct {
    mock_kafka_t *kafka;
    agent_fixture_t f;
} ctx_t;

static int setup(void **state)
{
    static ctx_t c;

    c.kafka = mock_kafka_start();
    if (!c.kafka || fixture_init(&c.f, mock_kafka_bootstrap(c.kafka), false, NULL) != 0)
        return -1;
    *state = &c;
    return 0;
}

static int teardown(void **state)
{
    ctx_t *c = *state;

    fixture_fini(&c->f);
    mock_kafka_stop(c->kafka);
    return 0;
}

static void seed(ctx_t *c, const char *key, const char *value)
{
    assert_int_equal(mock_kafka_seed(c->kafka, c->f.a.partition, key, value), XO_OK);
}

static char *sync_value(int64_t gen)
{
    size_t len;
    return xo_sync_msg_encode(FIXTURE_POOL, "earlier-agent", gen, 2, xo_now_ms(), &len);
}

static void test_empty_partition(void **state)
{
    ctx_t *c = *state;
    xo_strmap_t *keys = xo_strmap_new();
    int64_t gen = -1;

    assert_int_equal(agent_read_back(&c->f.a, keys, &gen), XO_OK);
    assert_int_equal(xo_strmap_count(keys), 0);
    assert_int_equal(gen, 0);
    assert_int_equal(c->f.n, 0);
    xo_strmap_free(keys);
}

static void test_fold_keys_and_generation(void **state)
{
    ctx_t *c = *state;
    xo_strmap_t *keys = xo_strmap_new();
    char *g3 = sync_value(3), *g7 = sync_value(7), *g5 = sync_value(5);
    char other_pool[128], prefix_pool[128];
    int64_t gen = 0;

    /* Pools whose uuid extends ours, or another pool on the same partition. */
    snprintf(other_pool, sizeof(other_pool), "%s", "11111111-2222-3333-4444-555555555555/vm/r");
    snprintf(prefix_pool, sizeof(prefix_pool), "%sX/vm/r", FIXTURE_POOL);
    seed(c, fixture_key("vm", "OpaqueRef:a"), "{}");
    seed(c, fixture_key("vm", "OpaqueRef:b"), "{}");
    seed(c, FIXTURE_POOL "/_sync", g3);
    seed(c, fixture_key("vm", "OpaqueRef:a"), NULL); /* deleted */
    seed(c, fixture_key("host", "OpaqueRef:h"), "{}");
    seed(c, fixture_key("vm", "OpaqueRef:c"), NULL); /* deleted, then back */
    seed(c, fixture_key("vm", "OpaqueRef:c"), "{}");
    seed(c, FIXTURE_POOL "/_sync", g7);
    seed(c, FIXTURE_POOL "/_sync", g5); /* the highest generation counts, not the last */
    seed(c, FIXTURE_POOL "/_sync", "not json");
    seed(c, other_pool, "{}");
    seed(c, prefix_pool, "{}");

    assert_int_equal(agent_read_back(&c->f.a, keys, &gen), XO_OK);
    assert_int_equal(gen, 7);
    assert_int_equal(xo_strmap_count(keys), 3);
    assert_true(xo_strmap_get(keys, fixture_key("vm", "OpaqueRef:b"), NULL));
    assert_true(xo_strmap_get(keys, fixture_key("host", "OpaqueRef:h"), NULL));
    assert_true(xo_strmap_get(keys, fixture_key("vm", "OpaqueRef:c"), NULL));
    assert_false(xo_strmap_get(keys, fixture_key("vm", "OpaqueRef:a"), NULL));
    assert_false(xo_strmap_get(keys, FIXTURE_POOL "/_sync", NULL));
    assert_false(xo_strmap_get(keys, other_pool, NULL));
    assert_false(xo_strmap_get(keys, prefix_pool, NULL));
    assert_int_equal(c->f.n, 0); /* read back publishes nothing */
    free(g3);
    free(g7);
    free(g5);
    xo_strmap_free(keys);
}

/* Records on the other partitions of the topic are not this pool's. */
static void test_other_partitions_ignored(void **state)
{
    ctx_t *c = *state;
    xo_strmap_t *keys = xo_strmap_new();
    int32_t other = (c->f.a.partition + 1) % MOCK_KAFKA_PARTITIONS;
    int64_t gen = 0;
    char *g9 = sync_value(9);

    assert_int_equal(mock_kafka_seed(c->kafka, other, fixture_key("vm", "OpaqueRef:x"), "{}"),
                     XO_OK);
    assert_int_equal(mock_kafka_seed(c->kafka, other, FIXTURE_POOL "/_sync", g9), XO_OK);
    seed(c, fixture_key("vm", "OpaqueRef:y"), "{}");
    assert_int_equal(agent_read_back(&c->f.a, keys, &gen), XO_OK);
    assert_int_equal(xo_strmap_count(keys), 1);
    assert_true(xo_strmap_get(keys, fixture_key("vm", "OpaqueRef:y"), NULL));
    assert_int_equal(gen, 0);
    free(g9);
    xo_strmap_free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_partition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_keys_and_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_partitions_ignored, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent_readback", tests, NULL, NULL);
}
