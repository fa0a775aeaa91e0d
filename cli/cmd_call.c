/*
 * cmd_call.c - `xo-fleet <method> name=value...` (any JSON-RPC method, with a progress bar
 * on a terminal's stderr while it runs), `<method> --help` and `watch` (the `all`
 * notifications, NDJSON for scripts).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "errors.h"
#include "interrupt.h"
#include "output.h"
#include "progress.h"
#include "session.h"

#define BAR_DELAY_MS 1000 /* no bar for a call that answers within a second */

typedef struct {
    cli_progress_t p;
    bool enabled, drawn;
    int64_t start_ms;
} bar_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static void bar_draw(void *opaque)
{
    bar_t *b = opaque;
    char line[512];
    double f, elapsed = (double)(now_ms() - b->start_ms) / 1000.0;

    if (!b->enabled || elapsed * 1000 < BAR_DELAY_MS || !cli_progress_fraction(&b->p, &f))
        return;
    cli_progress_render(line, sizeof(line), terminal_columns(), b->p.label, f, elapsed);
    fputs(line, stderr);
    fflush(stderr);
    b->drawn = true;
}

static void bar_notify(void *opaque, const char *method, json_object *params)
{
    bar_t *b = opaque;
    if (strcmp(method, "all") != 0 || !params)
        return;
    cli_progress_feed(&b->p, params);
    bar_draw(b);
}

static void bar_end(bar_t *b)
{
    if (b->drawn)
        fputs(cli_progress_clear(), stderr);
}

static int print_result(const cli_opts_t *o, cli_out_mode_t mode, json_object *result, cli_err_t *e)
{
    struct printbuf *pb = printbuf_new();
    int status;

    /* a string result is printed as is unless --json (xo-cli prints a new id so) */
    cli_format_value(pb, result, mode, o->out != CLI_OUT_JSON);
    status = cli_write_stdout(pb, e);
    printbuf_free(pb);
    return status;
}

int cli_cmd_call(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    const char *method = argv[0];
    cli_out_mode_t mode = cli_out_resolve(o);
    cli_opts_t opts = *o;
    json_object *params = NULL, *result = NULL;
    cli_rpc_t *c = NULL;
    char errstr[512];
    bar_t bar;
    int first = 1, status;

    while (first < argc && !strcmp(argv[first], "--json")) {
        opts.out = mode = CLI_OUT_JSON;
        first++;
    }
    if (first < argc && !strcmp(argv[first], "--help"))
        return cli_cmd_method_help(o, method, e);
    if (cli_parse_params(argc - first, argv + first, &params, errstr, sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_USAGE, "%s: %s", method, errstr);
    status = cli_connect(o, &c, e);
    if (status)
        goto out;
    memset(&bar, 0, sizeof(bar));
    bar.enabled = o->stderr_tty;
    bar.start_ms = now_ms();
    cli_rpc_on_notify(c, bar_notify, &bar);
    cli_rpc_on_tick(c, bar_draw, &bar);
    status = cli_call(o, c, method, params, &result, e);
    bar_end(&bar);
    if (!status)
        status = print_result(&opts, mode, result, e);
out:
    json_object_put(result);
    json_object_put(params);
    cli_rpc_close(c);
    return status;
}

int cli_cmd_method_help(const cli_opts_t *o, const char *method, cli_err_t *e)
{
    json_object *info = NULL, *minfo, *one = NULL;
    struct printbuf *pb = NULL;
    cli_rpc_t *c = NULL;
    int status;

    status = cli_connect(o, &c, e);
    if (status)
        return status;
    status = cli_call(o, c, "system.getMethodsInfo", NULL, &info, e);
    if (status)
        goto out;
    if (!json_object_object_get_ex(info, method, &minfo)) {
        status = cli_fail(e, XO_EXIT_FAILURE,
                          "methodNotFound: no method %s on this server "
                          "(see `" CLI_PROG " list-commands`)",
                          method);
        goto out;
    }
    one = json_object_new_object();
    json_object_object_add(one, method, json_object_get(minfo));
    pb = printbuf_new();
    sprintbuf(pb, "Usage: %s ", CLI_PROG);
    cli_format_methods(pb, one, NULL, 0, false);
    status = cli_write_stdout(pb, e);
out:
    if (pb)
        printbuf_free(pb);
    json_object_put(one);
    json_object_put(info);
    cli_rpc_close(c);
    return status;
}

typedef struct {
    cli_out_mode_t mode;
    long count;
    bool write_failed;
} watch_t;

static void watch_notify(void *opaque, const char *method, json_object *params)
{
    watch_t *w = opaque;
    struct printbuf *pb = printbuf_new();
    size_t n;

    if (!pb)
        return;
    cli_format_notification(pb, method, params, w->mode);
    n = (size_t)printbuf_length(pb);
    if (fwrite(pb->buf, 1, n, stdout) != n || fflush(stdout) != 0) {
        /* a closed pipe (`watch | head`): stop the loop as Ctrl-C would */
        w->write_failed = true;
        cli_interrupted = 1;
    }
    w->count++;
    printbuf_free(pb);
}

int cli_cmd_watch(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    watch_t w = {cli_out_resolve(o), 0, false};
    long max = 0;
    cli_rpc_t *c = NULL;
    char errstr[512], *end;
    xo_err_t err;
    int status;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ndjson") || !strcmp(argv[i], "--json")) {
            w.mode = CLI_OUT_JSON;
        } else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            max = strtol(argv[++i], &end, 10);
            if (*end || max <= 0)
                return cli_fail(e, XO_EXIT_USAGE, "watch: --count needs a positive number");
        } else {
            return cli_fail(e, XO_EXIT_USAGE, "watch: unknown argument %s", argv[i]);
        }
    }
    status = cli_connect(o, &c, e);
    if (status)
        return status;
    cli_rpc_on_notify(c, watch_notify, &w);
    err = cli_rpc_listen(c, max, errstr, sizeof(errstr));
    if (w.write_failed)
        status = cli_fail(e, XO_EXIT_FAILURE, "cannot write the output");
    else if (err != XO_OK)
        status = cli_fail_transport(e, err, errstr);
    if (o->stderr_tty && !status)
        fprintf(stderr, "\n%ld notifications\n", w.count);
    cli_rpc_close(c);
    return status;
}
