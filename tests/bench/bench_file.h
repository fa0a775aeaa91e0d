/*
 * bench_file.h - a whole recorded file in memory, for the benches that replay one (the
 * baselines stay free of the project's code, so this lives beside them, not in common/).
 */
#ifndef BENCH_FILE_H
#define BENCH_FILE_H

#include <stddef.h>

/** The file's bytes (malloc'd, one spare byte at the end) and its length in @p len; NULL
 *  when it cannot be read. */
char *bench_read_file(const char *path, size_t *len);

#endif
