/*
 * api_xo.c - xo.getAllObjects({filter, limit}): the map id -> object, built by
 * concatenating the serialized objects of the view under its read lock. Filters are
 * narrowed by the type/id they require before any object is parsed (filter.h).
 * Must not hold the read lock longer than one pass over the matching objects.
 */
#include <string.h>

#include "api/api_rpc.h"

typedef struct {
    gw_buf_t *out;
    const gw_filter_t *filter;
    bool trivial;
    int64_t limit; /* < 0: no limit */
    int64_t n;
} collect_t;

static bool collect(void *opaque, const gw_obj_info_t *o)
{
    collect_t *c = opaque;
    if (c->limit >= 0 && c->n >= c->limit)
        return false;
    if (!c->trivial && !gw_filter_match_json(c->filter, o->json, o->json_len))
        return true;
    if (c->n++)
        gw_buf_putc(c->out, ',');
    gw_buf_json_str(c->out, o->id);
    gw_buf_putc(c->out, ':');
    gw_buf_append(c->out, o->json, o->json_len);
    return !c->out->failed;
}

/* A filter the parser refused: what it said, as xo-server's ajv errors ({errors:[{message}]}). */
static int filter_error(gw_xo_err_t *err, const char *why)
{
    json_object *data = json_object_new_object(), *errors = json_object_new_array(),
                *e = json_object_new_object();
    int rc;

    json_object_object_add(e, "message", json_object_new_string(why)); /* "invalid filter: …" */
    json_object_array_add(errors, e);
    json_object_object_add(data, "errors", errors);
    rc = gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                    json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN));
    json_object_put(data);
    return rc;
}

static int get_all_objects(gw_ctx_t *ctx, gw_session_t *s, json_object *params, gw_buf_t *result,
                           gw_xo_err_t *err)
{
    json_object *v;
    gw_filter_t *filter = NULL;
    collect_t c = {result, NULL, true, -1, 0};
    const char *id;
    (void)s;

    if (json_object_object_get_ex(params, "ndjson", &v) && json_object_get_boolean(v))
        return gw_xo_fail(err, GW_ERR_NOT_IMPLEMENTED, "not implemented",
                          "{\"hint\":\"use GET /rest/v0/<collection>?fields=*&ndjson\"}");
    if (json_object_object_get_ex(params, "limit", &v) && v) {
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
            return gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                              "{\"errors\":[{\"message\":\"limit must be a number\"}]}");
        c.limit = (int64_t)json_object_get_double(v);
        if (c.limit < 0)
            return gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                              "{\"errors\":[{\"message\":\"limit must be >= 0\"}]}");
    }
    if (json_object_object_get_ex(params, "filter", &v) && v) {
        char errstr[160];
        if (json_object_is_type(v, json_type_object)) {
            filter = gw_filter_from_json(v);
        } else if (json_object_is_type(v, json_type_string)) {
            if (gw_filter_parse(json_object_get_string(v), &filter, errstr, sizeof(errstr)) !=
                XO_OK)
                return filter_error(err, errstr);
        } else {
            return gw_xo_fail(err, GW_ERR_INVALID_PARAMS, "invalid parameters",
                              "{\"errors\":[{\"message\":\"filter must be an object or a "
                              "string\"}]}");
        }
        if (!filter)
            return gw_xo_fail(err, GW_ERR_UNKNOWN, "out of memory", NULL);
    }
    c.filter = filter;
    c.trivial = gw_filter_trivial(filter);
    gw_buf_putc(result, '{');
    gw_view_rdlock(ctx->view);
    id = gw_filter_id_hint(filter);
    if (id) {
        gw_obj_info_t o;
        if (gw_view_get(ctx->view, id, &o) && o.json &&
            (gw_filter_type_hint(filter) == GW_T_NONE || o.type == gw_filter_type_hint(filter)))
            collect(&c, &o);
    } else {
        gw_view_foreach(ctx->view, gw_filter_type_hint(filter), NULL, collect, &c);
    }
    gw_view_unlock(ctx->view);
    gw_buf_putc(result, '}');
    gw_filter_free(filter);
    return 0;
}

const gw_rpc_method_t gw_api_xo_methods[] = {
    {"xo.getAllObjects", get_all_objects, GW_CALL_SIGNED_IN,
     "Every object of the view (map id -> object), optionally filtered and limited.",
     "{\"filter\":{\"type\":[\"object\",\"string\"],\"optional\":true},\"limit\":{\"type\":"
     "\"number\",\"optional\":true},\"ndjson\":{\"type\":\"boolean\",\"optional\":true}}"},
    {NULL, NULL, 0, NULL, NULL}};
