/*
 * cmd_rest.c - `rest get|post|put|patch|delete <path> [name=value...]`: one request to the
 * REST API with the registered token, as xo-cli's `rest` sends it. A GET's parameters
 * become the query; the others' a JSON body (the same name=value rules as a method call).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "errors.h"
#include "output.h"
#include "rest_client.h"
#include "session.h"

#define REST_PREFIX "/rest/v0"

static const struct {
    const char *word;
    const char *method;
} VERBS[] = {{"get", "GET"},     {"post", "POST"},     {"put", "PUT"},
             {"patch", "PATCH"}, {"delete", "DELETE"}, {"del", "DELETE"}};

static const char *http_method(const char *word)
{
    for (size_t i = 0; i < sizeof(VERBS) / sizeof(VERBS[0]); i++)
        if (!strcmp(word, VERBS[i].word))
            return VERBS[i].method;
    return NULL;
}

/* "/rest/v0" + the path (given with or without the prefix), no ".." segment. */
static int build_target(const char *path, struct printbuf *target, cli_err_t *e)
{
    size_t plen = strcspn(path, "?");
    const char *p = path;

    if (!strncmp(p, REST_PREFIX, strlen(REST_PREFIX)) &&
        (p[strlen(REST_PREFIX)] == '/' || p[strlen(REST_PREFIX)] == '\0' ||
         p[strlen(REST_PREFIX)] == '?'))
        p += strlen(REST_PREFIX), plen -= strlen(REST_PREFIX);
    for (const char *s = p; s < p + plen; s++)
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') &&
            (s + 2 == p + plen || s[2] == '/'))
            return cli_fail(e, XO_EXIT_USAGE, "rest: invalid path %s", path);
    sprintbuf(target, "%s%s%s", REST_PREFIX, *p && *p != '/' && *p != '?' ? "/" : "", p);
    return 0;
}

/* name=value as query arguments (escaped); `json:` values are sent as their JSON text. */
static int add_query(int argc, char **argv, struct printbuf *target, cli_err_t *e)
{
    bool has_query = strchr(target->buf, '?') != NULL;
    CURL *h = curl_easy_init();
    int status = 0;

    if (!h)
        return cli_fail(e, XO_EXIT_FAILURE, "out of memory");
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '='), *value;
        char *name, *val;
        if (!eq || eq == argv[i]) {
            status = cli_fail(e, XO_EXIT_USAGE,
                              "rest: invalid argument '%s': expected "
                              "<name>=<value>",
                              argv[i]);
            break;
        }
        value = !strncmp(eq + 1, "json:", 5) ? eq + 6 : eq + 1;
        name = curl_easy_escape(h, argv[i], (int)(eq - argv[i]));
        val = curl_easy_escape(h, value, 0);
        sprintbuf(target, "%c%s=%s", has_query ? '&' : '?', name ? name : "", val ? val : "");
        has_query = true;
        curl_free(name);
        curl_free(val);
    }
    curl_easy_cleanup(h);
    return status;
}

/* The error line of an HTTP error answer: the XO error it carries, or its text. */
static int fail_http(const cli_rest_response_t *r, cli_err_t *e)
{
    json_object *body = json_tokener_parse(r->body->buf), *v;
    int status = r->status == 401 ? XO_EXIT_AUTH : XO_EXIT_FAILURE;
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "HTTP %ld: ", r->status);
    if (json_object_object_get_ex(body, "code", &v) &&
        json_object_object_get_ex(body, "message", NULL)) {
        cli_err_t xo;
        cli_fail_xo(&xo, body);
        cli_fail(e, status, "%s%s", prefix, xo.line);
    } else if (json_object_object_get_ex(body, "error", &v)) {
        cli_fail(e, status, "%s%s", prefix, json_object_get_string(v));
    } else {
        cli_fail(e, status, "%s%.200s", prefix, r->body->buf);
    }
    json_object_put(body);
    return status;
}

static void print_ndjson(struct printbuf *out, const char *text, cli_out_mode_t mode)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        char *line = strndup(text, n);
        json_object *v = line ? json_tokener_parse(line) : NULL;
        if (v || (line && !strcmp(line, "null")))
            cli_format_value(out, v, mode == CLI_OUT_JSON ? CLI_OUT_JSON : CLI_OUT_HUMAN, false);
        json_object_put(v);
        free(line);
        text += n + (text[n] == '\n');
    }
}

static int print_answer(const cli_opts_t *o, const cli_rest_response_t *r, cli_err_t *e)
{
    struct printbuf *out = printbuf_new();
    cli_out_mode_t mode = cli_out_resolve(o);
    int status;

    if (!strcmp(r->content_type, "application/json") && printbuf_length(r->body) > 0) {
        json_object *v = json_tokener_parse(r->body->buf);
        if (!v && strcmp(r->body->buf, "null") != 0) {
            printbuf_free(out);
            return cli_fail(e, XO_EXIT_FAILURE, "the server's answer is not JSON");
        }
        cli_format_value(out, v, mode, false);
        json_object_put(v);
    } else if (!strcmp(r->content_type, "application/x-ndjson")) {
        print_ndjson(out, r->body->buf, mode);
    } else {
        printbuf_memappend(out, r->body->buf, printbuf_length(r->body));
    }
    status = cli_write_stdout(out, e);
    printbuf_free(out);
    return status;
}

/* The request's JSON body from name=value (NULL when there is none). */
static int request_body(const char *method, int argc, char **argv, char **body, cli_err_t *e)
{
    json_object *params;
    char errstr[512];

    *body = NULL;
    if (!strcmp(method, "GET") || !strcmp(method, "DELETE") || argc == 0)
        return 0;
    if (cli_parse_params(argc, argv, &params, errstr, sizeof(errstr)) != XO_OK)
        return cli_fail(e, XO_EXIT_USAGE, "rest: %s", errstr);
    *body = strdup(json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(params);
    return *body ? 0 : cli_fail(e, XO_EXIT_FAILURE, "out of memory");
}

int cli_cmd_rest(const cli_opts_t *o, int argc, char **argv, cli_err_t *e)
{
    cli_opts_t opts = *o;
    const char *method;
    struct printbuf *target = NULL;
    cli_rest_response_t resp = {0};
    cli_server_t s;
    char *body = NULL, errstr[512];
    int i = 1, status;
    xo_err_t err;

    for (; i < argc && !strcmp(argv[i], "--json"); i++)
        opts.out = CLI_OUT_JSON;
    if (argc - i < 2 || !(method = http_method(argv[i])))
        return cli_fail(e, XO_EXIT_USAGE,
                        "rest: expected get|post|put|patch|delete <path> [<name>=<value>...]");
    if (!strcmp(method, "DELETE") && argc - i > 2)
        return cli_fail(e, XO_EXIT_USAGE, "rest delete: takes only a path");
    status = cli_server_resolve(o, &s, e);
    if (status)
        return status;
    target = printbuf_new();
    status = build_target(argv[i + 1], target, e);
    if (!status && !strcmp(method, "GET"))
        status = add_query(argc - i - 2, argv + i + 2, target, e);
    if (!status)
        status = request_body(method, argc - i - 2, argv + i + 2, &body, e);
    if (status)
        goto out;
    err = cli_rest_request(&s.url, s.token, s.allow_unauthorized, o->timeout_ms, method,
                           target->buf, body, &resp, errstr, sizeof(errstr));
    if (err != XO_OK)
        status = cli_fail_transport(e, err, errstr);
    else if (resp.status < 200 || resp.status > 299)
        status = fail_http(&resp, e);
    else
        status = print_answer(&opts, &resp, e);
out:
    cli_rest_response_fini(&resp);
    free(body);
    printbuf_free(target);
    return status;
}
