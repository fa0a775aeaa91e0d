/*
 * bench_view_shape.c - cold load of the gateway's view (gateway/view) on one big pool:
 * H hosts, N VMs resident on them (each host's resident_VMs lists its VMs), each VM with
 * its VM_metrics and VM_guest_metrics. The records are applied in a shuffled order (as
 * a consumer reading many key-hashed partitions sees them), settled every --batch
 * records as the consumer does, then the pool's _sync. No broker: only the view's own
 * algorithms are measured, so that a cost growing faster than the object count shows.
 *
 * Prints per VM count: seconds to load, remaps, microseconds per record and the ratio of
 * that per-record cost to the smallest count's (the baseline measured in the same run:
 * a linear load stays near 1x). Default (short): 2,000 and 10,000 VMs; --full: 10,000,
 * 25,000 and 50,000 VMs, the median of --repeat 3.
 */
#include <getopt.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "view/view.h"

#define POOL        "0b7e2c44-5c8e-4a33-9f0e-1b2c3d4e5f60"
#define MAX_SIZES   8
#define RECORD_SIZE 4096

typedef struct {
    long sizes[MAX_SIZES];
    int nsizes, hosts, repeat, batch;
    bool on_arrival; /* map each record on arrival (the view's default), not at the settle */
} opts_t;

typedef struct {
    char cls[24];
    char ref[48];
    char *snap; /* the record's JSON */
} rec_t;

typedef struct {
    double seconds;
    uint64_t remaps;
    size_t records, pending;
} result_t;

static unsigned long long rng = 88172645463325252ULL;

static unsigned long long rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fputs("Usage: bench_view_shape [--vms N[,N...]] [--hosts H] [--batch B] [--repeat R]\n"
          "                        [--on-arrival] [--full]\n"
          "Cold load of the gateway view on one pool of H hosts (3) and N VMs (2000,10000),\n"
          "records shuffled, settled every B records (5000, as the consumer), new objects\n"
          "mapped at the settle as the consumer has the view do (--on-arrival: each record\n"
          "mapped as it is applied). --full: N = 10000,25000,50000 and R = 3 (the median).\n",
          stdout);
}

static int parse_sizes(const char *s, opts_t *o)
{
    char *end;
    o->nsizes = 0;
    while (*s && o->nsizes < MAX_SIZES) {
        long n = strtol(s, &end, 10);
        if (end == s || n < 1 || (*end && *end != ','))
            return -1;
        o->sizes[o->nsizes++] = n;
        s = *end ? end + 1 : end;
    }
    return o->nsizes ? 0 : -1;
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"vms", 1, NULL, 'n'},        {"hosts", 1, NULL, 'H'},
                                       {"batch", 1, NULL, 'b'},      {"repeat", 1, NULL, 'r'},
                                       {"full", 0, NULL, 'f'},       {"help", 0, NULL, 'h'},
                                       {"on-arrival", 0, NULL, 'a'}, {NULL, 0, NULL, 0}};
    int opt;

    *o = (opts_t){.sizes = {2000, 10000}, .nsizes = 2, .hosts = 3, .repeat = 1, .batch = 5000};
    while ((opt = getopt_long(argc, argv, "n:H:b:r:fha", lo, NULL)) != -1) {
        switch (opt) {
        case 'a':
            o->on_arrival = true;
            break;
        case 'n':
            if (parse_sizes(optarg, o) < 0)
                return -1;
            break;
        case 'H':
            o->hosts = atoi(optarg);
            break;
        case 'b':
            o->batch = atoi(optarg);
            break;
        case 'r':
            o->repeat = atoi(optarg);
            break;
        case 'f':
            *o = (opts_t){.sizes = {10000, 25000, 50000},
                          .nsizes = 3,
                          .hosts = 3,
                          .repeat = 3,
                          .batch = 5000,
                          .on_arrival = o->on_arrival};
            break;
        case 'h':
            usage();
            exit(0);
        default:
            return -1;
        }
    }
    return (o->hosts < 1 || o->repeat < 1 || o->batch < 1) ? -1 : 0;
}

static void make_ref(const char *kind, long i, char out[48])
{
    snprintf(out, 48, "OpaqueRef:%s-%08ld", kind, i);
}

static void make_uuid(const char *kind, long i, char out[40])
{
    unsigned tag = (unsigned)kind[0] << 8 | (unsigned)kind[1];
    snprintf(out, 40, "%08lx-%04x-4000-a000-000000000000", (unsigned long)i & 0xffffffffUL,
             tag & 0xffff);
}

static char *host_record(const opts_t *o, int h, long vms)
{
    size_t cap = 512 + (size_t)(vms / o->hosts + 1) * 40;
    char *s = malloc(cap), uuid[40], ref[48];
    size_t n;

    if (!s)
        return NULL;
    make_uuid("host", h, uuid);
    make_ref("host_metrics", h, ref);
    n = (size_t)snprintf(s, cap,
                         "{\"uuid\":\"%s\",\"name_label\":\"host-%d\",\"enabled\":true,"
                         "\"address\":\"10.0.0.%d\",\"metrics\":\"%s\",\"software_version\":{},"
                         "\"other_config\":{},\"PIFs\":[],\"PBDs\":[],\"patches\":[],"
                         "\"resident_VMs\":[",
                         uuid, h, h + 1, ref);
    for (long i = h; i < vms; i += o->hosts) {
        make_ref("vm", i, ref);
        n += (size_t)snprintf(s + n, cap - n, "%s\"%s\"", i == h ? "" : ",", ref);
    }
    snprintf(s + n, cap - n, "]}");
    return s;
}

static char *vm_record(const opts_t *o, long i)
{
    char *s = malloc(RECORD_SIZE), uuid[40], host[48], metrics[48], gm[48];

    if (!s)
        return NULL;
    make_uuid("vm", i, uuid);
    make_ref("host", i % o->hosts, host);
    make_ref("vm_metrics", i, metrics);
    make_ref("vm_guest_metrics", i, gm);
    snprintf(s, RECORD_SIZE,
             "{\"uuid\":\"%s\",\"name_label\":\"vm-%ld\",\"power_state\":\"Running\","
             "\"is_a_template\":false,\"is_a_snapshot\":false,\"is_control_domain\":false,"
             "\"resident_on\":\"%s\",\"affinity\":\"OpaqueRef:NULL\",\"memory_static_max\":"
             "\"2147483648\",\"memory_dynamic_max\":\"2147483648\",\"VCPUs_max\":\"2\","
             "\"VCPUs_at_startup\":\"2\",\"metrics\":\"%s\",\"guest_metrics\":\"%s\","
             "\"VBDs\":[],\"VIFs\":[],\"snapshots\":[],\"parent\":\"OpaqueRef:NULL\","
             "\"other_config\":{},\"tags\":[],\"domain_type\":\"hvm\"}",
             uuid, i, host, metrics, gm);
    return s;
}

static char *metrics_record(const char *kind, long i)
{
    char *s = malloc(256), uuid[40];
    if (!s)
        return NULL;
    make_uuid(kind, i, uuid);
    snprintf(s, 256, "{\"uuid\":\"%s\",\"memory_actual\":\"2147483648\",\"live\":true}", uuid);
    return s;
}

static void rec_set(rec_t *r, const char *cls, const char *kind, long i, char *snap)
{
    snprintf(r->cls, sizeof(r->cls), "%s", cls);
    make_ref(kind, i, r->ref);
    r->snap = snap;
}

/* Pool, hosts and their metrics, then 3 records per VM, shuffled; NULL on no memory. */
static rec_t *make_records(const opts_t *o, long vms, size_t *count)
{
    size_t n = 1 + 2 * (size_t)o->hosts + 3 * (size_t)vms, k = 0;
    rec_t *r = calloc(n, sizeof(*r));
    char poolrec[256];

    if (!r)
        return NULL;
    snprintf(poolrec, sizeof(poolrec),
             "{\"uuid\":\"%s\",\"name_label\":\"big\",\"master\":"
             "\"OpaqueRef:host-00000000\"}",
             POOL);
    rec_set(&r[k++], "pool", "pool", 0, strdup(poolrec));
    for (int h = 0; h < o->hosts; h++) {
        rec_set(&r[k++], "host", "host", h, host_record(o, h, vms));
        rec_set(&r[k++], "host_metrics", "host_metrics", h, metrics_record("hm", h));
    }
    for (long i = 0; i < vms; i++) {
        rec_set(&r[k++], "vm", "vm", i, vm_record(o, i));
        rec_set(&r[k++], "vm_metrics", "vm_metrics", i, metrics_record("vmm", i));
        rec_set(&r[k++], "vm_guest_metrics", "vm_guest_metrics", i, metrics_record("gm", i));
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rnd() % (i + 1));
        rec_t t = r[i];
        r[i] = r[j];
        r[j] = t;
    }
    *count = n;
    return r;
}

static void free_records(rec_t *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        free(r[i].snap);
    free(r);
}

/* The record's message value as the agent publishes it (malloc'd), or NULL. */
static char *message_of(const rec_t *r, int *len)
{
    size_t cap = strlen(r->snap) + 256;
    char *msg = malloc(cap);
    if (msg)
        *len = snprintf(msg, cap,
                        "{\"v\":1,\"pool\":\"%s\",\"class\":\"%s\",\"ref\":\"%s\",\"op\":"
                        "\"add\",\"snapshot\":%s}",
                        POOL, r->cls, r->ref, r->snap);
    return msg;
}

/* One cold load of the records into a new view; -1 when a record is refused. */
static int load(const opts_t *o, const rec_t *r, size_t n, result_t *res)
{
    gw_view_t *v = gw_view_new();
    gw_view_stats_t st;
    char errstr[128];
    double t0 = now_s();
    int rc = v ? 0 : -1;

    if (v)
        gw_view_set_defer_new(v, !o->on_arrival);
    for (size_t i = 0; v && i < n && rc == 0; i++) {
        json_object *snap = json_tokener_parse(r[i].snap);
        int len = 0;
        char *msg = message_of(&r[i], &len);
        if (!msg || gw_view_apply_object(v, POOL, r[i].cls, r[i].ref, snap, msg, (size_t)len,
                                         errstr, sizeof(errstr)) != XO_OK) {
            fprintf(stderr, "bench_view_shape: %s %s refused\n", r[i].cls, r[i].ref);
            rc = -1;
        }
        free(msg);
        json_object_put(snap);
        if ((i + 1) % (size_t)o->batch == 0)
            gw_view_settle(v);
    }
    if (rc < 0) {
        gw_view_free(v);
        return -1;
    }
    gw_view_apply_sync(v, POOL, 1, (int64_t)n, 1);
    gw_view_settle(v);
    res->seconds = now_s() - t0;
    gw_view_stats(v, &st);
    res->remaps = st.remaps;
    res->pending = st.pending;
    res->records = n;
    gw_view_free(v);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of o->repeat loads of @p vms VMs into @p out. */
static int measure(const opts_t *o, long vms, result_t *out)
{
    size_t n = 0;
    rec_t *r = make_records(o, vms, &n);
    double secs[16];
    int rc = r ? 0 : -1, runs = o->repeat < 16 ? o->repeat : 16;

    for (int i = 0; i < runs && rc == 0; i++) {
        rc = load(o, r, n, out);
        secs[i] = out->seconds;
    }
    free_records(r, n);
    if (rc == 0) {
        qsort(secs, (size_t)runs, sizeof(double), cmp_double);
        out->seconds = secs[runs / 2];
    }
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o;
    double base_us = 0;

    if (parse_opts(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    printf("bench_view_shape: one pool, %d hosts, shuffled records, settle every %d, new "
           "objects mapped %s, median of %d\n",
           o.hosts, o.batch, o.on_arrival ? "on arrival" : "at the settle", o.repeat);
    printf("%10s %10s %10s %12s %12s %9s %8s\n", "VMs", "records", "seconds", "remaps", "us/record",
           "vs first", "pending");
    for (int i = 0; i < o.nsizes; i++) {
        result_t res = {0};
        double us;
        if (measure(&o, o.sizes[i], &res) < 0) {
            fprintf(stderr, "bench_view_shape: load of %ld VMs failed\n", o.sizes[i]);
            return 1;
        }
        us = res.seconds * 1e6 / (double)res.records;
        if (i == 0)
            base_us = us;
        printf("%10ld %10zu %10.2f %12llu %12.2f %8.2fx %8zu\n", o.sizes[i], res.records,
               res.seconds, (unsigned long long)res.remaps, us, us / base_us, res.pending);
        fflush(stdout);
    }
    return 0;
}
