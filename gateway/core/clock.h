/*
 * clock.h - the gateway's one monotonic clock, for durations and throttling windows
 * (wall-clock times come from xo_now_ms() in common/). Any thread.
 */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdint.h>

/** @brief Monotonic milliseconds (CLOCK_MONOTONIC): only differences mean something. */
int64_t gw_mono_ms(void);

/** @brief Monotonic microseconds (the same clock): for budgets shorter than a millisecond's
 *         grain. */
int64_t gw_mono_us(void);

#endif
