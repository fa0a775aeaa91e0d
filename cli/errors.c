/*
 * errors.c - names and lines of xo-fleet's failures (errors.h). The names are
 * xo-common's api-errors exports, so that a script can match the same word xo-server's
 * clients see; the line is built here and printed once, by main.c.
 */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
} XO_ERROR_NAMES[] = {
    {0, "notImplemented"},
    {1, "noSuchObject"},
    {2, "unauthorized"},
    {3, "invalidCredentials"},
    {5, "forbiddenOperation"},
    {7, "noHostsAvailable"},
    {8, "authenticationFailed"},
    {9, "serverUnreachable"},
    {10, "invalidParameters"},
    {11, "vmMissingPvDrivers"},
    {12, "vmIsTemplate"},
    {13, "vmBadPowerState"},
    {14, "vmLacksFeature"},
    {15, "notSupportedDuringUpgrade"},
    {16, "objectAlreadyExists"},
    {17, "vdiInUse"},
    {18, "hostOffline"},
    {19, "operationBlocked"},
    {20, "patchPrecheckFailed"},
    {21, "operationFailed"},
    {22, "missingAuditRecord"},
    {23, "alteredAuditRecord"},
    {24, "notEnoughResources"},
    {25, "incorrectState"},
    {26, "featureUnauthorized"},
    /* json-rpc-peer's */
    {-32700, "invalidJson"},
    {-32600, "invalidRequest"},
    {-32601, "methodNotFound"},
    {-32602, "invalidParams"},
    {-32000, "unknownError"},
};

const char *cli_xo_error_name(int code)
{
    for (size_t i = 0; i < sizeof(XO_ERROR_NAMES) / sizeof(XO_ERROR_NAMES[0]); i++)
        if (XO_ERROR_NAMES[i].code == code)
            return XO_ERROR_NAMES[i].name;
    return NULL;
}

int cli_fail(cli_err_t *e, int status, const char *fmt, ...)
{
    va_list ap;

    e->status = status;
    va_start(ap, fmt);
    vsnprintf(e->line, sizeof(e->line), fmt, ap);
    va_end(ap);
    for (char *p = e->line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return status;
}

/* "; property @.id: must be string" for each of ajv's errors in data.errors. */
static void param_errors(json_object *data, char *out, size_t size)
{
    json_object *errors, *it, *path, *msg;
    size_t used = 0;

    out[0] = '\0';
    if (!json_object_object_get_ex(data, "errors", &errors) ||
        !json_object_is_type(errors, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(errors) && used < size; i++) {
        const char *p = "", *m = "";
        int n;
        it = json_object_array_get_idx(errors, i);
        if (json_object_object_get_ex(it, "instancePath", &path))
            p = json_object_get_string(path);
        if (json_object_object_get_ex(it, "message", &msg))
            m = json_object_get_string(msg);
        /* ajv's instancePath is "/a/b"; xo-cli prints it as @.a/b, @ alone for the root */
        n = snprintf(out + used, size - used, "; property @%s%s: %s", *p ? "." : "",
                     *p == '/' ? p + 1 : p, m);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int cli_fail_xo(cli_err_t *e, json_object *error)
{
    json_object *v, *data = NULL;
    int code = -32000;
    const char *message = "", *name;
    char detail[512] = "";
    int status;

    if (json_object_object_get_ex(error, "code", &v))
        code = json_object_get_int(v);
    if (json_object_object_get_ex(error, "message", &v))
        message = json_object_get_string(v);
    json_object_object_get_ex(error, "data", &data);
    name = cli_xo_error_name(code);
    if (code == 10 && data)
        param_errors(data, detail, sizeof(detail));
    else if (data &&
             !(json_object_is_type(data, json_type_object) &&
               json_object_object_length(data) == 0) &&
             !(json_object_is_type(data, json_type_string) &&
               strstr(message, json_object_get_string(data))))
        snprintf(detail, sizeof(detail), " %s",
                 json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    status = code == 3 ? XO_EXIT_AUTH : XO_EXIT_FAILURE;
    return cli_fail(e, status, "%s (%d): %s%s", name ? name : "error", code, message, detail);
}

int cli_fail_transport(cli_err_t *e, xo_err_t err, const char *detail)
{
    switch (err) {
    case XO_ERR_CONNECT:
    case XO_ERR_TIMEOUT:
        return cli_fail(e, XO_EXIT_UNREACH, "%s", detail);
    case XO_ERR_TLS:
        return cli_fail(e, XO_EXIT_TLS, "%s", detail);
    default:
        return cli_fail(e, XO_EXIT_FAILURE, "%s", detail);
    }
}
