/*
 * latency_load_client.c - many signed-in WebSocket clients of xo-gateway in one small C
 * process, for bench_gateway_latency.py's large rows, so that the row measures the gateway
 * and not clients parsing JSON. A drop-in for latency_clients.mjs's raw clients:
 *
 *   latency_load_client URL TOKEN N
 *
 * Opens N connections to URL's /api/ (plain ws, loopback), signs each in with
 * session.signIn {token} as xo-lib does, and reads every message whole. It does not parse
 * them: in an `all` "enter" message it finds each "name_label":"lat:<send ns>:<seq>" by a
 * scan, and records latency = receive time (CLOCK_MONOTONIC, as the driver's send time) -
 * send time once per (client, seq), into a log histogram (2% buckets, as the node client).
 * Prints "ready <signed-in>" once every client is signed in; then reads the node client's
 * stdin commands: reset, report (one JSON line of the same shape), missing FILE, quit.
 * Not part of the product: a bench tool, free of the project's code.
 */
#include <libwebsockets.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HIST_BUCKETS 2000
#define HIST_BASE_MS 0.01

typedef struct {
    struct lws *wsi;
    char *msg; /* the message being received */
    size_t len, cap;
    uint8_t *seen; /* bit per seq: labels this client already counted */
    size_t seen_bytes;
    bool signed_in, closed, sent_signin;
} client_t;

static struct {
    pthread_mutex_t mu; /* the counters below: the service thread and the stdin thread */
    client_t *clients;
    int n, signed_in, failed;
    int64_t since_ns;
    uint64_t notifications, items, bytes, closed, corrupt, samples;
    double max_ms;
    double hist[HIST_BUCKETS];
    char corrupt_sample[128];
    char signin[512];
    atomic_bool quit;
    const char *token;
    struct lws_context *ctx;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void note_corrupt(const char *why)
{
    G.corrupt++;
    if (!G.corrupt_sample[0])
        snprintf(G.corrupt_sample, sizeof(G.corrupt_sample), "%s", why);
}

/* Set the bit of @p seq; false when it was already set (or out of memory). */
static bool mark_seen(client_t *c, uint64_t seq)
{
    size_t byte = seq / 8;

    if (byte >= c->seen_bytes) {
        size_t n = byte * 2 + 1024;
        uint8_t *s = realloc(c->seen, n);
        if (!s)
            return false;
        memset(s + c->seen_bytes, 0, n - c->seen_bytes);
        c->seen = s;
        c->seen_bytes = n;
    }
    if (c->seen[byte] & (1u << (seq % 8)))
        return false;
    c->seen[byte] |= (uint8_t)(1u << (seq % 8));
    return true;
}

static void record(double ms)
{
    int k = ms <= HIST_BASE_MS ? 0 : (int)ceil(log(ms / HIST_BASE_MS) / log(1.02));
    G.hist[k < HIST_BUCKETS ? k : HIST_BUCKETS - 1]++;
    G.samples++;
    if (ms > G.max_ms)
        G.max_ms = ms;
}

/* Every "name_label":"lat:<ns>:<seq>" of an enter message (mutex held). */
static void scan_labels(client_t *c, const char *m, size_t len, int64_t now)
{
    static const char KEY[] = "\"name_label\":\"lat:";
    const char *p = m, *end = m + len;

    while ((p = memmem(p, (size_t)(end - p), KEY, sizeof(KEY) - 1))) {
        char *q;
        long long sent;
        unsigned long long seq;
        p += sizeof(KEY) - 1;
        G.items++;
        sent = strtoll(p, &q, 10);
        if (q >= end || *q != ':') {
            note_corrupt("a lat: label without its ':'");
            continue;
        }
        seq = strtoull(q + 1, &q, 10);
        if (q >= end || *q != '"') {
            note_corrupt("a lat: label without its seq");
            continue;
        }
        if (sent < G.since_ns || !mark_seen(c, seq))
            continue;
        record((double)(now - sent) / 1e6);
    }
}

/* One whole message from the gateway. */
static void on_message(client_t *c, const char *m, size_t len)
{
    int64_t now = now_ns();

    pthread_mutex_lock(&G.mu);
    G.bytes += len;
    if (len < 2 || m[0] != '{' || m[len - 1] != '}') {
        note_corrupt("a message that is not a JSON object");
    } else if (!c->signed_in) {
        if (memmem(m, len, "\"result\"", 8)) {
            c->signed_in = true;
            G.signed_in++;
        } else {
            G.failed++;
            snprintf(G.signin, sizeof(G.signin), "%.*s", (int)(len < 300 ? len : 300), m);
        }
    } else if (len > 64 && memmem(m, 64, "\"method\":\"all\"", 14)) {
        G.notifications++;
        if (memmem(m, len < 120 ? len : 120, "\"type\":\"enter\"", 14))
            scan_labels(c, m, len, now);
    }
    pthread_mutex_unlock(&G.mu);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    client_t *c = user;
    static const char FMT[] = "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{"
                              "\"token\":\"%s\"},\"id\":1}";

    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!c->sent_signin) {
            unsigned char buf[LWS_PRE + 1024];
            int n = snprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE, FMT, G.token);
            c->sent_signin = true;
            if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT) < n)
                return -1;
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c->len + len > c->cap) {
            size_t cap = (c->len + len) * 2;
            char *m = realloc(c->msg, cap);
            if (!m)
                return -1;
            c->msg = m;
            c->cap = cap;
        }
        memcpy(c->msg + c->len, in, len);
        c->len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            on_message(c, c->msg, c->len);
            c->len = 0;
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
        pthread_mutex_lock(&G.mu);
        if (!c->closed) {
            c->closed = true;
            if (c->signed_in)
                G.closed++;
            else
                G.failed++;
            if (!c->signed_in && reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
                snprintf(G.signin, sizeof(G.signin), "connection error: %s",
                         in ? (const char *)in : "?");
        }
        pthread_mutex_unlock(&G.mu);
        break;
    default:
        break;
    }
    return 0;
}

static double hist_pct(double p)
{
    double acc = 0, want = p * (double)G.samples;

    if (!G.samples)
        return NAN;
    for (int k = 0; k < HIST_BUCKETS; k++) {
        acc += G.hist[k];
        if (acc > want)
            return HIST_BASE_MS * exp(k * log(1.02));
    }
    return G.max_ms;
}

static void print_num(const char *name, double v, const char *sep)
{
    if (isnan(v))
        printf("\"%s\":null%s", name, sep);
    else
        printf("\"%s\":%.3f%s", name, v, sep);
}

static void report(void)
{
    pthread_mutex_lock(&G.mu);
    printf("{\"clients\":%d,\"closed\":%llu,\"corrupt\":%llu,\"corrupt_sample\":", G.signed_in,
           (unsigned long long)G.closed, (unsigned long long)G.corrupt);
    if (G.corrupt_sample[0])
        printf("\"%s\",", G.corrupt_sample); /* fixed texts of this file: nothing to escape */
    else
        printf("null,");
    printf("\"notifications\":%llu,\"items\":%llu,\"bytes\":%llu,",
           (unsigned long long)G.notifications, (unsigned long long)G.items,
           (unsigned long long)G.bytes);
    printf("\"xolib\":{\"clients\":0,\"samples\":0,\"seqs\":0,\"p50\":null,\"p99\":null,"
           "\"max\":null},");
    printf("\"raw\":{\"clients\":%d,\"samples\":%llu,", G.signed_in, (unsigned long long)G.samples);
    print_num("p50", hist_pct(0.5), ",");
    print_num("p99", hist_pct(0.99), ",");
    print_num("max", G.samples ? G.max_ms : NAN, "}}\n");
    pthread_mutex_unlock(&G.mu);
    fflush(stdout);
}

/* FILE: {"<object id>": <seq>, ...}; prints how many (client, seq) pairs were not seen. */
static void missing(const char *file)
{
    FILE *f = fopen(file, "r");
    unsigned long long miss = 0;
    int ch;

    if (!f) {
        printf("{\"missing\":{\"xolib\":0,\"raw\":-1}}\n");
        fflush(stdout);
        return;
    }
    pthread_mutex_lock(&G.mu);
    while ((ch = fgetc(f)) != EOF) {
        unsigned long long seq;
        if (ch != ':' || fscanf(f, " %llu", &seq) != 1)
            continue;
        for (int i = 0; i < G.n; i++) {
            const client_t *c = &G.clients[i];
            if (c->closed || seq / 8 >= c->seen_bytes || !(c->seen[seq / 8] & (1u << (seq % 8))))
                miss++;
        }
    }
    pthread_mutex_unlock(&G.mu);
    fclose(f);
    printf("{\"missing\":{\"xolib\":0,\"raw\":%llu}}\n", miss);
    fflush(stdout);
}

static void *stdin_run(void *arg)
{
    char line[4096];

    (void)arg;
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strcmp(line, "reset")) {
            pthread_mutex_lock(&G.mu);
            G.since_ns = now_ns();
            G.notifications = G.items = G.bytes = G.closed = G.corrupt = G.samples = 0;
            G.max_ms = 0;
            G.corrupt_sample[0] = '\0';
            memset(G.hist, 0, sizeof(G.hist));
            pthread_mutex_unlock(&G.mu);
            printf("reset\n");
            fflush(stdout);
        } else if (!strcmp(line, "report")) {
            report();
        } else if (!strncmp(line, "missing ", 8)) {
            missing(line + 8);
        } else if (!strcmp(line, "quit")) {
            break;
        }
    }
    atomic_store(&G.quit, true);
    return NULL;
}

#define TICK_US (50 * LWS_US_PER_MS)
static lws_sorted_usec_list_t tick;

/* A timer every 50 ms, so that lws_service() returns even when no byte comes. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(G.ctx, 0, sul, on_tick, TICK_US);
}

/* Serve until @p count clients signed in or failed, or the deadline passed. */
static bool wait_signed_in(struct lws_context *ctx, int count, int64_t deadline)
{
    bool done = false;

    while (!done && now_ns() < deadline) {
        lws_service(ctx, 0);
        pthread_mutex_lock(&G.mu);
        done = G.signed_in + G.failed >= count;
        pthread_mutex_unlock(&G.mu);
    }
    return done;
}

static const struct lws_protocols PROTOCOLS[] = {
    {"load", callback, sizeof(client_t), 1 << 16, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* URL: http://HOST:PORT[/base] -> host, port and the path <base>/api/ (as xo-lib). */
static bool parse_url(const char *url, char *host, size_t host_size, int *port, char *path,
                      size_t path_size)
{
    const char *p = strstr(url, "://"), *slash, *colon;
    size_t base_len;

    p = p ? p + 3 : url;
    slash = strchr(p, '/');
    colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
    if (!colon || (size_t)(colon - p) >= host_size)
        return false;
    snprintf(host, host_size, "%.*s", (int)(colon - p), p);
    *port = atoi(colon + 1);
    base_len = slash ? strlen(slash) : 0;
    while (base_len > 0 && slash[base_len - 1] == '/')
        base_len--;
    snprintf(path, path_size, "%.*s/api/", (int)base_len, slash ? slash : "");
    return *port > 0;
}

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;
    char host[256], path[512];
    int port, n, rc = 1;
    pthread_t in_thread;
    int64_t deadline;
    bool ready = false;

    if (argc != 4 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: latency_load_client URL TOKEN N  (see the head of its source)\n");
        return argc == 2 ? 0 : 2;
    }
    n = atoi(argv[3]);
    G.token = argv[2];
    if (n <= 0 || strlen(G.token) > 512 || strpbrk(G.token, "\"\\") ||
        !parse_url(argv[1], host, sizeof(host), &port, path, sizeof(path))) {
        fprintf(stderr, "latency_load_client: bad URL, token or count\n");
        return 2;
    }
    lws_set_log_level(LLL_ERR, NULL);
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    info.fd_limit_per_thread = (unsigned)n + 64;
    ctx = lws_create_context(&info);
    G.clients = calloc((size_t)n, sizeof(client_t));
    if (!ctx || !G.clients) {
        fprintf(stderr, "latency_load_client: cannot create the context\n");
        return 1;
    }
    G.n = n;
    G.ctx = ctx;
    G.since_ns = now_ns();
    lws_sul_schedule(ctx, 0, &tick, on_tick, TICK_US);
    deadline = now_ns() + (int64_t)(120 + n / 10) * 1000000000;
    for (int i = 0; i < n; i++) {
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof(ci));
        ci.context = ctx;
        ci.address = host;
        ci.port = port;
        ci.path = path;
        ci.host = host;
        ci.origin = host;
        ci.protocol = NULL;
        ci.local_protocol_name = "load";
        ci.userdata = &G.clients[i];
        ci.pwsi = &G.clients[i].wsi;
        if (!lws_client_connect_via_info(&ci)) {
            G.failed++;
            G.clients[i].closed = true;
        }
        if (i % 50 == 49 || i == n - 1) /* 50 at a time, as the node client opens them */
            ready = wait_signed_in(ctx, i + 1, deadline);
    }
    if (G.failed || !ready) {
        fprintf(stderr, "latency_load_client: %d of %d clients signed in (%s)\n", G.signed_in, n,
                G.signin[0] ? G.signin : "timed out");
        goto done;
    }
    printf("ready %d\n", G.signed_in);
    fflush(stdout);
    if (pthread_create(&in_thread, NULL, stdin_run, NULL) != 0)
        goto done;
    while (!atomic_load(&G.quit))
        lws_service(ctx, 100);
    pthread_join(in_thread, NULL);
    rc = 0;
done:
    lws_context_destroy(ctx);
    for (int i = 0; i < n; i++) {
        free(G.clients[i].msg);
        free(G.clients[i].seen);
    }
    free(G.clients);
    return rc;
}
