/*
 * xo_xmlrpc_lexer.c - the XML-RPC decoder's own XML tokenizer: a push state machine that
 * turns any split of a document into start, end and text events, doing only what XML-RPC
 * needs (no attributes, no DTD, no PI) and refusing the rest. Plain text and whole tags are
 * handled in place in the caller's chunk; only a token cut by a chunk boundary is copied.
 * Knows nothing of XML-RPC's element names or structure (xo_xmlrpc.c's). Must not: print
 * or log, allocate per token, or accept a document a conforming XML parser would refuse.
 */
#include "xo_xmlrpc_lexer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_short_bytes.h"

#define MAX_DECL   512 /* the XML declaration, "<?xml" to "?>" */
#define NAMES_SEEN 64  /* a power of 2, well above the number of XML-RPC element names */

typedef enum {
    LX_START,   /* before anything: a byte order mark may come */
    LX_TEXT,    /* character data (or the blanks around the document element) */
    LX_MARKUP,  /* after '<', the token cut by a chunk boundary, gathered in tok */
    LX_COMMENT, /* inside <!-- --> */
    LX_CDATA,   /* inside <![CDATA[ ]]> */
    LX_DECL,    /* inside <?xml ... ?>, gathered in tok */
    LX_REF,     /* after '&' */
} lx_state_t;

/* Byte classes: what the scanners must stop at. */
enum { C_PLAIN, C_LT, C_AMP, C_CR, C_RSQB, C_GT, C_EF, C_BAD };

struct xo_xmlrpc_lexer {
    xo_xmlrpc_lexer_cbs_t cb;
    void *opaque;
    lx_state_t state;
    xo_err_t err;
    char errmsg[XO_XMLRPC_LEXER_ERRMSG];
    uint64_t base;     /* document offset of the current chunk's first byte */
    uint64_t doc_pos;  /* offset where the document proper starts (after a BOM) */
    unsigned bom;      /* bytes of the BOM seen */
    bool root_seen;    /* the document element opened */
    bool skip_lf;      /* the chunk before ended with CR: a leading LF belongs to it */
    uint64_t rsqb_end; /* text: offset after the last ']', and how many ']' in a row */
    unsigned rsqb_n;
    unsigned ef_need, ef_have; /* an 0xEF cut by a chunk boundary: its followers */
    unsigned char ef_buf[2];
    uint64_t ef_pos;  /* and its offset */
    unsigned dashes;  /* comment: '-' in a row; CDATA: ']' held back */
    struct {          /* a reference being read */
        unsigned len; /* bytes after '&' */
        int kind;     /* 0 name, 1 "&#" so far, 10 decimal, 16 hexadecimal */
        uint32_t val;
        char name[8];
    } ref;
    char tok[MAX_DECL > XO_XMLRPC_LEXER_MAX_TAG ? MAX_DECL : XO_XMLRPC_LEXER_MAX_TAG];
    size_t tok_len;
    uint64_t tok_pos; /* offset of tok's '<' */
    /* open elements: their names end to end, and where each starts */
    char *names;
    size_t names_len, names_cap;
    size_t *open;
    size_t depth, open_cap, max_depth;
    /* start-tag names already read and found valid, up to 7 bytes, by a hash of their first
     * and last byte and length (see known_start_tag) */
    struct {
        unsigned char len;
        char name[7];
    } seen[NAMES_SEEN];
};

static unsigned char cls[256];
static unsigned char name_cls[256]; /* 1: may start a name, 2: may continue one */
static pthread_once_t cls_once = PTHREAD_ONCE_INIT;

static void cls_init(void)
{
    for (unsigned c = 0; c < 0x20; c++)
        cls[c] = C_BAD;
    cls['\t'] = cls['\n'] = C_PLAIN;
    cls['\r'] = C_CR;
    cls['<'] = C_LT;
    cls['&'] = C_AMP;
    cls[']'] = C_RSQB;
    cls['>'] = C_GT;
    cls[0xEF] = C_EF;
    for (unsigned c = 0; c < 128; c++) {
        bool start = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        name_cls[c] = start ? 3 : ((c >= '0' && c <= '9') || c == '.' || c == '-') ? 2 : 0;
    }
}

static void fail(xo_xmlrpc_lexer_t *lx, xo_err_t err, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(xo_xmlrpc_lexer_t *lx, xo_err_t err, uint64_t at, const char *fmt, ...)
{
    char msg[XO_XMLRPC_LEXER_ERRMSG - 48]; /* room for the offset prefix */
    va_list ap;

    if (lx->err != XO_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lx->err = err;
    snprintf(lx->errmsg, sizeof lx->errmsg, "XML error at offset %" PRIu64 ": %s", at, msg);
}

/* A callback's code stops the lexer; its message is the callback owner's. */
static void cb_result(xo_xmlrpc_lexer_t *lx, xo_err_t err)
{
    if (err != XO_OK && lx->err == XO_OK)
        lx->err = err;
}

static void emit_text(xo_xmlrpc_lexer_t *lx, const char *s, size_t n)
{
    if (n && lx->err == XO_OK)
        cb_result(lx, lx->cb.text(lx->opaque, s, n));
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_name_start(unsigned char c)
{
    return name_cls[c] & 1;
}

static bool is_name_char(unsigned char c)
{
    return name_cls[c] != 0;
}

/* Characters XML 1.0 forbids (C0 controls but tab, LF, CR): the UTF-8 check before the
 * lexer has already refused NUL, surrogates and malformed sequences. */
static void bad_char(xo_xmlrpc_lexer_t *lx, unsigned char c, uint64_t at)
{
    fail(lx, XO_ERR_PARSE, at, "character U+%04X not allowed in XML", c);
}

/* U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML characters either. The 0xEF at s[i]
 * is checked now when its two followers are in this chunk, else at the next feed. */
static void check_ef(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    if (i + 2 < n) {
        if (s[i + 1] == 0xBF && (s[i + 2] == 0xBE || s[i + 2] == 0xBF))
            fail(lx, XO_ERR_PARSE, lx->base + i, "character U+FFF%c not allowed in XML",
                 s[i + 2] == 0xBE ? 'E' : 'F');
        return;
    }
    lx->ef_have = 0;
    lx->ef_pos = lx->base + i;
    for (size_t k = i + 1; k < n; k++)
        lx->ef_buf[lx->ef_have++] = s[k];
    lx->ef_need = 2 - lx->ef_have;
}

/* The rest of an 0xEF cut by the last chunk boundary, from the start of this one. */
static void check_ef_pending(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t n)
{
    for (size_t k = 0; k < n && lx->ef_need; k++, lx->ef_need--)
        lx->ef_buf[lx->ef_have++] = s[k];
    if (lx->ef_need)
        return;
    if (lx->ef_buf[0] == 0xBF && (lx->ef_buf[1] == 0xBE || lx->ef_buf[1] == 0xBF))
        fail(lx, XO_ERR_PARSE, lx->ef_pos, "character U+FFF%c not allowed in XML",
             lx->ef_buf[1] == 0xBE ? 'E' : 'F');
}

/* ---------------------------------------------------------------------------------------- */
/* Elements                                                                                 */

/* Room on the stack of open elements for one more, named with len bytes: the depth limit
 * and the growth, out of line (push_name() runs per element, this rarely). */
static __attribute__((noinline)) bool stack_room(xo_xmlrpc_lexer_t *lx, size_t len, uint64_t at)
{
    if (lx->depth >= lx->max_depth) {
        fail(lx, XO_ERR_LIMIT, at, "elements nest deeper than %zu", lx->max_depth);
        return false;
    }
    if (lx->depth == lx->open_cap) {
        size_t cap = lx->open_cap ? 2 * lx->open_cap : 32;
        size_t *p = realloc(lx->open, cap * sizeof *p);
        if (!p) {
            fail(lx, XO_ERR_NOMEM, at, "out of memory");
            return false;
        }
        lx->open = p;
        lx->open_cap = cap;
    }
    if (lx->names_len + len > lx->names_cap) {
        size_t cap = (lx->names_cap + len) * 2;
        char *p = realloc(lx->names, cap);
        if (!p) {
            fail(lx, XO_ERR_NOMEM, at, "out of memory");
            return false;
        }
        lx->names = p;
        lx->names_cap = cap;
    }
    return true;
}

static void push_name(xo_xmlrpc_lexer_t *lx, const char *name, size_t len, uint64_t at)
{
    if ((lx->depth >= lx->max_depth || lx->depth == lx->open_cap ||
         lx->names_len + len > lx->names_cap) &&
        !stack_room(lx, len, at))
        return;
    xo_short_copy(lx->names + lx->names_len, name, len);
    lx->open[lx->depth++] = lx->names_len;
    lx->names_len += len;
}

/* Length of the name at p[0..n), 0 when none; names are ASCII (every XML-RPC name is). */
static size_t name_len(xo_xmlrpc_lexer_t *lx, const char *p, size_t n, uint64_t at)
{
    size_t k = 0;

    if (!n || !is_name_start((unsigned char)p[0])) {
        if (n && (unsigned char)p[0] >= 0x80)
            fail(lx, XO_ERR_PARSE, at, "non-ASCII element name (XML-RPC has none)");
        else if (n && p[0] == ':')
            fail(lx, XO_ERR_PARSE, at, "namespaced element name (XML-RPC has none)");
        else
            fail(lx, XO_ERR_PARSE, at, "malformed tag");
        return 0;
    }
    while (k < n && is_name_char((unsigned char)p[k]))
        k++;
    if (k < n && (unsigned char)p[k] >= 0x80) {
        fail(lx, XO_ERR_PARSE, at, "non-ASCII element name (XML-RPC has none)");
        return 0;
    }
    if (k < n && p[k] == ':') {
        fail(lx, XO_ERR_PARSE, at, "namespaced element name (XML-RPC has none)");
        return 0;
    }
    if (k > XO_XMLRPC_LEXER_MAX_NAME) {
        fail(lx, XO_ERR_PARSE, at, "element name longer than %d bytes", XO_XMLRPC_LEXER_MAX_NAME);
        return 0;
    }
    return k;
}

/* </name> read: it must close the innermost open element. */
static void close_element(xo_xmlrpc_lexer_t *lx, const char *name, size_t len, uint64_t at)
{
    size_t open_len;
    const char *open;

    if (!lx->depth) {
        fail(lx, XO_ERR_PARSE, at, "end tag </%.*s> without a start tag", (int)len, name);
        return;
    }
    open = lx->names + lx->open[lx->depth - 1];
    open_len = lx->names_len - lx->open[lx->depth - 1];
    if (open_len != len || !xo_short_equal(open, name, len)) {
        fail(lx, XO_ERR_PARSE, at, "end tag </%.*s> does not match <%.*s>", (int)len, name,
             (int)open_len, open);
        return;
    }
    lx->depth--;
    lx->names_len = lx->open[lx->depth];
    cb_result(lx, lx->cb.end(lx->opaque, name, len));
}

/* <name> or <name/> read. */
static void open_element(xo_xmlrpc_lexer_t *lx, const char *name, size_t len, bool empty,
                         uint64_t at)
{
    if (lx->root_seen && !lx->depth) {
        fail(lx, XO_ERR_PARSE, at, "content after the document element");
        return;
    }
    lx->root_seen = true;
    push_name(lx, name, len, at);
    if (lx->err == XO_OK)
        cb_result(lx, lx->cb.start(lx->opaque, name, len));
    if (empty && lx->err == XO_OK)
        close_element(lx, name, len, at);
}

static void end_tag(xo_xmlrpc_lexer_t *lx, const char *p, size_t n, uint64_t at)
{
    size_t len = name_len(lx, p + 2, n - 3, at), k = 2 + len;

    if (!len)
        return;
    while (k < n - 1 && is_blank((unsigned char)p[k]))
        k++;
    if (k != n - 1)
        fail(lx, XO_ERR_PARSE, at, "malformed end tag");
    else
        close_element(lx, p + 2, len, at);
}

static void start_tag(xo_xmlrpc_lexer_t *lx, const char *p, size_t n, uint64_t at)
{
    size_t len = name_len(lx, p + 1, n - 2, at), k = 1 + len;
    bool empty = false;

    if (!len)
        return;
    while (k < n - 1 && is_blank((unsigned char)p[k]))
        k++;
    if (k == n - 2 && p[k] == '/')
        empty = true;
    else if (k != n - 1) {
        if (k > 1 + len && is_name_start((unsigned char)p[k]))
            fail(lx, XO_ERR_PARSE, at, "attributes not allowed (XML-RPC has none)");
        else
            fail(lx, XO_ERR_PARSE, at, "malformed tag");
        return;
    }
    open_element(lx, p + 1, len, empty, at);
}

/* A whole tag p[0..n), '<' to '>'. */
static void tag(xo_xmlrpc_lexer_t *lx, const char *p, size_t n, uint64_t at)
{
    if (p[1] == '/')
        end_tag(lx, p, n, at);
    else
        start_tag(lx, p, n, at);
}

/* ---------------------------------------------------------------------------------------- */
/* References                                                                               */

static void emit_utf8(xo_xmlrpc_lexer_t *lx, uint32_t c)
{
    char u[4];
    size_t n;

    if (c < 0x80)
        u[0] = (char)c, n = 1;
    else if (c < 0x800)
        u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3F)), n = 2;
    else if (c < 0x10000)
        u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (c & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F)), u[3] = (char)(0x80 | (c & 0x3F)), n = 4;
    emit_text(lx, u, n);
}

static bool xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

static void ref_resolve(xo_xmlrpc_lexer_t *lx, uint64_t at)
{
    static const struct {
        const char *name, *text;
    } predefined[] = {{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
    size_t n = lx->ref.len - 1; /* the name's or digits' bytes, ';' excluded */

    if (lx->ref.kind == 0) {
        for (size_t i = 0; i < sizeof predefined / sizeof predefined[0]; i++)
            if (strlen(predefined[i].name) == n && memcmp(predefined[i].name, lx->ref.name, n) == 0)
                return emit_text(lx, predefined[i].text, 1);
        fail(lx, XO_ERR_PARSE, at, "entity references not allowed (&%.*s;)", (int)n, lx->ref.name);
        return;
    }
    if (lx->ref.kind == 1 || n <= (lx->ref.kind == 16 ? 2u : 1u)) {
        fail(lx, XO_ERR_PARSE, at, "character reference without digits");
        return;
    }
    if (!xml_char(lx->ref.val)) {
        fail(lx, XO_ERR_PARSE, at, "character reference to a character XML forbids");
        return;
    }
    emit_utf8(lx, lx->ref.val);
}

static int digit_value(unsigned char c, int base)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (base == 16 && c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (base == 16 && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One byte of a reference (at document offset at); returns true when it ended it. */
static bool ref_byte(xo_xmlrpc_lexer_t *lx, unsigned char c, uint64_t at)
{
    unsigned i = lx->ref.len++;
    int d;

    if (c == ';' && i > 0) {
        ref_resolve(lx, at);
        return true;
    }
    if (i == 0 && c == '#') {
        lx->ref.kind = 1;
        return false;
    }
    if (lx->ref.kind == 1 && c == 'x' && i == 1) {
        lx->ref.kind = 16;
        return false;
    }
    if (lx->ref.kind == 1)
        lx->ref.kind = 10;
    if (lx->ref.kind == 0) {
        if ((i == 0 ? is_name_start(c) : is_name_char(c)) && i < sizeof lx->ref.name) {
            lx->ref.name[i] = (char)c;
            return false;
        }
        if (i == 0)
            fail(lx, XO_ERR_PARSE, at, "'&' not followed by a reference (write &amp;)");
        else if (is_name_char(c))
            fail(lx, XO_ERR_PARSE, at, "entity references not allowed");
        else
            fail(lx, XO_ERR_PARSE, at, "reference not ended by ';'");
        return true;
    }
    d = digit_value(c, lx->ref.kind);
    if (d < 0) {
        fail(lx, XO_ERR_PARSE, at, "bad character reference");
        return true;
    }
    lx->ref.val = lx->ref.val * (uint32_t)lx->ref.kind + (uint32_t)d;
    if (lx->ref.val > 0x10FFFF)
        lx->ref.val = 0x110000; /* stays out of range whatever follows */
    return false;
}

static void ref_begin(xo_xmlrpc_lexer_t *lx)
{
    memset(&lx->ref, 0, sizeof lx->ref);
    lx->state = LX_REF;
}

/* Bytes of a reference from s[i]; returns where the text goes on. */
static size_t scan_ref(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    while (i < n && lx->err == XO_OK) {
        if (ref_byte(lx, s[i], lx->base + i)) {
            lx->state = LX_TEXT;
            return i + 1;
        }
        i++;
    }
    return i;
}

/* ---------------------------------------------------------------------------------------- */
/* Text                                                                                     */

static size_t markup_begin(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n);

/* Outside the document element only blanks and markup may come (the BOM aside): checked
 * byte by byte, so that the first offending byte is the one reported whatever the chunks. */
static size_t scan_outside(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    for (; i < n && is_blank(s[i]); i++)
        ;
    if (i == n)
        return n;
    if (s[i] == '<')
        return markup_begin(lx, s, i, n);
    if (cls[s[i]] == C_BAD)
        bad_char(lx, s[i], lx->base + i);
    else
        fail(lx, XO_ERR_PARSE, lx->base + i, "text outside the document element");
    return n;
}

/* "]]>" may not appear in text; ']' runs are tracked by offset across chunks. */
static void note_rsqb(xo_xmlrpc_lexer_t *lx, uint64_t at)
{
    lx->rsqb_n = at == lx->rsqb_end ? lx->rsqb_n + 1 : 1;
    lx->rsqb_end = at + 1;
}

/* A run of character data from s[i] inside the document element, emitted; returns the
 * offset of the '<', '&' or CR that ends it, or n (also when it failed). */
static size_t text_run(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    size_t run = i;

    for (; i < n; i++) {
        unsigned char c = cls[s[i]];
        if (c == C_PLAIN)
            continue;
        if (c == C_RSQB) {
            note_rsqb(lx, lx->base + i);
            continue;
        }
        if (c == C_GT) {
            if (lx->rsqb_end == lx->base + i && lx->rsqb_n >= 2)
                fail(lx, XO_ERR_PARSE, lx->base + i, "']]>' not allowed in text");
            if (lx->err != XO_OK)
                return n;
            continue;
        }
        if (c == C_EF) {
            check_ef(lx, s, i, n);
            if (lx->err != XO_OK)
                return n;
            continue;
        }
        if (c == C_BAD) {
            bad_char(lx, s[i], lx->base + i);
            return n;
        }
        break; /* '<', '&', CR */
    }
    emit_text(lx, (const char *)s + run, i - run);
    return lx->err == XO_OK ? i : n;
}

/* Character data and the tags between it, from s[i], until the chunk ends or something
 * else than a whole tag comes (a reference, a comment, a token cut by the chunk's end):
 * the loop stays here from tag to tag rather than going back to feed() for each. Returns
 * where it stopped. */
static size_t scan_text(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    if (lx->skip_lf && i < n && s[i] == '\n')
        i++;
    lx->skip_lf = false;
    while (i < n && lx->state == LX_TEXT && lx->err == XO_OK) {
        if (!lx->depth)
            return scan_outside(lx, s, i, n);
        i = text_run(lx, s, i, n);
        if (i == n)
            return n;
        if (s[i] == '\r') {
            emit_text(lx, "\n", 1);
            if (i + 1 < n && s[i + 1] == '\n')
                i += 2;
            else
                lx->skip_lf = ++i == n;
        } else if (s[i] == '&') {
            ref_begin(lx);
            return scan_ref(lx, s, i + 1, n);
        } else {
            i = markup_begin(lx, s, i, n);
        }
    }
    return lx->err == XO_OK ? i : n;
}

/* ---------------------------------------------------------------------------------------- */
/* Markup: tags, and the rare forms cut by a chunk boundary                                  */

static const char COMMENT_OPEN[] = "<!--", CDATA_OPEN[] = "<![CDATA[";

static bool is_prefix(const char *tok, size_t n, const char *of)
{
    return n <= strlen(of) && memcmp(tok, of, n) == 0;
}

/* Decide what tok (which starts with '<') is once it holds enough bytes. */
static void markup_decide(xo_xmlrpc_lexer_t *lx)
{
    const char *t = lx->tok;
    size_t n = lx->tok_len;

    if (n < 2 || t[1] != '!') {
        if (n >= 2 && t[1] == '?') {
            if (lx->tok_pos != lx->doc_pos || lx->root_seen)
                fail(lx, XO_ERR_PARSE, lx->tok_pos, "processing instructions not allowed");
            else
                lx->state = LX_DECL;
        }
        return;
    }
    if (n == strlen(COMMENT_OPEN) && memcmp(t, COMMENT_OPEN, n) == 0) {
        lx->state = LX_COMMENT;
        lx->dashes = 0;
    } else if (n == strlen(CDATA_OPEN) && memcmp(t, CDATA_OPEN, n) == 0) {
        if (!lx->depth)
            fail(lx, XO_ERR_PARSE, lx->tok_pos, "CDATA outside the document element");
        lx->state = LX_CDATA;
        lx->dashes = 0;
    } else if (!is_prefix(t, n, COMMENT_OPEN) && !is_prefix(t, n, CDATA_OPEN)) {
        if (n >= 3 && t[2] == 'D')
            fail(lx, XO_ERR_PARSE, lx->tok_pos, "DTD not allowed");
        else
            fail(lx, XO_ERR_PARSE, lx->tok_pos,
                 "markup declarations not allowed (only comments and CDATA sections)");
    }
}

static bool tok_add(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t n, size_t max)
{
    if (lx->tok_len + n > max) {
        fail(lx, XO_ERR_PARSE, lx->tok_pos, "%s longer than %zu bytes",
             lx->state == LX_DECL ? "XML declaration" : "tag", max);
        return false;
    }
    memcpy(lx->tok + lx->tok_len, s, n);
    lx->tok_len += n;
    return true;
}

/* "</" at s[i]: the end tag of the innermost open element, whole in the chunk, is checked by
 * comparing with that element's name rather than by reading a name (half of all tags);
 * returns the offset after it, or 0 for anything else (then the general path reads it). */
static size_t known_end_tag(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    size_t off, len, b = i + 2;

    if (!lx->depth)
        return 0;
    off = lx->open[lx->depth - 1];
    len = lx->names_len - off;
    if (len >= n - b || s[b + len] != '>' ||
        !xo_short_equal(lx->names + off, (const char *)s + b, len))
        return 0;
    lx->depth--;
    lx->names_len = off;
    cb_result(lx, lx->cb.end(lx->opaque, (const char *)s + b, len));
    return b + len + 1;
}

/* The slot of the start-tag name s[0..len) in lx->seen. */
static unsigned seen_slot(const unsigned char *s, size_t len)
{
    return (s[0] ^ (unsigned)s[len - 1] << 1 ^ (unsigned)len) & (NAMES_SEEN - 1);
}

/* "<" at s[i]: a start tag <name> whose '>' is among the 8 bytes after the '<' and whose
 * name was read before (lx->seen) needs no reading byte by byte: one word finds the '>'
 * and one compare the name. Element names come from a small vocabulary, and the byte loop
 * of simple_start_tag(), with an exit that depends on each name's length, cost more than
 * the rest of the tag. Returns the offset after the tag, or 0 (then the byte loop reads
 * it). Little-endian only: the first '>' is the lowest flagged byte. */
static size_t known_start_tag(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u;
    size_t b = i + 1, len;
    uint64_t w, gt;
    unsigned slot;

    if (n - b < 8)
        return 0;
    memcpy(&w, s + b, 8);
    w ^= ones * '>';
    gt = (w - ones) & ~w & 0x8080808080808080u; /* the lowest flagged byte is a '>' */
    if (!gt)
        return 0;
    len = (size_t)__builtin_ctzll(gt) / 8;
    if (!len)
        return 0;
    slot = seen_slot(s + b, len);
    if (lx->seen[slot].len != len || !xo_short_equal(lx->seen[slot].name, (const char *)s + b, len))
        return 0;
    open_element(lx, (const char *)s + b, len, false, lx->tok_pos);
    return b + len + 1;
#else
    (void)lx, (void)s, (void)i, (void)n;
    return 0;
#endif
}

/* A start-tag name just read and found valid, for known_start_tag(). */
static void note_start_tag(xo_xmlrpc_lexer_t *lx, const unsigned char *name, size_t len)
{
    unsigned slot;

    if (len > sizeof lx->seen[0].name)
        return;
    slot = seen_slot(name, len);
    lx->seen[slot].len = (unsigned char)len;
    memcpy(lx->seen[slot].name, name, len);
}

/* The common start tags <name> and <name/> whole in the chunk at s[i], read in one pass;
 * returns the offset after the tag, or 0 for anything else (then tag() reads it, with the
 * same outcome whatever the chunk boundaries). */
static size_t simple_start_tag(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    size_t b = i + 1, k = b;

    if (k >= n || !(name_cls[s[k]] & 1))
        return 0;
    while (++k < n && name_cls[s[k]])
        ;
    if (k - b > XO_XMLRPC_LEXER_MAX_NAME || k >= n)
        return 0;
    if (s[k] == '>') {
        note_start_tag(lx, s + b, k - b);
        open_element(lx, (const char *)s + b, k - b, false, lx->tok_pos);
    } else if (s[k] == '/' && k + 1 < n && s[k + 1] == '>')
        open_element(lx, (const char *)s + b, k++ - b, true, lx->tok_pos);
    else
        return 0;
    return k + 1;
}

/* markup_begin()'s rare cases, kept out of line so that the common path stays small (its
 * register saves showed up per tag): a tag with blanks or an error, whole in the chunk, is
 * read by tag(); anything else is gathered in tok from the '<' on (LX_MARKUP). */
static __attribute__((noinline)) size_t markup_other(xo_xmlrpc_lexer_t *lx, const unsigned char *s,
                                                     size_t i, size_t n)
{
    if (i + 1 < n && s[i + 1] != '!' && s[i + 1] != '?') {
        size_t span = n - i < XO_XMLRPC_LEXER_MAX_TAG ? n - i : XO_XMLRPC_LEXER_MAX_TAG;
        const unsigned char *gt = memchr(s + i, '>', span);
        if (gt) {
            tag(lx, (const char *)s + i, (size_t)(gt - s - i) + 1, lx->tok_pos);
            return (size_t)(gt - s) + 1;
        }
        if (n - i >= XO_XMLRPC_LEXER_MAX_TAG) {
            fail(lx, XO_ERR_PARSE, lx->tok_pos, "tag longer than %d bytes",
                 XO_XMLRPC_LEXER_MAX_TAG);
            return n;
        }
    }
    lx->state = LX_MARKUP;
    return i;
}

/* After '<' at s[i]: a whole start or end tag in this chunk is handled in place; anything
 * else goes to markup_other(). Returns where scanning goes on. */
static size_t markup_begin(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    size_t done = 0;

    lx->tok_pos = lx->base + i;
    lx->tok_len = 0;
    if (i + 1 < n && s[i + 1] == '/') {
        done = known_end_tag(lx, s, i, n);
    } else if (i + 1 < n && s[i + 1] != '!' && s[i + 1] != '?') {
        done = known_start_tag(lx, s, i, n);
        if (!done)
            done = simple_start_tag(lx, s, i, n);
    }
    return done ? done : markup_other(lx, s, i, n);
}

/* Bytes of markup gathered across chunks, from s[i]; returns where the next state starts. */
static size_t scan_markup(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    /* The short forms ("<", "<!", "<!-", "<![CDA", "<?") a byte at a time. */
    while (i < n && lx->state == LX_MARKUP && lx->err == XO_OK &&
           (lx->tok_len < 2 || lx->tok[1] == '!' || lx->tok[1] == '?')) {
        if (!tok_add(lx, s + i, 1, XO_XMLRPC_LEXER_MAX_TAG))
            return n;
        i++;
        if (lx->tok_len == 2 && lx->tok[1] == '>') { /* "<>": the tag ends here */
            lx->state = LX_TEXT;
            tag(lx, lx->tok, lx->tok_len, lx->tok_pos);
            return i;
        }
        markup_decide(lx);
    }
    if (lx->state != LX_MARKUP || lx->err != XO_OK || i == n)
        return lx->err != XO_OK ? n : i;
    /* A start or end tag: up to '>'. */
    const unsigned char *gt = memchr(s + i, '>', n - i);
    size_t take = gt ? (size_t)(gt - s - i) + 1 : n - i;
    if (!tok_add(lx, s + i, take, XO_XMLRPC_LEXER_MAX_TAG))
        return n;
    if (gt) {
        lx->state = LX_TEXT;
        tag(lx, lx->tok, lx->tok_len, lx->tok_pos);
    }
    return i + take;
}

/* ---------------------------------------------------------------------------------------- */
/* Comments, CDATA sections, the XML declaration                                            */

static size_t scan_comment(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c == '-') {
            lx->dashes++;
            continue;
        }
        if (c == '>' && lx->dashes >= 2) {
            if (lx->dashes > 2)
                break;
            lx->state = LX_TEXT;
            return i + 1;
        }
        if (lx->dashes >= 2)
            break;
        lx->dashes = 0;
        if (cls[c] == C_BAD) {
            bad_char(lx, c, lx->base + i);
            return n;
        }
        if (cls[c] == C_EF) {
            check_ef(lx, s, i, n);
            if (lx->err != XO_OK)
                return n;
        }
    }
    if (i < n)
        fail(lx, XO_ERR_PARSE, lx->base + i, "'--' not allowed inside a comment");
    return n;
}

/* CDATA text goes out as is (CR LF normalised); up to two ']' are held back in `dashes`
 * until it is known whether they start "]]>". */
static size_t scan_cdata(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    size_t run;

    if (lx->skip_lf && i < n && s[i] == '\n')
        i++;
    lx->skip_lf = false;
    for (run = i; i < n && lx->err == XO_OK; i++) {
        unsigned char c = s[i];
        if (c == ']') {
            emit_text(lx, (const char *)s + run, i - run);
            run = i + 1;
            if (lx->dashes == 2)
                emit_text(lx, "]", 1);
            else
                lx->dashes++;
            continue;
        }
        if (c == '>' && lx->dashes == 2) {
            lx->dashes = 0;
            lx->state = LX_TEXT;
            return i + 1;
        }
        if (lx->dashes) {
            emit_text(lx, "]]", lx->dashes);
            lx->dashes = 0;
        }
        if (c == '\r') {
            emit_text(lx, (const char *)s + run, i - run);
            emit_text(lx, "\n", 1);
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
            else
                lx->skip_lf = i + 1 == n;
            run = i + 1;
        } else if (cls[c] == C_BAD) {
            bad_char(lx, c, lx->base + i);
        } else if (cls[c] == C_EF) {
            check_ef(lx, s, i, n);
        }
    }
    emit_text(lx, (const char *)s + run, i - run);
    return n;
}

/* Pseudo-attribute `name = 'value'` of the declaration at *p; false when absent. */
static bool decl_attr(const char **p, const char *end, const char *name, const char **val,
                      size_t *val_len)
{
    const char *q = *p;
    size_t nl = strlen(name);
    char quote;

    if (q == end || !is_blank((unsigned char)*q))
        return false;
    while (q < end && is_blank((unsigned char)*q))
        q++;
    if ((size_t)(end - q) < nl || memcmp(q, name, nl) != 0)
        return false;
    q += nl;
    while (q < end && is_blank((unsigned char)*q))
        q++;
    if (q == end || *q++ != '=')
        return false;
    while (q < end && is_blank((unsigned char)*q))
        q++;
    if (q == end || (*q != '"' && *q != '\''))
        return false;
    quote = *q++;
    *val = q;
    while (q < end && *q != quote)
        q++;
    if (q == end)
        return false;
    *val_len = (size_t)(q - *val);
    *p = q + 1;
    return true;
}

static bool decl_version_ok(const char *v, size_t n)
{
    if (n < 3 || memcmp(v, "1.", 2) != 0)
        return false;
    for (size_t k = 2; k < n; k++)
        if (v[k] < '0' || v[k] > '9')
            return false;
    return true;
}

static bool decl_encoding_ok(const char *v, size_t n)
{
    if (!n || !((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z')))
        return false;
    for (size_t k = 1; k < n; k++)
        if (!is_name_char((unsigned char)v[k]) || v[k] == ':')
            return false;
    return true;
}

/* "<?xml" VersionInfo EncodingDecl? SDDecl? S? "?>" (XML 1.0 [23]); the encoding is
 * ignored: the input is UTF-8 whatever it says, as with libxml2 under the guard. */
static void decl_check(xo_xmlrpc_lexer_t *lx)
{
    const char *p = lx->tok + 5, *end = lx->tok + lx->tok_len - 2, *v;
    size_t n;

    if (!decl_attr(&p, end, "version", &v, &n) || !decl_version_ok(v, n))
        goto bad;
    if (decl_attr(&p, end, "encoding", &v, &n) && !decl_encoding_ok(v, n))
        goto bad;
    if (decl_attr(&p, end, "standalone", &v, &n) && !(n == 3 && memcmp(v, "yes", 3) == 0) &&
        !(n == 2 && memcmp(v, "no", 2) == 0))
        goto bad;
    while (p < end && is_blank((unsigned char)*p))
        p++;
    if (p == end)
        return;
bad:
    fail(lx, XO_ERR_PARSE, lx->tok_pos, "malformed XML declaration");
}

static size_t scan_decl(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    for (; i < n; i++) {
        bool gt_ends = s[i] == '>' && lx->tok_len && lx->tok[lx->tok_len - 1] == '?';
        if (s[i] >= 0x80 || cls[s[i]] == C_BAD || s[i] == '<' || (s[i] == '>' && !gt_ends)) {
            fail(lx, XO_ERR_PARSE, lx->base + i, "malformed XML declaration");
            return n;
        }
        if (!tok_add(lx, s + i, 1, MAX_DECL))
            return n;
        if (lx->tok_len == 6 && (memcmp(lx->tok, "<?xml", 5) != 0 || !is_blank(s[i]))) {
            fail(lx, XO_ERR_PARSE, lx->tok_pos, "processing instructions not allowed");
            return n;
        }
        if (lx->tok_len > 6 && s[i] == '>' && lx->tok[lx->tok_len - 2] == '?') {
            decl_check(lx);
            lx->state = LX_TEXT;
            return i + 1;
        }
    }
    return n;
}

/* A UTF-8 byte order mark may open the document. */
static size_t scan_start(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

    for (; i < n && lx->bom < 3; i++) {
        if (s[i] != bom[lx->bom]) {
            if (lx->bom)
                fail(lx, XO_ERR_PARSE, lx->base + i, "text outside the document element");
            lx->state = LX_TEXT;
            return i;
        }
        lx->bom++;
    }
    if (lx->bom == 3) {
        lx->doc_pos = 3;
        lx->state = LX_TEXT;
    }
    return i;
}

/* ---------------------------------------------------------------------------------------- */
/* Public API                                                                               */

xo_xmlrpc_lexer_t *xo_xmlrpc_lexer_new(const xo_xmlrpc_lexer_cbs_t *cbs, void *opaque,
                                       size_t max_depth)
{
    xo_xmlrpc_lexer_t *lx;

    if (!cbs || !cbs->start || !cbs->end || !cbs->text)
        return NULL;
    lx = calloc(1, sizeof *lx);
    if (!lx)
        return NULL;
    pthread_once(&cls_once, cls_init);
    lx->cb = *cbs;
    lx->opaque = opaque;
    lx->max_depth = max_depth ? max_depth : XO_XMLRPC_LEXER_DEFAULT_DEPTH;
    lx->rsqb_end = UINT64_MAX;
    return lx;
}

void xo_xmlrpc_lexer_free(xo_xmlrpc_lexer_t *lx)
{
    if (!lx)
        return;
    free(lx->names);
    free(lx->open);
    free(lx);
}

static size_t step(xo_xmlrpc_lexer_t *lx, const unsigned char *s, size_t i, size_t n)
{
    switch (lx->state) {
    case LX_START:
        return scan_start(lx, s, i, n);
    case LX_TEXT:
        return scan_text(lx, s, i, n);
    case LX_MARKUP:
        return scan_markup(lx, s, i, n);
    case LX_COMMENT:
        return scan_comment(lx, s, i, n);
    case LX_CDATA:
        return scan_cdata(lx, s, i, n);
    case LX_DECL:
        return scan_decl(lx, s, i, n);
    case LX_REF:
        return scan_ref(lx, s, i, n);
    }
    return n;
}

xo_err_t xo_xmlrpc_lexer_feed(xo_xmlrpc_lexer_t *lx, const char *chunk, size_t n)
{
    const unsigned char *s = (const unsigned char *)chunk;
    size_t i = 0;

    if (lx->err == XO_OK && lx->ef_need && n)
        check_ef_pending(lx, s, n);
    while (i < n && lx->err == XO_OK)
        i = step(lx, s, i, n);
    lx->base += n;
    return lx->err;
}

xo_err_t xo_xmlrpc_lexer_finish(xo_xmlrpc_lexer_t *lx)
{
    if (lx->err != XO_OK)
        return lx->err;
    if (lx->state != LX_TEXT && lx->state != LX_START)
        fail(lx, XO_ERR_PARSE, lx->base, "document ends inside markup or a reference");
    else if (!lx->root_seen)
        fail(lx, XO_ERR_PARSE, lx->base, "no document element");
    else if (lx->depth)
        fail(lx, XO_ERR_PARSE, lx->base, "document ends inside <%.*s>",
             (int)(lx->names_len - lx->open[lx->depth - 1]), lx->names + lx->open[lx->depth - 1]);
    return lx->err;
}

const char *xo_xmlrpc_lexer_error(const xo_xmlrpc_lexer_t *lx)
{
    return lx->errmsg;
}
