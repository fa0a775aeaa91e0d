/*
 * test_agent_event_follow.c - unit tests of agent/event_follow.c with a fake XAPI and the
 * send hook: event.from add/mod/del become records in XAPI's order, each call carries the
 * previous answer's token; valid_ref_counts drift, a delivery failure or back-pressure,
 * XAPI errors and token-less answers end the follow with the right verdict (resync or
 * re-login); malformed events are skipped and left to the count check.
 * Must not: leave loopback or loop without a bound (the script ends every follow).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent_fixture.h"

static int setup(void **state)
{
    static agent_fixture_t f;

    if (fixture_init(&f, NULL, true, NULL) != 0)
        return -1;
    /* As a full sync leaves it: a token, a generation, one VM published. */
    snprintf(f.a.token, sizeof(f.a.token), "t0");
    f.a.gen = 2;
    assert_int_equal(agent_publish_event(&f.a, fixture_event("add", "VM", "OpaqueRef:old", 1,
                                                             fixture_snapshot("u-old", "old"))),
                     XO_OK);
    fixture_clear(&f);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_fini(*state);
    return 0;
}

static json_object *events_of(json_object *e1, json_object *e2, json_object *e3)
{
    json_object *a = json_object_new_array();

    json_object *all[] = {e1, e2, e3};
    for (int i = 0; i < 3; i++)
        if (all[i])
            json_object_array_add(a, all[i]);
    return a;
}

static json_object *counts(const char *json)
{
    return json_tokener_parse(json);
}

/* Record @p i is @p op ("add", "mod" or "del") of @p key with event id @p id. */
static void assert_record(const agent_fixture_t *f, size_t i, const char *op, const char *key,
                          int64_t id)
{
    json_object *v;

    assert_true(i < f->n);
    assert_string_equal(f->recs[i].key, key);
    if (strcmp(op, "del") == 0) {
        assert_null(f->recs[i].value);
        assert_string_equal(f->recs[i].op_header, "del");
        return;
    }
    assert_int_equal(xo_msg_parse(XO_MSG_OBJECT, f->recs[i].value, f->recs[i].len, &v, NULL, 0),
                     XO_OK);
    assert_string_equal(xo_msg_str(v, "op"), op);
    assert_int_equal(xo_msg_int(v, "event_id", 0), id);
    assert_int_equal(xo_msg_int(v, "gen", 0), 2);
    json_object_put(v);
}

static void test_changes_in_order_with_tokens(void **state)
{
    agent_fixture_t *f = *state;
    const char *vm1 = "OpaqueRef:vm1";

    fixture_queue_event_from(
        f,
        events_of(fixture_event("add", "VM", vm1, 10, fixture_snapshot("u1", "a")),
                  fixture_event("mod", "VM", vm1, 11, fixture_snapshot("u1", "b")),
                  fixture_event("del", "VM", "OpaqueRef:old", 12, NULL)),
        counts("{\"VM\":\"1\"}"), "t1"); /* XML-RPC carries int64 as strings */
    fixture_queue_event_from(
        f,
        events_of(fixture_event("add", "host", "OpaqueRef:h", 13, fixture_snapshot("uh", "h")),
                  fixture_event("mod", "VM", vm1, 14, fixture_snapshot("u1", "c")), NULL),
        counts("{\"VM\":1,\"host\":1}"), "t2");
    fixture_queue_event_from(f, json_object_new_array(), counts("{\"VM\":1,\"host\":1}"), "t3");
    fixture_queue_event_from_failure(f, "SESSION_INVALID");

    assert_int_equal(agent_follow(&f->a), XO_ERR_XAPI); /* the caller logs in again */

    assert_int_equal(f->n, 5);
    assert_record(f, 0, "add", fixture_key("vm", vm1), 10);
    assert_record(f, 1, "mod", fixture_key("vm", vm1), 11);
    assert_record(f, 2, "del", fixture_key("vm", "OpaqueRef:old"), 12);
    assert_record(f, 3, "add", fixture_key("host", "OpaqueRef:h"), 13);
    assert_record(f, 4, "mod", fixture_key("vm", vm1), 14);
    /* Each call continues from the previous answer's token. */
    assert_int_equal(f->script.next_event_from, 4);
    assert_string_equal(f->script.tokens[0], "t0");
    assert_string_equal(f->script.tokens[1], "t1");
    assert_string_equal(f->script.tokens[2], "t2");
    assert_string_equal(f->script.tokens[3], "t3");
    assert_true(f->script.timeouts[0] > 1.0 && f->script.timeouts[0] < 2.0); /* 1 s + 0.1 */
    assert_string_equal(f->a.token, "t3");
    assert_int_equal(f->a.status.state, AGENT_LIVE);
    assert_int_equal(f->a.status.events, 1 + 5); /* the set-up's add, then these */
    assert_int_equal(f->a.status.last_event_id, 14);
    assert_int_equal(f->a.status.xapi_errors, 1);
    assert_int_equal(xo_strmap_count(f->a.published), 2);
}

/* XAPI forgot a delete (its bounded window): only the counts show it. */
static void test_count_drift_resyncs(void **state)
{
    agent_fixture_t *f = *state;

    fixture_queue_event_from(f, json_object_new_array(), counts("{\"VM\":0}"), "t1");
    fixture_queue_event_from(f, json_object_new_array(), counts("{\"VM\":0}"), "t2");
    assert_int_equal(agent_follow(&f->a), XO_ERR_INVALID);
    assert_int_equal(f->script.next_event_from, 1); /* stopped at the first disagreement */
    assert_int_equal(f->n, 0);
    assert_int_equal(f->a.status.xapi_errors, 0);
}

/* A class that cannot be compared (learnt after the dump) never causes a resync. */
static void test_ignored_class_does_not_resync(void **state)
{
    agent_fixture_t *f = *state;

    xo_strmap_set(f->a.ignored, "session", 1);
    fixture_queue_event_from(f, json_object_new_array(), counts("{\"VM\":1,\"session\":7}"), "t1");
    fixture_queue_event_from_failure(f, "SESSION_INVALID");
    assert_int_equal(agent_follow(&f->a), XO_ERR_XAPI);
    assert_int_equal(f->script.next_event_from, 2);
}

static void test_malformed_event_skipped(void **state)
{
    agent_fixture_t *f = *state;

    fixture_queue_event_from(
        f,
        events_of(fixture_event("add", "VM", "OpaqueRef:bad", 5, NULL),
                  fixture_event("add", "VM", "OpaqueRef:good", 6, fixture_snapshot("g", "g")),
                  NULL),
        counts("{\"VM\":3}"), "t1");
    /* The malformed one is not published, the good one is; the counts then disagree. */
    assert_int_equal(agent_follow(&f->a), XO_ERR_INVALID);
    assert_int_equal(f->n, 1);
    assert_record(f, 0, "add", fixture_key("vm", "OpaqueRef:good"), 6);
    assert_string_equal(f->a.token, "t1");
}

static void test_xapi_errors_and_bad_answers(void **state)
{
    agent_fixture_t *f = *state;

    fixture_queue_event_from_failure(f, "EVENTS_LOST");
    assert_int_equal(agent_follow(&f->a), XO_ERR_INVALID); /* resync, same session */
    assert_int_equal(f->a.status.xapi_errors, 0);
    fixture_queue_event_from(f, json_object_new_array(), NULL, NULL); /* no token */
    assert_int_equal(agent_follow(&f->a), XO_ERR_INVALID);
    assert_string_equal(f->a.token, "t0");
    assert_int_equal(f->script.next_event_from, 2);
    assert_int_equal(f->n, 0);
}

static void test_resync_flag_and_backpressure(void **state)
{
    agent_fixture_t *f = *state;

    /* A delivery failure reported by the service thread: no XAPI call at all. */
    atomic_store(&f->a.need_resync, true);
    assert_int_equal(agent_follow(&f->a), XO_ERR_INVALID);
    assert_int_equal(fake_xapi_calls(f->xapi_server), 0);
    atomic_store(&f->a.need_resync, false);

    /* Back-pressure inside a batch: the batch is sent whole, then the follow resyncs. */
    f->limit_next = 2;
    fixture_queue_event_from(
        f,
        events_of(fixture_event("add", "VM", "OpaqueRef:a", 7, fixture_snapshot("a", "a")),
                  fixture_event("add", "VM", "OpaqueRef:b", 8, fixture_snapshot("b", "b")), NULL),
        counts("{\"VM\":3}"), "t1");
    fixture_queue_event_from(f, json_object_new_array(), counts("{\"VM\":3}"), "t2");
    assert_int_equal(agent_follow(&f->a), XO_ERR_INVALID);
    assert_int_equal(f->n, 2);
    assert_int_equal(f->script.next_event_from, 1);
    assert_true(atomic_load(&f->a.need_resync));
}

static void test_stop_flag(void **state)
{
    agent_fixture_t *f = *state;

    agent_stop = 1;
    assert_int_equal(agent_follow(&f->a), XO_OK);
    assert_int_equal(fake_xapi_calls(f->xapi_server), 0);
    agent_stop = 0;
}

static void test_counts_agree(void **state)
{
    agent_fixture_t *f = *state;
    json_object *c = counts("{\"VM\":\"1\",\"SR\":0,\"session\":4,\"Host\":2}");

    /* Follow mode: vm agrees (case and string form aside), session and host do not. */
    assert_false(agent_counts_agree(&f->a, c, false));
    assert_int_equal(xo_strmap_count(f->a.ignored), 0);
    /* Learn mode (right after a dump): the disagreeing classes are left out from now on. */
    assert_true(agent_counts_agree(&f->a, c, true));
    assert_true(xo_strmap_get(f->a.ignored, "session", NULL));
    assert_true(xo_strmap_get(f->a.ignored, "host", NULL));
    assert_false(xo_strmap_get(f->a.ignored, "vm", NULL));
    assert_true(agent_counts_agree(&f->a, c, false));
    json_object_put(c);
    c = counts("{\"VM\":2}");
    assert_false(agent_counts_agree(&f->a, c, false));
    json_object_put(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changes_in_order_with_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_drift_resyncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored_class_does_not_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_event_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xapi_errors_and_bad_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync_flag_and_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_agree, setup, teardown),
    };
    return cmocka_run_group_tests_name("agent_event_follow", tests, NULL, NULL);
}
