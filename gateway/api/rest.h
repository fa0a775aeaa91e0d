/*
 * rest.h - the HTTP routes beside the WebSocket: the REST API at /rest/v0 as Xen
 * Orchestra's spec has it (@xen-orchestra/rest-api 0.39.0; docs/api.md's compatibility
 * table), /healthz and /metrics. rest.c parses and routes a request; the answers are
 * built by rest_objects.c (collections, objects, sub-collections), rest_actions.c (VM
 * actions, PATCH, DELETE, tags: commands on the bus), rest_tasks.c (the gateway's own
 * tasks, ?wait and ?watch) and rest_spec.c (the served operations and their
 * /rest/v0/docs/swagger.json); rest_answer.c writes errors as {error, data}.
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

/** The HTTP methods the routes tell apart. */
typedef enum {
    GW_HTTP_GET = 0,
    GW_HTTP_POST,
    GW_HTTP_PUT,
    GW_HTTP_PATCH,
    GW_HTTP_DELETE,
    GW_HTTP_OTHER /**< HEAD, OPTIONS, ...: 405 on a route, 404 elsewhere */
} gw_http_method_t;

/** One HTTP request as the server saw it (decoded). */
typedef struct {
    gw_http_method_t method;
    uint64_t conn;    /**< connection serial, for a deferred (?sync=true) answer */
    const char *body; /**< request body (borrowed), NULL for none */
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
    GW_ROUTE_PING,       /**< /rest/v0/ping */
    GW_ROUTE_SWAGGER,    /**< /rest/v0/docs/swagger.json */
    GW_ROUTE_COLLECTION, /**< /rest/v0/<collection> (tasks: the gateway's own) */
    GW_ROUTE_OBJECT,     /**< /rest/v0/<collection>/<id> */
    GW_ROUTE_FORMAT,     /**< /rest/v0/<collection>/<id>.<format> (exports) */
    GW_ROUTE_SUB,        /**< /rest/v0/<collection>/<id>/<sub> (vdis, messages, tasks, ...) */
    GW_ROUTE_TAG,        /**< /rest/v0/<collection>/<id>/tags/<tag> */
    GW_ROUTE_ACTION      /**< /rest/v0/<collection>/<id>/actions/<name> */
} gw_route_t;

#define GW_HTTP_MAX_BODY 65536 /**< largest request body read (parameters, PATCH) */

/** A parsed REST query. */
typedef struct {
    gw_route_t route;
    gw_type_t type;         /**< collection's type (GW_T_TASK for tasks) */
    const char *collection; /**< static name ("vms") */
    char id[GW_ID_MAX];     /**< OBJECT, FORMAT, SUB, TAG, ACTION */
    char sub[24];           /**< SUB: "vdis", "messages", "tasks", ... */
    char tag[256];          /**< TAG */
    char action[32];        /**< ACTION: start, clean_shutdown, ... */
    char format[16];        /**< FORMAT: ova, xva, ... */
    bool has_fields, all_fields;
    char fields[32][64]; /**< ?fields=a,b (at most 32; a.b reaches into objects) */
    int nfields;
    const char *filter; /**< borrowed from the request, or NULL */
    int64_t limit;      /**< -1 for none */
    bool ndjson, markdown, sync, wait, watch;
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

typedef struct gw_rest_watch gw_rest_watch_t;

/** A response to send. */
typedef struct {
    int status;
    const char *content_type;
    gw_buf_t body; /**< initialized by the caller with gw_buf_init_pre(&body, LWS_PRE) */
    char www_authenticate[64];
    char location[640]; /**< Location header ("" for none): a task, a download */
    /** The answer comes later: a command's outcome (gw_rest_reply, with these statuses). */
    bool deferred;
    int deferred_ok;       /**< the status of a success: 204, or 201 ({id} of a snapshot) */
    int deferred_conflict; /**< the status of a bad power state: 409 (DELETE) or 500 */
    /** The answer comes once the gateway's task `wait_task` is done (?wait=true): the
     *  transport calls gw_rest_task_poll() until it answers. */
    char wait_task[GW_ID_MAX];
    /** A stream (?watch=true): the headers now, then gw_rest_watch_poll() lines until the
     *  client leaves; the transport frees it with gw_rest_watch_free(). */
    gw_rest_watch_t *watch;
} gw_http_resp_t;

/** @brief Answer a request (service thread). */
void gw_http_route(gw_ctx_t *ctx, const gw_http_req_t *req, gw_http_resp_t *resp);

/**
 * @brief Fill the answer of a deferred (?sync=true, PATCH, DELETE, tags) command:
 *        @p ok_status on success (204 without a body; 201 with {"id": <result>} and
 *        Location of the snapshot), or the XO error as {error, data} with its status
 *        (rest_answer.h), @p conflict_status for a bad power state.
 */
void gw_rest_reply(gw_http_resp_t *resp, int ok_status, int conflict_status,
                   const char *result_json, const gw_xo_err_t *err);

/**
 * @brief Answer a ?wait=true request once its task is done.
 * @returns true when @p resp holds the answer (the task ended or was forgotten), false
 *          to be asked again later.
 */
bool gw_rest_task_poll(gw_ctx_t *ctx, const char *task_id, gw_http_resp_t *resp);

/**
 * @brief Append the watch's new lines (["update", task] as NDJSON) to @p out.
 * @returns false when the stream must end (the gateway stops).
 */
bool gw_rest_watch_poll(gw_ctx_t *ctx, gw_rest_watch_t *w, gw_buf_t *out);

/** @brief Free a watch (NULL allowed). */
void gw_rest_watch_free(gw_rest_watch_t *w);

#endif
