/*
 * interrupt.h - Ctrl-C and SIGTERM for xo-fleet: the handler only sets a flag; the loops
 * that wait (the WebSocket service loop, the password prompt) check it and end cleanly
 * (the terminal's echo restored, the connection closed, `watch` exiting 0).
 */
#ifndef CLI_INTERRUPT_H
#define CLI_INTERRUPT_H

#include <signal.h>

/** Set by SIGINT / SIGTERM once cli_catch_interrupts() ran. */
extern volatile sig_atomic_t cli_interrupted;

/** @brief Install the handlers (without SA_RESTART: a blocked read returns EINTR). */
void cli_catch_interrupts(void);

#endif
