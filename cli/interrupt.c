/*
 * interrupt.c - the SIGINT/SIGTERM flag (interrupt.h). The handler does nothing but set
 * it; SIGPIPE is ignored so that a closed pipe (`xo-fleet watch | head`) is a write error
 * instead of a silent death.
 */
#include "interrupt.h"

#include <string.h>

volatile sig_atomic_t cli_interrupted = 0;

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_interrupts(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
