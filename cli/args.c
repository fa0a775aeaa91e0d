/*
 * args.c - parsing the words of a command line into JSON parameters, durations and
 * method patterns (args.h). Pure functions, bounded: a pattern's brace expansion is
 * limited so that a hostile pattern cannot blow up.
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_GLOB_EXPANSIONS 64
#define MAX_PATTERN         512

xo_err_t cli_param_value(const char *text, json_object **out, char *errstr, size_t errstr_size)
{
    if (!strncmp(text, "json:", 5)) {
        enum json_tokener_error jerr;
        json_tokener *tok = json_tokener_new();
        json_object *v;
        size_t n = strlen(text + 5);

        if (!tok)
            return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
        v = json_tokener_parse_ex(tok, text + 5, (int)n);
        jerr = json_tokener_get_error(tok);
        if (jerr == json_tokener_success) {
            /* the whole text must be one JSON value: only spaces may follow it */
            for (size_t i = (size_t)json_tokener_get_parse_end(tok); i < n; i++)
                if (!isspace((unsigned char)text[5 + i]))
                    jerr = json_tokener_error_parse_unexpected;
        } else if (jerr == json_tokener_continue) {
            /* a number or literal ends with the text: the terminating NUL says so */
            v = json_tokener_parse_ex(tok, "", 1);
            jerr = json_tokener_get_error(tok);
        }
        if (jerr != json_tokener_success) {
            json_object_put(v);
            v = NULL;
        }
        json_tokener_free(tok);
        if (jerr != json_tokener_success)
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "invalid JSON: %s",
                             json_tokener_error_desc(jerr));
        *out = v; /* NULL for the JSON null */
        return XO_OK;
    }
    if (!strcmp(text, "true") || !strcmp(text, "false"))
        *out = json_object_new_boolean(text[0] == 't');
    else
        *out = json_object_new_string(text);
    return *out ? XO_OK : xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
}

xo_err_t cli_parse_params(int argc, char *const *argv, json_object **out, char *errstr,
                          size_t errstr_size)
{
    json_object *params = json_object_new_object();
    xo_err_t err = XO_OK;

    if (!params)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        char name[256], detail[200];
        json_object *v = NULL;
        size_t n;

        if (!eq || eq == argv[i]) {
            err = xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                            "invalid argument '%s': expected <name>=<value>", argv[i]);
            goto out;
        }
        n = (size_t)(eq - argv[i]);
        if (n >= sizeof(name)) {
            err = xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid argument: name too long");
            goto out;
        }
        memcpy(name, argv[i], n);
        name[n] = '\0';
        err = cli_param_value(eq + 1, &v, detail, sizeof(detail));
        if (err != XO_OK) {
            xo_seterr(errstr, errstr_size, err, "invalid argument '%s': %s", name, detail);
            goto out;
        }
        json_object_object_add(params, name, v);
    }
out:
    if (err != XO_OK) {
        json_object_put(params);
        return err;
    }
    *out = params;
    return XO_OK;
}

static const struct {
    const char *unit;
    int64_t ms;
} UNITS[] = {
    {"ms", 1},
    {"millisecond", 1},
    {"milliseconds", 1},
    {"s", 1000},
    {"sec", 1000},
    {"second", 1000},
    {"seconds", 1000},
    {"m", 60000},
    {"min", 60000},
    {"minute", 60000},
    {"minutes", 60000},
    {"h", 3600000},
    {"hour", 3600000},
    {"hours", 3600000},
    {"d", 86400000},
    {"day", 86400000},
    {"days", 86400000},
    {"w", 604800000},
    {"week", 604800000},
    {"weeks", 604800000},
    {"month", 2592000000},
    {"months", 2592000000},
    {"y", 31536000000},
    {"year", 31536000000},
    {"years", 31536000000},
};

xo_err_t cli_parse_duration_ms(const char *s, int64_t *ms, char *errstr, size_t errstr_size)
{
    char *end;
    long long n;
    int64_t mult = 0;

    if (!isdigit((unsigned char)s[0]))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                         "invalid duration '%s': expected a number and a unit (30d, 12h)", s);
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno || n <= 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                         "invalid duration '%s': not a positive number", s);
    while (*end == ' ')
        end++;
    if (!*end) {
        mult = 1;
    } else {
        for (size_t i = 0; i < sizeof(UNITS) / sizeof(UNITS[0]); i++)
            if (!strcasecmp(end, UNITS[i].unit))
                mult = UNITS[i].ms;
    }
    if (!mult)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                         "invalid duration '%s': unknown unit '%s'", s, end);
    if (n > INT64_MAX / mult)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "invalid duration '%s': too long", s);
    *ms = (int64_t)n * mult;
    return XO_OK;
}

/* The matching '}' of the '{' at p, or NULL. */
static const char *closing_brace(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && --depth == 0)
            return p;
    }
    return NULL;
}

/* Expand the first {a,b} of pattern and try each alternative; *budget bounds the work. */
static bool glob_expand(const char *pattern, const char *name, int *budget)
{
    const char *open = strchr(pattern, '{'), *close, *alt;
    char buf[MAX_PATTERN];

    if (--*budget < 0)
        return false;
    close = open ? closing_brace(open) : NULL;
    if (!close)
        return fnmatch(pattern, name, 0) == 0;
    alt = open + 1;
    while (alt <= close) {
        /* the end of this alternative: a ',' or the '}' at depth 0 */
        const char *p = alt;
        int depth = 0;
        size_t head = (size_t)(open - pattern), len, tail = strlen(close + 1);
        for (; p < close; p++) {
            if (*p == '{')
                depth++;
            else if (*p == '}')
                depth--;
            else if (*p == ',' && depth == 0)
                break;
        }
        len = (size_t)(p - alt);
        if (head + len + tail + 1 > sizeof(buf))
            return false;
        memcpy(buf, pattern, head);
        memcpy(buf + head, alt, len);
        memcpy(buf + head + len, close + 1, tail + 1);
        if (glob_expand(buf, name, budget))
            return true;
        alt = p + 1;
    }
    return false;
}

bool cli_glob_match(const char *pattern, const char *name)
{
    int budget = MAX_GLOB_EXPANSIONS;
    if (strlen(pattern) >= MAX_PATTERN)
        return false;
    return glob_expand(pattern, name, &budget);
}

int cli_take_flags(int argc, char *const *argv, const char **flags, int max_flags, int *nflags)
{
    int i = 0;

    *nflags = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return i + 1;
        if (strncmp(argv[i], "--", 2) != 0 || !argv[i][2])
            break;
        if (*nflags < max_flags)
            flags[(*nflags)++] = argv[i] + 2;
    }
    return i;
}
