/*
 * bench_file.h - a whole recorded file in memory, for the benches that replay one, and the
 * timing loop of the parser baselines (which stay free of the project's code, so this lives
 * beside them, not in common/).
 */
#ifndef BENCH_FILE_H
#define BENCH_FILE_H

#include <stddef.h>

/** The file's bytes (malloc'd, one spare byte at the end) and its length in @p len; NULL
 *  when it cannot be read. */
char *bench_read_file(const char *path, size_t *len);

/** One pass of a parser over @p doc fed in @p chunk-byte pieces; counts the elements it
 *  reported; returns 0 when the document was well-formed. */
typedef int (*bench_parse_fn)(const char *doc, size_t len, size_t chunk,
                              unsigned long long *elements);

/**
 * The main of a parser's ingest baseline: DUMP.xml [CHUNK_BYTES] [RUNS] from argv, then one
 * line per pass: bytes= chunk= seconds= mb_s= cpu_s= elements= (what bench_agent.py reads).
 * @param what the parser's name for the usage text.
 * @returns the process exit code.
 */
int bench_parse_main(int argc, char **argv, const char *what, bench_parse_fn parse);

#endif
