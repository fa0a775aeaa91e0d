/*
 * main.c - xo-fleet, the command-line client of xo-gateway (and of xo-server: it follows
 * xo-cli's conventions). Parses the global options, finds the subcommand in one table
 * (which also holds every --help text), runs it, and is the only place that prints an
 * error (one line on stderr) and chooses the exit status.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "interrupt.h"
#include "xo_version.h"

typedef struct {
    const char *name;
    cli_cmd_fn fn;
    const char *usage; /* after "xo-fleet " */
    const char *help;  /* indented description */
} command_t;

static const command_t COMMANDS[] = {
    {"register", cli_cmd_register,
     "register [--allowUnauthorized] [--expiresIn <duration>] <url> <user> [<password>]\n"
     "  " CLI_PROG " register [--allowUnauthorized] --token <token> <url>",
     "    Sign in to the server at <url> (http(s)://host[:port]) as <user> and keep only a\n"
     "    token in the config file (mode 0600). Without <password>, asks for it without echo\n"
     "    on a terminal, else reads the first line of stdin.\n"
     "    --allowUnauthorized, --au  accept an invalid certificate (self-signed)\n"
     "    --expiresIn <duration>     the token's lifetime: 30d, 12h, 1 month (default: the\n"
     "                               server's, 30 days)\n"
     "    --token <token>            register an existing token instead of signing in\n"},
    {"unregister", cli_cmd_unregister, "unregister", "    Forget the server and its token.\n"},
    {"list-commands", cli_cmd_list_commands, "list-commands [--json] [--brief] [<pattern>...]",
     "    The server's methods (system.getMethodsInfo), with their parameters; optional ones\n"
     "    in brackets. Patterns are globs with braces: '{vm,pool}.*'.\n"
     "    --brief  one line per method: its name, then its parameters' names\n"},
    {"list-objects", cli_cmd_list_objects, "list-objects [--<property>...] [<property>=<value>...]",
     "    The objects of the server (xo.getAllObjects). <property>=<value> keeps the objects\n"
     "    that match (type=VM power_state=Running); --<property> shows only those properties.\n"
     "    A table on a terminal; a JSON array with --json or when piped.\n"},
    {"watch", cli_cmd_watch, "watch [--ndjson] [--count <n>]",
     "    Print the server's notifications (`all`: objects entering, changing and leaving the\n"
     "    view) until Ctrl-C: one JSON object per line with --ndjson or when piped, one line\n"
     "    per object on a terminal. --count <n>: exit after n notifications.\n"},
    {"rest", cli_cmd_rest, "rest [--json] get|post|put|patch|delete <path> [<name>=<value>...]",
     "    One request to the REST API (/rest/v0/<path>) with the registered token. get: the\n"
     "    parameters are the query (fields=name_label,power_state filter=... limit=10);\n"
     "    post, put, patch: a JSON body. Examples:\n"
     "      " CLI_PROG " rest get vms fields=name_label,power_state\n"
     "      " CLI_PROG " rest post vms/<id>/actions/snapshot name_label=before-upgrade\n"
     "      " CLI_PROG " rest patch vms/<id> name_description='web front'\n"},
    {"help", NULL, "help [<command>]", "    This help, or a command's.\n"},
};

#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

static const command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name))
            return &COMMANDS[i];
    return NULL;
}

static void print_command_help(FILE *f, const command_t *c)
{
    fprintf(f, "  %s %s\n%s\n", CLI_PROG, c->usage, c->help);
}

static void print_help(FILE *f)
{
    fprintf(f,
            "Usage: %s [<global options>] <command> [<arguments>]\n\n"
            "Global options:\n"
            "  --url <url>, -u <url>       use this server instead of the registered one; the\n"
            "                              URL carries a token: https://<token>@host/\n"
            "  --allowUnauthorized, --au   accept an invalid certificate (self-signed)\n"
            "  --json                      print JSON (the default when stdout is not a terminal)\n"
            "  --timeout <duration>        give up on the server after this long (10s, 2m)\n"
            "  --help, -h / --version\n\n"
            "Commands:\n",
            CLI_PROG);
    for (size_t i = 0; i < NCOMMANDS; i++)
        print_command_help(f, &COMMANDS[i]);
    fprintf(f,
            "  %s <method> [--json] [<name>=<value>...]\n"
            "    Call a method of the server (see list-commands), e.g. vm.start id=<uuid>.\n"
            "    Values are strings, except true and false (booleans) and json:<JSON>\n"
            "    (number=json:42 tags=json:'[\"a\"]'). `%s <method> --help` shows its\n"
            "    parameters. A progress bar follows long methods on a terminal's stderr.\n\n"
            "Exit status: 0 success, 1 the server answered an error, 2 usage, 3 configuration\n"
            "(not registered), 4 authentication refused, 5 TLS failure, 6 server unreachable.\n"
            "Details and examples: docs/cli.md. %s %s\n",
            CLI_PROG, CLI_PROG, CLI_PROG, XO_VERSION);
}

/* The global options before the command; returns the index of the command, or -1 (e set)
 * or argc (--help / --version handled: *done set). */
static int parse_globals(int argc, char **argv, cli_opts_t *o, bool *done, cli_err_t *e)
{
    char errstr[256];
    int64_t ms;
    int i = 1;

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--allowUnauthorized") || !strcmp(a, "--au")) {
            o->allow_unauthorized = true;
        } else if (!strcmp(a, "--json")) {
            o->out = CLI_OUT_JSON;
        } else if (!strcmp(a, "--url") || !strcmp(a, "-u")) {
            if (++i == argc)
                return cli_fail(e, XO_EXIT_USAGE, "missing value for %s", a), -1;
            o->url = argv[i];
        } else if (!strncmp(a, "--url=", 6)) {
            o->url = a + 6;
        } else if (!strcmp(a, "--timeout")) {
            if (++i == argc || cli_parse_duration_ms(argv[i], &ms, errstr, sizeof(errstr)) ||
                ms > 24LL * 3600 * 1000)
                return cli_fail(e, XO_EXIT_USAGE, "--timeout: expected a duration up to 24h"), -1;
            o->timeout_ms = (int)ms;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            *done = true;
            return argc;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("%s %s\n", CLI_PROG, XO_VERSION);
            *done = true;
            return argc;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail(e, XO_EXIT_USAGE, "unknown option %s (see %s --help)", a, CLI_PROG), -1;
        } else {
            break;
        }
    }
    if (i == argc)
        return cli_fail(e, XO_EXIT_USAGE, "no command (see %s --help)", CLI_PROG), -1;
    return i;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

static int run(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    const command_t *c = find_command(argv[0]);

    if (c && !c->fn) { /* help [<command>] */
        const command_t *about = argc > 1 ? find_command(argv[1]) : NULL;
        if (argc > 1 && !about)
            return cli_cmd_method_help(o, argv[1], e);
        if (about)
            print_command_help(stdout, about);
        else
            print_help(stdout);
        return 0;
    }
    if (c && wants_help(argc, argv)) {
        print_command_help(stdout, c);
        return 0;
    }
    if (c)
        return c->fn(o, argc, argv, e);
    return cli_cmd_call(o, argc, argv, e);
}

int main(int argc, char **argv)
{
    cli_opts_t o;
    cli_err_t e = {0, ""};
    bool done = false;
    int first, status;

    memset(&o, 0, sizeof(o));
    o.stdout_tty = isatty(STDOUT_FILENO);
    o.stderr_tty = isatty(STDERR_FILENO);
    o.stdin_tty = isatty(STDIN_FILENO);
    first = parse_globals(argc, argv, &o, &done, &e);
    if (first < 0 || done) {
        if (first < 0)
            fprintf(stderr, "%s: %s\n", CLI_PROG, e.line);
        return first < 0 ? e.status : 0;
    }
    cli_catch_interrupts();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    status = run(&o, argc - first, argv + first, &e);
    curl_global_cleanup();
    if (status) {
        fflush(stdout);
        fprintf(stderr, "%s: %s\n", CLI_PROG, e.line[0] ? e.line : "failed");
    }
    return status;
}
