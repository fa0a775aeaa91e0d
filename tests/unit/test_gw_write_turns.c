/* Unit tests of gateway/transport/write_turns.c: the write turns of one service thread.
 * A simulated service loop calls every armed writer in a fixed (poll) order each pass, a
 * write costing a fixed time: a pass's notifications stay within the budget (plus the one
 * write that started inside it), every writer gets a turn before any gets a second one
 * (round-robin whatever the order), every writer's bytes are all written, and an answer
 * at a queue's head goes outside the rounds; the passes after an accept write answers
 * only, and a window of such passes starts only after a pass that wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "transport/write_turns.h"

#define WRITERS  50
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
    uint64_t now;
    int passes;
} sim_t;

static void sim_init(sim_t *s, int chunks)
{
    gw_write_turns_init(&s->turns, BUDGET, 2 * BUDGET);
    s->now = 1000000;
    s->passes = 0;
    for (int i = 0; i < WRITERS; i++)
        s->w[i] = (writer_t){.chunks = chunks, .armed = chunks > 0};
}

/* The fewest and most chunks written by writers that still had some to write. */
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
static uint64_t sim_pass(sim_t *s)
{
    uint64_t start = s->now, spent = 0;

    for (int i = 0; i < WRITERS; i++) {
        writer_t *w = &s->w[i];
        if (!w->armed)
            continue;
        w->armed = false;
        switch (gw_write_turn(&s->turns, &w->served, false, s->now)) {
        case GW_TURN_WRITE:
            s->now += WRITE_US;
            spent += WRITE_US;
            w->written++;
            w->armed = --w->chunks > 0;
            break;
        case GW_TURN_LATER:
            w->armed = true;
            break;
        case GW_TURN_PARK:
        case GW_TURN_HOLD:
            w->parked = true;
            break;
        }
        s->now += 1; /* the callback itself */
    }
    if (gw_write_turns_pass_end(&s->turns, false))
        for (int i = 0; i < WRITERS; i++)
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
        uint64_t spent = sim_pass(&s);
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
        sim_pass(&s);
        spread(&s, &lo, &hi);
        /* the first writers in poll order never get ahead by more than one turn */
        assert_true(hi - lo <= 1);
    }
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
        sim_pass(&s);
    s.w[WRITERS - 1].chunks = 1;
    s.w[WRITERS - 1].armed = true;
    passes_before = s.passes;
    while (s.w[WRITERS - 1].chunks > 0) {
        sim_pass(&s);
        assert_true(s.passes - passes_before <= WRITERS / (BUDGET / WRITE_US) + 2);
    }
}

static void test_answers_go_outside_the_rounds(void **state)
{
    gw_write_turns_t t;
    uint32_t a = 0, b = 0;
    (void)state;

    gw_write_turns_init(&t, 1000, 3000);
    assert_int_equal(gw_write_turn(&t, &a, false, 10000), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &a, false, 10100), GW_TURN_PARK);  /* served */
    assert_int_equal(gw_write_turn(&t, &b, false, 11500), GW_TURN_LATER); /* over budget */
    /* an answer: neither parked nor refused until answer_us into the pass */
    assert_int_equal(gw_write_turn(&t, &a, true, 11500), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &b, true, 12900), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &b, true, 13000), GW_TURN_LATER);
    /* b was refused: the round goes on, a stays parked */
    assert_false(gw_write_turns_pass_end(&t, false));
    assert_int_equal(gw_write_turn(&t, &a, false, 20000), GW_TURN_PARK);
    assert_int_equal(gw_write_turn(&t, &b, false, 20001), GW_TURN_WRITE);
    /* nobody refused: a new round, a writes again */
    assert_true(gw_write_turns_pass_end(&t, false));
    assert_int_equal(gw_write_turn(&t, &a, false, 30000), GW_TURN_WRITE);
}

static void test_passes_after_accept_yield(void **state)
{
    gw_write_turns_t t;
    uint32_t a = 0, b = 0;
    (void)state;

    gw_write_turns_init(&t, 1000, 3000);
    assert_true(gw_write_turns_pass_end(&t, false)); /* nothing refused: new round */
    assert_int_equal(t.yield_left, 0);
    assert_int_equal(gw_write_turn(&t, &a, false, 5000), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &b, false, 6500), GW_TURN_LATER); /* the round goes on */
    /* accepted: the next GW_WRITE_YIELD_PASSES passes hold notifications, answers go */
    gw_write_turns_pass_end(&t, true);
    for (int i = 0; i < GW_WRITE_YIELD_PASSES; i++) {
        assert_int_equal(gw_write_turn(&t, &a, false, 10000 + i), GW_TURN_PARK); /* served */
        assert_int_equal(gw_write_turn(&t, &b, false, 10000 + i), GW_TURN_HOLD);
        assert_int_equal(gw_write_turn(&t, &b, true, 10001 + i), GW_TURN_WRITE);
        /* accepted again: the window does not grow; b held unserved: the round goes on;
         * the held are asked again only when the window ends */
        assert_int_equal(gw_write_turns_pass_end(&t, true), i == GW_WRITE_YIELD_PASSES - 1);
    }
    /* after a window, a pass writes whatever was accepted meanwhile */
    assert_int_equal(gw_write_turn(&t, &b, false, 20000), GW_TURN_WRITE);
    assert_int_equal(gw_write_turn(&t, &a, false, 20001), GW_TURN_PARK);
    assert_true(gw_write_turns_pass_end(&t, true)); /* new round: b was served */
    assert_int_equal(gw_write_turn(&t, &a, false, 30000), GW_TURN_HOLD); /* and a window */
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
        cmocka_unit_test(test_late_writer_is_not_starved),
        cmocka_unit_test(test_answers_go_outside_the_rounds),
        cmocka_unit_test(test_passes_after_accept_yield),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
