/*
 * fuzz_xmlrpc.c - libFuzzer target for the XML-RPC decoder (common/xo_xmlrpc.c).
 * Decodes each input in one shot, in input-derived chunk sizes (same outcome required),
 * in streaming mode, and re-encodes what decoded (the encoding must decode again); in raw
 * streaming mode (the agent's ingest) each element's snapshot text must be json-c's bytes
 * for the tree streaming mode's snapshot, and both modes must end with the same error.
 * Must not: keep state between inputs, or touch files or the network.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xo_xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define MAX_ELEMS  1000

/* Each element's snapshot as json-c writes it ("" for none), in order. */
typedef struct {
    char *texts[MAX_ELEMS];
    size_t n;
} snaps_t;

static xo_err_t note_text(snaps_t *s, const char *text, size_t len)
{
    if (s->n == MAX_ELEMS)
        return XO_ERR_LIMIT;
    s->texts[s->n] = strndup(text, len);
    s->n++;
    return XO_OK;
}

static xo_err_t tree_snap(json_object *elem, void *opaque)
{
    json_object *snap = NULL;
    const char *text = "";
    size_t len = 0;
    xo_err_t err;

    if (json_object_object_get_ex(elem, "snapshot", &snap) &&
        json_object_is_type(snap, json_type_object))
        text = json_object_to_json_string_length(snap, JSON_FLAGS, &len);
    err = note_text(opaque, text, len);
    json_object_put(elem);
    return err;
}

static xo_err_t raw_snap(json_object *elem, const xo_xmlrpc_raw_t *raw, void *opaque)
{
    xo_err_t err = note_text(opaque, raw ? raw->json : "", raw ? raw->len : 0);

    json_object_put(elem);
    return err;
}

static xo_err_t drop_elem(json_object *elem, void *opaque)
{
    (*(size_t *)opaque)++;
    json_object_put(elem);
    return *(size_t *)opaque > 1000 ? XO_ERR_LIMIT : XO_OK;
}

/* Feed in chunks of 1..64 bytes chosen from the input's own bytes. */
static xo_err_t decode_chunked(const uint8_t *data, size_t size, bool stream, json_object **out)
{
    static const char *const path[] = {"Value", "events", NULL};
    xo_xmlrpc_limits_t lim = {.max_depth = 32, .max_string = 1 << 16, .max_total = 1 << 20};
    xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(&lim);
    size_t off = 0, n, count = 0;
    xo_err_t err = XO_OK;
    char errstr[256];

    *out = NULL;
    if (!dec)
        return XO_ERR_NOMEM;
    if (stream)
        xo_xmlrpc_decoder_set_stream(dec, path, drop_elem, &count);
    while (off < size && err == XO_OK) {
        n = 1 + (size_t)(data[(off * 7) % size] & 63);
        if (n > size - off)
            n = size - off;
        err = xo_xmlrpc_decoder_feed(dec, (const char *)data + off, n, errstr, sizeof errstr);
        off += n;
    }
    if (err == XO_OK)
        err = xo_xmlrpc_decoder_finish(dec, out, errstr, sizeof errstr);
    xo_xmlrpc_decoder_free(dec);
    return err;
}

static void check_reencode(json_object *v)
{
    char *doc = NULL, errstr[256];
    size_t len = 0;
    json_object *again = NULL;

    if (xo_xmlrpc_encode_response(v, &doc, &len, errstr, sizeof errstr) != XO_OK)
        return; /* e.g. base64 bytes that are not XML text */
    if (xo_xmlrpc_decode(doc, len, &again, errstr, sizeof errstr) != XO_OK)
        abort(); /* the encoder produced something the decoder refuses */
    json_object_put(again);
    free(doc);
}

/* Tree and raw streaming over the same input in the same chunks: same outcome, same bytes. */
static void check_raw_equals_tree(const uint8_t *data, size_t size)
{
    static const char *const path[] = {"Value", "events", NULL};
    xo_xmlrpc_limits_t lim = {.max_depth = 32, .max_string = 1 << 16, .max_total = 1 << 20};
    snaps_t snaps[2] = {0};
    xo_err_t err[2];
    char errstr[2][256];

    for (int raw = 0; raw < 2; raw++) {
        xo_xmlrpc_decoder_t *dec = xo_xmlrpc_decoder_new(&lim);
        json_object *out = NULL;
        if (!dec)
            return;
        if (raw)
            xo_xmlrpc_decoder_set_stream_raw(dec, path, "snapshot", "uuid", raw_snap, &snaps[1]);
        else
            xo_xmlrpc_decoder_set_stream(dec, path, tree_snap, &snaps[0]);
        err[raw] = xo_xmlrpc_decoder_feed(dec, (const char *)data, size, errstr[raw], 256);
        if (err[raw] == XO_OK)
            err[raw] = xo_xmlrpc_decoder_finish(dec, &out, errstr[raw], 256);
        json_object_put(out);
        xo_xmlrpc_decoder_free(dec);
    }
    if (err[0] != err[1] || snaps[0].n != snaps[1].n)
        abort();
    for (size_t i = 0; i < snaps[0].n; i++) {
        if (!snaps[0].texts[i] || !snaps[1].texts[i] ||
            strcmp(snaps[0].texts[i], snaps[1].texts[i]) != 0)
            abort();
        free(snaps[0].texts[i]);
        free(snaps[1].texts[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *one = NULL, *chunked = NULL, *streamed = NULL;
    char errstr[256];
    xo_err_t e1, e2;

    if (size > (1 << 20))
        return 0;
    e1 = xo_xmlrpc_decode((const char *)data, size, &one, errstr, sizeof errstr);
    e2 = decode_chunked(data, size, false, &chunked);
    /* Chunking never changes whether a document decodes, nor what it decodes to. */
    if ((e1 == XO_OK) != (e2 == XO_OK) || (e1 == XO_OK && !json_object_equal(one, chunked)))
        if (e2 != XO_ERR_LIMIT)
            abort();
    if (e1 == XO_OK)
        check_reencode(one);
    decode_chunked(data, size, true, &streamed);
    check_raw_equals_tree(data, size);
    json_object_put(one);
    json_object_put(chunked);
    json_object_put(streamed);
    return 0;
}
