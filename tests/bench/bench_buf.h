/*
 * bench_buf.h - the growable byte buffer the benches' C clients and writers share (kept here,
 * beside them, so they stay free of the project's code but for what they measure).
 */
#ifndef BENCH_BUF_H
#define BENCH_BUF_H

#include <stdbool.h>
#include <stdlib.h>

/** Grow *@p buf (capacity *@p cap) to hold @p need bytes, doubling past it so that appends
 *  stay amortised; @returns false when out of memory (*@p buf is then unchanged). */
static inline bool bench_buf_reserve(char **buf, size_t *cap, size_t need)
{
    char *b;

    if (need <= *cap)
        return true;
    b = realloc(*buf, need * 2);
    if (!b)
        return false;
    *buf = b;
    *cap = need * 2;
    return true;
}

#endif
