/*
 * acceptor.h - the listening socket when the listener runs two service threads
 * (http_server.c): its own thread accepts, waits without blocking for each connection's
 * first request bytes (peeked, never consumed), classifies them (head_route.h) and hands
 * the descriptor to the thread they belong to, which adopts it into its libwebsockets
 * context and reads the request itself. Many connections wait at once, each bounded in
 * time (timeouts.headers_s: what libwebsockets would allow it) and in bytes (then it is
 * handed over as it is); a slow client never holds up another, and idle ones never stop
 * the accepts. Plain TCP only: a TLS
 * hello cannot be classified, so http_server.c keeps one thread with TLS.
 */
#ifndef GW_ACCEPTOR_H
#define GW_ACCEPTOR_H

#include <stddef.h>

#include "transport/head_route.h"
#include "xo_error.h"

typedef struct gw_acceptor gw_acceptor_t;

/** Takes a classified connection (@p fd is the callee's from then on: adopt or close).
 *  Called on the acceptor's thread. */
typedef void (*gw_acceptor_hand_fn)(void *opaque, int fd, gw_route_t route);

typedef struct {
    size_t head_bytes;  /**< bytes peeked at most: past them a head goes over undecided */
    int wait_ms;        /**< accept -> classified, else closed (timeouts.headers_s) */
    size_t max_waiting; /**< connections waiting at once (at least 1); past them the one
                             waiting longest is handed to the HTTP thread as it is */
} gw_acceptor_limits_t;

/**
 * @brief Listen on @p address (IPv4 text) : @p port (0: any free port). Does not accept
 *        yet (gw_acceptor_start).
 * @returns XO_OK, XO_ERR_IO (cannot listen: said in errstr), XO_ERR_NOMEM.
 */
xo_err_t gw_acceptor_new(const char *address, int port, const gw_acceptor_limits_t *limits,
                         gw_acceptor_hand_fn hand, void *opaque, gw_acceptor_t **out, char *errstr,
                         size_t errstr_size);

/** @brief Start the acceptor's thread. @returns XO_OK or XO_ERR_IO (no thread). */
xo_err_t gw_acceptor_start(gw_acceptor_t *a, char *errstr, size_t errstr_size);

/** @brief The port bound. */
int gw_acceptor_port(const gw_acceptor_t *a);

/** @brief Stop the thread (if started), close the listening socket and every connection
 *         not handed over yet, free. NULL: a no-op. */
void gw_acceptor_free(gw_acceptor_t *a);

#endif
