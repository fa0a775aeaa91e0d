/* Unit tests of common/xo_envelope.c: keys, encoders, checking parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h"

#define POOL "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c"

static void test_keys(void **state)
{
    char buf[256], small[8], *pool, *cls, *ref;

    (void)state;
    assert_int_equal(xo_object_key(buf, sizeof(buf), POOL, "vm", "OpaqueRef:1"), XO_OK);
    assert_string_equal(buf, POOL "/vm/OpaqueRef:1");
    assert_int_equal(xo_object_key_split(buf, &pool, &cls, &ref), XO_OK);
    assert_string_equal(pool, POOL);
    assert_string_equal(cls, "vm");
    assert_string_equal(ref, "OpaqueRef:1");
    assert_int_equal(xo_object_key(buf, sizeof(buf), POOL, NULL, NULL), XO_OK);
    assert_string_equal(buf, POOL "/_sync");
    assert_int_equal(xo_object_key_split(buf, &pool, &cls, &ref), XO_OK);
    assert_string_equal(cls, "_sync");
    assert_null(ref);
    assert_int_equal(xo_object_key(small, sizeof(small), POOL, "vm", "r"), XO_ERR_LIMIT);
    /* the boundary: the key and its NUL fit exactly, or miss by one byte */
    assert_int_equal(xo_object_key(small, sizeof(small), "p", "vm", "r1"), XO_OK);
    assert_string_equal(small, "p/vm/r1");
    assert_int_equal(xo_object_key(small, sizeof(small), "p", "vm", "r12"), XO_ERR_LIMIT);
    assert_int_equal(xo_object_key(small, sizeof(small), "p", "vm", ""), XO_OK);
    assert_string_equal(small, "p/vm/");
    assert_int_equal(xo_object_key(small, sizeof(small), "p", NULL, NULL), XO_OK);
    assert_string_equal(small, "p/_sync");
    assert_int_equal(xo_object_key(small, sizeof(small), "pp", NULL, NULL), XO_ERR_LIMIT);
    strcpy(buf, "nokey");
    assert_int_equal(xo_object_key_split(buf, &pool, &cls, &ref), XO_ERR_PARSE);
    strcpy(buf, "p/vm/");
    assert_int_equal(xo_object_key_split(buf, &pool, &cls, &ref), XO_ERR_PARSE);
}

static void test_object_roundtrip(void **state)
{
    json_object *snap =
        json_tokener_parse("{\"name_label\":\"web \\\"1\\\"\",\"memory\":\"1024\"}");
    xo_object_msg_t m = {POOL, "vm", "OpaqueRef:a", "u-1", "add", 42, 3, 1700000000000, snap};
    json_object *parsed, *s;
    size_t len;
    char *bytes = xo_object_msg_encode(&m, &len), errstr[256];

    (void)state;
    assert_non_null(bytes);
    assert_int_equal(strlen(bytes), len);
    assert_int_equal(xo_msg_parse(XO_MSG_OBJECT, bytes, len, &parsed, errstr, sizeof(errstr)),
                     XO_OK);
    assert_string_equal(xo_msg_str(parsed, "class"), "vm");
    assert_string_equal(xo_msg_str(parsed, "op"), "add");
    assert_int_equal(xo_msg_int(parsed, "event_id", -1), 42);
    assert_int_equal(xo_msg_int(parsed, "gen", -1), 3);
    assert_true(json_object_object_get_ex(parsed, "snapshot", &s));
    assert_string_equal(xo_msg_str(s, "name_label"), "web \"1\"");
    /* the same message parsed as a command lacks fields */
    json_object_put(parsed);
    assert_int_equal(xo_msg_parse(XO_MSG_COMMAND, bytes, len, &parsed, errstr, sizeof(errstr)),
                     XO_ERR_PARSE);
    assert_non_null(strstr(errstr, "field 'id'"));
    free(bytes);
    json_object_put(snap);
}

/* The agent's record written around a snapshot's text is xo_object_msg_encode()'s bytes. */
static void test_object_write_equals_encode(void **state)
{
    (void)state;
    static const char *const snaps[] = {"{}", "{\"uuid\":\"u\",\"n\":1.5,\"a\":[1,null,{}]}",
                                        "{\"s\":\"\\u0001\\\"/\\\\\"}"};
    const xo_object_msg_t msgs[] = {
        {"pool-1", "vm", "OpaqueRef:1", "uuid-1", "add", 42, 3, 1700000000123, NULL},
        {"p\"o/ol\\", "host", "Opaque\nRef\t2", NULL, "mod", -1, 0, 0, NULL},
        {"caf\xc3\xa9", "sr", "r\x01", "\x1f", "add", INT64_MAX, INT64_MIN, 1, NULL},
    };
    xo_jtext_t out = {0};

    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
        for (size_t j = 0; j < sizeof snaps / sizeof snaps[0]; j++) {
            xo_object_msg_t m = msgs[i];
            size_t len = 0;
            m.snapshot = json_tokener_parse(snaps[j]);
            assert_non_null(m.snapshot);
            char *want = xo_object_msg_encode(&m, &len);
            assert_int_equal(xo_object_msg_write(&m, snaps[j], strlen(snaps[j]), &out), XO_OK);
            assert_int_equal(out.len, len);
            assert_string_equal(out.p, want);
            free(want);
            json_object_put(m.snapshot);
        }
    xo_jtext_fini(&out);
}

static void test_other_messages(void **state)
{
    char errstr[256], *b;
    size_t len;
    json_object *o, *args = json_tokener_parse("{\"id\":\"vm-1\"}");
    xo_agent_msg_t a = {.agent = "a1",
                        .version = "0.1.0",
                        .pool = POOL,
                        .master = "https://m",
                        .state = "live",
                        .ts = 5,
                        .events = 7};
    xo_command_msg_t c = {"cmd-1", POOL, "vm.start", "admin", args, 10, 20};
    xo_result_msg_t r = {.id = "cmd-1",
                         .pool = POOL,
                         .agent = "a1",
                         .state = "failure",
                         .ts = 30,
                         .error_code = "VM_BAD_POWER_STATE"};

    (void)state;
    b = xo_sync_msg_encode(POOL, "a1", 4, 1000, 99, &len);
    assert_int_equal(xo_msg_parse(XO_MSG_SYNC, b, len, &o, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_msg_int(o, "objects", 0), 1000);
    json_object_put(o);
    free(b);

    b = xo_agent_msg_encode(&a, &len);
    assert_int_equal(xo_msg_parse(XO_MSG_AGENT, b, len, &o, errstr, sizeof(errstr)), XO_OK);
    assert_string_equal(xo_msg_str(o, "state"), "live");
    assert_int_equal(xo_msg_int(o, "interval_ms", -1), -1); /* 0: left out */
    json_object_put(o);
    free(b);
    a.interval_ms = 2000;
    b = xo_agent_msg_encode(&a, &len);
    assert_int_equal(xo_msg_parse(XO_MSG_AGENT, b, len, &o, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(xo_msg_int(o, "interval_ms", -1), 2000);
    json_object_put(o);
    free(b);

    b = xo_command_msg_encode(&c, &len);
    assert_string_equal(b, "{\"v\":1,\"id\":\"cmd-1\",\"pool\":\"" POOL "\",\"op\":\"vm.start\","
                           "\"args\":{\"id\":\"vm-1\"},\"user\":\"admin\",\"issued\":10,"
                           "\"expires\":20}");
    assert_int_equal(xo_msg_parse(XO_MSG_COMMAND, b, len, &o, errstr, sizeof(errstr)), XO_OK);
    json_object_put(o);
    free(b);

    b = xo_result_msg_encode(&r, &len);
    assert_non_null(strstr(b, "\"error\":{\"code\":\"VM_BAD_POWER_STATE\",\"params\":[]}"));
    assert_int_equal(xo_msg_parse(XO_MSG_RESULT, b, len, &o, errstr, sizeof(errstr)), XO_OK);
    json_object_put(o);
    free(b);
    json_object_put(args);
}

static void expect_bad(const char *text, xo_err_t want, const char *needle)
{
    char errstr[256] = "";
    json_object *o = NULL;

    assert_int_equal(xo_msg_parse(XO_MSG_SYNC, text, strlen(text), &o, errstr, sizeof(errstr)),
                     want);
    assert_null(o);
    if (!strstr(errstr, needle))
        fail_msg("'%s' lacks '%s'", errstr, needle);
}

static void test_hostile_messages(void **state)
{
    char deep[400];

    (void)state;
    expect_bad("", XO_ERR_PARSE, "invalid JSON");
    expect_bad("{\"v\":1", XO_ERR_PARSE, "invalid JSON");
    expect_bad("[1,2]", XO_ERR_PARSE, "not a JSON object");
    expect_bad("{\"v\":2,\"pool\":\"p\"}", XO_ERR_PARSE, "field 'v'");
    expect_bad("{\"v\":1,\"pool\":1,\"type\":\"sync\",\"gen\":1,\"objects\":1,\"ts\":1}",
               XO_ERR_PARSE, "field 'pool'");
    expect_bad("{\"v\":1} trailing", XO_ERR_PARSE, "invalid JSON");
    expect_bad("{\"v\":1,\"pool\":\"\xff\xfe\"}", XO_ERR_PARSE, "invalid JSON");
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    expect_bad(deep, XO_ERR_LIMIT, "nesting too deep");
    assert_int_equal(xo_msg_parse(XO_MSG_SYNC, NULL, 0, &(json_object *){NULL}, NULL, 0),
                     XO_ERR_PARSE);
    assert_int_equal(
        xo_msg_parse(XO_MSG_SYNC, "x", XO_MSG_MAX_BYTES + 1, &(json_object *){NULL}, NULL, 0),
        XO_ERR_LIMIT);
}

/* Invalid UTF-8 is refused wherever it sits (the ASCII test reads 8 bytes at a time, then
 * the tail), valid UTF-8 is kept as it is, through a fresh and through a reused tokener. */
static void test_utf8_checked(void **state)
{
    static const char *const bad[] = {
        "{\"v\":1,\"pool\":\"\xc3(\"}",                         /* in the tail */
        "{\"v\":1,\"pool\":\"abcdefgh\xe2\x28\xa1ijklmnopq\"}", /* inside a word */
        "{\"v\":1,\"pool\":\"\xf0\x9f\x98\"}",                  /* cut before its end */
    };
    const char *good = "{\"v\":1,\"pool\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
                       "\"type\":\"sync\",\"agent\":\"a\",\"gen\":1,\"objects\":0,\"ts\":1}";
    json_tokener *tok = xo_msg_tokener_new();
    json_object *o = NULL;
    char errstr[128];
    (void)state;

    assert_non_null(tok);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(
                xo_msg_parse(XO_MSG_SYNC, bad[i], strlen(bad[i]), &o, errstr, sizeof(errstr)),
                XO_ERR_PARSE);
            assert_int_equal(xo_msg_parse_with(tok, XO_MSG_SYNC, bad[i], strlen(bad[i]), &o, errstr,
                                               sizeof(errstr)),
                             XO_ERR_PARSE);
            assert_non_null(strstr(errstr, "invalid JSON"));
        }
        assert_int_equal(
            xo_msg_parse_with(tok, XO_MSG_SYNC, good, strlen(good), &o, errstr, sizeof(errstr)),
            XO_OK);
        assert_string_equal(xo_msg_str(o, "pool"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        json_object_put(o);
    }
    json_tokener_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_object_roundtrip),
        cmocka_unit_test(test_object_write_equals_encode),
        cmocka_unit_test(test_other_messages),
        cmocka_unit_test(test_hostile_messages),
        cmocka_unit_test(test_utf8_checked),
    };
    return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
