/*
 * session.c - from the registered server to a signed-in connection (session.h).
 */
#include "session.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "errors.h"

int cli_server_resolve(const cli_opts_t *o, cli_server_t *s, cli_err_t *e)
{
    char path[1024], errstr[512];
    cli_config_t cfg;
    bool found;

    memset(s, 0, sizeof(*s));
    if (o->url) {
        if (cli_url_parse(o->url, &s->url, errstr, sizeof(errstr)) != XO_OK)
            return cli_fail(e, XO_EXIT_USAGE, "--url: %s", errstr);
        if (!s->url.token[0])
            return cli_fail(e, XO_EXIT_USAGE,
                            "--url: the URL must include a token: https://<token>@host/");
        snprintf(s->token, sizeof(s->token), "%s", s->url.token);
        s->allow_unauthorized = o->allow_unauthorized;
        return 0;
    }
    if (cli_config_path(path, sizeof(path), errstr, sizeof(errstr)) != XO_OK ||
        cli_config_load(path, &cfg, &found, errstr, sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_CONFIG, "%s", errstr);
    if (!found || !cfg.server[0] || !cfg.token[0])
        return cli_fail(e, XO_EXIT_CONFIG,
                        "not registered: run `" CLI_PROG " register <url> <user>` first");
    if (cli_url_parse(cfg.server, &s->url, errstr, sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_CONFIG, "%s: %s", path, errstr);
    snprintf(s->token, sizeof(s->token), "%s", cfg.token);
    s->allow_unauthorized = cfg.allow_unauthorized || o->allow_unauthorized;
    return 0;
}

int cli_call(const cli_opts_t *o, cli_rpc_t *c, const char *method, json_object *params,
             json_object **result, cli_err_t *e)
{
    json_object *error = NULL;
    char errstr[512];
    xo_err_t err;
    int status;

    err = cli_rpc_call(c, method, params, o->timeout_ms, result, &error, errstr, sizeof(errstr));
    if (err != XO_OK)
        return cli_fail_transport(e, err, errstr);
    if (!error)
        return 0;
    status = cli_fail_xo(e, error);
    json_object_put(error);
    return status;
}

int cli_connect(const cli_opts_t *o, cli_rpc_t **out, cli_err_t *e)
{
    cli_server_t s;
    cli_rpc_t *c = NULL;
    json_object *params, *user = NULL;
    char errstr[512];
    xo_err_t err;
    int status;

    *out = NULL;
    status = cli_server_resolve(o, &s, e);
    if (status)
        return status;
    err = cli_rpc_open(&s.url, s.allow_unauthorized, o->timeout_ms, &c, errstr, sizeof(errstr));
    if (err != XO_OK)
        return cli_fail_transport(e, err, errstr);
    params = json_object_new_object();
    json_object_object_add(params, "token", json_object_new_string(s.token));
    status = cli_call(o, c, "session.signIn", params, &user, e);
    json_object_put(params);
    json_object_put(user);
    if (status) {
        size_t n = strlen(e->line);
        if (status == XO_EXIT_AUTH)
            snprintf(e->line + n, sizeof(e->line) - n,
                     " (the registered token was refused: register again)");
        cli_rpc_close(c);
        return status;
    }
    *out = c;
    return 0;
}
