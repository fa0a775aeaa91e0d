/*
 * console_hub.h - the gateway's console sessions: a browser's WebSocket on
 * /api/consoles/<id> (endpoint_console.c) waiting for, then spliced with, the relay the
 * pool's agent dials back on /api/console-relay/<id> (endpoint_console_relay.c) with the
 * single-use ticket of the session's console.open command. The hub owns the sessions, their
 * tickets, the two bounded byte queues of each session with their flow control (a side
 * that stops reading stops the other side's reads), the limits (per user, total), the
 * deadlines, and the audit lines. RFB is never parsed here.
 *
 * Each queue is its connection's byte budget (transport/conn_guard.h): at most
 * limits.client_queue_bytes, and never more than GW_CONSOLE_QUEUE. A stream that would not
 * fit pauses its source (back-pressure) rather than closing anything. Memory per session:
 * at most 2 * (GW_CONSOLE_QUEUE + GW_CONSOLE_RX) bytes queued, plus lws' own receive
 * buffers (GW_CONSOLE_RX per connection) and at most one partial write per connection.
 *
 * The hub also carries vm.export's downloads (docs/streaming.md): a session whose client is
 * an HTTP GET on a download URL (endpoint_download.c) instead of a browser's WebSocket; the
 * pool's agent streams the VM's export into the same relay endpoint with the ticket of a
 * vm.exportRelay command, and the hub writes it to the client as the response's body, with
 * the same queues, flow control and send deadlines. A download has no token (its URL was
 * the capability), no RFB, no input, and does not count as a console.
 *
 * Deadlines: the browser is authenticated by its token cookie at the upgrade and the relay
 * by its ticket, so neither has a sign-in deadline; the session is ended when that token
 * is deleted or expires (or its user loses the permission). Waiting for the relay:
 * console.ticket_ttl_ms. Spliced: console.idle_timeout_s without client input, and
 * timeouts.send_s for either connection to take a byte of what waits for it (closed at
 * once and counted, as every connection). Closing: GW_CONSOLE_CLOSING_MS.
 * Service thread only.
 */
#ifndef GW_CONSOLE_HUB_H
#define GW_CONSOLE_HUB_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/users.h"
#include "core/random_token.h"
#include "bus/commands.h"
#include "gateway.h"
#include "transport/conn_guard.h"

#define GW_CONSOLE_QUEUE      (1024 * 1024) /**< bytes queued per direction before reads pause */
#define GW_CONSOLE_RX         (64 * 1024)   /**< lws receive buffer of a console connection */
#define GW_CONSOLE_CHUNK      (256 * 1024)  /**< largest single write */
#define GW_CONSOLE_TICKET     GW_TOKEN_LEN  /**< base64url of 32 random bytes */
#define GW_CONSOLE_CLOSING_MS 10000         /**< a client not taking its last bytes is cut */
#define GW_CONSOLE_PROTOCOL   "binary"      /**< the client endpoint's subprotocol (noVNC's) */
#define GW_RELAY_PROTOCOL     "xo-console-relay"

/* Close codes sent to a console client after the upgrade (docs/console.md). */
#define GW_CLOSE_CONSOLE_ENDED 4000 /**< the host's console ended the session */
#define GW_CLOSE_SIGNED_OUT    4401 /**< the token was deleted or expired, or no permission */
#define GW_CLOSE_NO_CONSOLE    4404 /**< the VM has no RFB console at its site */
#define GW_CLOSE_DISABLED      4403 /**< other_config.disable_pv_vnc = "1" */
#define GW_CLOSE_NOT_RUNNING   4409 /**< the VM halted (or is not running) */
#define GW_CLOSE_IDLE          4408 /**< console.idle_timeout_s without client input */
#define GW_CLOSE_LIMIT         4429 /**< the agent's console limit */
#define GW_CLOSE_AGENT         4503 /**< the pool's agent did not come, or went away */
#define GW_CLOSE_FAILED        4500 /**< anything else; the reason says what */

typedef struct gw_console_hub gw_console_hub_t;

/** One direction's queue: bytes waiting for the other side to be writeable. */
typedef struct {
    uint8_t *buf; /**< LWS_PRE bytes of headroom, then the bytes */
    size_t cap, head, tail;
    gw_conn_budget_t budget; /**< the writing connection's budget: the bytes queued */
    int64_t waiting_since;   /**< monotonic ms of the last byte taken while bytes wait */
} gw_cq_t;

typedef enum {
    GW_CS_WAITING, /**< console.open sent, the agent's relay not here yet */
    GW_CS_SPLICED, /**< client <-> relay */
    GW_CS_CLOSING  /**< closing both sides */
} gw_console_state_t;

/** A console session (lives in the client connection's per-session data). */
typedef struct gw_console {
    struct lws *client, *relay;       /**< relay NULL until the agent dials back */
    struct gw_relay_conn *relay_conn; /**< the relay's per-connection data */
    uint64_t serial;                  /**< connection serial (command waiter) */
    gw_console_state_t state;
    char vm[64], uuid[64], pool[64], type[16];
    char user_id[40], email[256], addr[64];
    gw_token_ref_t token; /**< the token of the cookie (its digest): checked while open */
    char cmd_id[GW_CMD_ID_LEN + 1];
    char ticket[GW_CONSOLE_TICKET + 1];
    bool ticket_used;
    int64_t opened_ms, ticket_expires_ms, last_input_ms;
    gw_cq_t to_client, to_relay;
    bool client_paused, relay_paused; /**< reads stopped by the other side's full queue */
    uint64_t bytes_to_client, bytes_to_relay;
    int close_code; /**< set with close_reason once closing */
    char close_reason[120];
    bool registered;
    unsigned idle_sweeps; /**< sweeps since bytes last moved (idle buffers are freed) */
    bool download;        /**< vm.export's download: an HTTP client (see above) */
    bool headers_sent;    /**< download: the response's head is out */
    char filename[200];   /**< download: offered in Content-Disposition */
    char compress[32];    /**< download: vm.export's compress as JSON text, "" if none */
    struct gw_console *next, *prev;
} gw_console_t;

/** What a relay connection holds (its per-session data). */
typedef struct gw_relay_conn {
    gw_console_t *c; /**< its console; NULL when refused or when the client left */
    bool attached;
    int close_code; /**< the agent's close frame, if it sent one */
    char close_reason[124];
} gw_relay_conn_t;

/** @brief The hub of the listener of @p wsi (created at the console endpoint's init). */
gw_console_hub_t *gw_console_hub_of(struct lws *wsi);

/** @brief Create the hub (PROTOCOL_INIT of the console endpoint). @returns NULL on NOMEM. */
gw_console_hub_t *gw_console_hub_init(struct lws *wsi, gw_ctx_t *ctx);

/** @brief Free the hub's own allocations (PROTOCOL_DESTROY). */
void gw_console_hub_fini(gw_console_hub_t *h);

/** Why an upgrade on /api/consoles/<id> is refused before it happens. */
typedef struct {
    int status;       /**< HTTP status, 0 when admitted */
    char reason[160]; /**< plain text for the body and the log */
    const char *why;  /**< metrics label (no_cookie, viewer, unknown_vm, ...) */
} gw_console_refusal_t;

/**
 * @brief Check an upgrade on the client endpoint: cookie token, user, VM (or VM-controller),
 *        permission, state, the pool's agent, limits; fill @p c on success.
 * @param id the <id> of the path; @p cookie the Cookie header ("" if none)
 * @returns true when admitted (@p r->status 0)
 */
bool gw_console_admit(gw_console_hub_t *h, const char *id, const char *cookie, const char *addr,
                      gw_console_t *c, gw_console_refusal_t *r);

/**
 * @brief The client connection is established: register it, issue console.open with a
 *        fresh ticket. On failure the client is closed with a reason.
 */
void gw_console_open(gw_console_hub_t *h, gw_console_t *c, struct lws *wsi);

/**
 * @brief A download's GET was admitted (endpoint_download.c filled @p c: download, vm,
 *        uuid, pool, user, filename, compress): register it and issue vm.exportRelay with a
 *        fresh ticket. On failure the client gets an HTTP error.
 */
void gw_download_open(gw_console_hub_t *h, gw_console_t *c, struct lws *wsi);

/** @brief Downloads under way now. */
size_t gw_download_count(const gw_console_hub_t *h);

/** @brief Bytes from the client (queued to the relay; reads pause when the queue is full). */
void gw_console_from_client(gw_console_hub_t *h, gw_console_t *c, const void *in, size_t len);

/** @brief The client is writeable (a download's: its head, its body, its end). @returns -1
 *         to close it. */
int gw_console_client_writeable(gw_console_hub_t *h, gw_console_t *c);

/** @brief The client connection closed: close the relay, audit, unregister. Idempotent. */
void gw_console_client_closed(gw_console_hub_t *h, gw_console_t *c);

/**
 * @brief A relay upgrade on /api/console-relay/<id> presenting @p ticket: admitted only
 *        for a waiting session of that console whose ticket matches, unused and unexpired.
 *        The ticket is spent even when the upgrade fails afterwards.
 * @returns true when admitted (@p rc->c set)
 */
bool gw_console_relay_admit(gw_console_hub_t *h, const char *id, const char *ticket,
                            gw_relay_conn_t *rc, gw_console_refusal_t *r);

/** @brief The relay connection is established: splice it with its client. */
void gw_console_relay_open(gw_console_hub_t *h, gw_relay_conn_t *rc, struct lws *wsi);

/** @brief Bytes from the relay (queued to the client). */
void gw_console_from_relay(gw_console_hub_t *h, gw_relay_conn_t *rc, const void *in, size_t len);

/** @brief The relay is writeable. @returns -1 to close it. */
int gw_console_relay_writeable(gw_console_hub_t *h, gw_relay_conn_t *rc);

/**
 * @brief The relay closed: close the client with the relay's close code and reason (the
 *        agent's), or "the pool's agent went away" when it gave none.
 */
void gw_console_relay_closed(gw_console_hub_t *h, gw_relay_conn_t *rc, int code,
                             const char *reason);

/** @brief The outcome of a session's console.open (bus reply): close it on failure. */
void gw_console_deliver(gw_console_hub_t *h, const gw_cmd_reply_t *r);

/** @brief Consoles open now (for the limits and tests). */
size_t gw_console_count(const gw_console_hub_t *h);

#endif
