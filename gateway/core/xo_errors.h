/*
 * xo_errors.h - XO's API errors, in one place for every room that answers with one: the
 * JSON-RPC layer, REST and the command bus. An error is xo-common's api-error
 * {code, message, data}; its codes are xo-common's (plus json-rpc-peer's for framing),
 * and gw_xo_err_write() is the only writer of its JSON object.
 * Pure data and formatting: no locks, no I/O, any thread.
 */
#ifndef GW_XO_ERRORS_H
#define GW_XO_ERRORS_H

#include "core/gw_buf.h"

/** xo-common api-errors codes (and json-rpc-peer's), as xo-server answers them. */
enum {
    GW_ERR_NOT_IMPLEMENTED = 0,
    GW_ERR_NO_SUCH_OBJECT = 1,
    GW_ERR_UNAUTHORIZED = 2,
    GW_ERR_INVALID_CREDS = 3,
    GW_ERR_FORBIDDEN = 5, /* forbiddenOperation */
    GW_ERR_NO_HOSTS = 7,
    GW_ERR_AUTH_FAILED = 8,
    GW_ERR_INVALID_PARAMS = 10,
    GW_ERR_PV_DRIVERS = 11,
    GW_ERR_IS_TEMPLATE = 12,
    GW_ERR_BAD_POWER = 13,
    GW_ERR_LACKS_FEATURE = 14,
    GW_ERR_ALREADY_EXISTS = 16, /* objectAlreadyExists */
    GW_ERR_VDI_IN_USE = 17,
    GW_ERR_HOST_OFFLINE = 18,
    GW_ERR_OP_BLOCKED = 19,
    GW_ERR_OP_FAILED = 21,
    GW_ERR_INCORRECT_STATE = 25, /* incorrectState */
    /* json-rpc-peer: framing errors, and the code of an error with no XO code */
    GW_ERR_INVALID_JSON = -32700,
    GW_ERR_INVALID_REQUEST = -32600,
    GW_ERR_METHOD_NOT_FOUND = -32601,
    GW_ERR_UNKNOWN = -32000
};

/** An XO error. Embedded by its user: gw_xo_err_init() / gw_xo_err_fini(). */
typedef struct {
    int code;
    char message[256];
    gw_buf_t data; /**< serialized `data` member, empty for none (owned) */
} gw_xo_err_t;

void gw_xo_err_init(gw_xo_err_t *e);
void gw_xo_err_fini(gw_xo_err_t *e);

/**
 * @brief Set an error, replacing any previous one.
 * @param message copied (truncated to 255 bytes)
 * @param data_json the `data` member as JSON text (copied), or NULL for none
 * @returns -1, so that a handler can `return gw_xo_fail(...)`.
 */
int gw_xo_fail(gw_xo_err_t *e, int code, const char *message, const char *data_json);

/** @brief Append {"code":..,"message":..[,"data":..]} to @p out: the one writer. */
void gw_xo_err_write(gw_buf_t *out, const gw_xo_err_t *e);

#endif
