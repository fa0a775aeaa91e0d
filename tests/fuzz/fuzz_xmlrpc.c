/*
 * fuzz_xmlrpc.c - libFuzzer target for the XML-RPC decoder (common/xo_xmlrpc.c).
 * Decodes each input in one shot, in input-derived chunk sizes (same outcome required),
 * in streaming mode, and re-encodes what decoded (the encoding must decode again).
 * Must not: keep state between inputs, or touch files or the network.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xo_xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    json_object_put(one);
    json_object_put(chunked);
    json_object_put(streamed);
    return 0;
}
