/*
 * output.c - formatting results, tables, method lists and notifications (output.h).
 * Appends to a printbuf and never writes a file itself; main.c and the commands write the
 * buffer to stdout.
 */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#define CELL_MAX           60
#define JSON_FLAGS_COMPACT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

cli_out_mode_t cli_out_resolve(const cli_opts_t *o)
{
    if (o->out != CLI_OUT_AUTO)
        return o->out;
    return o->stdout_tty ? CLI_OUT_HUMAN : CLI_OUT_JSON;
}

static void put(struct printbuf *pb, const char *s)
{
    printbuf_memappend(pb, s, (int)strlen(s));
}

static void indent(struct printbuf *pb, int n)
{
    for (int i = 0; i < n; i++)
        printbuf_memappend(pb, " ", 1);
}

static const char *compact(json_object *v)
{
    return json_object_to_json_string_ext(v, JSON_FLAGS_COMPACT);
}

/* A scalar for a person: strings as they are, the rest as JSON. */
static const char *scalar_text(json_object *v)
{
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : compact(v);
}

static bool is_container(json_object *v)
{
    return (json_object_is_type(v, json_type_object) && json_object_object_length(v) > 0) ||
           (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object, sorted (caller frees the array, not the strings). */
static const char **sorted_keys(json_object *o, size_t *n)
{
    const char **keys;
    size_t i = 0;

    *n = (size_t)json_object_object_length(o);
    keys = calloc(*n ? *n : 1, sizeof(*keys));
    if (!keys) {
        *n = 0;
        return NULL;
    }
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        keys[i++] = k;
    }
    qsort(keys, *n, sizeof(*keys), cmp_str);
    return keys;
}

/* JSON.stringify(v, null, 2): json-c's pretty printer differs ("[\n  ]" for []). */
static void pretty(struct printbuf *pb, json_object *v, int depth)
{
    bool first = true;

    if (!is_container(v)) {
        put(pb, compact(v));
        return;
    }
    if (json_object_is_type(v, json_type_array)) {
        put(pb, "[");
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            put(pb, i ? ",\n" : "\n");
            indent(pb, depth + 2);
            pretty(pb, json_object_array_get_idx(v, i), depth + 2);
        }
        put(pb, "\n");
        indent(pb, depth);
        put(pb, "]");
        return;
    }
    put(pb, "{");
    json_object_object_foreach(v, k, member)
    {
        json_object *key = json_object_new_string(k);
        put(pb, first ? "\n" : ",\n");
        first = false;
        indent(pb, depth + 2);
        put(pb, compact(key));
        put(pb, ": ");
        pretty(pb, member, depth + 2);
        json_object_put(key);
    }
    put(pb, "\n");
    indent(pb, depth);
    put(pb, "}");
}

static void tree(struct printbuf *pb, json_object *v, int depth);

static void tree_entry(struct printbuf *pb, json_object *v, int depth)
{
    if (is_container(v)) {
        put(pb, "\n");
        tree(pb, v, depth + 2);
    } else {
        put(pb, " ");
        put(pb, scalar_text(v));
        put(pb, "\n");
    }
}

static void tree(struct printbuf *pb, json_object *v, int depth)
{
    if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            indent(pb, depth);
            put(pb, "-");
            tree_entry(pb, json_object_array_get_idx(v, i), depth);
        }
        return;
    }
    size_t n;
    const char **keys = sorted_keys(v, &n);
    for (size_t i = 0; i < n; i++) {
        indent(pb, depth);
        put(pb, keys[i]);
        put(pb, ":");
        tree_entry(pb, json_object_object_get(v, keys[i]), depth);
    }
    free(keys);
}

void cli_format_value(struct printbuf *pb, json_object *v, cli_out_mode_t mode, bool raw_string)
{
    if (json_object_is_type(v, json_type_string) && (raw_string || mode == CLI_OUT_HUMAN)) {
        put(pb, json_object_get_string(v));
    } else if (mode == CLI_OUT_JSON) {
        pretty(pb, v, 0);
    } else if (is_container(v)) {
        tree(pb, v, 0);
        return; /* tree() ends its lines */
    } else {
        put(pb, scalar_text(v));
    }
    put(pb, "\n");
}

/* One cell's text, cut and on one line, into buf. */
static void cell_text(json_object *obj, const char *column, char *buf, size_t size)
{
    json_object *v = NULL;
    const char *s = "";
    size_t n;

    if (json_object_object_get_ex(obj, column, &v))
        s = scalar_text(v);
    snprintf(buf, size, "%s", s);
    n = strlen(buf);
    if (n > CELL_MAX)
        strcpy(buf + CELL_MAX - 3, "...");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

void cli_format_table(struct printbuf *pb, json_object *objects, const char *const *columns,
                      int ncolumns)
{
    json_object *rows = objects;
    size_t width[32] = {0}, n = 0;
    char cell[CELL_MAX + 8];

    if (ncolumns > 32)
        ncolumns = 32;
    if (json_object_is_type(objects, json_type_object)) {
        rows = json_object_new_array();
        json_object_object_foreach(objects, k, v)
        {
            (void)k;
            json_object_array_add(rows, json_object_get(v));
        }
    }
    for (int c = 0; c < ncolumns; c++)
        width[c] = strlen(columns[c]) < CELL_MAX ? strlen(columns[c]) : CELL_MAX;
    n = json_object_is_type(rows, json_type_array) ? json_object_array_length(rows) : 0;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < ncolumns; c++) {
            cell_text(json_object_array_get_idx(rows, i), columns[c], cell, sizeof(cell));
            if (strlen(cell) > width[c])
                width[c] = strlen(cell);
        }
    for (int c = 0; c < ncolumns; c++) {
        put(pb, columns[c]);
        if (c + 1 < ncolumns)
            indent(pb, (int)(width[c] - strlen(columns[c]) + 2));
    }
    put(pb, "\n");
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < ncolumns; c++) {
            cell_text(json_object_array_get_idx(rows, i), columns[c], cell, sizeof(cell));
            put(pb, cell);
            if (c + 1 < ncolumns)
                indent(pb, (int)(width[c] - strlen(cell) + 2));
        }
        put(pb, "\n");
    }
    if (rows != objects)
        json_object_put(rows);
}

static bool matches_any(const char *name, const char *const *patterns, int npatterns)
{
    if (npatterns == 0)
        return true;
    for (int i = 0; i < npatterns; i++)
        if (cli_glob_match(patterns[i], name))
            return true;
    return false;
}

static void param_type(struct printbuf *pb, json_object *pinfo)
{
    json_object *type;

    if (!json_object_object_get_ex(pinfo, "type", &type) || !type) {
        put(pb, "unknown type");
    } else if (json_object_is_type(type, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(type); i++) {
            if (i)
                put(pb, "|");
            put(pb, scalar_text(json_object_array_get_idx(type, i)));
        }
    } else {
        put(pb, scalar_text(type));
    }
}

static void method_line(struct printbuf *pb, const char *name, json_object *minfo, bool brief)
{
    json_object *params = NULL, *desc = NULL, *v;

    put(pb, name);
    json_object_object_get_ex(minfo, "params", &params);
    if (json_object_is_type(params, json_type_object)) {
        json_object_object_foreach(params, pname, pinfo)
        {
            bool optional =
                json_object_object_get_ex(pinfo, "default", NULL) ||
                (json_object_object_get_ex(pinfo, "optional", &v) && json_object_get_boolean(v));
            put(pb, " ");
            if (brief) {
                put(pb, pname);
                continue;
            }
            put(pb, optional ? "[" : "");
            put(pb, pname);
            put(pb, "=<");
            param_type(pb, pinfo);
            put(pb, optional ? ">]" : ">");
        }
    }
    put(pb, "\n");
    if (!brief && json_object_object_get_ex(minfo, "description", &desc) &&
        json_object_get_string_len(desc) > 0) {
        put(pb, "  ");
        put(pb, json_object_get_string(desc));
        put(pb, "\n");
    }
}

int cli_format_methods(struct printbuf *pb, json_object *info, const char *const *patterns,
                       int npatterns, bool brief)
{
    size_t n;
    const char **names;
    int listed = 0;

    if (!json_object_is_type(info, json_type_object))
        return 0;
    names = sorted_keys(info, &n);
    for (size_t i = 0; i < n; i++) {
        if (!matches_any(names[i], patterns, npatterns))
            continue;
        method_line(pb, names[i], json_object_object_get(info, names[i]), brief);
        listed++;
    }
    free(names);
    return listed;
}

static const char *str_member(json_object *o, const char *k)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void all_items(struct printbuf *pb, json_object *params)
{
    const char *event = str_member(params, "type");
    json_object *items;

    if (!event || !json_object_object_get_ex(params, "items", &items) ||
        !json_object_is_type(items, json_type_object)) {
        put(pb, "all ");
        put(pb, compact(params));
        put(pb, "\n");
        return;
    }
    json_object_object_foreach(items, id, obj)
    {
        const char *type = str_member(obj, "type"), *name = str_member(obj, "name_label");
        const char *power = str_member(obj, "power_state");
        sprintbuf(pb, "%s", event);
        if (type)
            sprintbuf(pb, " %s", type);
        sprintbuf(pb, " %s", id);
        if (name)
            sprintbuf(pb, " %s", name);
        if (power)
            sprintbuf(pb, " %s", power);
        put(pb, "\n");
    }
}

void cli_format_notification(struct printbuf *pb, const char *method, json_object *params,
                             cli_out_mode_t mode)
{
    if (mode == CLI_OUT_JSON) {
        json_object *line = json_object_new_object();
        json_object_object_add(line, "method", json_object_new_string(method));
        json_object_object_add(line, "params", json_object_get(params));
        put(pb, compact(line));
        put(pb, "\n");
        json_object_put(line);
        return;
    }
    if (!strcmp(method, "all")) {
        all_items(pb, params);
        return;
    }
    put(pb, method);
    put(pb, " ");
    put(pb, compact(params));
    put(pb, "\n");
}

int cli_write_stdout(struct printbuf *pb, cli_err_t *e)
{
    size_t n = (size_t)printbuf_length(pb);
    if ((n && fwrite(pb->buf, 1, n, stdout) != n) || fflush(stdout) != 0)
        return cli_fail(e, XO_EXIT_FAILURE, "cannot write the output");
    return 0;
}
