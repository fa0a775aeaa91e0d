/*
 * fuzz_http_rest.c - libFuzzer target for the gateway's HTTP request parsing and routing
 * (rest*.c, filter.c): one input is an optional method letter (P POST, U PUT, A PATCH,
 * D DELETE; none: GET), a request target ("/rest/v0/vms?fields=..&filter=..") optionally
 * followed by "\n" and an Authorization header value, and after a second "\n" a request
 * body. Parsed, routed and answered against a small view. Must never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest.h"
#include "xo_log.h"

static gw_ctx_t ctx;

static void init(void)
{
    char errstr[64];
    const char *vm = "{\"uuid\":\"vm1\",\"name_label\":\"a b\",\"power_state\":\"Running\","
                     "\"tags\":[\"x\"]}";
    json_object *snap = json_tokener_parse(vm);
    xo_log_set_level(XO_LOG_ERROR);
    ctx.view = gw_view_new();
    ctx.notify = gw_notify_new();
    ctx.metrics = gw_metrics_new();
    ctx.limits.max_http_body = 1 << 20;
    gw_users_load(NULL, &ctx.users, errstr, sizeof(errstr));
    gw_view_apply_object(ctx.view, "pool-1", "vm", "OpaqueRef:1", snap, vm, strlen(vm), errstr,
                         sizeof(errstr));
    json_object_put(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static gw_http_req_t req;
    gw_http_resp_t resp;
    char *text, *target, *nl, errstr[128];
    gw_filter_t *f = NULL;

    if (!ready) {
        init();
        ready = 1;
    }
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    memset(&req, 0, sizeof(req));
    /* the first byte may pick the method (changes are commands: disabled here, 501) */
    req.method = size == 0        ? GW_HTTP_GET
                 : data[0] == 'P' ? GW_HTTP_POST
                 : data[0] == 'U' ? GW_HTTP_PUT
                 : data[0] == 'A' ? GW_HTTP_PATCH
                 : data[0] == 'D' ? GW_HTTP_DELETE
                                  : GW_HTTP_GET;
    target = text + (req.method != GW_HTTP_GET || (size && data[0] == 'G'));
    nl = strchr(target, '\n');
    if (nl) {
        char *body;
        *nl = '\0';
        body = strchr(nl + 1, '\n');
        if (body) {
            *body++ = '\0';
            req.body = body;
            req.body_len = strlen(body);
        }
        /* "Basic ..." would run PBKDF2 for every input: keep Bearer/Basic parsing, but
         * let the throttle cut repeated tries short */
        strncpy(req.authorization, nl + 1, sizeof(req.authorization) - 1);
    }
    if (gw_http_parse_target(target, &req, errstr, sizeof(errstr)) == XO_OK) {
        memset(&resp, 0, sizeof(resp));
        gw_buf_init_pre(&resp.body, 16);
        gw_http_route(&ctx, &req, &resp);
        if (resp.status < 200 || resp.status > 599)
            abort();
        gw_buf_fini(&resp.body);
        gw_rest_watch_free(resp.watch);
    }
    /* the filter parser on its own, against a fixed object */
    if (gw_filter_parse(text, &f, errstr, sizeof(errstr)) == XO_OK) {
        static const char obj[] = "{\"type\":\"VM\",\"name_label\":\"x\",\"n\":1,\"tags\":[\"a\"],"
                                  "\"o\":{\"p\":[1,{\"q\":null}]}}";
        (void)gw_filter_match_json(f, obj, sizeof(obj) - 1);
        gw_filter_free(f);
    }
    free(text);
    return 0;
}
