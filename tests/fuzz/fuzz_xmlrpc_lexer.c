/*
 * fuzz_xmlrpc_lexer.c - libFuzzer target for the XML-RPC tokenizer
 * (common/xo_xmlrpc_lexer.c) and for the decoder over both of its parsers. Each input is
 * tokenized whole and in input-derived chunks (same outcome required), and, when it is
 * UTF-8 without NUL (what the decoder lets through), also parsed by libxml2's SAX2 push
 * parser under the guard: whatever the lexer accepts libxml2 must accept with the same
 * events (the lexer refuses more, by design: attributes, namespaces, non-ASCII names). The
 * decoder over the fast parser must likewise give libxml2's value for what it accepts.
 * One known libxml2 divergence is left out: libxml2 2.9 does not normalise CR LF and CR
 * inside a CDATA section (XML 1.0 section 2.11 says every line end; expat and the lexer do).
 * Must not: keep state between inputs, or touch files or the network.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_xml_guard.h"
#include "xo_xmlrpc.h"
#include "xo_xmlrpc_lexer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DEPTH 200 /* below libxml2's own nesting limit (256) */

/* The events as text ("<a>", "</a>", "[text]"), grown as needed. */
typedef struct {
    char *p;
    size_t len, cap;
    bool in_text;
} events_t;

static void put(events_t *e, const char *s, size_t n)
{
    if (e->len + n + 1 > e->cap) {
        size_t cap = (e->len + n + 1) * 2;
        char *p = realloc(e->p, cap);
        if (!p)
            abort();
        e->p = p;
        e->cap = cap;
    }
    memcpy(e->p + e->len, s, n);
    e->len += n;
    e->p[e->len] = '\0';
}

static void tag_event(events_t *e, const char *open, const char *name, size_t len)
{
    if (e->in_text)
        put(e, "]", 1);
    e->in_text = false;
    put(e, open, strlen(open));
    put(e, name, len);
    put(e, ">", 1);
}

static void text_event(events_t *e, const char *s, size_t len)
{
    if (!e->in_text)
        put(e, "[", 1);
    e->in_text = true;
    put(e, s, len);
}

static xo_err_t lx_start(void *opaque, const char *name, size_t len)
{
    tag_event(opaque, "<", name, len);
    return XO_OK;
}

static xo_err_t lx_end(void *opaque, const char *name, size_t len)
{
    tag_event(opaque, "</", name, len);
    return XO_OK;
}

static xo_err_t lx_text(void *opaque, const char *s, size_t len)
{
    text_event(opaque, s, len);
    return XO_OK;
}

/* The lexer over the input cut every `step` bytes (0: whole); returns its code. */
static xo_err_t lex(const uint8_t *data, size_t size, size_t step, events_t *e, char *msg)
{
    static const xo_xmlrpc_lexer_cbs_t cbs = {lx_start, lx_end, lx_text};
    xo_xmlrpc_lexer_t *lx = xo_xmlrpc_lexer_new(&cbs, e, MAX_DEPTH);
    xo_err_t err = XO_OK;

    if (!lx)
        abort();
    for (size_t off = 0; off < size && err == XO_OK; off += step ? step : size)
        err = xo_xmlrpc_lexer_feed(lx, (const char *)data + off,
                                   step && size - off > step ? step : size - off);
    if (err == XO_OK)
        err = xo_xmlrpc_lexer_finish(lx);
    if (e->in_text)
        put(e, "]", 1);
    snprintf(msg, XO_XMLRPC_LEXER_ERRMSG, "%s", xo_xmlrpc_lexer_error(lx));
    xo_xmlrpc_lexer_free(lx);
    return err;
}

/* libxml2 under the guard, with the same event text. */
typedef struct {
    xo_xml_guard_t g; /* first: the guard's callbacks find it */
    events_t e;
} sax_t;

static void sax_start(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri,
                      int nns, const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs)
{
    sax_t *s = ctx;

    (void)uri, (void)nns, (void)ns, (void)ndef, (void)attrs;
    if (prefix || nattr) /* the lexer never accepts these: mark them so a diff shows */
        put(&s->e, "!", 1);
    tag_event(&s->e, "<", (const char *)name, strlen((const char *)name));
}

static void sax_end(void *ctx, const xmlChar *name, const xmlChar *prefix, const xmlChar *uri)
{
    (void)prefix, (void)uri;
    tag_event(&((sax_t *)ctx)->e, "</", (const char *)name, strlen((const char *)name));
}

static void sax_text(void *ctx, const xmlChar *ch, int len)
{
    if (len > 0)
        text_event(&((sax_t *)ctx)->e, (const char *)ch, (size_t)len);
}

static bool libxml2_accepts(const uint8_t *data, size_t size, events_t *out)
{
    xmlSAXHandler sax;
    sax_t s = {0};
    int rc;

    xo_xml_guard_sax(&sax);
    sax.startElementNs = sax_start;
    sax.endElementNs = sax_end;
    sax.characters = sax_text;
    sax.cdataBlock = sax_text;
    sax.ignorableWhitespace = sax_text;
    if (xo_xml_guard_init(&s.g, &sax, &s) != XO_OK)
        abort();
    rc = xmlParseChunk(s.g.ctxt, (const char *)data, (int)size, 1);
    if (rc == 0 && s.g.err == XO_OK && !s.g.ctxt->wellFormed)
        rc = -1;
    xo_xml_guard_fini(&s.g);
    if (s.e.in_text)
        put(&s.e, "]", 1);
    *out = s.e;
    return rc == 0 && s.g.err == XO_OK;
}

/* Whether a CDATA section of the input holds a CR (libxml2 keeps it, see above). */
static bool cr_in_cdata(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;

    while ((p = memmem(p, (size_t)(end - p), "<![CDATA[", 9))) {
        const char *close = memmem(p, (size_t)(end - p), "]]>", 3);
        if (memchr(p, '\r', (size_t)((close ? close : end) - p)))
            return true;
        if (!close)
            break;
        p = close;
    }
    return false;
}

static bool utf8_without_nul(const uint8_t *data, size_t size)
{
    xo_xml_guard_t g = {0};
    size_t bad_at;
    bool nul;

    return xo_xml_guard_utf8(&g, data, size, &bad_at, &nul) && !xo_xml_guard_utf8_pending(&g);
}

/* The decoder over one parser: the value's JSON text, or NULL when it refused. */
static char *decode(const uint8_t *data, size_t size, xo_xmlrpc_parser_t parser)
{
    xo_xmlrpc_limits_t lim = {.max_depth = 32, .max_string = 1 << 16, .parser = parser};
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(&lim);
    json_object *out = NULL;
    char errstr[256], *text = NULL;
    xo_err_t err;

    if (!dec)
        abort();
    err = xo_xmlrpc_decoder_feed(dec, (const char *)data, size, errstr, sizeof errstr);
    if (err == XO_OK)
        err = xo_xmlrpc_decoder_finish(dec, &out, errstr, sizeof errstr);
    if (err == XO_OK || err == XO_ERR_XAPI)
        text = strdup(out ? json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN) : "nil");
    json_object_put(out);
    xo_xmlrpc_decoder_free(dec);
    return text;
}

static void check_decoders_agree(const uint8_t *data, size_t size)
{
    char *fast = decode(data, size, XO_XMLRPC_PARSER_FAST), *lib;

    if (!fast)
        return;
    lib = decode(data, size, XO_XMLRPC_PARSER_LIBXML2);
    if (!lib || strcmp(fast, lib) != 0) {
        fprintf(stderr, "decoders differ: fast %s, libxml2 %s\n", fast, lib ? lib : "(refused)");
        abort();
    }
    free(fast);
    free(lib);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    events_t whole = {0}, cut = {0}, lib = {0};
    char msg[2][XO_XMLRPC_LEXER_ERRMSG];
    size_t step = size ? 1 + data[0] % 17 : 1;
    xo_err_t err = lex(data, size, 0, &whole, msg[0]);

    /* any split: the same code and message, and the same events when accepted */
    if (lex(data, size, step, &cut, msg[1]) != err || strcmp(msg[0], msg[1]) != 0 ||
        (err == XO_OK && strcmp(whole.p ? whole.p : "", cut.p ? cut.p : "") != 0))
        abort();
    if (size <= (1 << 20) && utf8_without_nul(data, size) && !cr_in_cdata(data, size)) {
        if (err == XO_OK && (!libxml2_accepts(data, size, &lib) ||
                             strcmp(whole.p ? whole.p : "", lib.p ? lib.p : "") != 0)) {
            fprintf(stderr, "lexer accepted, libxml2 %s:\n  lexer   %s\n  libxml2 %s\n",
                    lib.p || err != XO_OK ? "differs" : "refused", whole.p ? whole.p : "",
                    lib.p ? lib.p : "");
            abort();
        }
        check_decoders_agree(data, size);
    }
    free(whole.p);
    free(cut.p);
    free(lib.p);
    return 0;
}
