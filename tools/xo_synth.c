/*
 * xo_synth.c - xo-synth: produce synthetic but contract-conformant xo.objects / xo.agents
 * records (as xo-agent would publish them for simulated pools) at full producer speed.
 * For the gateway's tests and its 1M-record bench; never used in production.
 * Deterministic for a given --seed; --summary writes what a consumer should end up with.
 */
#include <getopt.h>
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
    const char *power;
    char vbd[2][48], vdi[2][48], vif[48], host[48];
} vm_t;

static const char *const POWER[] = {"Running", "Halted", "Suspended", "Paused"};

int main(int argc, char **argv)
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
    opts_t o = {NULL, "xo.", NULL, 1, 1000, 1, 0, 0};
    out_t out;
    char errstr[512];
    const char *extra[] = {"bootstrap.servers",
                           NULL,
                           "linger.ms",
                           "20",
                           "batch.num.messages",
                           "10000",
                           "queue.buffering.max.messages",
                           "500000",
                           NULL};
    int opt;
    FILE *sum = NULL;
    long counts[8] = {0}; /* pool host SR VM VBD VDI VIF network */
    struct timespec t0, t1;

    while ((opt = getopt_long(argc, argv, "b:p:n:s:P:S:r:d:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'b':
            o.bootstrap = optarg;
            break;
        case 'p':
            o.pools = atoi(optarg);
            break;
        case 'n':
            o.objects = atol(optarg);
            break;
        case 's':
            o.seed = (unsigned)atol(optarg);
            break;
        case 'P':
            o.prefix = optarg;
            break;
        case 'S':
            o.summary = optarg;
            break;
        case 'r':
            o.rename = atol(optarg);
            break;
        case 'd':
            o.remove = atol(optarg);
            break;
        default:
            fprintf(stderr,
                    "Usage: xo-synth --bootstrap B [--pools P] [--objects N] [--seed S]\n"
                    "       [--prefix xo.] [--summary FILE] [--rename K] [--remove K]\n"
                    "Produce about N contract-format records (pool, hosts, SRs, networks, and\n"
                    "VMs with metrics, guest metrics, 2 VBDs, 2 VDIs, 1 VIF each) for P pools,\n"
                    "then a _sync marker and a live heartbeat per pool. --rename K then renames\n"
                    "K VMs, --remove K tombstones K VMs (and their devices). --summary writes\n"
                    "the expected view as JSON: pools, counts by XO type, each VM's name and\n"
                    "power state.\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!o.bootstrap || o.pools < 1 || o.objects < 1) {
        fprintf(stderr, "xo-synth: --bootstrap is required; --pools and --objects >= 1\n");
        return 2;
    }
    rng_state = 0x9e3779b97f4a7c15ULL ^ o.seed;
    extra[1] = o.bootstrap;
    memset(&out, 0, sizeof(out));
    out.cap = 16384;
    out.buf = malloc(out.cap);
    xo_topics_init(&out.topics, o.prefix);
    if (xo_producer_new(NULL, extra, &out.p, errstr, sizeof(errstr)) != XO_OK ||
        xo_kafka_partition_count(xo_producer_handle(out.p), out.topics.objects, 10000,
                                 &out.parts_objects, errstr, sizeof(errstr)) != XO_OK ||
        xo_kafka_partition_count(xo_producer_handle(out.p), out.topics.agents, 10000,
                                 &out.parts_agents, errstr, sizeof(errstr)) != XO_OK) {
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
    {
        long per_pool = o.objects / o.pools;
        bool first_vm = true;
        for (int pi = 0; pi < o.pools; pi++) {
            char pool_uuid[37], pool_ref[48], snap[8192];
            char hosts[4][48], host_uuids[4][37], hm[4][48], sr_ref[48], sr_uuid[37], pbd[48],
                net[48], net_uuid[37];
            int nhosts = 2;
            long fixed, nvms;
            vm_t *vms;
            long before = out.sent;

            make_uuid(pool_uuid);
            make_ref(pool_ref);
            for (int h = 0; h < nhosts; h++) {
                make_ref(hosts[h]);
                make_uuid(host_uuids[h]);
                make_ref(hm[h]);
            }
            make_ref(sr_ref);
            make_uuid(sr_uuid);
            make_ref(pbd);
            make_ref(net);
            make_uuid(net_uuid);
            fixed = 1 + 2 * nhosts + 2 + 1;
            nvms = (per_pool - fixed) / 8;
            if (nvms < 1)
                nvms = 1;
            vms = calloc((size_t)nvms, sizeof(vm_t));
            snprintf(snap, sizeof(snap),
                     "{\"uuid\":\"%s\",\"name_label\":\"synthetic pool %d\",\"name_description\":"
                     "\"\",\"master\":\"%s\",\"default_SR\":\"%s\",\"suspend_image_SR\":\"%s\","
                     "\"crash_dump_SR\":\"%s\",\"other_config\":{},\"ha_enabled\":false,"
                     "\"ha_statefiles\":[],\"tags\":[],\"restrictions\":{\"restrict_zstd_export\":"
                     "\"false\"},\"cpu_info\":{\"cpu_count\":\"16\",\"socket_count\":\"2\"},"
                     "\"current_operations\":{}}",
                     pool_uuid, pi, hosts[0], sr_ref, sr_ref, sr_ref);
            send_rec(&out, pool_uuid, "pool", pool_ref, pool_uuid, snap);
            counts[0]++;
            for (int h = 0; h < nhosts; h++) {
                char hmu[37];
                make_uuid(hmu);
                snprintf(snap, sizeof(snap),
                         "{\"uuid\":\"%s\",\"memory_total\":\"68719476736\",\"memory_free\":"
                         "\"34359738368\",\"live\":true,\"last_updated\":\"20250101T00:00:00Z\","
                         "\"other_config\":{}}",
                         hmu);
                send_rec(&out, pool_uuid, "host_metrics", hm[h], hmu, snap);
                snprintf(snap, sizeof(snap),
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
                         host_uuids[h], pi, h, pi & 255, h, h, hm[h]);
                send_rec(&out, pool_uuid, "host", hosts[h], host_uuids[h], snap);
                counts[1]++;
            }
            {
                char pbd_uuid[37];
                make_uuid(pbd_uuid);
                snprintf(snap, sizeof(snap),
                         "{\"uuid\":\"%s\",\"host\":\"%s\",\"SR\":\"%s\",\"device_config\":{},"
                         "\"currently_attached\":true,\"other_config\":{}}",
                         pbd_uuid, hosts[0], sr_ref);
                send_rec(&out, pool_uuid, "pbd", pbd, pbd_uuid, snap);
            }
            snprintf(snap, sizeof(snap),
                     "{\"uuid\":\"%s\",\"name_label\":\"Local storage\",\"name_description\":\"\","
                     "\"type\":\"ext\",\"content_type\":\"user\",\"shared\":true,"
                     "\"physical_size\":\"1099511627776\",\"physical_utilisation\":\"1073741824\","
                     "\"virtual_allocation\":\"2147483648\",\"PBDs\":[\"%s\"],\"VDIs\":[],"
                     "\"other_config\":{},\"sm_config\":{},\"tags\":[],\"current_operations\":{}}",
                     sr_uuid, pbd);
            send_rec(&out, pool_uuid, "sr", sr_ref, sr_uuid, snap);
            counts[2]++;
            snprintf(snap, sizeof(snap),
                     "{\"uuid\":\"%s\",\"name_label\":\"Pool-wide network\",\"name_description\":"
                     "\"\",\"bridge\":\"xenbr0\",\"MTU\":\"1500\",\"other_config\":{},\"tags\":[],"
                     "\"PIFs\":[],\"VIFs\":[],\"current_operations\":{},\"default_locking_mode\":"
                     "\"unlocked\",\"purpose\":[]}",
                     net_uuid);
            send_rec(&out, pool_uuid, "network", net, net_uuid, snap);
            counts[7]++;
            for (long i = 0; i < nvms; i++) {
                vm_t *v = &vms[i];
                char mu[37], gu[37], u[37];
                make_ref(v->ref);
                make_uuid(v->uuid);
                make_ref(v->metrics);
                make_ref(v->gm);
                snprintf(v->name, sizeof(v->name), "vm-%d-%ld", pi, i);
                v->power = POWER[rnd() % 4];
                snprintf(v->host, sizeof(v->host), "%s",
                         strcmp(v->power, "Halted") ? hosts[i % nhosts] : "OpaqueRef:NULL");
                make_uuid(mu);
                snprintf(snap, sizeof(snap),
                         "{\"uuid\":\"%s\",\"memory_actual\":\"2147483648\",\"VCPUs_number\":\"2\","
                         "\"VCPUs_utilisation\":{},\"start_time\":\"20250101T00:00:00Z\","
                         "\"install_time\":\"20240101T00:00:00Z\",\"last_updated\":"
                         "\"20250101T00:00:00Z\",\"other_config\":{}}",
                         mu);
                send_rec(&out, pool_uuid, "vm_metrics", v->metrics, mu, snap);
                make_uuid(gu);
                snprintf(
                    snap, sizeof(snap),
                    "{\"uuid\":\"%s\",\"os_version\":{\"name\":\"Debian 12\"},"
                    "\"PV_drivers_version\":{\"major\":\"9\",\"minor\":\"3\",\"micro\":\"1\","
                    "\"build\":\"1\"},\"PV_drivers_up_to_date\":true,\"memory\":{},\"networks\":"
                    "{\"0/ip\":\"10.%ld.%ld.%ld\"},\"other\":{},\"live\":true}",
                    gu, (i >> 16) & 255, (i >> 8) & 255, i & 255);
                send_rec(&out, pool_uuid, "vm_guest_metrics", v->gm, gu, snap);
                for (int d = 0; d < 2; d++) {
                    make_ref(v->vbd[d]);
                    make_ref(v->vdi[d]);
                }
                make_ref(v->vif);
                snprintf(
                    snap, sizeof(snap),
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
                    v->uuid, v->name, v->power, v->host, v->metrics, v->gm, v->vbd[0], v->vbd[1],
                    v->vif);
                send_rec(&out, pool_uuid, "vm", v->ref, v->uuid, snap);
                counts[3]++;
                for (int d = 0; d < 2; d++) {
                    make_uuid(u);
                    snprintf(
                        snap, sizeof(snap),
                        "{\"uuid\":\"%s\",\"name_label\":\"%s-disk%d\",\"name_description\":"
                        "\"\",\"SR\":\"%s\",\"VBDs\":[\"%s\"],\"virtual_size\":"
                        "\"21474836480\",\"physical_utilisation\":\"4294967296\",\"type\":"
                        "\"user\",\"sharable\":false,\"read_only\":false,\"managed\":true,"
                        "\"missing\":false,\"is_a_snapshot\":false,\"snapshot_of\":"
                        "\"OpaqueRef:NULL\",\"snapshots\":[],\"sm_config\":{},\"other_config\":"
                        "{},\"tags\":[],\"current_operations\":{}}",
                        u, v->name, d, sr_ref, v->vbd[d]);
                    send_rec(&out, pool_uuid, "vdi", v->vdi[d], u, snap);
                    counts[5]++;
                    make_uuid(u);
                    snprintf(snap, sizeof(snap),
                             "{\"uuid\":\"%s\",\"VM\":\"%s\",\"VDI\":\"%s\",\"device\":\"xvd%c\","
                             "\"userdevice\":\"%d\",\"bootable\":%s,\"mode\":\"RW\",\"type\":"
                             "\"Disk\",\"currently_attached\":%s,\"empty\":false,"
                             "\"other_config\":{}}",
                             u, v->ref, v->vdi[d], 'a' + d, d, d == 0 ? "true" : "false",
                             strcmp(v->power, "Running") ? "false" : "true");
                    send_rec(&out, pool_uuid, "vbd", v->vbd[d], u, snap);
                    counts[4]++;
                }
                make_uuid(u);
                snprintf(snap, sizeof(snap),
                         "{\"uuid\":\"%s\",\"VM\":\"%s\",\"network\":\"%s\",\"device\":\"0\","
                         "\"MAC\":\"02:00:%02lx:%02lx:%02lx:00\",\"MTU\":\"1500\","
                         "\"currently_attached\":true,\"locking_mode\":\"network_default\","
                         "\"ipv4_allowed\":[],\"ipv6_allowed\":[],\"other_config\":{},"
                         "\"qos_algorithm_type\":\"\",\"qos_algorithm_params\":{}}",
                         u, v->ref, net, (i >> 16) & 255, (i >> 8) & 255, i & 255);
                send_rec(&out, pool_uuid, "vif", v->vif, u, snap);
                counts[6]++;
            }
            {
                size_t len;
                char key[128], *val = xo_sync_msg_encode(pool_uuid, "xo-synth", 1,
                                                         out.sent - before, xo_now_ms(), &len);
                snprintf(key, sizeof(key), "%s/_sync", pool_uuid);
                while (xo_producer_send(out.p, out.topics.objects,
                                        xo_pool_partition(pool_uuid, out.parts_objects), key,
                                        strlen(key), val, len, NULL, 0, errstr,
                                        sizeof(errstr)) == XO_ERR_LIMIT)
                    xo_producer_poll(out.p, 10);
                free(val);
            }
            /* renames and removals after the sync, as live changes */
            for (long i = 0; i < o.rename && i < nvms; i++) {
                vm_t *v = &vms[i];
                snprintf(v->name, sizeof(v->name), "renamed-%d-%ld", pi, i);
                snprintf(
                    snap, sizeof(snap),
                    "{\"uuid\":\"%s\",\"name_label\":\"%s\",\"name_description\":\"\","
                    "\"power_state\":\"%s\",\"is_a_template\":false,\"is_a_snapshot\":false,"
                    "\"is_control_domain\":false,\"resident_on\":\"%s\",\"memory_dynamic_max\":"
                    "\"2147483648\",\"VCPUs_max\":\"2\",\"VCPUs_at_startup\":\"2\","
                    "\"HVM_boot_policy\":\"BIOS order\",\"platform\":{},\"other_config\":{},"
                    "\"metrics\":\"%s\",\"guest_metrics\":\"%s\",\"VBDs\":[\"%s\",\"%s\"],"
                    "\"VIFs\":[\"%s\"],\"tags\":[]}",
                    v->uuid, v->name, v->power, v->host, v->metrics, v->gm, v->vbd[0], v->vbd[1],
                    v->vif);
                send_rec(&out, pool_uuid, "vm", v->ref, v->uuid, snap);
            }
            for (long i = 0; i < o.remove && i < nvms; i++) {
                vm_t *v = &vms[nvms - 1 - i];
                send_del(&out, pool_uuid, "vm", v->ref);
                send_del(&out, pool_uuid, "vm_metrics", v->metrics);
                send_del(&out, pool_uuid, "vm_guest_metrics", v->gm);
                send_del(&out, pool_uuid, "vif", v->vif);
                for (int d = 0; d < 2; d++) {
                    send_del(&out, pool_uuid, "vbd", v->vbd[d]);
                    send_del(&out, pool_uuid, "vdi", v->vdi[d]);
                }
                v->power = NULL; /* removed */
                counts[3]--;
                counts[4] -= 2;
                counts[5] -= 2;
                counts[6]--;
            }
            {
                xo_agent_msg_t hb = {"xo-synth", "synthetic", pool_uuid,   hosts[0],
                                     "live",     NULL,        xo_now_ms(), xo_now_ms(),
                                     1,          out.sent,    xo_now_ms(), out.sent,
                                     out.sent,   0,           0,           0,
                                     0};
                size_t len;
                char *val = xo_agent_msg_encode(&hb, &len);
                while (xo_producer_send(out.p, out.topics.agents,
                                        xo_pool_partition(pool_uuid, out.parts_agents), pool_uuid,
                                        strlen(pool_uuid), val, len, NULL, 0, errstr,
                                        sizeof(errstr)) == XO_ERR_LIMIT)
                    xo_producer_poll(out.p, 10);
                free(val);
            }
            if (sum) {
                for (long i = 0; i < nvms; i++) {
                    if (!vms[i].power)
                        continue;
                    fprintf(sum, "%s\"%s\":{\"name_label\":\"%s\",\"power_state\":\"%s\"}",
                            first_vm ? "" : ",", vms[i].uuid, vms[i].name, vms[i].power);
                    first_vm = false;
                }
            }
            printf("pool: %s\n", pool_uuid);
            fflush(stdout);
            free(vms);
        }
    }
    if (xo_producer_flush(out.p, 120000) != XO_OK) {
        fprintf(stderr, "xo-synth: flush timed out\n");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        xo_producer_stats_t st;
        xo_producer_stats(out.p, &st);
        printf("records: %ld\nseconds: %.3f\nrate: %.0f\nfailed: %llu\n", out.sent, secs,
               out.sent / (secs > 0 ? secs : 1), (unsigned long long)st.failed);
    }
    if (sum) {
        fprintf(sum,
                "},\"counts\":{\"pool\":%ld,\"host\":%ld,\"SR\":%ld,\"VM\":%ld,\"VBD\":%ld,"
                "\"VDI\":%ld,\"VIF\":%ld,\"network\":%ld,\"PBD\":%d}}\n",
                counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6],
                counts[7], o.pools);
        fclose(sum);
    }
    xo_producer_free(out.p, 10000);
    free(out.buf);
    return 0;
}
