/*
 * test_cli.c - unit tests of common/xo_cli.c, the command line every daemon shares:
 * --help, --version, --print-config-docs, --check-config (secrets redacted), --config and
 * --debug in their long, short and '=' forms, the environment over the file, and each
 * error with its exit code and message. stdout and stderr are captured around each call.
 * Must not: read or write files outside its own temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xo_cli.h"
#include "xo_log.h"
#include "xo_version.h"

#define PROG "xo-clitest"

static const xo_cfg_spec_t spec[] = {
    {"xapi.url", XO_CFG_STRING, NULL, 0, 0, true, "Pool master URL."},
    {"xapi.password", XO_CFG_SECRET, NULL, 0, 0, false, "XAPI password."},
    {"agent.heartbeat_ms", XO_CFG_INT, "5000", 100, 3600000, false, "Heartbeat interval."},
    XO_CFG_LOG_SPECS,
    {NULL, 0, NULL, 0, 0, false, NULL},
};

static const xo_cli_info_t info = {
    PROG, "Test the shared command line.", "Subcommands: none, this is a test.", spec, "XO_CLITEST",
};

typedef struct {
    xo_cli_action_t action;
    int code;
    xo_config_t *cfg;
    char out[16384], err[4096];
} run_t;

static char g_dir[64];

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/xo-cli-test-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char path[128];

    (void)state;
    for (const char *const *n = (const char *const[]){"good.conf", "bad.conf", NULL}; *n; n++) {
        snprintf(path, sizeof(path), "%s/%s", g_dir, *n);
        unlink(path);
    }
    rmdir(g_dir);
    return 0;
}

static const char *write_conf(const char *name, const char *text)
{
    static char path[128];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void slurp(FILE *fp, char *buf, size_t size)
{
    size_t n;

    rewind(fp);
    n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

/* Call xo_cli_parse with PROG and @p args (NULL-terminated), capturing stdout and stderr. */
static void run(run_t *r, const char *const *args)
{
    char *argv[32];
    int argc = 0, saved_out, saved_err;
    FILE *out = tmpfile(), *err = tmpfile();

    assert_non_null(out);
    assert_non_null(err);
    argv[argc++] = (char *)PROG;
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    memset(r, 0, sizeof(*r));
    r->code = -1;
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(STDOUT_FILENO);
    saved_err = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    r->action = xo_cli_parse(&info, argc, argv, &r->cfg, &r->code);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    slurp(out, r->out, sizeof(r->out));
    slurp(err, r->err, sizeof(r->err));
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        print_message("\"%s\" not found in:\n%s\n", needle, hay);
        fail();
    }
}

static void assert_exit(const run_t *r, int code)
{
    assert_int_equal(r->action, XO_CLI_EXIT);
    assert_int_equal(r->code, code);
    assert_null(r->cfg);
}

static void test_help(void **state)
{
    run_t r;

    (void)state;
    run(&r, ARGS("--help"));
    assert_exit(&r, XO_EXIT_OK);
    assert_string_equal(r.err, "");
    assert_contains(r.out, "Usage: " PROG " [options]\nTest the shared command line.\n");
    assert_contains(r.out, "--check-config");
    assert_contains(r.out, "Subcommands: none, this is a test.");
    /* The settings table, each with its type, default and environment variable. */
    assert_contains(r.out, "xapi.url");
    assert_contains(r.out, "required");
    assert_contains(r.out, "(env XO_CLITEST_XAPI_URL)");
    assert_contains(r.out, "integer (100..3600000), default: 5000");
    assert_contains(r.out, "kafka.*");
    run(&r, ARGS("-h"));
    assert_exit(&r, XO_EXIT_OK);
    assert_contains(r.out, "Usage: " PROG);
    /* --help wins over anything after it, even what would be an error. */
    run(&r, ARGS("--help", "--no-such-option"));
    assert_exit(&r, XO_EXIT_OK);
}

static void test_version_and_docs(void **state)
{
    run_t r;

    (void)state;
    run(&r, ARGS("--version"));
    assert_exit(&r, XO_EXIT_OK);
    assert_string_equal(r.out, PROG " " XO_VERSION "\n");
    assert_string_equal(r.err, "");
    run(&r, ARGS("-V"));
    assert_exit(&r, XO_EXIT_OK);
    assert_string_equal(r.out, PROG " " XO_VERSION "\n");
    run(&r, ARGS("--print-config-docs"));
    assert_exit(&r, XO_EXIT_OK);
    assert_contains(r.out, "| key | type | default | environment | description |\n");
    assert_contains(r.out, "| `xapi.url` | string | - | `XO_CLITEST_XAPI_URL` | Pool master URL. "
                           "**Required.** |");
    assert_contains(r.out, "| `xapi.password` | secret |");
    /* Neither needs a valid configuration. */
    assert_null(strstr(r.err, "configuration error"));
}

static void test_usage_errors(void **state)
{
    run_t r;

    (void)state;
    run(&r, ARGS("--no-such-option"));
    assert_exit(&r, XO_EXIT_USAGE);
    assert_string_equal(r.out, "");
    assert_contains(r.err, "Try '" PROG " --help'.");
    run(&r, ARGS("--config")); /* missing its argument */
    assert_exit(&r, XO_EXIT_USAGE);
    assert_contains(r.err, "Try '" PROG " --help'.");
    run(&r, ARGS("-x"));
    assert_exit(&r, XO_EXIT_USAGE);
    run(&r, ARGS("extra"));
    assert_exit(&r, XO_EXIT_USAGE);
    assert_contains(r.err, PROG ": unexpected argument 'extra'. Try '" PROG " --help'.");
    run(&r, ARGS("--debug", "sync", "extra1", "extra2"));
    assert_exit(&r, XO_EXIT_USAGE);
    assert_contains(r.err, "'extra1'");
}

static void test_run_with_config_file(void **state)
{
    const char *path = write_conf("good.conf", "[xapi]\nurl = http://127.0.0.1:1\n"
                                               "password = hunter2\n[agent]\nheartbeat_ms = 250\n"
                                               "[kafka]\nbootstrap.servers = 127.0.0.1:2\n");
    char eq[160];
    run_t r;

    (void)state;
    run(&r, ARGS("--config", path));
    assert_int_equal(r.action, XO_CLI_RUN);
    assert_non_null(r.cfg);
    assert_string_equal(xo_config_get(r.cfg, "xapi.url"), "http://127.0.0.1:1");
    assert_int_equal(xo_config_get_int(r.cfg, "agent.heartbeat_ms"), 250);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    xo_config_free(r.cfg);
    /* Short and '=' forms. */
    run(&r, ARGS("-c", path));
    assert_int_equal(r.action, XO_CLI_RUN);
    xo_config_free(r.cfg);
    snprintf(eq, sizeof(eq), "--config=%s", path);
    run(&r, ARGS(eq));
    assert_int_equal(r.action, XO_CLI_RUN);
    xo_config_free(r.cfg);
    /* The environment overrides the file. */
    setenv("XO_CLITEST_AGENT_HEARTBEAT_MS", "777", 1);
    run(&r, ARGS("--config", path));
    unsetenv("XO_CLITEST_AGENT_HEARTBEAT_MS");
    assert_int_equal(r.action, XO_CLI_RUN);
    assert_int_equal(xo_config_get_int(r.cfg, "agent.heartbeat_ms"), 777);
    xo_config_free(r.cfg);
    /* The environment alone is a complete configuration. */
    setenv("XO_CLITEST_XAPI_URL", "http://127.0.0.1:3", 1);
    run(&r, ARGS("--debug", ""));
    unsetenv("XO_CLITEST_XAPI_URL");
    assert_int_equal(r.action, XO_CLI_RUN);
    assert_string_equal(xo_config_get(r.cfg, "xapi.url"), "http://127.0.0.1:3");
    xo_config_free(r.cfg);
}

static void test_check_config(void **state)
{
    const char *path = write_conf("good.conf", "[xapi]\nurl = http://127.0.0.1:1\n"
                                               "password = hunter2\n"
                                               "[kafka]\nbootstrap.servers = 127.0.0.1:2\n"
                                               "sasl.password = s3cret\n");
    run_t r;

    (void)state;
    run(&r, ARGS("--check-config", "--config", path));
    assert_exit(&r, XO_EXIT_OK);
    assert_contains(r.out, "# " PROG ": configuration OK\n");
    assert_contains(r.out, "[xapi]\nurl = http://127.0.0.1:1\n");
    assert_contains(r.out, "password = <redacted>");
    assert_contains(r.out, "heartbeat_ms = 5000"); /* defaults are shown too */
    assert_contains(r.out, "bootstrap.servers = 127.0.0.1:2");
    assert_null(strstr(r.out, "hunter2"));
    assert_null(strstr(r.out, "s3cret"));
    assert_string_equal(r.err, "");
    /* An invalid configuration fails the check with the configuration's exit code. */
    run(&r, ARGS("--check-config"));
    assert_exit(&r, XO_EXIT_CONFIG);
    assert_contains(r.err, PROG ": configuration error: missing required key 'xapi.url'");
    assert_null(strstr(r.out, "configuration OK"));
}

static void test_config_errors(void **state)
{
    const char *bad;
    run_t r;

    (void)state;
    run(&r, ARGS("--config", "/nonexistent/xo-cli-test.conf"));
    assert_exit(&r, XO_EXIT_CONFIG);
    assert_contains(r.err, PROG ": configuration error: ");
    assert_contains(r.err, "/nonexistent/xo-cli-test.conf");
    bad = write_conf("bad.conf", "[xapi]\nurl = http://127.0.0.1:1\n[agent]\nheartbeat_ms = 5\n");
    run(&r, ARGS("-c", bad));
    assert_exit(&r, XO_EXIT_CONFIG);
    assert_contains(r.err, "bad.conf:4");
    assert_contains(r.err, "heartbeat_ms");
    bad = write_conf("bad.conf", "[xapi]\nurl = http://127.0.0.1:1\nnope = 1\n");
    run(&r, ARGS("-c", bad));
    assert_exit(&r, XO_EXIT_CONFIG);
    assert_contains(r.err, "bad.conf:3");
    /* An environment variable with the program's prefix must name a setting. */
    setenv("XO_CLITEST_XAPI_URL", "http://127.0.0.1:1", 1);
    setenv("XO_CLITEST_NO_SUCH", "1", 1);
    run(&r, ARGS("--debug", ""));
    unsetenv("XO_CLITEST_NO_SUCH");
    assert_exit(&r, XO_EXIT_CONFIG);
    assert_contains(r.err, "XO_CLITEST_NO_SUCH");
    /* A bad log level, from the file or the environment. */
    setenv("XO_CLITEST_LOG_LEVEL", "loud", 1);
    run(&r, ARGS("--debug", ""));
    unsetenv("XO_CLITEST_LOG_LEVEL");
    unsetenv("XO_CLITEST_XAPI_URL");
    assert_exit(&r, XO_EXIT_CONFIG);
    assert_contains(r.err, "log.level");
}

static void test_debug_contexts(void **state)
{
    const char *path =
        write_conf("good.conf", "[xapi]\nurl = http://127.0.0.1:1\n[log]\ndebug = view\n");
    run_t r;

    (void)state;
    /* From the file when there is no --debug. */
    run(&r, ARGS("-c", path));
    assert_int_equal(r.action, XO_CLI_RUN);
    assert_int_equal(xo_log_debug_mask, XO_DBG_VIEW);
    xo_config_free(r.cfg);
    /* --debug replaces the file's list. */
    run(&r, ARGS("-c", path, "--debug", "sync,kafka"));
    assert_int_equal(r.action, XO_CLI_RUN);
    assert_int_equal(xo_log_debug_mask, XO_DBG_SYNC | XO_DBG_KAFKA);
    xo_config_free(r.cfg);
    run(&r, ARGS("-d", "all", "-c", path));
    assert_int_equal(r.action, XO_CLI_RUN);
    assert_int_equal(xo_log_debug_mask, XO_DBG_ALL);
    xo_config_free(r.cfg);
    run(&r, ARGS("-c", path, "--debug", "sync,nope"));
    assert_exit(&r, XO_EXIT_CONFIG);
    assert_contains(r.err, "nope");
    /* Leave logging as other tests expect it. */
    run(&r, ARGS("-c", path, "--debug", ""));
    assert_int_equal(xo_log_debug_mask, 0);
    xo_config_free(r.cfg);
    xo_log_set_level(XO_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),           cmocka_unit_test(test_version_and_docs),
        cmocka_unit_test(test_usage_errors),   cmocka_unit_test(test_run_with_config_file),
        cmocka_unit_test(test_check_config),   cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_debug_contexts),
    };
    return cmocka_run_group_tests_name("cli", tests, group_setup, group_teardown);
}
