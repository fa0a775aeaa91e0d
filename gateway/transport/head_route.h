/*
 * head_route.h - which service thread a new connection belongs to, from the first bytes
 * of its request (peeked by the acceptor, not consumed: libwebsockets reads the request
 * itself). A WebSocket upgrade of xo-lib's JSON-RPC endpoint (GET /api/ or /api, exactly
 * as endpoint_jsonrpc.c admits it, with an `Upgrade: websocket` header) goes to the
 * sessions thread; everything else to the HTTP thread. Pure: the bytes are a client's,
 * so any input gives an answer, and a misplaced connection is still served (only on the
 * other thread). Never reads past @p len.
 */
#ifndef GW_HEAD_ROUTE_H
#define GW_HEAD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    GW_ROUTE_WAIT = 0, /**< not enough bytes to tell: peek again when more arrive */
    GW_ROUTE_HTTP,     /**< the HTTP thread: REST, /healthz, files, consoles, ... */
    GW_ROUTE_SESSIONS  /**< the sessions thread: a JSON-RPC WebSocket upgrade */
} gw_route_t;

/**
 * @brief Classify a request head.
 * @param head, len the bytes received so far (not NUL-terminated)
 * @param full true when no more bytes will be looked at (the peek buffer is full, or the
 *        client will send no more): then the answer is never GW_ROUTE_WAIT. An undecided
 *        JSON-RPC request line then goes to the sessions thread, whose answer to it (an
 *        oversized upgrade refused) is the one the gateway always gave.
 * @returns GW_ROUTE_HTTP as soon as the request line cannot be a GET of /api/ (often
 *          after a few bytes); GW_ROUTE_SESSIONS once the head is complete and upgrades
 *          to a WebSocket; else GW_ROUTE_WAIT.
 */
gw_route_t gw_head_route(const char *head, size_t len, bool full);

#endif
