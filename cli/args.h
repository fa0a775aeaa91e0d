/*
 * args.h - xo-cli's command-line conventions, as pure functions: `name=value` parameters
 * (`true`/`false` as booleans, `json:` for any JSON value, everything else a string),
 * `--prop` flags, durations (`--expiresIn 30d`) and method-name patterns with braces
 * (`'{vm,pool}.*'`). No I/O; unit tests: tests/unit/test_cli_args.c.
 */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"

/**
 * @brief The JSON value of one parameter value: `json:<JSON>` parsed (any type, taken as
 *        is), `true` / `false` as booleans, anything else the string itself.
 * @param out set to a new reference (caller puts it) on XO_OK
 * @returns XO_OK, XO_ERR_PARSE (bad JSON after `json:`, detail in errstr), XO_ERR_NOMEM.
 */
xo_err_t cli_param_value(const char *text, json_object **out, char *errstr, size_t errstr_size);

/**
 * @brief `name=value` arguments into one JSON object (a later name replaces an earlier).
 * @param out set to a new object (caller puts it) on XO_OK
 * @returns XO_OK, XO_ERR_INVALID (an argument without `=` or with an empty name),
 *          XO_ERR_PARSE (bad `json:` value); errstr names the argument.
 */
xo_err_t cli_parse_params(int argc, char *const *argv, json_object **out, char *errstr,
                          size_t errstr_size);

/**
 * @brief A duration in milliseconds: a bare number is milliseconds; a number followed
 *        (optionally after a space) by a unit: ms, s, m, h, d, w, month, y and their long
 *        forms (seconds, minutes, hours, days, weeks, months, years). A month is 30 days,
 *        a year 365 days.
 * @returns XO_OK, XO_ERR_INVALID (not a positive duration, unknown unit, overflow).
 */
xo_err_t cli_parse_duration_ms(const char *s, int64_t *ms, char *errstr, size_t errstr_size);

/**
 * @brief Does @p name match the glob @p pattern (fnmatch's `*`, `?`, `[...]`, plus
 *        `{a,b}` alternatives, nested, at most 64 expansions deep in total)?
 */
bool cli_glob_match(const char *pattern, const char *name);

/**
 * @brief Take the leading `--name` flags of argv (stopping at the first argument that is
 *        not one, or after `--`). `--name=value` is kept whole in @p flags.
 * @returns how many arguments were flags (argv[0..n-1]); `--` is counted, not stored.
 */
int cli_take_flags(int argc, char *const *argv, const char **flags, int max_flags, int *nflags);

#endif
