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

#endif
