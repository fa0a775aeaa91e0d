/*
 * xo_short_bytes.h - copy and compare a few bytes (element names, short texts) inline: two
 * overlapping moves of 8 or 4 bytes rather than a call to glibc's memcpy/memcmp, whose call
 * and branches on the size cost more than the work for the 2 to 16 bytes the XML-RPC ingest
 * handles per element. Never reads or writes outside [0, n). Header only.
 */
#ifndef XO_SHORT_BYTES_H
#define XO_SHORT_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** @brief Copy n bytes (any n; inline up to 16). The ranges must not overlap. */
static inline void xo_short_copy(char *to, const char *from, size_t n)
{
    uint64_t x, y;
    uint32_t u, v;

    if (n > 16) {
        memcpy(to, from, n);
    } else if (n >= 8) {
        memcpy(&x, from, 8), memcpy(&y, from + n - 8, 8);
        memcpy(to, &x, 8), memcpy(to + n - 8, &y, 8);
    } else if (n >= 4) {
        memcpy(&u, from, 4), memcpy(&v, from + n - 4, 4);
        memcpy(to, &u, 4), memcpy(to + n - 4, &v, 4);
    } else {
        for (size_t k = 0; k < n; k++)
            to[k] = from[k];
    }
}

/** @brief Whether a[0..n) and b[0..n) hold the same bytes (any n; inline up to 16). */
static inline bool xo_short_equal(const char *a, const char *b, size_t n)
{
    uint64_t x, y, x2, y2;
    uint32_t u, v, u2, v2;

    if (n > 16)
        return memcmp(a, b, n) == 0;
    if (n >= 8) {
        memcpy(&x, a, 8), memcpy(&y, b, 8), memcpy(&x2, a + n - 8, 8), memcpy(&y2, b + n - 8, 8);
        return ((x ^ y) | (x2 ^ y2)) == 0;
    }
    if (n >= 4) {
        memcpy(&u, a, 4), memcpy(&v, b, 4), memcpy(&u2, a + n - 4, 4), memcpy(&v2, b + n - 4, 4);
        return ((u ^ v) | (u2 ^ v2)) == 0;
    }
    for (size_t k = 0; k < n; k++)
        if (a[k] != b[k])
            return false;
    return true;
}

#endif
