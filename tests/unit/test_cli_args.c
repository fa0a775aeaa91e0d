/* Unit tests of cli/args.c: xo-cli's name=value conventions, durations, patterns, flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "args.h"

/* Parse argv (NULL-terminated) and return the compact JSON, or NULL on error. */
static char *parse(const char *const *argv, char *errstr, size_t size)
{
    static char out[1024];
    json_object *o = NULL;
    int argc = 0;

    while (argv[argc])
        argc++;
    if (cli_parse_params(argc, (char *const *)argv, &o, errstr, size) != XO_OK)
        return NULL;
    snprintf(out, sizeof(out), "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

static void test_strings_and_booleans(void **state)
{
    const char *argv[] = {"id=abc", "force=true", "clean=false", "name=True",
                          "empty=", "eq=a=b",     NULL};
    char err[256];
    (void)state;
    assert_string_equal(parse(argv, err, sizeof(err)),
                        "{\"id\":\"abc\",\"force\":true,\"clean\":false,\"name\":\"True\","
                        "\"empty\":\"\",\"eq\":\"a=b\"}");
}

static void test_json_prefix(void **state)
{
    const char *argv[] = {"n=json:42",
                          "f=json:-1.5",
                          "a=json:[\"item1\", \"item2\"]",
                          "o=json:{\"x\":{\"y\":null}}",
                          "s=json:\"true\"",
                          "z=json:null",
                          "t=json: true ",
                          NULL};
    char err[256];
    (void)state;
    /* a json: string stays a string ("true" is not turned into a boolean) */
    assert_string_equal(
        parse(argv, err, sizeof(err)),
        "{\"n\":42,\"f\":-1.5,\"a\":[\"item1\",\"item2\"],\"o\":{\"x\":{\"y\":null}},"
        "\"s\":\"true\",\"z\":null,\"t\":true}");
}

static void test_later_name_wins(void **state)
{
    const char *argv[] = {"id=a", "id=b", NULL};
    char err[256];
    (void)state;
    assert_string_equal(parse(argv, err, sizeof(err)), "{\"id\":\"b\"}");
}

static void test_invalid_arguments(void **state)
{
    const char *no_eq[] = {"id", NULL}, *no_name[] = {"=x", NULL};
    const char *bad_json[] = {"n=json:{", NULL}, *trailing[] = {"n=json:42 x", NULL};
    const char *two[] = {"n=json:1 2", NULL}, *empty[] = {"n=json:", NULL};
    char err[256];
    (void)state;
    assert_null(parse(no_eq, err, sizeof(err)));
    assert_non_null(strstr(err, "'id'"));
    assert_null(parse(no_name, err, sizeof(err)));
    assert_null(parse(bad_json, err, sizeof(err)));
    assert_non_null(strstr(err, "'n'"));
    assert_non_null(strstr(err, "invalid JSON"));
    assert_null(parse(trailing, err, sizeof(err)));
    assert_null(parse(two, err, sizeof(err)));
    assert_null(parse(empty, err, sizeof(err)));
}

static void test_param_value(void **state)
{
    json_object *v = NULL;
    char err[128];
    (void)state;
    assert_int_equal(cli_param_value("false", &v, err, sizeof(err)), XO_OK);
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_false(json_object_get_boolean(v));
    json_object_put(v);
    assert_int_equal(cli_param_value("json:12345678901", &v, err, sizeof(err)), XO_OK);
    assert_true(json_object_get_int64(v) == 12345678901LL);
    json_object_put(v);
    assert_int_equal(cli_param_value("json:[1,", &v, err, sizeof(err)), XO_ERR_PARSE);
}

static void test_durations(void **state)
{
    int64_t ms = 0;
    char err[256];
    (void)state;
    struct {
        const char *text;
        int64_t ms;
    } ok[] = {{"1500", 1500},
              {"10s", 10000},
              {"5 min", 300000},
              {"2h", 7200000},
              {"30d", 2592000000LL},
              {"1 month", 2592000000LL},
              {"2 weeks", 1209600000LL},
              {"1y", 31536000000LL},
              {"250ms", 250},
              {"3 Hours", 10800000}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(cli_parse_duration_ms(ok[i].text, &ms, err, sizeof(err)), XO_OK);
        assert_true(ms == ok[i].ms);
    }
    const char *bad[] = {"", "d", "-1d", "0", "3 fortnights", "1.5h", "99999999999999999y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cli_parse_duration_ms(bad[i], &ms, err, sizeof(err)), XO_ERR_INVALID);
    cli_parse_duration_ms("3 fortnights", &ms, err, sizeof(err));
    assert_non_null(strstr(err, "fortnights"));
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(cli_glob_match("vm.*", "vm.start"));
    assert_false(cli_glob_match("vm.*", "pool.set"));
    assert_true(cli_glob_match("{vm,pool}.*", "pool.set"));
    assert_true(cli_glob_match("{vm,pool}.*", "vm.start"));
    assert_false(cli_glob_match("{vm,pool}.*", "host.stop"));
    assert_true(cli_glob_match("vm.{start,st{op,ats}}", "vm.stats"));
    assert_false(cli_glob_match("vm.{start,st{op,ats}}", "vm.stall"));
    assert_true(cli_glob_match("session.sign?n", "session.signIn"));
    assert_true(cli_glob_match("{unclosed", "{unclosed"));
    /* a pattern that would expand into millions of alternatives stops at the budget */
    assert_false(
        cli_glob_match("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}x", "bbbbbbbbbbx"));
}

static void test_flags(void **state)
{
    char *argv[] = {"--name_label", "--power_state", "type=VM", "--late"};
    char *dashdash[] = {"--a", "--", "--b"};
    const char *flags[4];
    int n;
    (void)state;
    assert_int_equal(cli_take_flags(4, argv, flags, 4, &n), 2);
    assert_int_equal(n, 2);
    assert_string_equal(flags[0], "name_label");
    assert_string_equal(flags[1], "power_state");
    assert_int_equal(cli_take_flags(3, dashdash, flags, 4, &n), 2);
    assert_int_equal(n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_and_booleans),
        cmocka_unit_test(test_json_prefix),
        cmocka_unit_test(test_later_name_wins),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_param_value),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
