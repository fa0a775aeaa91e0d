/*
 * filter.c - JSON-pattern and complex-matcher filters (see filter.h).
 * Must stay pure and bounded: input sizes and term counts are limited, matching recursion
 * is bounded by the pattern's depth (itself bounded by the JSON parser).
 */
#include "view/filter.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TERMS 64
#define MAX_LEN   4096

typedef struct {
    char *prop; /* NULL: bare word */
    char *value;
    bool neg;
} term_t;

struct gw_filter {
    json_object *pattern; /* JSON pattern, or NULL */
    term_t terms[MAX_TERMS];
    int nterms;
    gw_type_t type_hint;
    char *id_hint;
    bool trivial;
};

static void compute_hints(gw_filter_t *f)
{
    json_object *v;
    f->trivial = true;
    if (f->pattern) {
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
        return;
    }
    for (int i = 0; i < f->nterms; i++) {
        term_t *t = &f->terms[i];
        if (!t->neg && t->prop && !strcmp(t->prop, "type") &&
            gw_type_from_name(t->value) != GW_T_NONE)
            f->type_hint = gw_type_from_name(t->value);
        else if (!t->neg && t->prop && !strcmp(t->prop, "id") && !f->id_hint)
            f->id_hint = strdup(t->value);
        else
            f->trivial = false;
    }
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

static char *dup_unquote(const char *s, size_t n)
{
    char *out = malloc(n + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        *w++ = s[i];
    }
    *w = '\0';
    return out;
}

xo_err_t gw_filter_parse(const char *s, gw_filter_t **out, char *errstr, size_t errstr_size)
{
    gw_filter_t *f;
    const char *p = s;

    if (strlen(s) > MAX_LEN)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "filter longer than %d bytes", MAX_LEN);
    f = calloc(1, sizeof(*f));
    if (!f)
        return XO_ERR_NOMEM;
    while (*p) {
        term_t *t;
        const char *start, *colon = NULL;
        size_t n;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (f->nterms == MAX_TERMS) {
            gw_filter_free(f);
            return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "more than %d terms", MAX_TERMS);
        }
        t = &f->terms[f->nterms++]; /* counted now: gw_filter_free frees it on any error */
        if (*p == '!') {
            t->neg = true;
            p++;
        }
        start = p;
        /* property: up to ':' (not inside quotes) */
        while (*p && !isspace((unsigned char)*p) && *p != ':' && *p != '"')
            p++;
        if (*p == ':') {
            colon = p;
            if (colon == start) {
                gw_filter_free(f);
                return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "empty property name");
            }
            t->prop = strndup(start, (size_t)(colon - start));
            p++;
            start = p;
        }
        if (*p == '"') {
            start = ++p;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p != '"') {
                gw_filter_free(f);
                return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "unbalanced quote");
            }
            n = (size_t)(p - start);
            p++;
        } else {
            while (*p && !isspace((unsigned char)*p))
                p++;
            n = (size_t)(p - start);
        }
        t->value = dup_unquote(start, n);
        if (!t->value || (colon && !t->prop)) {
            gw_filter_free(f);
            return XO_ERR_NOMEM;
        }
    }
    compute_hints(f);
    *out = f;
    return XO_OK;
}

void gw_filter_free(gw_filter_t *f)
{
    if (!f)
        return;
    json_object_put(f->pattern);
    for (int i = 0; i < f->nterms; i++) {
        free(f->terms[i].prop);
        free(f->terms[i].value);
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

static bool any_string_contains(json_object *o, const char *needle, int depth)
{
    if (depth > 8 || !o)
        return false;
    switch (json_object_get_type(o)) {
    case json_type_string:
        return strcasestr(json_object_get_string(o), needle) != NULL;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (any_string_contains(v, needle, depth + 1))
                return true;
        }
        return false;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (any_string_contains(json_object_array_get_idx(o, i), needle, depth + 1))
                return true;
        return false;
    default:
        return false;
    }
}

static bool match_term(const term_t *t, json_object *obj)
{
    json_object *v;
    char *end;
    double d;

    if (!t->prop)
        return any_string_contains(obj, t->value, 0);
    if (!json_object_object_get_ex(obj, t->prop, &v) || !v)
        return false;
    switch (json_object_get_type(v)) {
    case json_type_string:
        return !strcmp(json_object_get_string(v), t->value);
    case json_type_int:
    case json_type_double:
        d = strtod(t->value, &end);
        return *t->value && !*end && d == json_object_get_double(v);
    case json_type_boolean:
        return !strcmp(t->value, json_object_get_boolean(v) ? "true" : "false");
    case json_type_array: /* tags:foo matches when one element is "foo" */
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            json_object *e = json_object_array_get_idx(v, i);
            if (json_object_is_type(e, json_type_string) &&
                !strcmp(json_object_get_string(e), t->value))
                return true;
        }
        return false;
    default:
        return false;
    }
}

bool gw_filter_match(const gw_filter_t *f, json_object *obj)
{
    if (!f)
        return true;
    if (f->pattern)
        return match_value(obj, f->pattern);
    for (int i = 0; i < f->nterms; i++)
        if (match_term(&f->terms[i], obj) == f->terms[i].neg)
            return false;
    return true;
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
