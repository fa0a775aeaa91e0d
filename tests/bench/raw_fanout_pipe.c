/*
 * raw_fanout_pipe.c - the physical limit of the gateway's send path, for
 * bench_gateway_latency.py's baseline row: one thread that writes the same WebSocket text
 * frame of --bytes bytes to N loopback connections, --rate times a second, and nothing else
 * (no Kafka, no view, no JSON encoding). Its readers are latency_load_client processes, the
 * same reads and framing as the gateway's rows; the label in each frame carries its due time
 * (CLOCK_MONOTONIC), so a pipe that falls behind its schedule shows it as latency.
 *
 *   raw_fanout_pipe --clients N [--rate R] [--bytes B] [--vms V]
 *
 * Listens on 127.0.0.1 (an ephemeral port, printed as "listening PORT"), answers each
 * client's WebSocket upgrade and its session.signIn, and once N clients are signed in prints
 * "feeding N" and starts. Each pass frames the changes due since the last one once and
 * writes them to every client in one send() (one change a pass while the writer keeps up,
 * more when a pass over N clients takes longer than a change's period); a client the
 * kernel refused (socket buffer full) keeps references to the pass's batch and the later
 * ones (shared by every client, as the gateway shares its messages), all sent in one
 * writev() when writable: the best a single writer thread can do. stdin: "stats" prints one JSON
 * line; "stop" stops the changes (pending frames still go out) and prints it; "quit" (or
 * EOF) ends. Not part of the product: a bench tool, free of the project's code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bench_buf.h"
#include "transport/ws_sessions.h" /* the gateway's own frame header */

/* a reader this far behind is dropped (the gateway's limits.client_queue_bytes default) */
#define MAX_PENDING (64u << 20)
#define MAX_IOV     64   /* batches one writev() carries */
#define HEAD_MAX    8192 /* bytes of a client's upgrade request */

/* epoll tags of the descriptors that are not connections */
static char stdin_tag, timer_tag, listen_tag;

enum { ST_HEAD, ST_SIGNIN, ST_LIVE, ST_GONE };

/* The frames of one pass, shared by the clients that have them pending. */
typedef struct {
    unsigned refs;
    size_t len;
    char data[];
} batch_t;

typedef struct {
    int fd, state;
    char *in; /* bytes read before the client is live */
    size_t in_len, in_cap;
    batch_t **q; /* batches the kernel did not take yet, q[qh] first, its first off sent */
    size_t qh, qn, qcap, off, queued;
} conn_t;

static struct {
    int n, rate, bytes, vms, live, ep, lfd, tfd;
    conn_t *conns;
    int nconns;
    bool feeding;
    int64_t start_ns, seq;
    uint64_t sends, gathered_sends, frames, dropped, eagain;
    int64_t max_behind_ns;
    char *batch; /* the frames of the changes due since the last pass, one after another */
    size_t batch_len, batch_cap, frame_len;
    uint64_t passes, max_frames_per_pass;
} P;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Append the frame of change @p seq due at @p due_ns to the batch: an `all` "enter" of one
 * VM as the gateway sends it (the label the readers scan for), padded to P.bytes of
 * payload. @returns false without memory. */
static bool add_frame(int64_t seq, int64_t due_ns)
{
    char head[256];
    unsigned char h[10];
    int n = snprintf(head, sizeof(head),
                     "{\"jsonrpc\":\"2.0\",\"method\":\"all\",\"params\":{\"type\":\"enter\","
                     "\"items\":{\"vm-%06lld\":{\"type\":\"VM\",\"name_label\":\"lat:%lld:%lld\","
                     "\"pad\":\"",
                     (long long)(seq % P.vms), (long long)due_ns, (long long)seq);
    static const char TAIL[] = "\"}}}}";
    size_t payload = (size_t)P.bytes, hl;
    char *f;

    if (payload < (size_t)n + sizeof(TAIL) - 1)
        payload = (size_t)n + sizeof(TAIL) - 1;
    hl = gw_ws_frame_header(h, payload);
    if (!bench_buf_reserve(&P.batch, &P.batch_cap, P.batch_len + hl + payload))
        return false;
    f = P.batch + P.batch_len;
    memcpy(f, h, hl);
    memcpy(f + hl, head, (size_t)n);
    memset(f + hl + n, 'x', payload - (size_t)n - (sizeof(TAIL) - 1));
    memcpy(f + hl + payload - (sizeof(TAIL) - 1), TAIL, sizeof(TAIL) - 1);
    P.frame_len = hl + payload;
    P.batch_len += P.frame_len;
    return true;
}

static void unref(batch_t *b)
{
    if (--b->refs == 0)
        free(b);
}

/* Forget the queue's head batch. */
static void pop(conn_t *c)
{
    c->queued -= c->q[c->qh]->len - c->off;
    unref(c->q[c->qh]);
    c->qh++;
    c->qn--;
    c->off = 0;
}

static void drop_conn(conn_t *c)
{
    if (c->state == ST_LIVE)
        P.live--;
    if (c->state != ST_GONE) {
        P.dropped += c->state == ST_LIVE;
        epoll_ctl(P.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->state = ST_GONE;
    while (c->qn)
        pop(c);
}

static void want_out(conn_t *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(P.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is pending, in one writev(); false when the connection failed. */
static bool flush_pending(conn_t *c)
{
    struct iovec iov[MAX_IOV];
    int n = 0;
    ssize_t w;

    for (size_t i = 0; i < c->qn && n < MAX_IOV; i++, n++) {
        batch_t *b = c->q[c->qh + i];
        size_t skip = i == 0 ? c->off : 0;
        iov[n].iov_base = b->data + skip;
        iov[n].iov_len = b->len - skip;
    }
    w = writev(c->fd, iov, n);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    P.sends++;
    P.gathered_sends++;
    while (w > 0) {
        size_t left = c->q[c->qh]->len - c->off;
        if ((size_t)w < left) {
            c->off += (size_t)w;
            c->queued -= (size_t)w;
            break;
        }
        w -= (ssize_t)left;
        pop(c);
    }
    if (!c->qn)
        want_out(c, false);
    return true;
}

/* Queue a reference to @p b, whose first @p sent bytes went out; false over the limit. */
static bool enqueue(conn_t *c, batch_t *b, size_t sent)
{
    if (c->queued + b->len - sent > MAX_PENDING)
        return false;
    if (c->qh + c->qn == c->qcap) {
        if (c->qh > 0) {
            memmove(c->q, c->q + c->qh, c->qn * sizeof(*c->q));
            c->qh = 0;
        } else {
            size_t cap = c->qcap ? c->qcap * 2 : 16;
            batch_t **q = realloc(c->q, cap * sizeof(*q));
            if (!q)
                return false;
            c->q = q;
            c->qcap = cap;
        }
    }
    if (!c->qn)
        c->off = sent;
    c->q[c->qh + c->qn++] = b;
    b->refs++;
    c->queued += b->len - sent;
    return true;
}

/* The batch to one live client: one send() if it has nothing pending, else queued behind
 * what it has pending (written together when it is writable). */
static void send_batch_to(conn_t *c, batch_t *b)
{
    bool was_idle = c->qn == 0;
    ssize_t w = 0;

    if (was_idle) {
        w = send(c->fd, b->data, b->len, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            drop_conn(c);
            return;
        }
        P.sends++;
        if (w < 0) {
            P.eagain++;
            w = 0;
        }
        if ((size_t)w == b->len)
            return;
    }
    if (!enqueue(c, b, (size_t)w)) {
        drop_conn(c);
        return;
    }
    if (was_idle)
        want_out(c, true);
}

/* One pass: every change due by now framed once, stamped with its due time, and the batch
 * written to every live client. A pass over many clients takes long enough for several
 * changes to fall due: they go together in the next pass, as the gateway batches what its
 * consumer took while the service thread was writing. */
static void feed(void)
{
    int64_t now = now_ns(), period = 1000000000 / P.rate;
    uint64_t frames = 0;
    batch_t *b;

    P.batch_len = 0;
    for (; P.start_ns + P.seq * period <= now; P.seq++, frames++) {
        int64_t due = P.start_ns + P.seq * period;
        if (now - due > P.max_behind_ns)
            P.max_behind_ns = now - due;
        if (!add_frame(P.seq, due))
            break;
    }
    b = frames ? malloc(sizeof(*b) + P.batch_len) : NULL;
    if (!b)
        return;
    b->refs = 1; /* this pass's */
    b->len = P.batch_len;
    memcpy(b->data, P.batch, P.batch_len);
    for (int i = 0; i < P.nconns; i++)
        if (P.conns[i].state == ST_LIVE)
            send_batch_to(&P.conns[i], b);
    unref(b);
    P.frames += frames;
    P.passes++;
    if (frames > P.max_frames_per_pass)
        P.max_frames_per_pass = frames;
}

static void start_feeding(void)
{
    struct itimerspec its = {.it_interval = {0, 1000000000 / P.rate},
                             .it_value = {0, 1000000000 / P.rate}};

    P.feeding = true;
    P.start_ns = now_ns();
    timerfd_settime(P.tfd, 0, &its, NULL);
    printf("feeding %d\n", P.live);
    fflush(stdout);
}

static bool send_all(int fd, const char *b, size_t len)
{
    return send(fd, b, len, MSG_NOSIGNAL) == (ssize_t)len; /* a short answer on a fresh socket */
}

/* Before the client is live: its upgrade head, then its sign-in frame (masked). */
static bool handshake(conn_t *c)
{
    static const char UPGRADE[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: raw\r\n\r\n";
    static const char ANSWER[] = "{\"jsonrpc\":\"2.0\",\"result\":{\"email\":\"raw\"},\"id\":1}";
    const unsigned char *f;
    size_t len, hl;
    char *end;

    if (c->state == ST_HEAD) {
        end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end)
            return c->in_len < HEAD_MAX;
        end += 4;
        c->in_len -= (size_t)(end - c->in);
        memmove(c->in, end, c->in_len);
        if (!send_all(c->fd, UPGRADE, sizeof(UPGRADE) - 1))
            return false;
        c->state = ST_SIGNIN;
    }
    f = (const unsigned char *)c->in;
    if (c->in_len < 2)
        return true;
    len = f[1] & 0x7f;
    hl = len == 126 ? 8 : 6;
    if (len == 127 || c->in_len < hl)
        return len != 127;
    if (len == 126)
        len = ((size_t)f[2] << 8) | f[3];
    if (c->in_len < hl + len)
        return true;
    for (size_t i = 0; i < len; i++)
        c->in[hl + i] ^= (char)f[hl - 4 + i % 4];
    if (!memmem(c->in + hl, len, "session.signIn", 14))
        return false;
    {
        unsigned char h[10];
        char out[128];
        size_t n = gw_ws_frame_header(h, sizeof(ANSWER) - 1);
        memcpy(out, h, n);
        memcpy(out + n, ANSWER, sizeof(ANSWER) - 1);
        if (!send_all(c->fd, out, n + sizeof(ANSWER) - 1))
            return false;
    }
    c->state = ST_LIVE;
    c->in_len = 0;
    P.live++;
    if (P.live == P.n && !P.feeding)
        start_feeding();
    return true;
}

/* Readable: before live, the handshake; after, whatever the client sends is discarded. */
static void on_read(conn_t *c)
{
    for (;;) {
        ssize_t r;
        if (!bench_buf_reserve(&c->in, &c->in_cap, c->in_len + 4096)) {
            drop_conn(c);
            return;
        }
        r = recv(c->fd, c->in + c->in_len, 4096, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            drop_conn(c);
            return;
        }
        if (r < 0)
            return;
        if (c->state == ST_LIVE)
            continue;
        c->in_len += (size_t)r;
        if (!handshake(c)) {
            drop_conn(c);
            return;
        }
    }
}

static void on_accept(void)
{
    for (;;) {
        int fd = accept4(P.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        conn_t *c;
        struct epoll_event ev = {.events = EPOLLIN};
        if (fd < 0)
            return;
        if (P.nconns == P.n) { /* more clients than asked for: not measured */
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = &P.conns[P.nconns++];
        c->fd = fd;
        c->state = ST_HEAD;
        ev.data.ptr = c;
        epoll_ctl(P.ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void print_stats(void)
{
    size_t queued = 0;

    for (int i = 0; i < P.nconns; i++)
        queued += P.conns[i].queued;
    printf("{\"clients\":%d,\"frames\":%llu,\"sends\":%llu,\"gathered_sends\":%llu,"
           "\"eagain\":%llu,\"dropped\":%llu,\"max_behind_ms\":%.3f,\"frame_bytes\":%zu,"
           "\"passes\":%llu,\"max_frames_per_pass\":%llu,\"queued_bytes\":%zu}\n",
           P.live, (unsigned long long)P.frames, (unsigned long long)P.sends,
           (unsigned long long)P.gathered_sends, (unsigned long long)P.eagain,
           (unsigned long long)P.dropped, (double)P.max_behind_ns / 1e6, P.frame_len,
           (unsigned long long)P.passes, (unsigned long long)P.max_frames_per_pass, queued);
    fflush(stdout);
}

/* stdin: false when the pipe must end. */
static bool on_stdin(void)
{
    char line[256];
    ssize_t r = read(0, line, sizeof(line) - 1);

    if (r <= 0)
        return false;
    line[r] = '\0';
    if (strstr(line, "stop")) { /* no new frame; the pending ones still go out */
        struct itimerspec off = {{0, 0}, {0, 0}};
        timerfd_settime(P.tfd, 0, &off, NULL);
        P.feeding = false;
    }
    if (strstr(line, "stats") || strstr(line, "stop"))
        print_stats();
    return !strstr(line, "quit");
}

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: raw_fanout_pipe --clients N [--rate R (1000)] [--bytes B (2048)] "
            "[--vms V (1000)]\n  (see the head of its source)\n");
    return rc;
}

static bool parse_args(int argc, char **argv)
{
    P.rate = 1000;
    P.bytes = 2048;
    P.vms = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--clients"))
            P.n = v;
        else if (!strcmp(argv[i], "--rate"))
            P.rate = v;
        else if (!strcmp(argv[i], "--bytes"))
            P.bytes = v;
        else if (!strcmp(argv[i], "--vms"))
            P.vms = v;
        else
            return false;
    }
    return argc % 2 == 1 && P.n > 0 && P.rate > 0 && P.rate <= 1000000 && P.bytes > 0 &&
           P.bytes <= (1 << 24) && P.vms > 0;
}

static int serve(void)
{
    struct epoll_event ev[256];

    for (;;) {
        int n = epoll_wait(P.ep, ev, 256, 100);
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &stdin_tag) {
                if (!on_stdin())
                    return 0;
            } else if (p == &timer_tag) {
                uint64_t ticks;
                if (read(P.tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                    return 1;
                if (P.feeding)
                    feed();
            } else if (p == &listen_tag) {
                on_accept();
            } else {
                conn_t *c = p;
                if (c->state == ST_GONE)
                    continue;
                if (ev[i].events & (EPOLLERR | EPOLLHUP))
                    drop_conn(c);
                else if (ev[i].events & EPOLLOUT && !flush_pending(c))
                    drop_conn(c);
                else if (ev[i].events & EPOLLIN)
                    on_read(c);
            }
        }
        if (n == 0 && P.feeding)
            feed();
    }
}

/* Watch @p fd for input, tagged @p tag. */
static bool watch(int fd, void *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    return epoll_ctl(P.ep, EPOLL_CTL_ADD, fd, &ev) == 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    int one = 1, rc = 1;

    if (argc == 2 && !strcmp(argv[1], "--help"))
        return usage(0);
    if (!parse_args(argc, argv))
        return usage(2);
    P.conns = calloc((size_t)P.n, sizeof(conn_t));
    P.ep = epoll_create1(EPOLL_CLOEXEC);
    P.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    P.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!P.conns || P.ep < 0 || P.tfd < 0 || P.lfd < 0) {
        fprintf(stderr, "raw_fanout_pipe: out of resources\n");
        goto done;
    }
    setsockopt(P.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(P.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(P.lfd, 4096) != 0 ||
        getsockname(P.lfd, (struct sockaddr *)&sa, &slen) != 0 || !watch(P.lfd, &listen_tag) ||
        !watch(P.tfd, &timer_tag) || !watch(0, &stdin_tag)) {
        fprintf(stderr, "raw_fanout_pipe: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        goto done;
    }
    printf("listening %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    rc = serve();
done:
    for (int i = 0; P.conns && i < P.nconns; i++) {
        if (P.conns[i].state != ST_GONE)
            close(P.conns[i].fd);
        free(P.conns[i].in);
        while (P.conns[i].qn)
            pop(&P.conns[i]);
        free(P.conns[i].q);
    }
    free(P.conns);
    free(P.batch);
    return rc;
}
