/*
 * test_xmlrpc_lexer.c - unit tests of the XML-RPC tokenizer (common/xo_xmlrpc_lexer.c):
 * every construct it accepts gives the right events and every one it refuses the right
 * error, the same for every way of cutting the document into chunks (all splits into two
 * and three pieces, and byte by byte).
 * Must not: touch the network or files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xo_xmlrpc_lexer.h"

/* The events as text: "<name>", "</name>", text pieces merged and wrapped in [ ]. */
typedef struct {
    char out[8192];
    size_t len;
    bool in_text;
    int stop_after; /* > 0: the n-th start event returns XO_ERR_INVALID */
} rec_t;

static void put(rec_t *r, const char *s, size_t n)
{
    assert_true(r->len + n < sizeof r->out);
    memcpy(r->out + r->len, s, n);
    r->len += n;
    r->out[r->len] = '\0';
}

static void close_text(rec_t *r)
{
    if (r->in_text)
        put(r, "]", 1);
    r->in_text = false;
}

static xo_err_t on_start(void *opaque, const char *name, size_t len)
{
    rec_t *r = opaque;

    close_text(r);
    put(r, "<", 1);
    put(r, name, len);
    put(r, ">", 1);
    return r->stop_after && --r->stop_after == 0 ? XO_ERR_INVALID : XO_OK;
}

static xo_err_t on_end(void *opaque, const char *name, size_t len)
{
    rec_t *r = opaque;

    close_text(r);
    put(r, "</", 2);
    put(r, name, len);
    put(r, ">", 1);
    return XO_OK;
}

static xo_err_t on_text(void *opaque, const char *s, size_t len)
{
    rec_t *r = opaque;

    assert_true(len > 0);
    if (!r->in_text)
        put(r, "[", 1);
    r->in_text = true;
    put(r, s, len);
    return XO_OK;
}

static const xo_xmlrpc_lexer_cbs_t cbs = {on_start, on_end, on_text};

/* The outcome of one way of feeding: the events, the code and the message. */
typedef struct {
    rec_t rec;
    xo_err_t err;
    char msg[XO_XMLRPC_LEXER_ERRMSG];
} outcome_t;

/* Feed doc cut at the offsets cuts[0..ncuts) (ascending), then finish. */
static void run(const char *doc, const size_t *cuts, size_t ncuts, size_t max_depth, outcome_t *o)
{
    size_t len = strlen(doc), from = 0;
    xo_xmlrpc_lexer_t *lx;

    memset(o, 0, sizeof *o);
    lx = xo_xmlrpc_lexer_new(&cbs, &o->rec, max_depth);
    assert_non_null(lx);
    for (size_t i = 0; i <= ncuts && o->err == XO_OK; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        o->err = xo_xmlrpc_lexer_feed(lx, doc + from, to - from);
        from = to;
    }
    if (o->err == XO_OK)
        o->err = xo_xmlrpc_lexer_finish(lx);
    if (o->err != XO_OK)
        assert_int_equal(xo_xmlrpc_lexer_feed(lx, "<a/>", 4), o->err); /* sticky */
    close_text(&o->rec);
    snprintf(o->msg, sizeof o->msg, "%s", xo_xmlrpc_lexer_error(lx));
    xo_xmlrpc_lexer_free(lx);
}

static void assert_same(const outcome_t *want, const outcome_t *got, const char *doc,
                        const char *how)
{
    /* Events before an error are provisional (text goes out as it comes, so how much of it
     * precedes the error depends on the chunks): only a success compares them. */
    if (want->err != got->err || strcmp(want->msg, got->msg) != 0 ||
        (want->err == XO_OK && strcmp(want->rec.out, got->rec.out) != 0)) {
        print_message("%s fed %s differs:\n  whole: %d %s | %s\n  split: %d %s | %s\n", doc, how,
                      want->err, want->rec.out, want->msg, got->err, got->rec.out, got->msg);
        fail();
    }
}

/* The outcome of doc fed whole, checked equal when fed in every split into two and (for
 * short documents) three pieces, and byte by byte. */
static void outcome_of(const char *doc, size_t max_depth, outcome_t *whole)
{
    size_t len = strlen(doc), cuts[4096];
    static outcome_t o;

    run(doc, NULL, 0, max_depth, whole);
    for (size_t i = 0; i <= len; i++) {
        cuts[0] = i;
        run(doc, cuts, 1, max_depth, &o);
        assert_same(whole, &o, doc, "in two");
        for (size_t j = i; len <= 120 && j <= len; j++) {
            cuts[1] = j;
            run(doc, cuts, 2, max_depth, &o);
            assert_same(whole, &o, doc, "in three");
        }
    }
    assert_true(len < sizeof cuts / sizeof cuts[0]);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    run(doc, cuts, len, max_depth, &o);
    assert_same(whole, &o, doc, "byte by byte");
}

static void accepts(const char *doc, const char *events)
{
    outcome_t o;

    outcome_of(doc, 0, &o);
    if (o.err != XO_OK || strcmp(o.rec.out, events) != 0) {
        print_message("%s: %d %s\n  events %s\n  want   %s\n", doc, o.err, o.msg, o.rec.out,
                      events);
        fail();
    }
}

static void refuses(const char *doc, xo_err_t err, const char *reason)
{
    outcome_t o;

    outcome_of(doc, 0, &o);
    if (o.err != err || !strstr(o.msg, reason)) {
        print_message("%s: got %d \"%s\", want %d \"%s\"\n", doc, o.err, o.msg, err, reason);
        fail();
    }
}

static void test_elements_and_text(void **state)
{
    (void)state;
    accepts("<a/>", "<a></a>");
    accepts("<a></a>", "<a></a>");
    accepts("<a >x</a >", "<a>[x]</a>");
    accepts("<a\t/>", "<a></a>");
    accepts("<a \n\r\t>\n<b>x y</b> <c/></a>", "<a>[\n]<b>[x y]</b>[ ]<c></c></a>");
    accepts("<methodResponse><params><param><value/></param></params></methodResponse>",
            "<methodResponse><params><param><value></value></param></params></methodResponse>");
    accepts("<dateTime.iso8601>x</dateTime.iso8601>", "<dateTime.iso8601>[x]</dateTime.iso8601>");
    accepts("<a_b-c.d>></a_b-c.d>", "<a_b-c.d>[>]</a_b-c.d>");
    accepts("<a>]]</a>", "<a>[]]]</a>");
    accepts("<a>] ]></a>", "<a>[] ]>]</a>");
    accepts("\n \t<a/>\r\n ", "<a></a>");
    /* UTF-8 passes through as it is */
    accepts("<a>\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80</a>",
            "<a>[\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80]</a>");
    accepts("<a>\xef\xbf\xbd\xef\xbe\xbf</a>", "<a>[\xef\xbf\xbd\xef\xbe\xbf]</a>");
}

/* Start-tag names read before are recognised from a word (known_start_tag): names that
 * share a slot of that table and differ inside, names of 7 bytes (the longest kept) and 8,
 * empty-element tags, blanks, attributes and wrong end tags after a name was kept; every
 * split of each document gives the same events as the whole (outcome_of). */
static void test_names_read_before(void **state)
{
    (void)state;
    accepts("<r><abc>1</abc><axc>2</axc><abc>3</abc><abc/><axc >4</axc></r>",
            "<r><abc>[1]</abc><axc>[2]</axc><abc>[3]</abc><abc></abc><axc>[4]</axc></r>");
    accepts("<r><abcdefg>1</abcdefg><abcdefgh>2</abcdefgh><abcdefg>3</abcdefg>"
            "<abcdefgh>4</abcdefgh></r>",
            "<r><abcdefg>[1]</abcdefg><abcdefgh>[2]</abcdefgh><abcdefg>[3]</abcdefg>"
            "<abcdefgh>[4]</abcdefgh></r>");
    refuses("<r><abc>1</abc><abc x='1'>2</abc></r>", XO_ERR_PARSE, "attributes not allowed");
    refuses("<r><abc></abc><abc></abd></r>", XO_ERR_PARSE, "does not match");
    refuses("<r><abc></abc><ab\x01>x</ab></r>", XO_ERR_PARSE, "malformed tag");
    refuses("<r><abc></abc></r><abc>", XO_ERR_PARSE, "after the document element");
}

static void test_line_ends(void **state)
{
    (void)state;
    accepts("<a>x\r\ny\rz\n\r</a>", "<a>[x\ny\nz\n\n]</a>");
    accepts("<a>\r\r\n</a>", "<a>[\n\n]</a>");
    accepts("<a>&#13;\r&#xD;&#10;</a>", "<a>[\r\n\r\n]</a>");
    accepts("<a><![CDATA[x\r\ny\r]]></a>", "<a>[x\ny\n]</a>");
}

static void test_references(void **state)
{
    (void)state;
    accepts("<a>&amp;&lt;&gt;&quot;&apos;</a>", "<a>[&<>\"']</a>");
    accepts("<a>x&amp;amp;y</a>", "<a>[x&amp;y]</a>");
    accepts("<a>&#65;&#x42;&#x0063;&#0000068;&#xe9;&#x4E2D;&#128512;</a>",
            "<a>[ABcD\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80]</a>");
    accepts("<a>&#9;&#x10FFFF;&#xFFFD;</a>", "<a>[\t\xf4\x8f\xbf\xbf\xef\xbf\xbd]</a>");
    refuses("<a>&foo;</a>", XO_ERR_PARSE, "entity references not allowed");
    refuses("<a>&amplifier;</a>", XO_ERR_PARSE, "entity references not allowed");
    refuses("<a>&AMP;</a>", XO_ERR_PARSE, "entity references not allowed");
    refuses("<a>& b</a>", XO_ERR_PARSE, "not followed by a reference");
    refuses("<a>&;</a>", XO_ERR_PARSE, "not followed by a reference");
    refuses("<a>&amp</a>", XO_ERR_PARSE, "not ended by ';'");
    refuses("<a>&#;</a>", XO_ERR_PARSE, "without digits");
    refuses("<a>&#x;</a>", XO_ERR_PARSE, "without digits");
    refuses("<a>&#X41;</a>", XO_ERR_PARSE, "bad character reference");
    refuses("<a>&#4a;</a>", XO_ERR_PARSE, "bad character reference");
    refuses("<a>&#0;</a>", XO_ERR_PARSE, "character XML forbids");
    refuses("<a>&#1;</a>", XO_ERR_PARSE, "character XML forbids");
    refuses("<a>&#xD800;</a>", XO_ERR_PARSE, "character XML forbids");
    refuses("<a>&#xFFFE;</a>", XO_ERR_PARSE, "character XML forbids");
    refuses("<a>&#x110000;</a>", XO_ERR_PARSE, "character XML forbids");
    refuses("<a>&#99999999999999999999;</a>", XO_ERR_PARSE, "character XML forbids");
    refuses("&amp;<a/>", XO_ERR_PARSE, "outside the document element");
    refuses("<a>&amp", XO_ERR_PARSE, "ends inside");
}

static void test_cdata_and_comments(void **state)
{
    (void)state;
    accepts("<a><![CDATA[<b>&amp;]]></a>", "<a>[<b>&amp;]</a>");
    accepts("<a><![CDATA[]]></a>", "<a></a>");
    accepts("<a><![CDATA[]]]]></a>", "<a>[]]]</a>");
    accepts("<a><![CDATA[x]y]]z]]]></a>", "<a>[x]y]]z]]</a>");
    accepts("<a>x<![CDATA[y]]>z</a>", "<a>[xyz]</a>");
}

static void test_cdata_end_in_text(void **state)
{
    (void)state;
    refuses("<a>x]]>y</a>", XO_ERR_PARSE, "']]>' not allowed");
    refuses("<a>]]]></a>", XO_ERR_PARSE, "']]>' not allowed");
    refuses("<a><![CDATA[x]]>]]></a>", XO_ERR_PARSE, "']]>' not allowed");
    refuses("<![CDATA[x]]><a/>", XO_ERR_PARSE, "CDATA outside");
    refuses("<a><![CDATA[x</a>", XO_ERR_PARSE, "ends inside");
    refuses("<a><![CDAT[x]]></a>", XO_ERR_PARSE, "markup declarations not allowed");
}

static void test_comments(void **state)
{
    (void)state;
    accepts("<!-- x --><a><!----><!-- <b> & -x- -->y</a><!-- z -->", "<a>[y]</a>");
    accepts("<a>x<!---->y</a>", "<a>[xy]</a>");
    refuses("<a><!-- x -- y --></a>", XO_ERR_PARSE, "'--' not allowed");
    refuses("<a><!-- x ---></a>", XO_ERR_PARSE, "'--' not allowed");
    refuses("<a><!-- x </a>", XO_ERR_PARSE, "ends inside");
    refuses("<a><!- x --></a>", XO_ERR_PARSE, "markup declarations not allowed");
    refuses("<a><!-- \x01 --></a>", XO_ERR_PARSE, "U+0001");
}

static void test_declaration_and_bom(void **state)
{
    (void)state;
    accepts("<?xml version=\"1.0\"?><a/>", "<a></a>");
    accepts("<?xml version='1.0'?>\n<a/>", "<a></a>");
    accepts("<?xml version = \"1.0\" encoding=\"UTF-8\" standalone='yes' ?><a/>", "<a></a>");
    accepts("<?xml version=\"1.1\" encoding=\"iso-8859-1\"?><a/>", "<a></a>");
    accepts("\xef\xbb\xbf<?xml version=\"1.0\"?><a/>", "<a></a>");
    accepts("\xef\xbb\xbf<a/>", "<a></a>");
    refuses("<?xml?><a/>", XO_ERR_PARSE, "processing instructions not allowed");
    refuses("<?xml ?><a/>", XO_ERR_PARSE, "malformed XML declaration");
    refuses("<?xml version=\"2.0\"?><a/>", XO_ERR_PARSE, "malformed XML declaration");
    refuses("<?xml version=\"1.0\" standalone=\"maybe\"?><a/>", XO_ERR_PARSE,
            "malformed XML declaration");
    refuses("<?xml encoding=\"UTF-8\" version=\"1.0\"?><a/>", XO_ERR_PARSE,
            "malformed XML declaration");
    refuses("<?xml version=\"1.0\" foo=\"1\"?><a/>", XO_ERR_PARSE, "malformed XML declaration");
    refuses("<?xml version=\"1.0\"><a/>", XO_ERR_PARSE, "malformed XML declaration");
    refuses(" <?xml version=\"1.0\"?><a/>", XO_ERR_PARSE, "processing instructions not allowed");
    refuses("<a><?xml version=\"1.0\"?></a>", XO_ERR_PARSE, "processing instructions");
    refuses("<?xml-stylesheet href=\"x\"?><a/>", XO_ERR_PARSE, "processing instructions");
    refuses("<?php x ?><a/>", XO_ERR_PARSE, "processing instructions not allowed");
    refuses("<a/><?pi?>", XO_ERR_PARSE, "processing instructions not allowed");
    refuses("\xef\xbb<a/>", XO_ERR_PARSE, "outside the document element");
}

static void test_dtd_and_declarations(void **state)
{
    (void)state;
    refuses("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", XO_ERR_PARSE, "DTD not allowed");
    refuses("<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>", XO_ERR_PARSE, "DTD not allowed");
    refuses("<a><!ENTITY x \"y\"></a>", XO_ERR_PARSE, "markup declarations not allowed");
    refuses("<a><!ELEMENT a ANY></a>", XO_ERR_PARSE, "markup declarations not allowed");
}

static void test_structure_errors(void **state)
{
    (void)state;
    refuses("", XO_ERR_PARSE, "no document element");
    refuses("  \n", XO_ERR_PARSE, "no document element");
    refuses("<a>", XO_ERR_PARSE, "ends inside <a>");
    refuses("<a><b></a>", XO_ERR_PARSE, "</a> does not match <b>");
    refuses("<a></ab>", XO_ERR_PARSE, "</ab> does not match <a>");
    refuses("</a>", XO_ERR_PARSE, "without a start tag");
    refuses("<a/><b/>", XO_ERR_PARSE, "content after the document element");
    refuses("x<a/>", XO_ERR_PARSE, "text outside the document element");
    refuses("<a/>x", XO_ERR_PARSE, "text outside the document element");
    refuses("<a x=\"1\"/>", XO_ERR_PARSE, "attributes not allowed");
    refuses("<a xmlns=\"urn:x\"></a>", XO_ERR_PARSE, "attributes not allowed");
    refuses("<a/ >", XO_ERR_PARSE, "malformed tag");
    refuses("<a\"/>", XO_ERR_PARSE, "malformed tag");
    refuses("< a/>", XO_ERR_PARSE, "malformed tag");
    refuses("<>", XO_ERR_PARSE, "malformed tag");
    refuses("<1a/>", XO_ERR_PARSE, "malformed tag");
    refuses("<a></a b>", XO_ERR_PARSE, "malformed end tag");
    refuses("<a></a/>", XO_ERR_PARSE, "malformed end tag");
    refuses("<\xc3\xa9/>", XO_ERR_PARSE, "non-ASCII element name");
    refuses("<a\xc3\xa9/>", XO_ERR_PARSE, "non-ASCII element name");
    refuses("<x:a/>", XO_ERR_PARSE, "namespaced element name");
    refuses("<:a/>", XO_ERR_PARSE, "namespaced element name");
    refuses("<a></x:a>", XO_ERR_PARSE, "namespaced element name");
    refuses("<a><b</a>", XO_ERR_PARSE, "malformed tag");
    refuses("<a", XO_ERR_PARSE, "ends inside");
}

static void test_forbidden_characters(void **state)
{
    (void)state;
    refuses("<a>\x01</a>", XO_ERR_PARSE, "U+0001 not allowed");
    refuses("<a>x\x1f</a>", XO_ERR_PARSE, "U+001F not allowed");
    refuses("<a>\x0c</a>", XO_ERR_PARSE, "U+000C not allowed");
    refuses("<a>\xef\xbf\xbe</a>", XO_ERR_PARSE, "U+FFFE not allowed");
    refuses("<a>x\xef\xbf\xbf</a>", XO_ERR_PARSE, "U+FFFF not allowed");
    refuses("<a><![CDATA[\xef\xbf\xbe]]></a>", XO_ERR_PARSE, "U+FFFE not allowed");
    refuses("<a><![CDATA[\x02]]></a>", XO_ERR_PARSE, "U+0002 not allowed");
    refuses("<a><!--\xef\xbf\xbf--></a>", XO_ERR_PARSE, "U+FFFF not allowed");
    refuses("\x01<a/>", XO_ERR_PARSE, "U+0001 not allowed");
}

static void test_limits(void **state)
{
    char doc[4096] = "";
    outcome_t o;

    (void)state;
    for (int i = 0; i < 5; i++)
        strcat(doc, "<a>");
    for (int i = 0; i < 5; i++)
        strcat(doc, "</a>");
    outcome_of(doc, 5, &o);
    assert_int_equal(o.err, XO_OK);
    outcome_of(doc, 4, &o);
    assert_int_equal(o.err, XO_ERR_LIMIT);
    assert_non_null(strstr(o.msg, "nest deeper than 4"));

    /* A tag of XO_XMLRPC_LEXER_MAX_TAG bytes passes; one more byte does not. */
    memset(doc, 0, sizeof doc);
    doc[0] = '<';
    memset(doc + 1, 'a', XO_XMLRPC_LEXER_MAX_NAME);
    memset(doc + 1 + XO_XMLRPC_LEXER_MAX_NAME, ' ',
           XO_XMLRPC_LEXER_MAX_TAG - 3 - XO_XMLRPC_LEXER_MAX_NAME);
    strcat(doc, "/>");
    assert_int_equal(strlen(doc), XO_XMLRPC_LEXER_MAX_TAG);
    run(doc, NULL, 0, 0, &o);
    assert_int_equal(o.err, XO_OK);
    for (size_t cut = 1; cut < XO_XMLRPC_LEXER_MAX_TAG; cut += 97) {
        outcome_t split;
        run(doc, &cut, 1, 0, &split);
        assert_same(&o, &split, "max tag", "in two");
    }
    memmove(doc + 2, doc + 1, strlen(doc));
    run(doc, NULL, 0, 0, &o);
    assert_int_equal(o.err, XO_ERR_PARSE);
    assert_non_null(strstr(o.msg, "tag longer than"));
    for (size_t cut = 1; cut < XO_XMLRPC_LEXER_MAX_TAG; cut += 97) {
        outcome_t split;
        run(doc, &cut, 1, 0, &split);
        assert_same(&o, &split, "too long tag", "in two");
    }

    /* A name one byte too long. */
    memset(doc, 0, sizeof doc);
    doc[0] = '<';
    memset(doc + 1, 'a', XO_XMLRPC_LEXER_MAX_NAME + 1);
    strcat(doc, "/>");
    refuses(doc, XO_ERR_PARSE, "element name longer than");
}

static void test_callback_stops(void **state)
{
    outcome_t o;
    xo_xmlrpc_lexer_t *lx;

    (void)state;
    memset(&o, 0, sizeof o);
    o.rec.stop_after = 2;
    lx = xo_xmlrpc_lexer_new(&cbs, &o.rec, 0);
    assert_int_equal(xo_xmlrpc_lexer_feed(lx, "<a><b>x</b><c/></a>", 19), XO_ERR_INVALID);
    assert_string_equal(o.rec.out, "<a><b>"); /* nothing after the failing event */
    assert_string_equal(xo_xmlrpc_lexer_error(lx), "");
    assert_int_equal(xo_xmlrpc_lexer_finish(lx), XO_ERR_INVALID);
    xo_xmlrpc_lexer_free(lx);

    assert_null(xo_xmlrpc_lexer_new(&(xo_xmlrpc_lexer_cbs_t){on_start, NULL, on_text}, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements_and_text),
        cmocka_unit_test(test_names_read_before),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_cdata_and_comments),
        cmocka_unit_test(test_cdata_end_in_text),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_declaration_and_bom),
        cmocka_unit_test(test_dtd_and_declarations),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_forbidden_characters),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
