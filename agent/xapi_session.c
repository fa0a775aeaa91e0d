/*
 * xapi_session.c - logging in to the pool: follow HOST_IS_SLAVE to the master, try every
 * known host with capped exponential backoff and jitter when the master is unreachable,
 * re-login on demand, log out on shutdown. Must never log the password or session ref.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "xo_log.h"

/* scheme://host[:port] of url with host replaced by address (which may carry a port). */
static void url_with_host(const char *url, const char *address, char *out, size_t size)
{
    const char *p = strstr(url, "://"), *host = p ? p + 3 : url, *end;
    const char *port = NULL;
    int scheme_len = p ? (int)(p - url) : 4;

    end = host + strcspn(host, "/?");
    if (*host == '[') { /* IPv6 literal */
        const char *close = memchr(host, ']', (size_t)(end - host));
        port = close && close[1] == ':' ? close + 1 : NULL;
    } else {
        port = memchr(host, ':', (size_t)(end - host));
    }
    if (strchr(address, ':') && address[0] != '[' && strchr(address, ':') == strrchr(address, ':'))
        port = NULL; /* address already has a port */
    snprintf(out, size, "%.*s://%s%.*s", scheme_len, p ? url : "http", address,
             port ? (int)(end - port) : 0, port ? port : "");
}

void agent_add_host(agent_t *a, const char *url_or_address, bool first)
{
    char url[256];

    if (!url_or_address || !*url_or_address)
        return;
    if (strstr(url_or_address, "://"))
        snprintf(url, sizeof(url), "%s", url_or_address);
    else
        url_with_host(xo_config_get(a->cfg, "xapi.url"), url_or_address, url, sizeof(url));
    for (int i = 0; i < a->n_hosts; i++) {
        if (strcmp(a->hosts[i], url) == 0) {
            if (first && i > 0) { /* move to the front */
                memmove(a->hosts[1], a->hosts[0], (size_t)i * sizeof(a->hosts[0]));
                snprintf(a->hosts[0], sizeof(a->hosts[0]), "%s", url);
            }
            return;
        }
    }
    if (a->n_hosts == AGENT_MAX_HOSTS)
        a->n_hosts--; /* forget the least likely */
    if (first) {
        memmove(a->hosts[1], a->hosts[0], (size_t)a->n_hosts * sizeof(a->hosts[0]));
        snprintf(a->hosts[0], sizeof(a->hosts[0]), "%s", url);
    } else {
        snprintf(a->hosts[a->n_hosts], sizeof(a->hosts[0]), "%s", url);
    }
    a->n_hosts++;
}

static xo_err_t login_once(agent_t *a, xo_xapi_conn_t *conn, char *session, size_t session_size,
                           xo_xapi_error_t *xerr, char *errstr, size_t errstr_size)
{
    json_object *params = json_object_new_array(), *value = NULL;
    xo_err_t err;

    json_object_array_add(params, json_object_new_string(xo_config_get(a->cfg, "xapi.user")));
    json_object_array_add(params, json_object_new_string(a->password));
    json_object_array_add(params, json_object_new_string("1.0"));
    json_object_array_add(params, json_object_new_string("xo-fleet"));
    err = xo_xapi_call(conn, "session.login_with_password", params, 0, &value, xerr, errstr,
                       errstr_size);
    json_object_put(params);
    if (err == XO_OK) {
        if (!json_object_is_type(value, json_type_string)) {
            err = xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "login answered a non-string");
        } else {
            snprintf(session, session_size, "%s", json_object_get_string(value));
        }
    }
    json_object_put(value);
    return err;
}

/* Log in at url, following HOST_IS_SLAVE redirections to the master. */
xo_err_t agent_login_conn(agent_t *a, xo_xapi_conn_t *conn, const char *url, char *session,
                          size_t session_size, char *errstr, size_t errstr_size)
{
    xo_xapi_error_t xerr = {0};
    char next[256];
    xo_err_t err = xo_xapi_conn_set_url(conn, url, errstr, errstr_size);

    for (int hops = 0; err == XO_OK && hops < 4; hops++) {
        err = login_once(a, conn, session, session_size, &xerr, errstr, errstr_size);
        if (err != XO_ERR_XAPI || strcmp(xerr.code, "HOST_IS_SLAVE") != 0)
            break;
        if (json_object_array_length(xerr.params) < 1) {
            err = xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "HOST_IS_SLAVE without address");
            break;
        }
        url_with_host(xo_xapi_conn_url(conn),
                      json_object_get_string(json_object_array_get_idx(xerr.params, 0)), next,
                      sizeof(next));
        xo_info(AGENT_MOD, "event=host_is_slave host=%s master=%s", xo_xapi_conn_url(conn), next);
        xo_xapi_error_clear(&xerr);
        err = xo_xapi_conn_set_url(conn, next, errstr, errstr_size);
    }
    if (err == XO_ERR_XAPI)
        snprintf(errstr, errstr_size, "XAPI error %s", xerr.code);
    if (err == XO_ERR_XAPI && strcmp(xerr.code, "SESSION_AUTHENTICATION_FAILED") == 0)
        err = XO_ERR_CONFIG; /* credentials: retrying will not help */
    xo_xapi_error_clear(&xerr);
    return err;
}

xo_err_t agent_connect(agent_t *a)
{
    char errstr[512];

    agent_set_state(a, AGENT_CONNECTING, NULL);
    for (int attempt = 0; !agent_stop; attempt++) {
        for (int i = 0; i < a->n_hosts && !agent_stop; i++) {
            char url[256];
            xo_err_t err;

            snprintf(url, sizeof(url), "%s", a->hosts[i]);
            err = agent_login_conn(a, a->xapi, url, a->session, sizeof(a->session), errstr,
                                   sizeof(errstr));
            if (err == XO_OK) {
                pthread_mutex_lock(&a->status_lock);
                snprintf(a->status.master, sizeof(a->status.master), "%s",
                         xo_xapi_conn_url(a->xapi));
                a->status.changed = true;
                pthread_mutex_unlock(&a->status_lock);
                agent_add_host(a, xo_xapi_conn_url(a->xapi), true);
                xo_info(AGENT_MOD, "event=logged_in master=%s", xo_xapi_conn_url(a->xapi));
                return XO_OK;
            }
            xo_warn(AGENT_MOD, "event=login_failed host=%s error=%s reason=\"%s\"", url,
                    xo_strerror(err), errstr);
            if (err == XO_ERR_CONFIG) {
                agent_set_state(a, AGENT_ERROR, "XAPI refused the credentials");
                return XO_ERR_CONFIG;
            }
            if (err == XO_ERR_TLS && i == 0 && attempt == 0) {
                agent_set_state(a, AGENT_ERROR, "TLS verification of the pool master failed");
                return XO_ERR_TLS;
            }
        }
        {
            int delay = agent_backoff_ms(a, attempt);
            char why[300];
            snprintf(why, sizeof(why), "no pool host reachable: %.200s", errstr);
            agent_set_state(a, AGENT_ERROR, why);
            xo_warn(AGENT_MOD, "event=unreachable hosts=%d retry_in_ms=%d", a->n_hosts, delay);
            agent_sleep(delay);
        }
    }
    return XO_ERR_CONNECT;
}

xo_err_t agent_call(agent_t *a, const char *method, json_object *params, long timeout_ms,
                    json_object **value, xo_xapi_error_t *xerr, char *errstr, size_t errstr_size)
{
    return agent_call_conn(a->xapi, a->session, method, params, timeout_ms, value, xerr, errstr,
                           errstr_size);
}

xo_err_t agent_call_conn(xo_xapi_conn_t *conn, const char *session, const char *method,
                         json_object *params, long timeout_ms, json_object **value,
                         xo_xapi_error_t *xerr, char *errstr, size_t errstr_size)
{
    json_object *full = json_object_new_array();
    xo_err_t err;

    json_object_array_add(full, json_object_new_string(session));
    for (size_t i = 0; params && i < json_object_array_length(params); i++)
        json_object_array_add(full, json_object_get(json_object_array_get_idx(params, i)));
    json_object_put(params);
    err = xo_xapi_call(conn, method, full, timeout_ms, value, xerr, errstr, errstr_size);
    json_object_put(full);
    return err;
}

/* A connection being closed: its abort flag is cleared first, as the stop that closes it
 * would abort the call. */
void agent_logout_conn(xo_xapi_conn_t *conn, const char *session)
{
    char errstr[256];
    json_object *value = NULL;

    if (!conn || !session[0])
        return;
    xo_xapi_conn_set_abort(conn, NULL); /* the logout itself must not be aborted */
    if (agent_call_conn(conn, session, "session.logout", NULL, 5000, &value, NULL, errstr,
                        sizeof(errstr)) != XO_OK)
        xo_dbg(XO_DBG_XAPI, AGENT_MOD, "event=logout_failed reason=\"%s\"", errstr);
    json_object_put(value);
}

void agent_logout(agent_t *a)
{
    char errstr[256];
    json_object *value = NULL;

    if (!a->session[0])
        return;
    if (agent_call(a, "session.logout", NULL, 5000, &value, NULL, errstr, sizeof(errstr)) != XO_OK)
        xo_dbg(XO_DBG_XAPI, AGENT_MOD, "event=logout_failed reason=\"%s\"", errstr);
    json_object_put(value);
    a->session[0] = '\0';
}
