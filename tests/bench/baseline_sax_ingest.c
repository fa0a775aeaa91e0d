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

#include "bench_file.h"

typedef struct {
    unsigned long long elements, text_bytes;
} counts_t;

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
static int parse_once(const char *doc, size_t len, size_t chunk, unsigned long long *elements)
{
    counts_t counts = {0}, *c = &counts;
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
    *elements = c->elements;
    return rc;
}

int main(int argc, char **argv)
{
    return bench_parse_main(argc, argv, "libxml2's SAX push parser", parse_once);
}
