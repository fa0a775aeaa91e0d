/*
 * fuzz_envelope.c - fuzz target for Kafka message parsing: xo_msg_parse() of every message
 * kind and xo_object_key_split() on arbitrary bytes, as a consumer meets them on the topics.
 * Checks that a message that parses re-encodes to JSON that parses again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const xo_msg_kind_t kinds[] = {XO_MSG_OBJECT, XO_MSG_SYNC, XO_MSG_AGENT, XO_MSG_COMMAND,
                                          XO_MSG_RESULT};
    char errstr[256], *key, *pool, *cls, *ref;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        json_object *o = NULL;
        if (xo_msg_parse(kinds[i], data, size, &o, errstr, sizeof(errstr)) == XO_OK) {
            size_t len;
            const char *again = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
            json_object *o2 = NULL;
            if (xo_msg_parse(kinds[i], again, len, &o2, errstr, sizeof(errstr)) != XO_OK)
                abort(); /* what we accepted must survive a round trip */
            json_object_put(o2);
            (void)xo_msg_str(o, "pool");
            (void)xo_msg_int(o, "ts", 0);
            json_object_put(o);
        }
    }
    key = malloc(size + 1);
    if (!key)
        return 0;
    memcpy(key, data, size);
    key[size] = '\0';
    if (xo_object_key_split(key, &pool, &cls, &ref) == XO_OK && (!pool || !cls))
        abort();
    free(key);
    return 0;
}
