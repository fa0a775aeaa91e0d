/*
 * clock.c - the monotonic clock (see clock.h). Nothing else: a room that needs "now"
 * for a duration asks here rather than keeping its own copy.
 */
#include "core/clock.h"

#include <time.h>

int64_t gw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
