/*
 * xo_synth.c - xo-synth: produce synthetic but contract-conformant xo.objects / xo.agents
 * records (as xo-agent would publish them for simulated pools) at full producer speed.
 * For the gateway's tests and its 1M-record bench; never used in production.
 * Deterministic for a given --seed; --summary writes what a consumer should end up with.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xo_envelope.h"
#include "xo_kafka.h"
#include "xo_log.h"

typedef struct {
    const char *bootstrap, *prefix, *summary;
    int pools;
    long objects;
    unsigned seed;
    long rename, remove;
} opts_t;

static unsigned long long rng_state;

static unsigned long long rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void make_uuid(char out[37])
{
    unsigned long long a = rnd(), b = rnd();
    snprintf(out, 37, "%08llx-%04llx-4%03llx-a%03llx-%012llx", a >> 32, (a >> 16) & 0xffff,
             a & 0xfff, (b >> 48) & 0xfff, b & 0xffffffffffffULL);
}

static void make_ref(char out[48])
{
    char u[37];
    make_uuid(u);
    snprintf(out, 48, "OpaqueRef:%s", u);
}

typedef struct {
    xo_producer_t *p;
    xo_topics_t topics;
    int32_t parts_objects, parts_agents;
    long sent;
    char *buf;
    size_t cap;
} out_t;

static void send_rec(out_t *o, const char *pool, const char *cls, const char *ref, const char *uuid,
                     const char *snapshot_json)
{
    char key[256], errstr[256];
    int n;
    int32_t part = xo_pool_partition(pool, o->parts_objects);

    snprintf(key, sizeof(key), "%s/%s/%s", pool, cls, ref);
    for (;;) {
        n = snprintf(o->buf, o->cap,
                     "{\"v\":1,\"pool\":\"%s\",\"class\":\"%s\",\"ref\":\"%s\",\"uuid\":\"%s\","
                     "\"op\":\"add\",\"event_id\":%ld,\"ts\":%lld,\"gen\":1,\"snapshot\":%s}",
                     pool, cls, ref, uuid, o->sent + 1, (long long)xo_now_ms(), snapshot_json);
        if ((size_t)n < o->cap)
            break;
        o->cap = (size_t)n + 1024;
        o->buf = realloc(o->buf, o->cap);
    }
    for (;;) {
        xo_err_t err = xo_producer_send(o->p, o->topics.objects, part, key, strlen(key), o->buf,
                                        (size_t)n, NULL, 0, errstr, sizeof(errstr));
        if (err == XO_OK)
            break;
        if (err != XO_ERR_LIMIT) {
            fprintf(stderr, "xo-synth: %s\n", errstr);
            exit(1);
        }
        xo_producer_poll(o->p, 10);
    }
    o->sent++;
    if (o->sent % 10000 == 0)
        xo_producer_poll(o->p, 0);
}

static void send_del(out_t *o, const char *pool, const char *cls, const char *ref)
{
    char key[256], errstr[256];
    xo_kafka_header_t h = {XO_HDR_OP, "del", 3};
    snprintf(key, sizeof(key), "%s/%s/%s", pool, cls, ref);
    while (xo_producer_send(o->p, o->topics.objects, xo_pool_partition(pool, o->parts_objects), key,
                            strlen(key), NULL, 0, &h, 1, errstr, sizeof(errstr)) == XO_ERR_LIMIT)
        xo_producer_poll(o->p, 10);
    o->sent++;
}

typedef struct {
    char ref[48], uuid[37], metrics[48], gm[48], name[64];
    const char *power; /* NULL once removed */
    char vbd[2][48], vdi[2][48], vif[48], host[48];
} vm_t;

#define NHOSTS 2

/* One synthetic pool: its refs and uuids, drawn from the generator in a fixed order. */
typedef struct {
    int index;
    char uuid[37], ref[48];
    char hosts[NHOSTS][48], host_uuids[NHOSTS][37], host_metrics[NHOSTS][48];
    char sr_ref[48], sr_uuid[37], pbd[48], net[48], net_uuid[37];
    vm_t *vms;
    long nvms;
} pool_t;

/* XO objects expected in the view, by type (the summary's "counts"). */
typedef struct {
    long pool, host, sr, vm, vbd, vdi, vif, network;
} counts_t;

static const char *const POWER[] = {"Running", "Halted", "Suspended", "Paused"};

static void usage(void)
{
    fputs("Usage: xo-synth --bootstrap B [--pools P] [--objects N] [--seed S]\n"
          "       [--prefix xo.] [--summary FILE] [--rename K] [--remove K]\n"
          "Produce about N contract-format records (pool, hosts, SRs, networks, and\n"
          "VMs with metrics, guest metrics, 2 VBDs, 2 VDIs, 1 VIF each) for P pools,\n"
          "then a _sync marker and a live heartbeat per pool. --rename K then renames\n"
          "K VMs, --remove K tombstones K VMs (and their devices). --summary writes\n"
          "the expected view as JSON: pools, counts by XO type, each VM's name and\n"
          "power state.\n",
          stderr);
}

/* @returns -1 to go on, else the exit code (usage printed). */
static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"bootstrap", required_argument, NULL, 'b'},
                                       {"pools", required_argument, NULL, 'p'},
                                       {"objects", required_argument, NULL, 'n'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"prefix", required_argument, NULL, 'P'},
                                       {"summary", required_argument, NULL, 'S'},
                                       {"rename", required_argument, NULL, 'r'},
                                       {"remove", required_argument, NULL, 'd'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "b:p:n:s:P:S:r:d:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'b':
            o->bootstrap = optarg;
            break;
        case 'p':
            o->pools = atoi(optarg);
            break;
        case 'n':
            o->objects = atol(optarg);
            break;
        case 's':
            o->seed = (unsigned)atol(optarg);
            break;
        case 'P':
            o->prefix = optarg;
            break;
        case 'S':
            o->summary = optarg;
            break;
        case 'r':
            o->rename = atol(optarg);
            break;
        case 'd':
            o->remove = atol(optarg);
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!o->bootstrap || o->pools < 1 || o->objects < 1) {
        fprintf(stderr, "xo-synth: --bootstrap is required; --pools and --objects >= 1\n");
        return 2;
    }
    return -1;
}

/* The batching producer and both topics' partition counts. */
static xo_err_t out_open(out_t *out, const opts_t *o, char *errstr, size_t errstr_size)
{
    const char *extra[] = {"bootstrap.servers",
                           o->bootstrap,
                           "linger.ms",
                           "20",
                           "batch.num.messages",
                           "10000",
                           "queue.buffering.max.messages",
                           "500000",
                           NULL};
    xo_err_t err;

    memset(out, 0, sizeof(*out));
    out->cap = 16384;
    out->buf = malloc(out->cap);
    xo_topics_init(&out->topics, o->prefix);
    err = xo_producer_new(NULL, extra, &out->p, errstr, errstr_size);
    if (err == XO_OK)
        err = xo_kafka_partition_count(xo_producer_handle(out->p), out->topics.objects, 10000,
                                       &out->parts_objects, errstr, errstr_size);
    if (err == XO_OK)
        err = xo_kafka_partition_count(xo_producer_handle(out->p), out->topics.agents, 10000,
                                       &out->parts_agents, errstr, errstr_size);
    return err;
}

/* The pool's fixed objects' refs, in the generator's order (the output depends on it). */
static void pool_init(pool_t *p, int index, long per_pool)
{
    long fixed = 1 + 2 * NHOSTS + 2 + 1;

    memset(p, 0, sizeof(*p));
    p->index = index;
    make_uuid(p->uuid);
    make_ref(p->ref);
    for (int h = 0; h < NHOSTS; h++) {
        make_ref(p->hosts[h]);
        make_uuid(p->host_uuids[h]);
        make_ref(p->host_metrics[h]);
    }
    make_ref(p->sr_ref);
    make_uuid(p->sr_uuid);
    make_ref(p->pbd);
    make_ref(p->net);
    make_uuid(p->net_uuid);
    p->nvms = (per_pool - fixed) / 8;
    if (p->nvms < 1)
        p->nvms = 1;
    p->vms = calloc((size_t)p->nvms, sizeof(vm_t));
}

static void send_pool(out_t *out, const pool_t *p, char *snap, size_t snap_size)
{
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"name_label\":\"synthetic pool %d\",\"name_description\":"
             "\"\",\"master\":\"%s\",\"default_SR\":\"%s\",\"suspend_image_SR\":\"%s\","
             "\"crash_dump_SR\":\"%s\",\"other_config\":{},\"ha_enabled\":false,"
             "\"ha_statefiles\":[],\"tags\":[],\"restrictions\":{\"restrict_zstd_export\":"
             "\"false\"},\"cpu_info\":{\"cpu_count\":\"16\",\"socket_count\":\"2\"},"
             "\"current_operations\":{}}",
             p->uuid, p->index, p->hosts[0], p->sr_ref, p->sr_ref, p->sr_ref);
    send_rec(out, p->uuid, "pool", p->ref, p->uuid, snap);
}

/* Host h and its host_metrics. */
static void send_host(out_t *out, const pool_t *p, int h, char *snap, size_t snap_size)
{
    char hmu[37];

    make_uuid(hmu);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"memory_total\":\"68719476736\",\"memory_free\":"
             "\"34359738368\",\"live\":true,\"last_updated\":\"20250101T00:00:00Z\","
             "\"other_config\":{}}",
             hmu);
    send_rec(out, p->uuid, "host_metrics", p->host_metrics[h], hmu, snap);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"name_label\":\"host-%d-%d\",\"name_description\":\"\","
             "\"enabled\":true,\"address\":\"10.0.%d.%d\",\"hostname\":\"host%d\","
             "\"metrics\":\"%s\",\"software_version\":{\"product_version\":\"8.3.0\","
             "\"product_brand\":\"XCP-ng\",\"build_number\":\"release\"},"
             "\"other_config\":{\"boot_time\":\"1735689600\"},\"cpu_info\":"
             "{\"cpu_count\":\"8\",\"socket_count\":\"1\"},\"capabilities\":"
             "[\"hvm-3.0-x86_64\"],\"PIFs\":[],\"PBDs\":[],\"PCIs\":[],\"PGPUs\":[],"
             "\"resident_VMs\":[],\"patches\":[],\"license_params\":{},"
             "\"license_server\":{},\"logging\":{},\"bios_strings\":{},"
             "\"chipset_info\":{},\"tags\":[],\"current_operations\":{},"
             "\"power_on_mode\":\"\",\"control_domain\":\"OpaqueRef:NULL\","
             "\"updates_requiring_reboot\":[]}",
             p->host_uuids[h], p->index, h, p->index & 255, h, h, p->host_metrics[h]);
    send_rec(out, p->uuid, "host", p->hosts[h], p->host_uuids[h], snap);
}

/* The shared SR (with its PBD on the first host) and the pool-wide network. */
static void send_storage_and_network(out_t *out, const pool_t *p, char *snap, size_t snap_size)
{
    char pbd_uuid[37];

    make_uuid(pbd_uuid);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"host\":\"%s\",\"SR\":\"%s\",\"device_config\":{},"
             "\"currently_attached\":true,\"other_config\":{}}",
             pbd_uuid, p->hosts[0], p->sr_ref);
    send_rec(out, p->uuid, "pbd", p->pbd, pbd_uuid, snap);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"name_label\":\"Local storage\",\"name_description\":\"\","
             "\"type\":\"ext\",\"content_type\":\"user\",\"shared\":true,"
             "\"physical_size\":\"1099511627776\",\"physical_utilisation\":\"1073741824\","
             "\"virtual_allocation\":\"2147483648\",\"PBDs\":[\"%s\"],\"VDIs\":[],"
             "\"other_config\":{},\"sm_config\":{},\"tags\":[],\"current_operations\":{}}",
             p->sr_uuid, p->pbd);
    send_rec(out, p->uuid, "sr", p->sr_ref, p->sr_uuid, snap);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"name_label\":\"Pool-wide network\",\"name_description\":"
             "\"\",\"bridge\":\"xenbr0\",\"MTU\":\"1500\",\"other_config\":{},\"tags\":[],"
             "\"PIFs\":[],\"VIFs\":[],\"current_operations\":{},\"default_locking_mode\":"
             "\"unlocked\",\"purpose\":[]}",
             p->net_uuid);
    send_rec(out, p->uuid, "network", p->net, p->net_uuid, snap);
}

/* The VM's VM_metrics and VM_guest_metrics (refs drawn by the caller). */
static void send_vm_metrics(out_t *out, const pool_t *p, const vm_t *v, long i, char *snap,
                            size_t snap_size)
{
    char mu[37], gu[37];

    make_uuid(mu);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"memory_actual\":\"2147483648\",\"VCPUs_number\":\"2\","
             "\"VCPUs_utilisation\":{},\"start_time\":\"20250101T00:00:00Z\","
             "\"install_time\":\"20240101T00:00:00Z\",\"last_updated\":"
             "\"20250101T00:00:00Z\",\"other_config\":{}}",
             mu);
    send_rec(out, p->uuid, "vm_metrics", v->metrics, mu, snap);
    make_uuid(gu);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"os_version\":{\"name\":\"Debian 12\"},"
             "\"PV_drivers_version\":{\"major\":\"9\",\"minor\":\"3\",\"micro\":\"1\","
             "\"build\":\"1\"},\"PV_drivers_up_to_date\":true,\"memory\":{},\"networks\":"
             "{\"0/ip\":\"10.%ld.%ld.%ld\"},\"other\":{},\"live\":true}",
             gu, (i >> 16) & 255, (i >> 8) & 255, i & 255);
    send_rec(out, p->uuid, "vm_guest_metrics", v->gm, gu, snap);
}

static void send_vm_record(out_t *out, const pool_t *p, const vm_t *v, char *snap, size_t snap_size)
{
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"name_label\":\"%s\",\"name_description\":\"synthetic\","
             "\"power_state\":\"%s\",\"is_a_template\":false,\"is_a_snapshot\":false,"
             "\"is_control_domain\":false,\"is_default_template\":false,"
             "\"resident_on\":\"%s\",\"affinity\":\"OpaqueRef:NULL\","
             "\"memory_static_min\":\"1073741824\",\"memory_static_max\":\"2147483648\","
             "\"memory_dynamic_min\":\"2147483648\",\"memory_dynamic_max\":"
             "\"2147483648\",\"VCPUs_max\":\"2\",\"VCPUs_at_startup\":\"2\","
             "\"VCPUs_params\":{},\"HVM_boot_policy\":\"BIOS order\",\"HVM_boot_params\":"
             "{\"order\":\"cd\"},\"platform\":{\"viridian\":\"true\"},\"PV_args\":\"\","
             "\"other_config\":{\"auto_poweron\":\"false\"},\"domain_type\":\"hvm\","
             "\"metrics\":\"%s\",\"guest_metrics\":\"%s\",\"VBDs\":[\"%s\",\"%s\"],"
             "\"VIFs\":[\"%s\"],\"VGPUs\":[],\"VTPMs\":[],\"snapshots\":[],\"parent\":"
             "\"OpaqueRef:NULL\",\"tags\":[],\"blocked_operations\":{},"
             "\"current_operations\":{},\"ha_restart_priority\":\"\",\"start_delay\":"
             "\"0\",\"bios_strings\":{},\"xenstore_data\":{},\"suspend_SR\":"
             "\"OpaqueRef:NULL\",\"has_vendor_device\":false,\"recommendations\":\"\"}",
             v->uuid, v->name, v->power, v->host, v->metrics, v->gm, v->vbd[0], v->vbd[1], v->vif);
    send_rec(out, p->uuid, "vm", v->ref, v->uuid, snap);
}

/* The VM's disk d: its VDI on the shared SR and the VBD plugging it. */
static void send_vm_disk(out_t *out, const pool_t *p, const vm_t *v, int d, char *snap,
                         size_t snap_size)
{
    char u[37];

    make_uuid(u);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"name_label\":\"%s-disk%d\",\"name_description\":"
             "\"\",\"SR\":\"%s\",\"VBDs\":[\"%s\"],\"virtual_size\":"
             "\"21474836480\",\"physical_utilisation\":\"4294967296\",\"type\":"
             "\"user\",\"sharable\":false,\"read_only\":false,\"managed\":true,"
             "\"missing\":false,\"is_a_snapshot\":false,\"snapshot_of\":"
             "\"OpaqueRef:NULL\",\"snapshots\":[],\"sm_config\":{},\"other_config\":"
             "{},\"tags\":[],\"current_operations\":{}}",
             u, v->name, d, p->sr_ref, v->vbd[d]);
    send_rec(out, p->uuid, "vdi", v->vdi[d], u, snap);
    make_uuid(u);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"VM\":\"%s\",\"VDI\":\"%s\",\"device\":\"xvd%c\","
             "\"userdevice\":\"%d\",\"bootable\":%s,\"mode\":\"RW\",\"type\":"
             "\"Disk\",\"currently_attached\":%s,\"empty\":false,"
             "\"other_config\":{}}",
             u, v->ref, v->vdi[d], 'a' + d, d, d == 0 ? "true" : "false",
             strcmp(v->power, "Running") ? "false" : "true");
    send_rec(out, p->uuid, "vbd", v->vbd[d], u, snap);
}

static void send_vm_vif(out_t *out, const pool_t *p, const vm_t *v, long i, char *snap,
                        size_t snap_size)
{
    char u[37];

    make_uuid(u);
    snprintf(snap, snap_size,
             "{\"uuid\":\"%s\",\"VM\":\"%s\",\"network\":\"%s\",\"device\":\"0\","
             "\"MAC\":\"02:00:%02lx:%02lx:%02lx:00\",\"MTU\":\"1500\","
             "\"currently_attached\":true,\"locking_mode\":\"network_default\","
             "\"ipv4_allowed\":[],\"ipv6_allowed\":[],\"other_config\":{},"
             "\"qos_algorithm_type\":\"\",\"qos_algorithm_params\":{}}",
             u, v->ref, p->net, (i >> 16) & 255, (i >> 8) & 255, i & 255);
    send_rec(out, p->uuid, "vif", v->vif, u, snap);
}

/* VM i with its metrics, 2 disks and a VIF; refs drawn in the generator's fixed order. */
static void send_vm(out_t *out, pool_t *p, long i, counts_t *counts, char *snap, size_t snap_size)
{
    vm_t *v = &p->vms[i];

    make_ref(v->ref);
    make_uuid(v->uuid);
    make_ref(v->metrics);
    make_ref(v->gm);
    snprintf(v->name, sizeof(v->name), "vm-%d-%ld", p->index, i);
    v->power = POWER[rnd() % 4];
    snprintf(v->host, sizeof(v->host), "%s",
             strcmp(v->power, "Halted") ? p->hosts[i % NHOSTS] : "OpaqueRef:NULL");
    send_vm_metrics(out, p, v, i, snap, snap_size);
    for (int d = 0; d < 2; d++) {
        make_ref(v->vbd[d]);
        make_ref(v->vdi[d]);
    }
    make_ref(v->vif);
    send_vm_record(out, p, v, snap, snap_size);
    counts->vm++;
    for (int d = 0; d < 2; d++) {
        send_vm_disk(out, p, v, d, snap, snap_size);
        counts->vdi++;
        counts->vbd++;
    }
    send_vm_vif(out, p, v, i, snap, snap_size);
    counts->vif++;
}

/* The end of the pool's full dump: a _sync marker counting what was sent since @p before. */
static void send_sync(out_t *out, const pool_t *p, long before)
{
    char key[128], errstr[256];
    size_t len;
    char *val = xo_sync_msg_encode(p->uuid, "xo-synth", 1, out->sent - before, xo_now_ms(), &len);

    snprintf(key, sizeof(key), "%s/_sync", p->uuid);
    while (xo_producer_send(out->p, out->topics.objects,
                            xo_pool_partition(p->uuid, out->parts_objects), key, strlen(key), val,
                            len, NULL, 0, errstr, sizeof(errstr)) == XO_ERR_LIMIT)
        xo_producer_poll(out->p, 10);
    free(val);
}

/* The first @p k VMs renamed, as live changes after the sync. */
static void send_renames(out_t *out, pool_t *p, long k, char *snap, size_t snap_size)
{
    for (long i = 0; i < k && i < p->nvms; i++) {
        vm_t *v = &p->vms[i];
        snprintf(v->name, sizeof(v->name), "renamed-%d-%ld", p->index, i);
        snprintf(snap, snap_size,
                 "{\"uuid\":\"%s\",\"name_label\":\"%s\",\"name_description\":\"\","
                 "\"power_state\":\"%s\",\"is_a_template\":false,\"is_a_snapshot\":false,"
                 "\"is_control_domain\":false,\"resident_on\":\"%s\",\"memory_dynamic_max\":"
                 "\"2147483648\",\"VCPUs_max\":\"2\",\"VCPUs_at_startup\":\"2\","
                 "\"HVM_boot_policy\":\"BIOS order\",\"platform\":{},\"other_config\":{},"
                 "\"metrics\":\"%s\",\"guest_metrics\":\"%s\",\"VBDs\":[\"%s\",\"%s\"],"
                 "\"VIFs\":[\"%s\"],\"tags\":[]}",
                 v->uuid, v->name, v->power, v->host, v->metrics, v->gm, v->vbd[0], v->vbd[1],
                 v->vif);
        send_rec(out, p->uuid, "vm", v->ref, v->uuid, snap);
    }
}

/* The last @p k VMs and their devices tombstoned, as live changes after the sync. */
static void send_removals(out_t *out, pool_t *p, long k, counts_t *counts)
{
    for (long i = 0; i < k && i < p->nvms; i++) {
        vm_t *v = &p->vms[p->nvms - 1 - i];
        send_del(out, p->uuid, "vm", v->ref);
        send_del(out, p->uuid, "vm_metrics", v->metrics);
        send_del(out, p->uuid, "vm_guest_metrics", v->gm);
        send_del(out, p->uuid, "vif", v->vif);
        for (int d = 0; d < 2; d++) {
            send_del(out, p->uuid, "vbd", v->vbd[d]);
            send_del(out, p->uuid, "vdi", v->vdi[d]);
        }
        v->power = NULL; /* removed */
        counts->vm--;
        counts->vbd -= 2;
        counts->vdi -= 2;
        counts->vif--;
    }
}

/* A live heartbeat on xo.agents, as the pool's agent would publish it. */
static void send_heartbeat(out_t *out, const pool_t *p)
{
    xo_agent_msg_t hb = {.agent = "xo-synth",
                         .version = "synthetic",
                         .pool = p->uuid,
                         .master = p->hosts[0],
                         .state = "live",
                         .ts = xo_now_ms(),
                         .since = xo_now_ms(),
                         .gen = 1,
                         .last_event_id = out->sent,
                         .last_event_ts = xo_now_ms(),
                         .events = out->sent,
                         .published = out->sent};
    char errstr[256];
    size_t len;
    char *val = xo_agent_msg_encode(&hb, &len);

    while (xo_producer_send(out->p, out->topics.agents,
                            xo_pool_partition(p->uuid, out->parts_agents), p->uuid, strlen(p->uuid),
                            val, len, NULL, 0, errstr, sizeof(errstr)) == XO_ERR_LIMIT)
        xo_producer_poll(out->p, 10);
    free(val);
}

/* Each VM still present: "<uuid>":{name_label, power_state}. */
static void write_summary_vms(FILE *sum, const pool_t *p, bool *first_vm)
{
    for (long i = 0; i < p->nvms; i++) {
        if (!p->vms[i].power)
            continue;
        fprintf(sum, "%s\"%s\":{\"name_label\":\"%s\",\"power_state\":\"%s\"}",
                *first_vm ? "" : ",", p->vms[i].uuid, p->vms[i].name, p->vms[i].power);
        *first_vm = false;
    }
}

/* One pool: full dump, _sync, renames and removals, heartbeat, its part of the summary. */
static void synth_pool(out_t *out, const opts_t *o, int index, counts_t *counts, FILE *sum,
                       bool *first_vm)
{
    char snap[8192];
    pool_t p;
    long before = out->sent;

    pool_init(&p, index, o->objects / o->pools);
    send_pool(out, &p, snap, sizeof(snap));
    counts->pool++;
    for (int h = 0; h < NHOSTS; h++) {
        send_host(out, &p, h, snap, sizeof(snap));
        counts->host++;
    }
    send_storage_and_network(out, &p, snap, sizeof(snap));
    counts->sr++;
    counts->network++;
    for (long i = 0; i < p.nvms; i++)
        send_vm(out, &p, i, counts, snap, sizeof(snap));
    send_sync(out, &p, before);
    send_renames(out, &p, o->rename, snap, sizeof(snap));
    send_removals(out, &p, o->remove, counts);
    send_heartbeat(out, &p);
    if (sum)
        write_summary_vms(sum, &p, first_vm);
    printf("pool: %s\n", p.uuid);
    fflush(stdout);
    free(p.vms);
}

static void print_stats(out_t *out, const struct timespec *t0)
{
    struct timespec t1;
    double secs;
    xo_producer_stats_t st;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
    xo_producer_stats(out->p, &st);
    printf("records: %ld\nseconds: %.3f\nrate: %.0f\nfailed: %llu\n", out->sent, secs,
           out->sent / (secs > 0 ? secs : 1), (unsigned long long)st.failed);
}

static void write_summary_end(FILE *sum, const counts_t *c, int pools)
{
    fprintf(sum,
            "},\"counts\":{\"pool\":%ld,\"host\":%ld,\"SR\":%ld,\"VM\":%ld,\"VBD\":%ld,"
            "\"VDI\":%ld,\"VIF\":%ld,\"network\":%ld,\"PBD\":%d}}\n",
            c->pool, c->host, c->sr, c->vm, c->vbd, c->vdi, c->vif, c->network, pools);
}

int main(int argc, char **argv)
{
    opts_t o = {NULL, "xo.", NULL, 1, 1000, 1, 0, 0};
    out_t out;
    char errstr[512];
    int rc = parse_opts(argc, argv, &o);
    FILE *sum = NULL;
    counts_t counts = {0};
    bool first_vm = true;
    struct timespec t0;

    if (rc >= 0)
        return rc;
    rng_state = 0x9e3779b97f4a7c15ULL ^ o.seed;
    if (out_open(&out, &o, errstr, sizeof(errstr)) != XO_OK) {
        fprintf(stderr, "xo-synth: %s\n", errstr);
        return 1;
    }
    if (o.summary) {
        sum = fopen(o.summary, "w");
        if (!sum) {
            perror(o.summary);
            return 1;
        }
        fprintf(sum, "{\"vms\":{");
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int pi = 0; pi < o.pools; pi++)
        synth_pool(&out, &o, pi, &counts, sum, &first_vm);
    if (xo_producer_flush(out.p, 120000) != XO_OK) {
        fprintf(stderr, "xo-synth: flush timed out\n");
        return 1;
    }
    print_stats(&out, &t0);
    if (sum) {
        write_summary_end(sum, &counts, o.pools);
        fclose(sum);
    }
    xo_producer_free(out.p, 10000);
    free(out.buf);
    return 0;
}
