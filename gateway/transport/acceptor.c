/*
 * acceptor.c - the listening socket of acceptor.h and its thread: one epoll set holds the
 * listening socket, a stop eventfd and every connection waiting to be classified. A
 * waiting connection is watched edge-triggered: a peek does not consume, so a level-
 * triggered watch would report the same bytes again and again; each new segment reports
 * once. Never reads a byte of a request; never blocks on a client.
 */
#include "transport/acceptor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "xo_log.h"

#define MOD        "http"
#define TAG_LISTEN UINT32_MAX       /* epoll data of the listening socket ... */
#define TAG_STOP   (UINT32_MAX - 1) /* ... and of the stop eventfd; else a slot index */
#define EVENTS     64
#define PAUSE_MS   100 /* out of descriptors: accepts pause this long (no busy loop) */

typedef struct {
    int fd; /* -1: free */
    int64_t deadline_ms;
} waiting_t;

struct gw_acceptor {
    int listen_fd, stop_fd, ep;
    int port;
    gw_acceptor_limits_t limits;
    gw_acceptor_hand_fn hand;
    void *opaque;
    waiting_t *slots; /* limits.max_waiting of them */
    size_t nwaiting;
    int64_t paused_until; /* accepts paused (out of descriptors) until then; 0: not */
    char *head;           /* limits.head_bytes: the peek buffer */
    pthread_t thread;
    bool started;
};

static xo_err_t open_listener(gw_acceptor_t *a, const char *address, int port, char *errstr,
                              size_t errstr_size)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO,
                         "cannot listen on %s:%d: not an IPv4 address", address, port);
    a->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->listen_fd < 0 ||
        setsockopt(a->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(a->listen_fd, SOMAXCONN) != 0 ||
        getsockname(a->listen_fd, (struct sockaddr *)&sa, &sl) != 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot listen on %s:%d: %s", address,
                         port, strerror(errno));
    a->port = ntohs(sa.sin_port);
    return XO_OK;
}

static int watch(gw_acceptor_t *a, int op, int fd, uint32_t events, uint32_t tag)
{
    struct epoll_event ev = {.events = events, .data.u32 = tag};
    return epoll_ctl(a->ep, op, fd, &ev);
}

static xo_err_t open_events(gw_acceptor_t *a, char *errstr, size_t errstr_size)
{
    a->ep = epoll_create1(EPOLL_CLOEXEC);
    a->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a->ep < 0 || a->stop_fd < 0 || watch(a, EPOLL_CTL_ADD, a->stop_fd, EPOLLIN, TAG_STOP) ||
        watch(a, EPOLL_CTL_ADD, a->listen_fd, EPOLLIN, TAG_LISTEN))
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "acceptor: %s", strerror(errno));
    return XO_OK;
}

xo_err_t gw_acceptor_new(const char *address, int port, const gw_acceptor_limits_t *limits,
                         gw_acceptor_hand_fn hand, void *opaque, gw_acceptor_t **out, char *errstr,
                         size_t errstr_size)
{
    gw_acceptor_t *a = calloc(1, sizeof(*a));
    xo_err_t err = XO_ERR_NOMEM;

    *out = NULL;
    if (!a)
        return XO_ERR_NOMEM;
    a->listen_fd = a->stop_fd = a->ep = -1;
    a->limits = *limits;
    a->hand = hand;
    a->opaque = opaque;
    a->slots = calloc(limits->max_waiting ? limits->max_waiting : 1, sizeof(*a->slots));
    a->head = malloc(limits->head_bytes ? limits->head_bytes : 1);
    if (!a->slots || !a->head)
        goto fail;
    for (size_t i = 0; i < limits->max_waiting; i++)
        a->slots[i].fd = -1;
    err = open_listener(a, address, port, errstr, errstr_size);
    if (err == XO_OK)
        err = open_events(a, errstr, errstr_size);
    if (err != XO_OK)
        goto fail;
    *out = a;
    return XO_OK;
fail:
    gw_acceptor_free(a);
    return err;
}

int gw_acceptor_port(const gw_acceptor_t *a)
{
    return a->port;
}

/* Forget slot @p i: its descriptor is handed over (@p route) or closed (GW_ROUTE_WAIT). */
static void release(gw_acceptor_t *a, size_t i, gw_route_t route)
{
    int fd = a->slots[i].fd;

    epoll_ctl(a->ep, EPOLL_CTL_DEL, fd, NULL);
    a->slots[i].fd = -1;
    a->nwaiting--;
    if (route == GW_ROUTE_WAIT)
        close(fd);
    else
        a->hand(a->opaque, fd, route);
}

/* Every slot taken: the connection waiting longest goes to the HTTP thread as it is, where
 * libwebsockets applies its own deadlines and limits to it. Accepting never stops, so
 * idle connections cannot keep new clients out (they could at most push each other on). */
static void make_room(gw_acceptor_t *a)
{
    size_t oldest = 0;

    for (size_t i = 1; i < a->limits.max_waiting; i++)
        if (a->slots[i].deadline_ms < a->slots[oldest].deadline_ms)
            oldest = i;
    xo_dbg(XO_DBG_WS, MOD, "event=head_unclassified reason=acceptor_full");
    release(a, oldest, GW_ROUTE_HTTP);
}

static void take_new(gw_acceptor_t *a, int fd, int64_t now)
{
    size_t i = 0;

    if (a->nwaiting == a->limits.max_waiting)
        make_room(a);
    while (i < a->limits.max_waiting && a->slots[i].fd >= 0)
        i++;
    if (i == a->limits.max_waiting ||
        watch(a, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, (uint32_t)i) != 0) {
        close(fd);
        return;
    }
    a->slots[i] = (waiting_t){fd, now + a->limits.wait_ms};
    a->nwaiting++;
}

static void accept_all(gw_acceptor_t *a, int64_t now)
{
    for (;;) {
        int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                xo_warn(MOD, "event=accept_paused error=\"%s\" ms=%d", strerror(errno), PAUSE_MS);
                if (watch(a, EPOLL_CTL_MOD, a->listen_fd, 0, TAG_LISTEN) == 0)
                    a->paused_until = now + PAUSE_MS;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                xo_dbg(XO_DBG_WS, MOD, "event=accept_failed error=\"%s\"", strerror(errno));
            }
            return;
        }
        /* as libwebsockets does for the sockets it accepts itself (not for adopted ones):
         * without it a reply written after a notification waits for the client's delayed
         * ACK, 40 ms on Linux */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        take_new(a, fd, now);
    }
}

/* New bytes (or the end) on waiting slot @p i: classify what has come so far. */
static void look(gw_acceptor_t *a, size_t i, uint32_t events)
{
    ssize_t n = recv(a->slots[i].fd, a->head, a->limits.head_bytes, MSG_PEEK);
    bool ended = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    gw_route_t r;

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        release(a, i, GW_ROUTE_WAIT); /* gone before a byte: nothing to answer */
        return;
    }
    r = gw_head_route(a->head, (size_t)n, ended || (size_t)n == a->limits.head_bytes);
    if (r != GW_ROUTE_WAIT)
        release(a, i, r);
}

/* Close what missed its deadline; @returns ms to the next deadline (-1: none). */
static int expire(gw_acceptor_t *a, int64_t now)
{
    int64_t next = -1;

    for (size_t i = 0; i < a->limits.max_waiting; i++) {
        if (a->slots[i].fd < 0)
            continue;
        if (a->slots[i].deadline_ms <= now) {
            xo_dbg(XO_DBG_WS, MOD, "event=head_timeout");
            release(a, i, GW_ROUTE_WAIT);
        } else if (next < 0 || a->slots[i].deadline_ms - now < next) {
            next = a->slots[i].deadline_ms - now;
        }
    }
    return (int)next;
}

/* Accept again once a pause is over; @returns ms to its end (-1: not paused). */
static int resume(gw_acceptor_t *a, int64_t now)
{
    if (!a->paused_until)
        return -1;
    if (now < a->paused_until)
        return (int)(a->paused_until - now);
    if (watch(a, EPOLL_CTL_MOD, a->listen_fd, EPOLLIN, TAG_LISTEN) == 0)
        a->paused_until = 0;
    return a->paused_until ? PAUSE_MS : -1;
}

static int earliest(int t1, int t2)
{
    return t1 < 0 ? t2 : t2 < 0 || t1 < t2 ? t1 : t2;
}

static void *run(void *arg)
{
    gw_acceptor_t *a = arg;
    struct epoll_event ev[EVENTS];

    for (;;) {
        int64_t start = gw_mono_ms();
        int timeout = earliest(a->nwaiting ? expire(a, start) : -1, resume(a, start));
        int n = epoll_wait(a->ep, ev, EVENTS, timeout);
        int64_t now = gw_mono_ms();

        for (int k = 0; k < n; k++) {
            uint32_t tag = ev[k].data.u32;
            if (tag == TAG_STOP)
                return NULL;
            if (tag == TAG_LISTEN)
                accept_all(a, now);
            else if (tag < a->limits.max_waiting && a->slots[tag].fd >= 0)
                look(a, tag, ev[k].events);
        }
    }
}

xo_err_t gw_acceptor_start(gw_acceptor_t *a, char *errstr, size_t errstr_size)
{
    int rc = pthread_create(&a->thread, NULL, run, a);

    if (rc != 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "acceptor thread: %s", strerror(rc));
    a->started = true;
    return XO_OK;
}

void gw_acceptor_free(gw_acceptor_t *a)
{
    uint64_t one = 1;

    if (!a)
        return;
    if (a->started) {
        if (write(a->stop_fd, &one, sizeof(one)) != sizeof(one))
            xo_warn(MOD, "event=acceptor_stop_failed error=\"%s\"", strerror(errno));
        pthread_join(a->thread, NULL);
    }
    for (size_t i = 0; a->slots && i < a->limits.max_waiting; i++)
        if (a->slots[i].fd >= 0)
            close(a->slots[i].fd);
    if (a->ep >= 0)
        close(a->ep);
    if (a->stop_fd >= 0)
        close(a->stop_fd);
    if (a->listen_fd >= 0)
        close(a->listen_fd);
    free(a->slots);
    free(a->head);
    free(a);
}
