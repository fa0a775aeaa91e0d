/* Unit tests of gateway/view/snapshot_text.c: the snapshot's text found in an agent's
 * message, and every message whose parse could read another member refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "view/snapshot_text.h"

/* The text found in @p msg, or "" when refused. */
static const char *found(const char *msg)
{
    static char buf[512];
    size_t off, n;

    if (!gw_snapshot_text(msg, strlen(msg), &off, &n))
        return "";
    memcpy(buf, msg + off, n);
    buf[n] = '\0';
    return buf;
}

static void test_agent_messages(void **state)
{
    (void)state;
    assert_string_equal(
        found("{\"v\":1,\"pool\":\"p\",\"class\":\"vm\",\"ref\":\"OpaqueRef:1\",\"op\":\"add\","
              "\"event_id\":3,\"ts\":17,\"gen\":1,\"snapshot\":{\"uuid\":\"u\",\"a\":[1,{\"b\":"
              "\"}]\\\"{\"}],\"c\":{}}}"),
        "{\"uuid\":\"u\",\"a\":[1,{\"b\":\"}]\\\"{\"}],\"c\":{}}");
    assert_string_equal(found(" { \"x\" : \"a,\\\"snapshot\\\":{}\" , \"snapshot\" : {} } "), "{}");
    assert_string_equal(found("{\"n\":-1.5e3,\"t\":true,\"z\":null,\"snapshot\":{\"k\":1}}"),
                        "{\"k\":1}");
}

static void test_refused(void **state)
{
    (void)state;
    assert_string_equal(found("{\"snapshot\":{\"a\":1},\"x\":2}"), ""); /* not last */
    assert_string_equal(found("{\"snapshot\":{\"a\":1},\"snapshot\":{\"b\":2}}"), ""); /* twice */
    assert_string_equal(found("{\"snap\\u0073hot\":{\"a\":1},\"snapshot\":{}}"), "");  /* escaped */
    assert_string_equal(found("{\"x\":{\"snapshot\":{}}}"), "");                       /* nested */
    assert_string_equal(found("{\"snapshot\":{\"a\":1}"), "");                         /* cut */
    assert_string_equal(found("{\"snapshot\":\"text"), "");
    assert_string_equal(found("[{\"snapshot\":{}}]"), "");
    assert_string_equal(found("{}"), "");
    assert_string_equal(found("{\"snapshot\":2}"), "");   /* not an object: json-c cannot */
    assert_string_equal(found("{\"snapshot\":[1]}"), ""); /* tell where a bare 2 ends */
    assert_string_equal(found(""), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_messages),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
