/*
 * baseline_sax_ingest.c - the ingest baseline of bench_agent.py: libxml2's SAX2 push
 * parser alone over a recorded event.from answer, fed in the chunks curl hands the agent
 * (16 KiB by default), with the parser options the agent's decoder uses and handlers that
 * do nothing. It must stay free of the project's code: it is the parser's ceiling.
 */
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_file.h"

#define DEFAULT_CHUNK 16384 /* CURL_MAX_WRITE_SIZE: what the agent's body callback gets */

typedef struct {
    unsigned long long elements, text_bytes;
} counts_t;

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counting keeps the handlers from being optimised into nothing, at the least cost. */
static void on_start(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri,
                     int nns, const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs)
{
    (void)name, (void)prefix, (void)uri, (void)nns, (void)ns, (void)nattr, (void)ndef, (void)attrs;
    ((counts_t *)ctx)->elements++;
}

static void on_end(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri)
{
    (void)ctx, (void)name, (void)prefix, (void)uri;
}

static void on_text(void *ctx, const xmlChar *s, int len)
{
    (void)s;
    ((counts_t *)ctx)->text_bytes += (unsigned long long)len;
}

/* One pass of the push parser over @p doc; returns 0 when the document was well-formed. */
static int parse_once(const char *doc, size_t len, size_t chunk, counts_t *c)
{
    xmlSAXHandler sax;
    xmlParserCtxtPtr ctxt;
    int rc = 0;

    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    ctxt = xmlCreatePushParserCtxt(&sax, c, NULL, 0, NULL);
    if (!ctxt)
        return -1;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC);
    for (size_t off = 0; off < len && rc == 0; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = xmlParseChunk(ctxt, doc + off, (int)n, 0);
    }
    if (rc == 0)
        rc = xmlParseChunk(ctxt, NULL, 0, 1);
    if (rc == 0 && !ctxt->wellFormed)
        rc = -1;
    xmlFreeParserCtxt(ctxt);
    return rc;
}

int main(int argc, char **argv)
{
    size_t len = 0, chunk = DEFAULT_CHUNK;
    int runs = 1;
    char *doc;

    if (argc < 2 || argc > 4) {
        fprintf(stderr,
                "usage: %s DUMP.xml [CHUNK_BYTES (16384)] [RUNS (1)]\n"
                "Prints the MB/s (and CPU seconds) of each pass of libxml2's SAX push parser.\n",
                argv[0]);
        return 2;
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
    for (int i = 0; i < runs; i++) {
        counts_t c = {0};
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), s, cpu;
        if (parse_once(doc, len, chunk, &c) != 0) {
            fprintf(stderr, "error: %s is not well-formed XML\n", argv[1]);
            free(doc);
            return 1;
        }
        s = clock_s(CLOCK_MONOTONIC) - t0;
        cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0; /* the pass's CPU: steady under load */
        printf("bytes=%zu chunk=%zu seconds=%.3f mb_s=%.1f cpu_s=%.3f elements=%llu\n", len, chunk,
               s, (double)len / (1 << 20) / s, cpu, c.elements);
    }
    free(doc);
    return 0;
}
