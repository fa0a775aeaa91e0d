/*
 * rest.h - the HTTP routes beside the WebSocket: a REST API shaped like xo-server's
 * /rest/v0 (collections answer a list of hrefs unless ?fields=a,b or *, with filter, limit
 * and ndjson; one object by id; VM actions POST /vms/<id>/actions/<name> answered 202 +
 * Location: /rest/v0/tasks/<command-id>, or with the outcome for ?sync=true; the task of
 * a command at GET /tasks/<command-id>), /healthz and /metrics.
 * Authentication for /rest: cookie authenticationToken (or token) holding a token from
 * token.create, HTTP Basic user:password, or Authorization: Bearer <token>.
 *
 * The request parsers are pure and bounded (they are fuzzed: tests/fuzz/fuzz_http_rest.c);
 * gw_http_route runs on the service thread and only reads the view.
 */
#ifndef GW_REST_H
#define GW_REST_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api_rpc.h"
#include "gateway.h"

#define GW_HTTP_MAX_ARGS  32
#define GW_HTTP_MAX_PATH  1024
#define GW_HTTP_MAX_VALUE 4096

typedef struct {
    char name[64];
    char value[GW_HTTP_MAX_VALUE];
} gw_kv_t;

/** One HTTP request as the server saw it (decoded). */
typedef struct {
    bool is_get;      /**< GET (or HEAD) */
    bool is_post;     /**< POST (VM actions only; anything else gets 405) */
    uint64_t conn;    /**< connection serial, for a deferred (?sync=true) answer */
    const char *body; /**< POST body (borrowed), NULL for none */
    size_t body_len;
    char path[GW_HTTP_MAX_PATH]; /**< decoded path, without the query */
    gw_kv_t args[GW_HTTP_MAX_ARGS];
    int nargs;
    bool args_dropped;        /**< an argument was too long, or there were too many: answered 400 */
    char cookie[4096];        /**< Cookie header, "" if none */
    char authorization[1024]; /**< Authorization header, "" if none */
    char addr[64];            /**< peer address */
} gw_http_req_t;

typedef enum {
    GW_ROUTE_NOT_FOUND = 0,
    GW_ROUTE_HEALTHZ,
    GW_ROUTE_METRICS,
    GW_ROUTE_REST_ROOT,
    GW_ROUTE_REST_COLLECTION,
    GW_ROUTE_REST_OBJECT,
    GW_ROUTE_REST_ACTION /**< POST /rest/v0/vms/<id>/actions/<name> */
} gw_route_t;

#define GW_HTTP_MAX_BODY 65536 /**< largest POST body read (an action's parameters) */

/** A parsed REST query. */
typedef struct {
    gw_route_t route;
    gw_type_t type;         /**< collection's type */
    const char *collection; /**< static name ("vms") */
    char id[GW_ID_MAX];     /**< REST_OBJECT, REST_ACTION */
    char action[32];        /**< REST_ACTION: start, clean_shutdown, ... */
    bool has_fields, all_fields;
    char fields[32][64]; /**< ?fields=a,b (at most 32) */
    int nfields;
    const char *filter; /**< borrowed from the request, or NULL */
    int64_t limit;      /**< -1 for none */
    bool ndjson;
} gw_rest_query_t;

/**
 * @brief Split a request target ("/rest/v0/vms?fields=a,b&limit=2") into a decoded path
 *        and decoded arguments (percent-decoding, '+' as space in the query).
 * @returns XO_OK, XO_ERR_LIMIT (too long, too many arguments), XO_ERR_PARSE (bad escape).
 */
xo_err_t gw_http_parse_target(const char *target, gw_http_req_t *req, char *errstr,
                              size_t errstr_size);

/**
 * @brief Route a request and parse its REST arguments.
 * @returns XO_OK (q->route may be GW_ROUTE_NOT_FOUND), XO_ERR_PARSE / XO_ERR_LIMIT for bad
 *          arguments (answered with 400; detail in errstr).
 */
xo_err_t gw_rest_parse(const gw_http_req_t *req, gw_rest_query_t *q, char *errstr,
                       size_t errstr_size);

/** A response to send. */
typedef struct {
    int status;
    const char *content_type;
    gw_buf_t body; /**< initialized by the caller with gw_buf_init_pre(&body, LWS_PRE) */
    char www_authenticate[64];
    char location[128]; /**< Location header ("" for none) */
    bool deferred;      /**< the answer comes later (gw_rest_reply): nothing to send now */
} gw_http_resp_t;

/** @brief Answer a request (service thread). */
void gw_http_route(gw_ctx_t *ctx, const gw_http_req_t *req, gw_http_resp_t *resp);

/**
 * @brief Fill the answer of a deferred ?sync=true action: 200 with the result, or the XO
 *        error {code, message, data} with 404 (noSuchObject), 403 (unauthorized), 400
 *        (invalidParameters), 501 (notImplemented), 504 (COMMAND_TIMEOUT), else 500.
 */
void gw_rest_reply(gw_http_resp_t *resp, const char *result_json, const gw_xo_err_t *err);

#endif
