/*
 * mock_kafka.c - the unit tests' Kafka (see mock_kafka.h): librdkafka's mock cluster owned
 * by a client handle, plus one producer (the project's own) that seeds it.
 * Must not: contact anything but the in-process cluster.
 */
#include "mock_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h"
/* after rdkafka.h, which xo_kafka.h includes */
#include <librdkafka/rdkafka_mock.h>

struct mock_kafka {
    rd_kafka_t *host; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    xo_producer_t *producer; /* made on the first seed */
};

mock_kafka_t *mock_kafka_start(void)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    mock_kafka_t *k = calloc(1, sizeof(*k));

    if (!k || !conf)
        goto fail;
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    k->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!k->host)
        goto fail;
    conf = NULL; /* taken by rd_kafka_new on success only */
    k->mc = rd_kafka_mock_cluster_new(k->host, 1);
    if (!k->mc || rd_kafka_mock_topic_create(k->mc, "xo.objects", MOCK_KAFKA_PARTITIONS, 1) !=
                      RD_KAFKA_RESP_ERR_NO_ERROR)
        goto fail;
    return k;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    mock_kafka_stop(k);
    return NULL;
}

void mock_kafka_stop(mock_kafka_t *k)
{
    if (!k)
        return;
    xo_producer_free(k->producer, 5000);
    if (k->mc)
        rd_kafka_mock_cluster_destroy(k->mc);
    if (k->host)
        rd_kafka_destroy(k->host);
    free(k);
}

const char *mock_kafka_bootstrap(const mock_kafka_t *k)
{
    return rd_kafka_mock_cluster_bootstraps(k->mc);
}

xo_err_t mock_kafka_seed(mock_kafka_t *k, int32_t partition, const char *key, const char *value)
{
    const char *extra[] = {"bootstrap.servers", mock_kafka_bootstrap(k), NULL};
    xo_kafka_header_t del = {XO_HDR_OP, "del", 3};
    char errstr[512] = "";
    xo_err_t err = XO_OK;

    if (!k->producer)
        err = xo_producer_new(NULL, extra, &k->producer, errstr, sizeof(errstr));
    if (err == XO_OK)
        err = xo_producer_send(k->producer, "xo.objects", partition, key, strlen(key), value,
                               value ? strlen(value) : 0, value ? NULL : &del, value ? 0 : 1,
                               errstr, sizeof(errstr));
    if (err == XO_OK)
        err = xo_producer_flush(k->producer, 10000);
    if (err != XO_OK)
        fprintf(stderr, "mock_kafka_seed %s: %s\n", key, errstr);
    return err;
}
