/*
 * rest_objects.c - the objects of the view over REST: a collection, one object, an
 * object's sub-collections (a VM's VDIs, an object's messages) and the {id}.{format}
 * export routes (recognised, answered as not served). Reads the view under its read lock;
 * writes only the response.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_rpc.h"
#include "api/rest_int.h"

typedef struct {
    gw_rest_sender_t *s;
    const char *collection;
} list_t;

static bool list_one(void *opaque, const gw_obj_info_t *o)
{
    list_t *l = opaque;
    if (!o->json)
        return true;
    return gw_rest_send(l->s, o->json, o->json_len, NULL, l->collection, o->id);
}

void gw_rest_collection(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_rest_sender_t s;
    list_t l = {&s, q->collection};

    if (!gw_rest_send_begin(&s, ctx, q, r))
        return;
    gw_view_rdlock(ctx->view);
    gw_view_foreach(ctx->view, q->type, NULL, list_one, &l);
    gw_view_unlock(ctx->view);
    gw_rest_send_end(&s);
}

static void not_found(gw_http_resp_t *r, gw_type_t type, const char *id)
{
    char msg[GW_ID_MAX + 64];
    gw_buf_t d;

    snprintf(msg, sizeof(msg), "no such %s %s", gw_type_name(type), id);
    gw_buf_init(&d);
    gw_buf_puts(&d, "{\"id\":");
    gw_buf_json_str(&d, id);
    gw_buf_puts(&d, ",\"type\":");
    gw_buf_json_str(&d, gw_type_name(type));
    gw_buf_putc(&d, '}');
    gw_rest_error(r, 404, msg, d.data);
    gw_buf_fini(&d);
}

bool gw_rest_exists(gw_ctx_t *ctx, const char *id, gw_type_t type)
{
    gw_obj_info_t o;
    bool found;

    gw_view_rdlock(ctx->view);
    found = gw_view_get(ctx->view, id, &o) && o.json && o.type == type;
    gw_view_unlock(ctx->view);
    return found;
}

void gw_rest_object(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_obj_info_t o;
    bool found;

    gw_view_rdlock(ctx->view);
    found = gw_view_get(ctx->view, q->id, &o) && o.json && o.type == q->type;
    if (found) {
        gw_buf_append(&r->body, o.json, o.json_len);
        gw_buf_putc(&r->body, '\n');
    }
    gw_view_unlock(ctx->view);
    if (!found) {
        not_found(r, q->type, q->id);
        return;
    }
    gw_rest_json(r, 200);
}

/* The formats XO's spec names for exports ({id}.{format}). */
static bool known_format(gw_type_t type, const char *format)
{
    static const char *const VM_FORMATS[] = {"ova", "xva", NULL}, *const VDI_FORMATS[] = {
                                                                      "vhd", "raw", NULL};
    const char *const *list =
        type == GW_T_VDI || type == GW_T_VDI_SNAPSHOT ? VDI_FORMATS : VM_FORMATS;
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], format))
            return true;
    return false;
}

/* A VM's or snapshot's .xva: vm.export's download URL, where the client is sent (302). */
static void export_redirect(gw_ctx_t *ctx, const gw_rest_query_t *q, const gw_user_t *user,
                            gw_http_resp_t *r)
{
    gw_buf_t url;
    gw_xo_err_t err;

    gw_buf_init(&url);
    gw_xo_err_init(&err);
    if (gw_vm_export_url(ctx, user, q->id, NULL, &url, &err) != 0) {
        gw_rest_xo_error(r, &err, 500);
    } else if (url.len < sizeof(r->location)) {
        r->status = 302;
        snprintf(r->location, sizeof(r->location), "%s", url.data);
    } else {
        gw_rest_error(r, 500, "download URL too long", NULL);
    }
    gw_xo_err_fini(&err);
    gw_buf_fini(&url);
}

void gw_rest_format(gw_ctx_t *ctx, const gw_rest_query_t *q, const gw_user_t *user,
                    gw_http_resp_t *r)
{
    gw_buf_t d;

    if (!gw_rest_exists(ctx, q->id, q->type)) {
        not_found(r, q->type, q->id);
        return;
    }
    if ((q->type == GW_T_VM || q->type == GW_T_VM_SNAPSHOT) && !strcmp(q->format, "xva")) {
        export_redirect(ctx, q, user, r);
        return;
    }
    gw_buf_init(&d);
    gw_buf_puts(&d, "{\"format\":");
    gw_buf_json_str(&d, q->format);
    gw_buf_putc(&d, '}');
    if (!known_format(q->type, q->format))
        gw_rest_error(r, 422, "Invalid format", d.data);
    else
        gw_rest_error(r, 501, "this export format is not served by this gateway", d.data);
    gw_buf_fini(&d);
}

/* ---- sub-collections ---- */

typedef struct {
    gw_rest_sender_t *s;
    const char *object; /* the parent's id */
} messages_t;

static bool message_of(void *opaque, const gw_obj_info_t *o)
{
    messages_t *m = opaque;
    char needle[GW_ID_MAX + 16];

    /* "$object":"<id>" in the serialized message: no parse for the others */
    snprintf(needle, sizeof(needle), "\"$object\":\"%s\"", m->object);
    if (!o->json || !strstr(o->json, needle))
        return true;
    return gw_rest_send(m->s, o->json, o->json_len, NULL, "messages", o->id);
}

static json_object *parse(const char *json, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *obj = tok ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
    if (tok)
        json_tokener_free(tok);
    return obj;
}

static const char *str_member(json_object *o, const char *k)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* A VM's VDIs: those of its VBDs that are disks (XO's getVmVdis), in $VBDs' order. */
static void vm_vdis(gw_ctx_t *ctx, json_object *vm, gw_rest_sender_t *s)
{
    json_object *vbds;
    gw_obj_info_t o;

    if (!json_object_object_get_ex(vm, "$VBDs", &vbds) ||
        !json_object_is_type(vbds, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(vbds); i++) {
        json_object *vbd_id = json_object_array_get_idx(vbds, i), *vbd;
        const char *vdi;
        bool more = true;
        if (!json_object_is_type(vbd_id, json_type_string) ||
            !gw_view_get(ctx->view, json_object_get_string(vbd_id), &o) || !o.json)
            continue;
        vbd = parse(o.json, o.json_len);
        vdi = str_member(vbd, "VDI");
        if (vdi && gw_view_get(ctx->view, vdi, &o) && o.json &&
            (o.type == GW_T_VDI || o.type == GW_T_VDI_SNAPSHOT || o.type == GW_T_VDI_UNMANAGED))
            more = gw_rest_send(s, o.json, o.json_len, NULL, gw_xo_type(o.type)->collection, o.id);
        json_object_put(vbd);
        if (!more)
            return;
    }
}

void gw_rest_sub(gw_ctx_t *ctx, const gw_rest_query_t *q, gw_http_resp_t *r)
{
    gw_rest_sender_t s;
    gw_obj_info_t o;
    json_object *parent = NULL;

    gw_view_rdlock(ctx->view);
    if (!gw_view_get(ctx->view, q->id, &o) || !o.json || o.type != q->type) {
        gw_view_unlock(ctx->view);
        not_found(r, q->type, q->id);
        return;
    }
    if (!strcmp(q->sub, "vdis"))
        parent = parse(o.json, o.json_len);
    if (gw_rest_send_begin(&s, ctx, q, r)) {
        if (parent) {
            vm_vdis(ctx, parent, &s);
        } else {
            messages_t m = {&s, q->id};
            gw_view_foreach(ctx->view, GW_T_MESSAGE, o.pool, message_of, &m);
        }
        gw_rest_send_end(&s);
    }
    gw_view_unlock(ctx->view);
    json_object_put(parent);
}
