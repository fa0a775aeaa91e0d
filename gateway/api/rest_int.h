/*
 * rest_int.h - what the REST modules share inside the api room (rest.h is their face to
 * the transport). Dependencies point one way:
 *
 *   rest.c (parse, authenticate, route) -> rest_objects.c, rest_actions.c, rest_tasks.c,
 *   rest_spec.c -> rest_send.c (collections as XO's sendObjects) -> rest_answer.c
 *
 * Service thread only; handlers take the view's read lock themselves.
 */
#ifndef GW_REST_INT_H
#define GW_REST_INT_H

#include "api/rest.h"

#define GW_REST_BASE "/rest/v0"

/* ---- rest_answer.c: answers and errors, as XO's REST API writes them ---- */

/** @brief A request argument's value (NULL when absent); *present says if it was given. */
const char *gw_rest_arg(const gw_http_req_t *req, const char *name, bool *present);

/** @brief Set @p r to a JSON answer with @p status (the body is the caller's). */
void gw_rest_json(gw_http_resp_t *r, int status);

/**
 * @brief An error answer: {"error": message, "data": data} (data omitted when NULL), as
 *        XO's generic error handler writes it.
 */
void gw_rest_error(gw_http_resp_t *r, int status, const char *message, const char *data_json);

/**
 * @brief The HTTP status of an XO error, as XO's REST API maps it: noSuchObject 404,
 *        unauthorized 403, invalidCredentials 401, invalidParameters 422, notImplemented
 *        501, objectAlreadyExists and incorrectState 409, vmBadPowerState @p conflict
 *        (409 where the operation lists it, else 500), anything else 500.
 */
int gw_rest_status_of(const gw_xo_err_t *e, int conflict);

/** @brief An XO error as {error, data} with gw_rest_status_of()'s status. */
void gw_rest_xo_error(gw_http_resp_t *r, const gw_xo_err_t *e, int conflict);

/** @brief Append "/rest/v0/<collection>/<id>" as a JSON string. */
void gw_rest_write_href(gw_buf_t *b, const char *collection, const char *id);

/* ---- rest_send.c: a list of objects in the forms XO's sendObjects answers ---- */

typedef struct {
    gw_http_resp_t *r;
    const gw_rest_query_t *q;
    gw_filter_t *filter;
    json_object *md_rows; /**< ?markdown=true: the mapped objects, written at the end */
    int64_t n;
    size_t max_bytes;
    bool too_big;
    bool pick_text; /**< ?fields= of top-level names only: picked from the text (no tree) */
} gw_rest_sender_t;

/**
 * @brief Start a list: checks the query (ndjson with markdown: 422; a filter that does not
 *        parse: 400 naming what, nothing written then).
 * @returns true when objects may be sent, false when @p r already holds the error.
 */
bool gw_rest_send_begin(gw_rest_sender_t *s, gw_ctx_t *ctx, const gw_rest_query_t *q,
                        gw_http_resp_t *r);

/**
 * @brief One object (serialized, or parsed: give one of @p json / @p obj), listed under
 *        /rest/v0/<collection>/<id> when it passes the filter.
 * @returns false when the list is complete (limit reached, response too large).
 */
bool gw_rest_send(gw_rest_sender_t *s, const char *json, size_t len, json_object *obj,
                  const char *collection, const char *id);

/** @brief End the list (413 when it grew over limits.max_http_body). */
void gw_rest_send_end(gw_rest_sender_t *s);

/* ---- rest_objects.c: objects of the view ---- */

void gw_rest_collection(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r);
void gw_rest_object(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r);
void gw_rest_format(gw_ctx_t *ctx, const gw_rest_query_t *q, const gw_user_t *user,
                    gw_http_resp_t *r);
/** @brief /<collection>/<id>/vdis and /messages. */
void gw_rest_sub(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r);
/** @brief Whether the view holds @p id as an object of @p type (takes the read lock). */
bool gw_rest_exists(gw_ctx_t *ctx, const char *id, gw_type_t type);

/* ---- rest_actions.c: changes, as commands on the bus ---- */

void gw_rest_action(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                    const gw_user_t *user, gw_http_resp_t *r);
void gw_rest_patch(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                   const gw_user_t *user, gw_http_resp_t *r);
void gw_rest_delete(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                    const gw_user_t *user, gw_http_resp_t *r);
void gw_rest_tag(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                 const gw_user_t *user, gw_http_resp_t *r);
/** @brief GET /hosts/<id>/missing_patches (pool.listMissingPatches) and
 *         /pools/<id>/missing_patches (pool.listPoolMissingPatches): asked of the pool's
 *         agent, answered 200 with its list once the outcome arrives. */
void gw_rest_missing_patches(gw_ctx_t *ctx, const gw_http_req_t *req, const gw_rest_query_t *q,
                             const gw_user_t *user, gw_http_resp_t *r);

/* ---- rest_tasks.c: the gateway's own tasks (its commands) ---- */

void gw_rest_tasks(gw_ctx_t *ctx, const gw_rest_query_t *q, const gw_user_t *user,
                   gw_http_resp_t *r);
void gw_rest_task(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r);
/** @brief /<collection>/<id>/tasks: the tasks acting on that object. */
void gw_rest_tasks_of(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r);
void gw_rest_task_delete(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r);

/* ---- rest_spec.c: what is served, and the gateway's own OpenAPI document ---- */

/** What a collection offers (its row of the resource table). */
#define GW_REST_LIST    (1u << 0) /**< GET /<c> and /<c>/<id> */
#define GW_REST_SUBS    (1u << 1) /**< GET /<c>/<id>/messages and /tasks */
#define GW_REST_VDIS    (1u << 2) /**< GET /<c>/<id>/vdis */
#define GW_REST_TAGS    (1u << 3) /**< PUT, DELETE /<c>/<id>/tags/<tag> */
#define GW_REST_DELETE  (1u << 4) /**< DELETE /<c>/<id> */
#define GW_REST_PATCH   (1u << 5) /**< PATCH /<c>/<id> */
#define GW_REST_ACTIONS (1u << 6) /**< POST /<c>/<id>/actions/<actions of the ops on c's type> */
#define GW_REST_FORMATS (1u << 7) /**< GET /<c>/<id>.<format>: recognised, not served */
#define GW_REST_EXTRA   (1u << 8) /**< not in XO's spec (a gateway extension) */
#define GW_REST_PATCHES (1u << 9) /**< GET /<c>/<id>/missing_patches (hosts, pools) */

/** @brief The features of @p type's collection (0: no collection). */
unsigned gw_rest_features(gw_type_t type);

/**
 * @brief The op whose REST action is @p action and that acts on @p type (its XO_ON_*
 *        targets: vms' start, pools' rolling_update), or NULL.
 * @param ra receives the action's entry (borrowed from the op table); may be NULL.
 */
const xo_op_t *gw_rest_action_op(const char *action, gw_type_t type, const xo_op_rest_t **ra);

/**
 * @brief Is this route served for this method? @returns 0 (yes), 404 (no such route for
 *        the collection), 405 (the route exists with other methods).
 */
int gw_rest_allowed(const gw_rest_query_t *q, gw_http_method_t method);

/** @brief GET /rest/v0/docs/swagger.json: the OpenAPI document of the served operations. */
void gw_rest_swagger(gw_http_resp_t *r);

#endif
