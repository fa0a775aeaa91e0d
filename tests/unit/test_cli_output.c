/* Unit tests of cli/output.c: what xo-fleet prints, for scripts (JSON) and for people. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

static char text[8192];

/* Format with fn into the static text buffer. */
#define FORMAT(call)                                                                               \
    do {                                                                                           \
        struct printbuf *pb = printbuf_new();                                                      \
        call;                                                                                      \
        snprintf(text, sizeof(text), "%s", pb->buf);                                               \
        printbuf_free(pb);                                                                         \
    } while (0)

static json_object *J(const char *s)
{
    json_object *o = json_tokener_parse(s);
    assert_true(o != NULL || !strcmp(s, "null"));
    return o;
}

static void test_resolve_mode(void **state)
{
    cli_opts_t o = {0};
    (void)state;
    o.stdout_tty = true;
    assert_int_equal(cli_out_resolve(&o), CLI_OUT_HUMAN);
    o.stdout_tty = false;
    assert_int_equal(cli_out_resolve(&o), CLI_OUT_JSON);
    o.stdout_tty = true;
    o.out = CLI_OUT_JSON;
    assert_int_equal(cli_out_resolve(&o), CLI_OUT_JSON);
}

static void test_json_is_stringify_2(void **state)
{
    json_object *v = J("{\"a\":1,\"b\":[true,null,\"x/y\"],\"c\":{},\"d\":[],\"e\":{\"f\":1.5}}");
    (void)state;
    FORMAT(cli_format_value(pb, v, CLI_OUT_JSON, false));
    /* as JSON.stringify(v, null, 2): key order kept, empty containers inline, no \/ */
    assert_string_equal(text, "{\n"
                              "  \"a\": 1,\n"
                              "  \"b\": [\n"
                              "    true,\n"
                              "    null,\n"
                              "    \"x/y\"\n"
                              "  ],\n"
                              "  \"c\": {},\n"
                              "  \"d\": [],\n"
                              "  \"e\": {\n"
                              "    \"f\": 1.5\n"
                              "  }\n"
                              "}\n");
    json_object_put(v);
}

static void test_strings(void **state)
{
    json_object *s = json_object_new_string("0a1b-\"id\"");
    (void)state;
    /* a method's string result: raw unless --json */
    FORMAT(cli_format_value(pb, s, CLI_OUT_JSON, true));
    assert_string_equal(text, "0a1b-\"id\"\n");
    FORMAT(cli_format_value(pb, s, CLI_OUT_JSON, false));
    assert_string_equal(text, "\"0a1b-\\\"id\\\"\"\n");
    FORMAT(cli_format_value(pb, s, CLI_OUT_HUMAN, false));
    assert_string_equal(text, "0a1b-\"id\"\n");
    json_object_put(s);
    FORMAT(cli_format_value(pb, NULL, CLI_OUT_HUMAN, true));
    assert_string_equal(text, "null\n");
    json_object *t = json_object_new_boolean(1);
    FORMAT(cli_format_value(pb, t, CLI_OUT_HUMAN, true));
    assert_string_equal(text, "true\n");
    json_object_put(t);
}

static void test_human_tree(void **state)
{
    json_object *v = J("{\"permission\":\"admin\",\"email\":\"a@b\",\"groups\":[],\"memory\":{"
                       "\"size\":1024,\"usage\":[1,{\"x\":\"y\"}]},\"tags\":[\"web\",\"prod\"]}");
    (void)state;
    FORMAT(cli_format_value(pb, v, CLI_OUT_HUMAN, false));
    /* sorted keys, scalars inline, strings unquoted, containers indented */
    assert_string_equal(text, "email: a@b\n"
                              "groups: []\n"
                              "memory:\n"
                              "  size: 1024\n"
                              "  usage:\n"
                              "    - 1\n"
                              "    -\n"
                              "      x: y\n"
                              "permission: admin\n"
                              "tags:\n"
                              "  - web\n"
                              "  - prod\n");
    json_object_put(v);
}

static void test_table(void **state)
{
    const char *cols[] = {"id", "name_label", "power_state"};
    json_object *rows = J("[{\"id\":\"a1\",\"name_label\":\"web\",\"power_state\":\"Running\"},"
                          "{\"id\":\"b22\",\"name_label\":\"db\\nmain\",\"tags\":[]},"
                          "{\"id\":\"c\",\"name_label\":[\"x\"],\"power_state\":\"Halted\"}]");
    (void)state;
    FORMAT(cli_format_table(pb, rows, cols, 3));
    /* columns padded to the widest cell + 2; a missing cell empty; a newline a space;
     * a non-string cell as compact JSON; no padding after the last column */
    assert_string_equal(text, "id   name_label  power_state\n"
                              "a1   web         Running\n"
                              "b22  db main     \n"
                              "c    [\"x\"]       Halted\n");
    json_object_put(rows);
}

static void test_table_of_a_map_and_long_cells(void **state)
{
    const char *cols[] = {"name_label"};
    char long_name[200], expect[200];
    json_object *map = json_object_new_object(), *o = json_object_new_object();
    (void)state;
    memset(long_name, 'n', 100);
    long_name[100] = '\0';
    json_object_object_add(o, "name_label", json_object_new_string(long_name));
    json_object_object_add(map, "id1", o);
    FORMAT(cli_format_table(pb, map, cols, 1));
    memset(expect, 'n', 57);
    strcpy(expect + 57, "...");
    assert_non_null(strstr(text, expect));
    assert_null(strstr(text, "nnnn...n"));
    assert_int_equal(strlen(strchr(text, '\n') + 1), 61); /* 60 columns + newline */
    json_object_put(map);
}

static const char *METHODS =
    "{\"vm.start\":{\"description\":\"Start a halted VM.\",\"params\":{\"id\":{\"type\":"
    "\"string\"},\"force\":{\"type\":\"boolean\",\"optional\":true}},\"permission\":\"admin\"},"
    "\"session.signIn\":{\"description\":\"\",\"params\":{\"token\":{\"type\":[\"string\","
    "\"null\"],\"default\":null},\"x\":{}}},"
    "\"vm.stop\":{\"description\":\"Stop.\",\"params\":{\"id\":{\"type\":\"string\"}}}}";

static void test_methods(void **state)
{
    json_object *info = J(METHODS);
    const char *pat[] = {"vm.st*"};
    (void)state;
    FORMAT(assert_int_equal(cli_format_methods(pb, info, NULL, 0, false), 3));
    /* sorted; optional (optional: true or a default) in brackets; type lists joined */
    assert_string_equal(text, "session.signIn [token=<string|null>] x=<unknown type>\n"
                              "vm.start id=<string> [force=<boolean>]\n"
                              "  Start a halted VM.\n"
                              "vm.stop id=<string>\n"
                              "  Stop.\n");
    FORMAT(assert_int_equal(cli_format_methods(pb, info, pat, 1, true), 2));
    assert_string_equal(text, "vm.start id force\nvm.stop id\n");
    json_object_put(info);
}

static void test_notifications(void **state)
{
    json_object *enter =
        J("{\"type\":\"enter\",\"items\":{\"u1\":{\"type\":\"VM\",\"name_label\":\"web\","
          "\"power_state\":\"Running\"},\"p1\":{\"type\":\"pool\",\"name_label\":\"A\"}}}");
    json_object *exit_ = J("{\"type\":\"exit\",\"items\":{\"u1\":0}}");
    (void)state;
    FORMAT(cli_format_notification(pb, "all", enter, CLI_OUT_JSON));
    /* NDJSON: one line, the notification as xo-cli --ndjson prints it */
    assert_string_equal(text,
                        "{\"method\":\"all\",\"params\":{\"type\":\"enter\",\"items\":{\"u1\":"
                        "{\"type\":\"VM\",\"name_label\":\"web\",\"power_state\":\"Running\"},"
                        "\"p1\":{\"type\":\"pool\",\"name_label\":\"A\"}}}}\n");
    FORMAT(cli_format_notification(pb, "all", enter, CLI_OUT_HUMAN));
    assert_string_equal(text, "enter VM u1 web Running\nenter pool p1 A\n");
    FORMAT(cli_format_notification(pb, "all", exit_, CLI_OUT_HUMAN));
    assert_string_equal(text, "exit u1\n");
    FORMAT(cli_format_notification(pb, "other", exit_, CLI_OUT_HUMAN));
    assert_string_equal(text, "other {\"type\":\"exit\",\"items\":{\"u1\":0}}\n");
    json_object_put(enter);
    json_object_put(exit_);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_mode), cmocka_unit_test(test_json_is_stringify_2),
        cmocka_unit_test(test_strings),      cmocka_unit_test(test_human_tree),
        cmocka_unit_test(test_table),        cmocka_unit_test(test_table_of_a_map_and_long_cells),
        cmocka_unit_test(test_methods),      cmocka_unit_test(test_notifications),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
