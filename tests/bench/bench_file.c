/* bench_file.c - see bench_file.h */
#include "bench_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CHUNK 16384 /* CURL_MAX_WRITE_SIZE: what the agent's body callback gets */

char *bench_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_parse_main(int argc, char **argv, const char *what, bench_parse_fn parse)
{
    size_t len = 0, chunk = DEFAULT_CHUNK;
    int runs = 1, rc = 0;
    char *doc;

    if (argc < 2 || argc > 4 || argv[1][0] == '-') {
        fprintf(argc == 2 && argv[1][0] == '-' ? stdout : stderr,
                "usage: %s DUMP.xml [CHUNK_BYTES (%d)] [RUNS (1)]\n"
                "Prints the MB/s (and CPU seconds) of each pass of %s.\n",
                argv[0], DEFAULT_CHUNK, what);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    if (argc >= 3)
        chunk = (size_t)strtoul(argv[2], NULL, 10);
    if (argc >= 4)
        runs = atoi(argv[3]);
    doc = bench_read_file(argv[1], &len);
    if (!doc || !chunk || runs < 1) {
        fprintf(stderr, "error: cannot read %s (or bad chunk/runs)\n", argv[1]);
        free(doc);
        return 1;
    }
    for (int i = 0; i < runs && rc == 0; i++) {
        unsigned long long elements = 0;
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), s, cpu;
        if (parse(doc, len, chunk, &elements) != 0) {
            fprintf(stderr, "error: %s is not well-formed XML\n", argv[1]);
            rc = 1;
            break;
        }
        s = clock_s(CLOCK_MONOTONIC) - t0;
        cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0; /* the pass's CPU: steady under load */
        printf("bytes=%zu chunk=%zu seconds=%.3f mb_s=%.1f cpu_s=%.3f elements=%llu\n", len, chunk,
               s, (double)len / (1 << 20) / s, cpu, elements);
    }
    free(doc);
    return rc;
}
