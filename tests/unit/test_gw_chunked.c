/* Unit tests of gateway/core/chunked.c: the chunked request body decoder of vm.import's
 * uploads. The payload comes out whole whatever the pieces it is fed in (down to one byte),
 * extensions and trailers are dropped, the end is found and what follows it is left, and
 * malformed framing is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/chunked.h"

typedef struct {
    char out[4096];
    size_t n;
} sink_t;

static void collect(void *opaque, const uint8_t *p, size_t n)
{
    sink_t *s = opaque;

    assert_true(s->n + n <= sizeof(s->out));
    memcpy(s->out + s->n, p, n);
    s->n += n;
}

/* Feed @p body in pieces of @p step bytes; the decoder's last answer, and where it ended. */
static int feed(const char *body, size_t step, sink_t *s, size_t *end)
{
    gw_chunked_t c;
    size_t at = 0, len = strlen(body);
    int rc = 0;

    gw_chunked_init(&c);
    memset(s, 0, sizeof(*s));
    while (at < len && rc == 0) {
        size_t n = len - at < step ? len - at : step, used = 0;
        rc = gw_chunked_feed(&c, (const uint8_t *)body + at, n, collect, s, &used);
        if (rc >= 0)
            at += used;
    }
    if (rc == 1)
        assert_int_equal(c.body, s->n);
    *end = at;
    return rc;
}

static void test_pieces_of_any_size(void **state)
{
    static const char body[] = "5\r\nhello\r\n1;name=value\r\n \r\n"
                               "B\r\nchunked wor\r\n2\r\nld\r\n0\r\nX-Trailer: 1\r\n\r\n";
    sink_t s;
    size_t end;

    (void)state;
    for (size_t step = 1; step <= sizeof(body); step++) {
        assert_int_equal(feed(body, step, &s, &end), 1);
        assert_int_equal(s.n, strlen("hello chunked world"));
        assert_memory_equal(s.out, "hello chunked world", s.n);
        assert_int_equal(end, strlen(body));
    }
}

static void test_end_leaves_the_rest(void **state)
{
    static const char body[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    sink_t s;
    size_t end;

    (void)state;
    assert_int_equal(feed(body, sizeof(body), &s, &end), 1);
    assert_int_equal(end, strlen("3\r\nabc\r\n0\r\n\r\n"));
    assert_int_equal(s.n, 3);
}

static void test_needs_more(void **state)
{
    sink_t s;
    size_t end;

    (void)state;
    assert_int_equal(feed("10\r\n0123456789", 4, &s, &end), 0);
    assert_int_equal(s.n, 10);
    assert_int_equal(feed("0\r\n", 1, &s, &end), 0); /* the empty line is still to come */
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "\r\nabc",                /* no size */
        "zz\r\nabc",              /* not hex */
        "3\nabc\r\n0\r\n\r\n",    /* LF without CR */
        "3\r\nabcd\r\n0\r\n\r\n", /* the chunk is longer than its size */
        "3\r\nabc\r\n0\r\n\rX",   /* a broken last line */
        "1000000000000000\r\n",   /* 2^60: too large */
    };
    sink_t s;
    size_t end;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(feed(bad[i], 1, &s, &end), -1);
}

static void test_line_limit(void **state)
{
    static char body[GW_CHUNKED_LINE_MAX + 64];
    sink_t s;
    size_t end;

    (void)state;
    memset(body, 0, sizeof(body));
    strcpy(body, "1;");
    memset(body + 2, 'x', GW_CHUNKED_LINE_MAX); /* an extension longer than any line */
    assert_int_equal(feed(body, 512, &s, &end), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_of_any_size), cmocka_unit_test(test_end_leaves_the_rest),
        cmocka_unit_test(test_needs_more),         cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_line_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
