/* Unit tests of gateway/view/xo_objects.c: XAPI records (as the agent decodes XML-RPC: int64 as
 * strings) mapped to xo-server's object shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "view/xo_objects.h"

/* A resolver over a tiny fixed world. */
static const char *id_of(void *opaque, const char *cls, const char *ref)
{
    (void)opaque;
    if (!strcmp(cls, "host") && !strcmp(ref, "OpaqueRef:h"))
        return "host-uuid";
    if (!strcmp(cls, "vbd") && !strcmp(ref, "OpaqueRef:b"))
        return "vbd-uuid";
    if (!strcmp(cls, "task") && !strcmp(ref, "OpaqueRef:t"))
        return "task-uuid";
    return NULL;
}

static json_object *record_of(void *opaque, const char *cls, const char *ref)
{
    (void)opaque;
    if (!strcmp(cls, "vm_metrics") && !strcmp(ref, "OpaqueRef:m"))
        return json_tokener_parse("{\"memory_actual\":\"1073741824\",\"VCPUs_number\":\"4\","
                                  "\"start_time\":\"20250102T03:04:05Z\"}");
    if (!strcmp(cls, "vm_guest_metrics") && !strcmp(ref, "OpaqueRef:g"))
        return json_tokener_parse("{\"PV_drivers_version\":{\"major\":\"9\",\"minor\":\"3\"},"
                                  "\"networks\":{\"0/ip\":\"10.0.0.5\"},\"os_version\":{\"name\":"
                                  "\"Debian\"},\"memory\":{}}");
    if (!strcmp(cls, "pbd") && !strcmp(ref, "OpaqueRef:pbd"))
        return json_tokener_parse("{\"host\":\"OpaqueRef:h\"}");
    return NULL;
}

static const gw_resolver_t R = {id_of, record_of, NULL};

static json_object *map(const char *cls, const char *snap_json, gw_xo_out_t *out)
{
    json_object *snap = json_tokener_parse(snap_json), *o;
    char errstr[128];
    assert_non_null(snap);
    gw_xo_out_init(out);
    assert_int_equal(
        gw_xo_map(cls, "OpaqueRef:self", snap, "pool-uuid", &R, out, errstr, sizeof(errstr)),
        XO_OK);
    json_object_put(snap);
    if (out->type == GW_T_NONE)
        return NULL;
    o = json_tokener_parse(out->json.data);
    assert_non_null(o);
    return o;
}

static json_object *F(json_object *o, const char *path)
{
    char buf[256], *save = NULL, *k;
    snprintf(buf, sizeof(buf), "%s", path);
    for (k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, k, &o))
            return NULL;
    return o;
}

static const char *S(json_object *o, const char *path)
{
    json_object *v = F(o, path);
    return v ? json_object_get_string(v) : NULL;
}

static void test_running_vm(void **state)
{
    gw_xo_out_t out;
    json_object *o = map(
        "vm",
        "{\"uuid\":\"vm-uuid\",\"name_label\":\"web\",\"name_description\":\"d\",\"power_state\":"
        "\"Running\",\"is_a_template\":false,\"is_a_snapshot\":false,\"is_control_domain\":false,"
        "\"resident_on\":\"OpaqueRef:h\",\"memory_dynamic_min\":\"536870912\","
        "\"memory_dynamic_max\":\"2147483648\",\"memory_static_min\":\"268435456\","
        "\"memory_static_max\":\"4294967296\",\"VCPUs_max\":\"8\",\"VCPUs_at_startup\":\"2\","
        "\"VCPUs_params\":{\"weight\":\"256\",\"mask\":\"0,1\"},\"HVM_boot_policy\":\"BIOS order\","
        "\"domain_type\":\"hvm\",\"platform\":{\"cores-per-socket\":\"2\",\"secureboot\":\"true\"},"
        "\"metrics\":\"OpaqueRef:m\",\"guest_metrics\":\"OpaqueRef:g\",\"VBDs\":[\"OpaqueRef:b\"],"
        "\"VIFs\":[],\"tags\":[\"t1\"],\"other_config\":{\"xo:notes\":\"n\"},"
        "\"current_operations\":{\"OpaqueRef:t\":\"clean_shutdown\",\"OpaqueRef:gone\":\"x\"},"
        "\"affinity\":\"OpaqueRef:NULL\",\"start_delay\":\"0\"}",
        &out);
    (void)state;
    assert_int_equal(out.type, GW_T_VM);
    assert_string_equal(out.id, "vm-uuid");
    assert_string_equal(S(o, "type"), "VM");
    assert_string_equal(S(o, "id"), "vm-uuid");
    assert_string_equal(S(o, "uuid"), "vm-uuid");
    assert_string_equal(S(o, "$pool"), "pool-uuid");
    assert_string_equal(S(o, "$poolId"), "pool-uuid");
    assert_string_equal(S(o, "_xapiRef"), "OpaqueRef:self");
    assert_string_equal(S(o, "power_state"), "Running");
    assert_string_equal(S(o, "name_label"), "web");
    assert_string_equal(S(o, "$container"), "host-uuid");
    assert_int_equal(json_object_get_int(F(o, "CPUs.max")), 8);
    assert_int_equal(json_object_get_int(F(o, "CPUs.number")), 4); /* tools: metrics count */
    assert_int_equal(json_object_get_int(F(o, "coresPerSocket")), 2);
    assert_int_equal(json_object_get_int(F(o, "cpuWeight")), 256);
    assert_int_equal(json_object_array_length(F(o, "cpuMask")), 2);
    assert_int_equal(json_object_get_int64(F(o, "memory.size")), 1073741824LL);
    assert_int_equal(json_object_get_int64(json_object_array_get_idx(F(o, "memory.dynamic"), 1)),
                     2147483648LL);
    assert_string_equal(S(o, "mainIpAddress"), "10.0.0.5");
    assert_string_equal(S(o, "os_version.name"), "Debian");
    assert_int_equal(json_object_get_int(F(o, "xenTools.major")), 9);
    assert_true(json_object_get_boolean(F(o, "secureBoot")));
    assert_string_equal(S(o, "virtualizationMode"), "hvm");
    assert_string_equal(S(o, "notes"), "n");
    assert_int_equal(json_object_get_int64(F(o, "startTime")), 1735787045LL);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(F(o, "$VBDs"), 0)),
                        "vbd-uuid");
    assert_string_equal(S(o, "current_operations.task-uuid"), "clean_shutdown");
    assert_int_equal(json_object_object_length(F(o, "current_operations")), 1);
    assert_null(F(o, "affinityHost"));
    assert_int_equal(out.unresolved, 0);
    json_object_put(o);
    gw_xo_out_fini(&out);
}

static void test_vm_types(void **state)
{
    gw_xo_out_t out;
    json_object *o;
    (void)state;
    o = map("vm",
            "{\"uuid\":\"t\",\"is_a_template\":true,\"is_default_template\":true,"
            "\"power_state\":\"Halted\",\"resident_on\":\"OpaqueRef:NULL\","
            "\"other_config\":{\"install-methods\":\"cdrom,http\"}}",
            &out);
    assert_int_equal(out.type, GW_T_VM_TEMPLATE);
    assert_string_equal(out.id, "pool-uuid-t"); /* default templates are scoped by pool */
    assert_string_equal(S(o, "type"), "VM-template");
    assert_string_equal(S(o, "$container"), "pool-uuid");
    assert_true(json_object_get_boolean(F(o, "isDefaultTemplate")));
    assert_int_equal(json_object_array_length(F(o, "template_info.install_methods")), 2);
    json_object_put(o);
    gw_xo_out_fini(&out);
    o = map("vm",
            "{\"uuid\":\"s\",\"is_a_snapshot\":true,\"snapshot_time\":\"19700101T00:01:00Z\","
            "\"snapshot_of\":\"OpaqueRef:unknown\"}",
            &out);
    assert_string_equal(S(o, "type"), "VM-snapshot");
    assert_int_equal(json_object_get_int(F(o, "snapshot_time")), 60);
    assert_int_equal(out.unresolved, 1); /* snapshot_of not known yet */
    json_object_put(o);
    gw_xo_out_fini(&out);
    o = map("vm", "{\"uuid\":\"c\",\"is_control_domain\":true}", &out);
    assert_string_equal(S(o, "type"), "VM-controller");
    assert_string_equal(S(o, "virtualizationMode"), "pv");
    json_object_put(o);
    gw_xo_out_fini(&out);
}

static void test_other_types(void **state)
{
    gw_xo_out_t out;
    json_object *o;
    (void)state;
    o = map("sr",
            "{\"uuid\":\"sr\",\"type\":\"lvm\",\"shared\":false,\"PBDs\":[\"OpaqueRef:pbd\"],"
            "\"physical_size\":\"100\",\"virtual_allocation\":\"40\"}",
            &out);
    assert_string_equal(S(o, "type"), "SR");
    assert_string_equal(S(o, "$container"), "host-uuid"); /* local SR: its PBD's host */
    assert_string_equal(S(o, "allocationStrategy"), "thick");
    assert_int_equal(json_object_get_int(F(o, "size")), 100);
    json_object_put(o);
    gw_xo_out_fini(&out);
    o = map("vdi", "{\"uuid\":\"d\",\"managed\":false,\"virtual_size\":\"5\",\"VBDs\":[]}", &out);
    assert_string_equal(S(o, "type"), "VDI-unmanaged");
    json_object_put(o);
    gw_xo_out_fini(&out);
    o = map("vbd",
            "{\"uuid\":\"b\",\"type\":\"CD\",\"mode\":\"RO\",\"device\":\"\","
            "\"userdevice\":\"3\",\"VM\":\"OpaqueRef:NULL\"}",
            &out);
    assert_true(json_object_get_boolean(F(o, "is_cd_drive")));
    assert_true(json_object_get_boolean(F(o, "read_only")));
    assert_true(json_object_is_type(F(o, "device"), json_type_null));
    assert_string_equal(S(o, "position"), "3");
    json_object_put(o);
    gw_xo_out_fini(&out);
    o = map("host", "{\"uuid\":\"h\",\"name_label\":\"h1\",\"software_version\":{}}", &out);
    assert_string_equal(S(o, "type"), "host");
    assert_string_equal(S(o, "power_state"), "Unknown"); /* no metrics */
    json_object_put(o);
    gw_xo_out_fini(&out);
    o = map("pool", "{\"uuid\":\"pool-uuid\",\"name_label\":\"P\",\"master\":\"OpaqueRef:h\"}",
            &out);
    assert_string_equal(S(o, "type"), "pool");
    assert_string_equal(S(o, "master"), "host-uuid");
    json_object_put(o);
    gw_xo_out_fini(&out);
    o = map("pbd", "{\"uuid\":\"p\",\"device_config\":{\"password\":\"x\",\"server\":\"s\"}}",
            &out);
    assert_string_equal(S(o, "device_config.password"), "* obfuscated *");
    assert_string_equal(S(o, "device_config.server"), "s");
    json_object_put(o);
    gw_xo_out_fini(&out);
    assert_null(map("console", "{\"uuid\":\"c\"}", &out));
    assert_int_equal(out.type, GW_T_NONE);
    assert_string_equal(out.id, "c");
    gw_xo_out_fini(&out);
    o = map("message", "{\"uuid\":\"m\",\"name\":\"ALARM\",\"obj_uuid\":\"x\"}", &out);
    assert_string_equal(S(o, "type"), "message");
    assert_string_equal(S(o, "$object"), "x");
    json_object_put(o);
    gw_xo_out_fini(&out);
}

/* $missingPatches: the agent's summary in other_config, shown only when well formed. */
static void test_host_missing_patches(void **state)
{
    static const char *const BAD[] = {"not json", "{\\\"count\\\":-1,\\\"names\\\":[]}",
                                      "{\\\"count\\\":\\\"2\\\",\\\"names\\\":[]}",
                                      "{\\\"count\\\":2}"};
    gw_xo_out_t out;
    json_object *o, *mp;
    char rec[512];
    (void)state;
    o = map("host",
            "{\"uuid\":\"h\",\"software_version\":{},\"other_config\":{\"xo:missing_patches\":"
            "\"{\\\"count\\\":3,\\\"names\\\":[\\\"a-1-1\\\",7,\\\"b-2-2\\\"]}\"}}",
            &out);
    mp = F(o, "$missingPatches");
    assert_non_null(mp);
    assert_string_equal(json_object_to_json_string_ext(mp, JSON_C_TO_STRING_PLAIN),
                        "{\"count\":3,\"names\":[\"a-1-1\",\"b-2-2\"]}"); /* not a string: out */
    json_object_put(o);
    gw_xo_out_fini(&out);
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        snprintf(rec, sizeof(rec),
                 "{\"uuid\":\"h\",\"software_version\":{},\"other_config\":"
                 "{\"xo:missing_patches\":\"%s\"}}",
                 BAD[i]);
        o = map("host", rec, &out);
        assert_null(F(o, "$missingPatches"));
        json_object_put(o);
        gw_xo_out_fini(&out);
    }
    o = map("host", "{\"uuid\":\"h\",\"software_version\":{}}", &out);
    assert_null(F(o, "$missingPatches")); /* never checked: absent */
    json_object_put(o);
    gw_xo_out_fini(&out);
}

static void test_refuses_bad_records(void **state)
{
    gw_xo_out_t out;
    char errstr[64];
    json_object *a = json_tokener_parse("[]"), *b = json_tokener_parse("{\"uuid\":[1]}"), *a2;
    (void)state;
    gw_xo_out_init(&out);
    assert_int_equal(gw_xo_map("vm", "r", a, "p", &R, &out, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_int_equal(gw_xo_map("vm", "r", b, "p", &R, &out, errstr, sizeof(errstr)), XO_ERR_PARSE);
    /* odd field types never crash the mapping */
    json_object_put(b);
    b = json_tokener_parse("{\"uuid\":\"x\",\"VBDs\":\"notalist\",\"memory_static_max\":{},"
                           "\"platform\":[],\"current_operations\":5,\"VCPUs_params\":\"\"}");
    assert_int_equal(gw_xo_map("vm", "r", b, "p", &R, &out, errstr, sizeof(errstr)), XO_OK);
    a2 = json_tokener_parse(out.json.data);
    assert_non_null(a2);
    json_object_put(a2);
    gw_xo_out_fini(&out);
    json_object_put(a);
    json_object_put(b);
}

static void test_datetime(void **state)
{
    double t;
    (void)state;
    assert_true(gw_xo_parse_datetime("20250102T03:04:05Z", &t));
    assert_int_equal((long)t, 1735787045L);
    assert_true(gw_xo_parse_datetime("2025-01-02T03:04:05Z", &t));
    assert_int_equal((long)t, 1735787045L);
    assert_true(gw_xo_parse_datetime("20250102T03:04:05+01:00", &t));
    assert_int_equal((long)t, 1735787045L - 3600);
    assert_false(gw_xo_parse_datetime("garbage", &t));
    assert_false(gw_xo_parse_datetime("", &t));
}

/* Every row of the table of XO types (view/xo_types.h) maps: a record of its class with
 * the flags that select it becomes an object of that type, "type" placed as the row says. */
static void test_every_type_maps(void **state)
{
    static const struct {
        gw_type_t type;
        const char *cls, *snap;
    } cases[] = {
        {GW_T_POOL, "pool", "{}"},
        {GW_T_HOST, "host", "{}"},
        {GW_T_VM, "vm", "{}"},
        {GW_T_VM_CONTROLLER, "vm", "{\"is_control_domain\":true,\"is_a_template\":true}"},
        {GW_T_VM_SNAPSHOT, "vm", "{\"is_a_snapshot\":true,\"is_a_template\":true}"},
        {GW_T_VM_TEMPLATE, "vm", "{\"is_a_template\":true}"},
        {GW_T_SR, "sr", "{}"},
        {GW_T_PBD, "pbd", "{}"},
        {GW_T_VDI, "vdi", "{\"managed\":true}"},
        {GW_T_VDI_SNAPSHOT, "vdi", "{\"is_a_snapshot\":true,\"managed\":false}"},
        {GW_T_VDI_UNMANAGED, "vdi", "{\"managed\":false}"},
        {GW_T_VBD, "vbd", "{}"},
        {GW_T_VIF, "vif", "{}"},
        {GW_T_NETWORK, "network", "{}"},
        {GW_T_PIF, "pif", "{}"},
        {GW_T_MESSAGE, "message", "{}"},
        {GW_T_TASK, "task", "{}"},
    };
    bool seen[GW_T_COUNT] = {false};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gw_xo_out_t out;
        json_object *o = map(cases[i].cls, cases[i].snap, &out);
        bool own = (gw_xo_type(cases[i].type)->flags & GW_XO_OWN_TYPE) != 0;
        assert_int_equal(out.type, cases[i].type);
        assert_string_equal(S(o, "type"), gw_type_name(cases[i].type));
        assert_string_equal(S(o, "id"), "OpaqueRef:self"); /* no uuid: the ref */
        /* xo-server's transform sets "type" first; else xapiObjectToXo after "id" */
        assert_true(!strncmp(out.json.data, own ? "{\"type\":" : "{", own ? 8 : 1));
        assert_true(own || strstr(out.json.data, "\"id\":\"OpaqueRef:self\",\"type\":"));
        seen[cases[i].type] = true;
        json_object_put(o);
        gw_xo_out_fini(&out);
    }
    for (int t = 1; t < GW_T_COUNT; t++)
        assert_true(seen[t]); /* a new row of the table needs a case here */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_running_vm),          cmocka_unit_test(test_vm_types),
        cmocka_unit_test(test_other_types),         cmocka_unit_test(test_host_missing_patches),
        cmocka_unit_test(test_refuses_bad_records), cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_every_type_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
