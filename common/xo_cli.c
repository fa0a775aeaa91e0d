/*
 * xo_cli.c - shared daemon command line: options, config loading, logging set-up.
 * Prints to stdout/stderr because it runs at the program boundary; must not exit().
 */
#include "xo_cli.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "xo_log.h"
#include "xo_sign.h"
#include "xo_version.h"

extern char **environ;

static void usage(const xo_cli_info_t *info, FILE *fp)
{
    fprintf(fp,
            "Usage: %s [options]\n%s\n\n"
            "Options:\n"
            "  -c, --config FILE        read settings from FILE (key = value, [sections])\n"
            "      --check-config       load and validate the configuration, print it\n"
            "                           (secrets redacted) and exit\n"
            "  -d, --debug LIST         enable debug contexts (config,xapi,kafka,sync,view,ws,"
            "cmd,all)\n"
            "      --print-config-docs  print the settings table as Markdown and exit\n"
            "  -h, --help               show this help and exit\n"
            "  -V, --version            print the version and exit\n",
            info->prog, info->summary);
    if (info->subcommands)
        fprintf(fp, "\n%s\n", info->subcommands);
    fprintf(fp, "\nSettings (file keys; environment overrides in parentheses):\n");
    xo_config_print_spec(info->spec, info->env_prefix, false, fp);
}

static xo_err_t apply_logging(const xo_config_t *cfg, const char *debug_arg, char *errstr,
                              size_t errstr_size)
{
    xo_log_level_t level;
    const char *debug = debug_arg ? debug_arg : xo_config_get(cfg, "log.debug");

    if (xo_log_level_parse(xo_config_get(cfg, "log.level"), &level) != XO_OK)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "key 'log.level': expected debug, info, warn or error");
    xo_log_set_level(level);
    return xo_log_set_debug(debug ? debug : "", errstr, errstr_size);
}

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"check-config", no_argument, NULL, 'C'},
    {"debug", required_argument, NULL, 'd'},
    {"print-config-docs", no_argument, NULL, 'M'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

xo_cli_action_t xo_cli_parse(const xo_cli_info_t *info, int argc, char **argv,
                             xo_config_t **cfg_out, int *exit_code)
{
    const char *config_path = NULL, *debug = NULL;
    bool check = false;
    char errstr[512];
    xo_config_t *cfg = NULL;
    int opt;

    *cfg_out = NULL;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:d:hV", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            check = true;
            break;
        case 'd':
            debug = optarg;
            break;
        case 'M':
            xo_config_print_spec(info->spec, info->env_prefix, true, stdout);
            *exit_code = XO_EXIT_OK;
            return XO_CLI_EXIT;
        case 'h':
            usage(info, stdout);
            *exit_code = XO_EXIT_OK;
            return XO_CLI_EXIT;
        case 'V':
            printf("%s %s\n", info->prog, XO_VERSION);
            *exit_code = XO_EXIT_OK;
            return XO_CLI_EXIT;
        default:
            fprintf(stderr, "Try '%s --help'.\n", info->prog);
            *exit_code = XO_EXIT_USAGE;
            return XO_CLI_EXIT;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'. Try '%s --help'.\n", info->prog,
                argv[optind], info->prog);
        *exit_code = XO_EXIT_USAGE;
        return XO_CLI_EXIT;
    }
    cfg = xo_config_new(info->spec, info->env_prefix);
    if (!cfg) {
        fprintf(stderr, "%s: out of memory\n", info->prog);
        *exit_code = XO_EXIT_FAILURE;
        return XO_CLI_EXIT;
    }
    if ((config_path && xo_config_load_file(cfg, config_path, errstr, sizeof(errstr)) != XO_OK) ||
        xo_config_apply_env(cfg, environ, errstr, sizeof(errstr)) != XO_OK ||
        xo_config_validate(cfg, errstr, sizeof(errstr)) != XO_OK ||
        apply_logging(cfg, debug, errstr, sizeof(errstr)) != XO_OK) {
        fprintf(stderr, "%s: configuration error: %s\n", info->prog, errstr);
        xo_config_free(cfg);
        *exit_code = XO_EXIT_CONFIG;
        return XO_CLI_EXIT;
    }
    if (check) {
        printf("# %s: configuration OK\n", info->prog);
        xo_config_dump(cfg, stdout);
        xo_config_free(cfg);
        *exit_code = XO_EXIT_OK;
        return XO_CLI_EXIT;
    }
    *cfg_out = cfg;
    return XO_CLI_RUN;
}

int xo_cli_keygen(const char *prog, const char *base, int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    char priv[4096], pub[4096], errstr[512];
    xo_key_t *key = NULL;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (opt != 'o')
            goto usage;
        dir = optarg;
    }
    if (!dir || optind < argc)
        goto usage;
    mkdir(dir, 0700); /* an existing directory is fine; the files are never overwritten */
    snprintf(priv, sizeof(priv), "%s/%s.key", dir, base);
    snprintf(pub, sizeof(pub), "%s/%s.pub", dir, base);
    if (xo_key_generate(&key, errstr, sizeof(errstr)) != XO_OK ||
        xo_key_write_pem(key, priv, pub, errstr, sizeof(errstr)) != XO_OK) {
        fprintf(stderr, "%s keygen: %s\n", prog, errstr);
        xo_key_free(key);
        return XO_EXIT_FAILURE;
    }
    printf("private: %s\npublic: %s\nkey id: %s\n", priv, pub, xo_key_id(key));
    xo_key_free(key);
    return XO_EXIT_OK;
usage:
    fprintf(stderr, "usage: %s keygen --out DIR\n", prog);
    return XO_EXIT_USAGE;
}
