/*
 * filter.c - JSON-pattern and complex-matcher filters (see filter.h). The complex-matcher
 * grammar and its matching are those of Xen Orchestra's `complex-matcher` package (the
 * REST API's `filter=`): parsed once into a tree of nodes, matched against parsed objects.
 * What it cannot do as complex-matcher does (`[resolve]`, regular-expression features
 * POSIX does not have) is refused at parse time with a message naming it: never a silent
 * empty list. Must stay pure and bounded: input size, node count and nesting are limited;
 * matching recursion is bounded by the tree's and the object's depth.
 */
#include "view/filter.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TERMS  64   /* top-level terms */
#define MAX_NODES  256  /* nodes of one filter */
#define MAX_NEST   32   /* nested terms */
#define MAX_LEN    4096 /* bytes of a filter */
#define MAX_SEARCH 8    /* how deep a value search goes into objects and arrays */

typedef enum {
    N_AND,        /* (a b): every child */
    N_OR,         /* |(a b): some child */
    N_NOT,        /* !a */
    N_PROPERTY,   /* name:child, on the value's member */
    N_TRUTHY,     /* name?: the member is truthy (JavaScript's !!) */
    N_STRING,     /* "text" or a raw word: case-insensitive substring of a string */
    N_NUMBER,     /* a raw word that is a number: that number, or the word as a string */
    N_GLOB,       /* a raw word with '*': a case-insensitive, unanchored wildcard match */
    N_REGEX,      /* /pattern/ or /pattern/i */
    N_COMPARISON, /* >n, >=n, <n, <=n */
} kind_t;

typedef struct node {
    kind_t kind;
    char *text; /* PROPERTY, TRUTHY: the name; STRING, NUMBER, GLOB: the value */
    double num; /* NUMBER, COMPARISON */
    char op[3]; /* COMPARISON */
    regex_t re; /* REGEX */
    bool re_ok;
    struct node **kids; /* AND, OR: the children; NOT, PROPERTY: kids[0] */
    int nkids;
} node_t;

struct gw_filter {
    json_object *pattern; /* JSON pattern, or NULL */
    node_t *root;         /* complex-matcher, or NULL (no term: everything matches) */
    node_t *nodes[MAX_NODES];
    int nnodes;
    gw_type_t type_hint;
    char *id_hint;
    bool trivial;
};

/* ---- JSON patterns ---- */

static void compute_hints(gw_filter_t *f)
{
    json_object *v;

    f->trivial = true;
    if (!f->pattern) {
        /* complex-matcher values match substrings ("type:VM" is also "VM-template"): no
         * term gives a sound type or id; only the empty filter is trivial */
        f->trivial = f->root == NULL;
        return;
    }
    json_object_object_foreach(f->pattern, k, val)
    {
        if (!strcmp(k, "type") && json_object_is_type(val, json_type_string))
            f->type_hint = gw_type_from_name(json_object_get_string(val));
        else if (!strcmp(k, "id") && json_object_is_type(val, json_type_string))
            f->id_hint = strdup(json_object_get_string(val));
        else
            f->trivial = false;
    }
    /* An unknown type name matches nothing: not trivial, let matching say no. */
    if (json_object_object_get_ex(f->pattern, "type", &v) && f->type_hint == GW_T_NONE)
        f->trivial = false;
}

gw_filter_t *gw_filter_from_json(json_object *pattern)
{
    gw_filter_t *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    if (pattern && json_object_is_type(pattern, json_type_object))
        f->pattern = json_object_get(pattern);
    compute_hints(f);
    return f;
}

/* ---- the complex-matcher parser ---- */

typedef struct {
    const char *s;
    size_t pos, len;
    gw_filter_t *f;
    xo_err_t err;
    char *errstr;
    size_t errstr_size;
} parser_t;

/* Record the first error (the innermost one explains best). Returns NULL for the caller. */
static node_t *fail(parser_t *p, xo_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static node_t *fail(parser_t *p, xo_err_t err, const char *fmt, ...)
{
    va_list ap;

    if (p->err != XO_OK)
        return NULL;
    p->err = err;
    va_start(ap, fmt);
    if (p->errstr && p->errstr_size)
        vsnprintf(p->errstr, p->errstr_size, fmt, ap);
    va_end(ap);
    return NULL;
}

static node_t *new_node(parser_t *p, kind_t kind)
{
    node_t *n;

    if (p->f->nnodes == MAX_NODES)
        return fail(p, XO_ERR_LIMIT, "invalid filter: more than %d terms", MAX_NODES);
    n = calloc(1, sizeof(*n));
    if (!n)
        return fail(p, XO_ERR_NOMEM, "out of memory");
    n->kind = kind;
    p->f->nodes[p->f->nnodes++] = n; /* owned by the filter from now on */
    return n;
}

static bool add_kid(parser_t *p, node_t *parent, node_t *kid)
{
    node_t **k = realloc(parent->kids, (size_t)(parent->nkids + 1) * sizeof(*k));
    if (!k) {
        fail(p, XO_ERR_NOMEM, "out of memory");
        return false;
    }
    parent->kids = k;
    parent->kids[parent->nkids++] = kid;
    return true;
}

/* complex-matcher's raw string characters: digits, _ - . $, and letters (bytes of
 * non-ASCII characters are taken as letters). */
static bool raw_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.' || c == '$' || c >= 0x80;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static bool eat(parser_t *p, const char *text)
{
    size_t n = strlen(text);
    if (p->len - p->pos < n || strncmp(p->s + p->pos, text, n) != 0)
        return false;
    p->pos += n;
    return true;
}

/* A raw string (with '*' too when @p glob); NULL when there is none at pos. */
static char *raw_string(parser_t *p, bool glob)
{
    size_t start = p->pos;
    char *out;

    while (p->pos < p->len &&
           (raw_char((unsigned char)p->s[p->pos]) || (glob && p->s[p->pos] == '*')))
        p->pos++;
    if (p->pos == start)
        return NULL;
    out = strndup(p->s + start, p->pos - start);
    if (!out)
        fail(p, XO_ERR_NOMEM, "out of memory");
    return out;
}

/* "text" with backslash escapes; NULL when there is none at pos. An unterminated quote is
 * refused (complex-matcher reads it to the end of the filter). */
static char *quoted_string(parser_t *p)
{
    size_t start = p->pos, w = 0;
    char *out;

    if (p->pos >= p->len || p->s[p->pos] != '"')
        return NULL;
    out = malloc(p->len - p->pos + 1);
    if (!out) {
        fail(p, XO_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->pos++;
    while (p->pos < p->len && p->s[p->pos] != '"') {
        if (p->s[p->pos] == '\\' && p->pos + 1 < p->len)
            p->pos++;
        out[w++] = p->s[p->pos++];
    }
    if (p->pos >= p->len) {
        free(out);
        fail(p, XO_ERR_PARSE, "invalid filter: unbalanced quote at position %zu", start);
        return NULL;
    }
    p->pos++;
    out[w] = '\0';
    return out;
}

static node_t *term(parser_t *p, int depth);

/* "(" or "|(" already eaten: term+ then ")". */
static node_t *group(parser_t *p, kind_t kind, size_t start, int depth)
{
    node_t *n = new_node(p, kind), *kid;

    if (!n)
        return NULL;
    skip_ws(p);
    while (p->pos < p->len && p->s[p->pos] != ')') {
        kid = term(p, depth + 1);
        if (!kid || !add_kid(p, n, kid))
            return fail(p, XO_ERR_PARSE, "invalid filter: unexpected '%c' at position %zu",
                        p->pos < p->len ? p->s[p->pos] : ' ', p->pos);
    }
    if (!eat(p, ")"))
        return fail(p, XO_ERR_PARSE, "invalid filter: unbalanced parenthesis at position %zu",
                    start);
    if (n->nkids == 0)
        return fail(p, XO_ERR_PARSE, "invalid filter: empty group at position %zu", start);
    return n;
}

static node_t *comparison(parser_t *p)
{
    char op[3] = {p->s[p->pos], 0, 0}, *num, *end;
    node_t *n;
    double v;

    p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '=')
        op[1] = p->s[p->pos++];
    num = raw_string(p, false);
    if (!num)
        return fail(p, XO_ERR_PARSE, "invalid filter: a number must follow %s at position %zu", op,
                    p->pos);
    v = strtod(num, &end);
    if (*end || isnan(v)) {
        free(num);
        return fail(p, XO_ERR_PARSE, "invalid filter: %s needs a number", op);
    }
    free(num);
    n = new_node(p, N_COMPARISON);
    if (n) {
        n->num = v;
        memcpy(n->op, op, sizeof(op));
    }
    return n;
}

/* ---- regular expressions: JavaScript syntax into POSIX extended ones ---- */

typedef struct {
    char *out;
    size_t w, cap;
} rx_t;

static void rx_put(rx_t *r, const char *s)
{
    size_t n = strlen(s);
    if (r->w + n < r->cap) {
        memcpy(r->out + r->w, s, n);
        r->w += n;
    }
}

/* A class "[...]" at s (after its '['), up to its ']'; returns the bytes read or 0 with
 * *why set. POSIX brackets know no escapes: ']' goes first and '-' last. */
static size_t rx_class(rx_t *r, const char *s, const char **why)
{
    size_t i = 0;
    bool neg = false, rbracket = false, dash = false, caret = false;
    char body[1024];
    size_t bw = 0;

    if (s[i] == '^')
        neg = true, i++;
    if (s[i] == ']') {
        *why = "an empty class [] or [^]";
        return 0;
    }
    for (; s[i] && s[i] != ']'; i++) {
        const char *add = NULL;
        char one[2] = {s[i], 0};
        if (s[i] == '\\') {
            char e = s[++i];
            add = e == 'd'   ? "0-9"
                  : e == 'w' ? "A-Za-z0-9_"
                  : e == 's' ? "[:space:]"
                  : e == 't' ? "\t"
                  : e == 'n' ? "\n"
                  : e == 'r' ? "\r"
                             : NULL;
            if (!add && e == ']')
                rbracket = true, add = "";
            else if (!add && e == '-')
                dash = true, add = "";
            else if (!add && e == '^')
                caret = true, add = "";
            else if (!add && e && strchr("\\/.*+?()[{}|$", e)) {
                one[0] = e;
                add = one;
            }
            if (!add) {
                *why = "this escape inside [...] (\\D, \\W, \\S, \\b, \\x, \\u, ...)";
                return 0;
            }
        } else if (s[i] == '[' && strchr(":.=", s[i + 1])) {
            *why = "[: [. or [= inside [...]";
            return 0;
        } else {
            add = one;
        }
        if (bw + strlen(add) + 1 >= sizeof(body)) {
            *why = "a class that long";
            return 0;
        }
        memcpy(body + bw, add, strlen(add));
        bw += strlen(add);
    }
    if (s[i] != ']') {
        *why = "an unterminated [";
        return 0;
    }
    body[bw] = '\0';
    rx_put(r, neg ? "[^" : "[");
    if (rbracket)
        rx_put(r, "]");
    rx_put(r, body);
    if (caret)
        rx_put(r, "^");
    if (dash)
        rx_put(r, "-");
    rx_put(r, "]");
    return i + 1;
}

/* One escape outside classes; returns its POSIX text or NULL (unsupported). */
static const char *rx_escape(char e, char buf[3])
{
    switch (e) {
    case 'd':
        return "[0-9]";
    case 'D':
        return "[^0-9]";
    case 'w':
        return "[A-Za-z0-9_]";
    case 'W':
        return "[^A-Za-z0-9_]";
    case 's':
        return "[[:space:]]";
    case 'S':
        return "[^[:space:]]";
    case 't':
        return "\t";
    case 'n':
        return "\n";
    case 'r':
        return "\r";
    case '/':
    case '-':
        buf[0] = e, buf[1] = 0;
        return buf;
    default:
        if (e && strchr(".^$|?*+()[]{}\\", e)) {
            buf[0] = '\\', buf[1] = e, buf[2] = 0;
            return buf;
        }
        return NULL;
    }
}

/* Translate; NULL with *why naming what POSIX cannot do. Lazy quantifiers become greedy:
 * whether a match exists does not depend on them (a filter only asks that). */
static char *rx_translate(const char *js, const char **why)
{
    rx_t r = {malloc(strlen(js) * 12 + 16), 0, strlen(js) * 12 + 16};
    char buf[3];

    if (!r.out) {
        *why = "memory";
        return NULL;
    }
    for (size_t i = 0; js[i]; i++) {
        const char *t;
        if (js[i] == '\\') {
            t = rx_escape(js[++i], buf);
            if (!t) {
                *why = js[i] ? "this escape (\\b, \\B, back-references, \\x, \\u, \\c, \\p, ...)"
                             : "a trailing backslash";
                free(r.out);
                return NULL;
            }
            rx_put(&r, t);
        } else if (js[i] == '[') {
            size_t n = rx_class(&r, js + i + 1, why);
            if (!n) {
                free(r.out);
                return NULL;
            }
            i += n;
        } else if (js[i] == '(' && js[i + 1] == '?') {
            if (js[i + 2] != ':') {
                *why = "look-around and named groups ((?= (?! (?<= (?<!  (?<name>)";
                free(r.out);
                return NULL;
            }
            rx_put(&r, "(");
            i += 2;
        } else if (js[i] == '?' && i > 0 && strchr("*+?}", js[i - 1]) &&
                   !(i > 1 && js[i - 2] == '\\')) {
            continue; /* lazy */
        } else {
            buf[0] = js[i], buf[1] = 0;
            rx_put(&r, buf);
        }
    }
    r.out[r.w < r.cap ? r.w : r.cap - 1] = '\0';
    return r.out;
}

/*
 * glibc's regcomp expands counted and '+' repetitions by copying the repeated tree (a+ is
 * a a*, a{3} is a a a), so nested repetitions cost the product of their counts: a filter of
 * 40 bytes ("/r++++.../") asked for gigabytes. Before compiling, bound the size of that
 * expansion: an atom counts 1, a group the sum of its content, '+' doubles what it repeats,
 * {m,n} multiplies it by max(m, n), and stacked repetitions multiply again.
 */
#define RX_MAX_NODES      20000
#define RX_MAX_NODES_TEXT "20,000"
#define RX_MAX_GROUPS     64 /* nested groups (the filter itself allows far fewer terms) */

static uint64_t rx_cap(uint64_t v)
{
    return v > RX_MAX_NODES + 1 ? RX_MAX_NODES + 1 : v;
}

/* The copies a {m,n} repetition at @p s ('{') makes, and its length through '}'. */
static uint64_t rx_braces(const char *s, size_t *len)
{
    char *end;
    unsigned long m = strtoul(s + 1, &end, 10), n = m;

    if (*end == ',')
        n = end[1] == '}' ? m + 1 : strtoul(end + 1, &end, 10);
    end = strchr(end, '}');
    *len = end ? (size_t)(end - s) : strlen(s) - 1;
    return m > n ? m : (n ? n : 1);
}

/* Whether the POSIX ERE @p ere would expand past RX_MAX_NODES nodes in regcomp. */
static bool rx_too_complex(const char *ere)
{
    uint64_t sum[RX_MAX_GROUPS + 1] = {0}, last = 0, copies;
    int top = 0;
    size_t n;

    for (size_t i = 0; ere[i]; i++) {
        switch (ere[i]) {
        case '(':
            if (top == RX_MAX_GROUPS)
                return true;
            sum[++top] = 0, last = 0;
            continue;
        case ')':
            last = top > 0 ? sum[top--] : 0;
            sum[top] = rx_cap(sum[top] + last);
            continue;
        case '*':
        case '?':
        case '|':
            continue; /* no copy: a star or an option wraps what it repeats */
        case '+':
            copies = 2, n = 0;
            break;
        case '{':
            copies = rx_braces(ere + i, &n);
            break;
        case '[':
            for (n = i + 1 + (ere[i + 1] == '^'), n += ere[n] == ']'; ere[n] && ere[n] != ']';)
                n++;
            i = ere[n] ? n : n - 1;
            sum[top] = rx_cap(sum[top] + 1), last = 1;
            continue;
        case '\\':
            i += ere[i + 1] != '\0';
            /* fall through */
        default:
            sum[top] = rx_cap(sum[top] + 1), last = 1;
            continue;
        }
        sum[top] = rx_cap(sum[top] + last * (copies - 1));
        last = rx_cap(last * copies);
        i += n;
        if (sum[top] > RX_MAX_NODES)
            return true;
    }
    return sum[top] > RX_MAX_NODES;
}

static node_t *regex(parser_t *p)
{
    size_t start = p->pos++, n = 0;
    bool escaped = false, icase = false;
    char *js, *posix;
    const char *why = NULL;
    node_t *node;
    int rc;

    while (p->pos < p->len && (p->s[p->pos] != '/' || escaped)) {
        escaped = !escaped && p->s[p->pos] == '\\';
        p->pos++;
    }
    if (p->pos >= p->len)
        return fail(p, XO_ERR_PARSE,
                    "invalid filter: unterminated regular expression at position %zu", start);
    n = p->pos - start - 1;
    p->pos++;
    if (p->pos < p->len && p->s[p->pos] == 'i')
        icase = true, p->pos++;
    js = strndup(p->s + start + 1, n);
    posix = js ? rx_translate(js, &why) : NULL;
    free(js);
    if (!posix)
        return fail(p, XO_ERR_UNSUPPORTED,
                    "unsupported filter: regular expression at position %zu uses %s", start,
                    why ? why : "memory");
    if (rx_too_complex(posix)) {
        free(posix);
        return fail(p, XO_ERR_UNSUPPORTED,
                    "unsupported filter: regular expression at position %zu repeats too much "
                    "(its compiled form would pass " RX_MAX_NODES_TEXT " nodes)",
                    start);
    }
    node = new_node(p, N_REGEX);
    if (!node) {
        free(posix);
        return NULL;
    }
    rc = regcomp(&node->re, posix, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
    free(posix);
    if (rc != 0)
        return fail(p, XO_ERR_PARSE, "invalid filter: bad regular expression at position %zu",
                    start);
    node->re_ok = true;
    return node;
}

/* value: "quoted" | /regex/ | raw word (a number, a glob with '*', or a string) */
static node_t *value(parser_t *p)
{
    char *text, *end;
    node_t *n;
    double v;

    if (p->pos < p->len && p->s[p->pos] == '"') {
        text = quoted_string(p);
        if (!text)
            return NULL;
        n = new_node(p, N_STRING);
        if (!n)
            free(text);
        else
            n->text = text;
        return n;
    }
    if (p->pos < p->len && p->s[p->pos] == '/')
        return regex(p);
    text = raw_string(p, true);
    if (!text)
        return NULL;
    v = strtod(text, &end);
    n = new_node(p, !*end && !isnan(v) && !strchr(text, '*') ? N_NUMBER
                    : strchr(text, '*')                      ? N_GLOB
                                                             : N_STRING);
    if (!n) {
        free(text);
        return NULL;
    }
    n->text = text;
    n->num = v;
    return n;
}

/* name:term, or name? (name: quoted or raw); NULL (position restored) when neither. */
static node_t *property(parser_t *p, int depth)
{
    size_t start = p->pos, after_name;
    char *name = p->s[p->pos] == '"' ? quoted_string(p) : raw_string(p, false);
    node_t *n, *kid;

    if (!name) {
        if (p->err == XO_OK)
            p->pos = start;
        return NULL;
    }
    after_name = p->pos;
    skip_ws(p);
    if (eat(p, ":")) {
        skip_ws(p);
        kid = term(p, depth + 1);
        if (!kid) {
            fail(p, XO_ERR_PARSE, "invalid filter: a value must follow %.64s: at position %zu",
                 name, p->pos);
            free(name);
            return NULL;
        }
        n = new_node(p, N_PROPERTY);
        if (!n || !add_kid(p, n, kid)) {
            free(name);
            return NULL;
        }
        n->text = name;
        return n;
    }
    /* name? (no space before the '?', as complex-matcher reads it) */
    p->pos = after_name;
    if (eat(p, "?")) {
        n = new_node(p, N_TRUTHY);
        if (!n) {
            free(name);
            return NULL;
        }
        n->text = name;
        return n;
    }
    free(name);
    p->pos = start;
    return NULL;
}

static node_t *term(parser_t *p, int depth)
{
    size_t start = p->pos;
    node_t *n = NULL;

    if (depth > MAX_NEST)
        return fail(p, XO_ERR_LIMIT, "invalid filter: more than %d nested terms", MAX_NEST);
    if (p->pos >= p->len)
        return NULL;
    if (eat(p, "(")) {
        n = group(p, N_AND, start, depth);
    } else if (eat(p, "|")) {
        skip_ws(p);
        if (!eat(p, "("))
            return fail(p, XO_ERR_PARSE, "invalid filter: '(' must follow '|' at position %zu",
                        start);
        n = group(p, N_OR, start, depth);
    } else if (eat(p, "!")) {
        node_t *kid;
        skip_ws(p);
        kid = term(p, depth + 1);
        if (!kid)
            return fail(p, XO_ERR_PARSE, "invalid filter: a term must follow '!' at position %zu",
                        start);
        n = new_node(p, N_NOT);
        if (n && !add_kid(p, n, kid))
            return NULL;
    } else if (p->s[p->pos] == '<' || p->s[p->pos] == '>') {
        n = comparison(p);
    } else if (!strncmp(p->s + p->pos, "[resolve", 8)) {
        return fail(p, XO_ERR_UNSUPPORTED,
                    "unsupported filter: [resolve] at position %zu (it needs xo-server's object "
                    "resolver)",
                    start);
    } else {
        n = property(p, depth);
        if (!n && p->err == XO_OK)
            n = value(p);
    }
    if (n)
        skip_ws(p);
    return n;
}

xo_err_t gw_filter_parse(const char *s, gw_filter_t **out, char *errstr, size_t errstr_size)
{
    parser_t p = {s, 0, strlen(s), NULL, XO_OK, errstr, errstr_size};
    node_t *root = NULL, *n;
    int nterms = 0;

    *out = NULL;
    if (p.len > MAX_LEN)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "filter longer than %d bytes", MAX_LEN);
    p.f = calloc(1, sizeof(*p.f));
    if (!p.f)
        return XO_ERR_NOMEM;
    skip_ws(&p);
    while (p.pos < p.len && p.err == XO_OK) {
        n = term(&p, 0);
        if (!n) {
            fail(&p, XO_ERR_PARSE, "invalid filter: unexpected '%c' at position %zu", p.s[p.pos],
                 p.pos);
            break;
        }
        if (++nterms > MAX_TERMS) {
            fail(&p, XO_ERR_LIMIT, "more than %d terms", MAX_TERMS);
            break;
        }
        if (!root)
            root = new_node(&p, N_AND);
        if (root)
            add_kid(&p, root, n);
    }
    if (p.err != XO_OK) {
        gw_filter_free(p.f);
        return p.err;
    }
    p.f->root = root;
    compute_hints(p.f);
    *out = p.f;
    return XO_OK;
}

void gw_filter_free(gw_filter_t *f)
{
    if (!f)
        return;
    json_object_put(f->pattern);
    for (int i = 0; i < f->nnodes; i++) {
        node_t *n = f->nodes[i];
        if (n->re_ok)
            regfree(&n->re);
        free(n->text);
        free(n->kids);
        free(n);
    }
    free(f->id_hint);
    free(f);
}

gw_type_t gw_filter_type_hint(const gw_filter_t *f)
{
    return f ? f->type_hint : GW_T_NONE;
}

const char *gw_filter_id_hint(const gw_filter_t *f)
{
    return f ? f->id_hint : NULL;
}

bool gw_filter_trivial(const gw_filter_t *f)
{
    return !f || f->trivial;
}

/* lodash isMatch semantics (baseIsMatch): partial for objects and arrays. */
static bool match_value(json_object *obj, json_object *pat)
{
    json_type pt = json_object_get_type(pat), ot = json_object_get_type(obj);

    if (pt == json_type_object) {
        if (ot != json_type_object)
            return false;
        json_object_object_foreach(pat, k, pv)
        {
            json_object *ov;
            if (!json_object_object_get_ex(obj, k, &ov))
                return false;
            if (!match_value(ov, pv))
                return false;
        }
        return true;
    }
    if (pt == json_type_array) {
        size_t pn = json_object_array_length(pat), on;
        if (ot != json_type_array)
            return false;
        on = json_object_array_length(obj);
        for (size_t i = 0; i < pn; i++) {
            bool found = false;
            for (size_t j = 0; j < on && !found; j++)
                found = match_value(json_object_array_get_idx(obj, j),
                                    json_object_array_get_idx(pat, i));
            if (!found)
                return false;
        }
        return true;
    }
    if (pt == json_type_null)
        return ot == json_type_null || obj == NULL;
    if ((pt == json_type_int || pt == json_type_double) &&
        (ot == json_type_int || ot == json_type_double))
        return json_object_get_double(obj) == json_object_get_double(pat);
    if (pt != ot)
        return false;
    if (pt == json_type_boolean)
        return json_object_get_boolean(obj) == json_object_get_boolean(pat);
    if (pt == json_type_string)
        return !strcmp(json_object_get_string(obj), json_object_get_string(pat));
    return false;
}

/* ---- complex-matcher matching (the nodes' match methods of complex-matcher) ---- */

static bool match_node(const node_t *n, json_object *v, int depth);

/* complex-matcher's lodash `some` over an array's elements or an object's values. */
static bool some(const node_t *n, json_object *v, int depth)
{
    if (depth >= MAX_SEARCH)
        return false;
    if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (match_node(n, json_object_array_get_idx(v, i), depth + 1))
                return true;
    } else if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, m)
        {
            (void)k;
            if (match_node(n, m, depth + 1))
                return true;
        }
    }
    return false;
}

/* Glob: '*' for anything, case-insensitive, unanchored (complex-matcher's RegExp without
 * ^ and $): the pieces between stars appear in order. */
static bool glob_match(const char *pattern, const char *s)
{
    char piece[MAX_LEN + 1];

    while (*pattern) {
        size_t n = strcspn(pattern, "*");
        const char *at;
        memcpy(piece, pattern, n);
        piece[n] = '\0';
        if (n) {
            at = strcasestr(s, piece);
            if (!at)
                return false;
            s = at + n;
        }
        pattern += n;
        if (*pattern == '*')
            pattern++;
    }
    return true;
}

/* JavaScript's number for a relational comparison: numbers, booleans, numeric strings. */
static bool as_number(json_object *v, double *out)
{
    const char *s;
    char *end;

    switch (json_object_get_type(v)) {
    case json_type_int:
    case json_type_double:
        *out = json_object_get_double(v);
        return true;
    case json_type_boolean:
        *out = json_object_get_boolean(v) ? 1 : 0;
        return true;
    case json_type_string:
        s = json_object_get_string(v);
        while (isspace((unsigned char)*s))
            s++;
        *out = *s ? strtod(s, &end) : 0;
        while (*s && isspace((unsigned char)*end))
            end++;
        return !*s || !*end;
    default:
        return false;
    }
}

/* JavaScript's !! of a member. */
static bool truthy(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return false;
    case json_type_boolean:
        return json_object_get_boolean(v);
    case json_type_int:
    case json_type_double: {
        double d = json_object_get_double(v);
        return d != 0 && !isnan(d);
    }
    case json_type_string:
        return json_object_get_string_len(v) > 0;
    default:
        return true; /* objects and arrays, even empty */
    }
}

/* value[name]: an object's member, or an array's element by its index. */
static json_object *member(json_object *v, const char *name)
{
    json_object *m = NULL;
    char *end;
    long i;

    if (json_object_is_type(v, json_type_object)) {
        json_object_object_get_ex(v, name, &m);
        return m;
    }
    if (json_object_is_type(v, json_type_array) && isdigit((unsigned char)name[0])) {
        i = strtol(name, &end, 10);
        if (!*end && i >= 0 && (size_t)i < json_object_array_length(v))
            return json_object_array_get_idx(v, (size_t)i);
    }
    return NULL;
}

static bool match_node(const node_t *n, json_object *v, int depth)
{
    double d;

    switch (n->kind) {
    case N_AND:
        for (int i = 0; i < n->nkids; i++)
            if (!match_node(n->kids[i], v, depth))
                return false;
        return true;
    case N_OR:
        for (int i = 0; i < n->nkids; i++)
            if (match_node(n->kids[i], v, depth))
                return true;
        return false;
    case N_NOT:
        return !match_node(n->kids[0], v, depth);
    case N_PROPERTY:
        return v && match_node(n->kids[0], member(v, n->text), depth);
    case N_TRUTHY:
        return v && truthy(member(v, n->text));
    case N_COMPARISON:
        if (!as_number(v, &d))
            return false;
        return !strcmp(n->op, ">")    ? d > n->num
               : !strcmp(n->op, ">=") ? d >= n->num
               : !strcmp(n->op, "<")  ? d < n->num
                                      : d <= n->num;
    case N_NUMBER:
        if ((json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) &&
            json_object_get_double(v) == n->num)
            return true;
        __attribute__((fallthrough)); /* else the word as a string */
    case N_STRING:
        if (json_object_is_type(v, json_type_string))
            return strcasestr(json_object_get_string(v), n->text) != NULL;
        return some(n, v, depth);
    case N_GLOB:
        if (json_object_is_type(v, json_type_string))
            return glob_match(n->text, json_object_get_string(v));
        return some(n, v, depth);
    case N_REGEX:
        if (json_object_is_type(v, json_type_string))
            return regexec(&n->re, json_object_get_string(v), 0, NULL, 0) == 0;
        return some(n, v, depth);
    }
    return false;
}

bool gw_filter_match(const gw_filter_t *f, json_object *obj)
{
    if (!f)
        return true;
    if (f->pattern)
        return match_value(obj, f->pattern);
    return !f->root || match_node(f->root, obj, 0);
}

bool gw_filter_match_json(const gw_filter_t *f, const char *json, size_t len)
{
    json_tokener *tok;
    json_object *o;
    bool ok;

    if (!f || (f->trivial && !f->id_hint && f->type_hint == GW_T_NONE))
        return true;
    tok = json_tokener_new();
    if (!tok)
        return false;
    o = json_tokener_parse_ex(tok, json, (int)len);
    json_tokener_free(tok);
    if (!o)
        return false;
    ok = gw_filter_match(f, o);
    json_object_put(o);
    return ok;
}
