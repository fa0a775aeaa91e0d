/*
 * output.h - how xo-fleet prints results: JSON for scripts (`--json`, or stdout not a
 * terminal), and for a person on a terminal an indented `key: value` tree, tables of
 * objects, the method listing of list-commands and one line per `all` item. Every
 * function appends to a json-c printbuf, so that tests read exactly what would be printed
 * (tests/unit/test_cli_output.c); cli_write_stdout() writes a buffer out.
 */
#ifndef CLI_OUTPUT_H
#define CLI_OUTPUT_H

#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <stdbool.h>

#include "cli.h"

/** @brief HUMAN or JSON: --json wins, else human on a terminal, JSON when piped. */
cli_out_mode_t cli_out_resolve(const cli_opts_t *o);

/**
 * @brief A result, newline-terminated. JSON: pretty (2 spaces), as `JSON.stringify(v,
 *        null, 2)`; HUMAN: a string as is, scalars as JSON, containers as an indented tree
 *        with sorted keys (`key: value`, `- item`). @p raw_string prints a top-level
 *        string without quotes in JSON mode too (the default when not --json, as xo-cli
 *        prints a method's string result).
 */
void cli_format_value(struct printbuf *pb, json_object *v, cli_out_mode_t mode, bool raw_string);

/**
 * @brief Objects as a table: a header line of @p columns, then one row per object of the
 *        array or map @p objects; a cell is a string as is, anything else compact JSON,
 *        a missing property empty; cells are cut at 60 columns ("...").
 */
void cli_format_table(struct printbuf *pb, json_object *objects, const char *const *columns,
                      int ncolumns);

/**
 * @brief system.getMethodsInfo's answer, as xo-cli lists it: sorted, each method with its
 *        parameters (`name=<type>`, optional ones in brackets) and its description on the
 *        next line. Only the methods matching one of @p patterns (all when npatterns is 0).
 *        @p brief: one line per method, its name then its parameter names (for the bash
 *        completion).
 * @returns how many methods were listed.
 */
int cli_format_methods(struct printbuf *pb, json_object *info, const char *const *patterns,
                       int npatterns, bool brief);

/**
 * @brief One notification. JSON: one line `{"method":..,"params":..}` (NDJSON). HUMAN, for
 *        `all`: one line per item, `enter <type> <id> <name_label> [<power_state>]` or
 *        `exit <id>`; other methods: `<method> <compact params>`.
 */
void cli_format_notification(struct printbuf *pb, const char *method, json_object *params,
                             cli_out_mode_t mode);

/** @brief Write a printbuf to stdout; a failed write (closed pipe) is an error. */
int cli_write_stdout(struct printbuf *pb, cli_err_t *e);

#endif
