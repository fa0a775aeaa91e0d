/*
 * rest_answer.c - how the REST API answers: JSON bodies, hrefs, and errors as XO's REST
 * API writes them ({error, data} with the status its generic error handler picks). The
 * XO error itself (core/xo_errors.h) stays the one error type; this is its REST shape.
 * Pure formatting on a response; no locks.
 */
#include <string.h>

#include "api/rest_int.h"

const char *gw_rest_arg(const gw_http_req_t *req, const char *name, bool *present)
{
    for (int i = 0; i < req->nargs; i++)
        if (!strcmp(req->args[i].name, name)) {
            if (present)
                *present = true;
            return req->args[i].value;
        }
    if (present)
        *present = false;
    return NULL;
}

void gw_rest_json(gw_http_resp_t *r, int status)
{
    r->status = status;
    r->content_type = "application/json";
}

void gw_rest_error(gw_http_resp_t *r, int status, const char *message, const char *data_json)
{
    gw_rest_json(r, status);
    gw_buf_reset(&r->body);
    gw_buf_puts(&r->body, "{\"error\":");
    gw_buf_json_str(&r->body, message);
    if (data_json && *data_json) {
        gw_buf_puts(&r->body, ",\"data\":");
        gw_buf_puts(&r->body, data_json);
    }
    gw_buf_puts(&r->body, "}\n");
}

int gw_rest_status_of(const gw_xo_err_t *e, int conflict)
{
    switch (e->code) {
    case GW_ERR_NO_SUCH_OBJECT:
        return 404;
    case GW_ERR_UNAUTHORIZED:
    case GW_ERR_FORBIDDEN:
        return 403;
    case GW_ERR_INVALID_CREDS:
        return 401;
    case GW_ERR_INVALID_PARAMS:
        return 422;
    case GW_ERR_NOT_IMPLEMENTED:
        return 501;
    case GW_ERR_ALREADY_EXISTS:
    case GW_ERR_INCORRECT_STATE:
        return 409;
    case GW_ERR_BAD_POWER:
        return conflict;
    default:
        return 500;
    }
}

void gw_rest_xo_error(gw_http_resp_t *r, const gw_xo_err_t *e, int conflict)
{
    gw_rest_error(r, gw_rest_status_of(e, conflict), e->message, e->data.len ? e->data.data : NULL);
}

void gw_rest_write_href(gw_buf_t *b, const char *collection, const char *id)
{
    gw_buf_t path;

    gw_buf_init(&path);
    gw_buf_puts(&path, GW_REST_BASE "/");
    gw_buf_puts(&path, collection);
    gw_buf_putc(&path, '/');
    gw_buf_puts(&path, id);
    gw_buf_json_strn(b, path.data ? path.data : "", path.len);
    gw_buf_fini(&path);
}
