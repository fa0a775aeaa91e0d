/*
 * cmd_list.c - `list-commands` (system.getMethodsInfo, filtered by glob patterns) and
 * `list-objects` (xo.getAllObjects with a filter built from prop=value, restricted to the
 * --prop properties), as xo-cli lists them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "errors.h"
#include "output.h"
#include "session.h"

#define MAX_PATTERNS 64
#define MAX_PROPS    32

/* The methods matching the patterns, as a new object. */
static json_object *pick_methods(json_object *info, const char *const *patterns, int n)
{
    json_object *out = json_object_new_object();

    json_object_object_foreach(info, name, minfo)
    {
        bool match = n == 0;
        for (int i = 0; i < n && !match; i++)
            match = cli_glob_match(patterns[i], name);
        if (match)
            json_object_object_add(out, name, json_object_get(minfo));
    }
    return out;
}

int cli_cmd_list_commands(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    const char *patterns[MAX_PATTERNS];
    int npatterns = 0, status;
    bool brief = false;
    cli_out_mode_t mode = cli_out_resolve(o);
    json_object *info = NULL;
    struct printbuf *pb = NULL;
    cli_rpc_t *c = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            mode = CLI_OUT_JSON;
        else if (!strcmp(argv[i], "--brief"))
            brief = true;
        else if (argv[i][0] == '-')
            return cli_fail(e, XO_EXIT_USAGE, "list-commands: unknown option %s", argv[i]);
        else if (npatterns == MAX_PATTERNS)
            return cli_fail(e, XO_EXIT_USAGE, "list-commands: more than %d patterns", MAX_PATTERNS);
        else
            patterns[npatterns++] = argv[i];
    }
    status = cli_connect(o, &c, e);
    if (status)
        return status;
    status = cli_call(o, c, "system.getMethodsInfo", NULL, &info, e);
    if (status)
        goto out;
    pb = printbuf_new();
    if (brief || mode == CLI_OUT_HUMAN) {
        cli_format_methods(pb, info, patterns, npatterns, brief);
    } else {
        json_object *picked = pick_methods(info, patterns, npatterns);
        cli_format_value(pb, picked, CLI_OUT_JSON, false);
        json_object_put(picked);
    }
    status = cli_write_stdout(pb, e);
out:
    if (pb)
        printbuf_free(pb);
    json_object_put(info);
    cli_rpc_close(c);
    return status;
}

/* An array of the objects (of the map from getAllObjects), each cut to the props. */
static json_object *objects_array(json_object *map, const char *const *props, int nprops)
{
    json_object *out = json_object_new_array();

    json_object_object_foreach(map, id, obj)
    {
        (void)id;
        if (nprops == 0) {
            json_object_array_add(out, json_object_get(obj));
            continue;
        }
        json_object *picked = json_object_new_object();
        for (int i = 0; i < nprops; i++) {
            json_object *v;
            if (json_object_object_get_ex(obj, props[i], &v))
                json_object_object_add(picked, props[i], json_object_get(v));
        }
        json_object_array_add(out, picked);
    }
    return out;
}

static bool any_has(json_object *array, const char *prop)
{
    for (size_t i = 0; i < json_object_array_length(array); i++)
        if (json_object_object_get_ex(json_object_array_get_idx(array, i), prop, NULL))
            return true;
    return false;
}

static void print_objects(struct printbuf *pb, json_object *array, const char *const *props,
                          int nprops, cli_out_mode_t mode)
{
    static const char *const DEFAULT_COLUMNS[] = {"id", "type", "name_label", "power_state"};

    if (mode == CLI_OUT_JSON) {
        cli_format_value(pb, array, CLI_OUT_JSON, false);
    } else if (nprops > 0) {
        cli_format_table(pb, array, props, nprops);
    } else {
        /* power_state only where some object has one (VMs, hosts) */
        cli_format_table(pb, array, DEFAULT_COLUMNS, any_has(array, "power_state") ? 4 : 3);
    }
}

/* Split list-objects' arguments: --<property> anywhere (xo-cli wants them first; either
 * order is accepted), --json, and <property>=<value> words. */
static int split_args(int argc, char **argv, const char **props, int *nprops, char **words,
                      int *nwords, cli_out_mode_t *mode, cli_err_t *e)
{
    *nprops = *nwords = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            *mode = CLI_OUT_JSON;
        else if (strncmp(argv[i], "--", 2) != 0 || !argv[i][2])
            words[(*nwords)++] = argv[i];
        else if (*nprops == MAX_PROPS)
            return cli_fail(e, XO_EXIT_USAGE, "list-objects: at most %d properties", MAX_PROPS);
        else
            props[(*nprops)++] = argv[i] + 2;
    }
    return 0;
}

int cli_cmd_list_objects(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    const char *props[MAX_PROPS];
    char **words = calloc((size_t)argc, sizeof(*words));
    int nprops, nwords, status;
    json_object *filter = NULL, *params = NULL, *objects = NULL, *array = NULL;
    struct printbuf *pb = NULL;
    cli_out_mode_t mode = cli_out_resolve(o);
    cli_rpc_t *c = NULL;
    char errstr[512];

    if (!words)
        return cli_fail(e, XO_EXIT_FAILURE, "out of memory");
    status = split_args(argc, argv, props, &nprops, words, &nwords, &mode, e);
    if (status)
        goto out;
    if (nwords > 0 && cli_parse_params(nwords, words, &filter, errstr, sizeof(errstr)) != XO_OK) {
        status = cli_fail(e, XO_EXIT_USAGE, "list-objects: %s", errstr);
        goto out;
    }
    params = json_object_new_object();
    if (filter)
        json_object_object_add(params, "filter", filter);
    status = cli_connect(o, &c, e);
    if (status)
        goto out;
    status = cli_call(o, c, "xo.getAllObjects", params, &objects, e);
    if (status)
        goto out;
    if (!json_object_is_type(objects, json_type_object)) {
        status = cli_fail(e, XO_EXIT_FAILURE, "xo.getAllObjects did not answer a map");
        goto out;
    }
    array = objects_array(objects, props, nprops);
    pb = printbuf_new();
    print_objects(pb, array, props, nprops, mode);
    status = cli_write_stdout(pb, e);
out:
    if (pb)
        printbuf_free(pb);
    json_object_put(array);
    json_object_put(objects);
    json_object_put(params);
    cli_rpc_close(c);
    free(words);
    return status;
}
