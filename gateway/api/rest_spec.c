/*
 * rest_spec.c - what the REST API serves, in one table: each collection's features
 * (RESOURCES below) with the op table's actions. The router asks it whether a route and
 * method are served (404 / 405 otherwise), and GET /rest/v0/docs/swagger.json is written
 * from it, so that the document cannot drift from the routes. The conformance test
 * (tests/e2e/test_rest_conformance.py) reads that document to know what to check against
 * Xen Orchestra's spec, and docs/api.md's compatibility table must agree with it.
 */
#include <stdio.h>
#include <string.h>

#include "api/rest_int.h"
#include "xo_ops.h"
#include "xo_version.h"

#define SUBS_AND_LIST (GW_REST_LIST | GW_REST_SUBS)
#define VM_COMMON     (SUBS_AND_LIST | GW_REST_VDIS | GW_REST_TAGS)

/* One row per collection, in the type table's order; the features XO's spec has for it
 * that the view and the op table can serve. */
static const struct {
    gw_type_t type;
    unsigned features;
} RESOURCES[] = {
    {GW_T_POOL, SUBS_AND_LIST | GW_REST_ACTIONS | GW_REST_PATCHES},
    {GW_T_HOST, SUBS_AND_LIST | GW_REST_PATCHES},
    {GW_T_VM, VM_COMMON | GW_REST_DELETE | GW_REST_PATCH | GW_REST_ACTIONS | GW_REST_FORMATS},
    {GW_T_VM_CONTROLLER, VM_COMMON},
    {GW_T_VM_SNAPSHOT, VM_COMMON | GW_REST_DELETE | GW_REST_FORMATS},
    {GW_T_VM_TEMPLATE, VM_COMMON | GW_REST_DELETE | GW_REST_FORMATS},
    {GW_T_SR, SUBS_AND_LIST},
    {GW_T_PBD, GW_REST_LIST},
    {GW_T_VDI, SUBS_AND_LIST | GW_REST_FORMATS},
    {GW_T_VDI_SNAPSHOT, SUBS_AND_LIST | GW_REST_FORMATS},
    {GW_T_VDI_UNMANAGED, GW_REST_LIST | GW_REST_EXTRA},
    {GW_T_VBD, SUBS_AND_LIST},
    {GW_T_VIF, SUBS_AND_LIST},
    {GW_T_NETWORK, SUBS_AND_LIST},
    {GW_T_PIF, SUBS_AND_LIST},
    {GW_T_MESSAGE, GW_REST_LIST},
};

unsigned gw_rest_features(gw_type_t type)
{
    for (size_t i = 0; i < sizeof(RESOURCES) / sizeof(RESOURCES[0]); i++)
        if (RESOURCES[i].type == type)
            return RESOURCES[i].features;
    return 0;
}

static bool acts_on(const xo_op_t *op, gw_type_t type)
{
    gw_type_t types[GW_OP_TARGET_TYPES];

    gw_op_target_types(op->targets, types);
    for (int i = 0; types[i] != GW_T_NONE; i++)
        if (types[i] == type)
            return true;
    return false;
}

const xo_op_t *gw_rest_action_op(const char *action, gw_type_t type, const xo_op_rest_t **ra)
{
    const xo_op_t *op = xo_op_find_rest(action, ra);

    return op && acts_on(op, type) ? op : NULL;
}

/* 0 when @p method is one of @p allowed (bits of gw_http_method_t), else 405. */
static int one_of(gw_http_method_t method, unsigned allowed)
{
    return allowed & (1u << method) ? 0 : 405;
}

#define M(m) (1u << GW_HTTP_##m)

static int sub_allowed(const gw_rest_query_t *q, unsigned f, gw_http_method_t method)
{
    if (((!strcmp(q->sub, "messages") || !strcmp(q->sub, "tasks")) && (f & GW_REST_SUBS)) ||
        (!strcmp(q->sub, "vdis") && (f & GW_REST_VDIS)) ||
        (!strcmp(q->sub, "missing_patches") && (f & GW_REST_PATCHES)))
        return one_of(method, M(GET));
    return 404;
}

int gw_rest_allowed(const gw_rest_query_t *q, gw_http_method_t method)
{
    unsigned f = gw_rest_features(q->type);
    bool tasks = q->type == GW_T_TASK;

    switch (q->route) {
    case GW_ROUTE_HEALTHZ:
    case GW_ROUTE_METRICS:
    case GW_ROUTE_REST_ROOT:
    case GW_ROUTE_PING:
    case GW_ROUTE_SWAGGER:
        return one_of(method, M(GET));
    case GW_ROUTE_COLLECTION:
        return tasks ? one_of(method, M(GET) | M(DELETE)) : f ? one_of(method, M(GET)) : 404;
    case GW_ROUTE_OBJECT:
        if (tasks)
            return one_of(method, M(GET) | M(DELETE));
        return f ? one_of(method, M(GET) | (f & GW_REST_DELETE ? M(DELETE) : 0) |
                                      (f & GW_REST_PATCH ? M(PATCH) : 0))
                 : 404;
    case GW_ROUTE_FORMAT:
        return f & GW_REST_FORMATS ? one_of(method, M(GET)) : 404;
    case GW_ROUTE_SUB:
        return sub_allowed(q, f, method);
    case GW_ROUTE_TAG:
        return f & GW_REST_TAGS ? one_of(method, M(PUT) | M(DELETE)) : 404;
    case GW_ROUTE_ACTION:
        return f & GW_REST_ACTIONS && gw_rest_action_op(q->action, q->type, NULL)
                   ? one_of(method, M(POST))
                   : 404;
    default:
        return 404;
    }
}

/* ---- the OpenAPI document ---- */

typedef struct {
    gw_jw_t w;
    char path[160]; /* the path item being written ("" for none), to group its methods */
} spec_t;

static const char *const QUERY_LIST[] = {"fields", "filter", "limit", "ndjson", "markdown", NULL};

static void param(gw_jw_t *w, const char *in, const char *name, const char *type, bool required)
{
    gw_jw_obj_begin(w);
    gw_jw_key(w, "in");
    gw_jw_str(w, in);
    gw_jw_key(w, "name");
    gw_jw_str(w, name);
    gw_jw_key(w, "required");
    gw_jw_bool(w, required);
    gw_jw_key(w, "schema");
    gw_jw_obj_begin(w);
    gw_jw_key(w, "type");
    gw_jw_str(w, type);
    gw_jw_obj_end(w);
    gw_jw_obj_end(w);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "Ok";
    case 201:
        return "Created";
    case 202:
        return "Action executed asynchronously";
    case 204:
        return "No content";
    case 400:
        return "Bad request";
    case 401:
        return "Authentication required";
    case 403:
        return "Forbidden";
    case 404:
        return "Resource not found";
    case 409:
        return "Incorrect state";
    case 422:
        return "Invalid parameters";
    default:
        return "Internal server error, XenServer/XCP-ng error";
    }
}

/* Open the path item of @p path unless it is the one being written. */
static void path_item(spec_t *s, const char *path)
{
    if (!strcmp(s->path, path))
        return;
    if (s->path[0])
        gw_jw_obj_end(&s->w);
    gw_jw_key(&s->w, path);
    gw_jw_obj_begin(&s->w);
    snprintf(s->path, sizeof(s->path), "%s", path);
}

/* One operation: method, its summary, path and query parameters, response statuses. */
static void operation(spec_t *s, const char *path, const char *method, const char *summary,
                      const char *const *query, const int *statuses, bool extra)
{
    gw_jw_t *w = &s->w;

    path_item(s, path);
    gw_jw_key(w, method);
    gw_jw_obj_begin(w);
    gw_jw_key(w, "summary");
    gw_jw_str(w, summary);
    if (extra) {
        gw_jw_key(w, "x-xo-fleet-extension");
        gw_jw_bool(w, true);
    }
    gw_jw_key(w, "parameters");
    gw_jw_arr_begin(w);
    for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
        char name[32];
        size_t n = strcspn(p + 1, "}");
        snprintf(name, sizeof(name), "%.*s", (int)n, p + 1);
        param(w, "path", name, "string", true);
    }
    for (int i = 0; query && query[i]; i++)
        param(w, "query", query[i],
              strcmp(query[i], "fields") && strcmp(query[i], "filter") ? "boolean" : "string",
              false);
    gw_jw_arr_end(w);
    gw_jw_key(w, "responses");
    gw_jw_obj_begin(w);
    for (int i = 0; statuses[i]; i++) {
        char code[8];
        snprintf(code, sizeof(code), "%d", statuses[i]);
        gw_jw_key(w, code);
        gw_jw_obj_begin(w);
        gw_jw_key(w, "description");
        gw_jw_str(w, status_text(statuses[i]));
        gw_jw_obj_end(w);
    }
    gw_jw_obj_end(w);
    gw_jw_obj_end(w);
}

static const int S_LIST[] = {200, 400, 401, 0}, S_GET[] = {200, 400, 401, 404, 0},
                 S_CHANGE[] = {204, 400, 401, 403, 404, 422, 500, 0},
                 S_DELETE[] = {204, 400, 401, 403, 404, 409, 0},
                 S_TAG[] = {204, 400, 401, 403, 404, 0},
                 S_ACTION[] = {202, 204, 400, 401, 403, 404, 500, 0},
                 S_SNAPSHOT[] = {201, 202, 400, 401, 403, 404, 500, 0}, S_PLAIN[] = {200, 0},
                 S_PATCHES[] = {200, 400, 401, 403, 404, 500, 0};

static void collection_ops(spec_t *s, gw_type_t type, unsigned f)
{
    const char *c = gw_xo_type(type)->collection;
    static const char *const SUBS[] = {"messages", "tasks", "vdis"};
    bool extra = f & GW_REST_EXTRA;
    char path[160];

    snprintf(path, sizeof(path), "/%s", c);
    operation(s, path, "get", "The collection's objects", QUERY_LIST, S_LIST, extra);
    snprintf(path, sizeof(path), "/%s/{id}", c);
    operation(s, path, "get", "One object", NULL, S_GET, extra);
    if (f & GW_REST_PATCH)
        operation(s, path, "patch", "Change nameLabel and nameDescription (vm.set)", NULL, S_CHANGE,
                  extra);
    if (f & GW_REST_DELETE)
        operation(s, path, "delete", "Destroy it and its disks (vm.delete)", NULL, S_DELETE, extra);
    for (size_t i = 0; i < 3; i++) {
        if (!(f & (i < 2 ? GW_REST_SUBS : GW_REST_VDIS)))
            continue;
        snprintf(path, sizeof(path), "/%s/{id}/%s", c, SUBS[i]);
        operation(s, path, "get", "A sub-collection of the object", QUERY_LIST, S_GET, extra);
    }
    if (f & GW_REST_PATCHES) {
        snprintf(path, sizeof(path), "/%s/{id}/missing_patches", c);
        operation(s, path, "get", "The missing patches, asked of the pool's agent", NULL, S_PATCHES,
                  extra);
    }
    if (f & GW_REST_TAGS) {
        snprintf(path, sizeof(path), "/%s/{id}/tags/{tag}", c);
        operation(s, path, "put", "Add a tag (tag.add)", NULL, S_TAG, extra);
        operation(s, path, "delete", "Remove a tag (tag.remove)", NULL, S_TAG, extra);
    }
    if (f & GW_REST_ACTIONS) {
        static const char *const SYNC[] = {"sync", NULL};
        for (int op = 0; op < XO_OP_COUNT; op++)
            for (const xo_op_rest_t *ra = xo_ops[op].rest;
                 ra && ra->action && acts_on(&xo_ops[op], type); ra++) {
                snprintf(path, sizeof(path), "/%s/{id}/actions/%s", c, ra->action);
                operation(s, path, "post", xo_ops[op].summary, SYNC,
                          op == XO_OP_VM_SNAPSHOT ? S_SNAPSHOT : S_ACTION, extra);
            }
    }
}

static void info(gw_jw_t *w)
{
    gw_jw_key(w, "openapi");
    gw_jw_str(w, "3.0.0");
    gw_jw_key(w, "info");
    gw_jw_obj_begin(w);
    gw_jw_key(w, "title");
    gw_jw_str(w, "xo-gateway REST API");
    gw_jw_key(w, "version");
    gw_jw_str(w, XO_VERSION);
    gw_jw_key(w, "description");
    gw_jw_str(w, "The operations of @xen-orchestra/rest-api 0.39.0 that this gateway serves, "
                 "with the answers and schemas of that spec (docs/api.md: compatibility); "
                 "operations marked x-xo-fleet-extension are the gateway's own.");
    gw_jw_obj_end(w);
    gw_jw_key(w, "servers");
    gw_jw_arr_begin(w);
    gw_jw_obj_begin(w);
    gw_jw_key(w, "url");
    gw_jw_str(w, GW_REST_BASE);
    gw_jw_obj_end(w);
    gw_jw_arr_end(w);
}

void gw_rest_swagger(gw_http_resp_t *r)
{
    static const char *const WATCH[] = {"fields",   "filter", "limit", "ndjson",
                                        "markdown", "watch",  NULL},
                             *const WAIT[] = {"wait", NULL};
    static const int S_TASKS_DELETE[] = {204, 400, 401, 0},
                     S_TASK_DELETE[] = {204, 400, 401, 403, 404, 0};
    spec_t s;

    memset(&s, 0, sizeof(s));
    gw_rest_json(r, 200);
    gw_jw_init(&s.w, &r->body);
    gw_jw_obj_begin(&s.w);
    info(&s.w);
    gw_jw_key(&s.w, "paths");
    gw_jw_obj_begin(&s.w);
    operation(&s, "/ping", "get", "Liveness: {result: pong, timestamp}", NULL, S_PLAIN, false);
    operation(&s, "/docs/swagger.json", "get", "This document", NULL, S_PLAIN, false);
    for (size_t i = 0; i < sizeof(RESOURCES) / sizeof(RESOURCES[0]); i++)
        collection_ops(&s, RESOURCES[i].type, RESOURCES[i].features);
    operation(&s, "/tasks", "get", "The gateway's tasks (its commands); ?watch=true streams them",
              WATCH, S_LIST, false);
    operation(&s, "/tasks", "delete", "Forget every finished task", NULL, S_TASKS_DELETE, false);
    operation(&s, "/tasks/{id}", "get", "One task; ?wait=true answers once it ends", WAIT, S_GET,
              false);
    operation(&s, "/tasks/{id}", "delete", "Forget a finished task", NULL, S_TASK_DELETE, false);
    if (s.path[0])
        gw_jw_obj_end(&s.w);
    gw_jw_obj_end(&s.w);
    gw_jw_obj_end(&s.w);
    gw_buf_putc(&r->body, '\n');
}
