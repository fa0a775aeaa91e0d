/*
 * rest_tasks.c - the gateway's own tasks over REST: each command it issued (a JSON-RPC
 * vm.* call or a REST action) is a task of XO's shape ({id, properties: {name, method,
 * objectId, objectType, params, userId, type}, start, updatedAt, end?, status, progress,
 * infos? (the step in progress), result?}) at /rest/v0/tasks, with ?wait=true (answer once the task
 * ends), ?watch=true (an NDJSON stream of ["update", task] lines), DELETE of finished tasks, and an
 * object's tasks at /<collection>/<id>/tasks. The command bus keeps them (bus/commands.h: the last
 * GW_CMD_MAX_TASKS, in memory). The XAPI tasks of the view are objects of JSON-RPC's
 * xo.getAllObjects, not of this collection (as in XO, where /tasks lists XO's tasks).
 */
#include <stdlib.h>
#include <string.h>

#include "api/rest_int.h"
#include "bus/commands.h"

/* XO's task status: pending, success, or failure (failure, rejected, timeout). */
static const char *task_status(const gw_cmd_task_t *t)
{
    if (!t->done)
        return "pending";
    return strcmp(t->state, "success") ? "failure" : "success";
}

/* The type of the task's object in the view ("VM" when it left the view). */
static const char *object_type(gw_ctx_t *ctx, const char *id)
{
    gw_obj_info_t o;
    const char *type = "VM";

    gw_view_rdlock(ctx->view);
    if (gw_view_get(ctx->view, id, &o) && o.type != GW_T_NONE)
        type = gw_type_name(o.type);
    gw_view_unlock(ctx->view);
    return type;
}

/* An action's result as XO's task result (an object): a snapshot's id as {id}; nothing
 * for true (XO's void actions); an error as the XO error object. */
static void write_result(gw_jw_t *w, const gw_cmd_task_t *t)
{
    const char *r = t->result_json;

    if (t->error_json) {
        gw_jw_key(w, "result");
        gw_jw_raw(w, t->error_json, strlen(t->error_json));
    } else if (r && r[0] == '{') {
        gw_jw_key(w, "result");
        gw_jw_raw(w, r, strlen(r));
    } else if (r && r[0] == '"') {
        gw_jw_key(w, "result");
        gw_jw_obj_begin(w);
        gw_jw_key(w, "id");
        gw_jw_raw(w, r, strlen(r));
        gw_jw_obj_end(w);
    }
}

/* The step in progress (pool.installPatches: download, upload with its bytes, precheck,
 * apply, update per host) as XO's task log: infos [{message: step, data: the step}]. */
static void write_step(gw_jw_t *w, const gw_cmd_task_t *t)
{
    json_object *step = t->step_json ? json_tokener_parse(t->step_json) : NULL, *name;

    if (json_object_is_type(step, json_type_object) &&
        json_object_object_get_ex(step, "step", &name) &&
        json_object_is_type(name, json_type_string)) {
        gw_jw_key(w, "infos");
        gw_jw_arr_begin(w);
        gw_jw_obj_begin(w);
        gw_jw_key(w, "message");
        gw_jw_str(w, json_object_get_string(name));
        gw_jw_key(w, "data");
        gw_jw_raw(w, t->step_json, strlen(t->step_json));
        gw_jw_obj_end(w);
        gw_jw_arr_end(w);
    }
    json_object_put(step);
}

static void task_json(gw_ctx_t *ctx, const gw_cmd_task_t *t, gw_buf_t *out)
{
    gw_jw_t w;

    gw_jw_init(&w, out);
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "id");
    gw_jw_str(&w, t->id);
    gw_jw_key(&w, "properties");
    gw_jw_obj_begin(&w);
    gw_jw_key(&w, "name");
    gw_jw_str(&w, t->op);
    gw_jw_key(&w, "method");
    gw_jw_str(&w, t->op);
    gw_jw_key(&w, "type");
    gw_jw_str(&w, "xo:command");
    gw_jw_key(&w, "objectId");
    gw_jw_str(&w, t->object);
    gw_jw_key(&w, "objectType");
    gw_jw_str(&w, object_type(ctx, t->object));
    gw_jw_key(&w, "params");
    gw_jw_raw(&w, t->args_json ? t->args_json : "{}", t->args_json ? strlen(t->args_json) : 2);
    gw_jw_key(&w, "userId");
    gw_jw_str(&w, t->user);
    gw_jw_key(&w, "pool");
    gw_jw_str(&w, t->pool);
    gw_jw_obj_end(&w);
    gw_jw_key(&w, "start");
    gw_jw_int(&w, t->issued);
    gw_jw_key(&w, "updatedAt");
    gw_jw_int(&w, t->updated);
    if (t->done) {
        gw_jw_key(&w, "end");
        gw_jw_int(&w, t->end);
    }
    gw_jw_key(&w, "status");
    gw_jw_str(&w, task_status(t));
    gw_jw_key(&w, "state");
    gw_jw_str(&w, t->state);
    gw_jw_key(&w, "expires");
    gw_jw_int(&w, t->expires);
    gw_jw_key(&w, "progress");
    gw_jw_double(&w, t->progress * 100.0);
    write_step(&w, t);
    write_result(&w, t);
    gw_jw_obj_end(&w);
}

typedef struct {
    gw_ctx_t *ctx;
    gw_rest_sender_t *s;
    const char *object; /* only the tasks of this object, or NULL */
    bool more;
} tasks_t;

/* Does the task act on @p object: its objectId, or its params' id (XO's test)? */
static bool acts_on(const gw_cmd_task_t *t, const char *object)
{
    json_object *args, *id;
    bool yes;

    if (!strcmp(t->object, object))
        return true;
    args = t->args_json ? json_tokener_parse(t->args_json) : NULL;
    yes = json_object_object_get_ex(args, "id", &id) && json_object_is_type(id, json_type_string) &&
          !strcmp(json_object_get_string(id), object);
    json_object_put(args);
    return yes;
}

static bool list_task(void *opaque, const gw_cmd_task_t *t)
{
    tasks_t *l = opaque;
    gw_buf_t b;

    if (l->object && !acts_on(t, l->object))
        return true;
    gw_buf_init(&b);
    task_json(l->ctx, t, &b);
    l->more = gw_rest_send(l->s, b.data, b.len, NULL, "tasks", t->id);
    gw_buf_fini(&b);
    return l->more;
}

/* The watch of /tasks?watch=true&ndjson=true: what was sent, how to filter and map. */
struct gw_rest_watch {
    uint64_t version; /* every change up to this one was considered */
    gw_rest_query_t q;
    gw_filter_t *filter;
};

static gw_rest_watch_t *watch_new(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_rest_watch_t *w = calloc(1, sizeof(*w));
    char errstr[200];

    if (!w) {
        gw_rest_error(r, 500, "out of memory", NULL);
        return NULL;
    }
    w->q = *q;
    w->q.filter = NULL; /* borrowed from the request: parsed now, kept parsed */
    w->q.limit = -1;
    if (q->filter && gw_filter_parse(q->filter, &w->filter, errstr, sizeof(errstr)) != XO_OK) {
        gw_rest_error(r, 400, errstr, NULL);
        free(w);
        return NULL;
    }
    w->version = gw_commands_version(ctx->commands);
    return w;
}

void gw_rest_tasks(gw_ctx_t *ctx, const gw_rest_query_t *q, const gw_user_t *user,
                   gw_http_resp_t *r)
{
    gw_rest_sender_t s;
    tasks_t l = {ctx, &s, NULL, true};

    (void)user; /* every signed-in user reads every task, as every object */
    if (q->watch) {
        if (!q->ndjson) {
            gw_rest_error(r, 400, "watch=true requires ndjson=true", NULL);
            return;
        }
        r->watch = watch_new(ctx, q, r);
        if (r->watch) {
            gw_rest_json(r, 200);
            r->content_type = "application/x-ndjson";
        }
        return;
    }
    if (!gw_rest_send_begin(&s, ctx, q, r))
        return;
    gw_commands_foreach_task(ctx->commands, list_task, &l);
    gw_rest_send_end(&s);
}

void gw_rest_tasks_of(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_rest_sender_t s;
    tasks_t l = {ctx, &s, q->id, true};

    if (!gw_rest_exists(ctx, q->id, q->type)) {
        gw_rest_error(r, 404, "no such object", NULL);
        return;
    }
    if (!gw_rest_send_begin(&s, ctx, q, r))
        return;
    gw_commands_foreach_task(ctx->commands, list_task, &l);
    gw_rest_send_end(&s);
}

static void no_such_task(gw_http_resp_t *r, const char *id)
{
    gw_buf_t d, msg;
    gw_buf_init(&d);
    gw_buf_init(&msg);
    gw_buf_puts(&d, "{\"id\":");
    gw_buf_json_str(&d, id);
    gw_buf_puts(&d, ",\"type\":\"task\"}");
    gw_buf_printf(&msg, "no such task %s", id);
    gw_rest_error(r, 404, msg.data, d.data);
    gw_buf_fini(&msg);
    gw_buf_fini(&d);
}

bool gw_rest_task_poll(gw_ctx_t *ctx, const char *task_id, gw_http_resp_t *r)
{
    gw_cmd_task_t t;

    if (!gw_commands_task(ctx->commands, task_id, &t)) {
        no_such_task(r, task_id);
        return true;
    }
    if (!t.done)
        return false;
    gw_buf_reset(&r->body);
    task_json(ctx, &t, &r->body);
    gw_buf_putc(&r->body, '\n');
    gw_rest_json(r, 200);
    return true;
}

void gw_rest_task(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_cmd_task_t t;

    if (!gw_commands_task(ctx->commands, q->id, &t)) {
        no_such_task(r, q->id);
        return;
    }
    if (q->wait && !t.done) {
        /* the transport asks gw_rest_task_poll() again until it ends (or the client leaves) */
        snprintf(r->wait_task, sizeof(r->wait_task), "%s", q->id);
        return;
    }
    task_json(ctx, &t, &r->body);
    gw_buf_putc(&r->body, '\n');
    gw_rest_json(r, 200);
}

typedef struct {
    gw_ctx_t *ctx;
    char (*ids)[GW_CMD_ID_LEN + 1];
    size_t n, cap;
} finished_t;

static bool collect_finished(void *opaque, const gw_cmd_task_t *t)
{
    finished_t *f = opaque;
    if (t->done && f->n < f->cap)
        snprintf(f->ids[f->n++], GW_CMD_ID_LEN + 1, "%s", t->id);
    return true;
}

void gw_rest_task_delete(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_cmd_task_t t;

    if (q->route == GW_ROUTE_COLLECTION) { /* DELETE /tasks: every finished task */
        finished_t f = {ctx, calloc(GW_CMD_MAX_TASKS, GW_CMD_ID_LEN + 1), 0, GW_CMD_MAX_TASKS};
        if (!f.ids) {
            gw_rest_error(r, 500, "out of memory", NULL);
            return;
        }
        gw_commands_foreach_task(ctx->commands, collect_finished, &f);
        for (size_t i = 0; i < f.n; i++)
            gw_commands_forget(ctx->commands, f.ids[i]);
        free(f.ids);
        r->status = 204;
        return;
    }
    if (!gw_commands_task(ctx->commands, q->id, &t)) {
        no_such_task(r, q->id);
        return;
    }
    if (!gw_commands_forget(ctx->commands, q->id)) {
        gw_rest_error(r, 403, "forbidden operation: the task is still pending", NULL);
        return;
    }
    r->status = 204;
}

typedef struct {
    gw_ctx_t *ctx;
    gw_rest_watch_t *w;
    gw_buf_t *out;
} watch_poll_t;

static bool watch_one(void *opaque, const gw_cmd_task_t *t)
{
    watch_poll_t *p = opaque;
    gw_http_resp_t fake;
    gw_rest_sender_t s;
    gw_buf_t b;

    if (t->version <= p->w->version)
        return true;
    /* the task as the list would map it (?fields=), behind "update" */
    memset(&fake, 0, sizeof(fake));
    gw_buf_init(&fake.body);
    gw_buf_init(&b);
    task_json(p->ctx, t, &b);
    memset(&s, 0, sizeof(s));
    s.r = &fake;
    s.q = &p->w->q;
    s.filter = p->w->filter;
    s.max_bytes = (size_t)-1;
    gw_rest_send(&s, b.data, b.len, NULL, "tasks", t->id);
    if (fake.body.len > 1) { /* the mapped task and its '\n' (ndjson) */
        gw_buf_puts(p->out, "[\"update\",");
        gw_buf_append(p->out, fake.body.data, fake.body.len - 1);
        gw_buf_puts(p->out, "]\n");
    }
    gw_buf_fini(&b);
    gw_buf_fini(&fake.body);
    return true;
}

bool gw_rest_watch_poll(gw_ctx_t *ctx, gw_rest_watch_t *w, gw_buf_t *out)
{
    watch_poll_t p = {ctx, w, out};
    uint64_t now = gw_commands_version(ctx->commands);

    if (now == w->version)
        return true;
    gw_commands_foreach_task(ctx->commands, watch_one, &p);
    w->version = now;
    return true;
}

void gw_rest_watch_free(gw_rest_watch_t *w)
{
    if (!w)
        return;
    gw_filter_free(w->filter);
    free(w);
}
