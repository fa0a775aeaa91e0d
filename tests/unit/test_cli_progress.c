/* Unit tests of cli/progress.c: which tasks the bar follows, and the bar's line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "progress.h"

static void feed(cli_progress_t *p, const char *json)
{
    json_object *o = json_tokener_parse(json);
    assert_non_null(o);
    cli_progress_feed(p, o);
    json_object_put(o);
}

static void test_follows_pending_async_tasks(void **state)
{
    cli_progress_t p;
    double f = -1;
    (void)state;
    memset(&p, 0, sizeof(p));
    assert_false(cli_progress_fraction(&p, &f));
    /* not a task, a finished task, a task that is not an Async.* call: not followed */
    feed(&p, "{\"type\":\"enter\",\"items\":{\"v\":{\"type\":\"VM\",\"status\":\"pending\"},"
             "\"t0\":{\"type\":\"task\",\"name_label\":\"Async.VM.start\",\"status\":\"success\"},"
             "\"t1\":{\"type\":\"task\",\"name_label\":\"other\",\"status\":\"pending\"}}}");
    assert_false(cli_progress_fraction(&p, &f));
    feed(&p, "{\"type\":\"enter\",\"items\":{\"t2\":{\"type\":\"task\",\"name_label\":"
             "\"Async.VM.copy\",\"status\":\"pending\",\"progress\":0.25}}}");
    assert_true(cli_progress_fraction(&p, &f));
    assert_true(f > 0.249 && f < 0.251);
    assert_string_equal(p.label, "Async.VM.copy");
    feed(&p, "{\"type\":\"enter\",\"items\":{\"t3\":{\"type\":\"task\",\"name_label\":"
             "\"Async.VM.start\",\"status\":\"pending\",\"progress\":0.75}}}");
    assert_true(cli_progress_fraction(&p, &f));
    assert_true(f > 0.499 && f < 0.501); /* the mean of the tasks followed */
    /* t2 finishes: it counts as done; t3 leaves (exit): done too */
    feed(&p, "{\"type\":\"enter\",\"items\":{\"t2\":{\"type\":\"task\",\"name_label\":"
             "\"Async.VM.copy\",\"status\":\"success\",\"progress\":1}}}");
    feed(&p, "{\"type\":\"exit\",\"items\":{\"t3\":0,\"unknown\":0}}");
    assert_true(cli_progress_fraction(&p, &f));
    assert_true(f > 0.999);
    assert_string_equal(p.label, "Async.VM.copy");
    /* out-of-range progress is clamped; malformed params are ignored */
    feed(&p, "{\"type\":\"enter\",\"items\":{\"t4\":{\"type\":\"task\",\"name_label\":"
             "\"Async.pool.patch\",\"status\":\"pending\",\"progress\":7}}}");
    feed(&p, "{\"items\":[]}");
    assert_int_equal(p.ntasks, 3);
    assert_true(p.tasks[2].progress == 1.0);
}

static void test_bounded_tasks(void **state)
{
    cli_progress_t p;
    char json[256];
    (void)state;
    memset(&p, 0, sizeof(p));
    for (int i = 0; i < CLI_PROGRESS_TASKS + 5; i++) {
        snprintf(json, sizeof(json),
                 "{\"type\":\"enter\",\"items\":{\"t%d\":{\"type\":\"task\",\"name_label\":"
                 "\"Async.VM.start\",\"status\":\"pending\"}}}",
                 i);
        feed(&p, json);
    }
    assert_int_equal(p.ntasks, CLI_PROGRESS_TASKS);
}

static void test_render(void **state)
{
    char line[256];
    (void)state;
    cli_progress_render(line, sizeof(line), 60, "Async.VM.copy", 0.5, 12.4);
    /* \r, label, a bar, percent, seconds, erase to the end of the line */
    assert_string_equal(line, "\rAsync.VM.copy [#################-----------------]  50% "
                              "12s\033[K");
    /* the visible part fills the columns but one (no wrap) */
    assert_int_equal(strlen(line) - strlen("\r") - strlen("\033[K"), 59);
    cli_progress_render(line, sizeof(line), 30, "Async.VM.copy", 1.5, 0);
    assert_non_null(strstr(line, "100%"));
    assert_true(strlen(line) - 1 - 3 <= 29);
    assert_null(strchr(line, '-')); /* clamped to full */
    cli_progress_render(line, sizeof(line), 10, "x", 0.5, 0);
    assert_string_equal(line, "");
    cli_progress_render(line, 12, 200, "label", 0.5, 0); /* a small buffer is not overrun */
    assert_true(strlen(line) < 12);
    assert_string_equal(cli_progress_clear(), "\r\033[K");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_pending_async_tasks),
        cmocka_unit_test(test_bounded_tasks),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
