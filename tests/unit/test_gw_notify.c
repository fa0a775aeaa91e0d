/*
 * test_gw_notify.c - unit tests of gateway/view/notify.c, the `all` batch between the
 * consumer and the service thread: nothing is kept without subscribers, changes to one id
 * merge (last state wins, the first position and timestamp stay), enter before exit in
 * first-change order, the wake-up only when there is something, messages split at
 * GW_NOTIFY_MAX_MSG, a built batch's memory given back for a later one, merged-away
 * states not piling up in a batch that waits, and no change
 * lost or doubled while both threads run.
 * Must not: touch the view or any socket; every loop is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "view/notify.h"

typedef struct {
    gw_notify_t *n;
    int wakes;
} ctx_t;

static void on_wake(void *opaque)
{
    ((ctx_t *)opaque)->wakes++;
}

static int setup(void **state)
{
    static ctx_t c;

    c.n = gw_notify_new();
    c.wakes = 0;
    if (!c.n)
        return -1;
    gw_notify_set_wake(c.n, on_wake, &c);
    gw_notify_subscribers_add(c.n, 1);
    *state = &c;
    return 0;
}

static int teardown(void **state)
{
    gw_notify_free(((ctx_t *)*state)->n);
    return 0;
}

static void emit(gw_notify_t *n, const char *id, const char *json)
{
    gw_notify_emit(n, id, json, json ? strlen(json) : 0);
}

/* Parse message @p i of @p out and check its envelope; returns params.items (new ref). */
static json_object *items_of(const gw_notify_out_t *out, size_t i, const char *type)
{
    json_tokener *tok = json_tokener_new_ex(64);
    json_object *msg, *params, *items = NULL, *v;

    assert_true(i < out->nmsgs);
    assert_int_equal(out->msgs[i]->refs, 1);
    msg = json_tokener_parse_ex(tok, out->msgs[i]->data, (int)out->msgs[i]->len);
    assert_non_null(msg);
    assert_int_equal(json_tokener_get_parse_end(tok), out->msgs[i]->len); /* nothing after */
    json_tokener_free(tok);
    assert_true(json_object_object_get_ex(msg, "jsonrpc", &v));
    assert_string_equal(json_object_get_string(v), "2.0");
    assert_true(json_object_object_get_ex(msg, "method", &v));
    assert_string_equal(json_object_get_string(v), "all");
    assert_false(json_object_object_get_ex(msg, "id", NULL)); /* a notification */
    assert_true(json_object_object_get_ex(msg, "params", &params));
    assert_true(json_object_object_get_ex(params, "type", &v));
    assert_string_equal(json_object_get_string(v), type);
    assert_true(json_object_object_get_ex(params, "items", &items));
    json_object_get(items);
    json_object_put(msg);
    return items;
}

/* The ids of an items object, in message order, joined by ','. */
static void ids_of(json_object *items, char *buf, size_t size)
{
    buf[0] = '\0';
    json_object_object_foreach(items, id, v)
    {
        (void)v;
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "," : "", id);
    }
}

static void test_no_subscribers_no_batch(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;

    gw_notify_subscribers_add(c->n, 2);
    assert_int_equal(gw_notify_subscribers(c->n), 3);
    gw_notify_subscribers_add(c->n, -3);
    assert_int_equal(gw_notify_subscribers(c->n), 0);
    emit(c->n, "a", "{\"x\":1}");
    emit(c->n, "b", NULL);
    gw_notify_publish(c->n);
    assert_int_equal(c->wakes, 0);
    assert_false(gw_notify_take(c->n, &out));
    assert_int_equal(out.nmsgs, 0);
    assert_int_equal(out.items, 0);
    /* A signed-in client again: changes are kept from now on (not the earlier ones). */
    gw_notify_subscribers_add(c->n, 1);
    emit(c->n, "c", "{}");
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 1);
    gw_notify_out_fini(&out);
}

static void test_wake_only_with_changes(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;

    gw_notify_publish(c->n);
    assert_int_equal(c->wakes, 0);
    emit(c->n, "a", "{}");
    gw_notify_publish(c->n);
    gw_notify_publish(c->n); /* each drain wakes; the service thread takes once */
    assert_int_equal(c->wakes, 2);
    assert_true(gw_notify_take(c->n, &out));
    gw_notify_out_fini(&out);
    gw_notify_publish(c->n); /* taken: nothing to wake for */
    assert_int_equal(c->wakes, 2);
    assert_false(gw_notify_take(c->n, &out));
    /* Without a wake function publishing is harmless. */
    gw_notify_set_wake(c->n, NULL, NULL);
    emit(c->n, "b", "{}");
    gw_notify_publish(c->n);
    assert_int_equal(c->wakes, 2);
}

static void test_enter_and_exit_messages(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    json_object *items, *v;
    char ids[256];

    gw_notify_set_ts(c->n, 1000);
    emit(c->n, "vm-1", "{\"type\":\"VM\",\"name_label\":\"a\"}");
    gw_notify_set_ts(c->n, 1001);
    emit(c->n, "gone-1", NULL);
    gw_notify_set_ts(c->n, 1002);
    emit(c->n, "host-1", "{\"type\":\"host\"}");
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 3);
    assert_int_equal(out.nmsgs, 2); /* enter, then exit */
    assert_non_null(out.ts);
    assert_int_equal(out.ts[0], 1000);
    assert_int_equal(out.ts[1], 1001);
    assert_int_equal(out.ts[2], 1002);

    items = items_of(&out, 0, "enter");
    ids_of(items, ids, sizeof(ids));
    assert_string_equal(ids, "vm-1,host-1");
    assert_true(json_object_object_get_ex(items, "vm-1", &v));
    assert_string_equal(json_object_get_string(json_object_object_get(v, "name_label")), "a");
    json_object_put(items);
    items = items_of(&out, 1, "exit");
    ids_of(items, ids, sizeof(ids));
    assert_string_equal(ids, "gone-1");
    assert_int_equal(json_object_get_int(json_object_object_get(items, "gone-1")), 0);
    json_object_put(items);
    gw_notify_out_fini(&out);
    assert_int_equal(out.nmsgs, 0);
    assert_null(out.msgs);
    /* Only exits: one exit message, no empty enter. */
    emit(c->n, "x", NULL);
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.nmsgs, 1);
    json_object_put(items_of(&out, 0, "exit"));
    gw_notify_out_fini(&out);
}

static void test_merge_per_id(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    json_object *items, *v;
    char ids[256];

    gw_notify_set_ts(c->n, 10);
    emit(c->n, "a", "{\"v\":1}");
    emit(c->n, "b", "{\"v\":1}");
    emit(c->n, "c", NULL);
    emit(c->n, "d", "{\"v\":1}");
    gw_notify_set_ts(c->n, 20);
    emit(c->n, "a", "{\"v\":2}"); /* mod then mod: the last state */
    emit(c->n, "b", NULL);        /* enter then exit: exit */
    emit(c->n, "c", "{\"v\":2}"); /* exit then enter: enter */
    emit(c->n, "d", "{\"v\":2}");
    emit(c->n, "d", "{\"v\":3}");
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 4); /* one change per id */
    /* The first change's timestamp stays: latency counts from the oldest merged change. */
    for (size_t i = 0; i < out.items; i++)
        assert_int_equal(out.ts[i], 10);
    assert_int_equal(out.nmsgs, 2);
    items = items_of(&out, 0, "enter");
    ids_of(items, ids, sizeof(ids));
    assert_string_equal(ids, "a,c,d"); /* the order of each id's first change */
    assert_true(json_object_object_get_ex(items, "a", &v));
    assert_int_equal(json_object_get_int(json_object_object_get(v, "v")), 2);
    assert_true(json_object_object_get_ex(items, "c", &v));
    assert_int_equal(json_object_get_int(json_object_object_get(v, "v")), 2);
    assert_true(json_object_object_get_ex(items, "d", &v));
    assert_int_equal(json_object_get_int(json_object_object_get(v, "v")), 3);
    json_object_put(items);
    items = items_of(&out, 1, "exit");
    ids_of(items, ids, sizeof(ids));
    assert_string_equal(ids, "b");
    json_object_put(items);
    gw_notify_out_fini(&out);
    /* The next batch starts empty: an id merged before is new again. */
    emit(c->n, "a", NULL);
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 1);
    assert_int_equal(out.nmsgs, 1);
    gw_notify_out_fini(&out);
}

/* A built batch's memory goes back to the consumer and holds a later batch (its blocks
 * are not freed on the service thread): every later batch is exactly its own changes,
 * merged as before, whatever the earlier ones held; an outsized batch is freed instead. */
static void test_spent_batch_reused(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    json_object *items, *v;
    char ids[256], id[32], big[512];
    uint64_t reused;

    for (int round = 0; round < 6; round++) {
        gw_notify_set_ts(c->n, 100 + round);
        emit(c->n, "a", round % 2 ? NULL : "{\"v\":1}");
        emit(c->n, "b", "{\"v\":1}");
        emit(c->n, round % 2 ? "c" : "d", "{\"long\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}");
        emit(c->n, "b", round % 3 ? "{\"v\":9}" : NULL); /* merged: the last state */
        assert_true(gw_notify_take(c->n, &out));
        assert_int_equal(out.items, 3);
        for (size_t i = 0; i < out.items; i++)
            assert_int_equal(out.ts[i], 100 + round);
        items = items_of(&out, 0, "enter");
        ids_of(items, ids, sizeof(ids));
        assert_string_equal(ids, round % 3 == 0 ? (round % 2 ? "c" : "a,d")
                                 : round % 2    ? "b,c"
                                                : "a,b,d");
        if (round % 3) {
            assert_true(json_object_object_get_ex(items, "b", &v));
            assert_int_equal(json_object_get_int(json_object_object_get(v, "v")), 9);
        }
        json_object_put(items);
        gw_notify_out_fini(&out);
        /* from the second take on, the first batch's blocks are given back every time */
        assert_int_equal(gw_notify_batches_reused(c->n), (uint64_t)round + 1);
    }
    assert_false(gw_notify_take(c->n, &out)); /* an emptied batch is not a change */

    /* 20,000 ids (a sync seen by a client) are freed, not kept */
    reused = gw_notify_batches_reused(c->n);
    memset(big, 'y', sizeof(big) - 1);
    big[0] = '"';
    big[sizeof(big) - 2] = '"';
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "vm-%d", i);
        emit(c->n, id, big);
    }
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 20000);
    gw_notify_out_fini(&out);
    assert_int_equal(gw_notify_batches_reused(c->n), reused);
    emit(c->n, "z", "{}");
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 1);
    gw_notify_out_fini(&out);
}

/* A batch that waits long (the service thread behind) while the same ids change again and
 * again holds about what its ids need, not every state they had: each id ends with its
 * last state, in its first position, however often the arena was compacted. */
static void test_merged_states_do_not_pile_up(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    json_object *items, *v;
    char id[16], json[1100], ids[256];

    for (int k = 0; k < 5000; k++)
        for (int i = 0; i < 10; i++) {
            snprintf(id, sizeof(id), "vm-%d", i);
            snprintf(json, sizeof(json), "{\"k\":%d,\"pad\":\"%0*d\"}", k, 1000, i);
            emit(c->n, id, i == 3 && k == 4999 ? NULL : json);
            /* live: 10 ids of about 1 KiB; without compaction 50 MiB by the end */
            assert_true(gw_notify_pending_bytes(c->n) <= 1024 * 1024);
        }
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 10);
    assert_int_equal(out.nmsgs, 2);
    items = items_of(&out, 0, "enter");
    ids_of(items, ids, sizeof(ids));
    assert_string_equal(ids, "vm-0,vm-1,vm-2,vm-4,vm-5,vm-6,vm-7,vm-8,vm-9");
    json_object_object_foreach(items, key, val)
    {
        (void)key;
        assert_true(json_object_object_get_ex(val, "k", &v));
        assert_int_equal(json_object_get_int(v), 4999);
    }
    json_object_put(items);
    items = items_of(&out, 1, "exit");
    ids_of(items, ids, sizeof(ids));
    assert_string_equal(ids, "vm-3");
    json_object_put(items);
    gw_notify_out_fini(&out);
    assert_int_equal(gw_notify_pending_bytes(c->n), 0);
}

static void test_ids_are_escaped(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    json_object *items;

    emit(c->n, "q\"uote\\back\nline", "{}");
    emit(c->n, "exit\"id", NULL);
    assert_true(gw_notify_take(c->n, &out));
    items = items_of(&out, 0, "enter");
    assert_true(json_object_object_get_ex(items, "q\"uote\\back\nline", NULL));
    json_object_put(items);
    items = items_of(&out, 1, "exit");
    assert_true(json_object_object_get_ex(items, "exit\"id", NULL));
    json_object_put(items);
    gw_notify_out_fini(&out);
}

static void test_many_ids(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    json_object *items;
    char id[32];

    /* Past several growths of the hash, each id once, in order. */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5000; i++) {
            snprintf(id, sizeof(id), "obj-%d", i);
            emit(c->n, id, round ? "{\"r\":1}" : "{\"r\":0}");
        }
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 5000);
    assert_int_equal(out.nmsgs, 1);
    items = items_of(&out, 0, "enter");
    assert_int_equal(json_object_object_length(items), 5000);
    {
        int i = 0;
        json_object_object_foreach(items, k, v)
        {
            snprintf(id, sizeof(id), "obj-%d", i++);
            assert_string_equal(k, id);
            assert_int_equal(json_object_get_int(json_object_object_get(v, "r")), 1);
        }
    }
    json_object_put(items);
    gw_notify_out_fini(&out);
}

/* A big object of @p size bytes of JSON. */
static char *big_object(size_t size)
{
    char *s = malloc(size + 1);

    memset(s, 'x', size);
    memcpy(s, "{\"d\":\"", 6);
    memcpy(s + size - 2, "\"}", 2);
    s[size] = '\0';
    return s;
}

static void test_enter_split_at_max(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    size_t one = 1024 * 1024, total = 0;
    char *obj = big_object(one), *huge = big_object(GW_NOTIFY_MAX_MSG + 100);
    char id[16];

    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof(id), "big-%d", i);
        emit(c->n, id, obj);
    }
    emit(c->n, "huge", huge); /* larger than a message: alone in its own */
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, 10);
    assert_int_equal(out.nmsgs, 4); /* 3 + 3 + 3 objects of 1 MiB, then the huge one */
    for (size_t m = 0; m < out.nmsgs; m++) {
        json_object *items = items_of(&out, m, "enter");
        size_t n = (size_t)json_object_object_length(items);
        assert_true(m == 3 || out.msgs[m]->len <= GW_NOTIFY_MAX_MSG);
        assert_int_equal(n, m == 3 ? 1 : 3);
        total += n;
        json_object_put(items);
    }
    assert_int_equal(total, 10);
    gw_notify_out_fini(&out);
    free(obj);
    free(huge);
}

static void test_exit_split_at_max(void **state)
{
    ctx_t *c = *state;
    gw_notify_out_t out;
    size_t total = 0, want = 0;
    char id[64];

    /* ids of 40 bytes: ~45 bytes each in the message, so this many exceed 4 MiB. */
    while (want * 45 < GW_NOTIFY_MAX_MSG + GW_NOTIFY_MAX_MSG / 4) {
        snprintf(id, sizeof(id), "%08zx-0000-4000-8000-000000000000abcd", want++);
        emit(c->n, id, NULL);
    }
    assert_true(gw_notify_take(c->n, &out));
    assert_int_equal(out.items, want);
    assert_int_equal(out.nmsgs, 2);
    for (size_t m = 0; m < out.nmsgs; m++) {
        json_object *items = items_of(&out, m, "exit");
        /* the split happens once the message passed the limit by at most one id */
        assert_true(out.msgs[m]->len <= GW_NOTIFY_MAX_MSG + 64);
        total += (size_t)json_object_object_length(items);
        json_object_put(items);
    }
    assert_int_equal(total, want);
    gw_notify_out_fini(&out);
}

/* ---- the two threads at once ---- */

#define RACE_IDS 20000

static void *consumer_thread(void *arg)
{
    gw_notify_t *n = arg;
    char id[32];

    for (int i = 0; i < RACE_IDS; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        gw_notify_emit(n, id, "{}", 2);
        if (i % 100 == 99)
            gw_notify_publish(n);
    }
    gw_notify_publish(n);
    return NULL;
}

static void test_consumer_and_service_threads(void **state)
{
    ctx_t *c = *state;
    pthread_t t;
    size_t seen = 0, batches = 0;
    time_t deadline = time(NULL) + 60;
    char *got = calloc(RACE_IDS, 1);

    gw_notify_set_wake(c->n, NULL, NULL); /* the wake counter is not thread-safe */
    assert_int_equal(pthread_create(&t, NULL, consumer_thread, c->n), 0);
    while (seen < RACE_IDS && time(NULL) < deadline) {
        gw_notify_out_t out;
        if (!gw_notify_take(c->n, &out)) {
            nanosleep(&(struct timespec){0, 1000000}, NULL); /* as if waiting for a wake */
            continue;
        }
        batches++;
        for (size_t m = 0; m < out.nmsgs; m++) {
            json_object *items = items_of(&out, m, "enter");
            json_object_object_foreach(items, k, v)
            {
                int i = atoi(k + 3);
                (void)v;
                assert_true(i >= 0 && i < RACE_IDS);
                assert_int_equal(got[i], 0); /* never twice */
                got[i] = 1;
                seen++;
            }
            json_object_put(items);
        }
        gw_notify_out_fini(&out);
    }
    pthread_join(t, NULL);
    assert_int_equal(seen, RACE_IDS); /* none lost */
    assert_true(batches >= 1);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_subscribers_no_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake_only_with_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enter_and_exit_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_per_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spent_batch_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merged_states_do_not_pile_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_are_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enter_split_at_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_split_at_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_and_service_threads, setup, teardown),
    };
    return cmocka_run_group_tests_name("gw_notify", tests, NULL, NULL);
}
