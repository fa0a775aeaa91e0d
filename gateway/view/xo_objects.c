/*
 * xo_objects.c - XAPI record -> xo-server object, written straight to JSON text.
 * Follows packages/xo-server/src/xapi-object-to-xo.mjs (TRANSFORMS) for pool, host, VM
 * (and its controller/snapshot/template types), SR, PBD, PIF, VDI, VBD, VIF, network,
 * message and task: one map_<type> per row of the table of XO types (view/xo_types.h),
 * bound at the end of this file. Pure: no locks, no logging, no global state; other
 * objects are only reached through the resolver. Deviations from xo-server are listed in
 * docs/api.md.
 */
#include "view/xo_objects.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NULL_REF "OpaqueRef:NULL"

void gw_xo_out_init(gw_xo_out_t *out)
{
    memset(out, 0, sizeof(*out));
    gw_buf_init(&out->json);
}

void gw_xo_out_fini(gw_xo_out_t *out)
{
    gw_buf_fini(&out->json);
}

/* ---- record accessors (XML-RPC decoded: int64 as strings, maps as objects) ---- */

static json_object *F(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

/* String field, or "" when absent or not a string. */
static const char *S(json_object *o, const char *k)
{
    json_object *v = F(o, k);
    return (v && json_object_is_type(v, json_type_string)) ? json_object_get_string(v) : "";
}

/* JavaScript's +value: numbers as they are, numeric strings parsed, others NaN. */
static double num_of(json_object *v)
{
    const char *s;
    char *end;
    double d;

    if (!v)
        return NAN;
    switch (json_object_get_type(v)) {
    case json_type_int:
        return (double)json_object_get_int64(v);
    case json_type_double:
        return json_object_get_double(v);
    case json_type_boolean:
        return json_object_get_boolean(v) ? 1 : 0;
    case json_type_string:
        s = json_object_get_string(v);
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0')
            return 0; /* +"" === 0 */
        d = strtod(s, &end);
        while (isspace((unsigned char)*end))
            end++;
        return *end ? NAN : d;
    case json_type_null:
        return 0;
    default:
        return NAN;
    }
}

static double N(json_object *o, const char *k)
{
    return num_of(F(o, k));
}

/* JavaScript truthiness of a field (Boolean(obj.x)). */
static bool B(json_object *o, const char *k)
{
    json_object *v = F(o, k);
    if (!v)
        return false;
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        return json_object_get_boolean(v);
    case json_type_string:
        return json_object_get_string_len(v) > 0;
    case json_type_int:
        return json_object_get_int64(v) != 0;
    case json_type_double:
        return json_object_get_double(v) != 0;
    case json_type_null:
        return false;
    default:
        return true;
    }
}

/* A string member of a map field (obj.other_config.x), or NULL. */
static const char *M(json_object *o, const char *map, const char *k)
{
    json_object *m = F(o, map), *v;
    if (!m || !json_object_is_type(m, json_type_object) || !json_object_object_get_ex(m, k, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* obj.map.k === value (a string member equal to @p value). */
static bool M_is(json_object *o, const char *map, const char *k, const char *value)
{
    const char *v = M(o, map, k);
    return v && !strcmp(v, value);
}

static bool is_ref(const char *s)
{
    return s && *s && strcmp(s, NULL_REF) != 0;
}

bool gw_xo_parse_datetime(const char *s, double *out)
{
    int v[6] = {0};
    const int widths[6] = {4, 2, 2, 2, 2, 2};
    const char *p = s;
    struct tm tm;
    time_t t;
    int offset = 0;

    if (!s)
        return false;
    for (int i = 0; i < 6; i++) {
        if (i > 0 && (*p == '-' || *p == ':' || *p == 'T' || *p == 't' || *p == ' '))
            p++;
        if (i == 3 && (p[-1] != 'T' && p[-1] != 't' && p[-1] != ' ')) {
            if (*p == 'T' || *p == 't')
                p++;
        }
        for (int j = 0; j < widths[i]; j++, p++) {
            if (!isdigit((unsigned char)*p))
                return false;
            v[i] = v[i] * 10 + (*p - '0');
        }
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, hh = 0, mm = 0;
        p++;
        if (sscanf(p, "%2d:%2d", &hh, &mm) < 1 && sscanf(p, "%2d%2d", &hh, &mm) < 1)
            return false;
        offset = sign * (hh * 3600 + mm * 60);
    } else if (*p && *p != 'Z' && *p != 'z') {
        return false;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    t = timegm(&tm);
    *out = (double)t - offset;
    return true;
}

/* ---- mapping context ---- */

typedef struct {
    gw_jw_t w;
    const gw_resolver_t *r;
    json_object *o;      /* the record */
    gw_type_t type;      /* its XO type */
    const char *pool_id; /* its pool's uuid */
    char *id;            /* its XO id (GW_ID_MAX bytes; default templates rewrite it) */
    unsigned unresolved;
} ctx_t;

static void K(ctx_t *c, const char *k)
{
    gw_jw_key(&c->w, k);
}

static void kstr(ctx_t *c, const char *k, const char *v)
{
    K(c, k);
    gw_jw_str(&c->w, v);
}

/* Copy a field as it is (maps, sets, strings); missing fields are left out, as undefined. */
static void kcopy_as(ctx_t *c, const char *k, const char *field)
{
    json_object *v = F(c->o, field);
    size_t n = 0;
    const char *s;

    if (!v) {
        return;
    }
    s = json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    K(c, k);
    gw_jw_raw(&c->w, s, n);
}

static void kcopy(ctx_t *c, const char *k)
{
    kcopy_as(c, k, k);
}

static void kcopy_json(ctx_t *c, const char *k, json_object *v)
{
    size_t n = 0;
    const char *s;

    if (!v)
        return;
    s = json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    K(c, k);
    gw_jw_raw(&c->w, s, n);
}

static void knum(ctx_t *c, const char *k, double v)
{
    K(c, k);
    gw_jw_double(&c->w, v);
}

static void kbool(ctx_t *c, const char *k, bool v)
{
    K(c, k);
    gw_jw_bool(&c->w, v);
}

/* toTimestamp(): seconds, null when absent or unparsable. */
static void kts(ctx_t *c, const char *k, const char *date)
{
    double t;
    K(c, k);
    if (date && gw_xo_parse_datetime(date, &t))
        gw_jw_double(&c->w, t);
    else
        gw_jw_null(&c->w);
}

static const char *resolve(ctx_t *c, const char *cls, const char *ref, bool counts)
{
    const char *id = (c->r && c->r->id_of) ? c->r->id_of(c->r->opaque, cls, ref) : NULL;
    if (!id && counts)
        c->unresolved++;
    return id;
}

/* link(obj, field) for a single ref: the target's id, or nothing when NULL or unknown. */
static void klink(ctx_t *c, const char *k, const char *field, const char *cls)
{
    const char *ref = S(c->o, field), *id;
    if (!is_ref(ref))
        return;
    id = resolve(c, cls, ref, cls != NULL);
    if (id)
        kstr(c, k, id);
}

/* link(obj, field) for a set of refs: ids, null for unknown ones. */
static void klinks(ctx_t *c, const char *k, const char *field, const char *cls)
{
    json_object *a = F(c->o, field);
    size_t n;

    if (!a || !json_object_is_type(a, json_type_array))
        return;
    K(c, k);
    gw_jw_arr_begin(&c->w);
    n = json_object_array_length(a);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        const char *ref = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
        const char *id = is_ref(ref) && cls ? resolve(c, cls, ref, true) : NULL;
        if (id)
            gw_jw_str(&c->w, id);
        else
            gw_jw_null(&c->w);
    }
    gw_jw_arr_end(&c->w);
}

/*
 * The record of @p cls at @p ref through the resolver (caller puts it), or NULL. A record
 * not in the view yet counts as an unresolved link, as a missing id does: the object waits
 * for it and is mapped again when it arrives (a VM mapped before its metrics would
 * otherwise keep installTime null until its own next record).
 */
static json_object *record_by_ref(ctx_t *c, const char *cls, const char *ref)
{
    json_object *rec;

    if (!is_ref(ref))
        return NULL;
    rec = (c->r && c->r->record_of) ? c->r->record_of(c->r->opaque, cls, ref) : NULL;
    if (!rec)
        c->unresolved++;
    return rec;
}

static json_object *record_of(ctx_t *c, const char *cls, const char *field)
{
    return record_by_ref(c, cls, S(c->o, field));
}

/* cpus: {cores: +cpu_info.cpu_count, sockets: +cpu_info.socket_count} (undefined if no info) */
static void kcpus(ctx_t *c)
{
    json_object *ci = F(c->o, "cpu_info");
    K(c, "cpus");
    gw_jw_obj_begin(&c->w);
    if (ci && json_object_is_type(ci, json_type_object)) {
        knum(c, "cores", N(ci, "cpu_count"));
        knum(c, "sockets", N(ci, "socket_count"));
    }
    gw_jw_obj_end(&c->w);
}

/* ---- transforms ---- */

static void map_pool(ctx_t *c)
{
    const char *label = S(c->o, "name_label");
    const char *v;

    kbool(c, "auto_poweron", (v = M(c->o, "other_config", "auto_poweron")) && !strcmp(v, "true"));
    klink(c, "crashDumpSr", "crash_dump_SR", "sr");
    kcopy(c, "current_operations");
    klink(c, "default_SR", "default_SR", "sr");
    kbool(c, "HA_enabled", B(c->o, "ha_enabled"));
    K(c, "haSrs");
    gw_jw_arr_begin(&c->w);
    gw_jw_arr_end(&c->w);
    klink(c, "master", "master", "host");
    kcopy(c, "tags");
    kcopy(c, "name_description");
    if (!*label) {
        json_object *master = record_of(c, "host", "master");
        K(c, "name_label");
        gw_jw_str(&c->w, master ? S(master, "name_label") : "");
        json_object_put(master);
    } else {
        kstr(c, "name_label", label);
    }
    kts(c, "xosanPackInstallationTime", M(c->o, "other_config", "xosan_pack_installation_time"));
    kcopy_as(c, "otherConfig", "other_config");
    kcpus(c);
    klink(c, "suspendSr", "suspend_image_SR", "sr");
    kbool(c, "zstdSupported",
          (v = M(c->o, "restrictions", "restrict_zstd_export")) && !strcmp(v, "false"));
    kbool(c, "vtpmSupported",
          (v = M(c->o, "restrictions", "restrict_vtpm")) && !strcmp(v, "false"));
    /* XAPI's ha_reboot_vm_on_internal_shutdown (XAPI's default, true, where the field is
     * older than the pool's XAPI) */
    kbool(c, "haRebootVmOnInternalShutdown",
          F(c->o, "ha_reboot_vm_on_internal_shutdown")
              ? B(c->o, "ha_reboot_vm_on_internal_shutdown")
              : true);
    {
        json_object *master = record_of(c, "host", "master");
        v = master ? M(master, "software_version", "platform_version") : NULL;
        kstr(c, "platform_version", v ? v : "");
        json_object_put(master);
    }
}

static bool set_has_prefix(json_object *a, const char *prefix)
{
    size_t n = (a && json_object_is_type(a, json_type_array)) ? json_object_array_length(a) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(a, i));
        if (s && strncmp(s, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

/* CPUs .. iscsiIqn: the machine, its software build and its identity on the network. */
static void host_hardware(ctx_t *c)
{
    const char *iommu = M(c->o, "chipset_info", "iommu");
    const char *iqn = M(c->o, "other_config", "iscsi_iqn");

    kcopy_as(c, "CPUs", "cpu_info");
    kcopy(c, "address");
    kcopy(c, "bios_strings");
    K(c, "build");
    gw_jw_str(&c->w, M(c->o, "software_version", "build_number"));
    K(c, "chipset_info");
    gw_jw_obj_begin(&c->w);
    if (iommu)
        kbool(c, "iommu", !strcmp(iommu, "true"));
    gw_jw_obj_end(&c->w);
    kbool(c, "enabled", B(c->o, "enabled"));
    klink(c, "controlDomain", "control_domain", "vm");
    kcpus(c);
    kcopy(c, "current_operations");
    kcopy(c, "hostname");
    kstr(c, "iscsiIqn", *S(c->o, "iscsi_iqn") ? S(c->o, "iscsi_iqn") : iqn ? iqn : "");
}

/* zstdSupported .. logging: what the licence allows. */
static void host_license(ctx_t *c)
{
    kbool(c, "zstdSupported", M_is(c->o, "license_params", "restrict_zstd_export", "false"));
    kcopy(c, "license_params");
    kcopy(c, "license_server");
    kts(c, "license_expiry", M(c->o, "license_params", "expiry"));
    kcopy(c, "logging");
}

/* memory: from host_metrics, the total rounded up to a GiB as xo-server does. */
static void host_memory(ctx_t *c, json_object *metrics)
{
    const double gib = 1024.0 * 1024 * 1024;
    double total;

    K(c, "memory");
    gw_jw_obj_begin(&c->w);
    if (metrics) {
        total = ceil(N(metrics, "memory_total") / gib) * gib;
        knum(c, "usage", total - N(metrics, "memory_free"));
        knum(c, "size", total);
    } else {
        knum(c, "usage", 0);
        knum(c, "size", 0);
        knum(c, "total", 0);
    }
    gw_jw_obj_end(&c->w);
}

/* rebootRequired: on XCP-ng, patches installed after boot; elsewhere, XAPI's own list. */
static void host_reboot_required(ctx_t *c, const char *brand, const char *boot)
{
    json_object *ur = F(c->o, "updates_requiring_reboot");
    double bt = 0, rp;

    if (brand && !strcmp(brand, "XCP-ng")) {
        rp = N(F(c->o, "other_config"), "rpm_patch_installation_time");
        kbool(c, "rebootRequired", boot && gw_xo_parse_datetime(boot, &bt) && bt < rp);
    } else {
        kbool(c, "rebootRequired",
              ur && json_object_is_type(ur, json_type_array) && json_object_array_length(ur) > 0);
    }
}

/* multipathing .. rebootRequired: configuration, power and the running software. */
static void host_state(ctx_t *c, json_object *metrics, const char *brand)
{
    const char *boot = M(c->o, "other_config", "boot_time");
    bool live = metrics && B(metrics, "live");

    kbool(c, "multipathing", M_is(c->o, "other_config", "multipathing", "true"));
    kcopy_as(c, "otherConfig", "other_config");
    klinks(c, "patches", "patches", "host_patch");
    kcopy_as(c, "powerOnMode", "power_on_mode");
    kstr(c, "power_state", metrics ? (live ? "Running" : "Halted") : "Unknown");
    klinks(c, "residentVms", "resident_VMs", "vm");
    kts(c, "startTime", boot);
    K(c, "supplementalPacks");
    gw_jw_arr_begin(&c->w);
    gw_jw_arr_end(&c->w);
    kts(c, "agentStartTime", M(c->o, "other_config", "agent_start_time"));
    host_reboot_required(c, brand, boot);
}

/* PIFs .. $PBDs: links to the host's devices. */
static void host_devices(ctx_t *c)
{
    klinks(c, "PIFs", "PIFs", "pif");
    klinks(c, "$PIFs", "PIFs", "pif");
    klinks(c, "PCIs", "PCIs", NULL);
    klinks(c, "$PCIs", "PCIs", NULL);
    klinks(c, "PGPUs", "PGPUs", NULL);
    klinks(c, "$PGPUs", "PGPUs", NULL);
    klinks(c, "$PBDs", "PBDs", "pbd");
}

/* $missingPatches: the summary the pool's agent keeps in other_config["xo:missing_patches"]
 * ({count, names}, docs/patching.md). Anyone may write other_config: only a well-formed
 * summary is shown, rebuilt from its count and string names. */
static void host_missing_patches(ctx_t *c)
{
    const char *text = M(c->o, "other_config", "xo:missing_patches");
    json_object *v = text ? json_tokener_parse(text) : NULL, *count, *names, *out;
    size_t n;

    if (!json_object_is_type(v, json_type_object) ||
        !json_object_object_get_ex(v, "count", &count) ||
        !json_object_is_type(count, json_type_int) || json_object_get_int64(count) < 0 ||
        !json_object_object_get_ex(v, "names", &names) ||
        !json_object_is_type(names, json_type_array))
        goto out;
    out = json_object_new_object();
    json_object_object_add(out, "count", json_object_new_int64(json_object_get_int64(count)));
    json_object_object_add(out, "names", json_object_new_array());
    n = json_object_array_length(names);
    for (size_t i = 0; i < n; i++) {
        json_object *name = json_object_array_get_idx(names, i);
        if (json_object_is_type(name, json_type_string))
            json_object_array_add(json_object_object_get(out, "names"), json_object_get(name));
    }
    kcopy_json(c, "$missingPatches", out);
    json_object_put(out);
out:
    json_object_put(v);
}

/* host, field groups in xo-server's order. */
static void map_host(ctx_t *c)
{
    json_object *metrics = record_of(c, "host_metrics", "metrics");
    const char *brand = M(c->o, "software_version", "product_brand");

    host_hardware(c);
    host_license(c);
    kcopy(c, "name_description");
    kcopy(c, "name_label");
    host_memory(c, metrics);
    host_state(c, metrics, brand);
    kcopy(c, "tags");
    K(c, "version");
    gw_jw_str(&c->w, M(c->o, "software_version", "product_version"));
    K(c, "productBrand");
    gw_jw_str(&c->w, brand);
    kbool(c, "hvmCapable", set_has_prefix(F(c->o, "capabilities"), "hvm"));
    host_devices(c);
    host_missing_patches(c);
    json_object_put(metrics);
}

/* First IP of guest_metrics.networks ("0/ip", then "0/ipv4/0", then any ip). */
static void kmain_ip(ctx_t *c, json_object *networks)
{
    json_object *v;
    const char *best = NULL;

    if (networks && json_object_is_type(networks, json_type_object)) {
        if (json_object_object_get_ex(networks, "0/ip", &v) ||
            json_object_object_get_ex(networks, "0/ipv4/0", &v))
            best = json_object_get_string(v);
        if (!best) {
            json_object_object_foreach(networks, key, val)
            {
                if (strstr(key, "ip") && json_object_is_type(val, json_type_string)) {
                    best = json_object_get_string(val);
                    break;
                }
            }
        }
    }
    if (best) {
        kstr(c, "mainIpAddress", best);
    }
}

static const char *domain_type(json_object *o)
{
    const char *dt = S(o, "domain_type");
    if (*dt && strcmp(dt, "unspecified") != 0)
        return dt;
    return *S(o, "HVM_boot_policy") ? "hvm" : "pv";
}

/* What the VM's field groups below share: its linked records and facts derived once. */
typedef struct {
    json_object *gm;      /* VM_guest_metrics record (owned), or NULL */
    json_object *metrics; /* VM_metrics record (owned), or NULL */
    const char *power_state;
    const char *domain_type;
    bool running; /* Running or Paused */
    bool hvm;
    const char *tools_major, *tools_minor; /* PV_drivers_version, NULL when absent */
    bool has_tools;
} vm_facts_t;

static void vm_facts_init(ctx_t *c, vm_facts_t *vm)
{
    /* Resolver order matters: it is the order of the links the view waits for. */
    vm->gm = record_of(c, "vm_guest_metrics", "guest_metrics");
    vm->metrics = record_of(c, "vm_metrics", "metrics");
    vm->power_state = S(c->o, "power_state");
    vm->running = !strcmp(vm->power_state, "Running") || !strcmp(vm->power_state, "Paused");
    vm->domain_type = domain_type(c->o);
    vm->hvm = !strcmp(vm->domain_type, "hvm");
    vm->tools_major = M(vm->gm, "PV_drivers_version", "major");
    vm->tools_minor = M(vm->gm, "PV_drivers_version", "minor");
    vm->has_tools = vm->gm && vm->tools_major && vm->tools_minor;
}

static void vm_facts_fini(vm_facts_t *vm)
{
    json_object_put(vm->gm);
    json_object_put(vm->metrics);
}

/* addresses: guest_metrics.networks, {} when unknown. */
static void vm_addresses(ctx_t *c, const vm_facts_t *vm)
{
    json_object *nw = F(vm->gm, "networks");
    if (nw && json_object_is_type(nw, json_type_object)) {
        kcopy_json(c, "addresses", nw);
    } else {
        K(c, "addresses");
        gw_jw_raw(&c->w, "{}", 2);
    }
}

/* affinityHost .. boot: placement and boot settings. */
static void vm_boot_settings(ctx_t *c)
{
    klink(c, "affinityHost", "affinity", "host");
    kbool(c, "auto_poweron", M_is(c->o, "other_config", "auto_poweron", "true"));
    kcopy(c, "bios_strings");
    kcopy_as(c, "blockedOperations", "blocked_operations");
    kcopy_as(c, "boot", "HVM_boot_params");
}

/* CPUs: the live count from VM_metrics when the guest tools report, else at startup. */
static void vm_cpus(ctx_t *c, const vm_facts_t *vm)
{
    bool live = c->type != GW_T_VM_TEMPLATE && vm->running && vm->metrics && vm->has_tools;

    K(c, "CPUs");
    gw_jw_obj_begin(&c->w);
    knum(c, "max", N(c->o, "VCPUs_max"));
    knum(c, "number", live ? N(vm->metrics, "VCPUs_number") : N(c->o, "VCPUs_at_startup"));
    gw_jw_obj_end(&c->w);
}

/* current_operations: keyed by task id; tasks not in the view are left out. */
static void vm_current_operations(ctx_t *c)
{
    json_object *co = F(c->o, "current_operations");

    K(c, "current_operations");
    gw_jw_obj_begin(&c->w);
    if (co && json_object_is_type(co, json_type_object)) {
        json_object_object_foreach(co, tref, op)
        {
            const char *tid = resolve(c, "task", tref, false);
            if (tid && json_object_is_type(op, json_type_string))
                kstr(c, tid, json_object_get_string(op));
        }
    }
    gw_jw_obj_end(&c->w);
}

/* memory: dynamic and static ranges; usage and size from the guest, VM_metrics or config. */
static void vm_memory(ctx_t *c, const vm_facts_t *vm)
{
    double dmax = N(c->o, "memory_dynamic_max");
    json_object *gmm = F(vm->gm, "memory");
    const char *used = M(vm->gm, "memory", "used");

    K(c, "memory");
    gw_jw_obj_begin(&c->w);
    K(c, "dynamic");
    gw_jw_arr_begin(&c->w);
    gw_jw_double(&c->w, N(c->o, "memory_dynamic_min"));
    gw_jw_double(&c->w, dmax);
    gw_jw_arr_end(&c->w);
    K(c, "static");
    gw_jw_arr_begin(&c->w);
    gw_jw_double(&c->w, N(c->o, "memory_static_min"));
    gw_jw_double(&c->w, N(c->o, "memory_static_max"));
    gw_jw_arr_end(&c->w);
    if (!vm->running) {
        knum(c, "size", dmax);
    } else if (used && *used) {
        knum(c, "usage", num_of(F(gmm, "used")));
        knum(c, "size", num_of(F(gmm, "total")));
    } else if (vm->metrics) {
        knum(c, "size", N(vm->metrics, "memory_actual"));
    } else {
        knum(c, "size", dmax);
    }
    gw_jw_obj_end(&c->w);
}

/* installTime .. os_version: what the VM is and what it runs. */
static void vm_description(ctx_t *c, const vm_facts_t *vm)
{
    const char *notes = M(c->o, "other_config", "xo:notes");
    json_object *osv = F(vm->gm, "os_version");

    if (vm->metrics)
        kts(c, "installTime", S(vm->metrics, "install_time"));
    kcopy(c, "name_description");
    kcopy(c, "name_label");
    kbool(c, "needsVtpm", M_is(c->o, "platform", "vtpm", "true"));
    if (notes)
        kstr(c, "notes", notes);
    kcopy_as(c, "other", "other_config");
    /* (guestMetrics && guestMetrics.os_version) || null */
    if (osv && json_object_is_type(osv, json_type_object)) {
        kcopy_json(c, "os_version", osv);
    } else {
        K(c, "os_version");
        gw_jw_null(&c->w);
    }
}

/* parent .. virtualizationMode: power state, lineage, start-up and links. */
static void vm_state(ctx_t *c, const vm_facts_t *vm)
{
    klink(c, "parent", "parent", "vm");
    kstr(c, "power_state", vm->power_state);
    kcopy_as(c, "hasVendorDevice", "has_vendor_device");
    klinks(c, "snapshots", "snapshots", "vm");
    knum(c, "startDelay", N(c->o, "start_delay"));
    if (vm->metrics)
        kts(c, "startTime", S(vm->metrics, "start_time"));
    kbool(c, "secureBoot", M_is(c->o, "platform", "secureboot", "true"));
    klink(c, "suspendSr", "suspend_SR", "sr");
    kcopy(c, "tags");
    klinks(c, "VIFs", "VIFs", "vif");
    klinks(c, "VTPMs", "VTPMs", NULL);
    kstr(c, "virtualizationMode", vm->domain_type);
}

/* xenTools: false, or the PV drivers' version; only known while running with metrics. */
static void vm_xen_tools(ctx_t *c, const vm_facts_t *vm)
{
    char ver[64];

    if (!vm->running || !vm->metrics)
        return;
    K(c, "xenTools");
    if (!vm->has_tools) {
        gw_jw_bool(&c->w, false);
        return;
    }
    gw_jw_obj_begin(&c->w);
    knum(c, "major", atof(vm->tools_major));
    knum(c, "minor", atof(vm->tools_minor));
    snprintf(ver, sizeof(ver), "%s.%s", vm->tools_major, vm->tools_minor);
    knum(c, "version", atof(ver));
    gw_jw_obj_end(&c->w);
}

/* managementAgentDetected, pvDrivers*: from the guest metrics of a running VM. */
static void vm_guest_drivers(ctx_t *c, const vm_facts_t *vm)
{
    json_object *gm = vm->gm;
    const char *micro = M(gm, "PV_drivers_version", "micro");
    const char *build = M(gm, "PV_drivers_version", "build");
    bool detected;
    char ver[160];

    if (!vm->running || !vm->metrics || !gm)
        return;
    detected = F(gm, "PV_drivers_detected") ? B(gm, "PV_drivers_detected") : vm->has_tools;
    kbool(c, "managementAgentDetected",
          vm->has_tools || M_is(gm, "other", "feature-static-ip-setting", "1"));
    kbool(c, "pvDriversDetected", detected);
    if (vm->has_tools) {
        snprintf(ver, sizeof(ver), "%s.%s.%s-%s", vm->tools_major, vm->tools_minor,
                 micro ? micro : "undefined", build ? build : "undefined");
        kstr(c, "pvDriversVersion", ver);
    }
    if (detected)
        kcopy_json(c, "pvDriversUpToDate", F(gm, "PV_drivers_up_to_date"));
}

/* $container: the resident host while running, else the pool (see docs/api.md). */
static void vm_container(ctx_t *c)
{
    const char *ro = S(c->o, "resident_on"), *hid = NULL;
    if (is_ref(ro))
        hid = resolve(c, "host", ro, true);
    kstr(c, "$container", hid ? hid : c->pool_id);
}

/* $VBDs .. coresPerSocket: virtual devices and the platform's display and topology. */
static void vm_devices(ctx_t *c, const vm_facts_t *vm)
{
    const char *nic = M(c->o, "platform", "nic_type"), *v;

    klinks(c, "$VBDs", "VBDs", "vbd");
    klinks(c, "VGPUs", "VGPUs", NULL);
    klinks(c, "$VGPUs", "VGPUs", NULL);
    if (nic) /* xo-server's platform.nic_type: absent when XAPI has none */
        kstr(c, "nicType", nic);
    kcopy_as(c, "xenStoreData", "xenstore_data");
    if (vm->hvm) {
        v = M(c->o, "platform", "vga");
        kstr(c, "vga", v ? v : "cirrus");
        /* MiB, a number (XAPI's platform map holds it as text) */
        v = M(c->o, "platform", "videoram");
        knum(c, "videoram", v && *v ? atof(v) : 4);
    }
    if (M(c->o, "platform", "cores-per-socket"))
        knum(c, "coresPerSocket", num_of(F(F(c->o, "platform"), "cores-per-socket")));
}

static void vm_snapshot_fields(ctx_t *c)
{
    kts(c, "snapshot_time", S(c->o, "snapshot_time"));
    klink(c, "$snapshot_of", "snapshot_of", "vm");
    klink(c, "suspendVdi", "suspend_VDI", "vdi");
}

/* A comma-separated list as a JSON array of strings (nothing for NULL or ""). */
static void kstr_list_items(ctx_t *c, const char *list)
{
    const char *p = (list && *list) ? list : NULL;
    while (p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        gw_jw_raw(&c->w, "", 0); /* the writer's separator */
        gw_buf_json_strn(c->w.b, p, n);
        p = comma ? comma + 1 : NULL;
    }
}

static bool is_default_template(json_object *o)
{
    return B(o, "is_default_template") || M_is(o, "other_config", "default_template", "true");
}

/* isDefaultTemplate, template_info (a default template's id is set by record_id). */
static void vm_template_fields(ctx_t *c)
{
    const char *v;

    kbool(c, "isDefaultTemplate", is_default_template(c->o));
    K(c, "template_info");
    gw_jw_obj_begin(&c->w);
    if ((v = M(c->o, "other_config", "install-arch")))
        kstr(c, "arch", v);
    K(c, "disks");
    gw_jw_arr_begin(&c->w);
    gw_jw_arr_end(&c->w);
    K(c, "install_methods");
    gw_jw_arr_begin(&c->w);
    kstr_list_items(c, M(c->o, "other_config", "install-methods"));
    gw_jw_arr_end(&c->w);
    if ((v = M(c->o, "other_config", "install-repository")))
        kstr(c, "install_repository", v);
    gw_jw_obj_end(&c->w);
}

/* cpuCap, cpuMask, cpuWeight from VCPUs_params (non-empty members only). */
static void vm_vcpu_params(ctx_t *c)
{
    json_object *vp = F(c->o, "VCPUs_params");
    const char *v;

    if (!vp || !json_object_is_type(vp, json_type_object))
        return;
    if ((v = M(c->o, "VCPUs_params", "cap")) && *v)
        knum(c, "cpuCap", num_of(F(vp, "cap")));
    if ((v = M(c->o, "VCPUs_params", "mask")) && *v) {
        K(c, "cpuMask");
        gw_jw_arr_begin(&c->w);
        for (const char *p = v; p;) {
            gw_jw_double(&c->w, atof(p));
            p = strchr(p, ',');
            if (p)
                p++;
        }
        gw_jw_arr_end(&c->w);
    }
    if ((v = M(c->o, "VCPUs_params", "weight")) && *v)
        knum(c, "cpuWeight", num_of(F(vp, "weight")));
}

/* creation: the `creation` member of XO's data in other_config["xo:<uuid[0..8]>"] (JSON
 * written by xo-server when it creates a VM), {} when there is none. */
static void vm_creation(ctx_t *c)
{
    const char *uuid = S(c->o, "uuid");
    char key[16];
    const char *data;
    json_object *parsed, *creation = NULL;

    snprintf(key, sizeof(key), "xo:%.8s", uuid);
    data = M(c->o, "other_config", key);
    parsed = data ? json_tokener_parse(data) : NULL;
    if (json_object_object_get_ex(parsed, "creation", &creation) &&
        json_object_is_type(creation, json_type_object)) {
        kcopy_json(c, "creation", creation);
    } else {
        K(c, "creation");
        gw_jw_obj_begin(&c->w);
        gw_jw_obj_end(&c->w);
    }
    json_object_put(parsed);
}

/* isFirmwareSupported: no restriction field="supports-<firmware>" value="no" in the
 * template's recommendations XML (as xo-server reads it). */
static void vm_firmware_supported(ctx_t *c)
{
    const char *rec = S(c->o, "recommendations"), *fw = M(c->o, "HVM_boot_params", "firmware");
    char needle[64];
    const char *at;
    bool supported = true;

    snprintf(needle, sizeof(needle), "field=\"supports-%.32s\"", fw && *fw ? fw : "bios");
    at = rec ? strstr(rec, needle) : NULL;
    if (at) {
        const char *end = strchr(at, '>');
        const char *no = strstr(at, "value=\"no\"");
        supported = !(no && end && no < end);
    }
    kbool(c, "isFirmwareSupported", supported);
}

/* vulnerabilities.xsa468: Windows guests (platform device_id 0002) whose PV drivers are
 * not detected get {reason: "no-pv-drivers-detected"}; the version check of vulnerable
 * drivers is not done here (docs/api.md): false otherwise. */
static void vm_vulnerabilities(ctx_t *c, const vm_facts_t *vm)
{
    bool windows = M_is(c->o, "platform", "device_id", "0002");
    bool detected = vm->gm && (F(vm->gm, "PV_drivers_detected") ? B(vm->gm, "PV_drivers_detected")
                                                                : vm->has_tools);

    K(c, "vulnerabilities");
    gw_jw_obj_begin(&c->w);
    K(c, "xsa468");
    if (windows && vm->running && !detected) {
        gw_jw_obj_begin(&c->w);
        kstr(c, "reason", "no-pv-drivers-detected");
        gw_jw_obj_end(&c->w);
    } else {
        gw_jw_bool(&c->w, false);
    }
    gw_jw_obj_end(&c->w);
}

/* VM and its controller/snapshot/template types, field groups in xo-server's order. */
static void map_vm(ctx_t *c)
{
    vm_facts_t vm;

    vm_facts_init(c, &vm);
    vm_addresses(c, &vm);
    vm_boot_settings(c);
    vm_cpus(c, &vm);
    vm_creation(c);
    vm_current_operations(c);
    kbool(c, "expNestedHvm", M_is(c->o, "platform", "exp-nested-hvm", "true"));
    /* nested virtualisation: platform nested-virt (XCP-ng 8.3), or the older exp-nested-hvm */
    kbool(c, "isNestedVirtEnabled",
          M_is(c->o, "platform", "nested-virt", "true") ||
              M_is(c->o, "platform", "exp-nested-hvm", "true"));
    vm_firmware_supported(c);
    kbool(c, "viridian", M_is(c->o, "platform", "viridian", "true"));
    kmain_ip(c, F(vm.gm, "networks"));
    kcopy_as(c, "high_availability", "ha_restart_priority");
    vm_memory(c, &vm);
    vm_description(c, &vm);
    vm_state(c, &vm);
    vm_xen_tools(c, &vm);
    vm_guest_drivers(c, &vm);
    vm_container(c);
    vm_devices(c, &vm);
    if (c->type == GW_T_VM_SNAPSHOT)
        vm_snapshot_fields(c);
    else if (c->type == GW_T_VM_TEMPLATE)
        vm_template_fields(c);
    vm_vcpu_params(c);
    if (!vm.hvm)
        kcopy(c, "PV_args");
    if (c->type == GW_T_VM)
        vm_vulnerabilities(c, &vm);
    vm_facts_fini(&vm);
}

static const char *allocation_of(const char *t)
{
    static const char *const thin[] = {"ext", "file", "nfs", "shm", "smb", "xosan", "zfs", NULL};
    static const char *const thick[] = {
        "hba",        "iscsi",    "lvhd",     "lvhdofcoe", "lvhdohba", "lvhdoiscsi",
        "lvm",        "lvmofcoe", "lvmohba",  "lvmoiscsi", "ocfs",     "ocfsohba",
        "ocfsoiscsi", "rawhba",   "rawiscsi", "udev",      NULL};
    for (int i = 0; thin[i]; i++)
        if (!strcmp(t, thin[i]))
            return "thin";
    for (int i = 0; thick[i]; i++)
        if (!strcmp(t, thick[i]))
            return "thick";
    return NULL;
}

static void map_sr(ctx_t *c)
{
    const char *t = S(c->o, "type"), *alloc = allocation_of(t);
    json_object *pbds = F(c->o, "PBDs");
    const char *pbd0 =
        (pbds && json_object_is_type(pbds, json_type_array) && json_object_array_length(pbds) > 0)
            ? json_object_get_string(json_object_array_get_idx(pbds, 0))
            : NULL;

    kcopy(c, "content_type");
    knum(c, "physical_usage", N(c->o, "physical_utilisation"));
    if (alloc)
        kstr(c, "allocationStrategy", alloc);
    kcopy(c, "current_operations");
    kbool(c, "inMaintenanceMode", M(c->o, "other_config", "xo:maintenanceState") != NULL);
    kcopy(c, "name_description");
    kcopy(c, "name_label");
    knum(c, "size", N(c->o, "physical_size"));
    kbool(c, "shared", B(c->o, "shared"));
    kstr(c, "SR_type", t);
    kcopy(c, "tags");
    knum(c, "usage", N(c->o, "virtual_allocation"));
    klinks(c, "VDIs", "VDIs", "vdi");
    kcopy(c, "other_config");
    kcopy(c, "sm_config");
    if (B(c->o, "shared") || !is_ref(pbd0)) {
        kstr(c, "$container", c->pool_id);
    } else {
        json_object *pbd = record_by_ref(c, "pbd", pbd0);
        const char *hid =
            pbd && is_ref(S(pbd, "host")) ? resolve(c, "host", S(pbd, "host"), true) : NULL;
        if (hid)
            kstr(c, "$container", hid);
        json_object_put(pbd);
    }
    klinks(c, "$PBDs", "PBDs", "pbd");
}

static void map_pbd(ctx_t *c)
{
    json_object *dc = F(c->o, "device_config");

    kbool(c, "attached", B(c->o, "currently_attached"));
    klink(c, "host", "host", "host");
    klink(c, "SR", "SR", "sr");
    /* sensitive values (password-like keys) are obfuscated as xo-server does */
    K(c, "device_config");
    gw_jw_obj_begin(&c->w);
    if (dc && json_object_is_type(dc, json_type_object)) {
        json_object_object_foreach(dc, k, val)
        {
            if (strcasestr(k, "password") || strcasestr(k, "secret"))
                kstr(c, k, "* obfuscated *");
            else
                kcopy_json(c, k, val);
        }
    }
    gw_jw_obj_end(&c->w);
    kcopy_as(c, "otherConfig", "other_config");
}

static void map_pif(ctx_t *c)
{
    json_object *bmo = F(c->o, "bond_master_of");
    const char *bso = S(c->o, "bond_slave_of");

    kbool(c, "attached", B(c->o, "currently_attached"));
    kbool(c, "isBondMaster",
          bmo && json_object_is_type(bmo, json_type_array) && json_object_array_length(bmo) > 0);
    kbool(c, "isBondSlave", *bso && strcmp(bso, NULL_REF) != 0);
    kcopy(c, "device");
    kcopy_as(c, "dns", "DNS");
    kbool(c, "disallowUnplug", B(c->o, "disallow_unplug"));
    kcopy(c, "gateway");
    kcopy_as(c, "ip", "IP");
    kcopy_as(c, "ipv6", "IPv6");
    kcopy_as(c, "mac", "MAC");
    kbool(c, "management", B(c->o, "management"));
    kbool(c, "carrier", false);
    kcopy_as(c, "mode", "ip_configuration_mode");
    kcopy_as(c, "ipv6Mode", "ipv6_configuration_mode");
    knum(c, "mtu", N(c->o, "MTU"));
    kcopy(c, "netmask");
    kbool(c, "physical", B(c->o, "physical"));
    kcopy_as(c, "primaryAddressType", "primary_address_type");
    knum(c, "vlan", N(c->o, "VLAN"));
    klink(c, "$host", "host", "host");
    klink(c, "$network", "network", "network");
}

static void map_vdi(ctx_t *c)
{
    kcopy(c, "missing");
    kcopy(c, "name_description");
    kcopy(c, "name_label");
    {
        const char *p = M(c->o, "sm_config", "vhd-parent");
        if (p)
            kstr(c, "parent", p);
    }
    knum(c, "size", N(c->o, "virtual_size"));
    klinks(c, "snapshots", "snapshots", "vdi");
    kcopy(c, "tags");
    knum(c, "usage", N(c->o, "physical_utilisation"));
    /* the VHD chain's physical usage: this VDI's own (its parents are not added, docs/api.md) */
    knum(c, "chainPhysicalUsage", N(c->o, "physical_utilisation"));
    kcopy_as(c, "VDI_type", "type");
    kcopy(c, "current_operations");
    kcopy(c, "other_config");
    klink(c, "$SR", "SR", "sr");
    klinks(c, "$VBDs", "VBDs", "vbd");
    if (c->type == GW_T_VDI_SNAPSHOT) {
        kts(c, "snapshot_time", S(c->o, "snapshot_time"));
        klink(c, "$snapshot_of", "snapshot_of", "vdi");
    }
}

static void map_vbd(ctx_t *c)
{
    const char *dev = S(c->o, "device");

    kbool(c, "attached", B(c->o, "currently_attached"));
    kbool(c, "bootable", B(c->o, "bootable"));
    kstr(c, "device", *dev ? dev : NULL);
    kbool(c, "is_cd_drive", !strcmp(S(c->o, "type"), "CD"));
    kcopy_as(c, "position", "userdevice");
    kbool(c, "read_only", !strcmp(S(c->o, "mode"), "RO"));
    klink(c, "VDI", "VDI", "vdi");
    klink(c, "VM", "VM", "vm");
}

static void map_vif(ctx_t *c)
{
    const char *tx = M(c->o, "other_config", "ethtool-tx"), *kbps;

    kcopy_as(c, "allowedIpv4Addresses", "ipv4_allowed");
    kcopy_as(c, "allowedIpv6Addresses", "ipv6_allowed");
    kbool(c, "attached", B(c->o, "currently_attached"));
    kcopy(c, "device");
    kcopy_as(c, "lockingMode", "locking_mode");
    kcopy(c, "MAC");
    knum(c, "MTU", N(c->o, "MTU"));
    kcopy(c, "other_config");
    kbool(c, "txChecksumming", !(tx && (!strcmp(tx, "false") || !strcmp(tx, "off"))));
    if (!strcmp(S(c->o, "qos_algorithm_type"), "ratelimit") &&
        (kbps = M(c->o, "qos_algorithm_params", "kbps")))
        knum(c, "rateLimit", num_of(F(F(c->o, "qos_algorithm_params"), "kbps")));
    klink(c, "$network", "network", "network");
    klink(c, "$VM", "VM", "vm");
}

static bool set_contains(json_object *a, const char *s)
{
    size_t n = (a && json_object_is_type(a, json_type_array)) ? json_object_array_length(a) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = json_object_get_string(json_object_array_get_idx(a, i));
        if (e && !strcmp(e, s))
            return true;
    }
    return false;
}

/* isBonded: one of the network's PIFs is a bond master (its bond_master_of not empty). */
static void network_bonded(ctx_t *c)
{
    json_object *pifs = F(c->o, "PIFs");
    bool bonded = false;

    for (size_t i = 0; pifs && json_object_is_type(pifs, json_type_array) &&
                       i < json_object_array_length(pifs) && !bonded;
         i++) {
        json_object *ref = json_object_array_get_idx(pifs, i), *pif, *bm;
        pif = json_object_is_type(ref, json_type_string)
                  ? record_by_ref(c, "pif", json_object_get_string(ref))
                  : NULL;
        bm = F(pif, "bond_master_of");
        bonded = bm && json_object_is_type(bm, json_type_array) && json_object_array_length(bm);
        json_object_put(pif);
    }
    kbool(c, "isBonded", bonded);
}

static void map_network(ctx_t *c)
{
    const char *v;
    json_object *purpose = F(c->o, "purpose");

    kbool(c, "automatic", (v = M(c->o, "other_config", "automatic")) && !strcmp(v, "true"));
    kcopy(c, "bridge");
    kcopy(c, "current_operations");
    kbool(c, "defaultIsLocked", !strcmp(S(c->o, "default_locking_mode"), "disabled"));
    knum(c, "MTU", N(c->o, "MTU"));
    kcopy(c, "name_description");
    kcopy(c, "name_label");
    kcopy(c, "other_config");
    kcopy(c, "tags");
    klinks(c, "PIFs", "PIFs", "pif");
    klinks(c, "VIFs", "VIFs", "vif");
    network_bonded(c);
    if (purpose) {
        kbool(c, "nbd", set_contains(purpose, "nbd"));
        kbool(c, "insecureNbd", set_contains(purpose, "insecure_nbd"));
    }
}

static void map_message(ctx_t *c)
{
    kcopy(c, "body");
    kcopy(c, "name");
    kts(c, "time", S(c->o, "timestamp"));
    kcopy_as(c, "$object", "obj_uuid");
}

static void map_task(ctx_t *c)
{
    const char *at = M(c->o, "other_config", "applies_to");

    kcopy_as(c, "allowedOperations", "allowed_operations");
    kts(c, "created", S(c->o, "created"));
    kcopy(c, "current_operations");
    kts(c, "finished", S(c->o, "finished"));
    kcopy(c, "name_description");
    kcopy(c, "name_label");
    knum(c, "progress", N(c->o, "progress"));
    kcopy(c, "result");
    kcopy(c, "status");
    if (at && *at)
        kstr(c, "applies_to", at);
    klink(c, "$host", "resident_on", "host");
}

/* ---- the table's functions: which type a record is, and what maps it ---- */

/* rec_<when> of the table (xo_types.h): is a record of the class of this type? */
static bool rec_any(json_object *o)
{
    (void)o;
    return true;
}

static bool rec_control_domain(json_object *o)
{
    return B(o, "is_control_domain");
}

static bool rec_snapshot(json_object *o)
{
    return B(o, "is_a_snapshot");
}

static bool rec_template(json_object *o)
{
    return B(o, "is_a_template");
}

static bool rec_unmanaged(json_object *o)
{
    return F(o, "managed") && !B(o, "managed");
}

typedef struct {
    void (*map)(ctx_t *c);        /* the type's own fields */
    bool (*when)(json_object *o); /* a record of the class is of this type */
} binding_t;

#define BINDING_ROW(e, name, cls, coll, mapper, when, flags)                                       \
    [GW_T_##e] = {map_##mapper, rec_##when},

static const binding_t BINDINGS[GW_T_COUNT] = {GW_XO_TYPES(BINDING_ROW)};

/* The class's default type, or the first of its other rows whose test holds. */
static gw_type_t type_of_record(const char *cls, json_object *o)
{
    gw_type_t base = gw_type_of_class(cls);

    if (base == GW_T_NONE)
        return GW_T_NONE;
    for (int t = base + 1; t < GW_T_COUNT && !strcmp(gw_xo_type(t)->xapi_class, cls); t++)
        if (BINDINGS[t].when(o))
            return (gw_type_t)t;
    return base;
}

/* snprintf(id, GW_ID_MAX, "%s", s) without the format's cost (twice per new record). */
static void copy_id(char id[GW_ID_MAX], const char *s)
{
    size_t n = strnlen(s, GW_ID_MAX - 1);

    memcpy(id, s, n);
    id[n] = '\0';
}

/*
 * The record's XO id and type: $id in xen-api, the uuid, else the ref; a default
 * template's id is scoped by its pool. @p uuid receives the uuid, or NULL.
 */
static xo_err_t record_id(const char *cls, const char *ref, json_object *snap, const char *pool_id,
                          gw_type_t *type, const char **uuid, char id[GW_ID_MAX], char *errstr,
                          size_t errstr_size)
{
    json_object *uuid_o;

    *uuid = NULL;
    if (!snap || !json_object_is_type(snap, json_type_object))
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "snapshot is not an object");
    if (json_object_object_get_ex(snap, "uuid", &uuid_o)) {
        if (!json_object_is_type(uuid_o, json_type_string))
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "snapshot uuid is not a string");
        *uuid = json_object_get_string(uuid_o);
        if (!**uuid)
            *uuid = NULL;
    }
    *type = type_of_record(cls, snap);
    if (*type == GW_T_VM_TEMPLATE && is_default_template(snap))
        snprintf(id, GW_ID_MAX, "%s-%s", pool_id, *uuid ? *uuid : "");
    else
        copy_id(id, *uuid ? *uuid : ref);
    return XO_OK;
}

xo_err_t gw_xo_id(const char *cls, const char *ref, json_object *snap, const char *pool_id,
                  char id[GW_ID_MAX], char *errstr, size_t errstr_size)
{
    gw_type_t type;
    const char *uuid;

    return record_id(cls, ref, snap, pool_id, &type, &uuid, id, errstr, errstr_size);
}

xo_err_t gw_xo_map(const char *cls, const char *ref, json_object *snap, const char *pool_id,
                   const gw_resolver_t *r, gw_xo_out_t *out, char *errstr, size_t errstr_size)
{
    ctx_t c;
    const char *uuid = NULL;
    bool own_type;
    xo_err_t err;

    out->unresolved = 0;
    gw_buf_reset(&out->json);
    err = record_id(cls, ref, snap, pool_id, &out->type, &uuid, out->id, errstr, errstr_size);
    if (err != XO_OK || out->type == GW_T_NONE)
        return err;

    memset(&c, 0, sizeof(c));
    gw_jw_init(&c.w, &out->json);
    c.r = r;
    c.o = snap;
    c.type = out->type;
    c.pool_id = pool_id;
    c.id = out->id;
    own_type = (gw_xo_type(out->type)->flags & GW_XO_OWN_TYPE) != 0;
    gw_jw_obj_begin(&c.w);
    if (own_type)
        kstr(&c, "type", gw_type_name(out->type));
    BINDINGS[out->type].map(&c);
    /* Common fields, added after the transform as xapiObjectToXo does. */
    kstr(&c, "id", out->id);
    if (!own_type)
        kstr(&c, "type", gw_type_name(out->type));
    if (uuid)
        kstr(&c, "uuid", uuid);
    kstr(&c, "$pool", pool_id);
    kstr(&c, "$poolId", pool_id);
    kstr(&c, "_xapiRef", ref);
    gw_jw_obj_end(&c.w);
    out->unresolved = c.unresolved;
    if (out->json.failed)
        return XO_ERR_NOMEM;
    return XO_OK;
}
