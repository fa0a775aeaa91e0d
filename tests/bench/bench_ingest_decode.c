/*
 * bench_ingest_decode.c - the agent's ingest without Kafka: a recorded event.from answer
 * decoded and turned into xo.objects record bytes by the tree path (json-c trees, then
 * xo_object_msg_encode) and by the raw path the agent uses (snapshots written as JSON text
 * by the decoder, then xo_object_msg_write). It checks that both give the same bytes for
 * every record (both decoders fed the same chunks in lockstep) and times each path.
 * Must not: publish anything, or differ from the agent's own record fields.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_file.h"

#include "xo_envelope.h"
#include "xo_xmlrpc.h"

#define DEFAULT_CHUNK  16384 /* what curl hands the agent's body callback */
#define DEFAULT_ROUNDS 3

static const char *const events_path[] = {"Value", "events", NULL};

/* The tree path's records not yet compared with the raw path's (lockstep). */
typedef struct {
    xo_jtext_t *items;
    size_t n, cap, head;
} queue_t;

/* One way from the dump to record bytes: the tree or the raw path, over one parser. */
typedef struct {
    bool raw;
    xo_xmlrpc_parser_t parser;
    const char *name;
} way_t;

typedef struct {
    queue_t *q;     /* comparing: shared by both runs; NULL when timing */
    bool ahead;     /* comparing: this run queues its records, the other compares */
    xo_jtext_t rec; /* the raw path's reused record */
    size_t records, differ, first_differ;
} run_t;

static bool queue_push(queue_t *q, const char *s, size_t len)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 64;
        xo_jtext_t *items = realloc(q->items, cap * sizeof *items);
        if (!items)
            return false;
        memset(items + q->cap, 0, (cap - q->cap) * sizeof *items);
        q->items = items;
        q->cap = cap;
    }
    q->items[q->n].len = 0;
    return xo_jtext_add(&q->items[q->n++], s, len) == XO_OK;
}

/* The oldest record not yet compared, or NULL; valid until the next push. */
static const xo_jtext_t *queue_pop(queue_t *q)
{
    const xo_jtext_t *it = q->head < q->n ? &q->items[q->head++] : NULL;

    if (q->head == q->n)
        q->head = q->n = 0;
    return it;
}

/* CPU seconds of the process: steadier than wall time on a shared machine, and what
 * baseline_sax_ingest's cpu_s measures for the parser alone. */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The envelope fields the agent fills (fixed ts and gen: the bytes must compare). */
static xo_object_msg_t msg_of(json_object *ev, const char *uuid, json_object *snap)
{
    json_object *v;
    xo_object_msg_t m = {"pool-uuid", "?", "?", uuid, "?", 0, 1, 1700000000000, snap};

    if (json_object_object_get_ex(ev, "class", &v))
        m.cls = json_object_get_string(v);
    if (json_object_object_get_ex(ev, "ref", &v))
        m.ref = json_object_get_string(v);
    if (json_object_object_get_ex(ev, "operation", &v))
        m.op = json_object_get_string(v);
    if (json_object_object_get_ex(ev, "id", &v))
        m.event_id = json_object_get_int64(v);
    return m;
}

/* A record made by a run: queued by the run ahead, compared by the other. */
static xo_err_t record(run_t *r, const char *s, size_t len)
{
    const xo_jtext_t *want;

    r->records++;
    if (!r->q)
        return XO_OK;
    if (r->ahead)
        return queue_push(r->q, s, len) ? XO_OK : XO_ERR_NOMEM;
    want = queue_pop(r->q);
    if ((!want || want->len != len || memcmp(want->p, s, len) != 0) && !r->differ++)
        r->first_differ = r->records;
    return XO_OK;
}

static xo_err_t on_tree(json_object *ev, void *opaque)
{
    run_t *r = opaque;
    json_object *snap = NULL, *uuid = NULL;
    xo_object_msg_t m;
    xo_err_t err = XO_OK;
    char *s;
    size_t len = 0;

    if (json_object_object_get_ex(ev, "snapshot", &snap) &&
        json_object_is_type(snap, json_type_object)) {
        if (json_object_object_get_ex(snap, "uuid", &uuid) &&
            !json_object_is_type(uuid, json_type_string))
            uuid = NULL;
        m = msg_of(ev, uuid ? json_object_get_string(uuid) : NULL, snap);
        s = xo_object_msg_encode(&m, &len);
        err = s ? record(r, s, len) : XO_ERR_NOMEM;
        free(s);
    }
    json_object_put(ev);
    return err;
}

static xo_err_t on_raw(json_object *ev, const xo_xmlrpc_raw_t *raw, void *opaque)
{
    run_t *r = opaque;
    xo_object_msg_t m;
    xo_err_t err = XO_OK;

    if (raw) {
        m = msg_of(ev, raw->capture, NULL);
        err = xo_object_msg_write(&m, raw->json, raw->len, &r->rec);
        if (err == XO_OK)
            err = record(r, r->rec.p, r->rec.len);
    }
    json_object_put(ev);
    return err;
}

static xo_xmlrpc_decoder_t *new_decoder(const way_t *w, run_t *r)
{
    xo_xmlrpc_limits_t lim = {.max_total = XO_XMLRPC_UNLIMITED, .parser = w->parser};
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(&lim);

    if (dec && w->raw)
        xo_xmlrpc_decoder_set_stream_raw(dec, events_path, "snapshot", "uuid", on_raw, r);
    else if (dec)
        xo_xmlrpc_decoder_set_stream(dec, events_path, on_tree, r);
    return dec;
}

static int finish(xo_xmlrpc_decoder_t *dec, xo_err_t err, const char *what)
{
    json_object *out = NULL;
    char errstr[256] = "";

    if (err == XO_OK)
        err = xo_xmlrpc_decoder_finish(dec, &out, errstr, sizeof errstr);
    json_object_put(out);
    xo_xmlrpc_decoder_free(dec);
    if (err != XO_OK)
        fprintf(stderr, "error: %s path: %s (%s)\n", what, xo_strerror(err), errstr);
    return err == XO_OK ? 0 : 1;
}

/* One way over the whole dump; returns CPU seconds, or -1 on a decode error. */
static double time_way(const char *doc, size_t len, size_t chunk, const way_t *w)
{
    run_t r = {0};
    xo_xmlrpc_decoder_t *dec = new_decoder(w, &r);
    double t0 = cpu_s();
    xo_err_t err = dec ? XO_OK : XO_ERR_NOMEM;
    char errstr[256];

    for (size_t off = 0; off < len && err == XO_OK; off += chunk)
        err = xo_xmlrpc_decoder_feed(dec, doc + off, len - off < chunk ? len - off : chunk, errstr,
                                     sizeof errstr);
    if (finish(dec, err, w->name) != 0)
        return -1;
    xo_jtext_fini(&r.rec);
    return cpu_s() - t0;
}

/* Two ways fed the same chunks in turn; every record of b compared with a's. */
static int compare(const char *doc, size_t len, size_t chunk, const way_t *a, const way_t *b)
{
    queue_t q = {0};
    run_t ra = {.q = &q, .ahead = true}, rb = {.q = &q};
    xo_xmlrpc_decoder_t *da = new_decoder(a, &ra), *db = new_decoder(b, &rb);
    xo_err_t ea = da ? XO_OK : XO_ERR_NOMEM, eb = db ? XO_OK : XO_ERR_NOMEM;
    char errstr[256];
    int rc;

    /* a runs a chunk ahead: b finds its records queued */
    for (size_t off = 0; off < len && ea == XO_OK && eb == XO_OK; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        ea = xo_xmlrpc_decoder_feed(da, doc + off, n, errstr, sizeof errstr);
        if (ea == XO_OK)
            eb = xo_xmlrpc_decoder_feed(db, doc + off, n, errstr, sizeof errstr);
    }
    rc = finish(da, ea, a->name) | finish(db, eb, b->name);
    printf("compare %s / %s: records=%zu identical=%zu differing=%zu", a->name, b->name, ra.records,
           rb.records - rb.differ, rb.differ + (ra.records != rb.records));
    if (rb.differ)
        printf(" first_differing=%zu", rb.first_differ);
    printf("\n");
    for (size_t i = 0; i < q.cap; i++)
        xo_jtext_fini(&q.items[i]);
    free(q.items);
    xo_jtext_fini(&rb.rec);
    xo_jtext_fini(&ra.rec);
    return rc || rb.differ || ra.records != rb.records || q.n != 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f, const char *argv0)
{
    fprintf(
        f,
        "usage: %s DUMP.xml [--chunk BYTES (%d)] [--rounds N (%d)] [--parser fast|libxml2]\n"
        "       [--compare-only] [--compare-parsers]\n"
        "       [--time-only] [--raw-only]  (no comparison; the raw path alone, e.g. for perf)\n"
        "Decodes a recorded event.from answer into xo.objects records by the tree path\n"
        "and by the agent's raw path, checks every record's bytes are the same, and\n"
        "prints the median MB per CPU second of each path over N rounds (no Kafka).\n"
        "--parser picks the XML parser under both (default fast); --compare-parsers\n"
        "checks the raw path over libxml2 and the tree path over libxml2 against the raw\n"
        "path over the fast parser instead, record by record.\n",
        argv0, DEFAULT_CHUNK, DEFAULT_ROUNDS);
}

/* Record by record: tree against raw over one parser, or both parsers against each other. */
static int compare_all(const char *doc, size_t len, size_t chunk, xo_xmlrpc_parser_t parser,
                       bool parsers)
{
    way_t tree = {false, parser, "tree"}, raw = {true, parser, "raw"};
    way_t raw_lib = {true, XO_XMLRPC_PARSER_LIBXML2, "raw/libxml2"},
          tree_lib = {false, XO_XMLRPC_PARSER_LIBXML2, "tree/libxml2"},
          raw_fast = {true, XO_XMLRPC_PARSER_FAST, "raw/fast"};

    if (!parsers)
        return compare(doc, len, chunk, &tree, &raw);
    return compare(doc, len, chunk, &raw_lib, &raw_fast) |
           compare(doc, len, chunk, &tree_lib, &raw_fast);
}

int main(int argc, char **argv)
{
    size_t len = 0, chunk = DEFAULT_CHUNK;
    int rounds = DEFAULT_ROUNDS, rc;
    bool compare_only = false, raw_only = false, time_only = false, parsers = false;
    xo_xmlrpc_parser_t parser = XO_XMLRPC_PARSER_FAST;
    const char *path = NULL;
    double t[2][64], mb;
    char *doc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
            chunk = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--parser") == 0 && i + 1 < argc) {
            if (xo_xmlrpc_parser_from_name(argv[++i], &parser) != XO_OK) {
                fprintf(stderr, "error: --parser takes fast or libxml2\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--compare-only") == 0) {
            compare_only = true;
        } else if (strcmp(argv[i], "--compare-parsers") == 0) {
            compare_only = parsers = true;
        } else if (strcmp(argv[i], "--raw-only") == 0) {
            raw_only = true;
        } else if (strcmp(argv[i], "--time-only") == 0) {
            time_only = true;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            usage(stderr, argv[0]);
            return 2;
        }
    }
    if (!path || !chunk || rounds < 1 || rounds > 64) {
        usage(stderr, argv[0]);
        return 2;
    }
    doc = bench_read_file(path, &len);
    if (!doc) {
        fprintf(stderr, "error: cannot read %s\n", path);
        return 1;
    }
    rc = raw_only || time_only ? 0 : compare_all(doc, len, chunk, parser, parsers);
    mb = (double)len / (1 << 20);
    for (int i = 0; i < rounds && !rc && !compare_only; i++) {
        way_t tree = {false, parser, "tree"}, raw = {true, parser, "raw"};
        t[0][i] = raw_only ? 1 : time_way(doc, len, chunk, &tree);
        t[1][i] = time_way(doc, len, chunk, &raw);
        rc = t[0][i] < 0 || t[1][i] < 0;
    }
    if (!rc && !compare_only) {
        qsort(t[0], (size_t)rounds, sizeof(double), cmp_double);
        qsort(t[1], (size_t)rounds, sizeof(double), cmp_double);
        printf("tree_cpu_mb_s=%.1f raw_cpu_mb_s=%.1f ratio=%.2f rounds=%d bytes=%zu\n",
               mb / t[0][rounds / 2], mb / t[1][rounds / 2], t[0][rounds / 2] / t[1][rounds / 2],
               rounds, len);
    }
    free(doc);
    return rc;
}
