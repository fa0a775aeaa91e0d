/* Unit tests of gateway/transport/write_turns.c: the write turns of one service thread.
 * A simulated service loop calls every armed writer in a fixed (poll) order each pass, a
 * write costing a fixed time, and keeps the waiting queue as ws_sessions.c does: a pass's
 * notifications stay within the budget (plus the one write that started inside it), every
 * writer gets a turn before any gets a second one (round-robin whatever the order), a pass
 * calls back about as many writers as it serves (not every one; all the waiting ones when
 * the budget did not bind), every writer's bytes are
 * all written; an answer at a queue's head goes outside the rounds; the passes after an
 * accept write answers only, and a window of such passes starts only after one that did
 * not yield. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "transport/write_turns.h"

#define WRITERS  200
#define WRITE_US 700 /* one chunk's send() */
#define BUDGET   5000

typedef struct {
    int chunks; /* left to write */
    int written;
    uint32_t served;
    bool armed, parked;
} writer_t;

typedef struct {
    gw_write_turns_t turns;
    writer_t w[WRITERS];
    int queue[WRITERS]; /* the waiting queue, a ring of writer indexes */
    size_t qhead, qlen;
    uint64_t now;
    int passes, callbacks;
} sim_t;

static void sim_init(sim_t *s, int chunks)
{
    gw_write_turns_init(&s->turns, BUDGET, 2 * BUDGET);
    s->now = 1000000;
    s->passes = s->callbacks = 0;
    s->qhead = s->qlen = 0;
    for (int i = 0; i < WRITERS; i++)
        s->w[i] = (writer_t){.chunks = chunks, .armed = chunks > 0};
}

static void enqueue(sim_t *s, int i)
{
    s->queue[(s->qhead + s->qlen++) % WRITERS] = i;
}

/* The fewest and most chunks written by writers. */
static void spread(const sim_t *s, int *lo, int *hi)
{
    *lo = 1 << 30;
    *hi = 0;
    for (int i = 0; i < WRITERS; i++) {
        if (s->w[i].written < *lo)
            *lo = s->w[i].written;
        if (s->w[i].written > *hi)
            *hi = s->w[i].written;
    }
}

/* One pass: each armed writer in index order (the poll order); what it does is what
 * ws_sessions.c does with the answer. @returns the notification time spent in the pass. */
static uint64_t sim_pass(sim_t *s, bool accepted)
{
    uint64_t start = s->now, spent = 0;
    gw_turns_next_t next;

    for (int i = 0; i < WRITERS; i++) {
        writer_t *w = &s->w[i];
        if (!w->armed)
            continue;
        w->armed = false;
        s->callbacks++;
        switch (gw_write_turn(&s->turns, &w->served, false, s->now)) {
        case GW_TURN_WRITE:
            s->now += WRITE_US;
            spent += WRITE_US;
            w->written++;
            w->armed = --w->chunks > 0;
            break;
        case GW_TURN_WAIT:
            enqueue(s, i);
            break;
        case GW_TURN_PARK:
            w->parked = true;
            break;
        case GW_TURN_LATER:
            fail(); /* answers only */
        }
        s->now += 1; /* the callback itself */
    }
    next = gw_write_turns_pass_end(&s->turns, accepted, s->qlen);
    for (size_t k = 0; k < next.arm && s->qlen; k++, s->qlen--) {
        s->w[s->queue[s->qhead]].armed = true;
        s->qhead = (s->qhead + 1) % WRITERS;
    }
    for (int i = 0; next.new_round && i < WRITERS; i++)
        if (s->w[i].parked) {
            s->w[i].parked = false;
            s->w[i].armed = true;
        }
    s->passes++;
    assert_true(s->now - start >= spent);
    return spent;
}

static bool sim_busy(const sim_t *s)
{
    for (int i = 0; i < WRITERS; i++)
        if (s->w[i].chunks > 0)
            return true;
    return false;
}

static void test_pass_stays_within_budget(void **state)
{
    sim_t s;
    (void)state;

    sim_init(&s, 20);
    while (sim_busy(&s)) {
        uint64_t spent = sim_pass(&s, false);
        assert_true(spent < BUDGET + WRITE_US); /* the last write started inside it */
        assert_true(s.passes < 100000);
    }
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(s.w[i].written, 20); /* nothing lost */
}

static void test_round_robin_whatever_the_order(void **state)
{
    sim_t s;
    int lo, hi;
    (void)state;

    sim_init(&s, 20);
    while (sim_busy(&s)) {
        sim_pass(&s, false);
        spread(&s, &lo, &hi);
        /* the first writers in poll order never get ahead by more than one turn */
        assert_true(hi - lo <= 1);
    }
}

static void test_pass_calls_back_about_what_it_serves(void **state)
{
    sim_t s;
    int writes = 0;
    (void)state;

    /* about BUDGET / WRITE_US = 8 writes a pass: after the first pass, which calls every
     * writer, a pass calls back the writers armed from the queue (twice what the last one
     * served, at least GW_WRITE_ARM_MIN) and those served that still have bytes to write */
    sim_init(&s, 20);
    sim_pass(&s, false);
    s.callbacks = 0;
    while (sim_busy(&s))
        sim_pass(&s, false);
    for (int i = 0; i < WRITERS; i++)
        writes += s.w[i].written;
    assert_true(s.callbacks < 4 * writes);
    assert_true(s.passes < 2 * writes / (BUDGET / WRITE_US)); /* passes are used, not idle */
}

static void test_late_writer_is_not_starved(void **state)
{
    sim_t s;
    int passes_before;
    (void)state;

    /* everyone has plenty; a writer joins later with one chunk: it gets a turn within one
     * round of passes (WRITERS writers, about BUDGET / WRITE_US of them per pass) */
    sim_init(&s, 1000);
    s.w[WRITERS - 1] = (writer_t){0};
    for (int i = 0; i < 30; i++)
        sim_pass(&s, false);
    s.w[WRITERS - 1].chunks = 1;
    s.w[WRITERS - 1].armed = true;
    passes_before = s.passes;
    while (s.w[WRITERS - 1].chunks > 0) {
        sim_pass(&s, false);
        assert_true(s.passes - passes_before <= 2 * WRITERS / (BUDGET / WRITE_US) + 2);
    }
}

static void test_accept_yields_then_resumes(void **state)
{
    sim_t s;
    int before = 0, after = 0;
    (void)state;

    sim_init(&s, 50);
    for (int i = 0; i < 5; i++)
        sim_pass(&s, false);
    sim_pass(&s, true); /* accepted: the next GW_WRITE_YIELD_PASSES passes write nothing */
    for (int i = 0; i < WRITERS; i++)
        before += s.w[i].written;
    for (int k = 0; k < GW_WRITE_YIELD_PASSES; k++)
        assert_int_equal(sim_pass(&s, true), 0); /* an accept in the window: no longer */
    assert_true(sim_pass(&s, true) > 0);         /* then it writes again */
    assert_int_equal(sim_pass(&s, false), 0);    /* (the window that accept opened) */
    assert_int_equal(sim_pass(&s, false), 0);
    while (sim_busy(&s))
        sim_pass(&s, false);
    for (int i = 0; i < WRITERS; i++) {
        after += s.w[i].written;
        assert_int_equal(s.w[i].written, 50); /* nothing lost */
    }
    assert_true(after > before);
}

static void test_answers_go_outside_the_rounds(void **state)
{
    gw_write_turns_t t;
    gw_turns_next_t next;
    uint32_t a = 0, b = 0;
    (void)state;

    gw_write_turns_init(&t, 1000, 3000);
    assert_int_equal(gw_write_turn(&t, &a, false, 10000), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &a, false, 10100), GW_TURN_PARK); /* served */
    assert_int_equal(gw_write_turn(&t, &b, false, 11500), GW_TURN_WAIT); /* over budget */
    /* an answer: neither parked nor refused until answer_us into the pass */
    assert_int_equal(gw_write_turn(&t, &a, true, 11500), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &b, true, 12900), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &b, true, 13000), GW_TURN_LATER);
    /* b waits: the round goes on, a stays parked, b is armed from the queue */
    next = gw_write_turns_pass_end(&t, false, 1);
    assert_false(next.new_round);
    assert_int_equal(next.arm, GW_WRITE_ARM_MIN);
    assert_int_equal(gw_write_turn(&t, &a, false, 20000), GW_TURN_PARK);
    assert_int_equal(gw_write_turn(&t, &b, false, 20001), GW_TURN_WRITE);
    /* nobody waited: a new round, a writes again */
    assert_true(gw_write_turns_pass_end(&t, false, 0).new_round);
    assert_int_equal(gw_write_turn(&t, &a, false, 30000), GW_TURN_WRITE);
}

static void test_yield_window(void **state)
{
    gw_write_turns_t t;
    gw_turns_next_t next;
    uint32_t a = 0, b = 0;
    (void)state;

    gw_write_turns_init(&t, 1000, 3000);
    assert_int_equal(gw_write_turn(&t, &a, false, 5000), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &b, false, 6500), GW_TURN_WAIT);
    next = gw_write_turns_pass_end(&t, true, 1); /* accepted */
    assert_int_equal(next.arm, 0);               /* nobody armed while it yields */
    for (int i = 0; i < GW_WRITE_YIELD_PASSES; i++) {
        assert_int_equal(gw_write_turn(&t, &a, false, 10000 + i), GW_TURN_PARK);
        assert_int_equal(gw_write_turn(&t, &b, false, 10000 + i), GW_TURN_WAIT);
        assert_int_equal(gw_write_turn(&t, &b, true, 10001 + i), GW_TURN_WRITE); /* answers */
        next = gw_write_turns_pass_end(&t, true, 1); /* an accept in the window: no longer */
        assert_false(next.new_round);
        assert_int_equal(next.arm, i == GW_WRITE_YIELD_PASSES - 1 ? GW_WRITE_ARM_MIN : 0);
    }
    assert_int_equal(gw_write_turn(&t, &b, false, 20000), GW_TURN_WRITE);
    /* a pass where the budget did not bind: every waiting writer is armed */
    next = gw_write_turns_pass_end(&t, false, 300);
    assert_int_equal(next.arm, 300);
    assert_int_equal(gw_write_turn(&t, &a, false, 30000), GW_TURN_PARK);
    assert_int_equal(gw_write_turn(&t, &b, false, 31500), GW_TURN_PARK);
}

static void test_defaults(void **state)
{
    gw_write_turns_t t;
    uint32_t a = 0;
    (void)state;

    gw_write_turns_init(&t, 0, 0);
    assert_int_equal(t.budget_us, GW_WRITE_BUDGET_US);
    assert_int_equal(t.answer_us, GW_WRITE_ANSWER_US);
    /* a clock reading 0 still starts the pass */
    assert_int_equal(gw_write_turn(&t, &a, false, 0), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &a, false, GW_WRITE_BUDGET_US - 2), GW_TURN_PARK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_stays_within_budget),
        cmocka_unit_test(test_round_robin_whatever_the_order),
        cmocka_unit_test(test_pass_calls_back_about_what_it_serves),
        cmocka_unit_test(test_late_writer_is_not_starved),
        cmocka_unit_test(test_accept_yields_then_resumes),
        cmocka_unit_test(test_answers_go_outside_the_rounds),
        cmocka_unit_test(test_yield_window),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
