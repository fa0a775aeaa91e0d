/* Unit tests of cli/config.c: where the token is kept, and how (mode 0600, atomic). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/xo-cli-config-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_path(void **state)
{
    char path[512], err[256];
    (void)state;
    setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(cli_config_path(path, sizeof(path), err, sizeof(err)), XO_OK);
    assert_string_equal(path, "/x/cfg/xo-fleet/config.json");
    setenv("XDG_CONFIG_HOME", "relative", 1); /* ignored, as the XDG spec says */
    assert_int_equal(cli_config_path(path, sizeof(path), err, sizeof(err)), XO_OK);
    assert_string_equal(path, "/home/u/.config/xo-fleet/config.json");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("HOME");
    assert_int_equal(cli_config_path(path, sizeof(path), err, sizeof(err)), XO_ERR_CONFIG);
}

static void test_save_load_remove(void **state)
{
    char path[512], err[256], text[1024];
    cli_config_t c = {0}, back;
    struct stat st;
    bool found = true;
    FILE *f;
    size_t n;
    (void)state;
    snprintf(path, sizeof(path), "%s/a/b/config.json", dir);
    assert_int_equal(cli_config_load(path, &back, &found, err, sizeof(err)), XO_OK);
    assert_false(found);
    snprintf(c.server, sizeof(c.server), "https://[::1]:8443/");
    snprintf(c.token, sizeof(c.token), "tok\"en");
    c.allow_unauthorized = true;
    umask(0); /* the file must be 0600 whatever the umask */
    assert_int_equal(cli_config_save(path, &c, err, sizeof(err)), XO_OK);
    umask(022);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(text, sizeof(text), "%s/a/b", dir);
    assert_int_equal(stat(text, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(cli_config_load(path, &back, &found, err, sizeof(err)), XO_OK);
    assert_true(found);
    assert_string_equal(back.server, c.server);
    assert_string_equal(back.token, c.token);
    assert_true(back.allow_unauthorized);
    /* exactly three members: nothing else (no password) is ever written */
    f = fopen(path, "r");
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    json_object *o = json_tokener_parse(text);
    assert_int_equal(json_object_object_length(o), 3);
    json_object_put(o);
    /* no temporary file left beside it */
    snprintf(text, sizeof(text), "ls '%s/a/b' | grep -c tmp >/dev/null", dir);
    assert_int_not_equal(system(text), 0);
    assert_int_equal(cli_config_remove(path, err, sizeof(err)), XO_OK);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(cli_config_remove(path, err, sizeof(err)), XO_OK);
}

static void test_bad_file(void **state)
{
    char path[512], err[256];
    cli_config_t c;
    bool found;
    FILE *f;
    (void)state;
    snprintf(path, sizeof(path), "%s/bad.json", dir);
    f = fopen(path, "w");
    fputs("[1,2]", f);
    fclose(f);
    assert_int_equal(cli_config_load(path, &c, &found, err, sizeof(err)), XO_ERR_PARSE);
    assert_non_null(strstr(err, "register again"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_save_load_remove),
        cmocka_unit_test(test_bad_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
