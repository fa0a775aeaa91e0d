/*
 * xo_xml_guard.c - the SAX callbacks and checks that keep hostile XML out of libxml2's
 * dangerous corners, shared by xo_xmlrpc.c and xo_catalog.c. Knows nothing of what the
 * document means. Must not: load DTDs or entities, touch the network or files, print or
 * log (the first error is kept for the parser's caller).
 */
#include "xo_xml_guard.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/xmlerror.h>

void xo_xml_guard_fail(xo_xml_guard_t *g, xo_err_t err, const char *fmt, ...)
{
    va_list ap;

    if (g->err != XO_OK)
        return;
    g->err = err;
    va_start(ap, fmt);
    vsnprintf(g->errmsg, sizeof g->errmsg, fmt, ap);
    va_end(ap);
    if (g->ctxt)
        xmlStopParser(g->ctxt);
}

/* The SAX user data starts with the guard (xo_xml_guard_t's contract). */
static xo_xml_guard_t *guard_of(void *ctx)
{
    return ctx;
}

static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext_id, const xmlChar *sys_id)
{
    (void)name, (void)ext_id, (void)sys_id;
    xo_xml_guard_fail(guard_of(ctx), XO_ERR_PARSE, "DTD not allowed");
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    (void)name, (void)type, (void)public_id, (void)system_id, (void)content;
    xo_xml_guard_fail(guard_of(ctx), XO_ERR_PARSE, "DTD not allowed (entity declaration)");
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
    (void)name;
    xo_xml_guard_fail(guard_of(ctx), XO_ERR_PARSE, "entity references not allowed");
    return NULL;
}

static void on_reference(void *ctx, const xmlChar *name)
{
    (void)name;
    xo_xml_guard_fail(guard_of(ctx), XO_ERR_PARSE, "entity references not allowed");
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    (void)target, (void)data;
    xo_xml_guard_fail(guard_of(ctx), XO_ERR_PARSE, "processing instructions not allowed");
}

static void on_xml_error(void *ctx, xmlErrorPtr e)
{
    char msg[160];
    size_t n;

    if (!e || e->level < XML_ERR_ERROR)
        return;
    snprintf(msg, sizeof msg, "%s", e->message ? e->message : "unknown");
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    xo_xml_guard_fail(guard_of(ctx), XO_ERR_PARSE, "XML error at line %d: %s", e->line, msg);
}

void xo_xml_guard_sax(xmlSAXHandler *sax)
{
    memset(sax, 0, sizeof *sax);
    sax->initialized = XML_SAX2_MAGIC;
    sax->internalSubset = on_dtd;
    sax->externalSubset = on_dtd;
    sax->entityDecl = on_entity_decl;
    sax->getEntity = on_get_entity;
    sax->getParameterEntity = on_get_entity;
    sax->reference = on_reference;
    sax->processingInstruction = on_pi;
    sax->serror = on_xml_error;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

xo_err_t xo_xml_guard_init(xo_xml_guard_t *g, xmlSAXHandler *sax, void *user_data)
{
    pthread_once(&xml_once, xml_init);
    g->err = XO_OK;
    g->errmsg[0] = '\0';
    g->u8_need = 0;
    g->ctxt = xmlCreatePushParserCtxt(sax, user_data, NULL, 0, NULL);
    if (!g->ctxt)
        return XO_ERR_NOMEM;
    /* No NOENT (no entity substitution), no DTDLOAD/DTDATTR, never the network; input is
     * UTF-8 whatever the document declares (xo_xml_guard_utf8 enforces it). */
    xmlCtxtUseOptions(g->ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC);
    return XO_OK;
}

void xo_xml_guard_fini(xo_xml_guard_t *g)
{
    if (g->ctxt)
        xmlFreeParserCtxt(g->ctxt);
    g->ctxt = NULL;
}

/* Whether s[0..32) is ASCII without NUL: four words tested together. */
static bool ascii_no_nul_32(const unsigned char *s)
{
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    uint64_t w[4], bad = 0;

    memcpy(w, s, sizeof w);
    for (int k = 0; k < 4; k++)
        bad |= w[k] | ((w[k] - ones) & ~w[k]);
    return !(bad & high);
}

bool xo_xml_guard_utf8(xo_xml_guard_t *g, const unsigned char *s, size_t n, size_t *bad_at,
                       bool *nul)
{
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;

    *nul = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c;
        uint32_t cp;
        /* Fast path: ASCII without NUL (most of any document), 32 bytes at a time with one
         * branch, then 8 at a time. */
        while (!g->u8_need && i + 32 <= n && ascii_no_nul_32(s + i))
            i += 32;
        while (!g->u8_need && i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, sizeof(w));
            if ((w & high) || ((w - ones) & ~w & high))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        c = s[i];
        if (g->u8_need) {
            if ((c & 0xC0) != 0x80)
                goto bad;
            g->u8_cp = (g->u8_cp << 6) | (c & 0x3F);
            cp = g->u8_cp;
            if (--g->u8_need == 0 &&
                (cp < g->u8_min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
                goto bad;
            continue;
        }
        if (c == 0) {
            *nul = true;
            goto bad;
        }
        if (c < 0x80)
            continue;
        if (c >= 0xC2 && c <= 0xDF)
            g->u8_need = 1, g->u8_cp = c & 0x1F, g->u8_min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            g->u8_need = 2, g->u8_cp = c & 0x0F, g->u8_min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            g->u8_need = 3, g->u8_cp = c & 0x07, g->u8_min = 0x10000;
        else
            goto bad;
        continue;
    bad:
        *bad_at = i;
        return false;
    }
    return true;
}

bool xo_xml_guard_utf8_pending(const xo_xml_guard_t *g)
{
    return g->u8_need != 0;
}
