/* Unit tests of gateway/api/rest.c request parsing and routing (ids and paths refused as
 * text, permission before parameters) and of the REST modules it drives: which routes are
 * served (rest_spec.c), answers in XO's shapes (rest_answer.c, rest_send.c,
 * rest_objects.c, rest_actions.c without a bus, rest_tasks.c); filters: test_gw_filter.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/rest.h"
#include "api/rest_int.h" /* gw_rest_allowed: what the route table serves */
#include "core/json_members.h"

static gw_http_req_t *req_of(const char *target)
{
    static gw_http_req_t req;
    char errstr[128];
    memset(&req, 0, sizeof(req));
    req.method = GW_HTTP_GET;
    assert_int_equal(gw_http_parse_target(target, &req, errstr, sizeof(errstr)), XO_OK);
    return &req;
}

static void test_target(void **state)
{
    gw_http_req_t *r = req_of(
        "/rest/v0/vms?fields=name_label,power_state&filter=power_state%3ARunning+x&limit=2&ndjson");
    gw_http_req_t bad;
    char errstr[128], big[8192];
    (void)state;
    assert_string_equal(r->path, "/rest/v0/vms");
    assert_int_equal(r->nargs, 4);
    assert_string_equal(r->args[1].name, "filter");
    assert_string_equal(r->args[1].value, "power_state:Running x");
    assert_string_equal(r->args[3].name, "ndjson");
    assert_string_equal(r->args[3].value, "");
    memset(&bad, 0, sizeof(bad));
    assert_int_equal(gw_http_parse_target("/a%zz", &bad, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_int_equal(gw_http_parse_target("/a%2", &bad, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_int_equal(gw_http_parse_target("/a%00b", &bad, errstr, sizeof(errstr)), XO_ERR_PARSE);
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(gw_http_parse_target(big, &bad, errstr, sizeof(errstr)), XO_ERR_LIMIT);
    {
        char many[4096] = "/x?";
        for (int i = 0; i < 40; i++)
            strcat(many, "a=1&");
        assert_int_equal(gw_http_parse_target(many, &bad, errstr, sizeof(errstr)), XO_ERR_LIMIT);
    }
}

static void test_routes(void **state)
{
    gw_rest_query_t q;
    char errstr[128];
    (void)state;
    assert_int_equal(gw_rest_parse(req_of("/healthz"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_HEALTHZ);
    assert_int_equal(gw_rest_parse(req_of("/metrics"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_METRICS);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_REST_ROOT);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/hosts"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_COLLECTION);
    assert_int_equal(q.type, GW_T_HOST);
    assert_false(q.has_fields);
    assert_int_equal(q.limit, -1);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms/abc-1"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.route, GW_ROUTE_OBJECT);
    assert_string_equal(q.id, "abc-1");
    assert_int_equal(q.type, GW_T_VM);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms/abc/vdis"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.route, GW_ROUTE_SUB);
    assert_string_equal(q.id, "abc");
    assert_string_equal(q.sub, "vdis");
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms/abc/vdis/x"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/nope"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0x"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?fields=*&limit=10&ndjson=true&filter=a"),
                                   &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_true(q.all_fields);
    assert_int_equal(q.limit, 10);
    assert_true(q.ndjson);
    assert_string_equal(q.filter, "a");
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?fields=a,,b"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.nfields, 2);
    assert_string_equal(q.fields[1], "b");
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?fields="), &q, errstr, sizeof(errstr)),
                     XO_ERR_PARSE);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?limit=-1"), &q, errstr, sizeof(errstr)),
                     XO_ERR_PARSE);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?limit=1x"), &q, errstr, sizeof(errstr)),
                     XO_ERR_PARSE);
}

/* Paths and arguments are UTF-8 text without control bytes; an empty id is no collection. */
static void test_ids_as_text(void **state)
{
    gw_rest_query_t q;
    gw_http_req_t *r;
    char errstr[128];
    const char *bad[] = {
        "/rest/v0/vms/a%01b",  "/rest/v0/vms/a%7Fb",       "/rest/v0/vms/%FF%FE",
        "/rest/v0/vms/%C0%AF", "/rest/v0/vms/%ED%A0%80",   "/rest/v0/vms/%F4%90%80%80",
        "/rest/v0/vms/%E2%82", "/rest/v0/vms/%80",         "/rest/v0/vms?filter=%FF",
        "/rest/v0/vms?x%0A=1", "/rest/v0/vms/x?fields=%1B"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errstr[0] = '\0';
        assert_int_equal(gw_rest_parse(req_of(bad[i]), &q, errstr, sizeof(errstr)), XO_ERR_PARSE);
        assert_null(strchr(errstr, '%')); /* a fixed message: nothing of the input */
    }
    /* raw bytes as the transport hands them over, undecoded */
    r = req_of("/x");
    snprintf(r->path, sizeof(r->path), "/rest/v0/vms/\xff\xfe");
    assert_int_equal(gw_rest_parse(r, &q, errstr, sizeof(errstr)), XO_ERR_PARSE);
    /* an empty id ("/vms/", or "/vms/%00" cut at its NUL by the transport): not found */
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms/"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    assert_int_equal(
        gw_rest_parse(req_of("/rest/v0/vms//actions/start"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_NOT_FOUND);
    /* valid UTF-8 is an id like any other */
    assert_int_equal(
        gw_rest_parse(req_of("/rest/v0/vms/%C3%A9t%C3%A9%F0%9F%98%80"), &q, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(q.route, GW_ROUTE_OBJECT);
    assert_string_equal(q.id, "\xc3\xa9t\xc3\xa9\xf0\x9f\x98\x80");
}

/* A users file of an admin (a@x, "a pw") and a viewer (v@x, "v pw"), and a view with vm1. */
static void route_setup(gw_ctx_t *ctx, char *path)
{
    char errstr[256];
    int fd = mkstemp(path);
    json_object *snap = json_tokener_parse("{\"uuid\":\"vm1\",\"name_label\":\"a\"}");

    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    memset(ctx, 0, sizeof(*ctx));
    assert_int_equal(
        gw_users_add_to_file(path, "a@x", GW_PERM_ADMIN, "a pw", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(
        gw_users_add_to_file(path, "v@x", GW_PERM_VIEWER, "v pw", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(gw_users_load(path, &ctx->users, errstr, sizeof(errstr)), XO_OK);
    ctx->view = gw_view_new();
    ctx->limits.max_http_body = 1 << 20;
    assert_int_equal(gw_view_apply_object(ctx->view, "p", "vm", "OpaqueRef:1", snap, "{}", 2,
                                          errstr, sizeof(errstr)),
                     XO_OK);
    json_object_put(snap);
}

/* The raw answer of @p path (target with its query) as @p auth; caller frees the body. */
static gw_http_resp_t answer(gw_ctx_t *ctx, gw_http_method_t method, const char *target,
                             const char *auth, const char *body)
{
    static gw_http_req_t req;
    gw_http_resp_t resp;
    char errstr[128];

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(gw_http_parse_target(target, &req, errstr, sizeof(errstr)), XO_OK);
    req.method = method;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    if (auth)
        snprintf(req.authorization, sizeof(req.authorization), "Basic %s", auth);
    snprintf(req.addr, sizeof(req.addr), "127.0.0.1");
    gw_buf_init(&resp.body);
    gw_http_route(ctx, &req, &resp);
    gw_buf_putc(&resp.body, '\0');
    resp.body.len--;
    return resp;
}

/* Route @p path (raw bytes) as @p auth; the body must be valid UTF-8 JSON: returns it. */
static json_object *route(gw_ctx_t *ctx, bool post, const char *path, const char *auth,
                          const char *body, int *status)
{
    static gw_http_req_t req;
    gw_http_resp_t resp;
    json_tokener *tok = json_tokener_new();
    json_object *o;

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.method = post ? GW_HTTP_POST : GW_HTTP_GET;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    snprintf(req.path, sizeof(req.path), "%s", path);
    snprintf(req.authorization, sizeof(req.authorization), "Basic %s", auth);
    snprintf(req.addr, sizeof(req.addr), "127.0.0.1");
    gw_buf_init(&resp.body);
    gw_http_route(ctx, &req, &resp);
    *status = resp.status;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, resp.body.data, (int)resp.body.len);
    assert_non_null(o); /* whatever the path held, the answer is JSON text */
    assert_null(memchr(resp.body.data, 0xff, resp.body.len));
    json_tokener_free(tok);
    gw_buf_fini(&resp.body);
    return o;
}

#define ADMIN  "YUB4OmEgcHc=" /* a@x:a pw */
#define VIEWER "dkB4OnYgcHc=" /* v@x:v pw */

static void test_route_refusals(void **state)
{
    char path[] = "/tmp/test_gw_rest_XXXXXX";
    gw_ctx_t ctx;
    json_object *o;
    int status = 0;
    (void)state;
    route_setup(&ctx, path);
    o = route(&ctx, false, "/rest/v0/vms/vm1", ADMIN, NULL, &status);
    assert_int_equal(status, 200);
    json_object_put(o);
    /* never the collection for an empty or cut id */
    o = route(&ctx, false, "/rest/v0/vms/", ADMIN, NULL, &status);
    assert_int_equal(status, 404);
    assert_false(json_object_is_type(o, json_type_array));
    json_object_put(o);
    /* invalid UTF-8 and control bytes: 400, and the body does not echo them */
    o = route(&ctx, false, "/rest/v0/vms/\xff\xfe", ADMIN, NULL, &status);
    assert_int_equal(status, 400);
    json_object_put(o);
    o = route(&ctx, false, "/rest/v0/vms/a\x01\x1b[2J", ADMIN, NULL, &status);
    assert_int_equal(status, 400);
    json_object_put(o);
    o = route(&ctx, false, "/rest/v0/vms/\xc3\xa9\"\\", ADMIN, NULL, &status);
    assert_int_equal(status, 404); /* valid text is echoed, escaped */
    json_object_put(o);
    /* a viewer's action is refused before its body is read (an admin's bad body: 400) */
    o = route(&ctx, true, "/rest/v0/vms/vm1/actions/snapshot", VIEWER, "not json", &status);
    assert_int_equal(status, 403);
    json_object_put(o);
    o = route(&ctx, true, "/rest/v0/vms/vm1/actions/snapshot", ADMIN, "not json", &status);
    assert_int_equal(status, 400);
    json_object_put(o);
    o = route(&ctx, true, "/rest/v0/vms/nope/actions/start", VIEWER, NULL, &status);
    assert_int_equal(status, 403);
    json_object_put(o);
    /* an action of another collection's op is none of this one's */
    o = route(&ctx, true, "/rest/v0/vms/vm1/actions/rolling_update", ADMIN, NULL, &status);
    assert_int_equal(status, 404);
    json_object_put(o);
    o = route(&ctx, true, "/rest/v0/pools/p1/actions/start", ADMIN, NULL, &status);
    assert_int_equal(status, 404);
    json_object_put(o);
    gw_view_free(ctx.view);
    gw_users_free(ctx.users);
    unlink(path);
}

/* Routes of XO's spec: ping, swagger, sub-collections, tags, actions, exports. */
static void test_new_routes(void **state)
{
    gw_rest_query_t q;
    char errstr[128];
    (void)state;
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/ping"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_PING);
    assert_int_equal(
        gw_rest_parse(req_of("/rest/v0/docs/swagger.json"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_SWAGGER);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms/u1.ova"), &q, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.route, GW_ROUTE_FORMAT);
    assert_string_equal(q.id, "u1");
    assert_string_equal(q.format, "ova");
    assert_int_equal(
        gw_rest_parse(req_of("/rest/v0/vms/u1/tags/a%20b"), &q, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(q.route, GW_ROUTE_TAG);
    assert_string_equal(q.tag, "a b");
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/tasks/t1?wait=true&watch=false"), &q, errstr,
                                   sizeof(errstr)),
                     XO_OK);
    assert_int_equal(q.route, GW_ROUTE_OBJECT);
    assert_int_equal(q.type, GW_T_TASK);
    assert_true(q.wait);
    assert_false(q.watch);
    assert_int_equal(gw_rest_parse(req_of("/rest/v0/vms?markdown=true&sync=1&fields=a.b,c"), &q,
                                   errstr, sizeof(errstr)),
                     XO_OK);
    assert_true(q.markdown);
    assert_true(q.sync);
    assert_string_equal(q.fields[0], "a.b");
}

/* What is served for which method: 404 for a route the collection lacks, 405 for a method. */
static void test_allowed(void **state)
{
    gw_rest_query_t q;
    char errstr[128];
    static const struct {
        const char *target;
        gw_http_method_t method;
        int want;
    } CASES[] = {
        {"/rest/v0/vms", GW_HTTP_GET, 0},
        {"/rest/v0/vms", GW_HTTP_POST, 405},
        {"/rest/v0/vms/u1", GW_HTTP_PATCH, 0},
        {"/rest/v0/vms/u1", GW_HTTP_DELETE, 0},
        {"/rest/v0/vms/u1", GW_HTTP_PUT, 405},
        {"/rest/v0/hosts/h1", GW_HTTP_PATCH, 405},
        {"/rest/v0/hosts/h1", GW_HTTP_DELETE, 405},
        {"/rest/v0/vm-templates/t1", GW_HTTP_DELETE, 0},
        {"/rest/v0/vm-controllers/c1", GW_HTTP_DELETE, 405},
        {"/rest/v0/vms/u1/tags/x", GW_HTTP_PUT, 0},
        {"/rest/v0/vms/u1/tags/x", GW_HTTP_GET, 405},
        {"/rest/v0/hosts/h1/tags/x", GW_HTTP_PUT, 404},
        {"/rest/v0/vms/u1/vdis", GW_HTTP_GET, 0},
        {"/rest/v0/hosts/h1/vdis", GW_HTTP_GET, 404},
        {"/rest/v0/hosts/h1/messages", GW_HTTP_GET, 0},
        {"/rest/v0/pbds/p1/messages", GW_HTTP_GET, 404},
        {"/rest/v0/hosts/h1/missing_patches", GW_HTTP_GET, 0},
        {"/rest/v0/pools/p1/missing_patches", GW_HTTP_GET, 0},
        {"/rest/v0/pools/p1/missing_patches", GW_HTTP_POST, 405},
        {"/rest/v0/vms/u1/missing_patches", GW_HTTP_GET, 404},
        {"/rest/v0/vms/u1/alarms", GW_HTTP_GET, 404},
        {"/rest/v0/vms/u1/actions/start", GW_HTTP_POST, 0},
        {"/rest/v0/vms/u1/actions/start", GW_HTTP_GET, 405},
        {"/rest/v0/vms/u1/actions/clone", GW_HTTP_POST, 404},
        {"/rest/v0/hosts/h1/actions/start", GW_HTTP_POST, 404},
        {"/rest/v0/tasks", GW_HTTP_DELETE, 0},
        {"/rest/v0/tasks/t1", GW_HTTP_DELETE, 0},
        {"/rest/v0/tasks/t1", GW_HTTP_PATCH, 405},
        {"/rest/v0/vms/u1.ova", GW_HTTP_GET, 0},
        {"/rest/v0/hosts/h1.ova", GW_HTTP_GET, 404},
        {"/rest/v0/ping", GW_HTTP_POST, 405},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        assert_int_equal(gw_rest_parse(req_of(CASES[i].target), &q, errstr, sizeof(errstr)), XO_OK);
        if (gw_rest_allowed(&q, CASES[i].method) != CASES[i].want) {
            print_message("%s method %d: %d, expected %d\n", CASES[i].target, (int)CASES[i].method,
                          gw_rest_allowed(&q, CASES[i].method), CASES[i].want);
            fail();
        }
    }
}

/* Answers in XO's shapes: errors {error, data}, ping, swagger, lists in every form. */
static void test_answers(void **state)
{
    char path[] = "/tmp/test_gw_rest_XXXXXX";
    gw_ctx_t ctx;
    gw_http_resp_t r;
    json_object *o, *v;
    (void)state;
    route_setup(&ctx, path);
    /* ping: no authentication */
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/ping", NULL, NULL);
    assert_int_equal(r.status, 200);
    o = json_tokener_parse(r.body.data);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "result")), "pong");
    assert_true(json_object_get_int64(json_object_object_get(o, "timestamp")) > 0);
    json_object_put(o);
    gw_buf_fini(&r.body);
    /* an unknown object: 404 {error, data: {id, type}} */
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms/nope", ADMIN, NULL);
    assert_int_equal(r.status, 404);
    o = json_tokener_parse(r.body.data);
    assert_int_equal(json_object_object_length(o), 2);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "error")),
                        "no such VM nope");
    assert_true(json_object_object_get_ex(json_object_object_get(o, "data"), "type", &v));
    json_object_put(o);
    gw_buf_fini(&r.body);
    /* a filter that does not parse: 400 naming it, with the string */
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms?filter=a%3A%5Bresolve%5D%3Ax", ADMIN, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.data, "[resolve]"));
    assert_non_null(strstr(r.body.data, "\"stringToParse\":\"a:[resolve]:x\""));
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms?ndjson=true&markdown=true", ADMIN, NULL);
    assert_int_equal(r.status, 400);
    gw_buf_fini(&r.body);
    /* fields with a dot, markdown, ndjson */
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms?fields=name_label", ADMIN, NULL);
    assert_string_equal(r.body.data, "[{\"name_label\":\"a\",\"href\":\"/rest/v0/vms/vm1\"}]\n");
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms?fields=name_label,type&markdown=true", ADMIN, NULL);
    assert_string_equal(r.content_type, "text/markdown; charset=utf-8");
    assert_string_equal(r.body.data, "| name_label | type |\n| --- | --- |\n| a | VM |");
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms?markdown=true&filter=nothing", ADMIN, NULL);
    assert_string_equal(r.body.data, "No results.");
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms?ndjson=true", ADMIN, NULL);
    assert_string_equal(r.content_type, "application/x-ndjson");
    assert_string_equal(r.body.data, "\"/rest/v0/vms/vm1\"\n");
    gw_buf_fini(&r.body);
    /* exports: 422 for a format XO does not know, 501 for one it does, 404 without object */
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms/vm1.zip", ADMIN, NULL);
    assert_int_equal(r.status, 422);
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms/vm1.xva", ADMIN, NULL);
    assert_int_equal(r.status, 501);
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/vms/nope.xva", ADMIN, NULL);
    assert_int_equal(r.status, 404);
    gw_buf_fini(&r.body);
    /* changes without a command bus: notImplemented, 501 */
    r = answer(&ctx, GW_HTTP_DELETE, "/rest/v0/vms/vm1", ADMIN, NULL);
    assert_int_equal(r.status, 501);
    assert_non_null(strstr(r.body.data, "\"error\":\"not implemented\""));
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_PATCH, "/rest/v0/vms/vm1", ADMIN, "{\"cpus\":2}");
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body.data, "cpus: not supported by this gateway"));
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_PATCH, "/rest/v0/vms/vm1", VIEWER, "{\"nameLabel\":\"x\"}");
    assert_int_equal(r.status, 403);
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_PUT, "/rest/v0/vms/vm1/tags/x", VIEWER, NULL);
    assert_int_equal(r.status, 403);
    gw_buf_fini(&r.body);
    /* the gateway's tasks: none yet */
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/tasks", ADMIN, NULL);
    assert_string_equal(r.body.data, "[]\n");
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/tasks?watch=true", ADMIN, NULL);
    assert_int_equal(r.status, 400); /* watch needs ndjson */
    gw_buf_fini(&r.body);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/tasks/t1?wait=true", ADMIN, NULL);
    assert_int_equal(r.status, 404);
    gw_buf_fini(&r.body);
    gw_view_free(ctx.view);
    gw_users_free(ctx.users);
    unlink(path);
}

/* /rest/v0/docs/swagger.json: OpenAPI 3, the operations of the route table. */
static void test_swagger(void **state)
{
    char path[] = "/tmp/test_gw_rest_XXXXXX";
    gw_ctx_t ctx;
    gw_http_resp_t r;
    json_object *o, *paths, *item, *op;
    (void)state;
    route_setup(&ctx, path);
    r = answer(&ctx, GW_HTTP_GET, "/rest/v0/docs/swagger.json", ADMIN, NULL);
    assert_int_equal(r.status, 200);
    o = json_tokener_parse(r.body.data);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "openapi")), "3.0.0");
    paths = json_object_object_get(o, "paths");
    assert_true(json_object_object_get_ex(paths, "/vms/{id}/actions/start", &item));
    assert_true(json_object_object_get_ex(item, "post", &op));
    assert_true(json_object_object_get_ex(paths, "/vms/{id}", &item));
    assert_true(json_object_object_get_ex(item, "patch", &op));
    assert_true(json_object_object_get_ex(item, "delete", &op));
    assert_true(json_object_object_get_ex(paths, "/hosts/{id}", &item));
    assert_false(json_object_object_get_ex(item, "patch", &op));
    assert_true(json_object_object_get_ex(paths, "/vdi-unmanaged", &item));
    assert_true(json_object_object_get_ex(item, "get", &op));
    assert_true(json_object_object_get_ex(op, "x-xo-fleet-extension", NULL));
    assert_false(json_object_object_get_ex(paths, "/vms/{id}/actions/clone", &item));
    json_object_put(o);
    gw_buf_fini(&r.body);
    gw_view_free(ctx.view);
    gw_users_free(ctx.users);
    unlink(path);
}

static bool any_member(void *opaque, const char *key, size_t key_len, const char *val,
                       size_t val_len)
{
    (void)opaque, (void)key, (void)key_len, (void)val, (void)val_len;
    return true;
}

/* One list of @p json (a serialized object) for @p target, through the text (@p as_tree
 * false) or through its json-c tree: the body, which the caller frees. */
static char *list_one_object(const char *target, const char *json, bool as_tree, bool *picked)
{
    gw_rest_query_t q;
    gw_rest_sender_t s;
    gw_http_resp_t r;
    gw_ctx_t ctx;
    json_object *obj = as_tree ? json_tokener_parse(json) : NULL;
    char errstr[128];

    memset(&ctx, 0, sizeof(ctx));
    memset(&r, 0, sizeof(r));
    ctx.limits.max_http_body = 1 << 20;
    gw_buf_init(&r.body);
    assert_int_equal(gw_rest_parse(req_of(target), &q, errstr, sizeof(errstr)), XO_OK);
    assert_true(gw_rest_send_begin(&s, &ctx, &q, &r));
    *picked = s.pick_text;
    assert_true(
        gw_rest_send(&s, as_tree ? NULL : json, as_tree ? 0 : strlen(json), obj, "vms", "v-1"));
    /* false with ?limit=1: the list is complete */
    gw_rest_send(&s, as_tree ? NULL : json, as_tree ? 0 : strlen(json), obj, "vms", "v-2");
    gw_rest_send_end(&s);
    json_object_put(obj);
    return gw_buf_steal(&r.body, NULL);
}

/* ?fields= of top-level names is picked from the objects' text: the same bytes as through
 * json-c's tree, for values of every kind, names asked twice, missing or in another order;
 * paths, href, a filter and markdown still go through the tree. */
static void test_fields_from_text(void **state)
{
    static const char *const targets[] = {
        "/rest/v0/vms?fields=name_label",
        "/rest/v0/vms?fields=name_label,power_state",
        "/rest/v0/vms?fields=power_state,name_label,power_state",
        "/rest/v0/vms?fields=missing",
        "/rest/v0/vms?fields=missing,other,CPUs,tags,memory,blocked,nothing,ratio,big",
        "/rest/v0/vms?fields=name_label,tags&ndjson=true",
        "/rest/v0/vms?fields=name_label&limit=1",
        "/rest/v0/vms?fields=sl%2Fash,sp%20ace,%C3%A9",
    };
    static const char *const picked_not[] = {
        "/rest/v0/vms?fields=memory.size",
        "/rest/v0/vms?fields=href,name_label",
        "/rest/v0/vms?fields=name_label&filter=power_state:Running",
        "/rest/v0/vms?fields=name_label&markdown=true",
        "/rest/v0/vms?fields=*",
        "/rest/v0/vms"};
    json_object *o = json_object_new_object(), *tags = json_object_new_array();
    json_object *mem = json_object_new_object();
    const char *text;
    bool picked;
    (void)state;
    json_object_object_add(o, "name_label",
                           json_object_new_string("lat:\"q\" \\ / \t\n\x01 é ✓ </script>"));
    json_object_object_add(o, "power_state", json_object_new_string("Running"));
    json_object_object_add(o, "CPUs", json_object_new_int64(-9007199254740993LL));
    json_object_array_add(tags, json_object_new_string("a,b]}"));
    json_object_array_add(tags, json_object_new_object());
    json_object_object_add(o, "tags", tags);
    json_object_object_add(mem, "size", json_object_new_int64(1 << 30));
    json_object_object_add(mem, "dyn", json_object_new_array());
    json_object_object_add(o, "memory", mem);
    json_object_object_add(o, "blocked", json_object_new_boolean(0));
    json_object_object_add(o, "nothing", NULL);
    json_object_object_add(o, "ratio", json_object_new_double(0.1));
    json_object_object_add(o, "big", json_object_new_double(1e300));
    json_object_object_add(o, "sl/ash", json_object_new_int(1));
    json_object_object_add(o, "sp ace", json_object_new_int(2));
    json_object_object_add(o, "é", json_object_new_int(3));
    text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    assert_true(gw_json_members(text, strlen(text), any_member, NULL)); /* the text is picked */
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char *fast = list_one_object(targets[i], text, false, &picked);
        char *tree = list_one_object(targets[i], text, true, &picked);
        assert_true(picked);
        assert_string_equal(fast, tree);
        free(fast);
        free(tree);
    }
    for (size_t i = 0; i < sizeof(picked_not) / sizeof(picked_not[0]); i++) {
        char *body = list_one_object(picked_not[i], text, false, &picked);
        if (picked)
            fail_msg("picked from the text: %s", picked_not[i]);
        free(body);
    }
    { /* a text the walk does not follow (an escaped key) is parsed: the same answer */
        const char *esc = "{\"a\\u0062\":1,\"name_label\":\"x\"}";
        char *fast = list_one_object("/rest/v0/vms?fields=name_label,ab", esc, false, &picked);
        char *tree = list_one_object("/rest/v0/vms?fields=name_label,ab", esc, true, &picked);
        assert_string_equal(fast, tree);
        assert_non_null(strstr(fast, "\"ab\":1"));
        free(fast);
        free(tree);
    }
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target),           cmocka_unit_test(test_routes),
        cmocka_unit_test(test_ids_as_text),      cmocka_unit_test(test_route_refusals),
        cmocka_unit_test(test_new_routes),       cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_answers),          cmocka_unit_test(test_swagger),
        cmocka_unit_test(test_fields_from_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
