/* Unit tests of gateway/transport/static_files.c: which request paths name a file of the
 * web UI (nothing that could leave its directory: "..", hidden names, odd bytes, symbolic
 * links out), content types, cache policy, ETags and If-None-Match, and where the
 * directory is found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport/static_files.h"

/* A web UI directory in /tmp: index.html, app/main.js, vendor/x-1/a.js, .secret, a link
 * to /etc/hostname inside, and a file beside it (outside). */
typedef struct {
    char base[PATH_MAX], root[PATH_MAX];
} tree_t;

static void put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX * 2];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    tree_t *t = calloc(1, sizeof(*t));
    char path[PATH_MAX * 2];

    snprintf(t->base, sizeof(t->base), "/tmp/xo-static-XXXXXX");
    assert_non_null(mkdtemp(t->base));
    snprintf(path, sizeof(path), "%s/webui", t->base);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_non_null(realpath(path, t->root));
    snprintf(path, sizeof(path), "%s/app", t->root);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/vendor", t->root);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/vendor/x-1", t->root);
    assert_int_equal(mkdir(path, 0700), 0);
    put(t->root, "index.html", "<!doctype html>");
    put(t->root, "app/main.js", "export {};");
    put(t->root, "vendor/x-1/a.js", "export {};");
    put(t->root, ".secret", "no");
    put(t->base, "outside.txt", "no");
    snprintf(path, sizeof(path), "%s/out.txt", t->root);
    assert_int_equal(symlink("../outside.txt", path), 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tree_t *t = *state;
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->base);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

static void test_paths(void **state)
{
    static const char *const ok[] = {"/", "/index.html", "/app/main.js",
                                     "/vendor/novnc-1.7.0/core/rfb.js", "/a_b~c@d+e-f.js"};
    static const char *const refused[] = {"",
                                          "index.html",
                                          "/..",
                                          "/../etc/passwd",
                                          "/app/../index.html",
                                          "/app/..",
                                          "/.git/config",
                                          "/app/.hidden.js",
                                          "//etc/passwd",
                                          "/app//main.js",
                                          "/app/",
                                          "/a b.js",
                                          "/a%2e.js",
                                          "/a\\b.js",
                                          "/a\x01.js",
                                          "/caf\xc3\xa9.js"};
    char long_path[GW_STATIC_PATH_MAX];
    (void)state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(gw_static_path_ok(ok[i]));
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (gw_static_path_ok(refused[i]))
            fail_msg("accepted %s", refused[i]);
    }
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    assert_false(gw_static_path_ok(long_path));
}

static void test_types_and_cache(void **state)
{
    (void)state;
    assert_string_equal(gw_static_content_type("/index.html"), "text/html; charset=utf-8");
    assert_string_equal(gw_static_content_type("/app/main.js"), "text/javascript; charset=utf-8");
    assert_string_equal(gw_static_content_type("/style.css"), "text/css; charset=utf-8");
    assert_string_equal(gw_static_content_type("/favicon.svg"), "image/svg+xml");
    assert_null(gw_static_content_type("/Makefile"));
    assert_null(gw_static_content_type("/a.sh"));
    assert_null(gw_static_content_type("/v1.2/README"));
    assert_string_equal(gw_static_cache_control("/index.html"), "no-cache");
    assert_string_equal(gw_static_cache_control("/app/main.js"), "no-cache");
    assert_string_equal(gw_static_cache_control("/vendor/novnc-1.7.0/core/rfb.js"),
                        "public, max-age=31536000, immutable");
}

static void test_resolve(void **state)
{
    tree_t *t = *state;
    gw_static_file_t f;
    char want[PATH_MAX * 2];

    assert_int_equal(gw_static_resolve(t->root, "/", &f), XO_OK);
    snprintf(want, sizeof(want), "%s/index.html", t->root);
    assert_string_equal(f.path, want);
    assert_int_equal(f.size, strlen("<!doctype html>"));
    assert_string_equal(f.cache_control, "no-cache");
    assert_true(f.etag[0] == '"' && f.etag[strlen(f.etag) - 1] == '"');
    assert_int_equal(gw_static_resolve(t->root, "/vendor/x-1/a.js", &f), XO_OK);
    assert_string_equal(f.cache_control, "public, max-age=31536000, immutable");
    assert_int_equal(gw_static_resolve(t->root, "/app/main.js", &f), XO_OK);
    assert_string_equal(f.content_type, "text/javascript; charset=utf-8");
    /* missing, a directory, hidden, a link leading out, traversal */
    assert_int_equal(gw_static_resolve(t->root, "/nope.js", &f), XO_ERR_NOTFOUND);
    assert_int_equal(gw_static_resolve(t->root, "/app", &f), XO_ERR_NOTFOUND);
    assert_int_equal(gw_static_resolve(t->root, "/.secret", &f), XO_ERR_NOTFOUND);
    assert_int_equal(gw_static_resolve(t->root, "/out.txt", &f), XO_ERR_NOTFOUND);
    assert_int_equal(gw_static_resolve(t->root, "/../outside.txt", &f), XO_ERR_NOTFOUND);
}

static void test_etag_matches(void **state)
{
    const char *tag = "\"1a-2b\"";
    (void)state;

    assert_true(gw_static_etag_matches("\"1a-2b\"", tag));
    assert_true(gw_static_etag_matches("W/\"1a-2b\"", tag));
    assert_true(gw_static_etag_matches("\"x\", \"1a-2b\"", tag));
    assert_true(gw_static_etag_matches(" *", tag));
    assert_false(gw_static_etag_matches(NULL, tag));
    assert_false(gw_static_etag_matches("", tag));
    assert_false(gw_static_etag_matches("\"1a-2c\"", tag));
    assert_false(gw_static_etag_matches("\"1a-2b", tag));
    assert_false(gw_static_etag_matches("1a-2b", tag));
}

static void test_find_root(void **state)
{
    tree_t *t = *state;
    char out[PATH_MAX], err[PATH_MAX * 3];

    assert_int_equal(gw_static_find_root(t->root, out, sizeof(out), err, sizeof(err)), XO_OK);
    assert_string_equal(out, t->root);
    assert_int_equal(gw_static_find_root(t->base, out, sizeof(out), err, sizeof(err)),
                     XO_ERR_NOTFOUND);
    assert_non_null(strstr(err, "index.html"));
    /* unset: <exe dir>/../share/xo-fleet/webui (build/tests/ finds the build tree's) */
    if (gw_static_find_root(NULL, out, sizeof(out), err, sizeof(err)) == XO_OK) {
        size_t n = strlen(out), m = strlen("/share/xo-fleet/webui");
        assert_true(n > m && !strcmp(out + n - m, "/share/xo-fleet/webui"));
    } else {
        assert_non_null(strstr(err, "share/xo-fleet/webui"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_types_and_cache),
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test(test_etag_matches),
        cmocka_unit_test_setup_teardown(test_find_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
