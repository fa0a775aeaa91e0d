/* Unit tests of gateway/transport/acceptor.c on loopback: a connection is handed over once
 * its head can be classified (early for a non-/api request line, at the end of the head
 * for a WebSocket upgrade of /api/), with its bytes still unread; one that sends nothing
 * is closed at its deadline; with every slot taken, the one waiting longest goes to HTTP
 * as it is, and accepting goes on. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "transport/acceptor.h"

#define MAX_HANDED 8
#define WAIT_MS    5000 /* bound of every wait for the acceptor's thread */

typedef struct {
    pthread_mutex_t mu;
    int fd[MAX_HANDED];
    gw_route_t route[MAX_HANDED];
    size_t n;
} handed_t;

static void hand(void *opaque, int fd, gw_route_t route)
{
    handed_t *h = opaque;

    pthread_mutex_lock(&h->mu);
    if (h->n < MAX_HANDED) {
        h->fd[h->n] = fd;
        h->route[h->n++] = route;
    } else {
        close(fd);
    }
    pthread_mutex_unlock(&h->mu);
}

static size_t handed_count(handed_t *h)
{
    size_t n;

    pthread_mutex_lock(&h->mu);
    n = h->n;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Until @p want connections were handed over, at most WAIT_MS. */
static bool wait_handed(handed_t *h, size_t want)
{
    for (int i = 0; i < WAIT_MS / 10; i++) {
        if (handed_count(h) >= want)
            return true;
        sleep_ms(10);
    }
    return false;
}

static gw_acceptor_t *start(handed_t *h, int wait_ms, size_t max_waiting, int *port)
{
    gw_acceptor_limits_t lim = {256, wait_ms, max_waiting};
    gw_acceptor_t *a = NULL;
    char errstr[128];

    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    assert_int_equal(gw_acceptor_new("127.0.0.1", 0, &lim, hand, h, &a, errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(gw_acceptor_start(a, errstr, sizeof(errstr)), XO_OK);
    *port = gw_acceptor_port(a);
    assert_true(*port > 0);
    return a;
}

static void finish(gw_acceptor_t *a, handed_t *h)
{
    gw_acceptor_free(a);
    for (size_t i = 0; i < h->n; i++)
        close(h->fd[i]);
    pthread_mutex_destroy(&h->mu);
}

static int dial(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_text(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

static void test_http_handed_unread(void **state)
{
    static const char REQ[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    handed_t h;
    int port, c;
    gw_acceptor_t *a = start(&h, WAIT_MS, 4, &port);
    char buf[64];
    (void)state;

    c = dial(port);
    send_text(c, REQ);
    assert_true(wait_handed(&h, 1));
    assert_int_equal(h.route[0], GW_ROUTE_HTTP);
    /* nothing was consumed: the new owner reads the whole request */
    assert_int_equal(recv(h.fd[0], buf, sizeof(buf), 0), (ssize_t)strlen(REQ));
    assert_memory_equal(buf, REQ, strlen(REQ));
    close(c);
    finish(a, &h);
}

/* lws sets TCP_NODELAY only on the sockets it accepts itself: without it on ours, an
 * xo-lib answer written after a notification waited 40 ms for the client's delayed ACK. */
static void test_handed_without_nagle(void **state)
{
    handed_t h;
    int port, c, on = 0;
    socklen_t len = sizeof(on);
    gw_acceptor_t *a = start(&h, WAIT_MS, 4, &port);
    (void)state;

    c = dial(port);
    send_text(c, "GET / HTTP/1.1\r\n\r\n");
    assert_true(wait_handed(&h, 1));
    assert_int_equal(getsockopt(h.fd[0], IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    assert_int_not_equal(on, 0);
    close(c);
    finish(a, &h);
}

static void test_upgrade_waits_for_its_head(void **state)
{
    handed_t h;
    int port, c;
    gw_acceptor_t *a = start(&h, WAIT_MS, 4, &port);
    (void)state;

    c = dial(port);
    send_text(c, "GET /api/ HTTP/1.1\r\nHost: x\r\n");
    sleep_ms(200); /* whatever the speed, an incomplete head is not handed over */
    assert_int_equal(handed_count(&h), 0);
    send_text(c, "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    assert_true(wait_handed(&h, 1));
    assert_int_equal(h.route[0], GW_ROUTE_SESSIONS);
    close(c);
    finish(a, &h);
}

static void test_silent_client_closed_at_deadline(void **state)
{
    handed_t h;
    int port, c;
    gw_acceptor_t *a = start(&h, 300, 4, &port);
    struct pollfd p;
    char b;
    (void)state;

    c = dial(port);
    p = (struct pollfd){.fd = c, .events = POLLIN};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1); /* the close comes, well within the bound */
    assert_int_equal(recv(c, &b, 1, 0), 0);
    assert_int_equal(handed_count(&h), 0);
    close(c);
    finish(a, &h);
}

static void test_full_hands_oldest_to_http(void **state)
{
    handed_t h;
    int port, c[3];
    gw_acceptor_t *a = start(&h, WAIT_MS, 2, &port);
    (void)state;

    c[0] = dial(port);
    sleep_ms(50); /* so that the first is the oldest by its deadline */
    c[1] = dial(port);
    sleep_ms(50);
    c[2] = dial(port); /* no free slot: the first goes over undecided */
    assert_true(wait_handed(&h, 1));
    assert_int_equal(h.route[0], GW_ROUTE_HTTP);
    send_text(c[2], "POST /rest/v0 HTTP/1.1\r\n");
    assert_true(wait_handed(&h, 2)); /* still accepting and classifying */
    for (int i = 0; i < 3; i++)
        close(c[i]);
    finish(a, &h);
}

static void test_cannot_listen(void **state)
{
    gw_acceptor_limits_t lim = {256, 1000, 4};
    gw_acceptor_t *a = NULL;
    char errstr[128] = "";
    (void)state;

    assert_int_equal(
        gw_acceptor_new("not-an-address", 0, &lim, hand, NULL, &a, errstr, sizeof(errstr)),
        XO_ERR_IO);
    assert_null(a);
    assert_non_null(strstr(errstr, "not-an-address"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_handed_unread),
        cmocka_unit_test(test_handed_without_nagle),
        cmocka_unit_test(test_upgrade_waits_for_its_head),
        cmocka_unit_test(test_silent_client_closed_at_deadline),
        cmocka_unit_test(test_full_hands_oldest_to_http),
        cmocka_unit_test(test_cannot_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
