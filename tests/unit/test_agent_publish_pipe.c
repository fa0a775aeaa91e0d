/*
 * test_agent_publish_pipe.c - unit tests of agent/publish_pipe.c: events pushed from one
 * thread are handled on the publisher's, all of them and in order, through a queue much
 * shorter than the run (the pusher waits); the handler's first error reaches the pusher and
 * finish, and the events after it are dropped, not handled; a stopping agent stops pushes.
 * Must not: sleep as synchronisation (the slow handler only makes the queue fill).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "agent.h"

#define EVENTS 5000

typedef struct {
    int64_t seen[EVENTS];
    int n;
    int fail_at; /* the handler fails on this event number (-1: never) */
    bool out_of_order;
} sink_t;

static xo_err_t handle(json_object *ev, void *opaque)
{
    sink_t *s = opaque;
    int64_t i = json_object_get_int64(ev);

    json_object_put(ev);
    if (s->n < EVENTS)
        s->seen[s->n] = i;
    if (s->n && s->seen[s->n - 1] + 1 != i)
        s->out_of_order = true;
    s->n++;
    if (i % 500 == 0) { /* now and then slower than the pusher: the queue fills up */
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return i == s->fail_at ? XO_ERR_KAFKA : XO_OK;
}

static void test_all_events_in_order(void **state)
{
    sink_t *s = calloc(1, sizeof(*s));
    agent_pipe_t *p;

    (void)state;
    s->fail_at = -1;
    p = agent_pipe_start(handle, s);
    assert_non_null(p);
    for (int64_t i = 0; i < EVENTS; i++)
        assert_int_equal(agent_pipe_push(json_object_new_int64(i), p), XO_OK);
    assert_int_equal(agent_pipe_finish(p), XO_OK);
    assert_int_equal(s->n, EVENTS);
    assert_false(s->out_of_order);
    assert_int_equal(s->seen[0], 0);
    assert_int_equal(s->seen[EVENTS - 1], EVENTS - 1);
    free(s);
}

static void test_first_error_stops_the_pipe(void **state)
{
    sink_t *s = calloc(1, sizeof(*s));
    agent_pipe_t *p;
    xo_err_t err = XO_OK;
    int64_t pushed = 0;

    (void)state;
    s->fail_at = 1000;
    p = agent_pipe_start(handle, s);
    assert_non_null(p);
    while (err == XO_OK && pushed < EVENTS)
        err = agent_pipe_push(json_object_new_int64(pushed++), p);
    /* the pusher learns of the failure before the end (the queue is far shorter) */
    assert_int_equal(err, XO_ERR_KAFKA);
    assert_true(pushed < EVENTS);
    assert_int_equal(agent_pipe_finish(p), XO_ERR_KAFKA);
    /* nothing after the failing event was handled */
    assert_int_equal(s->n, 1001);
    assert_false(s->out_of_order);
    free(s);
}

static void test_stop_ends_pushes(void **state)
{
    sink_t *s = calloc(1, sizeof(*s));
    agent_pipe_t *p;

    (void)state;
    s->fail_at = -1;
    p = agent_pipe_start(handle, s);
    assert_non_null(p);
    assert_int_equal(agent_pipe_push(json_object_new_int64(0), p), XO_OK);
    agent_stop = 1;
    assert_int_equal(agent_pipe_push(json_object_new_int64(1), p), XO_ERR_TIMEOUT);
    agent_stop = 0;
    assert_int_equal(agent_pipe_finish(p), XO_OK);
    assert_int_equal(s->n, 1);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_events_in_order),
        cmocka_unit_test(test_first_error_stops_the_pipe),
        cmocka_unit_test(test_stop_ends_pushes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
