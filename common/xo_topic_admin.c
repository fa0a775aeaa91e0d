/*
 * xo_topic_admin.c - create and check the contract's topics through librdkafka's Admin
 * API (see xo_topic_admin.h). Owns one librdkafka handle; the judge is a pure function.
 * Must not alter an existing topic: it reports, the operator decides.
 */
#include "xo_topic_admin.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_log.h"

#define MOD          "topics"
#define MAX_FINDINGS 32

struct xo_topic_admin {
    rd_kafka_t *rk;
    xo_topics_t topics;
    const char *names[XO_TOPIC_COUNT];
    xo_topic_plan_t plan;
    int brokers;
    pthread_mutex_t mu; /* guards st and findings: the async check writes them */
    xo_topic_state_t st[XO_TOPIC_COUNT];
    xo_topic_finding_t findings[MAX_FINDINGS];
    size_t nfindings;
};

const char *xo_topic_severity_name(xo_topic_severity_t s)
{
    return s == XO_TOPIC_ERROR ? "error" : s == XO_TOPIC_WARNING ? "warning" : "info";
}

/* ---- the judge (pure) ---- */

typedef struct {
    void (*report)(void *, const xo_topic_finding_t *);
    void *opaque;
    int errors;
} judge_t;

static void say(judge_t *j, xo_topic_severity_t sev, const char *topic, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(judge_t *j, xo_topic_severity_t sev, const char *topic, const char *fmt, ...)
{
    xo_topic_finding_t f = {.severity = sev};
    va_list ap;

    snprintf(f.topic, sizeof(f.topic), "%s", topic);
    va_start(ap, fmt);
    vsnprintf(f.text, sizeof(f.text), fmt, ap);
    va_end(ap);
    j->errors += sev == XO_TOPIC_ERROR;
    if (j->report)
        j->report(j->opaque, &f);
}

/* Every existing topic must have the same partition count (docs/topics.md). */
static void judge_partitions(judge_t *j, const char *const names[], const xo_topic_state_t st[])
{
    char list[256] = "";
    size_t used = 0;
    int32_t first = -1;
    bool differ = false;

    for (int i = 0; i < XO_TOPIC_MAPPED; i++) {
        if (!st[i].exists)
            continue;
        if (first < 0)
            first = st[i].partitions;
        differ |= st[i].partitions != first;
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s %" PRId32,
                                 used ? ", " : "", names[i], st[i].partitions);
        if (used >= sizeof(list))
            used = sizeof(list) - 1;
    }
    if (differ)
        say(j, XO_TOPIC_ERROR, "",
            "partition counts differ (%s): an agent puts all of its pool's records on one "
            "partition number of every topic, so every contract topic needs the same count "
            "(docs/topics.md); recreate the odd ones with the others' count",
            list);
}

static void judge_config(judge_t *j, int i, const char *name, const xo_topic_state_t *t)
{
    bool compacted = !strcmp(t->cleanup_policy, "compact");
    bool some_compaction = strstr(t->cleanup_policy, "compact") != NULL;

    if (i == XO_TOPIC_MAPPED && !some_compaction)
        say(j, XO_TOPIC_WARNING, name,
            "%s is not compacted (cleanup.policy=%s): tokens older than retention.ms=%" PRId64
            " are deleted, so their users are signed out when a gateway restarts; set "
            "cleanup.policy=compact,delete with retention.ms at least the longest token life",
            name, t->cleanup_policy, t->retention_ms);
    else if (i == XO_TOPIC_MAPPED)
        say(j, XO_TOPIC_INFO, name, "%s: cleanup.policy=%s retention.ms=%" PRId64, name,
            t->cleanup_policy, t->retention_ms);
    else if (i <= 1 && !compacted)
        say(j, XO_TOPIC_WARNING, name,
            "%s is not compacted (cleanup.policy=%s, retention.ms=%" PRId64 "): records "
            "older than its retention are deleted, and a gateway or agent that reads it from "
            "the start then misses those %s; set cleanup.policy=compact",
            name, t->cleanup_policy, t->retention_ms, i == 0 ? "objects" : "agents");
    else if (i >= 2 && some_compaction)
        say(j, XO_TOPIC_WARNING, name,
            "%s is compacted (cleanup.policy=%s): %s; set cleanup.policy=delete", name,
            t->cleanup_policy,
            i == 2 ? "its keys are pool uuids, so compaction can drop a pool's commands "
                     "before its agent reads them"
                   : "results are never deleted and the topic only grows");
    else
        say(j, XO_TOPIC_INFO, name, "%s: cleanup.policy=%s retention.ms=%" PRId64, name,
            t->cleanup_policy, t->retention_ms);
}

int xo_topics_judge(const char *const names[XO_TOPIC_COUNT],
                    const xo_topic_state_t st[XO_TOPIC_COUNT], int brokers, unsigned what,
                    void (*report)(void *opaque, const xo_topic_finding_t *f), void *opaque)
{
    judge_t j = {report, opaque, 0};

    for (int i = 0; i < XO_TOPIC_COUNT; i++) {
        if (!(what & XO_JUDGE_LAYOUT)) {
            if (st[i].exists && st[i].config_known)
                judge_config(&j, i, names[i], &st[i]);
            continue;
        }
        if (!st[i].exists) {
            say(&j, XO_TOPIC_ERROR, names[i],
                "%s does not exist: create it (xo-gateway topics --create, or the gateway "
                "with topics.manage = create)",
                names[i]);
            continue;
        }
        if (st[i].replication == 1 && brokers > 1)
            say(&j, XO_TOPIC_WARNING, names[i],
                "%s has one replica on a cluster of %d brokers: losing that broker loses the "
                "topic",
                names[i], brokers);
        if (st[i].config_known && (what & XO_JUDGE_CONFIG))
            judge_config(&j, i, names[i], &st[i]);
        else
            say(&j, XO_TOPIC_INFO, names[i], "%s: %" PRId32 " partitions, replication %d", names[i],
                st[i].partitions, st[i].replication);
    }
    if (what & XO_JUDGE_LAYOUT)
        judge_partitions(&j, names, st);
    return j.errors;
}

/* ---- the client ---- */

static void keep(void *opaque, const xo_topic_finding_t *f)
{
    xo_topic_admin_t *a = opaque;

    if (f->severity == XO_TOPIC_ERROR)
        xo_error(MOD, "event=topic_check severity=error topic=%s text=\"%s\"", f->topic, f->text);
    else if (f->severity == XO_TOPIC_WARNING)
        xo_warn(MOD, "event=topic_check severity=warning topic=%s text=\"%s\"", f->topic, f->text);
    else
        xo_info(MOD, "event=topic_check severity=info topic=%s text=\"%s\"", f->topic, f->text);
    pthread_mutex_lock(&a->mu);
    if (a->nfindings < MAX_FINDINGS)
        a->findings[a->nfindings++] = *f;
    pthread_mutex_unlock(&a->mu);
}

static void on_background_event(rd_kafka_t *rk, rd_kafka_event_t *ev, void *opaque);

xo_err_t xo_topic_admin_new(const xo_config_t *cfg, const char *const *extra,
                            const xo_topics_t *topics, const xo_topic_plan_t *plan,
                            xo_topic_admin_t **out, char *errstr, size_t errstr_size)
{
    static const char *const defaults[] = {"client.id", "xo-fleet-admin", NULL};
    static const char *const forced[] = {"allow.auto.create.topics", "false", NULL};
    xo_topic_admin_t *a = calloc(1, sizeof(*a));
    rd_kafka_conf_t *conf = NULL;
    char kerr[512];
    xo_err_t err;

    if (!a)
        return XO_ERR_NOMEM;
    a->topics = *topics;
    a->names[0] = a->topics.objects;
    a->names[1] = a->topics.agents;
    a->names[2] = a->topics.commands;
    a->names[3] = a->topics.results;
    a->names[4] = a->topics.tokens;
    a->plan = *plan;
    pthread_mutex_init(&a->mu, NULL);
    err = xo_kafka_conf_build(cfg, defaults, extra, forced, &conf, errstr, errstr_size);
    if (err != XO_OK)
        goto fail;
    rd_kafka_conf_set_opaque(conf, a);
    rd_kafka_conf_set_background_event_cb(conf, on_background_event);
    a->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!a->rk) {
        rd_kafka_conf_destroy(conf);
        err = xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "cannot create admin client: %s", kerr);
        goto fail;
    }
    *out = a;
    return XO_OK;
fail:
    pthread_mutex_destroy(&a->mu);
    free(a);
    return err;
}

void xo_topic_admin_free(xo_topic_admin_t *a)
{
    if (!a)
        return;
    rd_kafka_destroy(a->rk);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Metadata of every topic of the cluster: asking for one topic by name could create it
 * on brokers (or mocks) that auto-create on a metadata request. */
static xo_err_t read_metadata(xo_topic_admin_t *a, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(a->rk, 1, NULL, &md, a->plan.timeout_ms);

    if (kerr)
        return xo_seterr(errstr, errstr_size,
                         kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? XO_ERR_TIMEOUT : XO_ERR_KAFKA,
                         "cluster metadata: %s", rd_kafka_err2str(kerr));
    pthread_mutex_lock(&a->mu);
    a->brokers = md->broker_cnt;
    for (int i = 0; i < XO_TOPIC_COUNT; i++) {
        a->st[i].exists = false;
        for (int t = 0; t < md->topic_cnt; t++) {
            const rd_kafka_metadata_topic_t *mt = &md->topics[t];
            if (strcmp(mt->topic, a->names[i]) != 0 || mt->err || mt->partition_cnt <= 0)
                continue;
            a->st[i].exists = true;
            a->st[i].partitions = mt->partition_cnt;
            a->st[i].replication = mt->partitions[0].replica_cnt;
        }
    }
    pthread_mutex_unlock(&a->mu);
    rd_kafka_metadata_destroy(md);
    return XO_OK;
}

/* Wait for the one admin result on @p q. */
static rd_kafka_event_t *wait_result(xo_topic_admin_t *a, rd_kafka_queue_t *q)
{
    return rd_kafka_queue_poll(q, a->plan.timeout_ms + 2000);
}

static rd_kafka_NewTopic_t *new_topic(xo_topic_admin_t *a, int i, int32_t partitions, char *errstr,
                                      size_t errstr_size)
{
    char kerr[256], retention[32];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(a->names[i], partitions, a->plan.replication, kerr, sizeof(kerr));

    if (!nt) {
        xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "%s: %s", a->names[i], kerr);
        return NULL;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy",
                                 i <= 1                 ? "compact"
                                 : i == XO_TOPIC_MAPPED ? "compact,delete"
                                                        : "delete");
    if (i >= 2) {
        snprintf(retention, sizeof(retention), "%" PRId64,
                 i == 2   ? a->plan.commands_retention_ms
                 : i == 3 ? a->plan.results_retention_ms
                          : a->plan.tokens_retention_ms);
        rd_kafka_NewTopic_set_config(nt, "retention.ms", retention);
    }
    return nt;
}

/* Partition count for new topics: that of the existing ones, so the mapping holds. */
static int32_t partitions_for_new(const xo_topic_admin_t *a)
{
    for (int i = 0; i < XO_TOPIC_MAPPED; i++)
        if (a->st[i].exists)
            return a->st[i].partitions;
    return a->plan.partitions;
}

static xo_err_t create_result(rd_kafka_event_t *ev, char *errstr, size_t errstr_size)
{
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    const rd_kafka_topic_result_t **tr;
    size_t n;

    if (!res || rd_kafka_event_error(ev))
        return xo_seterr(errstr, errstr_size,
                         rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT ? XO_ERR_TIMEOUT
                                                                                  : XO_ERR_KAFKA,
                         "CreateTopics: %s (a cluster that does not implement it, such as "
                         "librdkafka's mock cluster, never answers)",
                         rd_kafka_event_error_string(ev));
    tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t k = 0; k < n; k++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[k]);
        /* Another gateway may have created it meanwhile: fine. */
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            return xo_seterr(errstr, errstr_size, XO_ERR_KAFKA, "create %s: %s",
                             rd_kafka_topic_result_name(tr[k]),
                             rd_kafka_topic_result_error_string(tr[k])
                                 ? rd_kafka_topic_result_error_string(tr[k])
                                 : rd_kafka_err2str(e));
        xo_info(MOD, "event=topic_created topic=%s", rd_kafka_topic_result_name(tr[k]));
    }
    return XO_OK;
}

static xo_err_t create_missing(xo_topic_admin_t *a, char *errstr, size_t errstr_size)
{
    rd_kafka_NewTopic_t *nt[XO_TOPIC_COUNT];
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    int32_t partitions = partitions_for_new(a);
    size_t n = 0;
    char kerr[256];
    xo_err_t err = XO_OK;

    for (int i = 0; i < XO_TOPIC_COUNT && err == XO_OK; i++) {
        if (a->st[i].exists)
            continue;
        nt[n] = new_topic(a, i, partitions, errstr, errstr_size);
        if (!nt[n])
            err = XO_ERR_INVALID;
        else
            n++;
    }
    if (err != XO_OK || n == 0)
        goto out;
    xo_info(MOD, "event=creating_topics count=%zu partitions=%" PRId32 " replication=%d", n,
            partitions, a->plan.replication);
    opts = rd_kafka_AdminOptions_new(a->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, a->plan.timeout_ms, kerr, sizeof(kerr));
    rd_kafka_AdminOptions_set_operation_timeout(opts, a->plan.timeout_ms, kerr, sizeof(kerr));
    q = rd_kafka_queue_new(a->rk);
    rd_kafka_CreateTopics(a->rk, nt, n, opts, q);
    ev = wait_result(a, q);
    err = ev ? create_result(ev, errstr, errstr_size)
             : xo_seterr(errstr, errstr_size, XO_ERR_TIMEOUT, "CreateTopics: no answer");
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy_array(nt, n);
    return err;
}

static void judge_now(xo_topic_admin_t *a, unsigned what, int *errors)
{
    xo_topic_state_t st[XO_TOPIC_COUNT];
    int brokers;

    pthread_mutex_lock(&a->mu);
    memcpy(st, a->st, sizeof(st));
    brokers = a->brokers;
    pthread_mutex_unlock(&a->mu);
    *errors = xo_topics_judge(a->names, st, brokers, what, keep, a);
}

xo_err_t xo_topic_admin_ensure(xo_topic_admin_t *a, bool create, char *errstr, size_t errstr_size)
{
    xo_err_t err = read_metadata(a, errstr, errstr_size);
    int errors = 0;
    bool missing = false;

    if (err != XO_OK)
        return err;
    for (int i = 0; i < XO_TOPIC_COUNT; i++)
        missing |= !a->st[i].exists;
    if (missing && create) {
        err = create_missing(a, errstr, errstr_size);
        /* Metadata may lag behind a creation for a moment: read it a few times. */
        for (int tries = 0; err == XO_OK && tries < 20; tries++) {
            bool all = true;
            err = read_metadata(a, errstr, errstr_size);
            for (int i = 0; i < XO_TOPIC_COUNT; i++)
                all &= a->st[i].exists;
            if (all)
                break;
            rd_kafka_poll(a->rk, 250);
        }
        if (err != XO_OK)
            return err;
    }
    judge_now(a, XO_JUDGE_LAYOUT, &errors);
    if (errors)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "%d topic error(s): see the topic_check log lines", errors);
    return XO_OK;
}

/* ---- configuration (DescribeConfigs) ---- */

static void describe_request(xo_topic_admin_t *a, rd_kafka_queue_t *q)
{
    rd_kafka_ConfigResource_t *res[XO_TOPIC_COUNT];
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(a->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char kerr[256];

    rd_kafka_AdminOptions_set_request_timeout(opts, a->plan.timeout_ms, kerr, sizeof(kerr));
    for (int i = 0; i < XO_TOPIC_COUNT; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, a->names[i]);
    rd_kafka_DescribeConfigs(a->rk, res, XO_TOPIC_COUNT, opts, q);
    rd_kafka_ConfigResource_destroy_array(res, XO_TOPIC_COUNT);
    rd_kafka_AdminOptions_destroy(opts);
}

static void take_entries(xo_topic_state_t *t, const rd_kafka_ConfigResource_t *r)
{
    size_t n;
    const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(r, &n);

    t->config_known = true;
    snprintf(t->cleanup_policy, sizeof(t->cleanup_policy), "delete"); /* Kafka's default */
    t->retention_ms = 604800000;
    for (size_t k = 0; k < n; k++) {
        const char *name = rd_kafka_ConfigEntry_name(ce[k]);
        const char *value = rd_kafka_ConfigEntry_value(ce[k]);
        if (!value)
            continue;
        if (!strcmp(name, "cleanup.policy"))
            snprintf(t->cleanup_policy, sizeof(t->cleanup_policy), "%s", value);
        else if (!strcmp(name, "retention.ms"))
            t->retention_ms = strtoll(value, NULL, 10);
    }
}

static xo_err_t describe_result(xo_topic_admin_t *a, rd_kafka_event_t *ev, char *errstr,
                                size_t errstr_size)
{
    const rd_kafka_DescribeConfigs_result_t *res = rd_kafka_event_DescribeConfigs_result(ev);
    const rd_kafka_ConfigResource_t **rs;
    size_t n;
    int errors;

    if (!res || rd_kafka_event_error(ev))
        return xo_seterr(errstr, errstr_size,
                         rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__TIMED_OUT ? XO_ERR_TIMEOUT
                                                                                  : XO_ERR_KAFKA,
                         "DescribeConfigs: %s (a cluster that does not implement it, such as "
                         "librdkafka's mock cluster, never answers)",
                         rd_kafka_event_error_string(ev));
    rs = rd_kafka_DescribeConfigs_result_resources(res, &n);
    pthread_mutex_lock(&a->mu);
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < XO_TOPIC_COUNT; i++)
            if (!strcmp(rd_kafka_ConfigResource_name(rs[k]), a->names[i]) &&
                !rd_kafka_ConfigResource_error(rs[k]))
                take_entries(&a->st[i], rs[k]);
    pthread_mutex_unlock(&a->mu);
    judge_now(a, XO_JUDGE_CONFIG, &errors);
    return XO_OK;
}

xo_err_t xo_topic_admin_check_configs(xo_topic_admin_t *a, char *errstr, size_t errstr_size)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(a->rk);
    rd_kafka_event_t *ev;
    xo_err_t err;

    describe_request(a, q);
    ev = wait_result(a, q);
    err = ev ? describe_result(a, ev, errstr, errstr_size)
             : xo_seterr(errstr, errstr_size, XO_ERR_TIMEOUT, "DescribeConfigs: no answer");
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    return err;
}

/* librdkafka's background thread: the answer of the async check. */
static void on_background_event(rd_kafka_t *rk, rd_kafka_event_t *ev, void *opaque)
{
    char errstr[384];

    (void)rk;
    if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT &&
        describe_result(opaque, ev, errstr, sizeof(errstr)) != XO_OK &&
        rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR__DESTROY)
        xo_warn(MOD,
                "event=topic_config_unchecked reason=\"%s\" note=\"check cleanup.policy "
                "of the topics by hand (docs/operations.md)\"",
                errstr);
    rd_kafka_event_destroy(ev);
}

void xo_topic_admin_check_configs_async(xo_topic_admin_t *a)
{
    rd_kafka_queue_t *bg = rd_kafka_queue_get_background(a->rk);

    describe_request(a, bg);
    rd_kafka_queue_destroy(bg);
}

size_t xo_topic_admin_findings(xo_topic_admin_t *a, xo_topic_finding_t *out, size_t max)
{
    size_t n;

    pthread_mutex_lock(&a->mu);
    n = a->nfindings;
    memcpy(out, a->findings, (n < max ? n : max) * sizeof(*out));
    pthread_mutex_unlock(&a->mu);
    return n;
}

void xo_topic_admin_state(xo_topic_admin_t *a, int i, xo_topic_state_t *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->st[i];
    pthread_mutex_unlock(&a->mu);
}
