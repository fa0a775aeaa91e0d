/*
 * bench_lexer_ingest.c - the ceiling of the agent's fast XML path: xo_xmlrpc_lexer alone
 * over a recorded event.from answer, fed in the chunks curl hands the agent, with handlers
 * that only count; the row beside baseline_sax_ingest (libxml2 alone) in bench_agent.py.
 * Must not: decode XML-RPC values (that is bench_ingest_decode's), or differ from
 * baseline_sax_ingest in anything but the parser.
 */
#include <stdio.h>

#include "bench_file.h"

#include "xo_xmlrpc_lexer.h"

typedef struct {
    unsigned long long elements, text_bytes;
} counts_t;

/* Counting keeps the handlers from being optimised into nothing, at the least cost. */
static xo_err_t on_start(void *ctx, const char *name, size_t len)
{
    (void)name, (void)len;
    ((counts_t *)ctx)->elements++;
    return XO_OK;
}

static xo_err_t on_end(void *ctx, const char *name, size_t len)
{
    (void)ctx, (void)name, (void)len;
    return XO_OK;
}

static xo_err_t on_text(void *ctx, const char *s, size_t len)
{
    (void)s;
    ((counts_t *)ctx)->text_bytes += len;
    return XO_OK;
}

static int parse_once(const char *doc, size_t len, size_t chunk, unsigned long long *elements)
{
    static const xo_xmlrpc_lexer_cbs_t cbs = {on_start, on_end, on_text};
    counts_t c = {0};
    xo_xmlrpc_lexer_t *lx = xo_xmlrpc_lexer_new(&cbs, &c, 0);
    xo_err_t err = lx ? XO_OK : XO_ERR_NOMEM;

    for (size_t off = 0; off < len && err == XO_OK; off += chunk)
        err = xo_xmlrpc_lexer_feed(lx, doc + off, len - off < chunk ? len - off : chunk);
    if (err == XO_OK)
        err = xo_xmlrpc_lexer_finish(lx);
    if (err != XO_OK && lx)
        fprintf(stderr, "%s\n", xo_xmlrpc_lexer_error(lx));
    xo_xmlrpc_lexer_free(lx);
    *elements = c.elements;
    return err == XO_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    return bench_parse_main(argc, argv, "the fast XML-RPC lexer (xo_xmlrpc_lexer)", parse_once);
}
