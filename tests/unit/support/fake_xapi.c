/*
 * fake_xapi.c - the scripted XAPI of the unit tests (see fake_xapi.h): accept, read
 * HTTP/1.1 requests with a Content-Length, decode the XML-RPC call, ask the handler,
 * encode its envelope as the methodResponse. Must not interpret any method itself.
 */
#include "fake_xapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xo_xmlrpc.h"

#define MAX_REQUEST (4u * 1024 * 1024) /* far above any call the agent makes */

struct fake_xapi {
    int lfd;
    char url[64];
    fake_xapi_handler_t handler;
    void *opaque;
    atomic_int calls;
    atomic_bool stop;
    pthread_t thread;
};

json_object *fake_xapi_success(json_object *value)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "Status", json_object_new_string("Success"));
    json_object_object_add(o, "Value", value);
    return o;
}

json_object *fake_xapi_failure(const char *code, const char *param)
{
    json_object *o = json_object_new_object(), *desc = json_object_new_array();

    json_object_array_add(desc, json_object_new_string(code));
    if (param)
        json_object_array_add(desc, json_object_new_string(param));
    json_object_object_add(o, "Status", json_object_new_string("Failure"));
    json_object_object_add(o, "ErrorDescription", desc);
    return o;
}

/* Wait until fd is readable; false when stopping or on error. */
static bool wait_readable(fake_xapi_t *x, int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    while (!atomic_load(&x->stop)) {
        int rc = poll(&pfd, 1, 50);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
    return false;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read one request into *buf (grown as needed); returns the body offset, 0 at EOF. */
static size_t read_request(fake_xapi_t *x, int fd, char **buf, size_t *cap, size_t *body_len)
{
    size_t len = 0, need = 0, head = 0;

    for (;;) {
        char *end;
        ssize_t n;
        if (len + 1 >= *cap) {
            char *nb = *cap < MAX_REQUEST ? realloc(*buf, *cap * 2) : NULL;
            if (!nb)
                return 0;
            *buf = nb;
            *cap *= 2;
        }
        (*buf)[len] = '\0';
        end = head ? NULL : strstr(*buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(*buf, "\r\nContent-Length:");
            head = (size_t)(end + 4 - *buf);
            need = head + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (head && len >= need)
            break;
        if (!wait_readable(x, fd))
            return 0;
        n = recv(fd, *buf + len, *cap - len - 1, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
    *body_len = need - head;
    return head;
}

static void answer(fake_xapi_t *x, int fd, const char *body, size_t len)
{
    json_object *params = NULL, *envelope = NULL;
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(NULL);
    char head[160], *doc = NULL;
    size_t doc_len = 0;

    if (dec && xo_xmlrpc_decoder_feed(dec, body, len, NULL, 0) == XO_OK &&
        xo_xmlrpc_decoder_finish(dec, &params, NULL, 0) == XO_OK && xo_xmlrpc_decoder_method(dec))
        envelope = x->handler(x->opaque, xo_xmlrpc_decoder_method(dec), params);
    atomic_fetch_add(&x->calls, 1);
    if (!envelope || xo_xmlrpc_encode_response(envelope, &doc, &doc_len, NULL, 0) != XO_OK) {
        snprintf(head, sizeof(head),
                 "HTTP/1.1 500 Error\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
        send_all(fd, head, strlen(head));
    } else {
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n\r\n",
                 doc_len);
        if (send_all(fd, head, strlen(head)))
            send_all(fd, doc, doc_len);
    }
    free(doc);
    json_object_put(envelope);
    json_object_put(params);
    xo_xmlrpc_decoder_free(dec);
}

static void serve_conn(fake_xapi_t *x, int fd)
{
    size_t cap = 65536, head, body_len = 0;
    char *buf = malloc(cap);

    while (buf && (head = read_request(x, fd, &buf, &cap, &body_len)) > 0)
        answer(x, fd, buf + head, body_len);
    free(buf);
    close(fd);
}

static void *server_main(void *arg)
{
    fake_xapi_t *x = arg;

    while (wait_readable(x, x->lfd)) {
        int fd = accept(x->lfd, NULL, NULL);
        if (fd >= 0)
            serve_conn(x, fd);
    }
    return NULL;
}

fake_xapi_t *fake_xapi_start(fake_xapi_handler_t handler, void *opaque)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    fake_xapi_t *x = calloc(1, sizeof(*x));

    if (!x)
        return NULL;
    x->handler = handler;
    x->opaque = opaque;
    x->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (x->lfd < 0 || bind(x->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(x->lfd, 8) != 0 || getsockname(x->lfd, (struct sockaddr *)&a, &alen) != 0)
        goto fail;
    snprintf(x->url, sizeof(x->url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    if (pthread_create(&x->thread, NULL, server_main, x) != 0)
        goto fail;
    return x;
fail:
    if (x->lfd >= 0)
        close(x->lfd);
    free(x);
    return NULL;
}

void fake_xapi_stop(fake_xapi_t *x)
{
    if (!x)
        return;
    atomic_store(&x->stop, true);
    pthread_join(x->thread, NULL);
    close(x->lfd);
    free(x);
}

const char *fake_xapi_url(const fake_xapi_t *x)
{
    return x->url;
}

int fake_xapi_calls(fake_xapi_t *x)
{
    return atomic_load(&x->calls);
}
