/*
 * cmd_register.c - `register` and `unregister`: sign in once with a password, keep only
 * a token (config.h). The password lives on the stack for the sign-in and is wiped
 * right after; it is never written anywhere.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "config.h"
#include "errors.h"
#include "password.h"
#include "rpc_client.h"
#include "session.h"

typedef struct {
    bool allow_unauthorized;
    const char *expires_in; /* NULL: the server's default */
    const char *token;      /* --token: register an existing token */
    const char *positional[3];
    int npositional;
} register_args_t;

/* An option's value: --name=value or --name value. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (!strcmp(argv[*i], name) && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int parse_args(int argc, char **argv, register_args_t *a, cli_err_t *e)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--allowUnauthorized") || !strcmp(argv[i], "--au"))
            a->allow_unauthorized = true;
        else if ((v = option_value(argc, argv, &i, "--expiresIn")))
            a->expires_in = v;
        else if ((v = option_value(argc, argv, &i, "--token")))
            a->token = v;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_fail(e, XO_EXIT_USAGE, "register: unknown option %s", argv[i]);
        else if (a->npositional == 3)
            return cli_fail(e, XO_EXIT_USAGE, "register: too many arguments");
        else
            a->positional[a->npositional++] = argv[i];
    }
    if (a->npositional < (a->token ? 1 : 2))
        return cli_fail(e, XO_EXIT_USAGE,
                        "register: expected <url> <user> [<password>] (see "
                        "`" CLI_PROG " register --help`)");
    return 0;
}

/* session.signIn with a password (or the token), then token.create. */
static int sign_in_and_create_token(const cli_opts_t *o, cli_rpc_t *c, const register_args_t *a,
                                    const char *password, char *token, size_t size, cli_err_t *e)
{
    json_object *params = json_object_new_object(), *result = NULL, *v;
    char errstr[256];
    int64_t ms;
    int status;

    if (a->token) {
        json_object_object_add(params, "token", json_object_new_string(a->token));
    } else {
        json_object_object_add(params, "email", json_object_new_string(a->positional[1]));
        json_object_object_add(params, "password", json_object_new_string(password));
    }
    status = cli_call(o, c, "session.signIn", params, &result, e);
    json_object_put(params);
    if (status)
        goto out;
    if (json_object_object_get_ex(result, "email", &v))
        fprintf(stderr, "Successfully logged with %s\n", json_object_get_string(v));
    json_object_put(result);
    result = NULL;
    if (a->token) {
        snprintf(token, size, "%s", a->token);
        goto out;
    }
    params = json_object_new_object();
    if (a->expires_in) {
        if (cli_parse_duration_ms(a->expires_in, &ms, errstr, sizeof(errstr)) != XO_OK) {
            json_object_put(params);
            status = cli_fail(e, XO_EXIT_USAGE, "--expiresIn: %s", errstr);
            goto out;
        }
        json_object_object_add(params, "expiresIn", json_object_new_int64(ms));
    }
    status = cli_call(o, c, "token.create", params, &result, e);
    json_object_put(params);
    if (!status && (!json_object_is_type(result, json_type_string) ||
                    json_object_get_string_len(result) >= (int)size))
        status = cli_fail(e, XO_EXIT_FAILURE, "token.create did not answer a token");
    if (!status)
        snprintf(token, size, "%s", json_object_get_string(result));
out:
    json_object_put(result);
    return status;
}

int cli_cmd_register(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    register_args_t a;
    cli_config_t cfg;
    cli_url_t url;
    cli_rpc_t *c = NULL;
    char password[1024] = "", path[1024], errstr[512];
    int status;
    xo_err_t err;

    status = parse_args(argc, argv, &a, e);
    if (status)
        return status;
    if (cli_url_parse(a.positional[0], &url, errstr, sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_USAGE, "register: %s", errstr);
    if (cli_config_path(path, sizeof(path), errstr, sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_CONFIG, "%s", errstr);
    if (!a.token && a.npositional == 3)
        snprintf(password, sizeof(password), "%s", a.positional[2]);
    else if (!a.token && cli_read_password(o->stdin_tty, password, sizeof(password), errstr,
                                           sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_USAGE, "%s", errstr);
    memset(&cfg, 0, sizeof(cfg));
    cfg.allow_unauthorized = a.allow_unauthorized || o->allow_unauthorized;
    err = cli_rpc_open(&url, cfg.allow_unauthorized, o->timeout_ms, &c, errstr, sizeof(errstr));
    if (err != XO_OK) {
        status = cli_fail_transport(e, err, errstr);
        goto out;
    }
    status = sign_in_and_create_token(o, c, &a, password, cfg.token, sizeof(cfg.token), e);
    if (status)
        goto out;
    cli_url_http(&url, cfg.server, sizeof(cfg.server));
    if (cli_config_save(path, &cfg, errstr, sizeof(errstr)) != XO_OK)
        status = cli_fail(e, XO_EXIT_CONFIG, "%s", errstr);
out:
    explicit_bzero(password, sizeof(password));
    explicit_bzero(&cfg, sizeof(cfg));
    cli_rpc_close(c);
    return status;
}

int cli_cmd_unregister(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    char path[1024], errstr[512];

    (void)o;
    (void)argv;
    if (argc > 1)
        return cli_fail(e, XO_EXIT_USAGE, "unregister: takes no argument");
    if (cli_config_path(path, sizeof(path), errstr, sizeof(errstr)) != XO_OK ||
        cli_config_remove(path, errstr, sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_CONFIG, "%s", errstr);
    return 0;
}
