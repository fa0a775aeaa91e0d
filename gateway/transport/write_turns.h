/*
 * write_turns.h - fair, bounded turns for the WebSocket clients' writes on the service
 * thread. libwebsockets (Debian's 4.1: one service thread, LWS_MAX_SMP 1) calls every
 * writeable connection in one service pass, in its poll order, before it reads the next
 * HTTP request: unbounded, a pass over 1,000 clients behind by 64 KiB each is what
 * /healthz, REST and a new sign-in wait for. So:
 * - the notifications written in one pass start within budget_us of its first turn;
 * - a client that wanted a turn and did not get one (over the budget) waits in a queue,
 *   not armed: at the end of each pass the caller arms only as many from its head as the
 *   pass served (times two, at least GW_WRITE_ARM_MIN), so a pass costs what it writes,
 *   not one callback per client; all of them when the budget did not bind (nobody had to
 *   wait in the last pass that wrote);
 * - a client served in the current round is parked (not armed) until the round ends: the
 *   queue is empty and nobody waited, so every client that wanted to write has had its
 *   turn, whatever the poll order (round-robin: none starves);
 * - a message at the head of a queue that answers a call goes first, outside the rounds,
 *   until answer_us into the pass: a sign-in or a call is not queued behind a round;
 * - after a pass that accepted a connection, the next GW_WRITE_YIELD_PASSES passes write
 *   no notifications and arm nobody (they yield): the new connection is polled after every
 *   connection already open, and those passes read its request and write its answer. A
 *   window starts only after a pass that did not yield: a flood of connections leaves the
 *   notifications at least one pass in three.
 * Pure bookkeeping (no lws, no clock, no list): ws_sessions.c keeps the queue and acts on
 * the answers. Service thread only.
 */
#ifndef GW_WRITE_TURNS_H
#define GW_WRITE_TURNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The defaults: a pass writes about 10 ms of notifications (a loopback send() of 64 KiB
 * takes 0.1 to 1 ms here) and answers until 15 ms into it. Shorter passes answer HTTP
 * sooner but cost throughput: each pass polls every connection (with 1,000 clients and
 * 5 ms, poll() was 17% of the gateway's time and its 1,000-client push latency twice the
 * branch point's; with 10 ms, within noise of it; docs/benchmarks.md). */
#define GW_WRITE_BUDGET_US    10000
#define GW_WRITE_ANSWER_US    15000
#define GW_WRITE_YIELD_PASSES 2  /* after an accept: read the request, write the answer */
#define GW_WRITE_ARM_MIN      16 /* waiting clients armed after a pass, at least */

typedef struct {
    uint64_t budget_us;  /**< notifications start within this much of the pass's first turn */
    uint64_t answer_us;  /**< answers start within this much */
    uint64_t pass_start; /**< the pass's first turn (caller's clock, µs); 0: none yet */
    uint32_t round;      /**< the current round (from 1): a writer's last turn is compared */
    bool waited;         /**< a writer not yet served this round was told to wait this pass */
    size_t served;       /**< notification turns given in this pass */
    size_t last_served;  /**< ... in the last pass that did not yield */
    bool last_waited;    /**< someone had to wait in the last pass that did not yield */
    unsigned yield_left; /**< passes left in the window after an accept (answers only) */
} gw_write_turns_t;

typedef enum {
    GW_TURN_WRITE, /**< write one chunk now */
    GW_TURN_LATER, /**< an answer over this pass's answer_us: arm it again for the next pass */
    GW_TURN_WAIT,  /**< not this pass: join the waiting queue (not armed) */
    GW_TURN_PARK,  /**< served this round: wait for the next (not armed) */
} gw_turn_t;

/** What to do once a pass is over (gw_write_turns_pass_end). */
typedef struct {
    bool new_round; /**< arm every parked writer: they may write again */
    size_t arm;     /**< arm this many writers from the head of the waiting queue */
} gw_turns_next_t;

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
 * @param waiting writers in the caller's waiting queue now
 */
gw_turns_next_t gw_write_turns_pass_end(gw_write_turns_t *t, bool accepted, size_t waiting);

#endif
