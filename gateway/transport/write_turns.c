/*
 * write_turns.c - fair, bounded write turns per service pass (see write_turns.h).
 */
#include "transport/write_turns.h"

void gw_write_turns_init(gw_write_turns_t *t, uint64_t budget_us, uint64_t answer_us)
{
    t->budget_us = budget_us ? budget_us : GW_WRITE_BUDGET_US;
    t->answer_us = answer_us ? answer_us : GW_WRITE_ANSWER_US;
    t->pass_start = 0;
    t->round = 1;
    t->waited = false;
    t->served = t->last_served = 0;
    t->last_waited = false;
    t->yield_left = 0;
}

gw_turn_t gw_write_turn(gw_write_turns_t *t, uint32_t *served, bool answer, uint64_t now_us)
{
    uint64_t elapsed;

    if (!t->pass_start)
        t->pass_start = now_us ? now_us : 1;
    elapsed = now_us > t->pass_start ? now_us - t->pass_start : 0;
    if (answer)
        return elapsed < t->answer_us ? GW_TURN_WRITE : GW_TURN_LATER;
    if (*served == t->round)
        return GW_TURN_PARK;
    if (t->yield_left || elapsed >= t->budget_us) {
        t->waited = true; /* it still wants this round's turn: the round goes on */
        return GW_TURN_WAIT;
    }
    *served = t->round;
    t->served++;
    return GW_TURN_WRITE;
}

gw_turns_next_t gw_write_turns_pass_end(gw_write_turns_t *t, bool accepted, size_t waiting)
{
    gw_turns_next_t next = {.new_round = !waiting && !t->waited, .arm = 0};
    bool yielded = t->yield_left > 0;

    if (yielded)
        t->yield_left--;
    else {
        t->last_served = t->served;
        t->last_waited = t->waited;
        if (accepted)
            t->yield_left = GW_WRITE_YIELD_PASSES;
    }
    if (t->yield_left)
        next.arm = 0;
    else if (!t->last_waited) /* the budget did not bind: all of them */
        next.arm = waiting;
    else /* as many as the last pass served, twice over: the budget decides */
        next.arm = 2 * t->last_served > GW_WRITE_ARM_MIN ? 2 * t->last_served : GW_WRITE_ARM_MIN;
    if (next.new_round)
        t->round = t->round + 1 ? t->round + 1 : 1; /* 0 means "never served" */
    t->pass_start = 0;
    t->waited = false;
    t->served = 0;
    return next;
}
