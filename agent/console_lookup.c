/*
 * console_lookup.c - the console's XAPI thread: on its own connection and session it finds
 * where a VM's RFB console is (VM.get_by_uuid, VM.get_record, console.get_record, and the
 * resident host's address when the location names none, as XAPI writes it for some
 * hosts), and hands the answer to the relay thread. Blocking calls live here so that the
 * relay's event loop never waits on XAPI. Must not touch the relay's connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_int.h"
#include "xo_log.h"

#define QMAX 1024 /* questions or answers waiting; more sessions than that are refused earlier */

typedef struct {
    uint64_t serial;
    char vm[72];
} question_t;

struct console_lookup {
    agent_t *a;
    xo_xapi_conn_t *xapi;
    char session[128]; /* a credential: never logged */
    bool tls;          /* xapi.url is https */
    int port;          /* xapi.url's port */
    void (*wake)(void *);
    void *wake_opaque;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    question_t q[QMAX];
    size_t nq;
    console_target_t *answers;
    size_t na;
};

/* The scheme and port consoles use when their location gives none: xapi.url's (XAPI serves
 * /console on the same port as its API: 443 on a real host). */
static void url_defaults(const char *url, bool *tls, int *port)
{
    const char *p = strstr(url, "://"), *colon;

    *tls = !strncmp(url, "https", 5);
    *port = *tls ? 443 : 80;
    p = p ? p + 3 : url;
    if (*p == '[')
        p = strchr(p, ']') ? strchr(p, ']') + 1 : p;
    colon = strchr(p, ':');
    if (colon && (!strchr(p, '/') || colon < strchr(p, '/')))
        *port = atoi(colon + 1);
}

xo_err_t console_lookup_new(agent_t *a, void (*wake)(void *), void *wake_opaque,
                            console_lookup_t **out, char *errstr, size_t errstr_size)
{
    const xo_config_t *cfg = a->cfg;
    xo_xapi_opts_t opts = {
        .url = xo_config_get(cfg, "xapi.url"),
        .ca_file = xo_config_get(cfg, "xapi.ca_file"),
        .pin_sha256 = xo_config_get(cfg, "xapi.fingerprint"),
        .insecure = xo_config_get_bool(cfg, "xapi.insecure"),
        .connect_timeout_ms = xo_config_get_int(cfg, "xapi.connect_timeout_ms"),
        .timeout_ms = 30000,
    };
    console_lookup_t *l = calloc(1, sizeof(*l));
    xo_err_t err;

    *out = NULL;
    if (!l)
        return XO_ERR_NOMEM;
    l->a = a;
    l->wake = wake;
    l->wake_opaque = wake_opaque;
    url_defaults(opts.url ? opts.url : "", &l->tls, &l->port);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cond, NULL);
    l->answers = calloc(QMAX, sizeof(*l->answers));
    err = l->answers ? xo_xapi_conn_new(&opts, &l->xapi, errstr, errstr_size) : XO_ERR_NOMEM;
    if (err != XO_OK) {
        console_lookup_free(l);
        return err == XO_ERR_INVALID ? XO_ERR_CONFIG : err;
    }
    xo_xapi_conn_set_abort(l->xapi, &agent_stop);
    *out = l;
    return XO_OK;
}

void console_lookup_ask(console_lookup_t *l, uint64_t serial, const char *vm_uuid)
{
    pthread_mutex_lock(&l->mu);
    if (l->nq < QMAX) {
        l->q[l->nq].serial = serial;
        snprintf(l->q[l->nq].vm, sizeof(l->q[0].vm), "%s", vm_uuid);
        l->nq++;
        pthread_cond_signal(&l->cond);
    }
    pthread_mutex_unlock(&l->mu);
}

bool console_lookup_take(console_lookup_t *l, console_target_t *out)
{
    bool got = false;

    pthread_mutex_lock(&l->mu);
    if (l->na > 0) {
        *out = l->answers[0];
        memmove(l->answers, l->answers + 1, (l->na - 1) * sizeof(*l->answers));
        l->na--;
        got = true;
    }
    pthread_mutex_unlock(&l->mu);
    return got;
}

/* ------------------------------------------------------------------ XAPI */

static xo_err_t login(console_lookup_t *l)
{
    char url[256], errstr[512];
    xo_err_t err;

    pthread_mutex_lock(&l->a->status_lock);
    snprintf(url, sizeof(url), "%s", l->a->status.master);
    pthread_mutex_unlock(&l->a->status_lock);
    if (!url[0])
        snprintf(url, sizeof(url), "%s", xo_config_get(l->a->cfg, "xapi.url"));
    err = agent_login_conn(l->a, l->xapi, url, l->session, sizeof(l->session), errstr,
                           sizeof(errstr));
    if (err != XO_OK)
        xo_warn(CON_MOD, "event=login_failed host=%s reason=\"%s\"", url, errstr);
    return err;
}

static json_object *arg1(const char *s)
{
    json_object *p = json_object_new_array();

    json_object_array_add(p, json_object_new_string(s));
    return p;
}

/* One call on the lookup session, logging in again once if the session or link is gone. */
static xo_err_t call(console_lookup_t *l, const char *method, const char *arg, json_object **v,
                     console_target_t *t)
{
    xo_xapi_error_t xerr = {0};
    xo_err_t err = XO_ERR_CONNECT;

    for (int attempt = 0; attempt < 2 && !agent_stop; attempt++) {
        if (!l->session[0] && login(l) != XO_OK)
            break;
        xo_xapi_error_clear(&xerr);
        err = agent_call_conn(l->xapi, l->session, method, arg1(arg), 0, v, &xerr, t->reason,
                              sizeof(t->reason));
        if (err == XO_OK)
            break;
        if (err == XO_ERR_XAPI && strcmp(xerr.code, "SESSION_INVALID") != 0 &&
            strcmp(xerr.code, "HOST_IS_SLAVE") != 0)
            break; /* XAPI's answer: a new session would get the same */
        l->session[0] = '\0';
    }
    if (err == XO_ERR_XAPI)
        snprintf(t->code, sizeof(t->code), "%.39s", xerr.code);
    else if (err != XO_OK)
        snprintf(t->code, sizeof(t->code), "XAPI_UNREACHABLE");
    xo_xapi_error_clear(&xerr);
    return err;
}

static const char *str_of(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* "https://10.0.0.2/console?uuid=..." -> addr, port, path; an empty host stays empty. */
static void parse_location(console_lookup_t *l, const char *loc, console_target_t *t)
{
    const char *p = strstr(loc, "://"), *slash, *colon;
    size_t n;

    t->tls = p ? !strncmp(loc, "https", 5) || !strncmp(loc, "wss", 3) : l->tls;
    t->tls = t->tls && l->tls; /* a plain-HTTP pool (the simulator) serves it plain too */
    t->port = l->port;
    p = p ? p + 3 : loc;
    slash = strchr(p, '/');
    n = slash ? (size_t)(slash - p) : strlen(p);
    colon = memchr(p, ':', n);
    if (colon && p[0] != '[') {
        t->port = atoi(colon + 1);
        n = (size_t)(colon - p);
    }
    snprintf(t->addr, sizeof(t->addr), "%.*s", (int)(n < sizeof(t->addr) ? n : 0), p);
    snprintf(t->path, sizeof(t->path), "%s", slash ? slash : "/console");
}

/* The VM's rfb console among @p consoles (refs). */
static bool find_rfb(console_lookup_t *l, json_object *consoles, console_target_t *t)
{
    for (size_t i = 0; i < json_object_array_length(consoles); i++) {
        json_object *rec = NULL;
        const char *ref = json_object_get_string(json_object_array_get_idx(consoles, i));
        bool rfb;
        if (call(l, "console.get_record", ref, &rec, t) != XO_OK)
            continue;
        rfb = str_of(rec, "protocol") && !strcmp(str_of(rec, "protocol"), "rfb");
        if (rfb)
            parse_location(l, str_of(rec, "location") ? str_of(rec, "location") : "", t);
        json_object_put(rec);
        if (rfb)
            return true;
    }
    return false;
}

static void fail(console_target_t *t, const char *code, const char *fmt, const char *arg)
{
    snprintf(t->code, sizeof(t->code), "%s", code);
    snprintf(t->reason, sizeof(t->reason), fmt, arg ? arg : "");
}

static void resolve(console_lookup_t *l, const question_t *q, console_target_t *t)
{
    json_object *ref = NULL, *rec = NULL, *v, *other, *consoles;
    char vm[128], host[128] = "";
    const char *s;

    memset(t, 0, sizeof(*t));
    t->serial = q->serial;
    if (call(l, "VM.get_by_uuid", q->vm, &ref, t) != XO_OK)
        return;
    snprintf(vm, sizeof(vm), "%s", json_object_get_string(ref));
    json_object_put(ref);
    if (call(l, "VM.get_record", vm, &rec, t) != XO_OK)
        return;
    snprintf(t->power, sizeof(t->power), "%s",
             str_of(rec, "power_state") ? str_of(rec, "power_state") : "");
    s = str_of(rec, "resident_on");
    snprintf(host, sizeof(host), "%s", s ? s : "");
    if (json_object_object_get_ex(rec, "other_config", &other) &&
        json_object_object_get_ex(other, "disable_pv_vnc", &v) &&
        !strcmp(json_object_get_string(v), "1"))
        fail(t, "CONSOLE_DISABLED", "other_config.disable_pv_vnc is 1%s", NULL);
    else if (strcmp(t->power, "Running") != 0)
        fail(t, "VM_NOT_RUNNING", "the VM is %s", t->power);
    else if (!json_object_object_get_ex(rec, "consoles", &consoles) || !find_rfb(l, consoles, t))
        fail(t, "NO_RFB_CONSOLE", "the VM has no console with protocol rfb%s", NULL);
    json_object_put(rec);
    if (t->code[0] || !host[0])
        return;
    if (call(l, "host.get_uuid", host, &v, t) == XO_OK) {
        snprintf(t->host_uuid, sizeof(t->host_uuid), "%s", json_object_get_string(v));
        json_object_put(v);
    }
    if (!t->addr[0] && call(l, "host.get_address", host, &v, t) == XO_OK) {
        snprintf(t->addr, sizeof(t->addr), "%s", json_object_get_string(v));
        json_object_put(v);
    }
    if (!t->addr[0] && !t->code[0])
        fail(t, "CONSOLE_UNREACHABLE", "no address for the VM's host%s", NULL);
    t->code[0] = t->addr[0] ? '\0' : t->code[0];
    snprintf(t->session, sizeof(t->session), "%s", l->session);
}

static void *lookup_main(void *arg)
{
    console_lookup_t *l = arg;
    question_t q;
    console_target_t t;

    while (!agent_stop) {
        pthread_mutex_lock(&l->mu);
        if (l->nq == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&l->cond, &l->mu, &ts);
        }
        if (l->nq == 0) {
            pthread_mutex_unlock(&l->mu);
            continue;
        }
        q = l->q[0];
        memmove(l->q, l->q + 1, (l->nq - 1) * sizeof(l->q[0]));
        l->nq--;
        pthread_mutex_unlock(&l->mu);
        resolve(l, &q, &t);
        pthread_mutex_lock(&l->mu);
        if (l->na < QMAX)
            l->answers[l->na++] = t;
        pthread_mutex_unlock(&l->mu);
        memset(&t.session, 0, sizeof(t.session));
        l->wake(l->wake_opaque);
    }
    return NULL;
}

xo_err_t console_lookup_start(console_lookup_t *l)
{
    if (pthread_create(&l->thread, NULL, lookup_main, l) != 0)
        return XO_ERR_NOMEM;
    l->started = true;
    return XO_OK;
}

void console_lookup_free(console_lookup_t *l)
{
    if (!l)
        return;
    if (l->started)
        pthread_join(l->thread, NULL);
    if (l->session[0]) {
        json_object *ignored = NULL;
        char errstr[128];
        xo_xapi_conn_set_abort(l->xapi, NULL);
        agent_call_conn(l->xapi, l->session, "session.logout", NULL, 5000, &ignored, NULL, errstr,
                        sizeof(errstr));
        json_object_put(ignored);
    }
    xo_xapi_conn_free(l->xapi);
    memset(l->session, 0, sizeof(l->session));
    free(l->answers);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    free(l);
}
