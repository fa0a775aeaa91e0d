/*
 * fuzz_snapshot_text.c - libFuzzer target for gateway/view/snapshot_text.c: one input is
 * one message value. The scan must stay inside the input, and whenever it answers, the
 * text it found must parse to what a JSON parser reads as the message's "snapshot" (the
 * view keeps that text and parses it again on a remap). Aborts on a mismatch.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "view/snapshot_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    json_tokener *tok;
    json_object *whole, *snap = NULL, *found;
    size_t off, n;

    if (!gw_snapshot_text(msg, size, &off, &n))
        return 0;
    if (off > size || n > size - off || n == 0)
        abort();
    tok = json_tokener_new();
    whole = json_tokener_parse_ex(tok, msg, (int)size);
    if (!whole || json_tokener_get_parse_end(tok) != size ||
        !json_object_object_get_ex(whole, "snapshot", &snap)) {
        /* not a whole JSON object: the view never gets such a message (xo_msg_parse) */
        json_object_put(whole);
        json_tokener_free(tok);
        return 0;
    }
    json_tokener_reset(tok);
    found = json_tokener_parse_ex(tok, msg + off, (int)n);
    if (!found || json_tokener_get_parse_end(tok) != n || !json_object_equal(found, snap))
        abort();
    json_object_put(found);
    json_object_put(whole);
    json_tokener_free(tok);
    return 0;
}
