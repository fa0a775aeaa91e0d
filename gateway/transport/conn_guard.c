/*
 * conn_guard.c - the per-connection byte budget and the immediate close (see
 * conn_guard.h). No policy here: the endpoints decide when a connection is over its limits.
 */
#include "transport/conn_guard.h"

#include <sys/socket.h>

void gw_conn_budget_init(gw_conn_budget_t *b, size_t limit)
{
    b->queued = 0;
    b->limit = limit;
}

bool gw_conn_budget_fits(const gw_conn_budget_t *b, size_t len)
{
    return b->queued == 0 || (len <= b->limit && b->queued <= b->limit - len);
}

void gw_conn_budget_take(gw_conn_budget_t *b, size_t len)
{
    b->queued += len;
}

void gw_conn_budget_give(gw_conn_budget_t *b, size_t len)
{
    b->queued = len < b->queued ? b->queued - len : 0;
}

void gw_conn_close_now(struct lws *wsi)
{
    struct linger reset = {1, 0};
    lws_sockfd_type fd = lws_get_socket_fd(wsi);

    /* A client that does not read keeps the kernel's send buffer full: a plain close
     * would leave those bytes (and the socket) waiting for it. Reset instead. */
    if (fd >= 0 && lws_get_network_wsi(wsi) == wsi) /* not an HTTP/2 stream's shared socket */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    /* LWS_TO_KILL_ASYNC: closed at the next service step, without waiting to write. */
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}
