/* Unit tests of common/xo_patchzip.c: entry selection, streaming through a chunked source,
 * and the hostile zips of tests/fuzz/corpus/patchzip/ (made by Python's zipfile). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_patchzip.h"

/* SHA-256 of XS71E001/XS71E001.iso in iso.zip (40000 bytes). */
#define ISO_SHA256 "aaa5e8393bfa72f683686a0bbf4b93baf2e7ac19edf9ae880e17182196da78a4"

typedef struct {
    unsigned char *data;
    size_t len, off, chunk;
    bool fail_at_half; /* the download breaks half way */
} source_t;

static xo_err_t from_memory(void *opaque, const void **data, size_t *len)
{
    source_t *s = opaque;
    size_t n = s->len - s->off < s->chunk ? s->len - s->off : s->chunk;

    if (s->fail_at_half && s->off >= s->len / 2)
        return XO_ERR_IO;
    *data = s->data + s->off;
    *len = n;
    s->off += n;
    return XO_OK;
}

static source_t load(const char *name, size_t chunk)
{
    const char *src = getenv("XO_SRC_DIR");
    char path[1024];
    source_t s = {.chunk = chunk};
    FILE *f;

    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/patchzip/%s", src ? src : ".", name);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    s.len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    s.data = malloc(s.len);
    assert_int_equal(fread(s.data, 1, s.len, f), s.len);
    fclose(f);
    return s;
}

/* Open and read the whole patch entry; its SHA-256 goes to @hex. */
static xo_err_t read_all(const char *file, xo_patch_kind_t kind, size_t chunk,
                         const xo_patchzip_limits_t *lim, bool fail_at_half, char *name,
                         char hex[65], char *err)
{
    source_t s = load(file, chunk);
    xo_patchzip_t *z = NULL;
    unsigned char buf[4096], md[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint64_t total = 0;
    size_t n;
    xo_err_t e;

    s.fail_at_half = fail_at_half;
    err[0] = name[0] = hex[0] = '\0';
    e = xo_patchzip_open(from_memory, &s, kind, lim, &z, err, 256);
    if (e == XO_OK) {
        snprintf(name, 256, "%s", xo_patchzip_name(z));
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        while ((e = xo_patchzip_read(z, buf, sizeof buf, &n, err, 256)) == XO_OK && n) {
            EVP_DigestUpdate(ctx, buf, n);
            total += n;
        }
        EVP_DigestFinal_ex(ctx, md, NULL);
        for (int i = 0; i < 32; i++)
            sprintf(hex + 2 * i, "%02x", md[i]);
        if (e == XO_OK)
            assert_int_equal(total, xo_patchzip_size(z));
        assert_true(xo_patchzip_bytes_in(z) <= s.len);
    } else {
        assert_null(z);
    }
    xo_patchzip_free(z);
    EVP_MD_CTX_free(ctx);
    free(s.data);
    return e;
}

static void expect(const char *file, xo_patch_kind_t kind, xo_err_t code, const char *needle)
{
    char name[256], hex[65], err[256];

    assert_int_equal(read_all(file, kind, 1000, NULL, false, name, hex, err), code);
    if (!strstr(err, needle))
        fail_msg("%s: error \"%s\" does not mention \"%s\"", file, err, needle);
}

static void test_select(void **state)
{
    char err[256];
    bool take;

    (void)state;
    assert_int_equal(xo_patchzip_select("XS71E001.iso", XO_PATCH_ISO, &take, err, 256), XO_OK);
    assert_true(take);
    assert_int_equal(xo_patchzip_select("dir/X.ISO", XO_PATCH_ISO, &take, err, 256), XO_OK);
    assert_true(take);
    assert_int_equal(xo_patchzip_select("X.iso", XO_PATCH_XSUPDATE, &take, err, 256), XO_OK);
    assert_false(take);
    assert_int_equal(xo_patchzip_select("a.xsupdate", XO_PATCH_XSUPDATE, &take, err, 256), XO_OK);
    assert_true(take);
    assert_int_equal(xo_patchzip_select(".iso", XO_PATCH_ISO, &take, err, 256), XO_OK);
    assert_false(take); /* nothing before the suffix */
    assert_int_equal(xo_patchzip_select("x.iso/", XO_PATCH_ISO, &take, err, 256), XO_OK);
    assert_false(take); /* a directory */
    assert_int_equal(xo_patchzip_select("a..b.iso", XO_PATCH_ISO, &take, err, 256), XO_OK);
    assert_true(take); /* ".." inside a name is no component */
    assert_int_equal(xo_patchzip_select("README", XO_PATCH_ISO, &take, err, 256), XO_OK);
    assert_false(take);
    const char *bad[] = {"",       "../x.iso",  "a/../../x.iso", "a/..",      "..",
                         "/x.iso", "..\\x.iso", "a\nb.iso",      "a\x7f.iso", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(xo_patchzip_select(bad[i], XO_PATCH_ISO, &take, err, 256), XO_ERR_PARSE);
        assert_false(take);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 5);
    strcpy(longname + sizeof longname - 5, ".iso");
    assert_int_equal(xo_patchzip_select(longname, XO_PATCH_ISO, &take, err, 256), XO_ERR_PARSE);
    assert_int_equal(xo_patchzip_select(NULL, XO_PATCH_ISO, &take, err, 256), XO_ERR_PARSE);
}

static void test_reads_the_patch_entry(void **state)
{
    char name[256], hex[65], err[256];

    (void)state;
    /* in chunks of 1, 7 and 64 KiB bytes: same entry, same content */
    for (size_t chunk = 1; chunk <= 65536; chunk *= 7 * 1024 + 1) {
        assert_int_equal(read_all("iso.zip", XO_PATCH_ISO, chunk, NULL, false, name, hex, err),
                         XO_OK);
        assert_string_equal(name, "XS71E001/XS71E001.iso");
        assert_string_equal(hex, ISO_SHA256);
    }
    assert_int_equal(read_all("xsupdate.zip", XO_PATCH_XSUPDATE, 512, NULL, false, name, hex, err),
                     XO_OK);
    assert_string_equal(name, "XS70E001.xsupdate");
    assert_int_equal(read_all("stored.zip", XO_PATCH_ISO, 100, NULL, false, name, hex, err), XO_OK);
}

static void test_refuses_hostile_zips(void **state)
{
    xo_patchzip_limits_t small = {.max_entry = 10000};
    xo_patchzip_limits_t one = {.max_entries = 1};
    char name[256], hex[65], err[256];

    (void)state;
    expect("traversal.zip", XO_PATCH_ISO, XO_ERR_PARSE, ".. component");
    expect("absolute.zip", XO_PATCH_ISO, XO_ERR_PARSE, "absolute");
    expect("backslash.zip", XO_PATCH_ISO, XO_ERR_PARSE, "refused"); /* libarchive makes it ../ */
    expect("none.zip", XO_PATCH_ISO, XO_ERR_NOTFOUND, "no .iso entry");
    expect("bomb.zip", XO_PATCH_ISO, XO_ERR_LIMIT, "compression ratio over 100");
    expect("badcrc.zip", XO_PATCH_ISO, XO_ERR_PARSE, "");
    expect("truncated.zip", XO_PATCH_ISO, XO_ERR_PARSE, "truncated");
    expect("descriptor.zip", XO_PATCH_ISO, XO_ERR_PARSE, "no size in its header");
    expect("notzip.txt", XO_PATCH_ISO, XO_ERR_PARSE, "");
    assert_int_equal(read_all("iso.zip", XO_PATCH_ISO, 4096, &small, false, name, hex, err),
                     XO_ERR_LIMIT);
    assert_non_null(strstr(err, "over the limit of 10000"));
    assert_int_equal(read_all("iso.zip", XO_PATCH_ISO, 4096, &one, false, name, hex, err),
                     XO_ERR_LIMIT);
    /* the download failing half way is the download's error, not a zip error */
    assert_int_equal(read_all("iso.zip", XO_PATCH_ISO, 1000, NULL, true, name, hex, err),
                     XO_ERR_IO);
    assert_non_null(strstr(err, "download failed"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_reads_the_patch_entry),
        cmocka_unit_test(test_refuses_hostile_zips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
