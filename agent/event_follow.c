/*
 * event_follow.c - follows XAPI's event.from with the token of the last answer, publishing
 * each change in XAPI's order, and checks after every answer that valid_ref_counts agrees
 * with what has been published: XAPI forgets deletes after a bounded window and never says
 * so, and a disagreement is the only sign. Any doubt ends the follow with a resync.
 */
#include <ctype.h>
#include <string.h>

#include "agent.h"
#include "xo_log.h"

static int64_t as_int(json_object *v)
{
    return json_object_get_int64(v); /* XML-RPC may carry the count as int or as a string */
}

bool agent_counts_agree(agent_t *a, json_object *counts, bool learn)
{
    bool agree = true;

    json_object_object_foreach(counts, name, v)
    {
        char cls[64];
        int64_t have = 0, want = as_int(v);
        size_t i;

        for (i = 0; name[i] && i < sizeof(cls) - 1; i++)
            cls[i] = (char)tolower((unsigned char)name[i]);
        cls[i] = '\0';
        if (xo_strmap_get(a->ignored, cls, NULL))
            continue;
        xo_strmap_get(a->class_counts, cls, &have);
        if (have == want)
            continue;
        if (learn) {
            /* Right after a full dump the two must agree; a class that still differs is one
             * event.from does not report (e.g. sessions): leave it out of the check. */
            xo_info(AGENT_MOD, "event=count_not_comparable class=%s xapi=%lld published=%lld", cls,
                    (long long)want, (long long)have);
            xo_strmap_set(a->ignored, cls, 1);
        } else {
            xo_warn(AGENT_MOD, "event=count_drift class=%s xapi=%lld published=%lld action=resync",
                    cls, (long long)want, (long long)have);
            agree = false;
        }
    }
    return agree;
}

static xo_err_t on_event(json_object *ev, const xo_xmlrpc_raw_t *raw, void *opaque)
{
    xo_err_t err = agent_publish_event_raw(opaque, ev, raw);
    return err == XO_ERR_PARSE ? XO_OK : err; /* skip malformed; the count check decides */
}

static xo_err_t follow_once(agent_t *a, json_object **result, xo_xapi_error_t *xerr, char *errstr,
                            size_t errstr_size)
{
    xo_xapi_raw_stream_t stream = agent_event_stream(on_event, a);
    long timeout_s = xo_config_get_int(a->cfg, "xapi.event_timeout_s");
    json_object *params = json_object_new_array(), *classes = json_object_new_array();
    xo_err_t err;

    json_object_array_add(classes, json_object_new_string("*"));
    json_object_array_add(params, json_object_new_string(a->session));
    json_object_array_add(params, classes);
    json_object_array_add(params, json_object_new_string(a->token));
    /* XAPI wants a float: "must be float for XML-RPC" (xen-api npm client). */
    json_object_array_add(params, json_object_new_double((double)timeout_s + 0.1));
    err = xo_xapi_call_stream_raw(a->xapi, "event.from", params, (timeout_s + 30) * 1000, &stream,
                                  result, xerr, errstr, errstr_size);
    json_object_put(params);
    return err;
}

xo_err_t agent_follow(agent_t *a)
{
    char errstr[512];
    xo_err_t err = XO_OK;

    agent_set_state(a, AGENT_LIVE, NULL);
    while (!agent_stop && err == XO_OK) {
        json_object *result = NULL, *token, *counts;
        xo_xapi_error_t xerr = {0};

        if (atomic_load(&a->need_resync)) {
            xo_info(AGENT_MOD, "event=resync reason=\"Kafka delivery failed or back-pressure\"");
            return XO_ERR_INVALID;
        }
        err = follow_once(a, &result, &xerr, errstr, sizeof(errstr));
        if (err == XO_ERR_XAPI) {
            xo_warn(AGENT_MOD, "event=event_from_failed code=%s action=%s", xerr.code,
                    strcmp(xerr.code, "SESSION_INVALID") == 0 ? "relogin" : "resync");
            if (strcmp(xerr.code, "SESSION_INVALID") != 0)
                err = XO_ERR_INVALID;
        } else if (err != XO_OK) {
            xo_warn(AGENT_MOD, "event=event_from_failed error=%s reason=\"%s\"", xo_strerror(err),
                    errstr);
        } else if (!json_object_object_get_ex(result, "token", &token) ||
                   !json_object_is_type(token, json_type_string) ||
                   json_object_get_string_len(token) >= (int)sizeof(a->token)) {
            xo_warn(AGENT_MOD, "event=event_from_failed reason=\"answer without token\"");
            err = XO_ERR_INVALID;
        } else {
            xo_dbg(XO_DBG_SYNC, AGENT_MOD, "event=batch total_events=%lld token=%s",
                   (long long)a->status.events, json_object_get_string(token));
            snprintf(a->token, sizeof(a->token), "%s", json_object_get_string(token));
            if (json_object_object_get_ex(result, "valid_ref_counts", &counts) &&
                !agent_counts_agree(a, counts, false))
                err = XO_ERR_INVALID;
        }
        if (err != XO_OK && err != XO_ERR_INVALID)
            agent_count(a, &a->status.xapi_errors, 1);
        xo_xapi_error_clear(&xerr);
        json_object_put(result);
    }
    return err;
}
