/* Unit tests of gateway/view/xo_types.c: the one table of XO object types (enum, XO name,
 * XAPI class, REST collection, flags) is consistent, and its look-ups answer from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "view/xo_types.h"

static void test_rows_match_enum_and_lookups(void **state)
{
    (void)state;
    for (int t = 1; t < GW_T_COUNT; t++) {
        const gw_xo_type_t *row = gw_xo_type((gw_type_t)t);
        assert_int_equal(row->type, t);
        assert_true(row->name[0] && row->xapi_class[0] && row->collection[0]);
        assert_string_equal(gw_type_name((gw_type_t)t), row->name);
        /* round trips also prove that names and collections are unique */
        assert_int_equal(gw_type_from_name(row->name), t);
        assert_int_equal(gw_type_from_collection(row->collection), t);
    }
    assert_string_equal(gw_type_name(GW_T_NONE), "");
    assert_string_equal(gw_type_name(GW_T_COUNT), "");
    assert_int_equal(gw_xo_type(GW_T_COUNT)->type, GW_T_NONE);
    assert_int_equal(gw_type_from_name("nope"), GW_T_NONE);
    assert_int_equal(gw_type_from_name(""), GW_T_NONE);
    assert_int_equal(gw_type_from_collection("nope"), GW_T_NONE);
    assert_int_equal(gw_type_from_collection(""), GW_T_NONE);
    /* spot checks of rows clients depend on */
    assert_string_equal(gw_type_name(GW_T_VM_TEMPLATE), "VM-template");
    assert_int_equal(gw_type_from_collection("vm-templates"), GW_T_VM_TEMPLATE);
    assert_int_equal(gw_type_from_collection("vdi-unmanaged"), GW_T_VDI_UNMANAGED);
    assert_string_equal(gw_xo_type(GW_T_NETWORK)->xapi_class, "network");
}

/* A class's rows are adjacent, its default first, and agree on their flags. */
static void test_rows_of_a_class_are_adjacent_and_agree(void **state)
{
    (void)state;
    for (int t = 1; t < GW_T_COUNT; t++) {
        const gw_xo_type_t *row = gw_xo_type((gw_type_t)t);
        int base = gw_type_of_class(row->xapi_class);
        assert_true(base >= 1 && base <= t);
        for (int u = base; u <= t; u++) {
            assert_string_equal(gw_xo_type((gw_type_t)u)->xapi_class, row->xapi_class);
            assert_int_equal(gw_xo_type((gw_type_t)u)->flags, row->flags);
        }
    }
    assert_int_equal(gw_type_of_class("vm"), GW_T_VM);
    assert_int_equal(gw_type_of_class("vdi"), GW_T_VDI);
    assert_int_equal(gw_type_of_class("host_metrics"), GW_T_NONE);
    assert_int_equal(gw_type_of_class("console"), GW_T_NONE);
}

/* The view keeps the records of exactly these classes (docs/gateway.md, "Memory"). */
static void test_kept_records(void **state)
{
    static const char *const kept[] = {
        "pool", "host", "host_metrics", "vm",  "vm_metrics", "vm_guest_metrics",
        "sr",   "pbd",  "network",      "pif", NULL};
    static const char *const dropped[] = {"vdi",     "vbd",         "vif",        "message", "task",
                                          "console", "pool_update", "host_patch", "",        NULL};
    (void)state;
    for (int i = 0; kept[i]; i++)
        assert_true(gw_xo_class_keeps_record(kept[i]));
    for (int i = 0; dropped[i]; i++)
        assert_false(gw_xo_class_keeps_record(dropped[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_match_enum_and_lookups),
        cmocka_unit_test(test_rows_of_a_class_are_adjacent_and_agree),
        cmocka_unit_test(test_kept_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
