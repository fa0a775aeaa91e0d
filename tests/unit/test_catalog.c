/* Unit tests of common/xo_catalog.c: updates.xml parsing, hostile inputs, missing patches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_catalog.h"

/* Patches of 7.1.0 in the catalogue's order: E003 requires E002 which requires E001 (so the
 * requirements come after the patch that needs them); E004 conflicts with E005; XS72 is a
 * release upgrade; E006 is paid. 7.0.0 knows only P70. */
#define U1   "00000000-0000-0000-0000-00000000e001"
#define U2   "00000000-0000-0000-0000-00000000e002"
#define U3   "00000000-0000-0000-0000-00000000e003"
#define U4   "00000000-0000-0000-0000-00000000e004"
#define U5   "00000000-0000-0000-0000-00000000e005"
#define U6   "00000000-0000-0000-0000-00000000e006"
#define UUPG "00000000-0000-0000-0000-0000000000a2"
#define U70  "00000000-0000-0000-0000-000000000070"

static const char SAMPLE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<patchdata>\n"
    " <patches>\n"
    "  <patch uuid=\"" U3 "\" name-label=\"XS71E003\" name-description=\"Fix &amp; more\"\n"
    "   url=\"https://support.example/E003\" patch-url=\"https://dl.example/XS71E003.zip\"\n"
    "   timestamp=\"1500000003\" after-apply-guidance=\"restartHost\">\n"
    "   <requiredpatches><requiredpatch uuid=\"" U2 "\"/></requiredpatches>\n"
    "  </patch>\n"
    "  <patch uuid=\"" U2 "\" name-label=\"XS71E002\"\n"
    "   name-description=\"a &lt;b&gt; &#38; &#x41;&#38;#38;\" "
    "after-apply-guidance=\"restartXAPI\">\n"
    "   <requiredpatches><requiredpatch uuid=\"" U1 "\"/></requiredpatches>\n"
    "  </patch>\n"
    "  <patch uuid=\"" U1 "\" name-label=\"XS71E001\"/>\n"
    "  <patch uuid=\"" U4 "\" name-label=\"XS71E004\">\n"
    "   <conflictingpatches><conflictingpatch uuid=\"" U5 "\"/></conflictingpatches>\n"
    "  </patch>\n"
    "  <patch uuid=\"" U5 "\" name-label=\"XS71E005\"/>\n"
    "  <patch uuid=\"" U6 "\" name-label=\"XS71E006\" update-stream=\"premium\"/>\n"
    "  <patch uuid=\"" UUPG "\" name-label=\"XS72\"/>\n"
    "  <patch uuid=\"" U70 "\" name-label=\"XS70E001\"><unknown><x/></unknown></patch>\n"
    " </patches>\n"
    " <serverversions>\n"
    "  <version value=\"7.1.0\" name=\"XenServer 7.1\" latest=\"true\" timestamp=\"1\">\n"
    "   <patch uuid=\"" U3 "\"/><patch uuid=\"" U2 "\"/><patch uuid=\"" U1 "\"/>\n"
    "   <patch uuid=\"" U4 "\"/><patch uuid=\"" U5 "\"/><patch uuid=\"" U6 "\"/>\n"
    "   <patch uuid=\"" UUPG "\"/>\n"
    "  </version>\n"
    "  <version value=\"7.0.0\" name=\"XenServer 7.0\"><patch uuid=\"" U70 "\"/></version>\n"
    " </serverversions>\n"
    "</patchdata>\n";

static xo_catalog_t *parse_ok(const char *doc)
{
    xo_catalog_t *cat = NULL;
    char err[256] = "";

    assert_int_equal(xo_catalog_parse(doc, strlen(doc), NULL, &cat, err, sizeof err), XO_OK);
    assert_non_null(cat);
    return cat;
}

static void test_parses_sample(void **state)
{
    xo_catalog_t *cat = parse_ok(SAMPLE);
    const xo_catalog_patch_t *p3 = xo_catalog_patch(cat, U3), *p4 = xo_catalog_patch(cat, U4);
    const xo_catalog_version_t *v = xo_catalog_version(cat, "7.1.0", NULL);

    (void)state;
    assert_int_equal(xo_catalog_patch_count(cat), 8);
    assert_int_equal(xo_catalog_version_count(cat), 2);
    assert_non_null(p3);
    assert_string_equal(p3->name_label, "XS71E003");
    assert_string_equal(p3->name_description, "Fix & more");
    assert_string_equal(p3->url, "https://support.example/E003");
    assert_string_equal(p3->patch_url, "https://dl.example/XS71E003.zip");
    assert_string_equal(p3->timestamp, "1500000003");
    assert_string_equal(p3->guidance, "restartHost");
    assert_int_equal(p3->requirements.count, 1);
    assert_string_equal(p3->requirements.uuids[0], U2);
    assert_int_equal(p3->conflicts.count, 0);
    assert_false(p3->paid);
    assert_false(p3->upgrade);
    assert_int_equal(p4->conflicts.count, 1);
    assert_string_equal(p4->conflicts.uuids[0], U5);
    assert_string_equal(xo_catalog_patch(cat, U1)->guidance, "");
    assert_string_equal(xo_catalog_patch(cat, U2)->name_description, "a <b> & A&#38;");
    assert_true(xo_catalog_patch(cat, U6)->paid);
    assert_true(xo_catalog_patch(cat, UUPG)->upgrade);
    assert_non_null(v);
    assert_string_equal(v->name, "XenServer 7.1");
    assert_true(v->latest);
    assert_int_equal(v->patches.count, 7);
    assert_false(xo_catalog_version(cat, "7.0.0", NULL)->latest);
    assert_ptr_equal(xo_catalog_version(cat, "7.1", "7.1.0"), v); /* by product_version_text */
    assert_null(xo_catalog_version(cat, "8.2.1", NULL));
    assert_null(xo_catalog_patch(cat, "nope"));
    xo_catalog_free(cat);
}

/* Fed one byte at a time, the result is the same. */
static void test_streams_byte_by_byte(void **state)
{
    xo_catalog_parser_t *p = xo_catalog_parser_new(NULL);
    xo_catalog_t *cat = NULL;
    char err[256];

    (void)state;
    for (size_t i = 0; i < strlen(SAMPLE); i++)
        assert_int_equal(xo_catalog_parser_feed(p, SAMPLE + i, 1, err, sizeof err), XO_OK);
    assert_int_equal(xo_catalog_parser_finish(p, &cat, err, sizeof err), XO_OK);
    xo_catalog_parser_free(p);
    assert_int_equal(xo_catalog_patch_count(cat), 8);
    assert_string_equal(xo_catalog_patch(cat, U3)->name_description, "Fix & more");
    xo_catalog_free(cat);
}

/* Parse @doc expecting @code and a message containing @needle. */
static void expect_refused(const char *doc, size_t len, const xo_catalog_limits_t *lim,
                           xo_err_t code, const char *needle)
{
    xo_catalog_t *cat = NULL;
    char err[256] = "";

    assert_int_equal(xo_catalog_parse(doc, len, lim, &cat, err, sizeof err), code);
    assert_null(cat);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void refused(const char *doc, xo_err_t code, const char *needle)
{
    expect_refused(doc, strlen(doc), NULL, code, needle);
}

static void refused_lim(const char *doc, const xo_catalog_limits_t *lim, xo_err_t code,
                        const char *needle)
{
    expect_refused(doc, strlen(doc), lim, code, needle);
}

static void test_refuses_hostile_xml(void **state)
{
    (void)state;
    refused("<?xml version=\"1.0\"?><!DOCTYPE patchdata [<!ENTITY x SYSTEM "
            "\"file:///etc/passwd\">]><patchdata><patches><patch uuid=\"&x;\"/></patches>"
            "</patchdata>",
            XO_ERR_PARSE, "DTD");
    refused("<!DOCTYPE p [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>"
            "<patchdata name=\"&b;\"/>",
            XO_ERR_PARSE, "DTD");
    refused("<patchdata><patches><patch uuid=\"&undefined;\"/></patches></patchdata>", XO_ERR_PARSE,
            "");
    refused("<patchdata><?php evil ?></patchdata>", XO_ERR_PARSE, "processing instruction");
    refused("<patchdata><patches>", XO_ERR_PARSE, "");
    refused("<updates/>", XO_ERR_PARSE, "<updates>, not <patchdata>");
    refused("", XO_ERR_PARSE, "");
    refused("<patchdata><patches><patch name-label=\"x\"/></patches></patchdata>", XO_ERR_PARSE,
            "no uuid");
    refused("<patchdata><patches><patch uuid=\"a\"/><patch uuid=\"a\"/></patches></patchdata>",
            XO_ERR_PARSE, "patch a appears twice");
    refused("<patchdata><serverversions><version name=\"x\"/></serverversions></patchdata>",
            XO_ERR_PARSE, "no value");
    refused("<patchdata name=\"caf\xe9\"/>", XO_ERR_PARSE, "UTF-8"); /* Latin-1 */
    refused("\xff\xfe<\0p\0", XO_ERR_PARSE, "UTF-8");                /* UTF-16 */
    expect_refused("<patchdata>\0</patchdata>", 24, NULL, XO_ERR_PARSE, "UTF-8");
    refused("<patchdata>\xe2\x82", XO_ERR_PARSE, "");
}

static void test_enforces_limits(void **state)
{
    xo_catalog_limits_t lim = {
        .max_field = 16, .max_depth = 5, .max_patches = 2, .max_refs = 1, .max_total = 4096};
    char big[8192];

    (void)state;
    refused_lim("<patchdata><patches><patch uuid=\"0123456789abcdef0\"/></patches>"
                "</patchdata>",
                &lim, XO_ERR_LIMIT, "uuid is 17 bytes");
    xo_catalog_free(parse_ok("<patchdata><patches><patch uuid=\"0123456789abcdef0\"/>"
                             "</patches></patchdata>")); /* default limits: fine */
    refused_lim("<patchdata><a><b><c><d><e/></d></c></b></a></patchdata>", &lim, XO_ERR_LIMIT,
                "deeper than 5");
    refused_lim("<patchdata><patches><patch uuid=\"a\"/><patch uuid=\"b\"/><patch uuid=\"c\"/>"
                "</patches></patchdata>",
                &lim, XO_ERR_LIMIT, "more than 2 patches");
    refused_lim("<patchdata><patches><patch uuid=\"a\"><requiredpatches><requiredpatch "
                "uuid=\"b\"/><requiredpatch uuid=\"c\"/></requiredpatches></patch></patches>"
                "</patchdata>",
                &lim, XO_ERR_LIMIT, "more than 1 references");
    memset(big, ' ', sizeof big);
    memcpy(big, "<patchdata>", 11);
    memcpy(big + sizeof big - 12, "</patchdata>", 12);
    expect_refused(big, sizeof big, &lim, XO_ERR_LIMIT, "over the limit of 4096 bytes");
}

/* The uuids of a list, space-separated. */
static void list_str(const xo_catalog_list_t *l, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < l->count; i++) {
        strncat(out, l->patches[i]->name_label, size - strlen(out) - 1);
        if (i + 1 < l->count)
            strncat(out, " ", size - strlen(out) - 1);
    }
}

static xo_err_t missing(const xo_catalog_t *cat, const char *version, const char *const *installed,
                        size_t n_inst, const char *const *req, size_t n_req, bool free_host,
                        char *names, char *err)
{
    xo_catalog_list_t l = {0};
    xo_err_t e;

    names[0] = err[0] = '\0';
    e = xo_catalog_missing(cat, xo_catalog_version(cat, version, NULL), installed, n_inst, req,
                           n_req, free_host, &l, err, 256);
    if (e == XO_OK)
        list_str(&l, names, 512);
    else
        assert_int_equal(l.count, 0);
    xo_catalog_list_fini(&l);
    return e;
}

static void test_missing_lists_requirements_first(void **state)
{
    xo_catalog_t *cat = parse_ok(SAMPLE);
    const char *inst_e1[] = {U1}, *inst_e5[] = {U5};
    char names[512], err[256];

    (void)state;
    /* Nothing installed: E001 E002 before E003; E005 left out (conflicts with E004, chosen
     * first); the upgrade never listed; E006 listed on a licensed host only. */
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, NULL, 0, false, names, err), XO_OK);
    assert_string_equal(names, "XS71E001 XS71E002 XS71E003 XS71E004 XS71E006");
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, NULL, 0, true, names, err), XO_OK);
    assert_string_equal(names, "XS71E001 XS71E002 XS71E003 XS71E004");
    /* Installed ones are not missing; a conflict with an installed patch is left out. */
    assert_int_equal(missing(cat, "7.1.0", inst_e1, 1, NULL, 0, true, names, err), XO_OK);
    assert_string_equal(names, "XS71E002 XS71E003 XS71E004");
    assert_int_equal(missing(cat, "7.1.0", inst_e5, 1, NULL, 0, true, names, err), XO_OK);
    assert_string_equal(names, "XS71E001 XS71E002 XS71E003");
    /* Another version's patches do not leak in. */
    assert_int_equal(missing(cat, "7.0.0", NULL, 0, NULL, 0, true, names, err), XO_OK);
    assert_string_equal(names, "XS70E001");
    xo_catalog_free(cat);
}

static void test_missing_requested(void **state)
{
    xo_catalog_t *cat = parse_ok(SAMPLE);
    const char *e3[] = {U3}, *e45[] = {U4, U5}, *e5[] = {U5}, *inst_e4[] = {U4};
    const char *unknown[] = {"no-such"}, *e70[] = {U70}, *e6[] = {U6}, *inst_e1[] = {U1};
    const char *upg[] = {UUPG};
    char names[512], err[256];

    (void)state;
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, e3, 1, false, names, err), XO_OK);
    assert_string_equal(names, "XS71E001 XS71E002 XS71E003");
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, e45, 2, false, names, err), XO_ERR_INVALID);
    assert_string_equal(err, "patches " U5 " and " U4 " conflict with each other");
    assert_int_equal(missing(cat, "7.1.0", inst_e4, 1, e5, 1, false, names, err), XO_ERR_INVALID);
    assert_string_equal(err, "patch XS71E005 (" U5 ") conflicts with installed patch " U4);
    assert_int_equal(missing(cat, "7.1.0", inst_e1, 1, inst_e1, 1, false, names, err),
                     XO_ERR_INVALID);
    assert_string_equal(err, "patch already installed: XS71E001 (" U1 ")");
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, unknown, 1, false, names, err),
                     XO_ERR_NOTFOUND);
    assert_string_equal(err, "patch not found: no-such");
    /* A patch of another version, or an upgrade, is not offered for this one. */
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, e70, 1, false, names, err), XO_ERR_NOTFOUND);
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, upg, 1, false, names, err), XO_ERR_NOTFOUND);
    assert_int_equal(missing(cat, "7.1.0", NULL, 0, e6, 1, true, names, err), XO_ERR_INVALID);
    assert_string_equal(err, "patch XS71E006 (" U6 ") requires a XenServer license");
    xo_catalog_free(cat);
}

static void test_missing_bad_requirements(void **state)
{
    static const char doc[] =
        "<patchdata><patches>"
        "<patch uuid=\"a\" name-label=\"A\"><requiredpatches><requiredpatch uuid=\"b\"/>"
        "</requiredpatches></patch>"
        "<patch uuid=\"b\" name-label=\"B\"><requiredpatches><requiredpatch uuid=\"a\"/>"
        "</requiredpatches></patch>"
        "<patch uuid=\"c\" name-label=\"C\"><requiredpatches><requiredpatch uuid=\"gone\"/>"
        "</requiredpatches></patch>"
        "</patches><serverversions>"
        "<version value=\"1\"><patch uuid=\"a\"/><patch uuid=\"b\"/></version>"
        "<version value=\"2\"><patch uuid=\"c\"/></version>"
        "</serverversions></patchdata>";
    xo_catalog_t *cat = parse_ok(doc);
    char names[512], err[256];

    (void)state;
    assert_int_equal(missing(cat, "1", NULL, 0, NULL, 0, false, names, err), XO_ERR_INVALID);
    assert_string_equal(err, "patches b and a require each other");
    assert_int_equal(missing(cat, "2", NULL, 0, NULL, 0, false, names, err), XO_ERR_NOTFOUND);
    assert_string_equal(err, "required patch gone not found");
    xo_catalog_free(cat);
}

static void test_update_system_by_platform_version(void **state)
{
    (void)state;
    assert_true(xo_catalog_uses_update_system("2.1.1"));
    assert_true(xo_catalog_uses_update_system("2.1.2"));
    assert_true(xo_catalog_uses_update_system("2.2.0"));
    assert_true(xo_catalog_uses_update_system("3.2.1"));
    assert_true(xo_catalog_uses_update_system("2.10"));
    assert_false(xo_catalog_uses_update_system("2.1.0"));
    assert_false(xo_catalog_uses_update_system("2.0.9"));
    assert_false(xo_catalog_uses_update_system("1.9.0")); /* XenServer 6.5 */
    assert_false(xo_catalog_uses_update_system("2.1"));
    assert_false(xo_catalog_uses_update_system(""));
    assert_false(xo_catalog_uses_update_system("x.1.1"));
    assert_false(xo_catalog_uses_update_system(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_sample),
        cmocka_unit_test(test_streams_byte_by_byte),
        cmocka_unit_test(test_refuses_hostile_xml),
        cmocka_unit_test(test_enforces_limits),
        cmocka_unit_test(test_missing_lists_requirements_first),
        cmocka_unit_test(test_missing_requested),
        cmocka_unit_test(test_missing_bad_requirements),
        cmocka_unit_test(test_update_system_by_platform_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
