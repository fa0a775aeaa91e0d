/*
 * test_agent_sync.c - unit tests of agent/sync.c, the full resync of the topic contract,
 * with a fake XAPI (the dump), librdkafka's mock cluster (what earlier runs left in
 * xo.objects, read back) and the send hook (what the agent publishes): every object with
 * its envelope, tombstones for keys that no longer exist, the _sync marker last with the
 * next generation; malformed events counted, not published; failures publish no marker.
 * Must not: leave loopback, or depend on the order of a hash map.
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
#include "vm_refs.h"
#include "xo_log.h"

#define SYNC_KEY FIXTURE_POOL "/_sync"

typedef struct {
    mock_kafka_t *kafka;
    agent_fixture_t f;
} ctx_t;

static int setup(void **state)
{
    static ctx_t c;

    c.kafka = mock_kafka_start();
    if (!c.kafka || fixture_init(&c.f, mock_kafka_bootstrap(c.kafka), true, NULL) != 0)
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

static json_object *vm(const char *ref, long id)
{
    char uuid[64];

    snprintf(uuid, sizeof(uuid), "uuid-%s", ref + strlen("OpaqueRef:"));
    return fixture_event("add", "VM", ref, id, fixture_snapshot(uuid, ref));
}

static json_object *counts(int vms, int hosts, int pools)
{
    json_object *c = json_object_new_object();

    json_object_object_add(c, "VM", json_object_new_int(vms));
    json_object_object_add(c, "host", json_object_new_int(hosts));
    json_object_object_add(c, "pool", json_object_new_int(pools));
    return c;
}

/* The record at @p i is an add of @p key in generation @p gen. */
static void assert_add(const agent_fixture_t *f, size_t i, const char *key, int64_t gen)
{
    json_object *v;

    assert_true(i < f->n);
    assert_string_equal(f->recs[i].key, key);
    assert_int_equal(xo_msg_parse(XO_MSG_OBJECT, f->recs[i].value, f->recs[i].len, &v, NULL, 0),
                     XO_OK);
    assert_string_equal(xo_msg_str(v, "op"), "add");
    assert_int_equal(xo_msg_int(v, "gen", 0), gen);
    json_object_put(v);
}

/* The last record is the _sync marker of @p gen counting @p objects. */
static void assert_marker_last(const agent_fixture_t *f, int64_t gen, int64_t objects)
{
    const fixture_record_t *r = &f->recs[f->n - 1];
    json_object *v;

    assert_true(f->n > 0);
    assert_string_equal(r->key, SYNC_KEY);
    assert_int_equal(fixture_index(f, SYNC_KEY), (long)f->n - 1); /* the only marker */
    assert_int_equal(xo_msg_parse(XO_MSG_SYNC, r->value, r->len, &v, NULL, 0), XO_OK);
    assert_int_equal(xo_msg_int(v, "gen", 0), gen);
    assert_int_equal(xo_msg_int(v, "objects", -1), objects);
    assert_string_equal(xo_msg_str(v, "agent"), FIXTURE_AGENT);
    json_object_put(v);
}

static void test_full_dump_into_empty_topic(void **state)
{
    ctx_t *c = *state;
    agent_fixture_t *f = &c->f;
    json_object *events = json_object_new_array(), *cnt = counts(3, 1, 1);
    char want_host[128];

    json_object_array_add(events, fixture_event("add", "pool", "OpaqueRef:p", 1,
                                                fixture_snapshot(FIXTURE_POOL, "pool")));
    json_object_array_add(
        events, fixture_event("add", "host", "OpaqueRef:h", 2, fixture_snapshot("uuid-h", "host")));
    json_object_array_add(events, vm("OpaqueRef:v1", 3));
    json_object_array_add(events, vm("OpaqueRef:v2", 4));
    json_object_array_add(events, vm("OpaqueRef:v3", 5));
    /* XAPI counts sessions, which event.from never delivers: not comparable. */
    json_object_object_add(cnt, "session", json_object_new_int(2));
    fixture_queue_event_from(f, events, cnt, "dump-token");
    f->script.hosts = json_tokener_parse("{\"OpaqueRef:h\":{\"address\":\"10.0.0.7\"}}");

    assert_int_equal(agent_full_sync(&f->a), XO_OK);

    /* XAPI saw one dump: every class, the empty token. */
    assert_int_equal(f->script.next_event_from, 1);
    assert_string_equal(f->script.tokens[0], "");
    assert_int_equal(f->script.host_calls, 1);
    assert_int_equal(f->script.other_calls, 0);
    /* Every object in XAPI's order, generation 1 (nothing read back), then the marker. */
    assert_int_equal(f->n, 6);
    assert_add(f, 0, fixture_key("pool", "OpaqueRef:p"), 1);
    assert_add(f, 1, fixture_key("host", "OpaqueRef:h"), 1);
    assert_add(f, 2, fixture_key("vm", "OpaqueRef:v1"), 1);
    assert_add(f, 3, fixture_key("vm", "OpaqueRef:v2"), 1);
    assert_add(f, 4, fixture_key("vm", "OpaqueRef:v3"), 1);
    assert_marker_last(f, 1, 5);
    for (size_t i = 0; i < f->n; i++) {
        assert_string_equal(f->recs[i].topic, "xo.objects");
        assert_int_equal(f->recs[i].partition, f->a.partition);
    }
    /* The agent follows from the dump's token; the uncomparable class is learnt. */
    assert_string_equal(f->a.token, "dump-token");
    assert_int_equal(f->a.gen, 1);
    assert_int_equal(f->a.status.gen, 1);
    assert_int_equal(f->a.status.resyncs, 1);
    assert_int_equal(f->a.status.state, AGENT_SYNCING);
    assert_true(xo_strmap_get(f->a.ignored, "session", NULL));
    assert_false(xo_strmap_get(f->a.ignored, "vm", NULL));
    assert_true(agent_counts_agree(&f->a, cnt, false));
    /* The hosts of the dump become failover candidates, on the master URL's port. */
    assert_int_equal(f->a.n_hosts, 2);
    snprintf(want_host, sizeof(want_host), "http://10.0.0.7%s",
             strrchr(fake_xapi_url(f->xapi_server), ':'));
    assert_string_equal(f->a.hosts[1], want_host);
}

static void test_resync_tombstones_what_is_gone(void **state)
{
    ctx_t *c = *state;
    agent_fixture_t *f = &c->f;
    json_object *events = json_object_new_array();
    const char *other = "11111111-2222-3333-4444-555555555555/vm/OpaqueRef:o";
    char *g4 = xo_sync_msg_encode(FIXTURE_POOL, "before", 4, 3, xo_now_ms(), &(size_t){0});
    long gone1, gone2, marker;

    /* What an earlier run left: a, b, two objects deleted while no agent ran, a marker,
     * and another pool's record on the same partition. */
    assert_int_equal(
        mock_kafka_seed(c->kafka, f->a.partition, fixture_key("vm", "OpaqueRef:a"), "{}"), XO_OK);
    assert_int_equal(
        mock_kafka_seed(c->kafka, f->a.partition, fixture_key("vm", "OpaqueRef:b"), "{}"), XO_OK);
    assert_int_equal(
        mock_kafka_seed(c->kafka, f->a.partition, fixture_key("vm", "OpaqueRef:gone1"), "{}"),
        XO_OK);
    assert_int_equal(
        mock_kafka_seed(c->kafka, f->a.partition, fixture_key("host", "OpaqueRef:gone2"), "{}"),
        XO_OK);
    assert_int_equal(mock_kafka_seed(c->kafka, f->a.partition, SYNC_KEY, g4), XO_OK);
    assert_int_equal(mock_kafka_seed(c->kafka, f->a.partition, other, "{}"), XO_OK);
    free(g4);

    json_object_array_add(events, vm("OpaqueRef:a", 10));
    json_object_array_add(events, vm("OpaqueRef:b", 11));
    json_object_array_add(events, vm("OpaqueRef:new", 12));
    fixture_queue_event_from(f, events, counts(3, 0, 0), "t1");
    /* the stream had shown gone1 before the connection was lost */
    agent_vm_refs_put(f->a.vm_refs, "uuid-gone1", "OpaqueRef:gone1");

    assert_int_equal(agent_full_sync(&f->a), XO_OK);

    /* Generation 5 follows the 4 read back. */
    assert_int_equal(f->a.gen, 5);
    assert_add(f, 0, fixture_key("vm", "OpaqueRef:a"), 5);
    assert_add(f, 1, fixture_key("vm", "OpaqueRef:b"), 5);
    assert_add(f, 2, fixture_key("vm", "OpaqueRef:new"), 5);
    /* Exactly the two vanished keys are tombstoned, after the dump, before the marker. */
    assert_int_equal(f->n, 6);
    gone1 = fixture_index(f, fixture_key("vm", "OpaqueRef:gone1"));
    gone2 = fixture_index(f, fixture_key("host", "OpaqueRef:gone2"));
    marker = fixture_index(f, SYNC_KEY);
    assert_true(gone1 >= 3 && gone1 < marker);
    assert_true(gone2 >= 3 && gone2 < marker);
    for (long i = 3; i < 5; i++) {
        assert_null(f->recs[i].value);
        assert_string_equal(f->recs[i].op_header, "del");
    }
    assert_int_equal(fixture_index(f, other), -1); /* another pool's key is not ours */
    assert_marker_last(f, 5, 3);
    assert_int_equal(xo_strmap_count(f->a.published), 3);
    /* the commands' VM refs: the dump's VMs known, the vanished one forgotten */
    assert_true(agent_vm_refs_get(f->a.vm_refs, "uuid-new", (char[64]){0}, 64));
    assert_false(agent_vm_refs_get(f->a.vm_refs, "uuid-gone1", (char[64]){0}, 64));
    assert_int_equal(agent_vm_refs_count(f->a.vm_refs), 3);
}

static char *read_all(FILE *fp)
{
    long n;
    char *s;

    fflush(fp);
    n = ftell(fp);
    s = calloc(1, (size_t)n + 1);
    rewind(fp);
    if (s && fread(s, 1, (size_t)n, fp) != (size_t)n)
        s[0] = '\0';
    return s;
}

static void test_malformed_counted_not_published(void **state)
{
    ctx_t *c = *state;
    agent_fixture_t *f = &c->f;
    json_object *events = json_object_new_array(), *cnt = counts(3, 0, 0);
    FILE *log = tmpfile();
    char *text;

    json_object_array_add(events, vm("OpaqueRef:v1", 1));
    json_object_array_add(events, fixture_event("add", "VM", "OpaqueRef:nosnap", 2, NULL));
    json_object_array_add(events, json_tokener_parse("{\"operation\":\"add\",\"snapshot\":{}}"));
    json_object_array_add(events, vm("OpaqueRef:v2", 4));
    fixture_queue_event_from(f, events, json_object_get(cnt), "t1");

    assert_non_null(log);
    xo_log_set_output(log);
    assert_int_equal(agent_full_sync(&f->a), XO_OK);
    xo_log_set_output(stderr);
    text = read_all(log);
    fclose(log);

    assert_int_equal(f->n, 3);
    assert_add(f, 0, fixture_key("vm", "OpaqueRef:v1"), 1);
    assert_add(f, 1, fixture_key("vm", "OpaqueRef:v2"), 1);
    assert_int_equal(fixture_index(f, fixture_key("vm", "OpaqueRef:nosnap")), -1);
    /* The VM whose event was malformed exists in XAPI: counted (not the event without a
     * class), so the count check stays on for VMs. */
    assert_marker_last(f, 1, 3);
    assert_non_null(strstr(text, "event=synced"));
    assert_non_null(strstr(text, "objects=3 tombstones=0 malformed=2"));
    assert_false(xo_strmap_get(f->a.ignored, "vm", NULL));
    assert_true(agent_counts_agree(&f->a, cnt, false));
    free(text);
    json_object_put(cnt);
}

/* An object whose event in the dump is malformed still exists in XAPI: the record read back
 * for it stays on the topic (no tombstone), and it counts as published, so that its class
 * stays in the count check; a good record of it later is not counted twice. */
static void test_malformed_read_back_key_is_kept(void **state)
{
    ctx_t *c = *state;
    agent_fixture_t *f = &c->f;
    json_object *events = json_object_new_array(), *cnt = counts(2, 0, 0);
    char kept[256];

    snprintf(kept, sizeof(kept), "%s", fixture_key("vm", "OpaqueRef:nosnap"));
    assert_int_equal(mock_kafka_seed(c->kafka, f->a.partition, kept, "{}"), XO_OK);
    assert_int_equal(
        mock_kafka_seed(c->kafka, f->a.partition, fixture_key("vm", "OpaqueRef:gone"), "{}"),
        XO_OK);
    json_object_array_add(events, vm("OpaqueRef:v1", 1));
    json_object_array_add(events, fixture_event("add", "VM", "OpaqueRef:nosnap", 2, NULL));
    fixture_queue_event_from(f, events, json_object_get(cnt), "t1");

    assert_int_equal(agent_full_sync(&f->a), XO_OK);

    assert_int_equal(f->n, 3); /* v1, the tombstone of gone, the marker */
    assert_add(f, 0, fixture_key("vm", "OpaqueRef:v1"), 1);
    assert_string_equal(f->recs[1].key, fixture_key("vm", "OpaqueRef:gone"));
    assert_null(f->recs[1].value);
    assert_int_equal(fixture_index(f, kept), -1);
    assert_marker_last(f, 1, 2);
    assert_true(xo_strmap_get(f->a.published, kept, NULL));
    assert_int_equal(xo_strmap_count(f->a.published), 2);
    assert_false(xo_strmap_get(f->a.ignored, "vm", NULL));
    assert_true(agent_counts_agree(&f->a, cnt, false));
    /* Its snapshot good again: published, still one VM of two. */
    assert_int_equal(agent_publish_event(&f->a, vm("OpaqueRef:nosnap", 3)), XO_OK);
    assert_true(fixture_index(f, kept) >= 0);
    assert_true(agent_counts_agree(&f->a, cnt, false));
    json_object_put(cnt);
}

static void test_dump_failure_publishes_no_marker(void **state)
{
    ctx_t *c = *state;
    agent_fixture_t *f = &c->f;
    json_object *events = json_object_new_array();

    fixture_queue_event_from_failure(f, "EVENTS_LOST");
    assert_int_equal(agent_full_sync(&f->a), XO_ERR_XAPI);
    assert_int_equal(f->n, 0);
    assert_int_equal(f->a.status.resyncs, 0);

    /* An answer without a token: the objects went out, but no marker. */
    json_object_array_add(events, vm("OpaqueRef:v1", 1));
    fixture_queue_event_from(f, events, counts(1, 0, 0), NULL);
    assert_int_equal(agent_full_sync(&f->a), XO_ERR_PARSE);
    assert_int_equal(f->n, 1);
    assert_int_equal(fixture_index(f, SYNC_KEY), -1);
    assert_int_equal(f->a.status.resyncs, 0);
}

static void test_delivery_failure_aborts_dump(void **state)
{
    ctx_t *c = *state;
    agent_fixture_t *f = &c->f;
    json_object *events = json_object_new_array();

    for (int i = 0; i < 4; i++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "OpaqueRef:v%d", i);
        json_object_array_add(events, vm(ref, i));
    }
    fixture_queue_event_from(f, events, counts(4, 0, 0), "t1");
    f->fail_at = 1; /* the second record cannot be queued */
    f->fail_err = XO_ERR_KAFKA;
    assert_int_equal(agent_full_sync(&f->a), XO_ERR_KAFKA);
    assert_int_equal(f->n, 1); /* the dump stopped at the failure */
    assert_int_equal(fixture_index(f, SYNC_KEY), -1);
    assert_int_equal(f->a.status.resyncs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_dump_into_empty_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync_tombstones_what_is_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_counted_not_published, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_read_back_key_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_failure_publishes_no_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_failure_aborts_dump, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent_sync", tests, NULL, NULL);
}
