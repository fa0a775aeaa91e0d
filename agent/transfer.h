/*
 * transfer.h - VM transfers between two pools' agents (docs/streaming.md): the destination
 * agent's listener and single-use tickets (vm.importPrepare), the source agent's export
 * workers (vm.exportTo), each transfer on its own thread so that the pool's command thread
 * never waits for one. Bytes go host -> agent -> agent -> host through bounded buffers, no
 * file. Started by main.c; the executors are reached from command_ops.c's table.
 */
#ifndef XO_TRANSFER_H
#define XO_TRANSFER_H

#include "agent.h"

typedef struct agent_transfer agent_transfer_t;

/**
 * @brief The transfer service from the transfer.* settings: the link's certificate is made
 *        now (in memory); with transfer.listen the listener socket is bound now (so that a
 *        bad address fails the start), and its thread starts with agent_transfer_start().
 * @returns XO_OK; XO_ERR_CONFIG (address), XO_ERR_IO (bind), XO_ERR_CRYPTO, XO_ERR_NOMEM.
 */
xo_err_t agent_transfer_new(agent_t *a, agent_transfer_t **out, char *errstr, size_t errstr_size);

/** @brief Start the listener thread (no-op without transfer.listen). */
xo_err_t agent_transfer_start(agent_transfer_t *t);

/** @brief After agent_stop is set: join the listener and every worker, free. NULL is a no-op. */
void agent_transfer_free(agent_transfer_t *t);

#endif
