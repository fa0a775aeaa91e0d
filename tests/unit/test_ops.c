/* Unit tests of common/xo_ops.c: the op table is well formed; the agent's args check and the
 * gateway's params translation follow each row; and the table agrees with
 * schemas/xo.commands.schema.json and the op lists of docs/topics.md and docs/api.md. The
 * drift checks are functions of (table, document), shown to pass on the real pair and to
 * report a deliberately wrong row or schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_ops.h"

/* ------------------------------------------------------------------ helpers */

static json_object *parse(const char *text)
{
    json_object *o = json_tokener_parse(text);

    assert_non_null(o);
    return o;
}

static char *read_src(const char *rel)
{
    const char *dir = getenv("XO_SRC_DIR");
    char path[1024];
    FILE *fp;
    long n;
    char *buf;

    assert_non_null(dir); /* set by ctest (tests/CMakeLists.txt) */
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* A report of differences: one line each, and their count. */
typedef struct {
    char text[4096];
    size_t len;
    int count;
} report_t;

static void differ(report_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void differ(report_t *r, const char *fmt, ...)
{
    va_list ap;

    r->count++;
    if (r->len >= sizeof(r->text) - 1)
        return;
    va_start(ap, fmt);
    r->len += (size_t)vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
    va_end(ap);
    if (r->len < sizeof(r->text) - 1)
        r->text[r->len++] = '\n', r->text[r->len] = '\0';
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;

    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static bool array_has(json_object *arr, const char *s)
{
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s))
            return true;
    return false;
}

/* ------------------------------------------------------------------ schema drift */

/* "#/$defs/x" -> the definition, following $ref once more when the target is itself a ref. */
static json_object *resolve(json_object *schema, json_object *o)
{
    for (int depth = 0; depth < 4 && get(o, "$ref"); depth++) {
        const char *ref = json_object_get_string(get(o, "$ref"));
        o = strncmp(ref, "#/$defs/", 8) ? NULL : get(get(schema, "$defs"), ref + 8);
    }
    return o;
}

/* The `args` schema of @p name: the one allOf branch whose `if` names the op. */
static json_object *args_schema(json_object *schema, const char *name, report_t *r)
{
    json_object *all = get(schema, "allOf"), *found = NULL;
    int n = 0;

    for (size_t i = 0; all && i < json_object_array_length(all); i++) {
        json_object *b = json_object_array_get_idx(all, i);
        json_object *op = get(get(get(b, "if"), "properties"), "op");
        json_object *c = get(op, "const");
        if ((c && !strcmp(json_object_get_string(c), name)) || array_has(get(op, "enum"), name)) {
            found = get(get(get(b, "then"), "properties"), "args");
            n++;
        }
    }
    if (n != 1) {
        differ(r, "%s: %d allOf branches in the schema, expected 1", name, n);
        return NULL;
    }
    return resolve(schema, found);
}

static void compare_limit(report_t *r, const char *op, const char *arg, json_object *prop,
                          const char *key, size_t want)
{
    json_object *v = get(prop, key);
    size_t have = v ? (size_t)json_object_get_int64(v) : 0;

    if (have != want)
        differ(r, "%s: args.%s %s is %zu in the schema, %zu in the table", op, arg, key, have,
               want);
}

static size_t count_values(const char *const *values)
{
    size_t n = 0;

    while (values && values[n])
        n++;
    return n;
}

/* A schema's "type" as xo_arg_type_name() words it: "string", or "boolean,string" for
 * ["boolean", "string"]; "untyped" when absent. */
static void schema_type(json_object *type, char *buf, size_t size)
{
    size_t n = 0;

    snprintf(buf, size, "%s", type ? json_object_get_string(type) : "untyped");
    if (!json_object_is_type(type, json_type_array))
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(type) && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "",
                              json_object_get_string(json_object_array_get_idx(type, i)));
}

/* One wire argument against its schema property. */
static void compare_arg(report_t *r, json_object *schema, const xo_op_t *op, const xo_op_param_t *p,
                        json_object *prop)
{
    json_object *type, *values;
    char have[64];

    prop = resolve(schema, prop);
    type = get(prop, "type");
    schema_type(type, have, sizeof(have));
    if (strcmp(have, xo_arg_type_name(p->type)))
        differ(r, "%s: args.%s is '%s' in the schema, '%s' in the table", op->name, p->name, have,
               xo_arg_type_name(p->type));
    if (p->type != XO_ARG_STRING)
        return;
    compare_limit(r, op->name, p->name, prop, "minLength", p->min_len);
    compare_limit(r, op->name, p->name, prop, "maxLength", p->max_len);
    values = get(prop, "enum");
    if (count_values(p->values) != (values ? json_object_array_length(values) : 0))
        differ(r, "%s: args.%s has %zu values in the schema, %zu in the table", op->name, p->name,
               values ? json_object_array_length(values) : 0, count_values(p->values));
    for (const char *const *v = p->values; v && *v; v++)
        if (!array_has(values, *v))
            differ(r, "%s: args.%s value '%s' is not in the schema", op->name, p->name, *v);
}

/* The op's wire arguments against its `args` schema: names, required, types, limits. */
static void compare_op(report_t *r, json_object *schema, const xo_op_t *op)
{
    json_object *args = args_schema(schema, op->name, r), *props, *req, *minp;
    size_t n_req = 0;

    if (!args)
        return;
    props = get(args, "properties");
    req = get(args, "required");
    if (!get(args, "additionalProperties") ||
        json_object_get_boolean(get(args, "additionalProperties")))
        differ(r, "%s: the schema allows other args", op->name);
    for (const xo_op_param_t *p = op->params; p->name; p++) {
        if (p->use != XO_PARAM_ARG)
            continue;
        n_req += (p->flags & XO_PARAM_REQUIRED) != 0;
        if (!get(props, p->name))
            differ(r, "%s: args.%s is in the table, not in the schema", op->name, p->name);
        else
            compare_arg(r, schema, op, p, get(props, p->name));
        if (((p->flags & XO_PARAM_REQUIRED) != 0) != array_has(req, p->name))
            differ(r, "%s: args.%s is %s in the table only", op->name, p->name,
                   p->flags & XO_PARAM_REQUIRED ? "required" : "optional");
    }
    json_object_object_foreach(props, k, v)
    {
        const xo_op_param_t *p = xo_op_param(op, k);
        (void)v;
        if (!p || p->use != XO_PARAM_ARG)
            differ(r, "%s: args.%s is in the schema, not in the table", op->name, k);
    }
    if (req && json_object_array_length(req) != n_req)
        differ(r, "%s: the schema requires %zu args, the table %zu", op->name,
               json_object_array_length(req), n_req);
    minp = get(args, "minProperties");
    if ((op->flags & XO_OP_NEEDS_CHANGE) ? !minp || (size_t)json_object_get_int(minp) != n_req + 1
                                         : minp != NULL)
        differ(r, "%s: minProperties disagrees with XO_OP_NEEDS_CHANGE", op->name);
}

/* Every difference between @p ops (n rows) and the commands schema. */
static int schema_drift(const xo_op_t *ops, size_t n, json_object *schema, report_t *r)
{
    json_object *names = get(get(get(schema, "properties"), "op"), "enum");

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        if (!array_has(names, ops[i].name))
            differ(r, "%s: in the table, not in the schema's op enum", ops[i].name);
        compare_op(r, schema, &ops[i]);
    }
    for (size_t i = 0; names && i < json_object_array_length(names); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(names, i));
        size_t k = 0;
        while (k < n && strcmp(ops[k].name, name))
            k++;
        if (k == n)
            differ(r, "%s: in the schema's op enum, not in the table", name);
    }
    return r->count;
}

/* ------------------------------------------------------------------ docs drift */

#define MAX_WORDS 16
typedef char words_t[MAX_WORDS][80];

/* The `backticked` words of s[0..len). */
static int backticked(const char *s, size_t len, words_t w)
{
    int n = 0;
    const char *end = s + len, *open, *close;

    while (n < MAX_WORDS && (open = memchr(s, '`', (size_t)(end - s))) != NULL &&
           (close = memchr(open + 1, '`', (size_t)(end - open - 1))) != NULL) {
        snprintf(w[n++], sizeof(w[0]), "%.*s", (int)(close - open - 1), open + 1);
        s = close + 1;
    }
    return n;
}

/* "{id, delete_disks? / deleteDisks?, force?}" -> id, delete_disks?, deleteDisks?, force? */
static int brace_list(const char *s, words_t w)
{
    int n = 0;

    s += *s == '{';
    while (n < MAX_WORDS && *s && *s != '}') {
        size_t k = strcspn(s, ",/}");
        const char *a = s, *b = s + k;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if (b > a)
            snprintf(w[n++], sizeof(w[0]), "%.*s", (int)(b - a), a);
        s += k + (s[k] == ',' || s[k] == '/');
    }
    return n;
}

static bool words_have(words_t w, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(w[i], s))
            return true;
    return false;
}

/* A row's list against the op's params: @p wire_only (topics.md) or every API name. */
static void compare_list(report_t *r, const char *doc, const xo_op_t *op, words_t w, int n,
                         bool wire_only)
{
    int want = 0;

    for (const xo_op_param_t *p = op->params; p->name; p++) {
        char item[80];
        if (wire_only && p->use != XO_PARAM_ARG)
            continue;
        snprintf(item, sizeof(item), "%s%s", wire_only ? p->name : xo_op_param_api_name(op, p),
                 p->flags & XO_PARAM_REQUIRED ? "" : "?");
        want++;
        if (!words_have(w, n, item))
            differ(r, "%s: %s does not list %s", op->name, doc, item);
    }
    if (n != want)
        differ(r, "%s: %s lists %d parameters, the table %d", op->name, doc, n, want);
}

/* The rows of the Markdown table under @p header: every op of the table in exactly one row
 * (column 1), with its parameters in column @p col (topics.md: wire args, backticked;
 * api.md: API params, as a backticked {...}). */
static int doc_table_drift(const xo_op_t *ops, size_t n, const char *doc, const char *text,
                           const char *header, int col, bool wire_only, report_t *r)
{
    const char *line = strstr(text, header);
    int seen[64] = {0};

    memset(r, 0, sizeof(*r));
    if (!line)
        differ(r, "%s: no table '%s'", doc, header);
    while (line && (line = strchr(line, '\n')) != NULL && *++line == '|') {
        size_t len = strcspn(line, "\n");
        const char *cell[8] = {0};
        int nc = 0;
        words_t names, list;
        int nn;

        for (const char *c = line; c < line + len && nc < 8; c++)
            if (*c == '|')
                cell[nc++] = c + 1;
        if (nc <= col)
            continue;
        nn = backticked(cell[0], (size_t)(cell[1] - cell[0]), names);
        for (int i = 0; i < nn; i++) {
            const xo_op_t *op = NULL;
            int nl;
            for (size_t k = 0; k < n && !op; k++)
                op = strcmp(ops[k].name, names[i]) ? NULL : &ops[k];
            if (!op)
                continue; /* another method (api.md) */
            seen[op - ops]++;
            nl = backticked(cell[col], (size_t)(cell[col + 1] - cell[col]), list);
            if (nl >= 1 && list[0][0] == '{') {
                char inner[80];
                snprintf(inner, sizeof(inner), "%s", list[0]);
                nl = brace_list(inner, list);
            }
            compare_list(r, doc, op, list, nl, wire_only);
        }
    }
    for (size_t k = 0; k < n; k++) {
        int want = !wire_only && (ops[k].flags & XO_OP_INTERNAL) ? 0 : 1; /* no API method */
        if (seen[k] != want)
            differ(r, "%s: %s is in %d rows of its table, expected %d", ops[k].name, doc, seen[k],
                   want);
    }
    return r->count;
}

/* ------------------------------------------------------------------ tests */

static void test_table_well_formed(void **state)
{
    (void)state;
    for (int i = 0; i < XO_OP_COUNT; i++) {
        const xo_op_t *op = &xo_ops[i];
        const xo_op_rest_t *ra;
        assert_non_null(op->name);
        assert_non_null(op->summary);
        assert_ptr_equal(xo_op_find(op->name), op);
        assert_ptr_equal(xo_op_get((xo_op_id_t)i), op);
        assert_int_equal(xo_op_id(op), i);
        /* an op on an object names it first, as a required, non-empty uuid */
        if (op->targets) {
            assert_string_equal(op->params[0].name, "id");
            assert_int_equal(op->params[0].use, XO_PARAM_ARG);
            assert_true(op->params[0].flags & XO_PARAM_REQUIRED);
            assert_int_equal(op->params[0].min_len, 1);
        }
        for (const xo_op_param_t *p = op->params; p->name; p++) {
            assert_ptr_equal(xo_op_param(op, p->name), p); /* names are unique */
            assert_non_null(p->doc);
            if (p->use == XO_PARAM_ALIAS) {
                const xo_op_param_t *to = xo_op_param(op, p->alias_of);
                assert_non_null(to);
                assert_int_equal(to->use, XO_PARAM_ARG);
                assert_int_equal(to->type, p->type);
            }
            if (p->use != XO_PARAM_ARG) /* API-only parameters are never required */
                assert_false(p->flags & XO_PARAM_REQUIRED);
        }
        for (ra = op->rest; ra && ra->action; ra++) {
            const xo_op_rest_t *back = NULL;
            assert_ptr_equal(xo_op_find_rest(ra->action, &back), op);
            assert_ptr_equal(back, ra); /* action names are unique */
            if (ra->set_true) {
                const xo_op_param_t *p = xo_op_param(op, ra->set_true);
                assert_non_null(p);
                assert_int_equal(p->use, XO_PARAM_ARG);
                assert_int_equal(p->type, XO_ARG_BOOLEAN);
            }
            if (ra->body) {
                assert_non_null(xo_op_param(op, ra->body_arg));
                assert_int_equal(xo_op_param(op, ra->body_arg)->use, XO_PARAM_ARG);
            }
        }
    }
    assert_null(xo_op_find("vm.migrate"));
    assert_null(xo_op_find(NULL));
    assert_null(xo_op_get(XO_OP_COUNT));
}

static xo_args_problem_t wire(const xo_op_t *op, const char *args, xo_args_check_t *c)
{
    json_object *o = parse(args);
    xo_err_t err = xo_op_check_args(op, o, c);

    json_object_put(o);
    assert_int_equal(err, c->problem == XO_ARGS_OK ? XO_OK : XO_ERR_INVALID);
    return c->problem;
}

#define VM "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"

static void test_check_args(void **state)
{
    const xo_op_t *stop = xo_op_find("vm.stop"), *set = xo_op_find("vm.set");
    const xo_op_t *del = xo_op_find("vm.delete");
    xo_args_check_t c;

    (void)state;
    assert_int_equal(wire(stop, "{\"id\":\"" VM "\"}", &c), XO_ARGS_OK);
    assert_int_equal(wire(stop, "{\"id\":\"" VM "\",\"force\":true}", &c), XO_ARGS_OK);
    assert_int_equal(wire(stop, "{\"force\":true}", &c), XO_ARGS_MISSING);
    assert_string_equal(c.name, "id");
    assert_string_equal(c.message, "args.id: missing");
    assert_int_equal(wire(stop, "{\"id\":\"" VM "\",\"force\":1}", &c), XO_ARGS_TYPE);
    assert_string_equal(c.message, "args.force: expected a boolean");
    assert_int_equal(wire(stop, "{\"id\":\"\"}", &c), XO_ARGS_TOO_SHORT);
    assert_int_equal(wire(stop, "{\"id\":\"" VM VM "\"}", &c), XO_ARGS_TOO_LONG);
    assert_int_equal(wire(stop, "{\"id\":\"" VM "\",\"name\":\"x\"}", &c), XO_ARGS_UNKNOWN);
    assert_string_equal(c.message, "args.name: not an argument of vm.stop");
    /* API-only parameters never travel: an alias, an ignored one */
    assert_int_equal(wire(del, "{\"id\":\"" VM "\",\"deleteDisks\":true}", &c), XO_ARGS_OK);
    assert_int_equal(wire(del, "{\"id\":\"" VM "\",\"delete_disks\":true}", &c), XO_ARGS_UNKNOWN);
    assert_int_equal(wire(del, "{\"id\":\"" VM "\",\"force\":true}", &c), XO_ARGS_UNKNOWN);
    /* vm.set changes something */
    assert_int_equal(wire(set, "{\"id\":\"" VM "\"}", &c), XO_ARGS_NO_CHANGE);
    assert_string_equal(c.message, "vm.set needs at least one of name_label, name_description");
    assert_int_equal(wire(set, "{\"id\":\"" VM "\",\"name_description\":\"\"}", &c), XO_ARGS_OK);
    /* not an object */
    assert_int_equal(wire(stop, "[1]", &c), XO_ARGS_TYPE);
}

/* A row of the caller's own: an enum-valued string argument with a length limit. */
static const char *const modes[] = {"setup", "user", NULL};
static const xo_op_param_t p_mode[] = {
    {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL, "the object"},
    {"mode", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 0, 5, modes, "a mode"},
    {NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL}};
static const xo_op_t op_mode = {
    "vm.setMode", "Set a mode.", XO_PERM_ADMINISTRATE, XO_ON_VM, 0, p_mode, NULL, NULL};

static void test_check_limits_and_values(void **state)
{
    xo_args_check_t c;

    (void)state;
    assert_int_equal(wire(&op_mode, "{\"id\":\"x\",\"mode\":\"user\"}", &c), XO_ARGS_OK);
    assert_int_equal(wire(&op_mode, "{\"id\":\"x\",\"mode\":\"admin\"}", &c), XO_ARGS_NOT_ALLOWED);
    assert_string_equal(c.name, "mode");
    assert_int_equal(wire(&op_mode, "{\"id\":\"x\",\"mode\":\"setup-mode\"}", &c),
                     XO_ARGS_TOO_LONG);
    assert_int_equal(wire(&op_mode, "{\"id\":\"x\"}", &c), XO_ARGS_MISSING);
    assert_string_equal(c.name, "mode");
}

/* String lists (pool.installPatches' hosts and patches): arrays of bounded strings. */
static void test_check_string_lists(void **state)
{
    const xo_op_t *op = xo_op_find("pool.installPatches");
    char big[40000];
    size_t n = 0;
    xo_args_check_t c;

    (void)state;
    assert_int_equal(wire(op, "{\"id\":\"p\",\"hosts\":[\"a\",\"b\"],\"patches\":[]}", &c),
                     XO_ARGS_OK);
    assert_int_equal(wire(op, "{\"id\":\"p\",\"hosts\":\"a\"}", &c), XO_ARGS_TYPE);
    assert_string_equal(c.message, "args.hosts: expected an array");
    assert_int_equal(wire(op, "{\"id\":\"p\",\"hosts\":[\"a\",5]}", &c), XO_ARGS_TYPE);
    assert_int_equal(wire(op, "{\"id\":\"p\",\"patches\":[\"\"]}", &c), XO_ARGS_TOO_SHORT);
    assert_string_equal(c.message, "args.patches[0]: shorter than 1");
    assert_int_equal(wire(op,
                          "{\"id\":\"p\",\"patches\":[\"0123456789012345678901234567890123456789"
                          "0123456789012345678901234567\"]}",
                          &c),
                     XO_ARGS_TOO_LONG);
    n += (size_t)snprintf(big + n, sizeof big - n, "{\"id\":\"p\",\"hosts\":[");
    for (int i = 0; i <= XO_ARG_LIST_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"h\"", i ? "," : "");
    snprintf(big + n, sizeof big - n, "]}");
    assert_int_equal(wire(op, big, &c), XO_ARGS_TOO_LONG);
    assert_string_equal(c.message, "args.hosts: more than 1000 items");
}

static xo_err_t api(const char *op, const char *params, json_object **args, xo_args_check_t *c)
{
    json_object *p = parse(params);
    xo_err_t err;

    *args = json_object_new_object();
    err = xo_op_params_to_args(xo_op_find(op), p, *args, c);
    json_object_put(p);
    return err;
}

static void expect_args(json_object *args, const char *json)
{
    assert_string_equal(json_object_to_json_string_ext(args, JSON_C_TO_STRING_PLAIN), json);
    json_object_put(args);
}

static void test_params_to_args(void **state)
{
    json_object *a;
    xo_args_check_t c;

    (void)state;
    assert_int_equal(api("vm.stop", "{\"force\":true,\"id\":\"v\"}", &a, &c), XO_OK);
    expect_args(a, "{\"force\":true,\"id\":\"v\"}");
    /* alias -> its argument; ignored ones dropped; false for a not-true one accepted */
    assert_int_equal(
        api("vm.delete", "{\"id\":\"v\",\"delete_disks\":true,\"force\":true}", &a, &c), XO_OK);
    expect_args(a, "{\"deleteDisks\":true,\"id\":\"v\"}");
    assert_int_equal(api("vm.start",
                         "{\"id\":\"v\",\"force\":false,\"bypassMacAddressesCheck\":"
                         "true}",
                         &a, &c),
                     XO_OK);
    expect_args(a, "{\"id\":\"v\"}");
    /* not implemented: true for a not-true one, any value of a not-implemented one */
    assert_int_equal(api("vm.start", "{\"id\":\"v\",\"force\":true}", &a, &c), XO_ERR_UNSUPPORTED);
    assert_int_equal(c.problem, XO_ARGS_NOT_IMPLEMENTED);
    assert_string_equal(c.name, "force");
    json_object_put(a);
    assert_int_equal(api("vm.snapshot", "{\"id\":\"v\",\"description\":\"\"}", &a, &c),
                     XO_ERR_UNSUPPORTED);
    json_object_put(a);
    /* ajv's order: the other members first, the required ones last */
    assert_int_equal(api("vm.pause", "{\"id\":5,\"bogus\":1}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_UNKNOWN);
    assert_string_equal(c.name, "bogus");
    json_object_put(a);
    assert_int_equal(api("vm.pause", "{\"id\":5}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_TYPE);
    assert_string_equal(c.name, "id");
    json_object_put(a);
    assert_int_equal(api("vm.pause", "{}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_MISSING);
    json_object_put(a);
    /* API strings: non-empty unless the row says otherwise */
    assert_int_equal(api("vm.set", "{\"id\":\"v\",\"name_label\":\"\"}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_TOO_SHORT);
    json_object_put(a);
    assert_int_equal(api("vm.set", "{\"id\":\"v\",\"name_description\":\"\"}", &a, &c), XO_OK);
    expect_args(a, "{\"name_description\":\"\",\"id\":\"v\"}");
    /* a required argument given under its alias (xo-server's `host`) */
    assert_int_equal(api("pool.listMissingPatches", "{\"host\":\"h\"}", &a, &c), XO_OK);
    expect_args(a, "{\"id\":\"h\"}");
    assert_int_equal(api("pool.listMissingPatches", "{\"host\":\"\"}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_TOO_SHORT);
    json_object_put(a);
    assert_int_equal(api("pool.listMissingPatches", "{}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_MISSING);
    assert_string_equal(c.name, "id");
    json_object_put(a);
}

/* vm.copy: xo-server's `vm` is the row's id (api_id), `compress` a boolean or a string. */
static void test_copy_params(void **state)
{
    const xo_op_t *copy = xo_op_find("vm.copy");
    json_object *a, *info, *t;
    xo_args_check_t c;

    (void)state;
    assert_int_equal(api("vm.copy", "{\"vm\":\"v\",\"sr\":\"s\",\"compress\":true}", &a, &c),
                     XO_OK);
    expect_args(a, "{\"compress\":true,\"id\":\"v\",\"sr\":\"s\"}");
    assert_int_equal(api("vm.copy", "{\"vm\":\"v\",\"sr\":\"s\",\"compress\":\"zstd\"}", &a, &c),
                     XO_OK);
    expect_args(a, "{\"compress\":\"zstd\",\"id\":\"v\",\"sr\":\"s\"}");
    /* the wire's name is not xo-server's: refused as an additional property */
    assert_int_equal(api("vm.copy", "{\"id\":\"v\",\"sr\":\"s\"}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_UNKNOWN);
    assert_string_equal(c.name, "id");
    json_object_put(a);
    assert_int_equal(api("vm.copy", "{\"sr\":\"s\"}", &a, &c), XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_MISSING);
    assert_string_equal(c.name, "vm");
    json_object_put(a);
    assert_int_equal(api("vm.copy", "{\"vm\":\"v\",\"sr\":\"s\",\"compress\":1}", &a, &c),
                     XO_ERR_INVALID);
    assert_int_equal(c.problem, XO_ARGS_TYPE);
    assert_string_equal(c.message, "compress: expected a boolean,string");
    json_object_put(a);
    /* on the wire: id, and compress of either type */
    assert_int_equal(wire(copy, "{\"id\":\"v\",\"sr\":\"s\",\"compress\":false}", &c), XO_ARGS_OK);
    assert_int_equal(wire(copy, "{\"id\":\"v\",\"sr\":\"s\",\"compress\":\"gzip\"}", &c),
                     XO_ARGS_OK);
    assert_int_equal(wire(copy, "{\"id\":\"v\",\"compress\":[]}", &c), XO_ARGS_MISSING);
    assert_int_equal(wire(copy, "{\"id\":\"v\",\"sr\":\"s\",\"compress\":[]}", &c), XO_ARGS_TYPE);
    /* getMethodsInfo: xo-server's names and types */
    info = xo_op_params_info(copy);
    assert_non_null(json_object_object_get_ex(info, "vm", &t) ? t : NULL);
    assert_false(json_object_object_get_ex(info, "id", NULL));
    assert_true(json_object_object_get_ex(info, "compress", &t));
    t = json_object_object_get(t, "type");
    assert_true(json_object_is_type(t, json_type_array));
    assert_int_equal(json_object_array_length(t), 2);
    json_object_put(info);
}

static void test_params_info_and_help(void **state)
{
    json_object *info = xo_op_params_info(xo_op_find("vm.start"));
    char help[4096];

    (void)state;
    assert_string_equal(
        json_object_to_json_string_ext(info, JSON_C_TO_STRING_PLAIN),
        "{\"id\":{\"type\":\"string\"},\"force\":{\"type\":\"boolean\",\"optional\":"
        "true},\"host\":{\"type\":\"string\",\"optional\":true},"
        "\"bypassMacAddressesCheck\":{\"type\":\"boolean\",\"optional\":true}}");
    json_object_put(info);
    assert_true(xo_ops_help(help, sizeof(help)) < sizeof(help));
    for (int i = 0; i < XO_OP_COUNT; i++)
        assert_non_null(strstr(help, xo_ops[i].name));
    assert_non_null(strstr(help, "args: id, name_label?, name_description?"));
    /* truncation is safe and reports the full length */
    assert_int_equal(xo_ops_help(help, 10), xo_ops_help(NULL, 0));
    assert_int_equal(strlen(help), 9);
}

static void test_schema_agrees(void **state)
{
    char *text = read_src("schemas/xo.commands.schema.json");
    json_object *schema = parse(text);
    report_t r;

    (void)state;
    if (schema_drift(xo_ops, XO_OP_COUNT, schema, &r) != 0)
        fail_msg("the op table and schemas/xo.commands.schema.json differ:\n%s", r.text);
    json_object_put(schema);
    free(text);
}

/* A deliberately wrong schema is reported, each kind of difference by its own line. */
static void test_schema_drift_detected(void **state)
{
    char *text = read_src("schemas/xo.commands.schema.json");
    json_object *schema, *defs;
    report_t r;

    (void)state;
    schema = parse(text);
    defs = get(schema, "$defs");
    json_object_object_del(get(get(defs, "args_force"), "properties"), "force");
    assert_int_equal(schema_drift(xo_ops, XO_OP_COUNT, schema, &r), 2); /* vm.stop, vm.restart */
    assert_non_null(strstr(r.text, "vm.stop: args.force is in the table, not in the schema"));
    json_object_put(schema);

    schema = parse(text);
    defs = get(schema, "$defs");
    json_object_object_add(get(get(get(defs, "args_snapshot"), "properties"), "name"), "type",
                           json_object_new_string("integer"));
    json_object_object_add(get(defs, "vm_id"), "maxLength", json_object_new_int(128));
    assert_true(schema_drift(xo_ops, XO_OP_COUNT, schema, &r) >= 2);
    assert_non_null(strstr(r.text, "vm.snapshot: args.name is 'integer' in the schema"));
    assert_non_null(strstr(r.text, "args.id maxLength is 128 in the schema, 64 in the table"));
    json_object_put(schema);

    schema = parse(text);
    json_object_array_del_idx(get(get(get(schema, "properties"), "op"), "enum"), 9, 1);
    json_object_array_add(get(get(get(schema, "properties"), "op"), "enum"),
                          json_object_new_string("vm.migrate"));
    assert_true(schema_drift(xo_ops, XO_OP_COUNT, schema, &r) >= 2);
    assert_non_null(strstr(r.text, "vm.set: in the table, not in the schema's op enum"));
    assert_non_null(strstr(r.text, "vm.migrate: in the schema's op enum, not in the table"));
    json_object_put(schema);
    free(text);
}

/* A deliberately wrong row is reported against the real schema. */
static void test_row_drift_detected(void **state)
{
    static const xo_op_param_t p_pause_force[] = {
        {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL, "the VM"},
        {"force", XO_ARG_BOOLEAN, XO_PARAM_ARG, 0, NULL, 0, 0, NULL, "a new argument"},
        {NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL}};
    char *text = read_src("schemas/xo.commands.schema.json");
    json_object *schema = parse(text);
    xo_op_t rows[XO_OP_COUNT];
    report_t r;

    (void)state;
    memcpy(rows, xo_ops, sizeof(rows));
    rows[XO_OP_VM_PAUSE].params = p_pause_force;
    rows[XO_OP_VM_SET].flags = 0;
    assert_int_equal(schema_drift(rows, XO_OP_COUNT, schema, &r), 2);
    assert_non_null(strstr(r.text, "vm.pause: args.force is in the table, not in the schema"));
    assert_non_null(strstr(r.text, "vm.set: minProperties disagrees"));
    json_object_put(schema);
    free(text);
}

static void test_docs_agree(void **state)
{
    char *topics = read_src("docs/topics.md"), *api = read_src("docs/api.md");
    report_t r;

    (void)state;
    if (doc_table_drift(xo_ops, XO_OP_COUNT, "docs/topics.md", topics, "| op | args | XAPI |", 1,
                        true, &r))
        fail_msg("the op table and docs/topics.md differ:\n%s", r.text);
    if (doc_table_drift(xo_ops, XO_OP_COUNT, "docs/api.md", api, "| method |", 2, false, &r))
        fail_msg("the op table and docs/api.md differ:\n%s", r.text);
    for (int i = 0; i < XO_OP_COUNT; i++) {
        for (const xo_op_rest_t *ra = xo_ops[i].rest; ra && ra->action; ra++) {
            char word[80];
            snprintf(word, sizeof(word), "`%s`", ra->action);
            if (!strstr(api, word))
                fail_msg("docs/api.md does not name the REST action %s", word);
        }
    }
    free(topics);
    free(api);
}

/* A deliberately wrong row is reported against the real docs. */
static void test_docs_drift_detected(void **state)
{
    static const xo_op_param_t p_stop[] = {
        {"id", XO_ARG_STRING, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 1, 64, NULL, "the VM"},
        {"force", XO_ARG_BOOLEAN, XO_PARAM_ARG, XO_PARAM_REQUIRED, NULL, 0, 0, NULL, "required"},
        {NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL}};
    char *topics = read_src("docs/topics.md"), *api = read_src("docs/api.md");
    xo_op_t rows[XO_OP_COUNT + 1];
    report_t r;

    (void)state;
    memcpy(rows, xo_ops, sizeof(xo_ops));
    rows[XO_OP_VM_STOP].params = p_stop;
    rows[XO_OP_COUNT] = op_mode; /* an op the docs do not know */
    assert_int_equal(doc_table_drift(rows, XO_OP_COUNT + 1, "docs/topics.md", topics,
                                     "| op | args | XAPI |", 1, true, &r),
                     2);
    assert_non_null(strstr(r.text, "vm.stop: docs/topics.md does not list force\n"));
    assert_non_null(strstr(r.text, "vm.setMode: docs/topics.md is in 0 rows"));
    assert_true(doc_table_drift(rows, XO_OP_COUNT + 1, "docs/api.md", api, "| method |", 2, false,
                                &r) >= 2);
    free(topics);
    free(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_well_formed),
        cmocka_unit_test(test_check_args),
        cmocka_unit_test(test_check_limits_and_values),
        cmocka_unit_test(test_check_string_lists),
        cmocka_unit_test(test_params_to_args),
        cmocka_unit_test(test_copy_params),
        cmocka_unit_test(test_params_info_and_help),
        cmocka_unit_test(test_schema_agrees),
        cmocka_unit_test(test_schema_drift_detected),
        cmocka_unit_test(test_row_drift_detected),
        cmocka_unit_test(test_docs_agree),
        cmocka_unit_test(test_docs_drift_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
