/*
 * test_agent_publish.c - unit tests of agent/publish.c through the send hook: the v1
 * envelope of add/mod records on the pool's partition, tombstones with xo-op: del, the
 * published key set and per-class counts, malformed events refused without a record,
 * oversized records truncated, the _sync marker, and back-pressure leading to a resync.
 * Must not: produce to Kafka or open a socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent_fixture.h"

static int setup(void **state)
{
    static agent_fixture_t f;

    if (fixture_init(&f, NULL, false, NULL) != 0)
        return -1;
    f.a.gen = 3;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_fini(*state);
    return 0;
}

static int64_t class_count(agent_fixture_t *f, const char *cls)
{
    int64_t n = 0;
    xo_strmap_get(f->a.class_counts, cls, &n);
    return n;
}

static void test_add_record_envelope(void **state)
{
    agent_fixture_t *f = *state;
    const fixture_record_t *r;
    json_object *v, *snap;
    int64_t before = xo_now_ms();

    assert_int_equal(agent_publish_event(&f->a, fixture_event("add", "VM", "OpaqueRef:vm1", 41,
                                                              fixture_snapshot("u-vm1", "web"))),
                     XO_OK);
    assert_int_equal(f->n, 1);
    r = &f->recs[0];
    assert_string_equal(r->topic, "xo.objects");
    assert_int_equal(r->partition, xo_pool_partition(FIXTURE_POOL, MOCK_KAFKA_PARTITIONS));
    /* class lower-cased in the key and the value */
    assert_string_equal(r->key, FIXTURE_POOL "/vm/OpaqueRef:vm1");
    assert_int_equal(r->n_headers, 0);
    assert_non_null(r->value);
    assert_int_equal(r->len, strlen(r->value));
    assert_int_equal(xo_msg_parse(XO_MSG_OBJECT, r->value, r->len, &v, NULL, 0), XO_OK);
    assert_int_equal(xo_msg_int(v, "v", 0), 1);
    assert_string_equal(xo_msg_str(v, "pool"), FIXTURE_POOL);
    assert_string_equal(xo_msg_str(v, "class"), "vm");
    assert_string_equal(xo_msg_str(v, "ref"), "OpaqueRef:vm1");
    assert_string_equal(xo_msg_str(v, "uuid"), "u-vm1");
    assert_string_equal(xo_msg_str(v, "op"), "add");
    assert_int_equal(xo_msg_int(v, "event_id", 0), 41);
    assert_int_equal(xo_msg_int(v, "gen", 0), 3);
    assert_true(xo_msg_int(v, "ts", 0) >= before);
    assert_true(json_object_object_get_ex(v, "snapshot", &snap));
    assert_string_equal(xo_msg_str(snap, "name_label"), "web");
    json_object_put(v);

    assert_true(xo_strmap_get(f->a.published, r->key, NULL));
    assert_int_equal(class_count(f, "vm"), 1);
    assert_int_equal(f->a.status.events, 1);
    assert_int_equal(f->a.status.last_event_id, 41);
    assert_int_equal((int)atomic_load(&f->a.published_count), 1);
}

static void test_mod_and_del(void **state)
{
    agent_fixture_t *f = *state;
    const char *key = fixture_key("vm", "OpaqueRef:vm1");
    json_object *v;

    assert_int_equal(agent_publish_event(&f->a, fixture_event("add", "VM", "OpaqueRef:vm1", 1,
                                                              fixture_snapshot("u1", "a"))),
                     XO_OK);
    assert_int_equal(agent_publish_event(&f->a, fixture_event("mod", "VM", "OpaqueRef:vm1", 2,
                                                              fixture_snapshot("u1", "b"))),
                     XO_OK);
    /* A record without uuid publishes uuid null. */
    assert_int_equal(agent_publish_event(&f->a, fixture_event("add", "host", "OpaqueRef:h1", 3,
                                                              json_object_new_object())),
                     XO_OK);
    assert_int_equal(f->n, 3);
    assert_int_equal(class_count(f, "vm"), 1); /* a mod of a known key does not count twice */
    assert_int_equal(class_count(f, "host"), 1);
    v = fixture_value(&f->recs[1]);
    assert_string_equal(xo_msg_str(v, "op"), "mod");
    json_object_put(v);
    v = fixture_value(&f->recs[2]);
    assert_null(xo_msg_str(v, "uuid"));
    json_object_put(v);

    assert_int_equal(
        agent_publish_event(&f->a, fixture_event("del", "VM", "OpaqueRef:vm1", 4, NULL)), XO_OK);
    assert_int_equal(f->n, 4);
    assert_string_equal(f->recs[3].key, key);
    assert_null(f->recs[3].value);
    assert_int_equal(f->recs[3].len, 0);
    assert_int_equal(f->recs[3].n_headers, 1);
    assert_string_equal(f->recs[3].op_header, "del");
    assert_false(xo_strmap_get(f->a.published, key, NULL));
    assert_int_equal(class_count(f, "vm"), 0);

    /* A delete of a key never published is still tombstoned; the counts do not move. */
    assert_int_equal(
        agent_publish_event(&f->a, fixture_event("del", "VM", "OpaqueRef:gone", 5, NULL)), XO_OK);
    assert_int_equal(f->n, 5);
    assert_string_equal(f->recs[4].op_header, "del");
    assert_int_equal(class_count(f, "vm"), 0);
    assert_int_equal(class_count(f, "host"), 1);
    assert_int_equal(f->a.status.events, 5);
    assert_int_equal(f->a.status.last_event_id, 5);
}

/* A full sync starts from the keys read back (AGENT_KEY_READ_BACK in the published set):
 * a key's first record counts in its class once, a later one does not, and the tombstone
 * of a key only read back leaves the counts as they are. */
static void test_read_back_keys_count_once_published(void **state)
{
    agent_fixture_t *f = *state;
    char k1[256], k2[256]; /* fixture_key() reuses its buffer */
    int64_t n = -1;

    snprintf(k1, sizeof(k1), "%s", fixture_key("vm", "OpaqueRef:vm1"));
    snprintf(k2, sizeof(k2), "%s", fixture_key("vm", "OpaqueRef:vm2"));
    assert_int_equal(xo_strmap_set(f->a.published, k1, AGENT_KEY_READ_BACK), XO_OK);
    assert_int_equal(xo_strmap_set(f->a.published, k2, AGENT_KEY_READ_BACK), XO_OK);
    for (int64_t id = 1; id <= 2; id++)
        assert_int_equal(agent_publish_event(&f->a, fixture_event("mod", "VM", "OpaqueRef:vm1", id,
                                                                  fixture_snapshot("u1", "a"))),
                         XO_OK);
    assert_int_equal(class_count(f, "vm"), 1);
    assert_true(xo_strmap_get(f->a.published, k1, &n));
    assert_true(n > AGENT_KEY_READ_BACK);
    assert_true(xo_strmap_get(f->a.published, k2, &n));
    assert_int_equal(n, AGENT_KEY_READ_BACK); /* what a sync would tombstone */
    assert_int_equal(
        agent_publish_event(&f->a, fixture_event("del", "VM", "OpaqueRef:vm2", 3, NULL)), XO_OK);
    assert_false(xo_strmap_get(f->a.published, k2, NULL));
    assert_int_equal(class_count(f, "vm"), 1);
    assert_int_equal(
        agent_publish_event(&f->a, fixture_event("del", "VM", "OpaqueRef:vm1", 4, NULL)), XO_OK);
    assert_int_equal(class_count(f, "vm"), 0);
    assert_int_equal(xo_strmap_count(f->a.published), 0);
}

static void test_malformed_events_publish_nothing(void **state)
{
    agent_fixture_t *f = *state;
    char long_class[AGENT_CLASS_MAX + 1];
    json_object *ev;

    memset(long_class, 'c', AGENT_CLASS_MAX);
    long_class[AGENT_CLASS_MAX] = '\0';
    json_object *bad[] = {
        fixture_event("add", long_class, "OpaqueRef:x", 1, fixture_snapshot("u", "n")),
        fixture_event("frob", "VM", "OpaqueRef:x", 2, fixture_snapshot("u", "n")),
        fixture_event("add", "VM", "OpaqueRef:x", 3, NULL),                   /* no snapshot */
        fixture_event("mod", "VM", "OpaqueRef:x", 4, json_object_new_int(7)), /* not a record */
        json_tokener_parse("{\"operation\":\"add\",\"ref\":\"OpaqueRef:x\",\"snapshot\":{}}"),
        json_tokener_parse("{\"operation\":\"add\",\"class\":\"vm\",\"snapshot\":{}}"),
        json_tokener_parse("{\"class\":\"vm\",\"ref\":\"OpaqueRef:x\",\"snapshot\":{}}"),
        json_tokener_parse("{\"operation\":\"add\",\"class\":7,\"ref\":\"r\",\"snapshot\":{}}"),
        json_tokener_parse("{\"operation\":\"add\",\"class\":\"vm\",\"ref\":[],\"snapshot\":{}}"),
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_non_null(bad[i]);
        assert_int_equal(agent_publish_event(&f->a, bad[i]), XO_ERR_PARSE);
    }
    assert_int_equal(f->n, 0);
    assert_int_equal(xo_strmap_count(f->a.published), 0);
    assert_int_equal(f->a.status.events, 0);
    /* The same event well-formed goes through (the refusals were not a broken agent). */
    ev = fixture_event("add", "VM", "OpaqueRef:x", 5, fixture_snapshot("u", "n"));
    assert_int_equal(agent_publish_event(&f->a, ev), XO_OK);
    assert_int_equal(f->n, 1);
}

static void test_oversized_record_is_truncated(void **state)
{
    agent_fixture_t f;
    json_object *snap = fixture_snapshot("u-big", "big"), *v, *s;
    size_t big = 70000;
    char *text = malloc(big + 1);
    const char *cut;

    (void)state;
    assert_int_equal(fixture_init(&f, NULL, false, "[limits]\nmax_record_bytes = 10000\n"), 0);
    memset(text, 'x', big);
    text[big] = '\0';
    json_object_object_add(snap, "description", json_object_new_string(text));
    json_object_object_add(snap, "other", json_object_new_string("kept"));
    free(text);
    assert_int_equal(
        agent_publish_event(&f.a, fixture_event("add", "VM", "OpaqueRef:big", 1, snap)), XO_OK);
    assert_int_equal(f.n, 1);
    assert_true(f.recs[0].len <= 10000);
    v = fixture_value(&f.recs[0]);
    assert_non_null(v);
    assert_true(json_object_object_get_ex(v, "snapshot", &s));
    cut = xo_msg_str(s, "description");
    assert_non_null(cut);
    assert_non_null(strstr(cut, "...[truncated 70000 bytes]"));
    assert_int_equal(strspn(cut, "x"), 1024);
    assert_string_equal(xo_msg_str(s, "other"), "kept");
    assert_string_equal(xo_msg_str(s, "uuid"), "u-big");
    json_object_put(v);
    fixture_fini(&f);
}

/* Two records of one event, published at different instants: the same bytes but "ts". */
static void assert_same_but_ts(const fixture_record_t *a, const fixture_record_t *b)
{
    const char *ta = strstr(a->value, ",\"ts\":"), *tb = strstr(b->value, ",\"ts\":");
    const char *ga = strstr(a->value, ",\"gen\":"), *gb = strstr(b->value, ",\"gen\":");

    assert_non_null(ta);
    assert_non_null(tb);
    assert_non_null(ga);
    assert_non_null(gb);
    assert_int_equal(ta - a->value, tb - b->value);
    assert_memory_equal(a->value, b->value, (size_t)(ta - a->value));
    assert_string_equal(ga, gb); /* gen, then the snapshot: the record's end */
    assert_string_equal(a->key, b->key);
}

/* The ingest's path (snapshot as JSON text, uuid captured) publishes what the tree path
 * does, for a plain record and for an oversized one whose long strings are cut. */
static void test_raw_snapshot_publishes_the_tree_record(void **state)
{
    agent_fixture_t f;
    size_t big = 70000;
    char *text = malloc(big + 1);

    (void)state;
    assert_int_equal(fixture_init(&f, NULL, false, "[limits]\nmax_record_bytes = 10000\n"), 0);
    memset(text, 'x', big);
    text[big] = '\0';
    for (int oversized = 0; oversized < 2; oversized++) {
        json_object *snap = fixture_snapshot("u-raw", "caf\xc3\xa9 \"q\"/\\");
        json_object_object_add(snap, "n", json_object_new_double(2.5));
        json_object_object_add(snap, "o", json_object_new_object());
        if (oversized)
            json_object_object_add(snap, "description", json_object_new_string(text));
        size_t n = f.n;
        xo_xmlrpc_raw_t raw = {json_object_to_json_string_ext(
                                   snap, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                               0, "u-raw"};
        raw.len = strlen(raw.json);
        assert_int_equal(
            agent_publish_event_raw(&f.a, fixture_event("mod", "VM", "OpaqueRef:r", 5, NULL), &raw),
            XO_OK);
        assert_int_equal(
            agent_publish_event(&f.a, fixture_event("mod", "VM", "OpaqueRef:r", 5, snap)), XO_OK);
        assert_int_equal(f.n, n + 2);
        assert_same_but_ts(&f.recs[n], &f.recs[n + 1]);
        assert_true(f.recs[n].len <= 10000);
        assert_true((strstr(f.recs[n].value, "...[truncated 70000 bytes]") != NULL) == oversized);
    }
    assert_non_null(strstr(f.recs[0].value, "\"uuid\":\"u-raw\""));
    free(text);
    fixture_fini(&f);
}

static void test_sync_marker(void **state)
{
    agent_fixture_t *f = *state;
    json_object *v;

    for (int i = 0; i < 3; i++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "OpaqueRef:%d", i);
        assert_int_equal(agent_publish_event(
                             &f->a, fixture_event("add", "SR", ref, i, json_object_new_object())),
                         XO_OK);
    }
    assert_int_equal(agent_publish_sync_marker(&f->a), XO_OK);
    assert_int_equal(f->n, 4);
    assert_string_equal(f->recs[3].key, FIXTURE_POOL "/_sync");
    assert_int_equal(f->recs[3].n_headers, 0);
    assert_int_equal(xo_msg_parse(XO_MSG_SYNC, f->recs[3].value, f->recs[3].len, &v, NULL, 0),
                     XO_OK);
    assert_string_equal(xo_msg_str(v, "pool"), FIXTURE_POOL);
    assert_string_equal(xo_msg_str(v, "agent"), FIXTURE_AGENT);
    assert_int_equal(xo_msg_int(v, "gen", 0), 3);
    assert_int_equal(xo_msg_int(v, "objects", -1), 3);
    json_object_put(v);
}

static void test_backpressure_then_resync(void **state)
{
    agent_fixture_t *f = *state;

    f->limit_next = 3; /* the queue is full three times, then drains */
    assert_false(atomic_load(&f->a.need_resync));
    assert_int_equal(agent_publish_event(&f->a, fixture_event("add", "VM", "OpaqueRef:bp", 1,
                                                              fixture_snapshot("u", "n"))),
                     XO_OK);
    assert_int_equal(f->limit_next, 0);
    assert_int_equal(f->n, 1); /* waited and sent once, nothing dropped */
    assert_false(atomic_load(&f->a.backpressure));
    assert_true(atomic_load(&f->a.need_resync)); /* the contract: resync once Kafka is back */
}

static void test_send_failure_is_returned(void **state)
{
    agent_fixture_t *f = *state;
    const char *key = fixture_key("vm", "OpaqueRef:f");

    f->fail_at = 0;
    f->fail_err = XO_ERR_KAFKA;
    assert_int_equal(agent_publish_event(&f->a, fixture_event("add", "VM", "OpaqueRef:f", 1,
                                                              fixture_snapshot("u", "n"))),
                     XO_ERR_KAFKA);
    assert_int_equal(f->n, 0);
    assert_false(xo_strmap_get(f->a.published, key, NULL)); /* not published: not counted */
    assert_int_equal(class_count(f, "vm"), 0);
    assert_int_equal((int)atomic_load(&f->a.published_count), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_record_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mod_and_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_back_keys_count_once_published, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_events_publish_nothing, setup, teardown),
        cmocka_unit_test(test_oversized_record_is_truncated),
        cmocka_unit_test(test_raw_snapshot_publishes_the_tree_record),
        cmocka_unit_test_setup_teardown(test_sync_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_then_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_failure_is_returned, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent_publish", tests, NULL, NULL);
}
