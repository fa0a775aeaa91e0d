/*
 * test_gw_filter.c - unit tests of gateway/view/filter.c: Xen Orchestra's complex-matcher
 * grammar and its matching (terms, quotes, escapes, negation, groups, or, properties,
 * truthy properties, numbers, comparisons, globs, regular expressions, arrays), the inputs
 * it must refuse (each answered 400 by REST, its message naming what), its limits, the
 * type/id hints the view uses to skip parsing (JSON patterns only), and JSON patterns
 * (lodash _.matches). Expected results are complex-matcher's (packages/complex-matcher).
 * Must not: depend on the view (filters are pure functions of a filter and an object).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view/filter.h"

static const char *const VM =
    "{\"type\":\"VM\",\"id\":\"vm-1\",\"name_label\":\"web server\",\"power_state\":\"Running\","
    "\"CPUs\":{\"max\":4},\"tags\":[\"prod\",\"eu\"],\"size\":10,\"ratio\":0.5,"
    "\"running\":true,\"other\":null,\"quote\":\"say \\\"hi\\\"\","
    "\"nested\":{\"deeper\":[{\"label\":\"NeedleInside\"}]}}";

static bool match(const char *filter, const char *obj)
{
    gw_filter_t *f = NULL;
    char errstr[64];
    bool ok;
    assert_int_equal(gw_filter_parse(filter, &f, errstr, sizeof(errstr)), XO_OK);
    ok = gw_filter_match_json(f, obj, strlen(obj));
    gw_filter_free(f);
    return ok;
}

/* Moved from test_gw_rest.c unchanged. */
static void test_filters(void **state)
{
    const char *vm = "{\"type\":\"VM\",\"name_label\":\"web server\",\"power_state\":\"Running\","
                     "\"CPUs\":{\"max\":4},\"tags\":[\"prod\",\"eu\"],\"size\":10}";
    gw_filter_t *f = NULL;
    json_object *pat, *obj;
    char errstr[64];
    (void)state;
    assert_true(match("power_state:Running", vm));
    assert_false(match("power_state:Halted", vm));
    assert_true(match("!power_state:Halted", vm));
    assert_true(match("name_label:\"web server\" type:VM", vm));
    assert_true(match("tags:prod", vm));
    assert_true(match("size:10", vm));
    assert_true(match("WEB", vm)); /* bare word: case-insensitive substring */
    assert_false(match("nothing-like-it", vm));
    assert_int_equal(gw_filter_parse("a:\"open", &f, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_int_equal(gw_filter_parse(":x", &f, errstr, sizeof(errstr)), XO_ERR_PARSE);
    /* complex-matcher values are substrings: "type:VM" is no sound hint (VM-template) */
    assert_int_equal(gw_filter_parse("type:VM", &f, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_filter_type_hint(f), GW_T_NONE);
    assert_false(gw_filter_trivial(f));
    gw_filter_free(f);
    /* JSON patterns: lodash _.matches */
    obj = json_tokener_parse(vm);
    pat = json_tokener_parse("{\"CPUs\":{\"max\":4},\"tags\":[\"eu\"]}");
    f = gw_filter_from_json(pat);
    assert_true(gw_filter_match(f, obj));
    assert_false(gw_filter_trivial(f));
    gw_filter_free(f);
    json_object_put(pat);
    pat = json_tokener_parse("{\"CPUs\":{\"max\":5}}");
    f = gw_filter_from_json(pat);
    assert_false(gw_filter_match(f, obj));
    gw_filter_free(f);
    json_object_put(pat);
    pat = json_tokener_parse("{\"type\":\"VM\",\"id\":\"x\"}");
    f = gw_filter_from_json(pat);
    assert_true(gw_filter_trivial(f));
    assert_string_equal(gw_filter_id_hint(f), "x");
    gw_filter_free(f);
    json_object_put(pat);
    json_object_put(obj);
}

static void test_terms_and_whitespace(void **state)
{
    (void)state;
    /* No term at all matches everything. */
    assert_true(match("", VM));
    assert_true(match(" \t ", VM));
    /* Every term must match; any whitespace separates. */
    assert_true(match("  type:VM\tpower_state:Running  ", VM));
    assert_false(match("type:VM power_state:Halted", VM));
    assert_false(match("power_state:Halted type:VM", VM));
    /* Property names are case-sensitive; values are case-insensitive substrings. */
    assert_true(match("power_state:running", VM));
    assert_true(match("power_state:unn", VM));
    assert_false(match("Power_state:Running", VM));
    assert_true(match("SERVER", VM));
    /* A missing or null property never equals anything; its negation always matches. */
    assert_false(match("nope:x", VM));
    assert_true(match("!nope:x", VM));
    assert_false(match("other:null", VM));
    /* An object-valued property matches when one of its values does (lodash some). */
    assert_true(match("CPUs:4", VM));
    assert_false(match("CPUs:5", VM));
}

static void test_values_by_type(void **state)
{
    (void)state;
    /* A word that is a number matches that number (10.0, 1e1 and .5 are numbers). */
    assert_true(match("size:10.0", VM));
    assert_true(match("size:1e1", VM));
    assert_true(match("ratio:.5", VM));
    assert_false(match("size:10x", VM));
    assert_false(match("size:11", VM));
    /* Booleans: a word only matches strings; `prop?` tests truthiness. */
    assert_false(match("running:true", VM));
    assert_true(match("running?", VM));
    assert_false(match("!running?", VM));
    assert_false(match("running:false", VM));
    assert_false(match("running:yes", VM));
    assert_true(match("!running:false", VM));
    /* Arrays: one element containing the value. */
    assert_true(match("tags:eu", VM));
    assert_true(match("tags:e", VM));
    assert_false(match("tags:x", VM));
    assert_false(match("tags:\"prod eu\"", VM));
}

static void test_quotes_escapes_negation(void **state)
{
    (void)state;
    assert_true(match("name_label:\"web server\"", VM));
    assert_true(match("name_label:web", VM)); /* a substring, as complex-matcher */
    assert_false(match("name_label:\"server web\"", VM));
    /* A backslash escapes the next character inside quotes. */
    assert_true(match("quote:\"say \\\"hi\\\"\"", VM));
    /* A quoted bare word may hold spaces. */
    assert_true(match("\"b server\"", VM));
    assert_false(match("\"server web\"", VM));
    /* ! negates any term, bare words included. */
    assert_false(match("!web", VM));
    assert_true(match("!absent-word", VM));
    assert_false(match("!name_label:\"web server\"", VM));
}

static void test_bare_words_search_strings_only(void **state)
{
    char deep[512] = "";

    (void)state;
    assert_true(match("needleinside", VM)); /* inside objects and arrays */
    assert_false(match("name_label", VM));  /* member names are not searched */
    assert_true(match("10", VM));           /* a number word finds the number 10 */
    assert_false(match("11", VM));
    /* Nesting is searched to a bounded depth: 8 levels down is found, deeper is not. */
    for (int i = 0; i < 8; i++)
        strcat(deep, "{\"a\":");
    strcat(deep, "\"found\"");
    for (int i = 0; i < 8; i++)
        strcat(deep, "}");
    assert_true(match("found", deep));
    snprintf(deep, sizeof(deep), "%s", "");
    for (int i = 0; i < 10; i++)
        strcat(deep, "{\"a\":");
    strcat(deep, "\"found\"");
    for (int i = 0; i < 10; i++)
        strcat(deep, "}");
    assert_false(match("found", deep));
}

static void expect_error(const char *filter, xo_err_t want, const char *needle)
{
    gw_filter_t *f = NULL;
    char errstr[128] = "";

    assert_int_equal(gw_filter_parse(filter, &f, errstr, sizeof(errstr)), want);
    assert_null(f);
    if (needle && !strstr(errstr, needle)) {
        print_message("errstr \"%s\" lacks \"%s\"\n", errstr, needle);
        fail();
    }
}

static void test_errors_and_limits(void **state)
{
    char many[1024] = "", *big;
    gw_filter_t *f = NULL;
    char errstr[128];

    (void)state;
    expect_error("a:\"open", XO_ERR_PARSE, "unbalanced quote");
    expect_error("\"open", XO_ERR_PARSE, "unbalanced quote");
    expect_error("ok:1 b:\"x\\\"", XO_ERR_PARSE, "unbalanced quote"); /* escaped closing quote */
    expect_error(":x", XO_ERR_PARSE, "unexpected ':' at position 0");
    expect_error("!:x", XO_ERR_PARSE, "a term must follow '!' at position 0");
    expect_error("a:1 @x", XO_ERR_PARSE, "unexpected '@' at position 4");
    assert_false(match("a:1 :x", VM)); /* parses as complex-matcher does: a:(1:x) */
    expect_error("size:", XO_ERR_PARSE, "a value must follow size:");
    /* 64 terms are accepted, 65 are not. */
    for (int i = 0; i < 64; i++)
        strcat(many, "t ");
    assert_int_equal(gw_filter_parse(many, &f, errstr, sizeof(errstr)), XO_OK);
    gw_filter_free(f);
    f = NULL;
    strcat(many, "t");
    expect_error(many, XO_ERR_LIMIT, "64 terms");
    /* 4096 bytes are accepted, 4097 are not. */
    big = malloc(4098);
    memset(big, 'w', 4096);
    big[4096] = '\0';
    assert_int_equal(gw_filter_parse(big, &f, errstr, sizeof(errstr)), XO_OK);
    gw_filter_free(f);
    big[4096] = 'w';
    big[4097] = '\0';
    expect_error(big, XO_ERR_LIMIT, "4096 bytes");
    free(big);
    gw_filter_free(NULL);
}

static void test_hints(void **state)
{
    gw_filter_t *f = NULL;
    char errstr[64];

    (void)state;
    assert_int_equal(gw_filter_type_hint(NULL), GW_T_NONE);
    assert_null(gw_filter_id_hint(NULL));
    assert_true(gw_filter_trivial(NULL));
    assert_true(gw_filter_match(NULL, NULL));
    assert_true(gw_filter_match_json(NULL, "not json", 8));

    /* complex-matcher strings never give hints: their values are substrings */
    assert_int_equal(gw_filter_parse("type:VM id:vm-1", &f, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_filter_type_hint(f), GW_T_NONE);
    assert_null(gw_filter_id_hint(f));
    assert_false(gw_filter_trivial(f));
    assert_true(gw_filter_match_json(f, VM, strlen(VM)));
    {
        const char *other = "{\"type\":\"VM\",\"id\":\"vm-2\"}",
                   *template = "{\"type\":\"VM-template\",\"id\":\"vm-10\"}";
        assert_false(gw_filter_match_json(f, other, strlen(other)));
        assert_true(gw_filter_match_json(f, template, strlen(template)));
    }
    gw_filter_free(f);
    assert_int_equal(gw_filter_parse("!type:VM", &f, errstr, sizeof(errstr)), XO_OK);
    assert_false(gw_filter_trivial(f));
    assert_false(gw_filter_match_json(f, VM, strlen(VM)));
    gw_filter_free(f);
    assert_int_equal(gw_filter_parse("type:no-such-type", &f, errstr, sizeof(errstr)), XO_OK);
    assert_false(gw_filter_match_json(f, VM, strlen(VM)));
    gw_filter_free(f);
    /* The empty filter needs no parsing: even a broken document passes. */
    assert_int_equal(gw_filter_parse("", &f, errstr, sizeof(errstr)), XO_OK);
    assert_true(gw_filter_trivial(f));
    assert_true(gw_filter_match_json(f, "{broken", 7));
    gw_filter_free(f);
    /* A filter that must look inside refuses a document it cannot parse. */
    assert_int_equal(gw_filter_parse("size:10", &f, errstr, sizeof(errstr)), XO_OK);
    assert_false(gw_filter_match_json(f, "{broken", 7));
    gw_filter_free(f);
}

static const char *const HOST =
    "{\"type\":\"host\",\"name_label\":\"xcp-01\",\"memory\":{\"size\":8192,\"usage\":2048},"
    "\"cpus\":{\"cores\":16},\"version\":\"8.2.1\",\"enabled\":false,\"tags\":[],"
    "\"PIFs\":[\"pif-a\",\"pif-b\"],\"other\":{},\"count\":0,\"empty\":\"\",\"nums\":[3,7],"
    "\"ver\":\"10\",\"path\":\"/var/log\"}";

static void test_groups_or_not(void **state)
{
    (void)state;
    /* |( ): some term; ( ): every term; ! any term; nesting */
    assert_true(match("|(power_state:Halted power_state:Running)", VM));
    assert_false(match("|(power_state:Halted power_state:Paused)", VM));
    assert_true(match("| ( Halted Running )", VM));
    assert_true(match("(type:VM power_state:Running)", VM));
    assert_false(match("(type:VM power_state:Halted)", VM));
    assert_true(match("!(type:host)", VM));
    assert_true(match("type:VM |(size:11 !name_label:web) |(tags:prod nothing)", VM) == false);
    assert_true(match("type:VM |(size:11 !name_label:db) |(tags:prod nothing)", VM));
    assert_true(match("name_label:|(db web)", VM)); /* a group as a property's value */
    assert_false(match("name_label:(web db)", VM));
    assert_true(match("!!name_label:web", VM));
    assert_true(match("((((web))))", VM));
}

static void test_properties_truthy_comparisons(void **state)
{
    (void)state;
    /* name:name:value reaches into objects; a number names an array's element */
    assert_true(match("memory:size:8192", HOST));
    assert_true(match("memory:usage:<4096", HOST));
    assert_false(match("memory:usage:>4096", HOST));
    assert_true(match("cpus:cores:>=16 cpus:cores:<=16", HOST));
    assert_false(match("cpus:cores:>16", HOST));
    assert_true(match("PIFs:0:pif-a", HOST));
    assert_false(match("PIFs:0:pif-b", HOST));
    assert_false(match("PIFs:9:pif", HOST));
    /* comparisons: numbers, numeric strings (as JavaScript compares them) */
    assert_true(match("ver:>9", HOST));
    assert_false(match("version:>8", HOST)); /* "8.2.1" is no number */
    assert_true(match("nums:3", HOST));      /* an array holding the number */
    assert_true(match("count:>=0 count:<1", HOST));
    /* name? : JavaScript's truthiness ({} and [] are true; 0, "" and false are not) */
    assert_true(match("memory? other? tags?", HOST));
    assert_false(match("count?", HOST));
    assert_false(match("empty?", HOST));
    assert_false(match("enabled?", HOST));
    assert_true(match("!enabled?", HOST));
    assert_false(match("absent?", HOST));
    /* quoted property names */
    assert_true(match("\"name_label\":xcp", HOST));
}

static void test_globs_and_regexes(void **state)
{
    (void)state;
    /* '*': anything, case-insensitive, unanchored */
    assert_true(match("name_label:xcp*01", HOST));
    assert_true(match("name_label:CP-*1", HOST));
    assert_false(match("name_label:01*xcp", HOST));
    assert_true(match("w*b", VM)); /* a bare glob searches every string */
    assert_true(match("tags:p*d", VM));
    /* /regex/ and /regex/i: unanchored, JavaScript syntax translated to POSIX */
    assert_true(match("name_label:/^xcp-\\d+$/", HOST));
    assert_false(match("name_label:/^XCP/", HOST));
    assert_true(match("name_label:/^XCP/i", HOST));
    assert_true(match("path:/\\/var\\/log/", HOST));
    assert_true(match("name_label:/x(?:cp|en)-[0-9]{2}/", HOST));
    assert_true(match("name_label:/x.+?1/", HOST)); /* lazy: a match exists either way */
    assert_true(match("name_label:/[\\w-]+/", HOST));
    assert_true(match("version:/^8\\.2\\./", HOST));
    assert_false(match("version:/^8\\.3/", HOST));
    assert_true(match("tags:/^e/", VM)); /* arrays: some element */
    assert_true(match("/NeedleInside/", VM));
    assert_true(match("name_label:/[\\]a-]|xcp/", HOST)); /* ']' and '-' escaped in a class */
}

/* Inputs REST answers 400, each with a message naming what is wrong or unsupported. */
/* Repetitions within the bound still compile and match. */
static void test_bounded_repetitions(void **state)
{
    (void)state;
    assert_true(match("name_label:/^(x+)+cp/", HOST));
    assert_true(match("name_label:/(x{1,50}){1,100}c/", HOST));
    assert_true(match("name_label:/[a-z]{2,300}/", HOST));
    assert_false(match("name_label:/[a+]{1000}[b]{1000}(c{30}){30}/", HOST)); /* 2,900 */
}

static void test_refused_inputs(void **state)
{
    (void)state;
    expect_error("name_label:/x(?=cp)/", XO_ERR_UNSUPPORTED, "look-around");
    expect_error("name_label:/(?<name>x)/", XO_ERR_UNSUPPORTED, "named groups");
    expect_error("name_label:/\\bxcp/", XO_ERR_UNSUPPORTED, "\\b");
    expect_error("name_label:/(a)\\1/", XO_ERR_UNSUPPORTED, "back-references");
    expect_error("name_label:/[\\D]/", XO_ERR_UNSUPPORTED, "inside [...]");
    expect_error("name_label:/[]/", XO_ERR_UNSUPPORTED, "empty class");
    expect_error("$container:[resolve]:name_label:x", XO_ERR_UNSUPPORTED, "[resolve]");
    expect_error("[resolve:all]:x", XO_ERR_UNSUPPORTED, "[resolve]");
    expect_error("name_label:/unclosed", XO_ERR_PARSE, "unterminated regular expression");
    expect_error("name_label:/a{2,1}/", XO_ERR_PARSE, "bad regular expression");
    /* repetitions whose compiled form explodes (glibc copies a+ and a{n}): refused before
     * regcomp, which asked for gigabytes on the first one (found by fuzz_http_rest) */
    expect_error("name_label:/r++++++++++++++++++++++++++++++est/", XO_ERR_UNSUPPORTED,
                 "repeats too much");
    expect_error("name_label:/((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+/",
                 XO_ERR_UNSUPPORTED, "repeats too much");
    expect_error("name_label:/(a{200}){200}/", XO_ERR_UNSUPPORTED, "repeats too much");
    expect_error("name_label:/[ab]{1,30000}/", XO_ERR_UNSUPPORTED, "repeats too much");
    expect_error("|(a b", XO_ERR_PARSE, "unbalanced parenthesis");
    expect_error("(a", XO_ERR_PARSE, "unbalanced parenthesis");
    expect_error("a)", XO_ERR_PARSE, "unexpected ')'");
    expect_error("()", XO_ERR_PARSE, "empty group");
    expect_error("|a", XO_ERR_PARSE, "'(' must follow '|'");
    expect_error("!", XO_ERR_PARSE, "a term must follow '!'");
    expect_error("size:>abc", XO_ERR_PARSE, "needs a number");
    expect_error("size:>", XO_ERR_PARSE, "a number must follow >");
    expect_error("a@b", XO_ERR_PARSE, "unexpected '@'");
    expect_error("name_label:\"x", XO_ERR_PARSE, "unbalanced quote");
    {
        char deep[200] = "";
        for (int i = 0; i < 40; i++)
            strcat(deep, "(");
        strcat(deep, "x");
        for (int i = 0; i < 40; i++)
            strcat(deep, ")");
        expect_error(deep, XO_ERR_LIMIT, "nested");
    }
}

static bool pattern_matches(const char *pattern, const char *obj)
{
    json_object *p = json_tokener_parse(pattern), *o = json_tokener_parse(obj);
    gw_filter_t *f;
    bool ok;

    assert_non_null(p);
    assert_non_null(o);
    f = gw_filter_from_json(p);
    json_object_put(p); /* the filter holds its own reference */
    ok = gw_filter_match(f, o);
    assert_int_equal(gw_filter_match_json(f, obj, strlen(obj)), ok);
    gw_filter_free(f);
    json_object_put(o);
    return ok;
}

static void test_json_patterns(void **state)
{
    gw_filter_t *f;
    json_object *p;

    (void)state;
    assert_true(pattern_matches("{}", VM));
    assert_true(pattern_matches("{\"power_state\":\"Running\",\"running\":true}", VM));
    assert_false(pattern_matches("{\"running\":false}", VM));
    assert_false(pattern_matches("{\"absent\":1}", VM));
    /* Numbers compare by value across int and double; never with strings. */
    assert_true(pattern_matches("{\"size\":10.0}", VM));
    assert_false(pattern_matches("{\"size\":\"10\"}", VM));
    assert_false(pattern_matches("{\"name_label\":\"web\"}", VM)); /* no substring */
    /* null matches a null member, not a missing one. */
    assert_true(pattern_matches("{\"other\":null}", VM));
    assert_false(pattern_matches("{\"missing\":null}", VM));
    /* Nested objects match partially; arrays when each element is found, in any order. */
    assert_true(pattern_matches("{\"nested\":{\"deeper\":[{\"label\":\"NeedleInside\"}]}}", VM));
    assert_true(pattern_matches("{\"tags\":[\"eu\",\"prod\"]}", VM));
    assert_true(pattern_matches("{\"tags\":[]}", VM));
    assert_false(pattern_matches("{\"tags\":[\"eu\",\"us\"]}", VM));
    assert_false(pattern_matches("{\"tags\":\"eu\"}", VM));
    assert_false(pattern_matches("{\"CPUs\":[4]}", VM));
    assert_false(pattern_matches("{\"size\":{}}", VM));
    /* Hints from a pattern: a string type/id only. */
    p = json_tokener_parse("{\"type\":\"host\"}");
    f = gw_filter_from_json(p);
    assert_int_equal(gw_filter_type_hint(f), GW_T_HOST);
    assert_true(gw_filter_trivial(f));
    assert_false(gw_filter_match_json(f, VM, strlen(VM)));
    gw_filter_free(f);
    json_object_put(p);
    p = json_tokener_parse("{\"type\":\"no-such-type\"}");
    f = gw_filter_from_json(p);
    assert_int_equal(gw_filter_type_hint(f), GW_T_NONE);
    assert_false(gw_filter_trivial(f));
    gw_filter_free(f);
    json_object_put(p);
    p = json_tokener_parse("{\"id\":7}");
    f = gw_filter_from_json(p);
    assert_null(gw_filter_id_hint(f));
    assert_false(gw_filter_trivial(f));
    gw_filter_free(f);
    json_object_put(p);
    /* No pattern matches everything. */
    f = gw_filter_from_json(NULL);
    assert_true(gw_filter_trivial(f));
    assert_true(gw_filter_match_json(f, VM, strlen(VM)));
    gw_filter_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_terms_and_whitespace),
        cmocka_unit_test(test_values_by_type),
        cmocka_unit_test(test_quotes_escapes_negation),
        cmocka_unit_test(test_bare_words_search_strings_only),
        cmocka_unit_test(test_errors_and_limits),
        cmocka_unit_test(test_hints),
        cmocka_unit_test(test_groups_or_not),
        cmocka_unit_test(test_properties_truthy_comparisons),
        cmocka_unit_test(test_globs_and_regexes),
        cmocka_unit_test(test_bounded_repetitions),
        cmocka_unit_test(test_refused_inputs),
        cmocka_unit_test(test_json_patterns),
    };
    return cmocka_run_group_tests_name("gw_filter", tests, NULL, NULL);
}
