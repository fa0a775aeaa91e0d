/*
 * transfer_relay.c - the blocking WebSocket client of a transfer worker toward the gateway's
 * relay endpoint (transfer_relay.h): the upgrade with the ticket, binary frames out, the
 * close. The framing is ws_client.c's (the console relays'); the connection is
 * transfer_io.c's. Must not log or keep the ticket.
 */
#include "transfer_relay.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_client.h"

static const uint8_t ZERO_MASK[4] = {0, 0, 0, 0}; /* the gateway does not XOR it away */

/* "ws[s]://host[:port]/path" -> parts ("[v6]" hosts kept bracketed for the Host header). */
static bool parse_ws_url(const char *url, bool *tls, char *host, size_t hsize, int *port,
                         const char **path)
{
    const char *p, *slash, *colon;
    size_t n;

    if (!strncmp(url, "wss://", 6))
        *tls = true, p = url + 6;
    else if (!strncmp(url, "ws://", 5))
        *tls = false, p = url + 5;
    else
        return false;
    slash = strchr(p, '/');
    *path = slash ? slash : "/";
    n = slash ? (size_t)(slash - p) : strlen(p);
    colon = p[0] == '[' ? memchr(p, ']', n) : memchr(p, ':', n);
    if (colon && *colon == ']')
        colon = colon + 1 < p + n && colon[1] == ':' ? colon + 1 : NULL;
    *port = colon ? atoi(colon + 1) : (*tls ? 443 : 80);
    if (colon)
        n = (size_t)(colon - p);
    if (n == 0 || n >= hsize || *port <= 0 || *port > 65535)
        return false;
    memcpy(host, p, n);
    host[n] = '\0';
    return true;
}

/* The gateway's answer to the upgrade: 101, or the status it refused with. */
static xo_err_t read_answer(tx_conn_t *c, char *errstr, size_t errstr_size)
{
    ws_answer_t a = {0};
    uint8_t b[512];
    size_t used = 0;
    int rc = 0;

    while (rc == 0) {
        ssize_t n = tx_read(c, b, 1); /* a byte at a time: nothing after the answer is read */
        if (n <= 0)
            return xo_seterr(errstr, errstr_size, XO_ERR_IO, "the relay closed during the upgrade");
        rc = ws_answer_feed(&a, b, (size_t)n, &used);
    }
    if (rc < 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "the relay's answer is not HTTP");
    if (a.status != 101)
        return xo_seterr(errstr, errstr_size, XO_ERR_BADSIG, "the gateway refused the relay (%d)",
                         a.status);
    return XO_OK;
}

xo_err_t tx_relay_open(tx_conn_t *c, const char *url, const char *ticket, const tx_tls_opts_t *tls,
                       int timeout_ms, char *errstr, size_t errstr_size)
{
    char host[256], hostport[300], auth[128], req[2048];
    const char *path;
    bool use_tls;
    int port;
    size_t n;
    xo_err_t err;

    if (!parse_ws_url(url, &use_tls, host, sizeof(host), &port, &path))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "not a ws:// or wss:// relay URL");
    snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
    if (host[0] == '[') { /* connect to the address, not its bracketed form */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    err = tx_connect(c, host, port, use_tls ? tls : NULL, timeout_ms, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", ticket);
    n = ws_client_request(req, sizeof(req), hostport, path, TX_RELAY_PROTOCOL, auth);
    err = n ? tx_write_all(c, req, n) : XO_ERR_INVALID;
    OPENSSL_cleanse(auth, sizeof(auth));
    OPENSSL_cleanse(req, sizeof(req));
    if (err != XO_OK)
        xo_seterr(errstr, errstr_size, err, "cannot send the relay's upgrade");
    else
        err = read_answer(c, errstr, errstr_size);
    if (err != XO_OK)
        tx_close(c, false);
    return err;
}

xo_err_t tx_relay_send(tx_conn_t *c, const void *p, size_t n)
{
    uint8_t hdr[WS_HDR_MAX];
    size_t h = ws_frame_header(hdr, 0x2, n, ZERO_MASK);

    return tx_write_all(c, hdr, h) == XO_OK && tx_write_all(c, p, n) == XO_OK ? XO_OK : XO_ERR_IO;
}

xo_err_t tx_relay_close(tx_conn_t *c, uint16_t code, const char *reason)
{
    uint8_t frame[WS_HDR_MAX + 125], hdr[WS_HDR_MAX], drain[4096];
    size_t len = strlen(reason) > 123 ? 123 : strlen(reason), h;
    xo_err_t err;

    frame[0] = (uint8_t)(code >> 8);
    frame[1] = (uint8_t)code;
    memcpy(frame + 2, reason, len);
    h = ws_frame_header(hdr, 0x8, len + 2, ZERO_MASK);
    err = tx_write_all(c, hdr, h);
    if (err == XO_OK)
        err = tx_write_all(c, frame, len + 2);
    while (err == XO_OK && tx_read(c, drain, sizeof(drain)) > 0)
        ; /* the gateway's close frame, then its close: all of ours was read by then */
    return err;
}
