/*
 * xo_alloc.h - which allocator a daemon runs on. The daemons (not the libraries or the
 * tests) are linked with mimalloc when the build found it (XO_MIMALLOC): json-c's many
 * small allocations made glibc's malloc most of the gateway's cold start and a third of
 * its memory (docs/benchmarks.md). Include it only from a daemon's main.c: it names a
 * mimalloc symbol, which also keeps the linker from dropping the library.
 */
#ifndef XO_ALLOC_H
#define XO_ALLOC_H

#include <stdio.h>

#ifdef XO_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

/** @brief The allocator's name and version ("mimalloc 2.0.9", "libc") in @p buf. */
static inline const char *xo_alloc_name(char *buf, size_t size)
{
#ifdef XO_HAVE_MIMALLOC
    int v = mi_version(); /* major * 100 + minor * 10 + patch */
    snprintf(buf, size, "mimalloc-%d.%d.%d", v / 100, v / 10 % 10, v % 10);
#else
    snprintf(buf, size, "libc");
#endif
    return buf;
}

/**
 * @brief Give freed memory back to the system as soon as a page of it is free; returns the
 * delay it replaced, for xo_alloc_release_freed_after().
 *
 * mimalloc returns a free page's memory only when the thread that owns it next works on
 * its heap after a delay (25 ms by default), so a thread that goes quiet keeps what it
 * freed. After a cold start the gateway kept up to 100 MB of freed memory resident, more in
 * some runs than others (988 to 1,088 bytes per object); with no delay during the load it
 * stayed at 988, for about 8% more CPU during the load and no longer load
 * (docs/benchmarks.md, "Gateway cold start"). Call before any thread starts.
 */
static inline long xo_alloc_release_freed_at_once(void)
{
#ifdef XO_HAVE_MIMALLOC
    long was = mi_option_get(mi_option_decommit_delay);
    mi_option_set(mi_option_decommit_delay, 0);
    return was;
#else
    return 0;
#endif
}

/** @brief Back to giving freed memory back after @p delay_ms (what the steady state wants:
 * fewer page faults and system calls on the threads that serve clients). */
static inline void xo_alloc_release_freed_after(long delay_ms)
{
#ifdef XO_HAVE_MIMALLOC
    mi_option_set(mi_option_decommit_delay, delay_ms);
#else
    (void)delay_ms;
#endif
}

#endif
