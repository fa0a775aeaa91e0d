/*
 * agent_fixture.c - the agent under test (see agent_fixture.h): main.c's setup() without
 * the producer, a recording send hook, and the fake XAPI's script.
 * Must not: change what the modules under test do; only what surrounds them.
 */
#include "agent_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_kafka.h"
#include "vm_refs.h"
#include "xo_log.h"

/* The settings the XAPI thread's modules read (names, types and ranges as in main.c). */
static const xo_cfg_spec_t fixture_spec[] = {
    {"xapi.url", XO_CFG_STRING, NULL, 0, 0, false, "Pool master URL."},
    {"xapi.event_timeout_s", XO_CFG_INT, "1", 1, 3600, false, "event.from wait."},
    {"topics.prefix", XO_CFG_STRING, "xo.", 0, 0, false, "Topic prefix."},
    {"limits.max_record_bytes", XO_CFG_INT, "900000", 10000, 100000000, false, "Record cap."},
    {NULL, 0, NULL, 0, 0, false, NULL},
};

static xo_err_t record_send(void *opaque, const char *topic, int32_t partition, const char *key,
                            size_t key_len, const char *value, size_t value_len,
                            const xo_kafka_header_t *headers, size_t n_headers, char *errstr,
                            size_t errstr_size)
{
    agent_fixture_t *f = opaque;
    fixture_record_t *r;

    if (f->limit_next > 0) {
        f->limit_next--;
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "fixture: queue full");
    }
    if (f->fail_at >= 0 && (size_t)f->fail_at == f->n) {
        f->fail_at = -1;
        return xo_seterr(errstr, errstr_size, f->fail_err, "fixture: send failed");
    }
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 64;
        fixture_record_t *nr = realloc(f->recs, ncap * sizeof(*nr));
        if (!nr)
            return XO_ERR_NOMEM;
        f->recs = nr;
        f->cap = ncap;
    }
    r = &f->recs[f->n++];
    memset(r, 0, sizeof(*r));
    r->topic = strdup(topic);
    r->key = strndup(key, key_len);
    r->value = value ? strndup(value, value_len) : NULL;
    r->len = value_len;
    r->partition = partition;
    r->n_headers = n_headers;
    for (size_t i = 0; i < n_headers; i++)
        if (strcmp(headers[i].name, XO_HDR_OP) == 0)
            snprintf(r->op_header, sizeof(r->op_header), "%.*s", (int)headers[i].len,
                     (const char *)headers[i].value);
    return XO_OK;
}

/* ---- the fake XAPI's script ---- */

static json_object *answer_event_from(agent_fixture_t *f, json_object *params)
{
    fixture_xapi_script_t *s = &f->script;
    int i = s->next_event_from;

    if (i >= s->n_event_from)
        return fake_xapi_failure("FIXTURE_SCRIPT_END", NULL); /* ends any follow loop */
    snprintf(s->tokens[i], sizeof(s->tokens[i]), "%s",
             json_object_get_string(json_object_array_get_idx(params, 2)));
    s->timeouts[i] = json_object_get_double(json_object_array_get_idx(params, 3));
    s->next_event_from++;
    return json_object_get(s->event_from[i]);
}

static json_object *script_handler(void *opaque, const char *method, json_object *params)
{
    agent_fixture_t *f = opaque;
    const char *session = json_object_get_string(json_object_array_get_idx(params, 0));

    if (!session || strcmp(session, FIXTURE_SESSION) != 0)
        return fake_xapi_failure("SESSION_INVALID", session);
    if (strcmp(method, "event.from") == 0)
        return answer_event_from(f, params);
    if (strcmp(method, "host.get_all_records") == 0) {
        f->script.host_calls++;
        return fake_xapi_success(f->script.hosts ? json_object_get(f->script.hosts)
                                                 : json_object_new_object());
    }
    f->script.other_calls++;
    return fake_xapi_failure("MESSAGE_METHOD_UNKNOWN", method);
}

json_object *fixture_event(const char *op, const char *cls, const char *ref, long id,
                           json_object *snapshot)
{
    json_object *ev = json_object_new_object();
    char idbuf[32];

    snprintf(idbuf, sizeof(idbuf), "%ld", id); /* XAPI sends int64 as strings */
    json_object_object_add(ev, "id", json_object_new_string(idbuf));
    json_object_object_add(ev, "timestamp", json_object_new_string("20240101T00:00:00Z"));
    json_object_object_add(ev, "class", json_object_new_string(cls));
    json_object_object_add(ev, "operation", json_object_new_string(op));
    json_object_object_add(ev, "ref", json_object_new_string(ref));
    if (snapshot)
        json_object_object_add(ev, "snapshot", snapshot);
    return ev;
}

json_object *fixture_snapshot(const char *uuid, const char *name)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    json_object_object_add(o, "name_label", json_object_new_string(name));
    return o;
}

void fixture_queue_event_from(agent_fixture_t *f, json_object *events, json_object *counts,
                              const char *token)
{
    json_object *v = json_object_new_object();

    json_object_object_add(v, "events", events);
    if (counts)
        json_object_object_add(v, "valid_ref_counts", counts);
    if (token)
        json_object_object_add(v, "token", json_object_new_string(token));
    if (f->script.n_event_from < FIXTURE_MAX_EVENT_FROM)
        f->script.event_from[f->script.n_event_from++] = fake_xapi_success(v);
    else
        json_object_put(v);
}

void fixture_queue_event_from_failure(agent_fixture_t *f, const char *code)
{
    if (f->script.n_event_from < FIXTURE_MAX_EVENT_FROM)
        f->script.event_from[f->script.n_event_from++] = fake_xapi_failure(code, NULL);
}

/* ---- set-up ---- */

static int load_config(agent_fixture_t *f, const char *bootstrap, const char *extra)
{
    char text[1024], errstr[256];

    snprintf(text, sizeof(text), "[xapi]\nurl = %s\n%s%s%s\n",
             f->xapi_server ? fake_xapi_url(f->xapi_server) : "http://127.0.0.1:9",
             bootstrap ? "[kafka]\nlog_level = 3\nbootstrap.servers = " : "",
             bootstrap ? bootstrap : "", bootstrap ? "\n" : "");
    f->cfg = xo_config_new(fixture_spec, "XO_FIXTURE");
    if (!f->cfg ||
        xo_config_load_string(f->cfg, text, "fixture", errstr, sizeof(errstr)) != XO_OK ||
        (extra &&
         xo_config_load_string(f->cfg, extra, "fixture-extra", errstr, sizeof(errstr)) != XO_OK)) {
        fprintf(stderr, "fixture config: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int connect_xapi(agent_fixture_t *f)
{
    char errstr[256];
    xo_xapi_opts_t opts = {
        .url = fake_xapi_url(f->xapi_server), .connect_timeout_ms = 2000, .timeout_ms = 10000};

    if (xo_xapi_conn_new(&opts, &f->a.xapi, errstr, sizeof(errstr)) != XO_OK) {
        fprintf(stderr, "fixture xapi: %s\n", errstr);
        return -1;
    }
    xo_xapi_conn_set_abort(f->a.xapi, &agent_stop);
    snprintf(f->a.session, sizeof(f->a.session), "%s", FIXTURE_SESSION);
    agent_add_host(&f->a, opts.url, true);
    return 0;
}

int fixture_init(agent_fixture_t *f, const char *bootstrap, bool with_xapi,
                 const char *extra_config)
{
    agent_t *a = &f->a;

    memset(f, 0, sizeof(*f));
    f->fail_at = -1;
    agent_stop = 0;
    if (with_xapi && !(f->xapi_server = fake_xapi_start(script_handler, f)))
        return -1;
    if (load_config(f, bootstrap, extra_config) != 0)
        return -1;
    a->cfg = f->cfg;
    snprintf(a->id, sizeof(a->id), "%s", FIXTURE_AGENT);
    pthread_mutex_init(&a->status_lock, NULL);
    a->published = xo_strmap_new();
    a->class_counts = xo_strmap_new();
    a->ignored = xo_strmap_new();
    a->vm_refs = agent_vm_refs_new();
    if (!a->published || !a->class_counts || !a->ignored || !a->vm_refs ||
        xo_topics_init(&a->topics, xo_config_get(f->cfg, "topics.prefix")) != XO_OK)
        return -1;
    snprintf(a->pool_uuid, sizeof(a->pool_uuid), "%s", FIXTURE_POOL);
    a->n_partitions = MOCK_KAFKA_PARTITIONS;
    a->partition = xo_pool_partition(FIXTURE_POOL, MOCK_KAFKA_PARTITIONS);
    a->send_hook = record_send;
    a->send_hook_opaque = f;
    return with_xapi ? connect_xapi(f) : 0;
}

void fixture_clear(agent_fixture_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->recs[i].topic);
        free(f->recs[i].key);
        free(f->recs[i].value);
    }
    f->n = 0;
}

void fixture_fini(agent_fixture_t *f)
{
    fake_xapi_stop(f->xapi_server); /* first: its thread reads the script */
    xo_xapi_conn_free(f->a.xapi);
    fixture_clear(f);
    free(f->recs);
    for (int i = 0; i < f->script.n_event_from; i++)
        json_object_put(f->script.event_from[i]);
    json_object_put(f->script.hosts);
    xo_strmap_free(f->a.published);
    xo_strmap_free(f->a.class_counts);
    xo_strmap_free(f->a.ignored);
    agent_vm_refs_free(f->a.vm_refs);
    xo_jtext_fini(&f->a.record);
    pthread_mutex_destroy(&f->a.status_lock);
    xo_config_free(f->cfg);
    memset(f, 0, sizeof(*f));
}

const fixture_record_t *fixture_find(const agent_fixture_t *f, const char *key)
{
    long i = fixture_index(f, key);
    return i < 0 ? NULL : &f->recs[i];
}

long fixture_index(const agent_fixture_t *f, const char *key)
{
    for (size_t i = f->n; i-- > 0;)
        if (strcmp(f->recs[i].key, key) == 0)
            return (long)i;
    return -1;
}

json_object *fixture_value(const fixture_record_t *r)
{
    return r && r->value ? json_tokener_parse(r->value) : NULL;
}

const char *fixture_key(const char *cls, const char *ref)
{
    static char key[512];
    xo_object_key(key, sizeof(key), FIXTURE_POOL, cls, ref);
    return key;
}
