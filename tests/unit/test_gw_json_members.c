/* Unit tests of gateway/core/json_members.c: the member walk gives each member's key and
 * value text exactly, in order, and refuses (false: the caller parses with json-c) every
 * text it cannot follow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/json_members.h"

typedef struct {
    char seen[2048];
    int n, stop_after;
} walk_t;

/* Every member as "key=value|" into seen. */
static bool note(void *opaque, const char *key, size_t key_len, const char *val, size_t val_len)
{
    walk_t *w = opaque;
    size_t used = strlen(w->seen);
    snprintf(w->seen + used, sizeof(w->seen) - used, "%.*s=%.*s|", (int)key_len, key, (int)val_len,
             val);
    return ++w->n != w->stop_after;
}

static bool walk(const char *json, walk_t *w)
{
    memset(w, 0, sizeof(*w));
    return gw_json_members(json, strlen(json), note, w);
}

static void test_members_and_spans(void **state)
{
    walk_t w;
    (void)state;
    assert_true(walk("{\"a\":1,\"b\":\"x\\\"}{[,\",\"c\":{\"d\":[1,{\"e\":\"]\"}],\"f\":null},"
                     "\"g\":[],\"h\":-1.5e3,\"i\":true,\"j\":false,\"k\":\"\\\\\",\"l\":\"é\"}",
                     &w));
    assert_string_equal(w.seen, "a=1|b=\"x\\\"}{[,\"|c={\"d\":[1,{\"e\":\"]\"}],\"f\":null}|"
                                "g=[]|h=-1.5e3|i=true|j=false|k=\"\\\\\"|l=\"é\"|");
    assert_true(walk(" { \"a\" : [ 1 , 2 ] ,\n\"b\":\t{ } } \n", &w));
    assert_string_equal(w.seen, "a=[ 1 , 2 ]|b={ }|");
    assert_true(walk("{}", &w));
    assert_int_equal(w.n, 0);
    assert_true(walk(" { } ", &w));
    assert_int_equal(w.n, 0);
    assert_true(walk("{\"a/b c\":0}", &w)); /* a key is its raw text when nothing is escaped */
    assert_string_equal(w.seen, "a/b c=0|");
}

static void test_stop(void **state)
{
    walk_t w;
    (void)state;
    memset(&w, 0, sizeof(w));
    w.stop_after = 2;
    assert_true(gw_json_members("{\"a\":1,\"b\":2,\"c\":3}", 19, note, &w));
    assert_int_equal(w.n, 2);
    assert_string_equal(w.seen, "a=1|b=2|");
}

static void test_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "[1]",
        "1",
        "\"a\"",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":x}",
        "{\"a\":1,}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\\\"b\":1}", /* an escaped key: its raw text is not its name */
        "{\"a\x01\":1}",  /* a control byte in a key */
        "{\"a\":[1,2}",   /* brackets that do not match */
        "{\"a\":{\"b\":1]}",
        "{\"a\":\"unterminated}", /* a string to the end */
        "{a:1}",
    };
    char deep[300];
    walk_t w;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&w, 0, sizeof(w));
        if (gw_json_members(bad[i], strlen(bad[i]), note, &w))
            fail_msg("accepted: %s", bad[i]);
    }
    /* 64 levels inside the value are followed, 65 are not */
    for (int depth = 64; depth <= 65; depth++) {
        size_t n = 0;
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"a\":");
        for (int i = 0; i < depth; i++)
            deep[n++] = '[';
        for (int i = 0; i < depth; i++)
            deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        assert_int_equal(walk(deep, &w), depth == 64);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_and_spans),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
