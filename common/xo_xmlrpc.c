/*
 * xo_xmlrpc.c - XML-RPC encoder and incremental decoder to/from json-c values, the decoder
 * over a push parser's element and text events (xo_xmlrpc_lexer's, or libxml2's SAX2 behind
 * xo_xml_guard, the same checks over both). The decoder keeps one text item and the value under
 * construction, never the document; in raw mode one member of each streamed element is written as
 * JSON text instead (json-c's bytes, via xo_json_text), the tree path validating and failing
 * exactly the same way. Must not: build a DOM, load DTDs or entities, touch the network or files,
 * print or log (errors go to the caller's errstr), or know anything about HTTP.
 */
#include "xo_xmlrpc.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_json_text.h"
#include "xo_xml_guard.h"
#include "xo_xmlrpc_lexer.h"

/* Largest slice handed to libxml2 at once: keeps its input buffer small. */
#define FEED_SLICE ((size_t)64 << 10)

/* ---------------------------------------------------------------------------------------- */
/* Growable buffer (xo_json_text's, also the raw mode's JSON output)                        */

typedef xo_jtext_t buf_t;

static xo_err_t buf_add(buf_t *b, const char *s, size_t n)
{
    return xo_jtext_add(b, s, n);
}

static xo_err_t buf_str(buf_t *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

/* ---------------------------------------------------------------------------------------- */
/* Locale-independent numbers                                                               */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    xmlInitParser();
}

static locale_t get_c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

/* Shortest "%.*g" form that parses back to the same double. */
static void format_double(double d, char *out, size_t size)
{
    locale_t old = uselocale(get_c_locale());

    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod_l(out, NULL, get_c_locale()) == d)
            break;
    }
    uselocale(old);
}

/* ---------------------------------------------------------------------------------------- */
/* UTF-8 and XML text                                                                       */

/* Decode one UTF-8 sequence at s (n bytes left); returns its length or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, c = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, c = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, c = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

static bool xml_char_ok(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Append s escaped as XML text; CR becomes &#13; so that it survives line-end handling. */
static xo_err_t add_escaped(buf_t *b, const char *s, size_t n, char *errstr, size_t errstr_size)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0, len;
    uint32_t cp = 0;
    const char *rep;

    while (i < n) {
        len = utf8_next(u + i, n - i, &cp);
        if (len == 0)
            return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                             "string is not valid UTF-8 at byte %zu", i);
        if (!xml_char_ok(cp))
            return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                             "string holds U+%04" PRIX32 " (not allowed in XML) at byte %zu", cp,
                             i);
        rep = cp == '&'    ? "&amp;"
              : cp == '<'  ? "&lt;"
              : cp == '>'  ? "&gt;"
              : cp == '\r' ? "&#13;"
                           : NULL;
        if (rep) {
            if (buf_add(b, s + run, i - run) || buf_str(b, rep))
                return XO_ERR_NOMEM;
            run = i + 1;
        }
        i += len;
    }
    return buf_add(b, s + run, n - run);
}

/* ---------------------------------------------------------------------------------------- */
/* Encoder                                                                                  */

static xo_err_t encode_value(buf_t *b, json_object *v, int depth, char *errstr, size_t errstr_size);

static xo_err_t encode_int(buf_t *b, json_object *v)
{
    char num[32];
    int64_t i = json_object_get_int64(v);

    if (i >= INT32_MIN && i <= INT32_MAX) {
        snprintf(num, sizeof num, "%" PRId64, i);
        return buf_str(b, "<int>") || buf_str(b, num) || buf_str(b, "</int>") ? XO_ERR_NOMEM
                                                                              : XO_OK;
    }
    /* XAPI's 64-bit ints travel as decimal strings (wire-protocol.md of xen-api). */
    if (i == INT64_MAX)
        snprintf(num, sizeof num, "%" PRIu64, json_object_get_uint64(v));
    else
        snprintf(num, sizeof num, "%" PRId64, i);
    return buf_str(b, "<string>") || buf_str(b, num) || buf_str(b, "</string>") ? XO_ERR_NOMEM
                                                                                : XO_OK;
}

static xo_err_t encode_double(buf_t *b, json_object *v, char *errstr, size_t errstr_size)
{
    char num[40];
    double d = json_object_get_double(v);

    if (!isfinite(d))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "double is not finite");
    format_double(d, num, sizeof num);
    return buf_str(b, "<double>") || buf_str(b, num) || buf_str(b, "</double>") ? XO_ERR_NOMEM
                                                                                : XO_OK;
}

static xo_err_t encode_struct(buf_t *b, json_object *v, int depth, char *errstr, size_t errstr_size)
{
    xo_err_t err;

    if (buf_str(b, "<struct>"))
        return XO_ERR_NOMEM;
    json_object_object_foreach(v, key, child)
    {
        if (buf_str(b, "<member><name>"))
            return XO_ERR_NOMEM;
        err = add_escaped(b, key, strlen(key), errstr, errstr_size);
        if (err != XO_OK)
            return err;
        if (buf_str(b, "</name>"))
            return XO_ERR_NOMEM;
        err = encode_value(b, child, depth + 1, errstr, errstr_size);
        if (err != XO_OK)
            return err;
        if (buf_str(b, "</member>"))
            return XO_ERR_NOMEM;
    }
    return buf_str(b, "</struct>");
}

static xo_err_t encode_array(buf_t *b, json_object *v, int depth, char *errstr, size_t errstr_size)
{
    size_t n = json_object_array_length(v);
    xo_err_t err;

    if (buf_str(b, "<array><data>"))
        return XO_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        err = encode_value(b, json_object_array_get_idx(v, i), depth + 1, errstr, errstr_size);
        if (err != XO_OK)
            return err;
    }
    return buf_str(b, "</data></array>");
}

static xo_err_t encode_inner(buf_t *b, json_object *v, int depth, char *errstr, size_t errstr_size)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return buf_str(b, "<nil/>");
    case json_type_boolean:
        return buf_str(b, json_object_get_boolean(v) ? "<boolean>1</boolean>"
                                                     : "<boolean>0</boolean>");
    case json_type_int:
        return encode_int(b, v);
    case json_type_double:
        return encode_double(b, v, errstr, errstr_size);
    case json_type_string: {
        xo_err_t err = buf_str(b, "<string>");
        if (err == XO_OK)
            err = add_escaped(b, json_object_get_string(v), json_object_get_string_len(v), errstr,
                              errstr_size);
        return err != XO_OK ? err : buf_str(b, "</string>");
    }
    case json_type_object:
        return encode_struct(b, v, depth, errstr, errstr_size);
    case json_type_array:
        return encode_array(b, v, depth, errstr, errstr_size);
    }
    return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "unknown json type");
}

static xo_err_t encode_value(buf_t *b, json_object *v, int depth, char *errstr, size_t errstr_size)
{
    xo_err_t err;

    if (depth > XO_XMLRPC_DEFAULT_MAX_DEPTH)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "values nest deeper than %d",
                         XO_XMLRPC_DEFAULT_MAX_DEPTH);
    if (buf_str(b, "<value>"))
        return XO_ERR_NOMEM;
    err = encode_inner(b, v, depth, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    return buf_str(b, "</value>");
}

static xo_err_t encode_finish(buf_t *b, xo_err_t err, char **out, size_t *out_len, char *errstr,
                              size_t errstr_size)
{
    if (err == XO_ERR_NOMEM)
        xo_seterr(errstr, errstr_size, err, "out of memory encoding XML-RPC");
    if (err != XO_OK) {
        free(b->p);
        return err;
    }
    *out = b->p;
    if (out_len)
        *out_len = b->len;
    return XO_OK;
}

xo_err_t xo_xmlrpc_encode_call(const char *method, json_object *params, char **out, size_t *out_len,
                               char *errstr, size_t errstr_size)
{
    buf_t b = {0};
    xo_err_t err = XO_OK;
    size_t n;

    if (!method || !out || (params && !json_object_is_type(params, json_type_array)))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                         "encode_call needs a method name and a json array of params");
    *out = NULL;
    n = params ? json_object_array_length(params) : 0;
    if (buf_str(&b, "<?xml version=\"1.0\"?>\n<methodCall><methodName>")) {
        err = XO_ERR_NOMEM;
        goto done;
    }
    err = add_escaped(&b, method, strlen(method), errstr, errstr_size);
    if (err == XO_OK)
        err = buf_str(&b, "</methodName><params>");
    for (size_t i = 0; i < n && err == XO_OK; i++) {
        err = buf_str(&b, "<param>");
        if (err == XO_OK)
            err = encode_value(&b, json_object_array_get_idx(params, i), 0, errstr, errstr_size);
        if (err == XO_OK)
            err = buf_str(&b, "</param>");
    }
    if (err == XO_OK)
        err = buf_str(&b, "</params></methodCall>\n");
done:
    return encode_finish(&b, err, out, out_len, errstr, errstr_size);
}

xo_err_t xo_xmlrpc_encode_response(json_object *value, char **out, size_t *out_len, char *errstr,
                                   size_t errstr_size)
{
    buf_t b = {0};
    xo_err_t err;

    if (!out)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "out is NULL");
    *out = NULL;
    err = buf_str(&b, "<?xml version=\"1.0\"?>\n<methodResponse><params><param>");
    if (err == XO_OK)
        err = encode_value(&b, value, 0, errstr, errstr_size);
    if (err == XO_OK)
        err = buf_str(&b, "</param></params></methodResponse>\n");
    return encode_finish(&b, err, out, out_len, errstr, errstr_size);
}

/* ---------------------------------------------------------------------------------------- */
/* Decoder state                                                                            */

typedef enum {
    EL_ROOT = 0,
    EL_METHODRESPONSE,
    EL_METHODCALL,
    EL_METHODNAME,
    EL_PARAMS,
    EL_PARAM,
    EL_FAULT,
    EL_VALUE,
    EL_STRUCT,
    EL_MEMBER,
    EL_NAME,
    EL_ARRAY,
    EL_DATA,
    /* scalars: leaves holding text */
    EL_STRING,
    EL_INT,
    EL_DOUBLE,
    EL_BOOLEAN,
    EL_DATETIME,
    EL_BASE64,
    EL_NIL
} el_t;

static const struct {
    const char *tag;
    el_t el;
} tags[] = {
    /* The names of the elements, for messages (lookup_tag_n() reads names). */
    {"value", EL_VALUE},
    {"member", EL_MEMBER},
    {"name", EL_NAME},
    {"struct", EL_STRUCT},
    {"string", EL_STRING},
    {"array", EL_ARRAY},
    {"data", EL_DATA},
    {"boolean", EL_BOOLEAN},
    {"double", EL_DOUBLE},
    {"int", EL_INT},
    {"i4", EL_INT},
    {"i8", EL_INT},
    {"dateTime.iso8601", EL_DATETIME},
    {"methodResponse", EL_METHODRESPONSE},
    {"methodCall", EL_METHODCALL},
    {"methodName", EL_METHODNAME},
    {"params", EL_PARAMS},
    {"param", EL_PARAM},
    {"fault", EL_FAULT},
    {"base64", EL_BASE64},
    {"nil", EL_NIL},
};

#define TAG_CACHE 64 /* a power of 2, well above the number of XML-RPC element names */

/* Where a frame sits for raw mode: the streamed element's value and struct, the member
 * named raw_member in it, that member's value, and the struct written as text. */
enum { ROLE_NONE, ROLE_ELEM, ROLE_ELEM_STRUCT, ROLE_RAW_MEMBER, ROLE_RAW_SLOT, ROLE_RAW_ROOT };

typedef struct {
    el_t el;
    unsigned nchild;    /* child elements seen so far */
    json_object *obj;   /* value: its result; struct/array: the container; member/param: value */
    char *name;         /* member: its name */
    int match;          /* streaming: path components matched; -1 = off the path */
    bool stream;        /* array: elements go to the callback */
    bool capture;       /* raw member: named as the capture */
    unsigned char role; /* ROLE_* */
    uint64_t serial;    /* raw struct: its number, which its names are kept under */
} frame_t;

/* A member name of a struct written as text, kept to find a name given twice. */
typedef struct {
    uint64_t serial; /* the struct's; older than first_serial means free */
    uint32_t hash, len;
    size_t off; /* in names */
} name_slot_t;

/* Raw mode's state: the text written, the capture, the names seen. */
typedef struct {
    const char *member, *capture_name; /* set_stream_raw()'s, borrowed */
    size_t member_len, capture_len;    /* their lengths, not taken per member name */
    xo_xmlrpc_raw_elem_cb cb;
    bool on;          /* writing a raw struct */
    bool taken;       /* a raw struct just ended: its member gives no tree value */
    bool ready;       /* the current element has its raw member in `out` */
    bool dup;         /* a name came twice: rewrite through json-c at the end */
    bool captured;    /* `cap` holds the capture */
    size_t base;      /* stack index of the raw root struct */
    xo_jtext_t out;   /* the JSON text */
    xo_jtext_t cap;   /* the capture's bytes */
    xo_jtext_t names; /* member names of the raw struct and its descendants */
    name_slot_t *slots;
    size_t nslots, used;           /* table size (a power of 2), live slots */
    uint64_t serial, first_serial; /* last struct number; the raw root's */
} raw_t;

struct xo_xmlrpc_decoder {
    xo_xml_guard_t g; /* first: the guard's SAX callbacks find it at the user data; its
                       * error and UTF-8 state serve the fast parser as well */
    xo_xmlrpc_limits_t lim;
    xo_xmlrpc_lexer_t *lx; /* the fast parser, or NULL for libxml2 (g.ctxt) */
    frame_t *stack;
    size_t depth, cap;   /* open elements */
    size_t containers;   /* open struct/array elements */
    buf_t text;          /* text of the current leaf */
    uint64_t total;      /* bytes fed */
    bool started, done;  /* fed once; root element closed */
    bool is_call;        /* <methodCall> */
    char *method;        /* methodCall's methodName */
    json_object *result; /* response value or call params array */
    bool have_result;    /* result was set (a nil result is NULL) */
    json_object *fault;  /* fault struct */
    const char *const *path;
    size_t path_len;
    xo_xmlrpc_elem_cb cb;
    void *opaque;
    raw_t raw; /* raw mode (set_stream_raw) */
    /* element names seen, by address: libxml2 hands every name out of its parser's
     * dictionary, so one name is one pointer and the table scan runs once per name */
    const xmlChar *tag_seen[TAG_CACHE];
    el_t tag_el[TAG_CACHE];
};

static void fail(xo_xmlrpc_decoder_t *dec, xo_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(xo_xmlrpc_decoder_t *dec, xo_err_t err, const char *fmt, ...)
{
    char msg[XO_XML_GUARD_ERRMSG];
    va_list ap;

    if (dec->g.err != XO_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xo_xml_guard_fail(&dec->g, err, "%s", msg);
}

static const char *el_name(el_t el)
{
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (tags[i].el == el)
            return tags[i].tag;
    return "document";
}

static bool is_scalar(el_t el)
{
    return el >= EL_STRING;
}

static bool all_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Scalars                                                                                  */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode base64 in place (output never longer than input); whitespace is skipped. */
static bool b64_decode(char *s, size_t n, size_t *out_len)
{
    uint32_t acc = 0;
    size_t o = 0, nbits = 0, pad = 0;
    int v;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (all_space((const char *)&c, 1))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        v = b64_val(c);
        if (v < 0 || pad)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            s[o++] = (char)((acc >> nbits) & 0xFF);
        }
    }
    if (pad > 2 || nbits >= 6 || (acc & ((1u << nbits) - 1)) != 0)
        return false;
    *out_len = o;
    return true;
}

/* Trim ASCII whitespace around a number; returns the trimmed start and length. */
static const char *trim(const char *s, size_t *n)
{
    while (*n && all_space(s, 1))
        s++, (*n)--;
    while (*n && all_space(s + *n - 1, 1))
        (*n)--;
    return s;
}

static bool parse_int(xo_xmlrpc_decoder_t *dec, char *s, size_t n, int64_t *out)
{
    const char *t = trim(s, &n);
    char *end = NULL;
    long long v;

    if (n == 0 || n > 20 || (t[0] != '-' && t[0] != '+' && (t[0] < '0' || t[0] > '9')))
        goto bad;
    ((char *)t)[n] = '\0';
    errno = 0;
    v = strtoll(t, &end, 10);
    if (errno == ERANGE) {
        fail(dec, XO_ERR_PARSE, "integer out of range: %.40s", t);
        return false;
    }
    if (end != t + n)
        goto bad;
    *out = v;
    return true;
bad:
    fail(dec, XO_ERR_PARSE, "not an integer: \"%.40s\"", t);
    return false;
}

static bool parse_double(xo_xmlrpc_decoder_t *dec, char *s, size_t n, double *out)
{
    const char *t = trim(s, &n);
    char *end = NULL;
    double d;

    if (n == 0 || n > 400)
        goto bad;
    ((char *)t)[n] = '\0';
    d = strtod_l(t, &end, get_c_locale());
    if (end != t + n || !isfinite(d) || strpbrk(t, "xXnNiI"))
        goto bad;
    *out = d;
    return true;
bad:
    fail(dec, XO_ERR_PARSE, "not a double: \"%.40s\"", t);
    return false;
}

static bool parse_bool(xo_xmlrpc_decoder_t *dec, const char *s, size_t n, bool *out)
{
    const char *t = trim(s, &n);

    if (n == 1 && (t[0] == '0' || t[0] == '1')) {
        *out = t[0] == '1';
        return true;
    }
    fail(dec, XO_ERR_PARSE, "boolean must be 0 or 1, not \"%.*s\"", (int)(n > 40 ? 40 : n), t);
    return false;
}

/* The bytes of a string-valued leaf (string, dateTime.iso8601, base64 decoded in place). */
static bool string_bytes(xo_xmlrpc_decoder_t *dec, el_t el, const char **out, size_t *len)
{
    char *s = dec->text.p ? dec->text.p : "";

    *out = s;
    *len = dec->text.len;
    if (el == EL_BASE64 && !b64_decode(s, dec->text.len, len)) {
        fail(dec, XO_ERR_PARSE, "invalid base64");
        return false;
    }
    return true;
}

static json_object *make_scalar(xo_xmlrpc_decoder_t *dec, el_t el)
{
    char *s = dec->text.p ? dec->text.p : "";
    size_t n = dec->text.len;
    const char *str;
    int64_t i;
    double d;
    bool b;
    json_object *v;

    switch (el) {
    case EL_INT:
        return parse_int(dec, s, n, &i) ? json_object_new_int64(i) : NULL;
    case EL_DOUBLE:
        return parse_double(dec, s, n, &d) ? json_object_new_double(d) : NULL;
    case EL_BOOLEAN:
        return parse_bool(dec, s, n, &b) ? json_object_new_boolean(b) : NULL;
    case EL_NIL:
        return NULL;
    default: /* string, dateTime.iso8601, base64 */
        break;
    }
    if (!string_bytes(dec, el, &str, &n))
        return NULL;
    v = json_object_new_string_len(str, (int)n);
    if (!v)
        fail(dec, XO_ERR_NOMEM, "out of memory");
    return v;
}

/* ---------------------------------------------------------------------------------------- */
/* Structure                                                                                */

static frame_t *top(xo_xmlrpc_decoder_t *dec)
{
    return dec->depth ? &dec->stack[dec->depth - 1] : NULL;
}

static bool child_allowed(const frame_t *parent, el_t el)
{
    el_t p = parent ? parent->el : EL_ROOT;
    unsigned n = parent ? parent->nchild : 0;

    switch (p) {
    case EL_ROOT:
        return el == EL_METHODRESPONSE || el == EL_METHODCALL;
    case EL_METHODRESPONSE:
        return n == 0 && (el == EL_PARAMS || el == EL_FAULT);
    case EL_METHODCALL:
        return (n == 0 && el == EL_METHODNAME) || (n == 1 && el == EL_PARAMS);
    case EL_PARAMS:
        return el == EL_PARAM;
    case EL_PARAM:
    case EL_FAULT:
        return n == 0 && el == EL_VALUE;
    case EL_VALUE:
        return n == 0 && (el == EL_STRUCT || el == EL_ARRAY || is_scalar(el));
    case EL_STRUCT:
        return el == EL_MEMBER;
    case EL_MEMBER:
        return (n == 0 && el == EL_NAME) || (n == 1 && el == EL_VALUE);
    case EL_ARRAY:
        return n == 0 && el == EL_DATA;
    case EL_DATA:
        return el == EL_VALUE;
    default:
        return false;
    }
}

/* Streaming bookkeeping for a new frame f under parent p. */
static void set_match(xo_xmlrpc_decoder_t *dec, frame_t *f, const frame_t *p)
{
    f->match = -1;
    if (!dec->path || !p)
        return;
    if (f->el == EL_VALUE && p->el == EL_PARAM && !dec->is_call)
        f->match = 0;
    else if (f->el == EL_VALUE && p->el == EL_MEMBER)
        f->match = p->match;
    else if (f->el == EL_STRUCT && p->match >= 0 && (size_t)p->match < dec->path_len)
        f->match = p->match;
    else if (f->el == EL_ARRAY && p->match >= 0 && (size_t)p->match == dec->path_len)
        f->stream = true;
}

/* ---------------------------------------------------------------------------------------- */
/* Raw mode: one member of each streamed element written as JSON text, not built            */

static inline void raw_put(xo_xmlrpc_decoder_t *dec, const char *s, size_t n)
{
    if (xo_jtext_add(&dec->raw.out, s, n) != XO_OK)
        fail(dec, XO_ERR_NOMEM, "out of memory");
}

/* The last n < 8 bytes of a name as one word, without a call to memcpy: two overlapping
 * 4-byte reads from 4 bytes on, else byte by byte. */
static uint64_t tail_word(const char *s, size_t n)
{
    uint32_t lo, hi;
    uint64_t w = 0;

    if (n >= 4) {
        memcpy(&lo, s, 4), memcpy(&hi, s + n - 4, 4);
        return lo | (uint64_t)hi << 32;
    }
    for (size_t k = 0; k < n; k++)
        w |= (uint64_t)(unsigned char)s[k] << (8 * k);
    return w;
}

static uint32_t name_hash(const char *s, size_t n, uint64_t serial)
{
    uint64_t h = serial * 0x9E3779B97F4A7C15u ^ n, w;

    /* eight bytes at a time: names are short, and hashing them byte by byte showed up */
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001B3u;
        h ^= h >> 29;
    }
    h = (h ^ tail_word(s, n)) * 0x100000001B3u;
    return (uint32_t)(h ^ (h >> 32));
}

/* The free or matching slot of (serial, hash, name) in the open-addressing table. */
static name_slot_t *name_slot(raw_t *r, uint64_t serial, uint32_t h, const char *s, size_t n)
{
    size_t mask = r->nslots - 1, i = h & mask;
    name_slot_t *e;

    for (;; i = (i + 1) & mask) {
        e = &r->slots[i];
        if (e->serial < r->first_serial)
            return e;
        if (e->serial == serial && e->hash == h && e->len == n &&
            xo_short_equal(r->names.p + e->off, s, n))
            return e;
    }
}

static bool names_grow(raw_t *r)
{
    size_t old_n = r->nslots, n = old_n ? old_n * 2 : 256;
    name_slot_t *old = r->slots, *e;

    r->slots = calloc(n, sizeof *r->slots);
    if (!r->slots) {
        r->slots = old;
        return false;
    }
    r->nslots = n;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].serial >= r->first_serial) {
            e = name_slot(r, old[i].serial, old[i].hash, r->names.p + old[i].off, old[i].len);
            *e = old[i];
        }
    free(old);
    return true;
}

/* Note the name of a member of struct number @p serial; a name seen twice sets r->dup. */
static void names_note(xo_xmlrpc_decoder_t *dec, uint64_t serial, const char *s, size_t n)
{
    raw_t *r = &dec->raw;
    uint32_t h = name_hash(s, n, serial);
    name_slot_t *e;

    if (r->dup)
        return; /* json-c rewrites the whole struct anyway */
    if ((r->used + 1) * 2 > r->nslots && !names_grow(r)) {
        fail(dec, XO_ERR_NOMEM, "out of memory");
        return;
    }
    e = name_slot(r, serial, h, s, n);
    if (e->serial == serial) {
        r->dup = true;
        return;
    }
    e->serial = serial;
    e->hash = h;
    e->len = (uint32_t)n;
    e->off = r->names.len;
    r->used++;
    if (xo_jtext_add(&r->names, s, n) != XO_OK)
        fail(dec, XO_ERR_NOMEM, "out of memory");
}

static void raw_begin(xo_xmlrpc_decoder_t *dec)
{
    raw_t *r = &dec->raw;

    r->on = true;
    r->dup = false;
    r->captured = false;
    r->base = dec->depth - 1;
    r->out.len = 0;
    r->names.len = 0;
    r->used = 0;
    r->first_serial = r->serial + 1;
}

/* A struct that named a member twice: json-c keeps the first position and the last value;
 * parsing the text back with json-c's tokener does the same, and writes it as the tree
 * would. Numbers keep their text through the tokener, so nothing else changes. */
static void raw_rewrite_through_json_c(xo_xmlrpc_decoder_t *dec)
{
    json_tokener *tok = json_tokener_new_ex((int)dec->lim.max_depth + 2);
    json_object *o = tok ? json_tokener_parse_ex(tok, dec->raw.out.p, (int)dec->raw.out.len) : NULL;
    const char *s;
    size_t n = 0;

    if (!o) {
        fail(dec, tok ? XO_ERR_PARSE : XO_ERR_NOMEM, "raw struct does not parse back");
        goto out;
    }
    s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    dec->raw.out.len = 0;
    if (!s)
        fail(dec, XO_ERR_NOMEM, "out of memory");
    else
        raw_put(dec, s, n);
out:
    json_object_put(o);
    json_tokener_free(tok);
}

static void raw_end(xo_xmlrpc_decoder_t *dec)
{
    if (dec->raw.dup && dec->raw.out.len > INT_MAX - 1)
        fail(dec, XO_ERR_LIMIT, "raw struct with a repeated name larger than 2 GiB");
    else if (dec->raw.dup)
        raw_rewrite_through_json_c(dec);
    dec->raw.on = false;
    dec->raw.taken = true;
}

/* A string-valued leaf of the capture member: keep its bytes (the last one wins). */
static void raw_capture(xo_xmlrpc_decoder_t *dec, const frame_t *member, const char *s, size_t n)
{
    if (!member || !member->capture)
        return;
    dec->raw.cap.len = 0;
    if (xo_jtext_add(&dec->raw.cap, s, n) != XO_OK)
        fail(dec, XO_ERR_NOMEM, "out of memory");
    dec->raw.captured = true;
}

/* A leaf of type @p el, from the text collected, as json-c would write its tree value. */
static void raw_scalar(xo_xmlrpc_decoder_t *dec, el_t el, const frame_t *member)
{
    char *s = dec->text.p ? dec->text.p : "";
    size_t n = dec->text.len;
    const char *str;
    int64_t i;
    double d;
    bool b;

    switch (el) {
    case EL_INT:
        if (parse_int(dec, s, n, &i) && xo_jtext_int(&dec->raw.out, i) != XO_OK)
            fail(dec, XO_ERR_NOMEM, "out of memory");
        return;
    case EL_DOUBLE:
        if (parse_double(dec, s, n, &d) && xo_jtext_double(&dec->raw.out, d) != XO_OK)
            fail(dec, XO_ERR_NOMEM, "out of memory");
        return;
    case EL_BOOLEAN:
        if (parse_bool(dec, s, n, &b))
            raw_put(dec, b ? "true" : "false", b ? 4 : 5);
        return;
    case EL_NIL:
        raw_put(dec, "null", 4);
        return;
    default: /* string, dateTime.iso8601, base64 */
        break;
    }
    if (!string_bytes(dec, el, &str, &n))
        return;
    if (xo_jtext_str(&dec->raw.out, str, n) != XO_OK)
        fail(dec, XO_ERR_NOMEM, "out of memory");
    raw_capture(dec, member, str, n);
}

/* A member's name: checked as the tree's, noted for repeats, written with its colon. */
static void raw_name(xo_xmlrpc_decoder_t *dec)
{
    frame_t *m = top(dec), *s = &dec->stack[dec->depth - 2];
    const char *name = dec->text.p ? dec->text.p : "";
    size_t n = dec->text.len;

    if (n && memchr(name, '\0', n)) {
        fail(dec, XO_ERR_PARSE, "member name holds a NUL");
        return;
    }
    names_note(dec, s->serial, name, n);
    if (xo_jtext_str(&dec->raw.out, name, n) != XO_OK)
        fail(dec, XO_ERR_NOMEM, "out of memory");
    raw_put(dec, ":", 1);
    if (dec->depth - 2 == dec->raw.base && dec->raw.capture_name && dec->raw.capture_len == n &&
        memcmp(dec->raw.capture_name, name, n) == 0) {
        m->capture = true;
        dec->raw.captured = false; /* a later non-string value leaves no capture */
    }
}

/* The member frame a leaf's value belongs to, or NULL (an array's element). */
static const frame_t *leaf_member(const xo_xmlrpc_decoder_t *dec, size_t value_index)
{
    return value_index >= 1 && dec->stack[value_index - 1].el == EL_MEMBER
               ? &dec->stack[value_index - 1]
               : NULL;
}

/* end_frame() in raw mode: every frame inside the raw root, and the root itself. */
static void raw_end_frame(xo_xmlrpc_decoder_t *dec, frame_t *f)
{
    switch (f->el) {
    case EL_VALUE: /* a bare <value>text</value> is a string */
        if (f->nchild == 0)
            raw_scalar(dec, EL_STRING, leaf_member(dec, dec->depth));
        break;
    case EL_STRUCT:
    case EL_ARRAY:
        dec->containers--;
        if (f->el == EL_ARRAY && f->nchild != 1)
            fail(dec, XO_ERR_PARSE, "<array> without <data>");
        raw_put(dec, f->el == EL_STRUCT ? "}" : "]", 1);
        if (dec->depth == dec->raw.base)
            raw_end(dec);
        break;
    case EL_MEMBER:
        if (f->nchild != 2)
            fail(dec, XO_ERR_PARSE, "<member> without <name> and <value>");
        break;
    case EL_NAME:
        raw_name(dec);
        break;
    case EL_DATA:
        break;
    default: /* scalars: their <value> is on top */
        raw_scalar(dec, f->el, leaf_member(dec, dec->depth - 1));
        break;
    }
}

/* on_start() in raw mode: the separator before a member or an element, the brackets. */
static void raw_start(xo_xmlrpc_decoder_t *dec, const frame_t *p, frame_t *f)
{
    if ((p->el == EL_STRUCT || p->el == EL_DATA) && p->nchild > 1)
        raw_put(dec, ",", 1);
    if (f->el == EL_STRUCT) {
        f->serial = ++dec->raw.serial;
        raw_put(dec, "{", 1);
    } else if (f->el == EL_ARRAY) {
        raw_put(dec, "[", 1);
    }
}

/* Raw mode's roles of a new frame f under p (see ROLE_*). */
static void set_role(xo_xmlrpc_decoder_t *dec, frame_t *f, const frame_t *p)
{
    f->role = ROLE_NONE;
    if (!dec->raw.member || dec->raw.on || !p)
        return;
    if (f->el == EL_VALUE && p->el == EL_DATA && dec->depth >= 3 &&
        dec->stack[dec->depth - 3].stream) {
        f->role = ROLE_ELEM;
        dec->raw.ready = false;
    } else if (f->el == EL_STRUCT && p->role == ROLE_ELEM) {
        f->role = ROLE_ELEM_STRUCT;
    } else if (f->el == EL_VALUE && p->role == ROLE_RAW_MEMBER) {
        f->role = ROLE_RAW_SLOT;
    } else if (f->el == EL_STRUCT && p->role == ROLE_RAW_SLOT) {
        f->role = ROLE_RAW_ROOT;
    }
}

/* A member of the element's struct named raw_member becomes the raw member. */
static void mark_raw_member(xo_xmlrpc_decoder_t *dec, frame_t *m, const frame_t *s)
{
    const char *want = dec->raw.member;

    if (want && s && s->role == ROLE_ELEM_STRUCT && dec->raw.member_len == dec->text.len &&
        memcmp(want, dec->text.p, dec->text.len) == 0)
        m->role = ROLE_RAW_MEMBER;
}

static xo_err_t push(xo_xmlrpc_decoder_t *dec, el_t el)
{
    frame_t *p = top(dec), *f;
    size_t max_elems = 3 * dec->lim.max_depth + 8;

    if (dec->depth >= max_elems) {
        fail(dec, XO_ERR_LIMIT, "XML nesting deeper than %zu elements", max_elems);
        return dec->g.err;
    }
    if (dec->depth == dec->cap) {
        size_t cap = dec->cap ? dec->cap * 2 : 16;
        frame_t *ns = realloc(dec->stack, cap * sizeof *ns);
        if (!ns) {
            fail(dec, XO_ERR_NOMEM, "out of memory");
            return dec->g.err;
        }
        dec->stack = ns;
        dec->cap = cap;
        p = top(dec);
    }
    f = &dec->stack[dec->depth++];
    memset(f, 0, sizeof *f);
    f->el = el;
    if (dec->raw.on) { /* inside a struct written as text: off the path, no role */
        f->match = -1;
        return XO_OK;
    }
    set_match(dec, f, p);
    set_role(dec, f, p);
    return XO_OK;
}

/* The element of a name that is not NUL-terminated (the fast parser's), chosen by length
 * and first byte, then compared whole: one compare per element, which the compiler inlines
 * (the constant-size memcmp), where scanning the table cost several calls to memcmp. */
#define NAME_IS(lit) (memcmp(name, lit, sizeof lit - 1) == 0)

static el_t lookup_tag_n(const char *name, size_t len)
{
    switch (len) {
    case 2:
        return NAME_IS("i4") || NAME_IS("i8") ? EL_INT : EL_ROOT;
    case 3:
        return NAME_IS("int") ? EL_INT : NAME_IS("nil") ? EL_NIL : EL_ROOT;
    case 4:
        return NAME_IS("name") ? EL_NAME : NAME_IS("data") ? EL_DATA : EL_ROOT;
    case 5:
        return NAME_IS("value")   ? EL_VALUE
               : NAME_IS("array") ? EL_ARRAY
               : NAME_IS("param") ? EL_PARAM
               : NAME_IS("fault") ? EL_FAULT
                                  : EL_ROOT;
    case 6:
        return NAME_IS("member")   ? EL_MEMBER
               : NAME_IS("struct") ? EL_STRUCT
               : NAME_IS("string") ? EL_STRING
               : NAME_IS("double") ? EL_DOUBLE
               : NAME_IS("params") ? EL_PARAMS
               : NAME_IS("base64") ? EL_BASE64
                                   : EL_ROOT;
    case 7:
        return NAME_IS("boolean") ? EL_BOOLEAN : EL_ROOT;
    case 10:
        return NAME_IS("methodCall")   ? EL_METHODCALL
               : NAME_IS("methodName") ? EL_METHODNAME
                                       : EL_ROOT;
    case 14:
        return NAME_IS("methodResponse") ? EL_METHODRESPONSE : EL_ROOT;
    case 16:
        return NAME_IS("dateTime.iso8601") ? EL_DATETIME : EL_ROOT;
    default:
        return EL_ROOT;
    }
}

#undef NAME_IS

static el_t lookup_tag(const xmlChar *name)
{
    return lookup_tag_n((const char *)name, strlen((const char *)name));
}

/* Names are looked up by address in a small open-addressing table that never evicts: the
 * dictionary packs short names into the same few bytes, so a direct-mapped cache keyed on
 * address bits thrashed between "name" and "value". Every name but the last is a known one
 * (an unknown name fails the decode), so the table never fills up. */
static el_t lookup_tag_cached(xo_xmlrpc_decoder_t *dec, const xmlChar *name)
{
    size_t slot = (size_t)(((uintptr_t)name * 0x9E3779B97F4A7C15u) >> 58) & (TAG_CACHE - 1);

    for (size_t n = 0; n < TAG_CACHE; n++, slot = (slot + 1) & (TAG_CACHE - 1)) {
        if (dec->tag_seen[slot] == name)
            return dec->tag_el[slot];
        if (!dec->tag_seen[slot]) {
            dec->tag_seen[slot] = name;
            dec->tag_el[slot] = lookup_tag(name);
            return dec->tag_el[slot];
        }
    }
    return lookup_tag(name);
}

static void open_container(xo_xmlrpc_decoder_t *dec, frame_t *f)
{
    if (++dec->containers > dec->lim.max_depth) {
        fail(dec, XO_ERR_LIMIT, "values nest deeper than %zu", dec->lim.max_depth);
        return;
    }
    if (dec->raw.on)
        return; /* written as text, not built */
    f->obj = f->el == EL_STRUCT ? json_object_new_object() : json_object_new_array();
    if (!f->obj)
        fail(dec, XO_ERR_NOMEM, "out of memory");
}

/* An element opens: el is EL_ROOT for a name XML-RPC does not have (name, len say which). */
static void element_start(xo_xmlrpc_decoder_t *dec, el_t el, const char *name, size_t len)
{
    frame_t *p = top(dec), *f;

    if (dec->g.err != XO_OK)
        return;
    if (el == EL_ROOT) {
        fail(dec, XO_ERR_PARSE, "unknown element <%.*s>", (int)(len < 64 ? len : 64), name);
        return;
    }
    if (!child_allowed(p, el)) {
        fail(dec, XO_ERR_PARSE, "<%s> not allowed here (inside <%s>)", el_name(el),
             el_name(p ? p->el : EL_ROOT));
        return;
    }
    if (p && p->el == EL_VALUE && !all_space(dec->text.p, dec->text.len)) {
        fail(dec, XO_ERR_PARSE, "text mixed with <%s> in <value>", el_name(el));
        return;
    }
    if (el == EL_METHODCALL)
        dec->is_call = true;
    if (p)
        p->nchild++;
    dec->text.len = 0;
    if (push(dec, el) != XO_OK)
        return;
    f = &dec->stack[dec->depth - 1]; /* the stack does not move until the next push */
    if (f->role == ROLE_RAW_ROOT)
        raw_begin(dec);
    if (el == EL_STRUCT || el == EL_ARRAY)
        open_container(dec, f);
    if (dec->raw.on)
        raw_start(dec, f - 1, f);
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_ns, const xmlChar **ns, int nb_attr, int nb_defaulted,
                     const xmlChar **attrs)
{
    xo_xmlrpc_decoder_t *dec = ctx;
    el_t el = uri ? EL_ROOT : lookup_tag_cached(dec, localname);

    (void)prefix, (void)nb_ns, (void)ns, (void)nb_attr, (void)nb_defaulted, (void)attrs;
    element_start(dec, el, (const char *)localname, strlen((const char *)localname));
}

/* Character data of the current element, in pieces of any size. */
static void element_text(xo_xmlrpc_decoder_t *dec, const char *ch, size_t len)
{
    frame_t *f = top(dec);
    el_t el = f ? f->el : EL_ROOT;
    bool keep =
        is_scalar(el) || el == EL_NAME || el == EL_METHODNAME || (el == EL_VALUE && f->nchild == 0);

    if (dec->g.err != XO_OK || len == 0)
        return;
    if (!keep || el == EL_NIL) {
        if (!all_space(ch, len))
            fail(dec, XO_ERR_PARSE, "text where structure is expected (inside <%s>)", el_name(el));
        return;
    }
    if (dec->text.len + len > dec->lim.max_string) {
        fail(dec, XO_ERR_LIMIT, "text item longer than %zu bytes", dec->lim.max_string);
        return;
    }
    if (buf_add(&dec->text, ch, len) != XO_OK)
        fail(dec, XO_ERR_NOMEM, "out of memory");
}

static void on_text(void *ctx, const xmlChar *ch, int len)
{
    if (len > 0)
        element_text(ctx, (const char *)ch, (size_t)len);
}

/* A streamed element to the raw-mode callback, with its raw member when it had one. */
static xo_err_t raw_deliver(xo_xmlrpc_decoder_t *dec, json_object *v)
{
    raw_t *r = &dec->raw;
    xo_xmlrpc_raw_t text = {r->out.p, r->out.len, r->captured ? r->cap.p : NULL};
    bool ready = r->ready;
    xo_err_t err;

    r->ready = false;
    err = r->cb(v, ready ? &text : NULL, dec->opaque);
    if (r->out.cap > ((size_t)1 << 20)) /* do not hold on to a huge record's buffer */
        xo_jtext_fini(&r->out);
    return err;
}

/* A complete value goes to its parent: member, param, fault, or array data. */
static void deliver(xo_xmlrpc_decoder_t *dec, json_object *v)
{
    frame_t *p = top(dec);
    frame_t *arr = dec->depth >= 2 ? &dec->stack[dec->depth - 2] : NULL;
    xo_err_t err;

    assert(p);
    if (p->el != EL_DATA) {
        p->obj = v;
        return;
    }
    if (!arr->stream) {
        if (json_object_array_add(arr->obj, v) != 0) {
            json_object_put(v);
            fail(dec, XO_ERR_NOMEM, "out of memory");
        }
        return;
    }
    err = dec->raw.cb ? raw_deliver(dec, v) : dec->cb(v, dec->opaque);
    if (err != XO_OK)
        fail(dec, err, "element callback failed: %s", xo_strerror(err));
}

static void end_member(xo_xmlrpc_decoder_t *dec, frame_t *f)
{
    frame_t *s = top(dec);

    if (f->nchild != 2) {
        fail(dec, XO_ERR_PARSE, "<member> without <name> and <value>");
        return;
    }
    if (f->role == ROLE_RAW_MEMBER && dec->raw.taken) {
        /* the struct went to raw.out; an earlier value of the same name is overridden */
        dec->raw.taken = false;
        dec->raw.ready = true;
        json_object_object_del(s->obj, f->name);
        return;
    }
    if (f->role == ROLE_RAW_MEMBER)
        dec->raw.ready = false; /* a later value of the member that is not a struct wins */
    if (json_object_object_add(s->obj, f->name, f->obj) != 0) {
        fail(dec, XO_ERR_NOMEM, "out of memory");
        return;
    }
    f->obj = NULL;
}

static void end_name(xo_xmlrpc_decoder_t *dec)
{
    frame_t *m = top(dec);
    frame_t *s = dec->depth >= 2 ? &dec->stack[dec->depth - 2] : NULL;
    const char *p;

    if (m->el == EL_METHODCALL) {
        dec->method = strndup(dec->text.p ? dec->text.p : "", dec->text.len);
        if (!dec->method)
            fail(dec, XO_ERR_NOMEM, "out of memory");
        return;
    }
    if (dec->text.len && memchr(dec->text.p, '\0', dec->text.len)) {
        fail(dec, XO_ERR_PARSE, "member name holds a NUL");
        return;
    }
    m->name = strndup(dec->text.p ? dec->text.p : "", dec->text.len);
    if (!m->name) {
        fail(dec, XO_ERR_NOMEM, "out of memory");
        return;
    }
    m->match = -1;
    if (s && s->match >= 0) {
        p = dec->path[s->match];
        if (strlen(p) == dec->text.len && memcmp(p, m->name, dec->text.len) == 0)
            m->match = s->match + 1;
    }
    mark_raw_member(dec, m, s);
}

static void end_param(xo_xmlrpc_decoder_t *dec, frame_t *f)
{
    if (f->el == EL_FAULT) {
        dec->fault = f->obj;
    } else if (dec->is_call) {
        if (!dec->result)
            dec->result = json_object_new_array();
        if (!dec->result || json_object_array_add(dec->result, f->obj) != 0) {
            fail(dec, XO_ERR_NOMEM, "out of memory");
            return;
        }
    } else if (dec->have_result) {
        fail(dec, XO_ERR_PARSE, "response holds more than one <param>");
        return;
    } else {
        dec->result = f->obj;
    }
    dec->have_result = true;
    f->obj = NULL;
}

static void free_frame(frame_t *f)
{
    /* most frames hold neither (raw mode builds no values): no calls for them */
    if (f->obj)
        json_object_put(f->obj);
    if (f->name)
        free(f->name);
    f->obj = NULL;
    f->name = NULL;
}

static void end_frame(xo_xmlrpc_decoder_t *dec, frame_t *f)
{
    if (dec->raw.on) {
        raw_end_frame(dec, f);
        return;
    }
    switch (f->el) {
    case EL_VALUE:
        if (f->nchild == 0)
            f->obj = make_scalar(dec, EL_STRING);
        deliver(dec, f->obj);
        f->obj = NULL;
        break;
    case EL_STRUCT:
    case EL_ARRAY:
        dec->containers--;
        if (f->el == EL_ARRAY && f->nchild != 1)
            fail(dec, XO_ERR_PARSE, "<array> without <data>");
        top(dec)->obj = f->obj;
        f->obj = NULL;
        break;
    case EL_MEMBER:
        end_member(dec, f);
        break;
    case EL_NAME:
    case EL_METHODNAME:
        end_name(dec);
        break;
    case EL_PARAM:
    case EL_FAULT:
        if (f->nchild != 1)
            fail(dec, XO_ERR_PARSE, "<%s> without <value>", el_name(f->el));
        else
            end_param(dec, f);
        break;
    case EL_METHODRESPONSE:
    case EL_METHODCALL:
        dec->done = true;
        if (f->el == EL_METHODRESPONSE && f->nchild != 1)
            fail(dec, XO_ERR_PARSE, "<methodResponse> without <params> or <fault>");
        break;
    case EL_PARAMS:
        if (!dec->is_call && f->nchild != 1)
            fail(dec, XO_ERR_PARSE, "response <params> must hold exactly one <param>");
        break;
    case EL_DATA:
        break;
    default: /* scalars */
        top(dec)->obj = make_scalar(dec, f->el);
        break;
    }
}

/* The current element closes (its name was checked by the parser). */
static void element_end(xo_xmlrpc_decoder_t *dec)
{
    frame_t *f;

    if (dec->g.err != XO_OK || dec->depth == 0)
        return;
    f = &dec->stack[--dec->depth]; /* stays in place: nothing is pushed until it is freed */
    end_frame(dec, f);
    free_frame(f);
    dec->text.len = 0;
    if (dec->text.cap > ((size_t)1 << 20)) { /* do not hold on to a huge string's buffer */
        free(dec->text.p);
        memset(&dec->text, 0, sizeof dec->text);
    }
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)localname, (void)prefix, (void)uri;
    element_end(ctx);
}

/* The fast parser's events (xo_xmlrpc_lexer): the same three steps. */
static xo_err_t lex_start(void *opaque, const char *name, size_t len)
{
    xo_xmlrpc_decoder_t *dec = opaque;

    element_start(dec, lookup_tag_n(name, len), name, len);
    return dec->g.err;
}

static xo_err_t lex_end(void *opaque, const char *name, size_t len)
{
    xo_xmlrpc_decoder_t *dec = opaque;

    (void)name, (void)len;
    element_end(dec);
    return dec->g.err;
}

static xo_err_t lex_text(void *opaque, const char *s, size_t len)
{
    xo_xmlrpc_decoder_t *dec = opaque;

    element_text(dec, s, len);
    return dec->g.err;
}

/* The guards (no DTD, no entity, no processing instruction), then elements and text. */
static void init_sax(xmlSAXHandler *sax)
{
    xo_xml_guard_sax(sax);
    sax->startElementNs = on_start;
    sax->endElementNs = on_end;
    sax->characters = on_text;
    sax->cdataBlock = on_text;
    sax->ignorableWhitespace = on_text;
}

/* ---------------------------------------------------------------------------------------- */
/* Public decoder API                                                                       */

static _Atomic int default_parser = XO_XMLRPC_PARSER_FAST;

void xo_xmlrpc_set_default_parser(xo_xmlrpc_parser_t parser)
{
    default_parser = parser == XO_XMLRPC_PARSER_DEFAULT ? XO_XMLRPC_PARSER_FAST : (int)parser;
}

xo_err_t xo_xmlrpc_parser_from_name(const char *name, xo_xmlrpc_parser_t *out)
{
    if (name && strcmp(name, "fast") == 0)
        *out = XO_XMLRPC_PARSER_FAST;
    else if (name && strcmp(name, "libxml2") == 0)
        *out = XO_XMLRPC_PARSER_LIBXML2;
    else
        return XO_ERR_INVALID;
    return XO_OK;
}

/* The parser under the decoder: the lexer, or libxml2 behind the guard. */
static xo_err_t parser_init(xo_xmlrpc_decoder_t *dec)
{
    static const xo_xmlrpc_lexer_cbs_t cbs = {lex_start, lex_end, lex_text};
    xmlSAXHandler sax;

    if (dec->lim.parser == XO_XMLRPC_PARSER_DEFAULT)
        dec->lim.parser = (xo_xmlrpc_parser_t)default_parser;
    if (dec->lim.parser == XO_XMLRPC_PARSER_FAST) {
        /* one element deeper than push() allows, so that push() words the limit */
        dec->lx = xo_xmlrpc_lexer_new(&cbs, dec, 3 * dec->lim.max_depth + 9);
        return dec->lx ? XO_OK : XO_ERR_NOMEM;
    }
    init_sax(&sax);
    return xo_xml_guard_init(&dec->g, &sax, dec);
}

xo_xmlrpc_decoder_t *xo_xmlrpc_decoder_new(const xo_xmlrpc_limits_t *limits)
{
    xo_xmlrpc_decoder_t *dec = calloc(1, sizeof *dec);

    if (!dec)
        return NULL;
    get_c_locale();
    if (limits)
        dec->lim = *limits;
    if (!dec->lim.max_depth)
        dec->lim.max_depth = XO_XMLRPC_DEFAULT_MAX_DEPTH;
    if (!dec->lim.max_string)
        dec->lim.max_string = XO_XMLRPC_DEFAULT_MAX_STRING;
    if (dec->lim.max_string > INT_MAX - 1) /* json-c string lengths are int */
        dec->lim.max_string = INT_MAX - 1;
    if (!dec->lim.max_total)
        dec->lim.max_total = XO_XMLRPC_DEFAULT_MAX_TOTAL;
    if (parser_init(dec) != XO_OK) {
        free(dec);
        return NULL;
    }
    return dec;
}

void xo_xmlrpc_decoder_free(xo_xmlrpc_decoder_t *dec)
{
    if (!dec)
        return;
    while (dec->depth)
        free_frame(&dec->stack[--dec->depth]);
    free(dec->stack);
    free(dec->text.p);
    free(dec->method);
    json_object_put(dec->result);
    json_object_put(dec->fault);
    xo_jtext_fini(&dec->raw.out);
    xo_jtext_fini(&dec->raw.cap);
    xo_jtext_fini(&dec->raw.names);
    free(dec->raw.slots);
    xo_xmlrpc_lexer_free(dec->lx);
    xo_xml_guard_fini(&dec->g);
    free(dec);
}

/* The member path of either streaming mode. */
static void set_path(xo_xmlrpc_decoder_t *dec, const char *const *member_path, void *opaque)
{
    dec->path = member_path;
    dec->path_len = 0;
    while (member_path[dec->path_len])
        dec->path_len++;
    dec->opaque = opaque;
}

xo_err_t xo_xmlrpc_decoder_set_stream(xo_xmlrpc_decoder_t *dec, const char *const *member_path,
                                      xo_xmlrpc_elem_cb cb, void *opaque)
{
    if (!dec || !member_path || !member_path[0] || !cb || dec->started)
        return XO_ERR_INVALID;
    set_path(dec, member_path, opaque);
    dec->cb = cb;
    return XO_OK;
}

xo_err_t xo_xmlrpc_decoder_set_stream_raw(xo_xmlrpc_decoder_t *dec, const char *const *member_path,
                                          const char *raw_member, const char *capture,
                                          xo_xmlrpc_raw_elem_cb cb, void *opaque)
{
    if (!dec || !member_path || !member_path[0] || !cb || !raw_member || dec->started)
        return XO_ERR_INVALID;
    set_path(dec, member_path, opaque);
    dec->raw.cb = cb;
    dec->raw.member = raw_member;
    dec->raw.capture_name = capture;
    dec->raw.member_len = strlen(raw_member);
    dec->raw.capture_len = capture ? strlen(capture) : 0;
    return XO_OK;
}

static xo_err_t report(const xo_xmlrpc_decoder_t *dec, char *errstr, size_t errstr_size)
{
    return xo_seterr(errstr, errstr_size, dec->g.err, "%s", dec->g.errmsg);
}

/* Input must be UTF-8 without NUL bytes: checked here, before libxml2, so that no charset
 * converter (whose errors libxml2 prints to stderr) is ever involved. */
static void check_utf8(xo_xmlrpc_decoder_t *dec, const unsigned char *s, size_t n)
{
    size_t bad_at;
    bool nul;

    if (xo_xml_guard_utf8(&dec->g, s, n, &bad_at, &nul))
        return;
    if (nul)
        fail(dec, XO_ERR_PARSE, "NUL byte at offset %" PRIu64, dec->total + bad_at);
    else
        fail(dec, XO_ERR_PARSE, "invalid UTF-8 at offset %" PRIu64, dec->total + bad_at);
}

/* The lexer's error, unless a callback stopped it (the decoder has the message then). */
static void lexer_result(xo_xmlrpc_decoder_t *dec, xo_err_t err)
{
    if (err != XO_OK && dec->g.err == XO_OK)
        fail(dec, err, "%s", xo_xmlrpc_lexer_error(dec->lx));
}

static void parse_chunk(xo_xmlrpc_decoder_t *dec, const char *chunk, size_t len, int terminate)
{
    int rc;

    if (dec->lx) {
        lexer_result(dec, terminate ? xo_xmlrpc_lexer_finish(dec->lx)
                                    : xo_xmlrpc_lexer_feed(dec->lx, chunk, len));
        return;
    }
    rc = xmlParseChunk(dec->g.ctxt, chunk, (int)len, terminate);
    if (rc != 0 && dec->g.err == XO_OK)
        fail(dec, XO_ERR_PARSE, "XML error (libxml2 code %d)", rc);
}

xo_err_t xo_xmlrpc_decoder_feed(xo_xmlrpc_decoder_t *dec, const char *chunk, size_t len,
                                char *errstr, size_t errstr_size)
{
    size_t n;

    if (!dec || (!chunk && len))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "decoder_feed: bad arguments");
    dec->started = true;
    if (dec->g.err == XO_OK && len > dec->lim.max_total - dec->total)
        fail(dec, XO_ERR_LIMIT, "document larger than %" PRIu64 " bytes", dec->lim.max_total);
    if (dec->g.err == XO_OK)
        check_utf8(dec, (const unsigned char *)chunk, len);
    if (dec->g.err == XO_OK)
        dec->total += len;
    while (dec->g.err == XO_OK && len) {
        n = len < FEED_SLICE || dec->lx ? len : FEED_SLICE; /* the lexer takes any size */
        parse_chunk(dec, chunk, n, 0);
        chunk += n;
        len -= n;
    }
    return dec->g.err == XO_OK ? XO_OK : report(dec, errstr, errstr_size);
}

xo_err_t xo_xmlrpc_decoder_finish(xo_xmlrpc_decoder_t *dec, json_object **out, char *errstr,
                                  size_t errstr_size)
{
    if (!dec || !out)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "decoder_finish: bad arguments");
    *out = NULL;
    dec->started = true;
    if (dec->g.err == XO_OK && xo_xml_guard_utf8_pending(&dec->g))
        fail(dec, XO_ERR_PARSE, "document ends inside a UTF-8 sequence");
    if (dec->g.err == XO_OK)
        parse_chunk(dec, NULL, 0, 1);
    if (dec->g.err == XO_OK && !dec->done)
        fail(dec, XO_ERR_PARSE, "truncated document");
    if (dec->g.err != XO_OK)
        return report(dec, errstr, errstr_size);
    if (dec->fault) {
        json_object *code = json_object_object_get(dec->fault, "faultCode");
        json_object *str = json_object_object_get(dec->fault, "faultString");
        *out = dec->fault;
        dec->fault = NULL;
        return xo_seterr(errstr, errstr_size, XO_ERR_XAPI, "XML-RPC fault %s: %s",
                         code ? json_object_get_string(code) : "?",
                         str ? json_object_get_string(str) : "?");
    }
    if (!dec->have_result && dec->is_call)
        dec->result = json_object_new_array();
    *out = dec->result;
    dec->result = NULL;
    return XO_OK;
}

const char *xo_xmlrpc_decoder_method(const xo_xmlrpc_decoder_t *dec)
{
    return dec ? dec->method : NULL;
}

xo_err_t xo_xmlrpc_decode(const char *doc, size_t len, json_object **out, char *errstr,
                          size_t errstr_size)
{
    xo_xmlrpc_decoder_t *dec;
    xo_err_t err;

    if (!out || (!doc && len))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "decode: bad arguments");
    *out = NULL;
    dec = xo_xmlrpc_decoder_new(NULL);
    if (!dec)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    err = xo_xmlrpc_decoder_feed(dec, doc, len, errstr, errstr_size);
    if (err == XO_OK)
        err = xo_xmlrpc_decoder_finish(dec, out, errstr, errstr_size);
    xo_xmlrpc_decoder_free(dec);
    return err;
}

/* ---------------------------------------------------------------------------------------- */
/* XAPI envelope                                                                            */

void xo_xapi_error_clear(xo_xapi_error_t *xerr)
{
    if (!xerr)
        return;
    json_object_put(xerr->params);
    xerr->params = NULL;
    xerr->code[0] = '\0';
}

static xo_err_t unwrap_failure(json_object *desc, xo_xapi_error_t *xerr)
{
    size_t n;
    json_object *code;

    if (!json_object_is_type(desc, json_type_array) || json_object_array_length(desc) == 0)
        return XO_ERR_PARSE;
    code = json_object_array_get_idx(desc, 0);
    if (!json_object_is_type(code, json_type_string))
        return XO_ERR_PARSE;
    if (!xerr)
        return XO_ERR_XAPI;
    snprintf(xerr->code, sizeof xerr->code, "%s", json_object_get_string(code));
    xerr->params = json_object_new_array();
    if (!xerr->params)
        return XO_ERR_NOMEM;
    n = json_object_array_length(desc);
    for (size_t i = 1; i < n; i++) {
        json_object *p = json_object_array_get_idx(desc, i);
        json_object *s = json_object_is_type(p, json_type_string)
                             ? json_object_get(p)
                             : json_object_new_string(json_object_to_json_string(p));
        if (!s || json_object_array_add(xerr->params, s) != 0) {
            json_object_put(s);
            return XO_ERR_NOMEM;
        }
    }
    return XO_ERR_XAPI;
}

xo_err_t xo_xapi_unwrap(json_object *response, json_object **value, xo_xapi_error_t *xerr)
{
    json_object *status, *v;
    const char *st;

    if (value)
        *value = NULL;
    if (xerr)
        xo_xapi_error_clear(xerr);
    if (!json_object_is_type(response, json_type_object) ||
        !json_object_object_get_ex(response, "Status", &status) ||
        !json_object_is_type(status, json_type_string))
        return XO_ERR_PARSE;
    st = json_object_get_string(status);
    if (strcmp(st, "Success") == 0) {
        if (!json_object_object_get_ex(response, "Value", &v))
            v = NULL;
        if (value)
            *value = v ? json_object_get(v) : NULL;
        return XO_OK;
    }
    if (strcmp(st, "Failure") == 0 && json_object_object_get_ex(response, "ErrorDescription", &v)) {
        xo_err_t err = unwrap_failure(v, xerr);
        if (err != XO_ERR_XAPI)
            xo_xapi_error_clear(xerr);
        return err;
    }
    return XO_ERR_PARSE;
}
