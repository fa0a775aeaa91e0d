/* unit.agent_transfer_io: agent/transfer_io.c on loopback: the link's frames (limits, the
 * end frame, a cut stream), the link's TLS with its in-memory certificate and the pin (a
 * wrong pin is refused), and the HTTP/1.0 client of XAPI's bulk handlers (a 302 to another
 * host keeps the port, the task-id header, the body after the head, the 1 PiB
 * Content-Length of an import and no chunked encoding, a 500 is an error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transfer_io.h"

/* ------------------------------------------------------------------ helpers */

static int listen_any(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static tx_conn_t plain(int fd)
{
    tx_conn_t c;

    memset(&c, 0, sizeof(c));
    c.fd = fd;
    return c;
}

/* ------------------------------------------------------------------ frames */

static void test_frames(void **state)
{
    int sv[2];
    tx_conn_t a, b;
    unsigned char *frame = malloc(TX_FRAME_BUF), got[64];
    size_t n;

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    a = plain(sv[0]);
    b = plain(sv[1]);
    memcpy(frame + 4, "disk bytes", 10);
    assert_int_equal(tx_frame_send(&a, frame, 10), XO_OK);
    assert_int_equal(tx_frame_write(&a, "{\"ok\":true}", 11), XO_OK);
    assert_int_equal(tx_frame_write(&a, NULL, 0), XO_OK); /* the end of the stream */
    assert_int_equal(tx_frame_read(&b, got, sizeof(got), &n), XO_OK);
    assert_int_equal(n, 10);
    assert_memory_equal(got, "disk bytes", 10);
    assert_int_equal(tx_frame_read(&b, got, sizeof(got), &n), XO_OK);
    assert_memory_equal(got, "{\"ok\":true}", 11);
    assert_int_equal(tx_frame_read(&b, got, sizeof(got), &n), XO_OK);
    assert_int_equal(n, 0);
    /* limits: a frame over the reader's buffer, or over the writer's maximum */
    memset(frame + 4, 'x', 100);
    assert_int_equal(tx_frame_send(&a, frame, 100), XO_OK);
    assert_int_equal(tx_frame_read(&b, got, sizeof(got), &n), XO_ERR_LIMIT);
    assert_int_equal(tx_frame_send(&a, frame, TX_FRAME_MAX + 1), XO_ERR_LIMIT);
    assert_int_equal(tx_frame_write(&a, frame, TX_CONTROL_MAX + 1), XO_ERR_LIMIT);
    /* a stream cut inside a frame is an error, never a short frame */
    tx_close(&b, false);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 0), 0);
    b = plain(sv[1]);
    assert_int_equal(write(sv[0], "\0\0\0\x08half", 8), 8);
    close(sv[0]);
    assert_int_equal(tx_frame_read(&b, got, sizeof(got), &n), XO_ERR_IO);
    tx_close(&a, false);
    tx_close(&b, false);
    free(frame);
}

/* ------------------------------------------------------------------ TLS link */

typedef struct {
    int lfd;
    SSL_CTX *ctx;
    xo_err_t err;
    char got[32];
} tls_server_t;

static void *tls_serve(void *arg)
{
    tls_server_t *s = arg;
    tx_conn_t c;
    char errstr[128];
    size_t n = 0;
    int fd = accept(s->lfd, NULL, NULL);

    s->err = tx_accept_tls(&c, fd, s->ctx, 5000, errstr, sizeof(errstr));
    if (s->err == XO_OK && tx_frame_read(&c, s->got, sizeof(s->got) - 1, &n) == XO_OK) {
        s->got[n] = '\0';
        tx_frame_write(&c, "pong", 4);
    }
    if (s->err == XO_OK)
        tx_close(&c, true);
    return NULL;
}

static void test_tls_link_and_pin(void **state)
{
    tls_server_t s = {0};
    char pin[TX_PIN_HEX + 1], wrong[TX_PIN_HEX + 1], errstr[256], got[8];
    tx_conn_t c;
    tx_tls_opts_t tls = {.pin_sha256 = pin};
    pthread_t th;
    int port;
    size_t n;

    (void)state;
    assert_int_equal(tx_server_ctx_new(&s.ctx, pin, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(strlen(pin), TX_PIN_HEX);
    s.lfd = listen_any(&port);
    pthread_create(&th, NULL, tls_serve, &s);
    assert_int_equal(tx_connect(&c, "127.0.0.1", port, &tls, 5000, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(tx_frame_write(&c, "ping", 4), XO_OK);
    assert_int_equal(tx_frame_read(&c, got, sizeof(got), &n), XO_OK);
    assert_memory_equal(got, "pong", 4);
    tx_close(&c, true);
    pthread_join(th, NULL);
    assert_int_equal(s.err, XO_OK);
    assert_string_equal(s.got, "ping");

    /* another certificate than the one the command names: refused after the handshake */
    snprintf(wrong, sizeof(wrong), "%s", pin);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    tls.pin_sha256 = wrong;
    pthread_create(&th, NULL, tls_serve, &s);
    assert_int_equal(tx_connect(&c, "127.0.0.1", port, &tls, 5000, errstr, sizeof(errstr)),
                     XO_ERR_TLS);
    assert_non_null(strstr(errstr, "pinned"));
    pthread_join(th, NULL);
    close(s.lfd);
    SSL_CTX_free(s.ctx);
}

/* ------------------------------------------------------------------ HTTP */

typedef struct {
    int lfd;
    const char *answers[3]; /* one per connection */
    char requests[3][1024];
} http_server_t;

static void *http_serve(void *arg)
{
    http_server_t *s = arg;

    for (int i = 0; i < 3 && s->answers[i]; i++) {
        int fd = accept(s->lfd, NULL, NULL);
        size_t n = 0;
        while (n < sizeof(s->requests[i]) - 1 && !strstr(s->requests[i], "\r\n\r\n")) {
            ssize_t r = read(fd, s->requests[i] + n, sizeof(s->requests[i]) - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        if (write(fd, s->answers[i], strlen(s->answers[i])) < 0)
            break;
        close(fd);
    }
    return NULL;
}

static void test_http(void **state)
{
    http_server_t s = {0};
    tx_conn_t c;
    tx_http_head_t head;
    char url[64], errstr[256], location[128], body[16] = "";
    pthread_t th;
    int port;

    (void)state;
    s.lfd = listen_any(&port);
    snprintf(location, sizeof(location),
             "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1/import?x=1\r\n\r\n");
    s.answers[0] = location; /* XAPI names the host, not the port */
    s.answers[1] = "HTTP/1.1 200 OK\r\ntask-id: OpaqueRef:t1\r\nConnection: close\r\n\r\nxva!";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    pthread_create(&th, NULL, http_serve, &s);
    assert_int_equal(tx_http_open(&c, url, "PUT", "/import?session_id=S&sr_id=R", NULL, 5000, &head,
                                  errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(head.status, 200);
    assert_string_equal(head.task_id, "OpaqueRef:t1");
    assert_int_equal(tx_read_full(&c, body, 4), XO_OK); /* the body follows the head */
    assert_memory_equal(body, "xva!", 4);
    tx_close(&c, false);
    pthread_join(th, NULL);
    for (int i = 0; i < 2; i++) { /* the same request to both hosts, as XAPI wants it */
        assert_non_null(strstr(s.requests[i], "PUT /import?session_id=S&sr_id=R HTTP/1.0\r\n"));
        assert_non_null(strstr(s.requests[i], "Content-Length: 1125899906842624\r\n"));
        assert_null(strstr(s.requests[i], "Transfer-Encoding"));
    }

    s = (http_server_t){.lfd = s.lfd};
    s.answers[0] = "HTTP/1.1 500 Internal Error\r\n\r\n";
    pthread_create(&th, NULL, http_serve, &s);
    assert_int_equal(
        tx_http_open(&c, url, "GET", "/export?ref=x", NULL, 5000, &head, errstr, sizeof(errstr)),
        XO_ERR_HTTP);
    assert_int_equal(head.status, 500);
    assert_null(strstr(s.requests[0], "Content-Length"));
    pthread_join(th, NULL);
    close(s.lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_tls_link_and_pin),
        cmocka_unit_test(test_http),
    };
    signal(SIGPIPE, SIG_IGN); /* as xo-agent's main: TLS writes to a closed peer */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
