/*
 * xo_kafka_stats.c - broker connectivity from librdkafka's statistics JSON (see
 * xo_kafka_stats.h). Pure: parses one report, keeps nothing, logs nothing.
 */
#include "xo_kafka_stats.h"

#include <json-c/json.h>
#include <string.h>

/* A broker entry is a real broker unless librdkafka marks it logical or internal. */
static bool is_real_broker(json_object *b)
{
    json_object *f;
    const char *source;

    if (!json_object_object_get_ex(b, "source", &f))
        return true;
    source = json_object_get_string(f);
    return strcmp(source, "logical") != 0 && strcmp(source, "internal") != 0;
}

static bool is_up(json_object *b)
{
    json_object *f;
    return json_object_object_get_ex(b, "state", &f) && !strcmp(json_object_get_string(f), "UP");
}

xo_err_t xo_kafka_stats_brokers(const char *json, size_t len, xo_kafka_brokers_t *out)
{
    json_tokener *tok = json_tokener_new();
    json_object *root = NULL, *brokers;
    xo_err_t err = XO_ERR_PARSE;

    if (!tok)
        return XO_ERR_NOMEM;
    if (len <= (size_t)INT32_MAX)
        root = json_tokener_parse_ex(tok, json, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_object_get_ex(root, "brokers", &brokers) ||
        !json_object_is_type(brokers, json_type_object))
        goto out;
    memset(out, 0, sizeof(*out));
    json_object_object_foreach(brokers, name, b)
    {
        (void)name;
        if (!json_object_is_type(b, json_type_object) || !is_real_broker(b))
            continue;
        out->brokers++;
        out->brokers_up += is_up(b);
    }
    err = XO_OK;
out:
    json_object_put(root);
    json_tokener_free(tok);
    return err;
}
