/*
 * latency_load_client.c - many signed-in WebSocket clients of xo-gateway in one small C
 * process, for bench_gateway_latency.py's large rows, so that the row measures the gateway
 * and not clients parsing JSON. A drop-in for latency_clients.mjs's raw clients:
 *
 *   latency_load_client URL TOKEN N
 *
 * Opens N connections to URL's /api/ (plain ws, loopback), signs each in with
 * session.signIn {token} as xo-lib does, and reads every message whole over its own
 * WebSocket framing on plain sockets and epoll (libwebsockets 4.1 parses client frames a
 * byte at a time: 80% of this client's time at 100 clients, behind by tens of seconds;
 * docs/benchmarks.md). It does not parse the messages' JSON: in an `all` "enter" message it finds
 * each "name_label":"lat:<send ns>:<seq>" by a scan, and records latency = receive time
 * (CLOCK_MONOTONIC, as the driver's send time) - send time once per (client, seq), into a log
 * histogram (2% buckets, as the node client). Prints "ready <signed-in>" once every client is
 * signed in; then reads the node client's stdin commands: reset, report (one JSON line of the same
 * shape), missing FILE, quit. Not part of the product: a bench tool, free of the project's code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_buf.h"

#define HIST_BUCKETS 2000
#define HIST_BASE_MS 0.01

#define READ_BYTES (256 * 1024)

typedef struct {
    int fd;
    char *in; /* bytes read, not yet parsed into frames */
    size_t in_len, in_cap;
    char *msg; /* the message being received (its frames' payloads) */
    size_t len, cap;
    uint8_t *seen; /* bit per seq: labels this client already counted */
    size_t seen_bytes;
    bool signed_in, closed;
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

    size_t end = len;

    while (end > 0 && (m[end - 1] == '\n' || m[end - 1] == ' ' || m[end - 1] == '\r'))
        end--;
    pthread_mutex_lock(&G.mu);
    G.bytes += len;
    if (end < 2 || m[0] != '{' || m[end - 1] != '}') {
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

/* Send one client frame in one write (masked, as RFC 6455 requires, with the all-zero key). */
static bool send_frame(int fd, int opcode, const char *payload, size_t len)
{
    unsigned char f[8 + 1024];
    size_t hl = 2;

    if (len > sizeof(f) - 8)
        return false;
    f[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        f[1] = (unsigned char)(0x80 | len);
    } else {
        f[1] = 0x80 | 126;
        f[2] = (unsigned char)(len >> 8);
        f[3] = (unsigned char)len;
        hl = 4;
    }
    memset(f + hl, 0, 4);
    memcpy(f + hl + 4, payload, len);
    return send(fd, f, hl + 4 + len, MSG_NOSIGNAL) == (ssize_t)(hl + 4 + len);
}

/* Parse the whole frames read so far; false when the connection must close. */
static bool parse_frames(client_t *c)
{
    size_t off = 0;

    while (c->in_len - off >= 2) {
        const unsigned char *f = (const unsigned char *)c->in + off;
        uint64_t len = f[1] & 0x7f;
        size_t hl = 2;
        int opcode = f[0] & 0x0f;
        if (len == 126) {
            if (c->in_len - off < 4)
                break;
            len = ((uint64_t)f[2] << 8) | f[3];
            hl = 4;
        } else if (len == 127) {
            if (c->in_len - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | f[2 + i];
            hl = 10;
        }
        if (f[1] & 0x80 || len > (1u << 30))
            return false; /* a server never masks; nor sends a GiB */
        if (c->in_len - off < hl + len)
            break;
        if (opcode == 0 || opcode == 1) {
            if (!bench_buf_reserve(&c->msg, &c->cap, c->len + len))
                return false;
            memcpy(c->msg + c->len, f + hl, len);
            c->len += len;
            if (f[0] & 0x80) {
                on_message(c, c->msg, c->len);
                c->len = 0;
            }
        } else if (opcode == 8) {
            return false;
        } else if (opcode == 9 && !send_frame(c->fd, 10, (const char *)f + hl, len)) {
            return false;
        }
        off += hl + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return true;
}

/* Read what the socket has; false when the connection ended. */
static bool read_some(client_t *c)
{
    for (;;) {
        ssize_t n;
        if (!bench_buf_reserve(&c->in, &c->in_cap, c->in_len + READ_BYTES))
            return false;
        n = recv(c->fd, c->in + c->in_len, READ_BYTES, 0);
        if (n == 0)
            return false;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->in_len += (size_t)n;
        if (!parse_frames(c))
            return false;
    }
}

static void close_client(client_t *c)
{
    pthread_mutex_lock(&G.mu);
    if (!c->closed) {
        c->closed = true;
        if (c->signed_in)
            G.closed++;
        else
            G.failed++;
    }
    pthread_mutex_unlock(&G.mu);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Connect, upgrade to WebSocket and send session.signIn (blocking: loopback). */
static bool open_client(client_t *c, const struct sockaddr_in *sa, const char *host, int port,
                        const char *path)
{
    static const char FMT[] = "{\"jsonrpc\":\"2.0\",\"method\":\"session.signIn\",\"params\":{"
                              "\"token\":\"%s\"},\"id\":1}";
    char req[1024], signin[1024], *end;
    int one = 1, n;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0)
        return false;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: xoLoadClient%010d==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 path, host, port, (int)(c - G.clients));
    if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return false;
    while (!(c->in_len >= 4 && (end = memmem(c->in, c->in_len, "\r\n\r\n", 4)))) {
        ssize_t r;
        if (!bench_buf_reserve(&c->in, &c->in_cap, c->in_len + 4096))
            return false;
        r = recv(c->fd, c->in + c->in_len, 4096, 0);
        if (r <= 0)
            return false;
        c->in_len += (size_t)r;
    }
    if (c->in_len < 12 || memcmp(c->in + 9, "101", 3) != 0) {
        snprintf(G.signin, sizeof(G.signin), "upgrade refused: %.*s", 60, c->in);
        return false;
    }
    end += 4; /* frames may follow the answer's head */
    c->in_len -= (size_t)(end - c->in);
    memmove(c->in, end, c->in_len);
    n = snprintf(signin, sizeof(signin), FMT, G.token);
    return send_frame(c->fd, 1, signin, (size_t)n) &&
           fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) == 0; /* then epoll */
}

/* Serve the sockets until @p until (monotonic ns), or until @p count clients signed in or
 * failed (count > 0), or quit. */
static bool serve(int ep, int64_t until, int count)
{
    struct epoll_event ev[256];

    while (!atomic_load(&G.quit) && now_ns() < until) {
        int n = epoll_wait(ep, ev, 256, 50);
        for (int i = 0; i < n; i++) {
            client_t *c = ev[i].data.ptr;
            if (!read_some(c))
                close_client(c);
        }
        if (count > 0) {
            bool done;
            pthread_mutex_lock(&G.mu);
            done = G.signed_in + G.failed >= count;
            pthread_mutex_unlock(&G.mu);
            if (done)
                return true;
        }
    }
    return count <= 0;
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
    char host[256], path[512];
    int port, n, rc = 1, ep;
    pthread_t in_thread;
    int64_t deadline;
    bool ready = true;
    struct sockaddr_in sa = {.sin_family = AF_INET};

    if (argc != 4 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: latency_load_client URL TOKEN N  (see the head of its source)\n");
        return argc == 2 ? 0 : 2;
    }
    n = atoi(argv[3]);
    G.token = argv[2];
    if (n <= 0 || strlen(G.token) > 512 || strpbrk(G.token, "\"\\") ||
        !parse_url(argv[1], host, sizeof(host), &port, path, sizeof(path)) ||
        inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "latency_load_client: bad URL (http://<IPv4>:<port>), token or count\n");
        return 2;
    }
    sa.sin_port = htons((uint16_t)port);
    ep = epoll_create1(EPOLL_CLOEXEC);
    G.clients = calloc((size_t)n, sizeof(client_t));
    if (ep < 0 || !G.clients) {
        fprintf(stderr, "latency_load_client: out of memory\n");
        return 1;
    }
    G.n = n;
    G.since_ns = now_ns();
    deadline = now_ns() + (int64_t)(120 + n / 10) * 1000000000;
    for (int i = 0; i < n && ready; i++) {
        client_t *c = &G.clients[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!open_client(c, &sa, host, port, path) ||
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0 || !parse_frames(c))
            close_client(c);
        else if (i % 50 == 49 || i == n - 1) /* 50 at a time, as the node client opens them */
            ready = serve(ep, deadline, i + 1);
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
    serve(ep, INT64_MAX, 0);
    pthread_join(in_thread, NULL);
    rc = 0;
done:
    for (int i = 0; i < n; i++) {
        if (G.clients[i].fd > 0)
            close(G.clients[i].fd);
        free(G.clients[i].in);
        free(G.clients[i].msg);
        free(G.clients[i].seen);
    }
    free(G.clients);
    close(ep);
    return rc;
}
