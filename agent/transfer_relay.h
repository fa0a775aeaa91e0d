/*
 * transfer_relay.h - a transfer worker's blocking connection to the gateway's relay
 * endpoint (/api/console-relay/<id>, the consoles' one: docs/console.md), for vm.export's
 * download (docs/streaming.md): dial the relay URL of a signed command (TLS for wss://,
 * checked with console.gateway_* as the console relays do), upgrade to WebSocket with
 * subprotocol xo-console-relay presenting `Authorization: Bearer <ticket>`, then binary
 * frames out (masked with the all-zero key, as the console relays'), and a close frame at
 * the end. Never logs the ticket. Worker threads only.
 */
#ifndef XO_TRANSFER_RELAY_H
#define XO_TRANSFER_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "transfer_io.h"
#include "xo_error.h"

#define TX_RELAY_PROTOCOL "xo-console-relay"
#define TX_RELAY_DONE     1000 /**< close code: the whole export was sent */
#define TX_RELAY_FAILED   4500 /**< close code: the export failed; the reason says why */

/**
 * @brief Dial @p url (ws://host[:port]/path or wss://…) and upgrade with @p ticket.
 * @param tls how the gateway's certificate is checked (wss only; borrowed)
 * @returns XO_OK (@p c connected, caller closes with tx_close), XO_ERR_INVALID (not a ws
 *          URL), XO_ERR_CONNECT, XO_ERR_TLS, XO_ERR_BADSIG (the gateway refused the ticket:
 *          its status in errstr), XO_ERR_IO.
 */
xo_err_t tx_relay_open(tx_conn_t *c, const char *url, const char *ticket, const tx_tls_opts_t *tls,
                       int timeout_ms, char *errstr, size_t errstr_size);

/** @brief One binary frame of @p n bytes. @returns XO_OK or XO_ERR_IO. */
xo_err_t tx_relay_send(tx_conn_t *c, const void *p, size_t n);

/**
 * @brief A close frame with @p code and @p reason (cut to 123 bytes), then what the gateway
 *        still says, until it closes (bounded by the connection's timeout).
 */
xo_err_t tx_relay_close(tx_conn_t *c, uint16_t code, const char *reason);

#endif
