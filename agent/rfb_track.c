/*
 * rfb_track.c - RFB 3.3/3.7/3.8 message boundaries in both directions, the client's
 * SetEncodings kept to encodings whose length is computable and stateless, zero padding
 * of a cut update, and the client side of a handshake with a new server (see
 * rfb_track.h). RFC 6143 for every layout used here. Pure: must not do I/O or log.
 */
#include "rfb_track.h"

#include <string.h>

enum {
    /* server -> client */
    S_VERSION,
    S_SECTYPES,   /* 3.7+: count, then the list */
    S_SECTYPE_33, /* 3.3: the server's u32 choice */
    S_REASON_LEN, /* a failure reason's length, then off */
    S_AFTER_SEC,  /* VNC auth challenge, or SecurityResult, or straight to ServerInit */
    S_CHALLENGE,  /* VNC auth: 16-byte challenge seen, SecurityResult next */
    S_SECRESULT,  /* u32 */
    S_SERVERINIT, /* 24 bytes, then the name */
    S_NAME,       /* name bytes (skipped, first RFB_NAME_MAX kept) */
    S_MSG,        /* a message type */
    S_FBU,        /* FramebufferUpdate header */
    S_COLOURMAP,  /* SetColourMapEntries header */
    S_CUTTEXT,    /* ServerCutText header */
    S_RECT,       /* a rectangle header */
    S_RRE,        /* RRE: subrect count and background */
    S_EXTDESKTOP, /* ExtendedDesktopSize: screen count */
    S_TILE,       /* Hextile: subencoding byte */
    S_TILE_HDR,   /* Hextile: background, foreground, subrect count */
    /* client -> server */
    C_VERSION,
    C_SECCHOICE,
    C_AFTER_SEC, /* VNC auth response, or ClientInit */
    C_CLIENTINIT,
    C_MSG,
    C_FIXED,       /* a fixed-size message being collected (want = its size) */
    C_ENC_HDR,     /* SetEncodings: type, pad, count */
    C_ENC,         /* SetEncodings: one encoding */
    C_CUT_HDR,     /* ClientCutText header */
    C_DESKTOP_HDR, /* SetDesktopSize header */
    C_QEMU,        /* QEMU client message: type and subtype */
};

#define ENC_RAW          0
#define ENC_COPYRECT     1
#define ENC_RRE          2
#define ENC_HEXTILE      5
#define ENC_DESKTOP_SIZE (-223)
#define ENC_CURSOR       (-239)
#define ENC_QEMU_EXT_KEY (-258)
#define ENC_EXT_DESKTOP  (-308)

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool rfb_encoding_followable(int32_t enc)
{
    switch (enc) {
    case ENC_RAW:
    case ENC_COPYRECT:
    case ENC_RRE:
    case ENC_HEXTILE:
    case ENC_DESKTOP_SIZE:
    case ENC_CURSOR:
    case ENC_QEMU_EXT_KEY:
    case ENC_EXT_DESKTOP:
        return true;
    default:
        /* JPEG quality and compression level hints: no data of their own */
        return (enc >= -32 && enc <= -23) || (enc >= -256 && enc <= -247);
    }
}

static void lose(rfb_track_t *t, const char *why)
{
    if (!t->off)
        t->why_off = why;
    t->off = true;
}

static void expect(rfb_dir_t *d, int state, size_t want)
{
    d->state = state;
    d->have = 0;
    d->want = want;
}

void rfb_track_init(rfb_track_t *t)
{
    memset(t, 0, sizeof(*t));
    expect(&t->s2c, S_VERSION, 12);
    expect(&t->c2s, C_VERSION, 12);
}

static int version_minor(const uint8_t *v)
{
    if (memcmp(v, "RFB 003.", 8) != 0)
        return -1;
    if (v[10] == '8')
        return 8;
    if (v[10] == '7')
        return 7;
    return 3; /* 3.3, and 3.5 or unknown ones, which RFC 6143 says to treat as 3.3 */
}

static size_t bytes_pp(const rfb_track_t *t)
{
    const uint8_t *pf = t->sess.client_pf_set ? t->sess.client_pf : t->sess.server_pf;
    return pf[0] / 8 ? (size_t)(pf[0] / 8) : 1;
}

/* ------------------------------------------------------------------ server -> client */

static void next_rect(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;

    if (d->rects > 0)
        d->rects--;
    if (d->rects == 0)
        expect(d, S_MSG, 1);
    else
        expect(d, S_RECT, 12);
}

static void tile_dims(const rfb_dir_t *d, uint32_t *tw, uint32_t *th)
{
    uint32_t col = d->tile_i % d->tiles_x, row = d->tile_i / d->tiles_x;
    *tw = d->rect_w - 16 * col < 16 ? d->rect_w - 16 * col : 16;
    *th = d->rect_h - 16 * row < 16 ? d->rect_h - 16 * row : 16;
}

static void next_tile(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;

    if (++d->tile_i >= d->tiles)
        next_rect(t);
    else
        expect(d, S_TILE, 1);
}

static void on_tile(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;
    uint8_t f = d->hdr[0];
    size_t bpp = bytes_pp(t), n = 0;
    uint32_t tw, th;

    d->tile_flags = f;
    if (f & 1) { /* Raw tile */
        tile_dims(d, &tw, &th);
        d->skip = (uint64_t)tw * th * bpp;
        next_tile(t);
        return;
    }
    n = (f & 2 ? bpp : 0) + (f & 4 ? bpp : 0) + (f & 8 ? 1 : 0);
    if (n == 0)
        next_tile(t);
    else
        expect(d, S_TILE_HDR, n);
}

static void on_tile_hdr(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;
    uint8_t f = d->tile_flags;

    if (f & 8)
        d->skip = (uint64_t)d->hdr[d->want - 1] * ((f & 16 ? bytes_pp(t) : 0) + 2);
    next_tile(t);
}

static void on_rect(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;
    uint32_t w = be16(d->hdr + 4), h = be16(d->hdr + 6);
    int32_t enc = (int32_t)be32(d->hdr + 8);
    size_t bpp = bytes_pp(t);

    switch (enc) {
    case ENC_RAW:
        d->skip = (uint64_t)w * h * bpp;
        next_rect(t);
        return;
    case ENC_COPYRECT:
        d->skip = 4;
        next_rect(t);
        return;
    case ENC_RRE:
        expect(d, S_RRE, 4 + bpp);
        return;
    case ENC_HEXTILE:
        d->rect_w = w;
        d->rect_h = h;
        d->tiles_x = (w + 15) / 16;
        d->tiles = d->tiles_x * ((h + 15) / 16);
        d->tile_i = 0;
        if (d->tiles == 0)
            next_rect(t);
        else
            expect(d, S_TILE, 1);
        return;
    case ENC_DESKTOP_SIZE:
        t->sess.width = (uint16_t)w;
        t->sess.height = (uint16_t)h;
        next_rect(t);
        return;
    case ENC_CURSOR:
        d->skip = (uint64_t)w * h * bpp + (uint64_t)((w + 7) / 8) * h;
        next_rect(t);
        return;
    case ENC_QEMU_EXT_KEY:
        next_rect(t);
        return;
    case ENC_EXT_DESKTOP:
        t->sess.width = (uint16_t)w;
        t->sess.height = (uint16_t)h;
        expect(d, S_EXTDESKTOP, 4);
        return;
    default:
        lose(t, "the server sent an encoding the relay cannot follow");
    }
}

static void on_msg_type(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;

    switch (d->hdr[0]) {
    case 0:
        d->state = S_FBU;
        d->want = 4;
        return;
    case 1:
        d->state = S_COLOURMAP;
        d->want = 6;
        return;
    case 2: /* Bell */
        expect(d, S_MSG, 1);
        return;
    case 3:
        d->state = S_CUTTEXT;
        d->want = 8;
        return;
    default:
        lose(t, "the server sent a message type the relay cannot follow");
    }
}

static void on_security(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;

    switch (t->sess.sec_type) {
    case 1: /* None: 3.8 sends a SecurityResult, older versions go on with ServerInit */
        if (t->sess.minor >= 8)
            expect(d, S_SECRESULT, 4);
        else
            expect(d, S_SERVERINIT, 24);
        return;
    case 2:
        expect(d, S_CHALLENGE, 16);
        return;
    default:
        lose(t, "a security type the relay cannot follow");
    }
}

/* The header of the current s2c state is complete: decide what follows. */
static void s2c_step(rfb_track_t *t)
{
    rfb_dir_t *d = &t->s2c;
    uint32_t n;

    switch (d->state) {
    case S_VERSION:
        t->sess.minor = version_minor(d->hdr);
        if (t->sess.minor < 0)
            lose(t, "not an RFB server");
        else if (t->sess.minor >= 7)
            expect(d, S_SECTYPES, 1);
        else
            expect(d, S_SECTYPE_33, 4);
        return;
    case S_SECTYPES:
        if (d->want == 1 && d->hdr[0] == 0) {
            expect(d, S_REASON_LEN, 4);
            return;
        }
        if (d->want == 1 && 1 + (size_t)d->hdr[0] > RFB_HDR_MAX) {
            lose(t, "too many security types");
            return;
        }
        if (d->want == 1) {
            d->want = 1 + (size_t)d->hdr[0];
            return;
        }
        expect(d, S_AFTER_SEC, 0); /* nothing more until the client chooses */
        return;
    case S_SECTYPE_33:
        n = be32(d->hdr);
        if (n == 0) {
            expect(d, S_REASON_LEN, 4);
            return;
        }
        t->sess.sec_type = (uint8_t)n;
        on_security(t);
        return;
    case S_REASON_LEN:
        d->skip = be32(d->hdr);
        lose(t, "the server refused the connection");
        return;
    case S_CHALLENGE:
        expect(d, S_SECRESULT, 4);
        return;
    case S_SECRESULT:
        if (be32(d->hdr) != 0)
            lose(t, "security handshake failed");
        else
            expect(d, S_SERVERINIT, 24);
        return;
    case S_SERVERINIT:
        t->sess.width = be16(d->hdr);
        t->sess.height = be16(d->hdr + 2);
        memcpy(t->sess.server_pf, d->hdr + 4, 16);
        n = be32(d->hdr + 20);
        t->sess.name_len = n < RFB_NAME_MAX ? n : RFB_NAME_MAX;
        expect(d, S_NAME, 0);
        d->skip = n;
        d->rects = 0; /* name bytes copied so far */
        if (n == 0) {
            t->established = true;
            expect(d, S_MSG, 1);
        }
        return;
    case S_MSG:
        on_msg_type(t);
        return;
    case S_FBU:
        d->rects = be16(d->hdr + 2);
        if (d->rects == 0)
            expect(d, S_MSG, 1);
        else
            expect(d, S_RECT, 12);
        return;
    case S_COLOURMAP:
        d->skip = 6 * (uint64_t)be16(d->hdr + 4);
        expect(d, S_MSG, 1);
        return;
    case S_CUTTEXT:
        d->skip = be32(d->hdr + 4);
        expect(d, S_MSG, 1);
        return;
    case S_RECT:
        on_rect(t);
        return;
    case S_RRE:
        d->skip = (uint64_t)be32(d->hdr) * (bytes_pp(t) + 8);
        next_rect(t);
        return;
    case S_EXTDESKTOP:
        d->skip = 16 * (uint64_t)d->hdr[0];
        next_rect(t);
        return;
    case S_TILE:
        on_tile(t);
        return;
    case S_TILE_HDR:
        on_tile_hdr(t);
        return;
    default:
        lose(t, "internal state");
    }
}

void rfb_track_s2c(rfb_track_t *t, const uint8_t *data, size_t len)
{
    rfb_dir_t *d = &t->s2c;

    while (len > 0 && !t->off) {
        if (d->skip > 0) {
            size_t n = d->skip < len ? (size_t)d->skip : len;
            if (d->state == S_NAME) { /* keep the first RFB_NAME_MAX bytes of the name */
                size_t at = d->rects, k = at < t->sess.name_len ? t->sess.name_len - at : 0;
                memcpy(t->sess.name + at, data, k < n ? k : n);
                d->rects += (uint32_t)n;
            }
            d->skip -= n;
            data += n;
            len -= n;
            if (d->state == S_NAME && d->skip == 0) {
                t->established = true;
                expect(d, S_MSG, 1);
            }
            continue;
        }
        if (d->want == 0) { /* S_AFTER_SEC: the client's choice decides */
            if (d->state != S_AFTER_SEC || !t->sess.sec_type) {
                lose(t, "the server spoke out of turn");
                return;
            }
            on_security(t);
            continue;
        }
        while (d->have < d->want && len > 0) {
            d->hdr[d->have++] = *data++;
            len--;
        }
        if (d->have == d->want)
            s2c_step(t); /* each step starts a new header (expect) or extends this one */
    }
}

bool rfb_track_s2c_at_boundary(const rfb_track_t *t)
{
    const rfb_dir_t *d = &t->s2c;
    return t->established && d->state == S_MSG && d->have == 0 && d->skip == 0;
}

size_t rfb_track_s2c_padding(const rfb_track_t *t, size_t max)
{
    const rfb_dir_t *d = &t->s2c;

    if (t->off || !t->established || rfb_track_s2c_at_boundary(t))
        return 0;
    if (d->skip > 0)
        return d->skip < max ? (size_t)d->skip : max;
    return d->want - d->have < max ? d->want - d->have : max;
}

bool rfb_track_resumable(const rfb_track_t *t)
{
    return !t->off && t->established && t->sess.sec_type == 1 && t->c2s.state >= C_MSG;
}

/* ------------------------------------------------------------------ client -> server */

static size_t emit(uint8_t *out, const uint8_t *src, size_t n)
{
    memcpy(out, src, n);
    return n;
}

/* SetEncodings as the server will see it: the followable encodings the client sent. */
static size_t emit_encodings(const rfb_session_t *s, uint8_t *out)
{
    out[0] = 2;
    out[1] = 0;
    put16(out + 2, (uint16_t)s->n_encodings);
    for (size_t i = 0; i < s->n_encodings; i++)
        put32(out + 4 + 4 * i, (uint32_t)s->encodings[i]);
    return 4 + 4 * s->n_encodings;
}

static size_t on_c2s_msg(rfb_track_t *t, uint8_t *out)
{
    rfb_dir_t *d = &t->c2s;

    switch (d->hdr[0]) {
    case 0: /* SetPixelFormat */
    case 3: /* FramebufferUpdateRequest */
    case 4: /* KeyEvent */
    case 5: /* PointerEvent */
        d->state = C_FIXED;
        d->want = d->hdr[0] == 0 ? 20 : d->hdr[0] == 3 ? 10 : d->hdr[0] == 4 ? 8 : 6;
        return 0;
    case 2:
        d->state = C_ENC_HDR;
        d->want = 4;
        return 0;
    case 6:
        d->state = C_CUT_HDR;
        d->want = 8;
        return 0;
    case 251:
        d->state = C_DESKTOP_HDR;
        d->want = 8;
        return 0;
    case 255:
        d->state = C_QEMU;
        d->want = 2;
        return 0;
    default:
        lose(t, "the client sent a message type the relay cannot follow");
        return emit(out, d->hdr, d->have);
    }
}

/* The header of the current c2s state is complete: what goes out, and what follows. */
static size_t c2s_step(rfb_track_t *t, uint8_t *out)
{
    rfb_dir_t *d = &t->c2s;
    rfb_session_t *s = &t->sess;
    size_t n;
    int32_t enc;

    switch (d->state) {
    case C_VERSION:
        memcpy(s->client_version, d->hdr, 12);
        if (version_minor(d->hdr) >= 0 && version_minor(d->hdr) < s->minor)
            s->minor = version_minor(d->hdr);
        if (s->minor >= 7)
            expect(d, C_SECCHOICE, 1);
        else
            expect(d, C_AFTER_SEC, 0);
        return emit(out, d->hdr, 12);
    case C_SECCHOICE:
        s->sec_type = d->hdr[0];
        expect(d, C_AFTER_SEC, 0);
        return emit(out, d->hdr, 1);
    case C_AFTER_SEC: /* VNC auth response */
        expect(d, C_CLIENTINIT, 1);
        return emit(out, d->hdr, 16);
    case C_CLIENTINIT:
        s->shared = d->hdr[0];
        expect(d, C_MSG, 1);
        return emit(out, d->hdr, 1);
    case C_MSG:
        return on_c2s_msg(t, out);
    case C_FIXED:
        if (d->hdr[0] == 0) {
            memcpy(s->client_pf, d->hdr + 4, 16);
            s->client_pf_set = true;
        }
        n = emit(out, d->hdr, d->want);
        expect(d, C_MSG, 1);
        return n;
    case C_ENC_HDR:
        d->rects = be16(d->hdr + 2);
        s->n_encodings = 0;
        s->encodings_set = true;
        if (d->rects == 0) {
            expect(d, C_MSG, 1);
            return emit_encodings(s, out);
        }
        expect(d, C_ENC, 4);
        return 0;
    case C_ENC:
        enc = (int32_t)be32(d->hdr);
        if (rfb_encoding_followable(enc) && s->n_encodings < RFB_MAX_ENCODINGS)
            s->encodings[s->n_encodings++] = enc;
        if (--d->rects > 0) {
            expect(d, C_ENC, 4);
            return 0;
        }
        expect(d, C_MSG, 1);
        return emit_encodings(s, out);
    case C_CUT_HDR:
        n = emit(out, d->hdr, 8);
        expect(d, C_MSG, 1);
        d->skip = be32(d->hdr + 4);
        return n;
    case C_DESKTOP_HDR:
        n = emit(out, d->hdr, 8);
        expect(d, C_MSG, 1);
        d->skip = 16 * (uint64_t)d->hdr[6];
        return n;
    case C_QEMU:
        if (d->want == 2 && d->hdr[1] == 0) { /* extended key event: 12 bytes in all */
            d->want = 12;
            return 0;
        }
        if (d->want != 12) {
            lose(t, "a QEMU client message the relay cannot follow");
            return emit(out, d->hdr, d->have);
        }
        n = emit(out, d->hdr, 12);
        expect(d, C_MSG, 1);
        return n;
    default:
        lose(t, "internal state");
        return emit(out, d->hdr, d->have);
    }
}

#define C2S_SLACK (RFB_HDR_MAX + 4 * RFB_MAX_ENCODINGS + 4)

size_t rfb_track_c2s(rfb_track_t *t, const uint8_t *data, size_t len, size_t *used, uint8_t *out,
                     size_t cap)
{
    rfb_dir_t *d = &t->c2s;
    size_t o = 0, in = 0;

    while (in < len) {
        if (t->off) { /* untracked: the bytes pass unchanged */
            size_t n = len - in < cap - o ? len - in : cap - o;
            memcpy(out + o, data + in, n);
            o += n;
            in += n;
            break;
        }
        if (o + C2S_SLACK > cap)
            break;
        if (d->skip > 0) {
            size_t n = d->skip < len - in ? (size_t)d->skip : len - in;
            if (n > cap - o - C2S_SLACK)
                n = cap - o - C2S_SLACK;
            if (!t->c2s_drop) /* the rest of a message the old server got the start of */
                memcpy(out + o, data + in, n);
            o += t->c2s_drop ? 0 : n;
            in += n;
            d->skip -= n;
            t->c2s_drop = t->c2s_drop && d->skip > 0;
            continue;
        }
        if (d->want == 0) { /* C_AFTER_SEC: VNC auth response, or straight to ClientInit */
            if (t->sess.sec_type == 2)
                expect(d, C_AFTER_SEC, 16);
            else if (t->sess.sec_type == 1)
                expect(d, C_CLIENTINIT, 1);
            else
                lose(t, "a security type the relay cannot follow");
            continue;
        }
        d->hdr[d->have++] = data[in++];
        if (d->have == d->want)
            o += c2s_step(t, out + o); /* starts a new header or extends this one */
    }
    *used = in;
    return o;
}

/* ------------------------------------------------------------------ resuming */

enum { R_VERSION, R_SECTYPES, R_SECTYPE_33, R_SECRESULT, R_SERVERINIT, R_NAME };

void rfb_resume_init(rfb_resume_t *r)
{
    memset(r, 0, sizeof(*r));
    r->state = R_VERSION;
    r->want = 12;
}

static rfb_resume_status_t resume_fail(rfb_resume_t *r, const char *why)
{
    r->why = why;
    return RFB_RESUME_FAILED;
}

static bool has_encoding(const rfb_session_t *s, int32_t enc)
{
    for (size_t i = 0; i < s->n_encodings; i++)
        if (s->encodings[i] == enc)
            return true;
    return false;
}

/* The new server is ready: what restores the client's view of the session. */
static rfb_resume_status_t resume_done(rfb_resume_t *r, rfb_track_t *t, uint8_t *out,
                                       size_t *out_len, uint8_t *tc, size_t *tc_len)
{
    rfb_session_t *s = &t->sess;
    size_t o = *out_len;

    if (r->width != s->width || r->height != s->height) {
        if (!has_encoding(s, ENC_DESKTOP_SIZE))
            return resume_fail(r, "the console's size changed and the client cannot resize");
        tc[0] = 0;
        tc[1] = 0;
        put16(tc + 2, 1);
        memset(tc + 4, 0, 4);
        put16(tc + 8, r->width);
        put16(tc + 10, r->height);
        put32(tc + 12, (uint32_t)ENC_DESKTOP_SIZE);
        *tc_len = 16;
        s->width = r->width;
        s->height = r->height;
    }
    out[o] = 0; /* SetPixelFormat: the format the client reads, whatever the server's */
    memset(out + o + 1, 0, 3);
    memcpy(out + o + 4, s->client_pf_set ? s->client_pf : s->server_pf, 16);
    o += 20;
    if (s->encodings_set)
        o += emit_encodings(s, out + o);
    out[o] = 3; /* a full update: the client sees the new screen at once */
    out[o + 1] = 0;
    memset(out + o + 2, 0, 4);
    put16(out + o + 6, s->width);
    put16(out + o + 8, s->height);
    o += 10;
    *out_len = o;
    expect(&t->s2c, S_MSG, 1);
    t->s2c.skip = 0;
    t->c2s_drop = t->c2s.skip > 0;
    return RFB_RESUME_DONE;
}

static rfb_resume_status_t resume_step(rfb_resume_t *r, rfb_track_t *t, uint8_t *out,
                                       size_t *out_len, uint8_t *tc, size_t *tc_len)
{
    rfb_session_t *s = &t->sess;
    int minor;

    switch (r->state) {
    case R_VERSION:
        minor = version_minor(r->buf);
        if (minor < s->minor)
            return resume_fail(r, "the new console speaks an older RFB version");
        memcpy(out + *out_len, s->client_version, 12);
        *out_len += 12;
        r->state = s->minor >= 7 ? R_SECTYPES : R_SECTYPE_33;
        r->want = s->minor >= 7 ? 1 : 4;
        break;
    case R_SECTYPES:
        if (r->buf[0] == 0)
            return resume_fail(r, "the new console refused the connection");
        if (r->want == 1) {
            r->want = 1 + (size_t)r->buf[0];
            return RFB_RESUME_MORE;
        }
        if (!memchr(r->buf + 1, 1, r->want - 1))
            return resume_fail(r, "the new console wants authentication");
        out[(*out_len)++] = 1;
        if (s->minor >= 8) {
            r->state = R_SECRESULT;
            r->want = 4;
            break;
        }
        out[(*out_len)++] = s->shared;
        r->state = R_SERVERINIT;
        r->want = 24;
        break;
    case R_SECTYPE_33:
        if (be32(r->buf) != 1)
            return resume_fail(r, "the new console wants authentication");
        out[(*out_len)++] = s->shared;
        r->state = R_SERVERINIT;
        r->want = 24;
        break;
    case R_SECRESULT:
        if (be32(r->buf) != 0)
            return resume_fail(r, "the new console refused the connection");
        out[(*out_len)++] = s->shared;
        r->state = R_SERVERINIT;
        r->want = 24;
        break;
    case R_SERVERINIT:
        r->width = be16(r->buf);
        r->height = be16(r->buf + 2);
        r->state = R_NAME;
        r->want = be32(r->buf + 20); /* counted down, not collected */
        if (r->want == 0)
            return resume_done(r, t, out, out_len, tc, tc_len);
        return RFB_RESUME_MORE;
    default:
        break;
    }
    r->have = 0;
    return RFB_RESUME_MORE;
}

rfb_resume_status_t rfb_resume_feed(rfb_resume_t *r, rfb_track_t *t, const uint8_t *data,
                                    size_t len, size_t *used, uint8_t *out, size_t cap,
                                    size_t *out_len, uint8_t *to_client, size_t tc_cap,
                                    size_t *tc_len)
{
    rfb_resume_status_t st = RFB_RESUME_MORE;
    size_t in = 0;

    *out_len = 0;
    *tc_len = 0;
    if (cap < 64 + 4 * RFB_MAX_ENCODINGS || tc_cap < 16)
        return resume_fail(r, "buffers too small");
    while (in < len && st == RFB_RESUME_MORE) {
        if (r->state == R_NAME) {
            size_t n = r->want < len - in ? r->want : len - in;
            in += n;
            r->want -= n;
            if (r->want == 0)
                st = resume_done(r, t, out, out_len, to_client, tc_len);
            continue;
        }
        r->buf[r->have++] = data[in++];
        if (r->have == r->want)
            st = resume_step(r, t, out, out_len, to_client, tc_len);
    }
    *used = in;
    return st;
}
