/*
 * rest_send.c - a list of objects in the forms XO's REST API answers (its sendObjects):
 * hrefs; with ?fields=a,b.c the picked properties (lodash pick: a dotted name reaches into
 * objects) plus href; ?fields=* the whole objects plus href; ?filter= (complex-matcher)
 * before ?limit=; ?ndjson=true one JSON value per line; ?markdown=true a Markdown table
 * (headers from the first object's keys, href left out). Bounded by limits.max_http_body.
 * Objects arrive one at a time, serialized or parsed; nothing here takes a lock.
 */
#include <stdlib.h>
#include <string.h>

#include "api/rest_int.h"
#include "core/json_members.h"

bool gw_rest_send_begin(gw_rest_sender_t *s, gw_ctx_t *ctx, const gw_rest_query_t *q,
                        gw_http_resp_t *r)
{
    char errstr[200];

    memset(s, 0, sizeof(*s));
    s->r = r;
    s->q = q;
    s->max_bytes = ctx->limits.max_http_body;
    if (q->ndjson && q->markdown) { /* XO answers 422; its spec lists 400 for lists */
        gw_rest_error(r, 400, "Cannot use both ndjson and markdown output formats simultaneously",
                      NULL);
        return false;
    }
    if (q->filter && gw_filter_parse(q->filter, &s->filter, errstr, sizeof(errstr)) != XO_OK) {
        gw_buf_t d;
        gw_buf_init(&d);
        gw_buf_puts(&d, "{\"stringToParse\":");
        gw_buf_json_str(&d, q->filter);
        gw_buf_putc(&d, '}');
        gw_rest_error(r, 400, errstr, d.data);
        gw_buf_fini(&d);
        return false;
    }
    if (q->markdown)
        s->md_rows = json_object_new_array();
    s->pick_text = q->has_fields && !q->all_fields && !q->markdown && !s->filter;
    for (int i = 0; s->pick_text && i < q->nfields; i++) /* a path, or the href we add */
        s->pick_text = !strchr(q->fields[i], '.') && strcmp(q->fields[i], "href") != 0;
    gw_rest_json(r, 200);
    if (q->ndjson)
        r->content_type = "application/x-ndjson";
    else if (q->markdown)
        r->content_type = "text/markdown; charset=utf-8";
    else
        gw_buf_putc(&r->body, '[');
    return true;
}

static json_object *parse(const char *json, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
    if (tok)
        json_tokener_free(tok);
    return o;
}

/* lodash pick of one path ("memory.size"): copy it into out, creating the objects. */
static void pick_path(json_object *obj, const char *path, json_object *out)
{
    char name[64];
    const char *dot = strchr(path, '.');
    json_object *v, *sub;

    snprintf(name, sizeof(name), "%.*s", (int)(dot ? (size_t)(dot - path) : strlen(path)), path);
    if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, name, &v))
        return;
    if (!dot) {
        json_object_object_add(out, name, json_object_get(v));
        return;
    }
    if (!json_object_object_get_ex(out, name, &sub)) {
        sub = json_object_new_object();
        json_object_object_add(out, name, sub);
    }
    if (json_object_is_type(sub, json_type_object))
        pick_path(v, dot + 1, sub);
}

/* The mapped object (fields picked, or all of it) with its href, as a new json_object. */
static json_object *mapped(const gw_rest_query_t *q, json_object *obj, const char *collection,
                           const char *id)
{
    json_object *out = json_object_new_object();
    gw_buf_t href;

    if (q->all_fields) {
        json_object_object_foreach(obj, k, v)
        {
            json_object_object_add(out, k, json_object_get(v));
        }
    } else {
        for (int i = 0; i < q->nfields; i++)
            pick_path(obj, q->fields[i], out);
    }
    gw_buf_init(&href);
    gw_buf_printf(&href, GW_REST_BASE "/%s/%s", collection, id);
    json_object_object_add(out, "href", json_object_new_string(href.data ? href.data : ""));
    gw_buf_fini(&href);
    return out;
}

/* The members ?fields= names, found in an object's text: each value's span, the last of a
 * name that occurs twice (as json-c keeps it). */
#define MAX_FIELDS                                                                                 \
    (sizeof(((gw_rest_query_t *)0)->fields) / sizeof(((gw_rest_query_t *)0)->fields[0]))

typedef struct {
    const gw_rest_query_t *q;
    const char *val[MAX_FIELDS];
    size_t len[MAX_FIELDS];
} picked_t;

static bool pick_member(void *opaque, const char *key, size_t key_len, const char *val,
                        size_t val_len)
{
    picked_t *pk = opaque;

    for (int i = 0; i < pk->q->nfields; i++)
        if (strlen(pk->q->fields[i]) == key_len && !memcmp(pk->q->fields[i], key, key_len)) {
            pk->val[i] = val;
            pk->len[i] = val_len;
        }
    return true;
}

/* The picked object as json-c writes the tree path's: the names in the order asked (each
 * once), then the href. Keys are written raw: a picked key has no byte json-c escapes. */
static void write_picked(gw_buf_t *b, const picked_t *pk, const char *collection, const char *id)
{
    const gw_rest_query_t *q = pk->q;

    gw_buf_putc(b, '{');
    for (int i = 0; i < q->nfields; i++) {
        bool again = false;
        for (int j = 0; j < i && !again; j++)
            again = !strcmp(q->fields[j], q->fields[i]);
        if (again || !pk->val[i])
            continue;
        gw_buf_putc(b, '"');
        gw_buf_puts(b, q->fields[i]);
        gw_buf_puts(b, "\":");
        gw_buf_append(b, pk->val[i], pk->len[i]);
        gw_buf_putc(b, ',');
    }
    gw_buf_puts(b, "\"href\":");
    gw_rest_write_href(b, collection, id);
    gw_buf_putc(b, '}');
}

static void separate(gw_rest_sender_t *s)
{
    if (s->n++ && !s->q->ndjson && !s->q->markdown)
        gw_buf_putc(&s->r->body, ',');
}

bool gw_rest_send(gw_rest_sender_t *s, const char *json, size_t len, json_object *obj,
                  const char *collection, const char *id)
{
    const gw_rest_query_t *q = s->q;
    json_object *own = NULL, *m;
    gw_buf_t *b = &s->r->body;
    bool need_tree = s->filter || (q->has_fields && !q->all_fields) || q->markdown;

    if (q->limit >= 0 && s->n >= q->limit)
        return false;
    if (b->len > s->max_bytes) {
        s->too_big = true;
        return false;
    }
    if (!obj && json && s->pick_text) {
        picked_t pk = {.q = q};
        if (gw_json_members(json, len, pick_member, &pk)) {
            separate(s);
            write_picked(b, &pk, collection, id);
            if (q->ndjson)
                gw_buf_putc(b, '\n');
            return true;
        }
    }
    if (!obj && need_tree) { /* (a text the member walk could not follow is parsed here) */
        obj = own = parse(json, len);
        if (!obj)
            return true; /* not an object: skipped */
    }
    if (s->filter && !gw_filter_match(s->filter, obj)) {
        json_object_put(own);
        return true;
    }
    separate(s);
    if (!q->has_fields && !q->markdown) {
        gw_rest_write_href(b, collection, id);
    } else if (q->all_fields && json && !q->markdown) {
        /* the object as it is serialized, with its href appended */
        gw_buf_append(b, json, len - 1);
        gw_buf_puts(b, len > 2 ? ",\"href\":" : "\"href\":");
        gw_rest_write_href(b, collection, id);
        gw_buf_putc(b, '}');
    } else if (s->md_rows) {
        if (!q->has_fields) {
            gw_buf_t h;
            gw_buf_init(&h);
            gw_rest_write_href(&h, collection, id);
            json_object_array_add(s->md_rows, json_tokener_parse(h.data));
            gw_buf_fini(&h);
        } else {
            json_object_array_add(s->md_rows, mapped(q, obj, collection, id));
        }
    } else {
        const char *text;
        if (!obj)
            obj = own = parse(json, len);
        m = mapped(q, obj, collection, id);
        text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE);
        gw_buf_puts(b, text);
        json_object_put(m);
    }
    if (q->ndjson)
        gw_buf_putc(b, '\n');
    json_object_put(own);
    return true;
}

/* A Markdown table cell, as XO's escapeCell: '|' escaped, newlines as spaces. */
static void md_cell(gw_buf_t *b, json_object *v)
{
    const char *t = !v ? ""
                    : json_object_is_type(v, json_type_string)
                        ? json_object_get_string(v)
                        : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    for (; *t; t++) {
        if (*t == '|')
            gw_buf_puts(b, "\\|");
        else if (*t == '\n')
            gw_buf_putc(b, ' ');
        else
            gw_buf_putc(b, *t);
    }
}

/* XO's makeMarkdownTable: "No results.", hrefs one per line, or a table. */
static void markdown(gw_buf_t *b, json_object *rows)
{
    size_t n = json_object_array_length(rows);
    json_object *first = n ? json_object_array_get_idx(rows, 0) : NULL;

    if (!n) {
        gw_buf_puts(b, "No results.");
        return;
    }
    if (json_object_is_type(first, json_type_string)) {
        for (size_t i = 0; i < n; i++) {
            gw_buf_puts(b, i ? "\n" : "");
            gw_buf_puts(b, json_object_get_string(json_object_array_get_idx(rows, i)));
        }
        return;
    }
    gw_buf_puts(b, "|");
    json_object_object_foreach(first, k, v0)
    {
        (void)v0;
        if (strcmp(k, "href") != 0)
            gw_buf_printf(b, " %s |", k);
    }
    gw_buf_puts(b, "\n|");
    json_object_object_foreach(first, k2, v1)
    {
        (void)v1;
        if (strcmp(k2, "href") != 0)
            gw_buf_puts(b, " --- |");
    }
    for (size_t i = 0; i < n; i++) {
        json_object *row = json_object_array_get_idx(rows, i), *v;
        gw_buf_puts(b, "\n|");
        json_object_object_foreach(first, k3, v2)
        {
            (void)v2;
            if (!strcmp(k3, "href"))
                continue;
            gw_buf_putc(b, ' ');
            md_cell(b, json_object_object_get_ex(row, k3, &v) ? v : NULL);
            gw_buf_puts(b, " |");
        }
    }
}

void gw_rest_send_end(gw_rest_sender_t *s)
{
    if (s->md_rows)
        markdown(&s->r->body, s->md_rows);
    else if (!s->q->ndjson)
        gw_buf_puts(&s->r->body, "]\n");
    json_object_put(s->md_rows);
    gw_filter_free(s->filter);
    s->md_rows = NULL;
    s->filter = NULL;
    if (s->too_big)
        gw_rest_error(s->r, 413, "response too large: use limit or filter", NULL);
}
