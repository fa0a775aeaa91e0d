/*
 * commands.h - xo-fleet's subcommands, one function each (main.c's table dispatches on
 * the name and prints their --help). Each takes its own argv (argv[0] its name), prints
 * its result on stdout and returns an exit status, leaving one error line in @p e.
 */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

#include "cli.h"

int cli_cmd_register(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);
int cli_cmd_unregister(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);
int cli_cmd_list_commands(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);
int cli_cmd_list_objects(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);
int cli_cmd_watch(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);
int cli_cmd_rest(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);
/** `xo-fleet <method> [name=value...]`: argv[0] is the method. */
int cli_cmd_call(const cli_opts_t *o, int argc, char **argv, cli_err_t *e);
/** `xo-fleet <method> --help`: the method's parameters from system.getMethodsInfo. */
int cli_cmd_method_help(const cli_opts_t *o, const char *method, cli_err_t *e);

#endif
