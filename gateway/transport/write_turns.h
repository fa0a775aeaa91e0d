/*
 * write_turns.h - fair, bounded turns for the WebSocket clients' writes on the service
 * thread. libwebsockets (Debian's 4.1: one service thread, LWS_MAX_SMP 1) calls every
 * writeable connection in one service pass, in its poll order, before it reads the next
 * HTTP request: unbounded, a pass over 1,000 clients behind by 64 KiB each is what
 * /healthz, REST and a new sign-in wait for. So the notifications written in one pass are
 * bounded by time (budget_us from the pass's first turn); a client refused for the budget
 * is asked again next pass, and one already served in the current round waits (parked)
 * until every client that wanted to write has had its turn: round-robin, whatever the poll
 * order, so none starves. A message at the head of a queue that answers a call goes
 * first, outside the rounds, until answer_us into the pass: a sign-in or a call is not
 * queued behind a round of notifications to everyone. After a pass that accepted a
 * connection, the next GW_WRITE_YIELD_PASSES passes write no notifications (they yield):
 * the new connection is polled after every connection already open, and its request is
 * read, then answered (from its writeable callback), in the next two passes; the clients
 * held meanwhile are not asked again until the window ends, so those passes take next to
 * nothing. A window starts only after a pass that wrote: a flood of connections leaves
 * the notifications at least one pass in three. Pure bookkeeping (no lws, no
 * clock): ws_sessions.c acts on its answers. Service thread only.
 */
#ifndef GW_WRITE_TURNS_H
#define GW_WRITE_TURNS_H

#include <stdbool.h>
#include <stdint.h>

/* The defaults: a pass writes about 5 ms of notifications (loopback send() of 64 KiB
 * takes 0.1 to 1 ms here), answers until 10 ms into it; an HTTP request waits a few
 * passes (accept, read, answer) at most. */
#define GW_WRITE_BUDGET_US    5000
#define GW_WRITE_ANSWER_US    10000
#define GW_WRITE_YIELD_PASSES 2 /* after an accept: read the request, write the answer */

typedef struct {
    uint64_t budget_us;  /**< notifications start within this much of the pass's first turn */
    uint64_t answer_us;  /**< answers start within this much */
    uint64_t pass_start; /**< the pass's first turn (caller's clock, µs); 0: none yet */
    uint32_t round;      /**< the current round (from 1): a writer's last turn is compared */
    bool refused;        /**< a writer not yet served this round was refused in this pass */
    unsigned yield_left; /**< passes left in the window after an accept (answers only) */
} gw_write_turns_t;

typedef enum {
    GW_TURN_WRITE, /**< write one chunk now */
    GW_TURN_LATER, /**< over this pass's budget: ask again in the next pass */
    GW_TURN_PARK,  /**< served this round: wait for the next (gw_write_turns_pass_end) */
    GW_TURN_HOLD,  /**< the pass yields: wait until the window ends (as parked) */
} gw_turn_t;

/** @brief Round 1, no pass started, the given budgets (0: the defaults above). */
void gw_write_turns_init(gw_write_turns_t *t, uint64_t budget_us, uint64_t answer_us);

/**
 * @brief A writer with bytes queued asks for a turn at @p now_us (monotonic µs).
 * @param served the round of the writer's last turn (0: never), updated when it gets one
 * @param answer its queue's head answers a call (turns outside the rounds)
 */
gw_turn_t gw_write_turn(gw_write_turns_t *t, uint32_t *served, bool answer, uint64_t now_us);

/**
 * @brief One service pass is over: the next turn starts the next pass's budget.
 * @param accepted a connection was accepted in it: the next passes yield (unless this
 *        one did)
 * @returns true when the parked and held writers must be asked again: a new round begins
 *          (nobody was refused in this pass: every writer that asked had its turn), or a
 *          yield window ended.
 */
bool gw_write_turns_pass_end(gw_write_turns_t *t, bool accepted);

#endif
