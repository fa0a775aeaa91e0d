/*
 * console_int.h - internals of the console relays, shared by console.c (lifecycle, the
 * relay thread's event loop, its inbox and TLS checks), console_session.c (one session's
 * host side, gateway side and splice) and console_lookup.c (the XAPI thread that finds a
 * VM's console). Files depend downward only: console.c -> console_session.c ->
 * console_lookup.c. Everything marked "relay thread" belongs to that thread alone.
 */
#ifndef XO_CONSOLE_INT_H
#define XO_CONSOLE_INT_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "console.h"
#include "rfb_track.h"
#include "tls_pipe.h"
#include "ws_client.h"

#define CON_MOD        "console"
#define CON_QUEUE      (1024 * 1024) /**< bytes queued per direction before reads pause */
#define CON_RX         (256 * 1024)  /**< lws receive buffer of each connection */
#define CON_CHUNK      (256 * 1024)  /**< largest write to the gateway */
#define CON_HOST_CHUNK (16 * 1024)   /**< largest write to a host (XAPI's wsproxy: < 64 KiB) */
#define CON_RETRY_MS   250           /**< between lookups while the VM comes back */

/* ------------------------------------------------------------------ console_lookup.c */

/** Where a VM's console is, as the lookup thread found it. */
typedef struct {
    uint64_t serial; /**< the session that asked */
    char code[40];   /**< "" when found, else NO_RFB_CONSOLE, CONSOLE_DISABLED, ... */
    char reason[200];
    char power[24];     /**< the VM's power_state */
    char host_uuid[64]; /**< the host the VM runs on */
    char addr[256];     /**< host of the console's location, or the host's address */
    int port;
    bool tls;
    char path[512];    /**< path and query of the location: /console?uuid=... */
    char session[128]; /**< the lookup thread's XAPI session (a credential) */
} console_target_t;

typedef struct console_lookup console_lookup_t;

/** @brief Its own XAPI connection (settings xapi.*). @returns XO_OK, XO_ERR_CONFIG, NOMEM. */
xo_err_t console_lookup_new(agent_t *a, void (*wake)(void *), void *wake_opaque,
                            console_lookup_t **out, char *errstr, size_t errstr_size);
xo_err_t console_lookup_start(console_lookup_t *l);
/** @brief Ask where @p vm_uuid's console is (any thread); the answer is taken later. */
void console_lookup_ask(console_lookup_t *l, uint64_t serial, const char *vm_uuid);
/** @brief One answer, if any (relay thread). */
bool console_lookup_take(console_lookup_t *l, console_target_t *out);
/** @brief Join (agent_stop set) and free; logs the session out. NULL is a no-op. */
void console_lookup_free(console_lookup_t *l);

/* ------------------------------------------------------------------ byte queues */

typedef struct {
    uint8_t *buf; /**< LWS_PRE bytes of headroom, then the bytes */
    size_t cap, head, tail;
} con_q_t;

/* ------------------------------------------------------------------ sessions */

typedef enum {
    CS_LOOKUP,   /**< waiting for the lookup thread */
    CS_HOST,     /**< connecting to the host's console (WebSocket, then CONNECT) */
    CS_RELAY,    /**< host up; dialing the gateway */
    CS_SPLICE,   /**< bytes flow both ways */
    CS_PAD,      /**< host gone mid-update: completing it for the client */
    CS_REATTACH, /**< looking for the VM's console again, connecting to it */
    CS_RESUME,   /**< new host up: handshake on the client's behalf */
    CS_CLOSING   /**< ending: gateway side closing with a reason */
} cs_state_t;

typedef struct console_session {
    agent_console_t *con;
    uint64_t serial;
    console_req_t req;
    cs_state_t state;
    console_target_t target;
    struct lws *host, *gw;
    bool host_raw;  /**< the host connection is the CONNECT fallback */
    bool raw_tried; /**< CONNECT already tried for this target */
    bool raw_sent;  /**< the host request (upgrade or CONNECT) is written */
    bool host_up;   /**< handshake done (101, or 200 after CONNECT) */
    ws_answer_t host_answer;
    tls_pipe_t *host_tls, *gw_tls; /**< TLS over the raw connections, when used */
    ws_rx_t host_rx;               /**< frames from the host (WebSocket) */
    bool gw_sent;                  /**< the relay's upgrade request is written */
    bool gw_up;                    /**< 101 from the gateway */
    ws_answer_t gw_answer;
    ws_rx_t gw_rx; /**< frames from the gateway */
    char gw_host[280], gw_path[520];
    bool published_open; /**< success published: closed is published at the end */
    bool done;           /**< nothing more to do once both connections are gone */
    rfb_track_t track;
    rfb_resume_t resume;
    uint8_t hs[512]; /**< resume: bytes for the new host before the queued ones */
    size_t hs_len;
    con_q_t to_gw, to_host;
    bool host_paused, gw_paused;
    int64_t opened_ms, deadline_ms;
    uint64_t bytes_to_client, bytes_to_host;
    int reattached;
    unsigned idle_ticks; /**< ticks since bytes last moved (idle buffers are freed) */
    int close_code;
    char close_reason[124];
    lws_sorted_usec_list_t retry;
    struct console_session *next, *prev;
} console_session_t;

/** What the relay thread owns (agent_console_t). */
struct agent_console {
    agent_t *a; /**< shared: cfg, password (read-only), status lock */
    console_report_fn report;
    void *report_opaque;
    console_lookup_t *lookup;
    int max_sessions;
    int64_t reattach_ms;
    bool follow;                    /**< console.follow: reattach when the VM reboots/moves */
    char transport[16];             /**< console.host_transport: auto, websocket, connect */
    const char *host_ca, *host_pin; /**< xapi.ca_file / xapi.fingerprint */
    bool host_insecure;
    SSL_CTX *tls_host, *tls_gw; /**< TLS contexts per side (tls_pipe.h) */
    const char *gw_ca, *gw_pin; /**< console.gateway_ca_file / console.gateway_fingerprint */
    bool gw_insecure;
    pthread_t thread;
    bool started;
    struct lws_context *lws; /**< relay thread */
    struct lws_vhost *vh;    /**< relay thread: the client vhost */
    pthread_mutex_t mu;      /**< inbox and count */
    console_req_t *inbox;    /**< requests from the command thread */
    size_t inbox_len, inbox_cap;
    int count;                   /**< sessions + queued requests */
    uint64_t next_serial;        /**< relay thread */
    console_session_t *head;     /**< relay thread */
    lws_sorted_usec_list_t tick; /**< relay thread: checks agent_stop */
};

/* console_session.c (relay thread) */
/** @brief Start a session for one request (lookup first). */
void con_session_start(agent_console_t *con, const console_req_t *req);
/** @brief A lookup answer for its session. */
void con_session_target(agent_console_t *con, const console_target_t *t);
/** @brief Free the buffers of sessions idle for about a second (the relay's tick). */
void con_sessions_trim(agent_console_t *con);
/** @brief Close every session: the gateway side with @p code and @p reason. */
void con_sessions_close_all(agent_console_t *con, int code, const char *reason);
/** @brief The protocols of the relay's client connections (NULL-terminated, with the
 *         core protocol @p core first). */
void con_protocols(struct lws_protocols *out, const struct lws_protocols *core);
#define CON_PROTOCOLS 3 /**< core, host (raw: WebSocket or CONNECT), gateway */

#endif
