/*
 * xo_errors.c - XO's API errors and their one JSON writer (see xo_errors.h).
 * Must stay free of any protocol: the JSON-RPC envelope, the HTTP status and the task
 * record are their callers' business.
 */
#include "core/xo_errors.h"

#include <stdio.h>
#include <string.h>

void gw_xo_err_init(gw_xo_err_t *e)
{
    memset(e, 0, sizeof(*e));
    gw_buf_init(&e->data);
}

void gw_xo_err_fini(gw_xo_err_t *e)
{
    gw_buf_fini(&e->data);
}

int gw_xo_fail(gw_xo_err_t *e, int code, const char *message, const char *data_json)
{
    e->code = code;
    snprintf(e->message, sizeof(e->message), "%s", message);
    gw_buf_reset(&e->data);
    if (data_json)
        gw_buf_puts(&e->data, data_json);
    return -1;
}

void gw_xo_err_write(gw_buf_t *out, const gw_xo_err_t *e)
{
    gw_buf_printf(out, "{\"code\":%d,\"message\":", e->code);
    gw_buf_json_str(out, e->message);
    if (e->data.len) {
        gw_buf_puts(out, ",\"data\":");
        gw_buf_append(out, e->data.data, e->data.len);
    }
    gw_buf_putc(out, '}');
}
