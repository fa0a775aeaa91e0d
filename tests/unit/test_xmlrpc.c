/*
 * test_xmlrpc.c - unit tests of the XML-RPC codec (common/xo_xmlrpc.c): round trips of every
 * type, XAPI envelopes, hostile documents (DTDs, XXE, billion laughs, limits, bad types),
 * chunked feeding, streaming mode, and the memory used to decode a 100 MB response; all of
 * it over both XML parsers (the fast one, then libxml2's).
 * Must not: touch the network or depend on files other than /etc/passwd's absence from
 * the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "xo_xmlrpc.h"

#define RESP_HEAD "<?xml version=\"1.0\"?><methodResponse><params><param>"
#define RESP_TAIL "</param></params></methodResponse>"

static char errbuf[512];

static xo_err_t decode_str(const char *doc, json_object **out)
{
    errbuf[0] = '\0';
    return xo_xmlrpc_decode(doc, strlen(doc), out, errbuf, sizeof errbuf);
}

/* Decode a response whose <param> holds value_xml; asserts success. */
static json_object *decode_value(const char *value_xml)
{
    char doc[4096];
    json_object *out = NULL;

    snprintf(doc, sizeof doc, RESP_HEAD "%s" RESP_TAIL, value_xml);
    xo_err_t err = decode_str(doc, &out);
    if (err != XO_OK)
        print_message("decode failed: %s\n", errbuf);
    assert_int_equal(err, XO_OK);
    return out;
}

/* Decode a response with value_xml; asserts failure with `want` and returns errbuf. */
static const char *decode_value_fails(const char *value_xml, xo_err_t want)
{
    char doc[4096];
    json_object *out = NULL;

    snprintf(doc, sizeof doc, RESP_HEAD "%s" RESP_TAIL, value_xml);
    assert_int_equal(decode_str(doc, &out), want);
    assert_null(out);
    assert_true(errbuf[0] != '\0');
    return errbuf;
}

static void assert_doc_fails(const char *doc, xo_err_t want, const char *reason_part)
{
    json_object *out = NULL;

    assert_int_equal(decode_str(doc, &out), want);
    assert_null(out);
    if (reason_part && !strstr(errbuf, reason_part)) {
        print_message("errstr \"%s\" lacks \"%s\"\n", errbuf, reason_part);
        fail();
    }
}

static json_object *round_trip(json_object *v)
{
    char *doc = NULL;
    size_t len = 0;
    json_object *out = NULL;

    assert_int_equal(xo_xmlrpc_encode_response(v, &doc, &len, errbuf, sizeof errbuf), XO_OK);
    assert_int_equal(strlen(doc), len);
    xo_err_t err = xo_xmlrpc_decode(doc, len, &out, errbuf, sizeof errbuf);
    if (err != XO_OK)
        print_message("decode of %s failed: %s\n", doc, errbuf);
    assert_int_equal(err, XO_OK);
    free(doc);
    return out;
}

static void test_round_trip_types(void **state)
{
    (void)state;
    const char *json = "{\"s\":\"a<b>&c\\r\\n\\u00e9\\u4e2d\\ud83d\\ude00\",\"i\":-42,"
                       "\"b\":true,\"f\":false,\"d\":60.1,\"tiny\":1e-300,\"n\":null,"
                       "\"a\":[1,\"x\",[],{}],\"o\":{\"k\":{\"k\":[null]}},\"e\":\"\"}";
    json_object *in = json_tokener_parse(json);
    assert_non_null(in);
    json_object *out = round_trip(in);
    /* 64-bit ints travel as strings, as XAPI does; everything else is exact. */
    assert_true(json_object_equal(in, out));
    json_object_put(out);

    json_object *big = json_object_new_int64(INT64_C(4294967296));
    out = round_trip(big);
    assert_true(json_object_is_type(out, json_type_string));
    assert_string_equal(json_object_get_string(out), "4294967296");
    json_object_put(out);
    json_object_put(big);

    out = round_trip(NULL);
    assert_null(out);
    json_object_put(in);
}

static void test_encode_call(void **state)
{
    (void)state;
    json_object *params = json_tokener_parse("[\"OpaqueRef:s\", [\"*\"], \"\", 60.1, "
                                             "9223372036854775807, -2147483648]");
    char *doc = NULL;
    size_t len = 0;

    assert_int_equal(xo_xmlrpc_encode_call("event.from", params, &doc, &len, errbuf, sizeof errbuf),
                     XO_OK);
    assert_non_null(strstr(doc, "<methodName>event.from</methodName>"));
    assert_non_null(strstr(doc, "<double>60.1</double>"));
    assert_non_null(strstr(doc, "<string>9223372036854775807</string>"));
    assert_non_null(strstr(doc, "<int>-2147483648</int>"));

    /* A call decodes back to its params, and the method name is kept. */
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
    json_object *out = NULL;
    assert_int_equal(xo_xmlrpc_decoder_feed(dec, doc, len, errbuf, sizeof errbuf), XO_OK);
    assert_int_equal(xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf), XO_OK);
    assert_string_equal(xo_xmlrpc_decoder_method(dec), "event.from");
    assert_int_equal(json_object_array_length(out), 6);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(out, 4)),
                        "9223372036854775807");
    assert_true(json_object_get_double(json_object_array_get_idx(out, 3)) == 60.1);
    json_object_put(out);
    xo_xmlrpc_decoder_free(dec);
    free(doc);
    json_object_put(params);

    /* No params; params that are not an array. */
    assert_int_equal(xo_xmlrpc_encode_call("x", NULL, &doc, NULL, errbuf, sizeof errbuf), XO_OK);
    free(doc);
    json_object *notarr = json_object_new_int(1);
    assert_int_equal(xo_xmlrpc_encode_call("x", notarr, &doc, NULL, errbuf, sizeof errbuf),
                     XO_ERR_INVALID);
    json_object_put(notarr);
}

static void assert_encode_invalid(const char *s, size_t n)
{
    json_object *params = json_object_new_array();
    char *doc = NULL;

    json_object_array_add(params, json_object_new_string_len(s, (int)n));
    assert_int_equal(xo_xmlrpc_encode_call("m", params, &doc, NULL, errbuf, sizeof errbuf),
                     XO_ERR_INVALID);
    assert_null(doc);
    assert_true(errbuf[0] != '\0');
    json_object_put(params);
}

static void test_encode_rejects_bad_strings(void **state)
{
    (void)state;
    assert_encode_invalid("a\xff", 2);        /* invalid UTF-8 */
    assert_encode_invalid("\xc0\xaf", 2);     /* overlong */
    assert_encode_invalid("\xed\xa0\x80", 3); /* surrogate */
    assert_encode_invalid("a\0b", 3);         /* NUL */
    assert_encode_invalid("\x01", 1);         /* control char */
    assert_encode_invalid("\xef\xbf\xbe", 3); /* U+FFFE */
    assert_encode_invalid("\xe4\xb8", 2);     /* truncated sequence */

    json_object *deep = json_object_new_array(), *cur = deep;
    for (int i = 0; i < 100; i++) {
        json_object *n = json_object_new_array();
        json_object_array_add(cur, n);
        cur = n;
    }
    char *doc = NULL;
    assert_int_equal(xo_xmlrpc_encode_call("m", deep, &doc, NULL, errbuf, sizeof errbuf),
                     XO_ERR_LIMIT);
    json_object_put(deep);
}

static void test_decode_scalars(void **state)
{
    (void)state;
    json_object *v = decode_value("<value>untyped &amp; text</value>");
    assert_string_equal(json_object_get_string(v), "untyped & text");
    json_object_put(v);

    v = decode_value("<value></value>");
    assert_string_equal(json_object_get_string(v), "");
    json_object_put(v);

    v = decode_value("<value><i4> 7 </i4></value>");
    assert_int_equal(json_object_get_int64(v), 7);
    json_object_put(v);

    v = decode_value("<value><i8>-9223372036854775808</i8></value>");
    assert_true(json_object_get_int64(v) == INT64_MIN);
    json_object_put(v);

    v = decode_value("<value><boolean>1</boolean></value>");
    assert_true(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v));
    json_object_put(v);

    v = decode_value("<value><dateTime.iso8601>20240101T00:00:00Z</dateTime.iso8601></value>");
    assert_string_equal(json_object_get_string(v), "20240101T00:00:00Z");
    json_object_put(v);

    v = decode_value("<value><base64>AGhp\n/w==</base64></value>");
    assert_int_equal(json_object_get_string_len(v), 4);
    assert_memory_equal(json_object_get_string(v), "\0hi\xff", 4);
    json_object_put(v);

    v = decode_value("<value><double>1.5e3</double></value>");
    assert_true(json_object_get_double(v) == 1500.0);
    json_object_put(v);

    v = decode_value("<value><struct><member><name>a</name><value><nil/></value></member>"
                     "<member><name>b</name><value><array><data/></array></value></member>"
                     "</struct></value>");
    assert_true(json_object_object_get_ex(v, "a", NULL));
    assert_null(json_object_object_get(v, "a"));
    assert_int_equal(json_object_array_length(json_object_object_get(v, "b")), 0);
    json_object_put(v);

    v = decode_value("<value><string><![CDATA[<raw>]]></string></value>");
    assert_string_equal(json_object_get_string(v), "<raw>");
    json_object_put(v);
}

static void test_fault(void **state)
{
    (void)state;
    const char *doc = "<?xml version=\"1.0\"?><methodResponse><fault><value><struct>"
                      "<member><name>faultCode</name><value><int>4</int></value></member>"
                      "<member><name>faultString</name><value>Too many params</value></member>"
                      "</struct></value></fault></methodResponse>";
    json_object *out = NULL;

    assert_int_equal(decode_str(doc, &out), XO_ERR_XAPI);
    assert_non_null(strstr(errbuf, "fault 4: Too many params"));
    assert_non_null(out);
    assert_int_equal(json_object_get_int(json_object_object_get(out, "faultCode")), 4);
    json_object_put(out);
}

static void test_xapi_unwrap(void **state)
{
    (void)state;
    xo_xapi_error_t xerr = {0};
    json_object *value = NULL;
    json_object *ok = json_tokener_parse("{\"Status\":\"Success\",\"Value\":[\"OpaqueRef:1\"]}");
    json_object *bad = json_tokener_parse(
        "{\"Status\":\"Failure\",\"ErrorDescription\":[\"HOST_IS_SLAVE\",\"10.0.0.1\"]}");

    assert_int_equal(xo_xapi_unwrap(ok, &value, &xerr), XO_OK);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(value, 0)), "OpaqueRef:1");
    json_object_put(value);

    assert_int_equal(xo_xapi_unwrap(bad, &value, &xerr), XO_ERR_XAPI);
    assert_null(value);
    assert_string_equal(xerr.code, "HOST_IS_SLAVE");
    assert_int_equal(json_object_array_length(xerr.params), 1);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(xerr.params, 0)),
                        "10.0.0.1");
    xo_xapi_error_clear(&xerr);
    assert_null(xerr.params);
    assert_string_equal(xerr.code, "");

    const char *garbage[] = {"[]",
                             "{\"Status\":\"Maybe\"}",
                             "{\"Status\":1}",
                             "{\"Status\":\"Failure\"}",
                             "{\"Status\":\"Failure\",\"ErrorDescription\":[]}",
                             "{\"Status\":\"Failure\",\"ErrorDescription\":[1]}",
                             "{}"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        json_object *g = json_tokener_parse(garbage[i]);
        assert_int_equal(xo_xapi_unwrap(g, &value, &xerr), XO_ERR_PARSE);
        assert_null(value);
        assert_null(xerr.params);
        json_object_put(g);
    }
    assert_int_equal(xo_xapi_unwrap(NULL, &value, &xerr), XO_ERR_PARSE);
    json_object_put(ok);
    json_object_put(bad);
}

static void test_hostile_values(void **state)
{
    (void)state;
    decode_value_fails("<value><int>abc</int></value>", XO_ERR_PARSE);
    decode_value_fails("<value><int>99999999999999999999</int></value>", XO_ERR_PARSE);
    decode_value_fails("<value><int></int></value>", XO_ERR_PARSE);
    decode_value_fails("<value><boolean>2</boolean></value>", XO_ERR_PARSE);
    decode_value_fails("<value><boolean>true</boolean></value>", XO_ERR_PARSE);
    decode_value_fails("<value><double>nan</double></value>", XO_ERR_PARSE);
    decode_value_fails("<value><double>1e999</double></value>", XO_ERR_PARSE);
    decode_value_fails("<value><base64>@@@@</base64></value>", XO_ERR_PARSE);
    decode_value_fails("<value><blob>x</blob></value>", XO_ERR_PARSE);
    decode_value_fails("<value><struct>text</struct></value>", XO_ERR_PARSE);
    decode_value_fails("<value><struct><value/></struct></value>", XO_ERR_PARSE);
    decode_value_fails("<value><struct><member><name>a</name></member></struct></value>",
                       XO_ERR_PARSE);
    decode_value_fails("<value>text<int>1</int></value>", XO_ERR_PARSE);
    decode_value_fails("<value><int>1</int><int>2</int></value>", XO_ERR_PARSE);
    decode_value_fails("<value><int>1</int>tail</value>", XO_ERR_PARSE);
    decode_value_fails("<value><array><value/></array></value>", XO_ERR_PARSE);
    decode_value_fails("<value><array></array></value>", XO_ERR_PARSE);
    decode_value_fails("<value><nil>x</nil></value>", XO_ERR_PARSE);
    decode_value_fails("<value><int><int>1</int></int></value>", XO_ERR_PARSE);
    decode_value_fails("<value xmlns='urn:x'><int>1</int></value>", XO_ERR_PARSE);
    decode_value_fails("<value>&undefined;</value>", XO_ERR_PARSE);
    decode_value_fails("<value>&#0;</value>", XO_ERR_PARSE);
    decode_value_fails("<value><?pi x?></value>", XO_ERR_PARSE);
}

static void test_hostile_documents(void **state)
{
    (void)state;
    assert_doc_fails("", XO_ERR_PARSE, NULL);
    assert_doc_fails("<methodResponse><params><param><value><int>1", XO_ERR_PARSE, NULL);
    assert_doc_fails("<methodResponse><params><param><value><int>1</int></value></param>"
                     "</params>",
                     XO_ERR_PARSE, NULL);
    assert_doc_fails("<methodResponse></methodResponse>", XO_ERR_PARSE, NULL);
    assert_doc_fails("<methodResponse><params></params></methodResponse>", XO_ERR_PARSE, NULL);
    assert_doc_fails(RESP_HEAD "<value/></param><param><value/>" RESP_TAIL, XO_ERR_PARSE, NULL);
    assert_doc_fails("<html><body>502</body></html>", XO_ERR_PARSE, "unknown element");
    assert_doc_fails("not xml at all", XO_ERR_PARSE, NULL);
    assert_doc_fails(RESP_HEAD "<value>\xff\xfe</value>" RESP_TAIL, XO_ERR_PARSE, NULL);
    assert_doc_fails(RESP_HEAD "<value>\xed\xa0\x80</value>" RESP_TAIL, XO_ERR_PARSE, NULL);
    assert_doc_fails(RESP_HEAD "<value/>" RESP_TAIL "<extra/>", XO_ERR_PARSE, NULL);

    /* Input must be UTF-8, whatever it declares; no charset converter is ever used. */
    assert_doc_fails("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodResponse><params>"
                     "<param><value>caf\xe9</value></param></params></methodResponse>",
                     XO_ERR_PARSE, "invalid UTF-8");
    static const char utf16[] = "\xff\xfe<\0m\0";
    json_object *v16 = NULL;
    assert_int_equal(xo_xmlrpc_decode(utf16, sizeof utf16 - 1, &v16, errbuf, sizeof errbuf),
                     XO_ERR_PARSE);
    assert_int_equal(
        decode_str("<?xml version=\"1.0\" encoding=\"EBCDIC\"?><methodResponse><params>"
                   "<param><value>ok</value>" RESP_TAIL,
                   &v16),
        XO_OK);
    assert_string_equal(json_object_get_string(v16), "ok");
    json_object_put(v16);

    /* A NUL byte inside the document. */
    static const char nul_doc[] = RESP_HEAD "<value>a\0b</value>" RESP_TAIL;
    json_object *out = NULL;
    assert_int_equal(xo_xmlrpc_decode(nul_doc, sizeof nul_doc - 1, &out, errbuf, sizeof errbuf),
                     XO_ERR_PARSE);
    assert_null(out);
}

static void test_dtd_xxe_billion_laughs(void **state)
{
    (void)state;
    const char *laughs =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
        "]><methodResponse><params><param><value>&lol9;</value></param></params>"
        "</methodResponse>";
    assert_doc_fails(laughs, XO_ERR_PARSE, "DTD not allowed");

    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
                      "\"file:///etc/passwd\">]><methodResponse><params><param>"
                      "<value>&x;</value></param></params></methodResponse>";
    assert_doc_fails(xxe, XO_ERR_PARSE, "DTD not allowed");
    assert_null(strstr(errbuf, "root:"));

    const char *ext = "<?xml version=\"1.0\"?><!DOCTYPE methodResponse SYSTEM "
                      "\"http://127.0.0.1:9/evil.dtd\"><methodResponse/>";
    assert_doc_fails(ext, XO_ERR_PARSE, "DTD not allowed");

    const char *param = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY % p SYSTEM "
                        "\"file:///etc/passwd\"> %p;]><methodResponse/>";
    assert_doc_fails(param, XO_ERR_PARSE, "DTD not allowed");
}

static void test_limits(void **state)
{
    (void)state;
    char doc[8192];
    size_t n = 0;
    json_object *out = NULL;

    /* Nesting: 100 arrays deep against the default 64. */
    n += (size_t)snprintf(doc + n, sizeof doc - n, RESP_HEAD);
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "<value><array><data>");
    n += (size_t)snprintf(doc + n, sizeof doc - n, "<value>x</value>");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "</data></array></value>");
    snprintf(doc + n, sizeof doc - n, RESP_TAIL);
    assert_doc_fails(doc, XO_ERR_LIMIT, "nest");

    /* Deep nesting of unknown elements fails at the first one. */
    n = (size_t)snprintf(doc, sizeof doc, RESP_HEAD);
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "<a>");
    assert_doc_fails(doc, XO_ERR_PARSE, "unknown element");

    /* String limit, configured small; total limit. */
    xo_xmlrpc_limits_t lim = {.max_string = 100, .max_total = 300};
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(&lim);
    char big[512];
    memset(big, 'x', sizeof big);
    snprintf(doc, sizeof doc, RESP_HEAD "<value>%.150s</value>" RESP_TAIL, big);
    assert_int_equal(xo_xmlrpc_decoder_feed(dec, doc, strlen(doc), errbuf, sizeof errbuf),
                     XO_ERR_LIMIT);
    /* Sticky: later calls report the same error. */
    assert_int_equal(xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf), XO_ERR_LIMIT);
    assert_non_null(strstr(errbuf, "100 bytes"));
    xo_xmlrpc_decoder_free(dec);

    dec = xo_xmlrpc_decoder_new(&lim);
    snprintf(doc, sizeof doc, RESP_HEAD "<value>%.90s</value><!--%.200s-->" RESP_TAIL, big, big);
    assert_int_equal(xo_xmlrpc_decoder_feed(dec, doc, strlen(doc), errbuf, sizeof errbuf),
                     XO_ERR_LIMIT);
    assert_non_null(strstr(errbuf, "larger than 300"));
    xo_xmlrpc_decoder_free(dec);
}

static const char *sample_doc =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n <params><param><value>"
    "<struct><member><name>Status</name><value>Success</value></member>"
    "<member><name>Value</name><value><struct>"
    "<member><name>events</name><value><array><data>"
    "<value><struct><member><name>id</name><value>1</value></member>"
    "<member><name>class</name><value>vm</value></member>"
    "<member><name>snapshot</name><value><struct><member><name>name_label</name>"
    "<value>caf&#xe9; &lt;1&gt;</value></member><member><name>memory</name>"
    "<value><string>4294967296</string></value></member></struct></value></member>"
    "</struct></value>"
    "<value><struct><member><name>id</name><value>2</value></member>"
    "<member><name>class</name><value>host</value></member></struct></value>"
    "<value><struct><member><name>id</name><value>3</value></member>"
    "<member><name>operation</name><value>del</value></member></struct></value>"
    "</data></array></value></member>"
    "<member><name>token</name><value>00000000000000000042,00000000000000000007</value>"
    "</member>"
    "<member><name>valid_ref_counts</name><value><struct><member><name>vm</name>"
    "<value><int>1</int></value></member></struct></value></member>"
    "</struct></value></member></struct></value></param></params>\n</methodResponse>\n";

static void test_chunked_equals_one_shot(void **state)
{
    (void)state;
    json_object *one = NULL, *chunked = NULL;
    size_t len = strlen(sample_doc);

    assert_int_equal(decode_str(sample_doc, &one), XO_OK);
    for (size_t step = 1; step <= 7; step += 3) {
        xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
        for (size_t i = 0; i < len; i += step) {
            size_t n = len - i < step ? len - i : step;
            assert_int_equal(xo_xmlrpc_decoder_feed(dec, sample_doc + i, n, errbuf, sizeof errbuf),
                             XO_OK);
        }
        assert_int_equal(xo_xmlrpc_decoder_finish(dec, &chunked, errbuf, sizeof errbuf), XO_OK);
        assert_true(json_object_equal(one, chunked));
        json_object_put(chunked);
        xo_xmlrpc_decoder_free(dec);
    }
    json_object *v = json_object_object_get(json_object_object_get(one, "Value"), "events");
    assert_int_equal(json_object_array_length(v), 3);
    json_object_put(one);
}

typedef struct {
    int count;
    int fail_at;
    char ids[16];
} collect_t;

static xo_err_t collect_cb(json_object *elem, void *opaque)
{
    collect_t *c = opaque;
    json_object *id = json_object_object_get(elem, "id");

    if (c->count < (int)sizeof c->ids - 1 && id)
        c->ids[c->count] = json_object_get_string(id)[0];
    c->count++;
    json_object_put(elem);
    return c->count == c->fail_at ? XO_ERR_KAFKA : XO_OK;
}

static void test_streaming(void **state)
{
    (void)state;
    static const char *const path[] = {"Value", "events", NULL};
    size_t len = strlen(sample_doc);

    for (size_t step = 1; step <= len; step = step * 4 + 1) {
        collect_t c = {0};
        json_object *out = NULL;
        xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
        assert_int_equal(xo_xmlrpc_decoder_set_stream(dec, path, collect_cb, &c), XO_OK);
        for (size_t i = 0; i < len; i += step) {
            size_t n = len - i < step ? len - i : step;
            assert_int_equal(xo_xmlrpc_decoder_feed(dec, sample_doc + i, n, errbuf, sizeof errbuf),
                             XO_OK);
        }
        assert_int_equal(xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf), XO_OK);
        assert_int_equal(c.count, 3);
        assert_string_equal(c.ids, "123");
        json_object *value = NULL;
        assert_int_equal(xo_xapi_unwrap(out, &value, NULL), XO_OK);
        assert_int_equal(json_object_array_length(json_object_object_get(value, "events")), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(value, "token")),
                            "00000000000000000042,00000000000000000007");
        json_object_put(value);
        json_object_put(out);
        xo_xmlrpc_decoder_free(dec);
    }

    /* A callback error aborts the decode with its code. */
    collect_t c = {.fail_at = 2};
    json_object *out = NULL;
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
    assert_int_equal(xo_xmlrpc_decoder_set_stream(dec, path, collect_cb, &c), XO_OK);
    assert_int_equal(xo_xmlrpc_decoder_feed(dec, sample_doc, len, errbuf, sizeof errbuf),
                     XO_ERR_KAFKA);
    assert_int_equal(c.count, 2);
    assert_int_equal(xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf), XO_ERR_KAFKA);
    assert_null(out);
    /* set_stream after feeding started is refused. */
    assert_int_equal(xo_xmlrpc_decoder_set_stream(dec, path, collect_cb, &c), XO_ERR_INVALID);
    xo_xmlrpc_decoder_free(dec);

    /* A path that does not match leaves the tree whole. */
    static const char *const other[] = {"Value", "nothere", NULL};
    collect_t c2 = {0};
    dec = xo_xmlrpc_decoder_new(NULL);
    assert_int_equal(xo_xmlrpc_decoder_set_stream(dec, other, collect_cb, &c2), XO_OK);
    assert_int_equal(xo_xmlrpc_decoder_feed(dec, sample_doc, len, errbuf, sizeof errbuf), XO_OK);
    assert_int_equal(xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf), XO_OK);
    assert_int_equal(c2.count, 0);
    json_object_put(out);
    xo_xmlrpc_decoder_free(dec);
}

/* ---- Raw mode: snapshots written as JSON text, byte for byte the tree's ---- */

#define M(name, v) "<member><name>" name "</name><value>" v "</value></member>"
#define EV(snap)                                                                                   \
    "<value><struct>" M("id", "7") M("class", "VM") M("operation", "add") M("ref", "OpaqueRef:x")  \
        M("snapshot", snap) "</struct></value>"
#define EVENTS_DOC(events)                                                                         \
    RESP_HEAD "<value><struct>" M(                                                                 \
        "Status", "Success") "<member><name>Value</name><value>"                                   \
                             "<struct><member><name>events</name><value><array><data>" events      \
                             "</data></array></value></member>" M(                                 \
                                 "token",                                                          \
                                 "t") "</struct></value></member></struct></value>" RESP_TAIL
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Snapshots of every kind of value: escapes, unicode, nesting, empty values, big ints,
 * doubles, dates, base64, repeated names, and the uuid captured or not. */
static const char raw_doc[] = EVENTS_DOC(
    EV("<struct>" M("uuid", "u-1")
           M("name_label", "a&lt;b&gt;&amp;\"'/\\ tab&#9;nl&#10;cr&#13;del\x7f")
               M("unicode", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80") M("empty", "")
                   M("empty_string", "<string></string>") M("empty_tag", "<string/>")
                       M("nil", "<nil/>") M("empty_struct", "<struct></struct>")
                           M("empty_array", "<array><data></data></array>") "</struct>")
        EV("<struct>" M("i0", "<int>0</int>") M("imin", "<i4>-2147483648</i4>") M(
            "i8max", "<i8>9223372036854775807</i8>") M("i8min", "<i8>-9223372036854775808</i8>")
               M("iplus", "<int> +42 </int>") M("d1", "<double>0.1</double>")
                   M("d2", "<double>1e300</double>") M("d3", "<double>-0.0</double>") M(
                       "d4", "<double>3</double>") M("d5", "<double>1e-7</double>")
                       M("d6", "<double>123456789012345678901</double>") M("d7",
                                                                           "<double>-2.5</double>")
                           M("t", "<boolean>1</boolean>") M("f", "<boolean>0</boolean>")
                               M("date", "<dateTime.iso8601>20261201T10:00:00Z</dateTime.iso8601>")
                                   M("b64", "<base64>aGVsbG8=</base64>")
                                       M("b64nul", "<base64>AGE=</base64>")
                                           M("uuid", "<int>5</int>") "</struct>")
            EV("<struct>" M(
                "other_config",
                "<struct>" M("a", "1")
                    M("b", "<array><data><value>x</value><value><struct>" M(
                               "deep",
                               "<array><data><value><int>1</int></value><value><nil/></value>"
                               "</data></array>") "</struct></value></data></array>") "</struct>")
                   M("uuid", "first") M("uuid", "second") "</struct>")
                EV("<struct>" M("dup", "1") M("x", "<struct>" M("k", "1")
                                                       M("k", "<int>2</int>") "</struct>")
                       M("dup", "<double>2.5</double>")
                           M("arr", "<array><data><value><struct>" M("z", "1")
                                        M("z", "2") "</struct></value></data></array>") "</struct>")
                    EV("just a string")
                        EV("<array><data><value>1</value></data></array>") "<value><struct>" M(
                            "id", "8") M("class", "VM") M("operation", "del")
                            M("ref",
                              "R") "</struct></value>"
                                   "<value><struct>" M("snapshot",
                                                       "<struct>" M("uuid", "s1") "</struct>")
                                       M("snapshot",
                                         "str") "</struct></value>"
                                                "<value><struct>" M("snapshot", "str") M(
                                                    "snapshot",
                                                    "<struct>" M("uuid", "s2") "</struct>")
                                                    M("id",
                                                      "9") "</struct></value>"
                                                           "<value>not a struct</value>"
                                                           "<value>\n  <struct>" M(
                                                               "snapshot",
                                                               "\n <struct>" M(
                                                                   "uuid",
                                                                   "ws") "</struct>\n") "</"
                                                                                        "struct>\n<"
                                                                                        "/value>");

typedef struct {
    json_object *elems, *raws, *caps; /* one entry per element; NULL where none */
} raw_collect_t;

static xo_err_t tree_elem_cb(json_object *elem, void *opaque)
{
    json_object_array_add(((raw_collect_t *)opaque)->elems, elem);
    return XO_OK;
}

static xo_err_t raw_elem_cb(json_object *elem, const xo_xmlrpc_raw_t *raw, void *opaque)
{
    raw_collect_t *c = opaque;

    if (raw)
        assert_int_equal(strlen(raw->json), raw->len);
    json_object_array_add(c->elems, elem);
    json_object_array_add(c->raws,
                          raw ? json_object_new_string_len(raw->json, (int)raw->len) : NULL);
    json_object_array_add(c->caps,
                          raw && raw->capture ? json_object_new_string(raw->capture) : NULL);
    return XO_OK;
}

/* Decode @p doc over @p parser fed in @p step-byte chunks, tree or raw streaming; errbuf
 * says why not; the final value's JSON text goes to @p final when not NULL. */
static xo_err_t decode_stream_over(const char *doc, size_t step, bool raw,
                                   xo_xmlrpc_parser_t parser, raw_collect_t *c, char **final)
{
    static const char *const path[] = {"Value", "events", NULL};
    size_t len = strlen(doc);
    json_object *out = NULL;
    xo_xmlrpc_limits_t lim = {.parser = parser};
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(&lim);
    xo_err_t err = XO_OK;

    c->elems = json_object_new_array();
    c->raws = json_object_new_array();
    c->caps = json_object_new_array();
    if (raw)
        assert_int_equal(
            xo_xmlrpc_decoder_set_stream_raw(dec, path, "snapshot", "uuid", raw_elem_cb, c), XO_OK);
    else
        assert_int_equal(xo_xmlrpc_decoder_set_stream(dec, path, tree_elem_cb, c), XO_OK);
    errbuf[0] = '\0';
    for (size_t i = 0; i < len && err == XO_OK; i += step)
        err = xo_xmlrpc_decoder_feed(dec, doc + i, len - i < step ? len - i : step, errbuf,
                                     sizeof errbuf);
    if (err == XO_OK)
        err = xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf);
    if (final)
        *final = strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
    json_object_put(out);
    xo_xmlrpc_decoder_free(dec);
    return err;
}

/* The same over the process default parser. */
static xo_err_t decode_stream(const char *doc, size_t step, bool raw, raw_collect_t *c)
{
    return decode_stream_over(doc, step, raw, XO_XMLRPC_PARSER_DEFAULT, c, NULL);
}

static void raw_collect_free(raw_collect_t *c)
{
    json_object_put(c->elems);
    json_object_put(c->raws);
    json_object_put(c->caps);
}

/* Every element: the raw text is the tree's snapshot serialised by json-c, the capture its
 * uuid string, and the rest of the element the same tree. */
static void assert_raw_matches_tree(const raw_collect_t *tree, const raw_collect_t *raw)
{
    size_t n = json_object_array_length(tree->elems);

    assert_int_equal(json_object_array_length(raw->elems), n);
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tree->elems, i);
        json_object *r = json_object_array_get_idx(raw->elems, i);
        json_object *text = json_object_array_get_idx(raw->raws, i);
        json_object *cap = json_object_array_get_idx(raw->caps, i), *snap = NULL, *uuid = NULL;

        if (json_object_object_get_ex(t, "snapshot", &snap) &&
            json_object_is_type(snap, json_type_object)) {
            assert_non_null(text);
            assert_string_equal(json_object_get_string(text),
                                json_object_to_json_string_ext(snap, JSON_FLAGS));
            if (json_object_object_get_ex(snap, "uuid", &uuid) &&
                json_object_is_type(uuid, json_type_string))
                assert_string_equal(json_object_get_string(cap), json_object_get_string(uuid));
            else
                assert_null(cap);
            json_object_object_del(t, "snapshot");
        } else {
            assert_null(text);
        }
        assert_true(json_object_equal(t, r));
    }
}

static void test_raw_equals_tree(void **state)
{
    (void)state;
    size_t len = strlen(raw_doc);

    for (size_t step = 1; step <= len; step = step * 3 + 2) {
        raw_collect_t tree, raw;
        assert_int_equal(decode_stream(raw_doc, len, false, &tree), XO_OK);
        assert_int_equal(decode_stream(raw_doc, step, true, &raw), XO_OK);
        assert_int_equal(json_object_array_length(raw.elems), 11);
        assert_raw_matches_tree(&tree, &raw);
        raw_collect_free(&tree);
        raw_collect_free(&raw);
    }
    /* Spot checks, so that the comparison above cannot pass on two equal mistakes. */
    raw_collect_t raw;
    assert_int_equal(decode_stream(raw_doc, len, true, &raw), XO_OK);
    const char *first = json_object_get_string(json_object_array_get_idx(raw.raws, 0));
    assert_non_null(strstr(first, "\"name_label\":\"a<b>&\\\"'/\\\\ tab\\tnl\\ncr\\rdel\x7f\""));
    assert_non_null(strstr(first, "\"empty\":\"\",\"empty_string\":\"\",\"empty_tag\":\"\","
                                  "\"nil\":null,\"empty_struct\":{},\"empty_array\":[]}"));
    const char *second = json_object_get_string(json_object_array_get_idx(raw.raws, 1));
    assert_non_null(strstr(second, "\"i8max\":9223372036854775807,"));
    assert_non_null(strstr(second, "\"d1\":0.10000000000000001,"));
    assert_non_null(strstr(second, "\"d4\":3.0,"));
    assert_non_null(strstr(second, "\"b64nul\":\"\\u0000a\""));
    assert_null(json_object_array_get_idx(raw.caps, 1)); /* uuid is an int there */
    assert_string_equal(json_object_get_string(json_object_array_get_idx(raw.caps, 2)), "second");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(raw.raws, 3)),
                        "{\"dup\":2.5,\"x\":{\"k\":2},\"arr\":[{\"z\":\"2\"}]}");
    assert_null(json_object_array_get_idx(raw.raws, 4)); /* a string snapshot stays a tree */
    assert_null(json_object_array_get_idx(raw.raws, 7)); /* the later string wins */
    assert_string_equal(json_object_get_string(json_object_array_get_idx(raw.caps, 8)), "s2");
    raw_collect_free(&raw);
}

/* A bad value inside a raw snapshot fails the decode exactly as the tree path does. */
static void test_raw_errors_equal_tree(void **state)
{
    (void)state;
    static const char *const bad[] = {
        EVENTS_DOC(EV("<struct>" M("i", "<int>12x</int>") "</struct>")),
        EVENTS_DOC(EV("<struct>" M("i", "<int>99999999999999999999</int>") "</struct>")),
        EVENTS_DOC(EV("<struct>" M("d", "<double>nan</double>") "</struct>")),
        EVENTS_DOC(EV("<struct>" M("b", "<boolean>2</boolean>") "</struct>")),
        EVENTS_DOC(EV("<struct>" M("b", "<base64>!!</base64>") "</struct>")),
        EVENTS_DOC(EV("<struct><member><name>x</name></member></struct>")),
        EVENTS_DOC(EV("<struct>" M("a", "<array></array>") "</struct>")),
        EVENTS_DOC(EV("<struct>" M("s", "<struct>text</struct>") "</struct>")),
        EVENTS_DOC(EV("<struct><member><name>a&#0;</name><value>1</value></member></struct>")),
    };
    char tree_err[512];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        raw_collect_t tree, raw;
        xo_err_t et = decode_stream(bad[i], strlen(bad[i]), false, &tree);
        snprintf(tree_err, sizeof tree_err, "%s", errbuf);
        xo_err_t er = decode_stream(bad[i], 5, true, &raw);
        assert_int_not_equal(et, XO_OK);
        assert_int_equal(er, et);
        assert_string_equal(errbuf, tree_err);
        raw_collect_free(&tree);
        raw_collect_free(&raw);
    }
    /* Deeper than the limit inside a raw snapshot: the same limit error. */
    char deep[8192] = EVENTS_DOC(EV("<struct>" M("d", "DEEP") "</struct>"));
    char *at = strstr(deep, "DEEP"), tail[4096];
    snprintf(tail, sizeof tail, "%s", at + 4);
    *at = '\0';
    for (int i = 0; i < 70; i++)
        strcat(deep, "<array><data><value>");
    for (int i = 0; i < 70; i++)
        strcat(deep, "</value></data></array>");
    strcat(deep, tail);
    raw_collect_t tree, raw;
    assert_int_equal(decode_stream(deep, strlen(deep), false, &tree), XO_ERR_LIMIT);
    assert_int_equal(decode_stream(deep, strlen(deep), true, &raw), XO_ERR_LIMIT);
    raw_collect_free(&tree);
    raw_collect_free(&raw);
}

/* ---- Memory used to decode a large event.from-like answer ---- */

static long read_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            kb = strtol(line + strlen(key), NULL, 10);
    fclose(f);
    return kb;
}

static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");

    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static size_t gen_event(char *out, size_t size, unsigned i)
{
    return (size_t)snprintf(
        out, size,
        "<value><struct><member><name>id</name><value>%u</value></member>"
        "<member><name>class</name><value>vm</value></member>"
        "<member><name>operation</name><value>mod</value></member>"
        "<member><name>ref</name><value>OpaqueRef:%08u-0000-0000-0000-000000000000</value>"
        "</member><member><name>snapshot</name><value><struct>"
        "<member><name>uuid</name><value>%08u-1111-2222-3333-444444444444</value></member>"
        "<member><name>name_label</name><value>vm number %u</value></member>"
        "<member><name>power_state</name><value>Running</value></member>"
        "<member><name>memory_static_max</name><value>4294967296</value></member>"
        "<member><name>other_config</name><value><struct><member><name>k</name>"
        "<value>%0200u</value></member></struct></value></member>"
        "<member><name>VBDs</name><value><array><data><value>OpaqueRef:a</value>"
        "<value>OpaqueRef:b</value></data></array></value></member>"
        "</struct></value></member></struct></value>\n",
        i, i, i, i, i);
}

static xo_err_t count_cb(json_object *elem, void *opaque)
{
    (*(size_t *)opaque)++;
    json_object_put(elem);
    return XO_OK;
}

/* Feed a generated document of about `target` bytes; returns bytes fed. */
static size_t feed_big(xo_xmlrpc_decoder_t *dec, size_t target)
{
    static const char head[] = RESP_HEAD "<value><struct><member><name>Status</name>"
                                         "<value>Success</value></member><member><name>Value"
                                         "</name><value><struct><member><name>events</name>"
                                         "<value><array><data>";
    static const char tail[] = "</data></array></value></member><member><name>token</name>"
                               "<value>1,1</value></member></struct></value></member>"
                               "</struct></value>" RESP_TAIL;
    char *chunk = malloc(70000);
    size_t fed = 0, n = 0;

    assert_int_equal(xo_xmlrpc_decoder_feed(dec, head, sizeof head - 1, errbuf, sizeof errbuf),
                     XO_OK);
    for (unsigned i = 0; fed < target; i++) {
        n += gen_event(chunk + n, 70000 - n, i);
        if (n > 64000) {
            assert_int_equal(xo_xmlrpc_decoder_feed(dec, chunk, n, errbuf, sizeof errbuf), XO_OK);
            fed += n;
            n = 0;
        }
    }
    assert_int_equal(xo_xmlrpc_decoder_feed(dec, chunk, n, errbuf, sizeof errbuf), XO_OK);
    assert_int_equal(xo_xmlrpc_decoder_feed(dec, tail, sizeof tail - 1, errbuf, sizeof errbuf),
                     XO_OK);
    free(chunk);
    return fed + n + sizeof head + sizeof tail - 2;
}

static void test_memory_large_document(void **state)
{
    (void)state;
    const char *san = getenv("XO_SANITIZE");
    size_t target = (san && strcmp(san, "1") == 0) ? ((size_t)10 << 20) : ((size_t)100 << 20);
    static const char *const path[] = {"Value", "events", NULL};
    json_object *out = NULL;
    size_t events = 0, fed;
    long base, peak;
    clock_t t0;

    /* Streaming: memory bounded by one event. */
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
    assert_int_equal(xo_xmlrpc_decoder_set_stream(dec, path, count_cb, &events), XO_OK);
    reset_peak_rss();
    base = read_status_kb("VmRSS:");
    t0 = clock();
    fed = feed_big(dec, target);
    assert_int_equal(xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf), XO_OK);
    peak = read_status_kb("VmHWM:");
    print_message("streaming: %zu bytes, %zu events, peak RSS +%ld KiB, %.2f s\n", fed, events,
                  peak - base, (double)(clock() - t0) / CLOCKS_PER_SEC);
    if (base > 0 && peak > 0 && !san)
        assert_true(peak - base < 16 * 1024);
    json_object_put(out);
    xo_xmlrpc_decoder_free(dec);

    /* Whole tree: a small multiple of the value's own JSON size. */
    dec = xo_xmlrpc_decoder_new(NULL);
    reset_peak_rss();
    base = read_status_kb("VmRSS:");
    t0 = clock();
    fed = feed_big(dec, target);
    assert_int_equal(xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf), XO_OK);
    peak = read_status_kb("VmHWM:");
    long held = read_status_kb("VmRSS:");
    size_t json_len = strlen(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
    print_message("tree: %zu bytes XML, %zu bytes JSON, peak RSS +%ld KiB during decode, "
                  "+%ld KiB held by the resulting json-c tree (%.1fx JSON), %.2f s\n",
                  fed, json_len, peak - base, held - base,
                  (double)(held - base) * 1024.0 / (double)json_len,
                  (double)(clock() - t0) / CLOCKS_PER_SEC);
    if (base > 0 && peak > 0 && !san)
        assert_true(peak - base < (held - base) + 16 * 1024);
    json_object_put(out);
    xo_xmlrpc_decoder_free(dec);
}

/* ---------------------------------------------------------------------------------------- */
/* The two parsers agree on generated event.from answers full of nasty forms                 */

static uint64_t gen_state;

static unsigned gen_rand(unsigned n)
{
    gen_state ^= gen_state << 13;
    gen_state ^= gen_state >> 7;
    gen_state ^= gen_state << 17;
    return (unsigned)(gen_state % n);
}

typedef struct {
    char p[1 << 18];
    size_t len;
} gen_buf_t;

static void gen_put(gen_buf_t *b, const char *s)
{
    size_t n = strlen(s);

    assert_true(b->len + n < sizeof b->p);
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* Blanks, a comment or nothing between elements (all of it ignorable where it goes). */
static void gen_gap(gen_buf_t *b)
{
    static const char *const gaps[] = {"", "", "", "\n", " \t", "\r\n", "<!-- - x -->"};
    gen_put(b, gaps[gen_rand(sizeof gaps / sizeof gaps[0])]);
}

/* Text written in every form XML allows for it: references, CDATA, split multibyte. */
static void gen_text(gen_buf_t *b)
{
    static const char *const bits[] = {
        "a",
        "OpaqueRef:1",
        " ",
        "&amp;",
        "&lt;",
        "&gt;",
        "&quot;",
        "&apos;",
        "&#38;",
        "&#x26;",
        "&#x1F600;",
        "&#233;",
        "&#0233;",
        "&#13;",
        "&#xD;&#xA;",
        "\r\n",
        "\r",
        "\n",
        "\t",
        "]]",
        "x>", /* never after "]]" */
        "]",
        "\xc3\xa9",
        "\xe4\xb8\xad",
        "\xf0\x9f\x98\x80",
        "\xef\xbf\xbd",
        "\x7f",
        "\\",
        "\"",
        "'",
        "/",
        "<![CDATA[<&>]]]]>",
        "<![CDATA[]]>",
        "<!---->",
        "%",
    };
    unsigned n = gen_rand(6);

    for (unsigned i = 0; i < n; i++)
        gen_put(b, bits[gen_rand(sizeof bits / sizeof bits[0])]);
}

static void gen_value(gen_buf_t *b, unsigned depth);

static void gen_struct(gen_buf_t *b, unsigned depth, bool uuid)
{
    unsigned n = gen_rand(5);

    gen_put(b, "<struct>");
    if (uuid)
        gen_put(b, "<member><name>uuid</name><value>u&#45;1</value></member>");
    for (unsigned i = 0; i < n; i++) {
        gen_gap(b);
        gen_put(b, "<member>");
        gen_gap(b);
        gen_put(b, "<name>");
        if (gen_rand(4) == 0)
            gen_put(b, "dup"); /* a name given twice now and then */
        else
            gen_text(b);
        gen_put(b, "</name>");
        gen_gap(b);
        gen_value(b, depth + 1);
        gen_gap(b);
        gen_put(b, "</member>");
    }
    gen_gap(b);
    gen_put(b, "</struct>");
}

static void gen_value(gen_buf_t *b, unsigned depth)
{
    static const char *const scalars[] = {
        "<value/>",
        "<value></value>",
        "<value><string/></value>",
        "<value><nil/></value>",
        "<value><int> 42 </int></value>",
        "<value><i8>-9223372036854775808</i8></value>",
        "<value><boolean>1</boolean></value>",
        "<value><double>60.1</double></value>",
        "<value><double>-0.0</double></value>",
        "<value><base64>AGE=</base64></value>",
        "<value><dateTime.iso8601>20261202T05:00:00Z</dateTime.iso8601></value>",
        "<value>  </value>",
    };
    unsigned kind = depth >= 40 ? 0 : gen_rand(depth < 3 ? 4 : 6);

    if (kind == 0 || kind >= 4) {
        if (gen_rand(2)) {
            gen_put(b, scalars[gen_rand(sizeof scalars / sizeof scalars[0])]);
            return;
        }
        bool typed = gen_rand(2);
        gen_put(b, typed ? "<value><string>" : "<value>");
        gen_text(b);
        gen_put(b, typed ? "</string></value>" : "</value>");
        return;
    }
    gen_put(b, "<value>");
    if (kind == 1) {
        gen_struct(b, depth, false);
    } else if (kind == 2) {
        unsigned n = gen_rand(4);
        gen_put(b, n ? "<array><data>" : "<array><data/></array>");
        for (unsigned i = 0; i < n; i++) {
            gen_gap(b);
            gen_value(b, depth + 1);
        }
        if (n)
            gen_put(b, "</data></array>");
    } else { /* deep: a chain of arrays */
        unsigned n = 5 + gen_rand(20);
        for (unsigned i = 0; i < n; i++)
            gen_put(b, "<array><data><value>");
        gen_text(b);
        for (unsigned i = 0; i < n; i++)
            gen_put(b, "</value></data></array>");
    }
    gen_put(b, "</value>");
}

/* An event.from answer: events whose snapshots are generated structs (now and then another
 * value), the blanks and comments around everything XML allows there. */
static void gen_events_doc(gen_buf_t *b)
{
    unsigned n = 1 + gen_rand(6);
    char id[96];

    b->len = 0;
    b->p[0] = '\0';
    gen_put(b,
            gen_rand(2) ? "<?xml version=\"1.0\"?>\n" : "<?xml version='1.0' encoding='UTF-8'?>");
    gen_put(b, "<methodResponse><params><param><value><struct><member><name>Status</name>"
               "<value>Success</value></member><member><name>Value</name><value><struct>"
               "<member><name>events</name><value><array><data>");
    for (unsigned i = 0; i < n; i++) {
        gen_gap(b);
        snprintf(id, sizeof id, "<value><struct><member><name>id</name><value>%u</value></member>",
                 i);
        gen_put(b, id);
        gen_put(b, "<member><name>class</name><value>VM</value></member>"
                   "<member><name>snapshot</name>");
        if (gen_rand(8) == 0) {
            gen_value(b, 1);
        } else {
            gen_put(b, "<value>");
            gen_struct(b, 1, gen_rand(4) != 0);
            gen_put(b, "</value>");
        }
        gen_put(b, "</member></struct></value>");
    }
    gen_gap(b);
    gen_put(b, "</data></array></value></member><member><name>token</name><value>t&amp;1</value>"
               "</member></struct></value></member></struct></value></param></params>"
               "</methodResponse>\r\n");
}

static void assert_json_equal(json_object *a, json_object *b, const char *what, const char *doc)
{
    const char *ta = json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN);
    char *copy = strdup(ta);
    const char *tb = json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN);

    if (strcmp(copy, tb) != 0) {
        print_message("%s differ for\n%s\n fast:    %s\n libxml2: %s\n", what, doc, copy, tb);
        free(copy);
        fail();
    }
    free(copy);
}

/* Generated answers decoded over both parsers, tree and raw, in random chunks (multibyte
 * characters, references and tags cut anywhere): the same elements, snapshots and values. */
static void test_parsers_agree(void **state)
{
    static gen_buf_t doc;

    (void)state;
    for (unsigned seed = 1; seed <= 300; seed++) {
        gen_state = 0x9E3779B97F4A7C15ull * seed;
        gen_events_doc(&doc);
        for (int raw = 0; raw < 2; raw++) {
            raw_collect_t c[2];
            char *final[2];
            size_t step = gen_rand(4) == 0 ? 1 : 1 + gen_rand(64);
            xo_err_t err[2] = {
                decode_stream_over(doc.p, step, raw, XO_XMLRPC_PARSER_FAST, &c[0], &final[0]),
                decode_stream_over(doc.p, 1 + gen_rand(4096), raw, XO_XMLRPC_PARSER_LIBXML2, &c[1],
                                   &final[1])};
            if (err[0] != XO_OK || err[1] != XO_OK)
                print_message("-> %d %d %s\n%s\n", err[0], err[1], errbuf, doc.p);
            assert_int_equal(err[0], XO_OK);
            assert_int_equal(err[1], XO_OK);
            assert_true(json_object_array_length(c[0].elems) > 0);
            assert_json_equal(c[0].elems, c[1].elems, "elements", doc.p);
            assert_json_equal(c[0].raws, c[1].raws, "raw snapshots", doc.p);
            assert_json_equal(c[0].caps, c[1].caps, "captures", doc.p);
            assert_string_equal(final[0], final[1]);
            for (int k = 0; k < 2; k++) {
                raw_collect_free(&c[k]);
                free(final[k]);
            }
        }
    }
}

/* The UTF-8 check reads ASCII 32 and 8 bytes at a time: a bad byte (NUL, a stray
 * continuation byte, 0xFF) or a good multi-byte character at every offset of a long
 * ASCII string, fed whole and in 7-byte chunks, is found at its offset or passes. */
static void test_utf8_check_every_offset(void **state)
{
    static const char *const bad[] = {"\0", "\x80", "\xff"};
    char doc[512], text[100];
    json_object *out = NULL;
    size_t head = strlen(RESP_HEAD "<value>"), len;
    char want[64];

    (void)state;
    for (size_t at = 0; at < 80; at++) {
        for (size_t b = 0; b < 4; b++) {
            memset(text, 'a', sizeof text);
            memcpy(text + at, b < 3 ? bad[b] : "\xc3\xa9", b < 3 ? 1 : 2);
            len = (size_t)snprintf(doc, sizeof doc, RESP_HEAD "<value>%.*s</value>" RESP_TAIL,
                                   (int)sizeof text, text);
            if (b == 0) /* snprintf stopped at the NUL: write the rest by hand */
                len = head + sizeof text +
                      (size_t)snprintf(doc + head + sizeof text, sizeof doc - head - sizeof text,
                                       "</value>" RESP_TAIL);
            if (b == 0)
                memcpy(doc + head, text, sizeof text);
            for (size_t step = len; step >= 7; step = step == len ? 7 : 0) {
                xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
                xo_err_t err = XO_OK;
                errbuf[0] = '\0';
                for (size_t off = 0; off < len && err == XO_OK; off += step)
                    err = xo_xmlrpc_decoder_feed(
                        dec, doc + off, len - off < step ? len - off : step, errbuf, sizeof errbuf);
                if (err == XO_OK)
                    err = xo_xmlrpc_decoder_finish(dec, &out, errbuf, sizeof errbuf);
                json_object_put(out);
                out = NULL;
                xo_xmlrpc_decoder_free(dec);
                if (b == 3) {
                    assert_int_equal(err, XO_OK);
                    continue;
                }
                assert_int_equal(err, XO_ERR_PARSE);
                snprintf(want, sizeof want, "at offset %zu", head + at);
                assert_non_null(strstr(errbuf, want));
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_types),
        cmocka_unit_test(test_encode_call),
        cmocka_unit_test(test_encode_rejects_bad_strings),
        cmocka_unit_test(test_decode_scalars),
        cmocka_unit_test(test_utf8_check_every_offset),
        cmocka_unit_test(test_fault),
        cmocka_unit_test(test_xapi_unwrap),
        cmocka_unit_test(test_hostile_values),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_dtd_xxe_billion_laughs),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_chunked_equals_one_shot),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_raw_equals_tree),
        cmocka_unit_test(test_raw_errors_equal_tree),
        cmocka_unit_test(test_memory_large_document),
        cmocka_unit_test(test_parsers_agree),
    };
    int failed;

    /* Every test over both parsers: the fast one (the default), then libxml2's. */
    failed = cmocka_run_group_tests_name("fast parser", tests, NULL, NULL);
    xo_xmlrpc_set_default_parser(XO_XMLRPC_PARSER_LIBXML2);
    failed += cmocka_run_group_tests_name("libxml2 parser", tests, NULL, NULL);
    return failed;
}
