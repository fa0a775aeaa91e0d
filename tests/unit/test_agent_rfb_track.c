/* Unit tests of agent/rfb_track.c: the handshake recorded, message boundaries of updates
 * in Raw, Hextile, RRE and CopyRect fed byte by byte and in one piece, SetEncodings kept
 * to followable encodings, padding of an update cut in the middle, what makes a session
 * not resumable, and the client side of the handshake with a new server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "rfb_track.h"

typedef struct {
    uint8_t b[1 << 16];
    size_t n;
} bytes_t;

static void put(bytes_t *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof(o->b));
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void u8(bytes_t *o, uint8_t v)
{
    put(o, &v, 1);
}

static void u16(bytes_t *o, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(o, b, 2);
}

static void u32(bytes_t *o, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(o, b, 4);
}

static void zeros(bytes_t *o, size_t n)
{
    assert_true(o->n + n <= sizeof(o->b));
    memset(o->b + o->n, 0, n);
    o->n += n;
}

/* A 3.8 server's side up to and including ServerInit (32 bpp, w x h, name). */
static void server_hello(bytes_t *s)
{
    put(s, "RFB 003.008\n", 12);
    u8(s, 1); /* one security type: None */
    u8(s, 1);
}

static void server_init(bytes_t *s, uint16_t w, uint16_t h, const char *name)
{
    u32(s, 0); /* SecurityResult OK */
    u16(s, w);
    u16(s, h);
    u8(s, 32);
    u8(s, 24);
    u8(s, 0);
    u8(s, 1);
    u16(s, 255);
    u16(s, 255);
    u16(s, 255);
    u8(s, 16);
    u8(s, 8);
    u8(s, 0);
    zeros(s, 3);
    u32(s, (uint32_t)strlen(name));
    put(s, name, strlen(name));
}

static void client_hello(bytes_t *c)
{
    put(c, "RFB 003.008\n", 12);
    u8(c, 1);
    u8(c, 1); /* shared */
}

static void feed_s2c(rfb_track_t *t, const bytes_t *s, bool bytewise)
{
    if (!bytewise) {
        rfb_track_s2c(t, s->b, s->n);
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        rfb_track_s2c(t, s->b + i, 1);
}

static size_t feed_c2s(rfb_track_t *t, const bytes_t *c, uint8_t *out, size_t cap)
{
    size_t used = 0, n = rfb_track_c2s(t, c->b, c->n, &used, out, cap);
    assert_int_equal(used, c->n);
    return n;
}

/* A session established through the tracker, as the relay sees it. */
static void establish(rfb_track_t *t, bool bytewise)
{
    bytes_t s = {0}, c = {0};
    uint8_t out[1024];

    rfb_track_init(t);
    server_hello(&s);
    feed_s2c(t, &s, bytewise);
    client_hello(&c);
    assert_int_equal(feed_c2s(t, &c, out, sizeof(out)), 14);
    assert_memory_equal(out, c.b, 14);
    s.n = 0;
    server_init(&s, 640, 480, "vm-1");
    feed_s2c(t, &s, bytewise);
    assert_true(t->established);
    assert_true(rfb_track_s2c_at_boundary(t));
}

static void test_handshake_recorded(void **state)
{
    rfb_track_t t;

    (void)state;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        establish(&t, bytewise);
        assert_int_equal(t.sess.minor, 8);
        assert_int_equal(t.sess.sec_type, 1);
        assert_int_equal(t.sess.shared, 1);
        assert_int_equal(t.sess.width, 640);
        assert_int_equal(t.sess.height, 480);
        assert_int_equal(t.sess.server_pf[0], 32);
        assert_int_equal(t.sess.name_len, 4);
        assert_memory_equal(t.sess.name, "vm-1", 4);
        assert_memory_equal(t.sess.client_version, "RFB 003.008\n", 12);
        assert_true(rfb_track_resumable(&t));
    }
}

/* An update of four rectangles: Raw, CopyRect, RRE (2 subrects), Hextile 20x17 (4 tiles:
 * raw, background+foreground+coloured subrects, plain subrects, no bits). */
static void update(bytes_t *s)
{
    u8(s, 0);
    u8(s, 0);
    u16(s, 4);
    u16(s, 0), u16(s, 0), u16(s, 3), u16(s, 2), u32(s, 0); /* Raw 3x2 */
    zeros(s, 3 * 2 * 4);
    u16(s, 1), u16(s, 1), u16(s, 8), u16(s, 8), u32(s, 1); /* CopyRect */
    zeros(s, 4);
    u16(s, 0), u16(s, 0), u16(s, 10), u16(s, 10), u32(s, 2); /* RRE */
    u32(s, 2);
    zeros(s, 4 + 2 * (4 + 8));
    u16(s, 0), u16(s, 0), u16(s, 20), u16(s, 17), u32(s, 5); /* Hextile: tiles 16x16, 4x16, ... */
    u8(s, 1);
    zeros(s, 16 * 16 * 4); /* raw tile */
    u8(s, 2 | 4 | 8 | 16);
    zeros(s, 4 + 4);
    u8(s, 2);
    zeros(s, 2 * (4 + 2)); /* 2 coloured subrects */
    u8(s, 8);
    u8(s, 3);
    zeros(s, 3 * 2); /* 3 plain subrects */
    u8(s, 0);        /* nothing: same background */
}

static void test_update_boundaries(void **state)
{
    rfb_track_t t;
    bytes_t s = {0};

    (void)state;
    update(&s);
    u8(&s, 2); /* Bell */
    u8(&s, 3); /* ServerCutText "hi" */
    zeros(&s, 3);
    u32(&s, 2);
    put(&s, "hi", 2);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        establish(&t, false);
        /* each prefix but the whole ends inside a message */
        for (size_t cut = 1; cut < s.n; cut += bytewise ? 1 : s.n) {
            rfb_track_t u = t;
            rfb_track_s2c(&u, s.b, cut);
            if (cut == s.n - 11 || cut == s.n - 10)
                continue; /* right after the update, and after the Bell: boundaries */
            assert_false(rfb_track_s2c_at_boundary(&u));
        }
        feed_s2c(&t, &s, bytewise);
        assert_false(t.off);
        assert_true(rfb_track_s2c_at_boundary(&t));
    }
}

static void test_padding_completes_a_cut_update(void **state)
{
    rfb_track_t t;
    bytes_t s = {0};
    uint8_t zero[4096] = {0};

    (void)state;
    update(&s);
    for (size_t cut = 1; cut < s.n; cut += 7) {
        size_t padded = 0, n;
        establish(&t, false);
        rfb_track_s2c(&t, s.b, cut);
        while ((n = rfb_track_s2c_padding(&t, sizeof(zero))) > 0) {
            rfb_track_s2c(&t, zero, n);
            padded += n;
            assert_true(padded < 1 << 20);
        }
        assert_false(t.off);
        assert_true(rfb_track_s2c_at_boundary(&t));
        assert_true(rfb_track_resumable(&t));
    }
}

static void test_set_encodings_filtered(void **state)
{
    rfb_track_t t;
    bytes_t c = {0};
    uint8_t out[1024];
    size_t n;

    (void)state;
    establish(&t, false);
    u8(&c, 2);
    u8(&c, 0);
    u16(&c, 6);
    u32(&c, 7);                                      /* Tight: stateful zlib streams, dropped */
    u32(&c, 16);                                     /* ZRLE: dropped */
    u32(&c, 5);                                      /* Hextile */
    u32(&c, 0);                                      /* Raw */
    u32(&c, (uint32_t)-223);                         /* DesktopSize */
    u32(&c, (uint32_t)-312);                         /* Fence: dropped */
    u8(&c, 4), u8(&c, 1), u16(&c, 0), u32(&c, 0x61); /* KeyEvent 'a' down */
    n = feed_c2s(&t, &c, out, sizeof(out));
    assert_int_equal(n, 4 + 3 * 4 + 8);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[3], 3);
    assert_int_equal(out[7], 5);
    assert_int_equal(out[11], 0);
    assert_int_equal(out[15], (uint8_t)-223);
    assert_int_equal(out[16], 4);
    assert_int_equal(out[23], 0x61);
    assert_int_equal(t.sess.n_encodings, 3);
    assert_true(rfb_encoding_followable(-239));
    assert_false(rfb_encoding_followable(7));
}

static void test_untrackable_turns_off(void **state)
{
    rfb_track_t t;
    bytes_t s = {0}, c = {0};
    uint8_t out[1024];

    (void)state;
    /* an encoding the client never got to ask for (Tight) */
    establish(&t, false);
    u8(&s, 0), u8(&s, 0), u16(&s, 1);
    u16(&s, 0), u16(&s, 0), u16(&s, 1), u16(&s, 1), u32(&s, 7);
    rfb_track_s2c(&t, s.b, s.n);
    assert_true(t.off);
    assert_false(rfb_track_resumable(&t));
    assert_int_equal(rfb_track_s2c_padding(&t, 100), 0);
    /* an unknown client message: the bytes still pass */
    establish(&t, false);
    u8(&c, 200), u8(&c, 1), u8(&c, 2);
    assert_int_equal(feed_c2s(&t, &c, out, sizeof(out)), 3);
    assert_memory_equal(out, c.b, 3);
    assert_true(t.off);
    /* VNC authentication: followed, but not resumable */
    rfb_track_init(&t);
    s.n = 0;
    put(&s, "RFB 003.008\n", 12);
    u8(&s, 1), u8(&s, 2);
    rfb_track_s2c(&t, s.b, s.n);
    c.n = 0;
    put(&c, "RFB 003.008\n", 12);
    u8(&c, 2);
    zeros(&c, 16);
    u8(&c, 0);
    assert_int_equal(feed_c2s(&t, &c, out, sizeof(out)), 30);
    s.n = 0;
    zeros(&s, 16); /* challenge */
    server_init(&s, 100, 100, "x");
    rfb_track_s2c(&t, s.b, s.n);
    assert_true(t.established);
    assert_false(t.off);
    assert_false(rfb_track_resumable(&t));
}

/* The new server's handshake, answered for the client; then the client's state replayed. */
static void test_resume(void **state)
{
    rfb_track_t t;
    rfb_resume_t r;
    bytes_t s = {0}, c = {0};
    uint8_t out[1024], tc[64];
    size_t used, ol, tl;
    rfb_resume_status_t st;

    (void)state;
    establish(&t, false);
    u8(&c, 0), zeros(&c, 3); /* SetPixelFormat: 16 bpp */
    u8(&c, 16), u8(&c, 16), u8(&c, 0), u8(&c, 1), u16(&c, 31), u16(&c, 63), u16(&c, 31);
    u8(&c, 11), u8(&c, 5), u8(&c, 0), zeros(&c, 3);
    u8(&c, 2), u8(&c, 0), u16(&c, 2), u32(&c, 0), u32(&c, (uint32_t)-223);
    feed_c2s(&t, &c, out, sizeof(out));
    assert_true(t.sess.client_pf_set);

    rfb_resume_init(&r);
    server_hello(&s);
    st = rfb_resume_feed(&r, &t, s.b, s.n, &used, out, sizeof(out), &ol, tc, sizeof(tc), &tl);
    assert_int_equal(st, RFB_RESUME_MORE);
    assert_int_equal(used, s.n);
    assert_int_equal(ol, 13); /* our version line, then security type None */
    assert_memory_equal(out, "RFB 003.008\n\x01", 13);
    s.n = 0;
    server_init(&s, 800, 600, "vm-1 again");
    u8(&s, 2); /* a Bell right behind ServerInit belongs to the spliced stream */
    st = rfb_resume_feed(&r, &t, s.b, s.n, &used, out, sizeof(out), &ol, tc, sizeof(tc), &tl);
    assert_int_equal(st, RFB_RESUME_DONE);
    assert_int_equal(used, s.n - 1);
    /* ClientInit, SetPixelFormat (the client's), SetEncodings, a full update request */
    assert_int_equal(ol, 1 + 20 + 12 + 10);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[5], 16);
    assert_int_equal(out[21], 2);
    assert_int_equal(out[33], 3);
    assert_int_equal(out[39] << 8 | out[40], 800);
    /* the size changed and the client takes DesktopSize: told first */
    assert_int_equal(tl, 16);
    assert_int_equal(tc[3], 1);
    assert_int_equal(tc[8] << 8 | tc[9], 800);
    assert_int_equal(t.sess.width, 800);
    assert_true(rfb_track_s2c_at_boundary(&t));
    rfb_track_s2c(&t, s.b + used, 1);
    assert_true(rfb_track_s2c_at_boundary(&t));

    /* a new server that wants a password cannot take the session */
    rfb_resume_init(&r);
    s.n = 0;
    put(&s, "RFB 003.008\n", 12);
    u8(&s, 1), u8(&s, 2);
    st = rfb_resume_feed(&r, &t, s.b, s.n, &used, out, sizeof(out), &ol, tc, sizeof(tc), &tl);
    assert_int_equal(st, RFB_RESUME_FAILED);
    assert_non_null(r.why);
}

/* Without DesktopSize a changed size cannot be told to the client. */
static void test_resume_size_change_refused(void **state)
{
    rfb_track_t t;
    rfb_resume_t r;
    bytes_t s = {0};
    uint8_t out[1024], tc[64];
    size_t used, ol, tl;

    (void)state;
    establish(&t, false);
    rfb_resume_init(&r);
    server_hello(&s);
    server_init(&s, 1024, 768, "x");
    assert_int_equal(
        rfb_resume_feed(&r, &t, s.b, s.n, &used, out, sizeof(out), &ol, tc, sizeof(tc), &tl),
        RFB_RESUME_FAILED);
    s.n = 0;
    rfb_resume_init(&r);
    server_hello(&s);
    server_init(&s, 640, 480, "x");
    assert_int_equal(
        rfb_resume_feed(&r, &t, s.b, s.n, &used, out, sizeof(out), &ol, tc, sizeof(tc), &tl),
        RFB_RESUME_DONE);
    assert_int_equal(tl, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_recorded),
        cmocka_unit_test(test_update_boundaries),
        cmocka_unit_test(test_padding_completes_a_cut_update),
        cmocka_unit_test(test_set_encodings_filtered),
        cmocka_unit_test(test_untrackable_turns_off),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_resume_size_change_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
