/*
 * command_exec.h - the agent's command thread (issue 6): consumes its pool's partition of
 * xo.commands under a per-pool consumer group, verifies each message (command_verify.h),
 * publishes accepted / progress / success / failure / rejected on xo.results and runs the
 * XAPI Async.VM.* calls on its own XAPI connection and session.
 */
#ifndef XO_COMMAND_EXEC_H
#define XO_COMMAND_EXEC_H

#include "agent.h"

/** The command thread's state (opaque). */
typedef struct agent_cmd agent_cmd_t;

/**
 * @brief Read the commands.* settings and load the public keys.
 * @locality main thread, before the threads start.
 * @param out receives the state, or NULL when commands are disabled (commands.enabled=false,
 *        or no commands.public_keys while commands.enabled is unset).
 * @returns XO_OK; XO_ERR_CONFIG (unreadable key, unknown op, enabled without keys; detail in
 *          errstr); XO_ERR_NOMEM.
 */
xo_err_t agent_commands_new(agent_t *a, agent_cmd_t **out, char *errstr, size_t errstr_size);

/**
 * @brief Start the command thread. It waits until the XAPI thread knows the pool
 *        (a->partition >= 0), then reads back xo.results and consumes xo.commands.
 * @returns XO_OK or XO_ERR_NOMEM (thread not created).
 */
xo_err_t agent_commands_start(agent_cmd_t *c);

/**
 * @brief Join the thread (agent_stop must be set first) and free everything. NULL is a no-op.
 */
void agent_commands_free(agent_cmd_t *c);

#endif
