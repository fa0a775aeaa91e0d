/*
 * progress.c - following the XAPI tasks of a running method and drawing the bar
 * (progress.h). No I/O: the caller decides when stderr is a terminal and writes.
 */
#include "progress.h"

#include <stdio.h>
#include <string.h>

static cli_progress_task_t *find(cli_progress_t *p, const char *id)
{
    for (int i = 0; i < p->ntasks; i++)
        if (!strcmp(p->tasks[i].id, id))
            return &p->tasks[i];
    return NULL;
}

static const char *str_member(json_object *o, const char *k)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void feed_task(cli_progress_t *p, const char *id, json_object *task, bool exited)
{
    cli_progress_task_t *t = find(p, id);
    const char *status = exited ? NULL : str_member(task, "status");
    json_object *v;

    if (!t) {
        /* only tasks seen pending while we wait, and only the agent's Async.* calls */
        const char *name = str_member(task, "name_label");
        if (exited || !status || strcmp(status, "pending") != 0 || !name ||
            strncmp(name, "Async.", 6) != 0 || p->ntasks == CLI_PROGRESS_TASKS ||
            strlen(id) >= sizeof(t->id))
            return;
        t = &p->tasks[p->ntasks++];
        memset(t, 0, sizeof(*t));
        strcpy(t->id, id);
        if (!p->label[0])
            snprintf(p->label, sizeof(p->label), "%s", name);
    }
    if (exited || (status && strcmp(status, "pending") != 0)) {
        t->done = true;
        t->progress = 1.0;
        return;
    }
    if (json_object_object_get_ex(task, "progress", &v)) {
        double f = json_object_get_double(v);
        t->progress = f < 0 ? 0 : f > 1 ? 1 : f;
    }
}

void cli_progress_feed(cli_progress_t *p, json_object *params)
{
    json_object *type, *items;
    bool exited;

    if (!json_object_object_get_ex(params, "type", &type) ||
        !json_object_object_get_ex(params, "items", &items) ||
        !json_object_is_type(items, json_type_object))
        return;
    exited = !strcmp(json_object_get_string(type), "exit");
    json_object_object_foreach(items, id, obj)
    {
        const char *t = exited ? NULL : str_member(obj, "type");
        if (exited ? find(p, id) != NULL : (t && !strcmp(t, "task")))
            feed_task(p, id, obj, exited);
    }
}

bool cli_progress_fraction(const cli_progress_t *p, double *fraction)
{
    double sum = 0;

    if (p->ntasks == 0)
        return false;
    for (int i = 0; i < p->ntasks; i++)
        sum += p->tasks[i].progress;
    *fraction = sum / p->ntasks;
    return true;
}

void cli_progress_render(char *out, size_t size, int columns, const char *label, double fraction,
                         double elapsed_s)
{
    char tail[32];
    int bar, fill, n;

    if (columns < 20 || size < 8) {
        if (size)
            out[0] = '\0';
        return;
    }
    fraction = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
    snprintf(tail, sizeof(tail), "] %3d%% %.0fs", (int)(fraction * 100), elapsed_s);
    /* label, " [", the bar, the tail; the label gives way first, the bar keeps 10 columns */
    int label_w = (int)strlen(label);
    int room = columns - 1 - (int)strlen(tail) - 2; /* one column spare: no line wrap */
    if (label_w > room - 10)
        label_w = room - 10 > 0 ? room - 10 : 0;
    bar = room - label_w;
    if (bar > 40)
        bar = 40;
    if (bar < 1)
        bar = 1;
    fill = (int)(fraction * bar + 0.5);
    n = snprintf(out, size, "\r%.*s [", label_w, label);
    for (int i = 0; i < bar && n >= 0 && (size_t)n + 1 < size; i++)
        out[n++] = i < fill ? '#' : '-';
    if (n >= 0 && (size_t)n < size)
        snprintf(out + n, size - (size_t)n, "%s\033[K", tail);
}

const char *cli_progress_clear(void)
{
    return "\r\033[K";
}
