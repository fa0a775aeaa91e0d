/*
 * status.c - the agent's state machine as others see it (xo.agents), counters, and the
 * sleeping/backoff helpers every loop uses so that shutdown is always prompt.
 * Must not publish: heartbeat.c does that from the service thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "xo_log.h"

volatile sig_atomic_t agent_stop;

const char *agent_state_name(agent_state_t s)
{
    static const char *const names[] = {"connecting", "syncing", "live", "error", "stopped"};
    return names[s];
}

void agent_set_state(agent_t *a, agent_state_t s, const char *error)
{
    pthread_mutex_lock(&a->status_lock);
    if (a->status.state != s || (error && strcmp(error, a->status.error) != 0)) {
        /* Two formats, not " error=" passed through %s: every conversion is a value. */
        if (a->status.state != s && error)
            xo_info(AGENT_MOD, "event=state from=%s to=%s error=\"%s\"",
                    agent_state_name(a->status.state), agent_state_name(s), error);
        else if (a->status.state != s)
            xo_info(AGENT_MOD, "event=state from=%s to=%s", agent_state_name(a->status.state),
                    agent_state_name(s));
        a->status.state = s;
        a->status.since = xo_now_ms();
        a->status.changed = true;
    }
    snprintf(a->status.error, sizeof(a->status.error), "%s", error ? error : "");
    pthread_mutex_unlock(&a->status_lock);
}

void agent_count(agent_t *a, int64_t *field, int64_t n)
{
    pthread_mutex_lock(&a->status_lock);
    *field += n;
    pthread_mutex_unlock(&a->status_lock);
}

bool agent_sleep(int ms)
{
    while (ms > 0 && !agent_stop) {
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {0, step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !agent_stop;
}

int agent_backoff_ms(const agent_t *a, int attempt)
{
    long base = xo_config_get_int(a->cfg, "xapi.backoff_min_ms");
    long cap = xo_config_get_int(a->cfg, "xapi.backoff_max_ms");
    long d = base;

    for (int i = 0; i < attempt && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Full jitter in [d/2, d] keeps many agents from retrying in lockstep. */
    return (int)(d / 2 + (long)(rand() % (int)(d / 2 + 1)));
}
