/*
 * envelope_produce.c - test helper: builds one message of every kind with the envelope
 * module, produces them to xo-kafka-dev with xo_producer, and prints one line per message
 * "<topic> <partition> <key> <hex value> <sig-or->" so a test can compare with what kcat
 * reads back byte for byte. Not installed; used by tests/e2e/test_envelope_kcat.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h"
#include "xo_kafka.h"
#include "xo_sign.h"

#define POOL "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c"

static void print_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        printf("%02x", (unsigned char)s[i]);
}

static int send_msg(xo_producer_t *p, const char *topic, int32_t part, const char *key, char *value,
                    size_t len, const xo_kafka_header_t *h, size_t nh, const char *sig)
{
    char errstr[256];

    if (xo_producer_send(p, topic, part, key, strlen(key), value, len, h, nh, errstr,
                         sizeof(errstr)) != XO_OK) {
        fprintf(stderr, "send: %s\n", errstr);
        return -1;
    }
    printf("%s %d %s ", topic, (int)part, key);
    if (value)
        print_hex(value, len);
    else
        printf("NULL");
    printf(" %s\n", sig ? sig : "-");
    free(value);
    return 0;
}

int main(int argc, char **argv)
{
    const char *extra[] = {"bootstrap.servers", argc > 1 ? argv[1] : "", NULL};
    char errstr[256], key[256], sig[XO_SIG_B64_LEN + 1];
    xo_producer_t *p;
    xo_key_t *k;
    xo_topics_t t;
    size_t len;
    int32_t part, n = 0;
    json_object *snap =
        json_tokener_parse("{\"name_label\":\"vm \\u00e9\\\"x\\\"\",\"VCPUs_max\":\"2\","
                           "\"is_a_template\":false,\"tags\":[\"a\"]}");
    json_object *args = json_tokener_parse("{\"id\":\"vm-1\",\"force\":true}");
    xo_object_msg_t om = {POOL, "vm", "OpaqueRef:1", "uuid-1", "add", 17, 1, 1700000000123, snap};
    xo_agent_msg_t am = {.agent = "a1",
                         .version = "0.1.0",
                         .pool = POOL,
                         .master = "http://m",
                         .state = "live",
                         .ts = 1700000000200};
    xo_command_msg_t cm = {"c-1", POOL, "vm.start", "admin", args, 1700000000300, 1700000030300};
    xo_result_msg_t rm = {.id = "c-1",
                          .pool = POOL,
                          .agent = "a1",
                          .state = "success",
                          .progress = 1.0,
                          .ts = 1700000000400};
    xo_kafka_header_t del = {XO_HDR_OP, "del", 3}, sh[2];
    char *v;
    int rc = 1;

    if (argc < 2 || xo_topics_init(&t, "xo.") != XO_OK ||
        xo_producer_new(NULL, extra, &p, errstr, sizeof(errstr)) != XO_OK ||
        xo_kafka_partition_count(xo_producer_handle(p), t.objects, 10000, &n, errstr,
                                 sizeof(errstr)) != XO_OK ||
        xo_key_generate(&k, errstr, sizeof(errstr)) != XO_OK) {
        fprintf(stderr, "envelope_produce BOOTSTRAP: %s\n", errstr);
        return 2;
    }
    part = xo_pool_partition(POOL, n);
    xo_object_key(key, sizeof(key), POOL, "vm", "OpaqueRef:1");
    v = xo_object_msg_encode(&om, &len);
    if (send_msg(p, t.objects, part, key, v, len, NULL, 0, NULL) != 0)
        goto out;
    if (send_msg(p, t.objects, part, key, NULL, 0, &del, 1, NULL) != 0)
        goto out;
    xo_object_key(key, sizeof(key), POOL, NULL, NULL);
    v = xo_sync_msg_encode(POOL, "a1", 1, 0, 1700000000150, &len);
    if (send_msg(p, t.objects, part, key, v, len, NULL, 0, NULL) != 0)
        goto out;
    v = xo_agent_msg_encode(&am, &len);
    if (send_msg(p, t.agents, part, POOL, v, len, NULL, 0, NULL) != 0)
        goto out;
    v = xo_command_msg_encode(&cm, &len);
    xo_sign(k, v, len, sig);
    sh[0] = (xo_kafka_header_t){XO_HDR_SIG, sig, strlen(sig)};
    sh[1] = (xo_kafka_header_t){XO_HDR_KEY, xo_key_id(k), strlen(xo_key_id(k))};
    if (send_msg(p, t.commands, part, POOL, v, len, sh, 2, sig) != 0)
        goto out;
    v = xo_result_msg_encode(&rm, &len);
    if (send_msg(p, t.results, part, "c-1", v, len, NULL, 0, NULL) != 0)
        goto out;
    rc = xo_producer_flush(p, 10000) == XO_OK ? 0 : 1;
out:
    fflush(stdout);
    xo_key_free(k);
    xo_producer_free(p, 1000);
    json_object_put(snap);
    json_object_put(args);
    return rc;
}
