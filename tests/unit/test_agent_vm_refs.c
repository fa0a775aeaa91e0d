/*
 * test_agent_vm_refs.c - unit tests of agent/vm_refs.c and of how publish.c keeps it: a VM
 * record teaches its uuid's ref (tree and raw snapshot paths), a tombstone forgets it, a VM
 * created again under the same uuid replaces the old ref, other classes are not kept, and
 * the table stays bounded through creations and deletions. Must not: open a socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent_fixture.h"
#include "vm_refs.h"

static int setup(void **state)
{
    static agent_fixture_t f;

    if (fixture_init(&f, NULL, false, NULL) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_fini(*state);
    return 0;
}

static const char *ref_of(agent_t *a, const char *uuid)
{
    static char ref[128];

    return agent_vm_refs_get(a->vm_refs, uuid, ref, sizeof(ref)) ? ref : NULL;
}

static void publish(agent_t *a, const char *op, const char *cls, const char *ref, const char *uuid)
{
    assert_int_equal(
        agent_publish_event(
            a, fixture_event(op, cls, ref, 1, uuid ? fixture_snapshot(uuid, "n") : NULL)),
        XO_OK);
}

static void test_table_put_get_forget(void **state)
{
    agent_vm_refs_t *t = agent_vm_refs_new();
    char ref[128], small[4];

    (void)state;
    assert_false(agent_vm_refs_get(t, "u1", ref, sizeof(ref)));
    agent_vm_refs_put(t, "u1", "OpaqueRef:a");
    assert_true(agent_vm_refs_get(t, "u1", ref, sizeof(ref)));
    assert_string_equal(ref, "OpaqueRef:a");
    assert_false(agent_vm_refs_get(t, "u1", small, sizeof(small))); /* never cut */
    /* created again under the same uuid: the new ref, and the old one names nothing */
    agent_vm_refs_put(t, "u1", "OpaqueRef:b");
    assert_true(agent_vm_refs_get(t, "u1", ref, sizeof(ref)));
    assert_string_equal(ref, "OpaqueRef:b");
    agent_vm_refs_forget(t, "OpaqueRef:a"); /* a late tombstone of the old ref */
    assert_true(agent_vm_refs_get(t, "u1", ref, sizeof(ref)));
    assert_string_equal(ref, "OpaqueRef:b");
    agent_vm_refs_forget(t, "OpaqueRef:b");
    assert_false(agent_vm_refs_get(t, "u1", ref, sizeof(ref)));
    assert_int_equal(agent_vm_refs_count(t), 0);
    agent_vm_refs_forget(t, "OpaqueRef:never");
    agent_vm_refs_put(t, "", "OpaqueRef:c"); /* nothing to key on */
    agent_vm_refs_put(t, "u2", NULL);
    assert_int_equal(agent_vm_refs_count(t), 0);
    agent_vm_refs_free(t);
}

static void test_published_vm_records_and_tombstones(void **state)
{
    agent_fixture_t *f = *state;

    publish(&f->a, "add", "VM", "OpaqueRef:vm1", "u-vm1");
    assert_string_equal(ref_of(&f->a, "u-vm1"), "OpaqueRef:vm1");
    publish(&f->a, "mod", "VM", "OpaqueRef:vm1", "u-vm1");
    assert_int_equal(agent_vm_refs_count(f->a.vm_refs), 1);
    publish(&f->a, "add", "host", "OpaqueRef:h1", "u-h1"); /* only VMs */
    assert_null(ref_of(&f->a, "u-h1"));
    publish(&f->a, "del", "VM", "OpaqueRef:vm1", NULL);
    assert_null(ref_of(&f->a, "u-vm1"));
    /* destroyed, then created again with the same uuid (an import keeping it) */
    publish(&f->a, "add", "VM", "OpaqueRef:vm2", "u-vm1");
    publish(&f->a, "add", "VM", "OpaqueRef:vm3", "u-vm1");
    assert_string_equal(ref_of(&f->a, "u-vm1"), "OpaqueRef:vm3");
    publish(&f->a, "del", "VM", "OpaqueRef:vm2", NULL); /* the older one's tombstone */
    assert_string_equal(ref_of(&f->a, "u-vm1"), "OpaqueRef:vm3");
    /* a resync's tombstone of a key it no longer finds */
    assert_int_equal(agent_publish_tombstone(&f->a, fixture_key("vm", "OpaqueRef:vm3"), "vm"),
                     XO_OK);
    assert_null(ref_of(&f->a, "u-vm1"));
}

static void test_raw_snapshot_teaches_the_ref(void **state)
{
    agent_fixture_t *f = *state;
    json_object *snap = fixture_snapshot("u-raw", "r");
    xo_xmlrpc_raw_t raw = {json_object_to_json_string_ext(snap, JSON_C_TO_STRING_PLAIN), 0,
                           "u-raw"};

    raw.len = strlen(raw.json);
    assert_int_equal(
        agent_publish_event_raw(&f->a, fixture_event("add", "VM", "OpaqueRef:r", 5, NULL), &raw),
        XO_OK);
    json_object_put(snap);
    assert_string_equal(ref_of(&f->a, "u-raw"), "OpaqueRef:r");
}

/* Creations and deletions of many VMs leave nothing behind. */
static void test_bounded_through_churn(void **state)
{
    agent_fixture_t *f = *state;
    char uuid[64], ref[64];

    for (int i = 0; i < 2000; i++) {
        snprintf(uuid, sizeof(uuid), "u-churn-%d", i);
        snprintf(ref, sizeof(ref), "OpaqueRef:churn-%d", i);
        publish(&f->a, "add", "VM", ref, uuid);
        if (i >= 10) {
            snprintf(ref, sizeof(ref), "OpaqueRef:churn-%d", i - 10);
            publish(&f->a, "del", "VM", ref, NULL);
        }
        fixture_clear(f);
    }
    assert_int_equal(agent_vm_refs_count(f->a.vm_refs), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_put_get_forget),
        cmocka_unit_test_setup_teardown(test_published_vm_records_and_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_snapshot_teaches_the_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_through_churn, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
