/*
 * xo_topic_admin.h - the contract's topics on a real cluster, through librdkafka's Admin
 * API: create the missing ones with the contract's configuration (compaction for
 * objects and agents, retention for commands and results, one partition count), and
 * check existing ones (docs/topics.md, docs/operations.md "Topics"):
 *   - every contract topic must have the same partition count, since the agents put a
 *     pool's records on one partition number of every topic: otherwise an error;
 *   - objects and agents must be compacted (cleanup.policy=compact), commands and results
 *     must not be: otherwise a loud warning (records would be lost, or commands dropped);
 *     the gateways' tokens topic must be compacted (with or without deletion);
 *   - a replication factor of 1 on a cluster of several brokers: a warning.
 * Findings are logged as they are found and kept (xo_topic_admin_findings()) so that a
 * daemon can report them (the gateway's /healthz). Never creates or alters anything but
 * missing contract topics; never auto-creates a topic by asking for its metadata.
 */
#ifndef XO_TOPIC_ADMIN_H
#define XO_TOPIC_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "xo_config.h"
#include "xo_error.h"
#include "xo_kafka.h"

#define XO_TOPIC_COUNT  5 /* objects, agents, commands, results, tokens (xo_topics_t order) */
#define XO_TOPIC_MAPPED 4 /* the first four carry a pool on one partition number: same count */

/** How the contract's topics are created. */
typedef struct {
    int32_t partitions;            /**< used only when no contract topic exists yet */
    int replication;               /**< replication factor; -1: the broker's default */
    int64_t commands_retention_ms; /**< retention.ms of the commands topic */
    int64_t results_retention_ms;  /**< retention.ms of the results topic */
    int64_t tokens_retention_ms;   /**< retention.ms of the tokens topic (compact,delete) */
    int timeout_ms;                /**< each Admin API request */
} xo_topic_plan_t;

typedef enum {
    XO_TOPIC_INFO = 0, /**< what was found or done */
    XO_TOPIC_WARNING,  /**< works, but loses data or safety: fix the cluster */
    XO_TOPIC_ERROR,    /**< the contract cannot hold: the daemon must not start */
} xo_topic_severity_t;

/** One finding about one topic (or the set, topic ""). */
typedef struct {
    xo_topic_severity_t severity;
    char topic[128];
    char text[384];
} xo_topic_finding_t;

/** What is known of one topic. */
typedef struct {
    bool exists;
    int32_t partitions;      /**< from metadata, when it exists */
    int replication;         /**< replicas of partition 0, when it exists */
    bool config_known;       /**< DescribeConfigs answered */
    char cleanup_policy[64]; /**< when config_known */
    int64_t retention_ms;    /**< when config_known; -1 means forever */
} xo_topic_state_t;

/** What xo_topics_judge() looks at. */
enum {
    XO_JUDGE_LAYOUT = 1, /**< existence, partition counts, replication (from metadata) */
    XO_JUDGE_CONFIG = 2, /**< cleanup.policy and retention (config_known topics only) */
};

/**
 * @brief Judge the topics from what is known of them. Pure.
 * @param names  the five names, xo_topics_t order
 * @param st     the five states
 * @param brokers brokers in the cluster (for the replication warning)
 * @param what   XO_JUDGE_LAYOUT and/or XO_JUDGE_CONFIG
 * @param report called for each finding, info ones included (borrowed for the call)
 * @returns the number of XO_TOPIC_ERROR findings.
 */
int xo_topics_judge(const char *const names[XO_TOPIC_COUNT],
                    const xo_topic_state_t st[XO_TOPIC_COUNT], int brokers, unsigned what,
                    void (*report)(void *opaque, const xo_topic_finding_t *f), void *opaque);

typedef struct xo_topic_admin xo_topic_admin_t;

/**
 * @brief Create an admin client (its own librdkafka handle, the [kafka] settings of
 *        @p cfg, allow.auto.create.topics=false).
 * @param cfg, topics, plan copied or borrowed for the call only, except @p cfg which must
 *        outlive the admin (librdkafka copies what it needs; NULL allowed).
 * @returns XO_OK, XO_ERR_CONFIG (a property librdkafka refuses), XO_ERR_KAFKA, XO_ERR_NOMEM.
 */
xo_err_t xo_topic_admin_new(const xo_config_t *cfg, const char *const *extra,
                            const xo_topics_t *topics, const xo_topic_plan_t *plan,
                            xo_topic_admin_t **out, char *errstr, size_t errstr_size);

/**
 * @brief Read the topics' metadata (all topics of the cluster, so nothing is
 *        auto-created), create the missing ones if @p create (with the partition count of
 *        those that exist, else plan.partitions), and judge partitions and replication.
 *        Blocks for up to two requests of plan.timeout_ms.
 * @returns XO_OK (possibly with warnings); XO_ERR_CONFIG when an error was found (missing
 *          topics without @p create, partition counts that differ); XO_ERR_TIMEOUT or
 *          XO_ERR_KAFKA when the cluster did not answer or refused to create (detail in
 *          errstr: librdkafka's mock cluster does not implement CreateTopics).
 */
xo_err_t xo_topic_admin_ensure(xo_topic_admin_t *a, bool create, char *errstr, size_t errstr_size);

/**
 * @brief Read the topics' configuration (DescribeConfigs) and judge it; blocks for up to
 *        plan.timeout_ms.
 * @returns XO_OK (findings kept and logged), XO_ERR_TIMEOUT or XO_ERR_KAFKA (the cluster
 *          does not answer DescribeConfigs: librdkafka's mock cluster does not).
 */
xo_err_t xo_topic_admin_check_configs(xo_topic_admin_t *a, char *errstr, size_t errstr_size);

/**
 * @brief Same check without waiting: the answer is judged on librdkafka's background
 *        thread, its findings kept and logged; a failure is logged as a warning.
 *        xo_topic_admin_free() cancels it.
 */
void xo_topic_admin_check_configs_async(xo_topic_admin_t *a);

/**
 * @brief Copy up to @p max findings kept so far, info ones included, in the order found
 *        (any thread; at most 32 are kept). @returns how many exist.
 */
size_t xo_topic_admin_findings(xo_topic_admin_t *a, xo_topic_finding_t *out, size_t max);

/** @brief The state learned of topic @p i (xo_topics_t order) (any thread). */
void xo_topic_admin_state(xo_topic_admin_t *a, int i, xo_topic_state_t *out);

/** @brief Destroy the client (pending requests are cancelled). NULL is allowed. */
void xo_topic_admin_free(xo_topic_admin_t *a);

/** @brief "info", "warning" or "error". Static. */
const char *xo_topic_severity_name(xo_topic_severity_t s);

#endif
