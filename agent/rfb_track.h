/*
 * rfb_track.h - follows an RFB session's message boundaries in both directions so that
 * the console relay can swap the host side (the VM rebooted or moved) without the client
 * noticing: it records the handshake, keeps the client's SetEncodings to encodings whose
 * length it can compute and that carry no state across rectangles (Raw, CopyRect, RRE,
 * Hextile and a few pseudo-encodings), pads an update cut in the middle to its end, and
 * drives the handshake with the new server (rfb_resume_*). Pure: no I/O, no allocation
 * beyond the struct, no logging. Used by console_relay.c on the relay thread.
 *
 * Bytes from the server are only observed (rfb_track_s2c); bytes from the client go
 * through rfb_track_c2s, which copies them out, message by message, with SetEncodings
 * filtered. Anything the tracker cannot follow (a security type other than None or VNC
 * authentication, an unknown message type or encoding) turns it off: the bytes still flow
 * unchanged, but the session can no longer be resumed (rfb_track_resumable() false).
 */
#ifndef XO_RFB_TRACK_H
#define XO_RFB_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RFB_MAX_ENCODINGS 64  /**< encodings of a SetEncodings kept (more are dropped) */
#define RFB_NAME_MAX      256 /**< desktop name bytes kept from ServerInit */
#define RFB_HDR_MAX       32  /**< longest fixed header the tracker assembles */

/** One direction's parser position: a small header being assembled, or bytes to skip. */
typedef struct {
    int state;                /**< internal state of the direction */
    uint8_t hdr[RFB_HDR_MAX]; /**< header bytes collected so far */
    size_t have, want;        /**< collected / needed header bytes */
    uint64_t skip;            /**< payload bytes to pass before the next header */
    uint32_t rects, tiles_x, tiles, tile_w_last, tile_h_last, rect_w, rect_h, tile_i, subrects;
    bool raw_tile; /**< hextile: current tile subencoding (bits) */
    uint8_t tile_flags;
} rfb_dir_t;

/** What the handshake established (the pixel format is ServerInit's 16 bytes). */
typedef struct {
    int minor;               /**< 3, 7 or 8: the version both sides speak */
    char client_version[12]; /**< the client's ProtocolVersion line, as sent */
    uint8_t sec_type;        /**< chosen security type (1 None, 2 VNC auth) */
    uint8_t shared;          /**< ClientInit's shared flag */
    uint16_t width, height;  /**< framebuffer size (updated by DesktopSize) */
    uint8_t server_pf[16];   /**< ServerInit's pixel format */
    uint8_t client_pf[16];   /**< the client's SetPixelFormat, if any */
    bool client_pf_set;
    int32_t encodings[RFB_MAX_ENCODINGS]; /**< the client's SetEncodings, filtered */
    size_t n_encodings;
    bool encodings_set;
    char name[RFB_NAME_MAX]; /**< desktop name (not NUL-terminated past name_len) */
    size_t name_len;
} rfb_session_t;

typedef struct {
    rfb_dir_t s2c, c2s;
    rfb_session_t sess;
    bool off;            /**< lost track: bytes pass unchanged, no resume */
    bool established;    /**< ServerInit seen: normal messages flow */
    bool c2s_drop;       /**< resumed inside a client message: drop the rest of it */
    const char *why_off; /**< static text: why tracking stopped */
} rfb_track_t;

/** @brief Start tracking a new session (from the first byte of each direction). */
void rfb_track_init(rfb_track_t *t);

/** @brief Observe @p len bytes from the server (they go to the client unchanged). */
void rfb_track_s2c(rfb_track_t *t, const uint8_t *data, size_t len);

/**
 * @brief Pass @p len bytes from the client, writing what must go to the server into
 *        @p out (at most @p cap bytes; the output of one input byte is never larger than
 *        RFB_HDR_MAX + 4 * RFB_MAX_ENCODINGS + 4, so cap >= len + that is always enough).
 * @param used receives how many input bytes were consumed (all unless out filled up)
 * @returns bytes written to @p out
 */
size_t rfb_track_c2s(rfb_track_t *t, const uint8_t *data, size_t len, size_t *used, uint8_t *out,
                     size_t cap);

/** @brief True at a message boundary of the server's stream. */
bool rfb_track_s2c_at_boundary(const rfb_track_t *t);

/**
 * @brief The server went away in the middle of a message: the number of zero bytes that
 *        complete what the client has, at most @p max at a time. Feed them to the client
 *        and to rfb_track_s2c() (zeros), and call again until it returns 0.
 */
size_t rfb_track_s2c_padding(const rfb_track_t *t, size_t max);

/** @brief True when the session can continue on a new server (normal phase, tracked,
 *         security None). */
bool rfb_track_resumable(const rfb_track_t *t);

/* ---- resuming on a new server: the agent plays the client's handshake ---- */

typedef enum {
    RFB_RESUME_MORE,  /**< feed more server bytes */
    RFB_RESUME_DONE,  /**< handshake done: send the replay bytes, then splice */
    RFB_RESUME_FAILED /**< the new server cannot continue this session (why in text) */
} rfb_resume_status_t;

typedef struct {
    int state;
    uint8_t buf[RFB_HDR_MAX + RFB_NAME_MAX];
    size_t have, want;
    uint16_t width, height; /**< the new server's framebuffer */
    const char *why;        /**< static text on RFB_RESUME_FAILED */
} rfb_resume_t;

void rfb_resume_init(rfb_resume_t *r);

/**
 * @brief Feed the new server's handshake bytes.
 * @param used receives the bytes consumed (the rest belongs to the spliced stream)
 * @param out, cap, out_len what to send to the server now (handshake replies and, on DONE,
 *        the session's SetPixelFormat, SetEncodings and a full update request)
 * @param to_client, tc_cap, tc_len on DONE, what to send to the client first (a
 *        DesktopSize update when the new framebuffer differs and the client accepts it)
 */
rfb_resume_status_t rfb_resume_feed(rfb_resume_t *r, rfb_track_t *t, const uint8_t *data,
                                    size_t len, size_t *used, uint8_t *out, size_t cap,
                                    size_t *out_len, uint8_t *to_client, size_t tc_cap,
                                    size_t *tc_len);

/** @brief True for encodings the tracker can follow across a server change. */
bool rfb_encoding_followable(int32_t enc);

#endif
