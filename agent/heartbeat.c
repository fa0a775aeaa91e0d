/*
 * heartbeat.c - the service thread: serves librdkafka's delivery reports (poll) and
 * publishes the agent's heartbeat on xo.agents every few seconds and on every state change.
 * Must not touch XAPI or the XAPI thread's fields (only status under its lock).
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "xo_log.h"
#include "xo_version.h"

void agent_publish_heartbeat(agent_t *a)
{
    xo_agent_msg_t m = {0};
    agent_status_t st;
    char key[160], pool[64], errstr[256], *value;
    int32_t partition;
    size_t len;

    pthread_mutex_lock(&a->status_lock);
    st = a->status;
    a->status.changed = false;
    partition = a->partition;
    snprintf(pool, sizeof(pool), "%s", a->pool_uuid);
    if (a->pool_uuid[0])
        snprintf(key, sizeof(key), "%s", a->pool_uuid);
    else
        snprintf(key, sizeof(key), "agent/%s", a->id); /* pool not known yet */
    pthread_mutex_unlock(&a->status_lock);
    if (partition < 0)
        partition = xo_pool_partition(key, a->n_partitions);
    m.agent = a->id;
    m.version = XO_VERSION;
    m.pool = pool;
    m.master = st.master;
    m.state = agent_state_name(st.state);
    m.error = st.error[0] ? st.error : NULL;
    m.ts = xo_now_ms();
    m.since = st.since;
    m.gen = st.gen;
    m.last_event_id = st.last_event_id;
    m.last_event_ts = st.last_event_ts;
    m.interval_ms = xo_config_get_int(a->cfg, "agent.heartbeat_ms");
    m.events = st.events;
    m.published = (int64_t)atomic_load(&a->published_count);
    m.resyncs = st.resyncs;
    m.xapi_errors = st.xapi_errors;
    m.kafka_failed = (int64_t)atomic_load(&a->kafka_failed);
    m.commands = st.commands;
    value = xo_agent_msg_encode(&m, &len);
    if (!value)
        return;
    if (xo_producer_send(a->producer, a->topics.agents, partition, key, strlen(key), value, len,
                         NULL, 0, errstr, sizeof(errstr)) != XO_OK)
        xo_dbg(XO_DBG_KAFKA, AGENT_MOD, "event=heartbeat_not_queued reason=\"%s\"", errstr);
    free(value);
}

static void *service_main(void *arg)
{
    agent_t *a = arg;
    long interval = xo_config_get_int(a->cfg, "agent.heartbeat_ms");
    int64_t last = 0;

    while (!agent_stop) {
        bool due;
        xo_producer_poll(a->producer, 100);
        pthread_mutex_lock(&a->status_lock);
        due = a->status.changed || xo_now_ms() - last >= interval;
        pthread_mutex_unlock(&a->status_lock);
        if (due) {
            agent_publish_heartbeat(a);
            last = xo_now_ms();
        }
    }
    return NULL;
}

xo_err_t agent_service_start(agent_t *a, pthread_t *thread)
{
    return pthread_create(thread, NULL, service_main, a) == 0 ? XO_OK : XO_ERR_NOMEM;
}
