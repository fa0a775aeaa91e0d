/* Unit tests of cli/url.c: the server addresses register and --url accept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "url.h"

static void test_valid(void **state)
{
    cli_url_t u;
    char out[600], err[256];
    (void)state;
    assert_int_equal(cli_url_parse("http://127.0.0.1:8080", &u, err, sizeof(err)), XO_OK);
    assert_false(u.tls);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.base, "/");
    assert_string_equal(u.token, "");
    cli_url_http(&u, out, sizeof(out));
    assert_string_equal(out, "http://127.0.0.1:8080/");

    assert_int_equal(cli_url_parse("wss://xo.example.net/prefix//", &u, err, sizeof(err)), XO_OK);
    assert_true(u.tls);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.base, "/prefix/");
    cli_url_http(&u, out, sizeof(out));
    assert_string_equal(out, "https://xo.example.net:443/prefix/");

    assert_int_equal(cli_url_parse("HTTPS://tok3n@[::1]:8443/", &u, err, sizeof(err)), XO_OK);
    assert_string_equal(u.token, "tok3n");
    assert_string_equal(u.host, "::1");
    cli_url_host_header(&u, out, sizeof(out));
    assert_string_equal(out, "[::1]:8443");
    cli_url_http(&u, out, sizeof(out));
    assert_string_equal(out, "https://[::1]:8443/"); /* never the token */

    assert_int_equal(cli_url_parse("ws://h", &u, err, sizeof(err)), XO_OK);
    assert_int_equal(u.port, 80);
}

static void test_invalid(void **state)
{
    const char *bad[] = {"",
                         "127.0.0.1:8080",
                         "ftp://h/",
                         "http://",
                         "http://:80",
                         "http://h:0",
                         "http://h:65536",
                         "http://h:8x",
                         "http://h:",
                         "http://[::1/",
                         "http://[::1]x/",
                         "http://h/?q=1",
                         "http://h/#f",
                         "http://h /"};
    cli_url_t u;
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_not_equal(cli_url_parse(bad[i], &u, err, sizeof(err)), XO_OK);
        assert_non_null(strstr(err, "invalid URL"));
    }
    char longhost[400] = "http://";
    memset(longhost + 7, 'h', 300);
    assert_int_equal(cli_url_parse(longhost, &u, err, sizeof(err)), XO_ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
