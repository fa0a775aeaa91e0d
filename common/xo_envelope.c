/*
 * xo_envelope.c - encoders and checking parsers for the v1 topic contract.
 * The field tables here and schemas/<topic>.json describe the same messages; tests validate
 * encoded messages against the schemas so the two cannot drift silently.
 */
#include "xo_envelope.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SER_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

int64_t xo_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends s at *pos if it fits with the final NUL; *pos goes past the end if not. */
static void key_put(char *buf, size_t size, size_t *pos, const char *s)
{
    size_t n = strlen(s);

    if (*pos < size && n < size - *pos)
        memcpy(buf + *pos, s, n);
    *pos += n;
}

/* Joined by hand, not with snprintf: the agent makes a key per object of a dump. */
xo_err_t xo_object_key(char *buf, size_t size, const char *pool, const char *cls, const char *ref)
{
    size_t pos = 0;

    key_put(buf, size, &pos, pool);
    key_put(buf, size, &pos, cls ? "/" : "/_sync");
    if (cls) {
        key_put(buf, size, &pos, cls);
        key_put(buf, size, &pos, "/");
        key_put(buf, size, &pos, ref);
    }
    if (pos >= size) {
        if (size)
            buf[0] = '\0';
        return XO_ERR_LIMIT;
    }
    buf[pos] = '\0';
    return XO_OK;
}

xo_err_t xo_object_key_split(char *buf, char **pool, char **cls, char **ref)
{
    char *s1 = strchr(buf, '/'), *s2;

    if (!s1 || s1 == buf)
        return XO_ERR_PARSE;
    *s1 = '\0';
    *pool = buf;
    if (strcmp(s1 + 1, "_sync") == 0) {
        *cls = s1 + 1;
        *ref = NULL;
        return XO_OK;
    }
    /* refs may contain '/' in theory, classes never do: split at the second slash only. */
    s2 = strchr(s1 + 1, '/');
    if (!s2 || s2 == s1 + 1 || s2[1] == '\0')
        return XO_ERR_PARSE;
    *s2 = '\0';
    *cls = s1 + 1;
    *ref = s2 + 1;
    return XO_OK;
}

/* Serialize and release: the one way every encoder returns its bytes. */
static char *finish(json_object *o, size_t *len)
{
    size_t n = 0;
    const char *s = json_object_to_json_string_length(o, SER_FLAGS, &n);
    char *copy = s ? malloc(n + 1) : NULL;

    if (copy) {
        memcpy(copy, s, n + 1);
        if (len)
            *len = n;
    }
    json_object_put(o);
    return copy;
}

static void add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : json_object_new_null());
}

static void add_int(json_object *o, const char *k, int64_t v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}

static json_object *new_envelope(void)
{
    json_object *o = json_object_new_object();

    add_int(o, "v", XO_ENVELOPE_VERSION);
    return o;
}

char *xo_object_msg_encode(const xo_object_msg_t *m, size_t *len)
{
    json_object *o = new_envelope();

    add_str(o, "pool", m->pool);
    add_str(o, "class", m->cls);
    add_str(o, "ref", m->ref);
    add_str(o, "uuid", m->uuid);
    add_str(o, "op", m->op);
    add_int(o, "event_id", m->event_id);
    add_int(o, "ts", m->ts);
    add_int(o, "gen", m->gen);
    json_object_object_add(o, "snapshot", json_object_get(m->snapshot));
    return finish(o, len);
}

/* One "key": prefix (keys are plain ASCII, never escaped). */
static xo_err_t put_key(xo_jtext_t *out, const char *k)
{
    return xo_jtext_byte(out, ',') || xo_jtext_cstr(out, k) || xo_jtext_byte(out, ':')
               ? XO_ERR_NOMEM
               : XO_OK;
}

/* The same fields in the same order as xo_object_msg_encode(): keep the two together. */
xo_err_t xo_object_msg_write(const xo_object_msg_t *m, const char *snapshot, size_t len,
                             xo_jtext_t *out)
{
    xo_err_t err;

    out->len = 0;
    err = xo_jtext_add(out, "{\"v\":", 5) || xo_jtext_int(out, XO_ENVELOPE_VERSION) ||
                  put_key(out, "pool") || xo_jtext_cstr(out, m->pool) || put_key(out, "class") ||
                  xo_jtext_cstr(out, m->cls) || put_key(out, "ref") || xo_jtext_cstr(out, m->ref) ||
                  put_key(out, "uuid") || xo_jtext_cstr(out, m->uuid) || put_key(out, "op") ||
                  xo_jtext_cstr(out, m->op) || put_key(out, "event_id") ||
                  xo_jtext_int(out, m->event_id) || put_key(out, "ts") ||
                  xo_jtext_int(out, m->ts) || put_key(out, "gen") || xo_jtext_int(out, m->gen) ||
                  put_key(out, "snapshot") || xo_jtext_add(out, snapshot, len) ||
                  xo_jtext_byte(out, '}')
              ? XO_ERR_NOMEM
              : XO_OK;
    return err;
}

char *xo_sync_msg_encode(const char *pool, const char *agent, int64_t gen, int64_t objects,
                         int64_t ts, size_t *len)
{
    json_object *o = new_envelope();

    add_str(o, "pool", pool);
    add_str(o, "type", "sync");
    add_str(o, "agent", agent);
    add_int(o, "gen", gen);
    add_int(o, "objects", objects);
    add_int(o, "ts", ts);
    return finish(o, len);
}

char *xo_agent_msg_encode(const xo_agent_msg_t *m, size_t *len)
{
    json_object *o = new_envelope(), *c = json_object_new_object();

    add_str(o, "agent", m->agent);
    add_str(o, "version", m->version);
    add_str(o, "pool", m->pool);
    add_str(o, "master", m->master);
    add_str(o, "state", m->state);
    if (m->error)
        add_str(o, "error", m->error);
    add_int(o, "ts", m->ts);
    add_int(o, "since", m->since);
    add_int(o, "gen", m->gen);
    add_int(o, "last_event_id", m->last_event_id);
    add_int(o, "last_event_ts", m->last_event_ts);
    if (m->interval_ms > 0)
        add_int(o, "interval_ms", m->interval_ms);
    add_int(c, "events", m->events);
    add_int(c, "published", m->published);
    add_int(c, "resyncs", m->resyncs);
    add_int(c, "xapi_errors", m->xapi_errors);
    add_int(c, "kafka_failed", m->kafka_failed);
    add_int(c, "commands", m->commands);
    json_object_object_add(o, "counters", c);
    return finish(o, len);
}

char *xo_command_msg_encode(const xo_command_msg_t *m, size_t *len)
{
    json_object *o = new_envelope();

    add_str(o, "id", m->id);
    add_str(o, "pool", m->pool);
    add_str(o, "op", m->op);
    json_object_object_add(o, "args",
                           m->args ? json_object_get(m->args) : json_object_new_object());
    add_str(o, "user", m->user);
    add_int(o, "issued", m->issued);
    add_int(o, "expires", m->expires);
    return finish(o, len);
}

char *xo_result_msg_encode(const xo_result_msg_t *m, size_t *len)
{
    json_object *o = new_envelope();

    add_str(o, "id", m->id);
    add_str(o, "pool", m->pool);
    add_str(o, "agent", m->agent);
    add_str(o, "state", m->state);
    json_object_object_add(o, "progress", json_object_new_double(m->progress));
    add_int(o, "bytes", m->bytes);
    add_int(o, "ts", m->ts);
    if (m->result)
        json_object_object_add(o, "result", json_object_get(m->result));
    if (m->error_code) {
        json_object *e = json_object_new_object();
        add_str(e, "code", m->error_code);
        json_object_object_add(e, "params",
                               m->error_params ? json_object_get(m->error_params)
                                               : json_object_new_array());
        json_object_object_add(o, "error", e);
    }
    if (m->reason)
        add_str(o, "reason", m->reason);
    return finish(o, len);
}

/* Required fields of each message kind and their JSON types. */
typedef struct {
    const char *name;
    json_type type;
} field_t;

static const field_t object_fields[] = {
    {"pool", json_type_string}, {"class", json_type_string},    {"ref", json_type_string},
    {"op", json_type_string},   {"event_id", json_type_int},    {"ts", json_type_int},
    {"gen", json_type_int},     {"snapshot", json_type_object}, {NULL, 0}};
static const field_t sync_fields[] = {{"pool", json_type_string}, {"type", json_type_string},
                                      {"gen", json_type_int},     {"objects", json_type_int},
                                      {"ts", json_type_int},      {NULL, 0}};
static const field_t agent_fields[] = {{"agent", json_type_string},    {"pool", json_type_string},
                                       {"state", json_type_string},    {"ts", json_type_int},
                                       {"counters", json_type_object}, {NULL, 0}};
static const field_t command_fields[] = {{"id", json_type_string},   {"pool", json_type_string},
                                         {"op", json_type_string},   {"args", json_type_object},
                                         {"user", json_type_string}, {"issued", json_type_int},
                                         {"expires", json_type_int}, {NULL, 0}};
static const field_t result_fields[] = {{"id", json_type_string},
                                        {"pool", json_type_string},
                                        {"state", json_type_string},
                                        {"ts", json_type_int},
                                        {NULL, 0}};

static const field_t *fields_of(xo_msg_kind_t kind)
{
    switch (kind) {
    case XO_MSG_OBJECT:
        return object_fields;
    case XO_MSG_SYNC:
        return sync_fields;
    case XO_MSG_AGENT:
        return agent_fields;
    case XO_MSG_COMMAND:
        return command_fields;
    case XO_MSG_RESULT:
        return result_fields;
    }
    return NULL;
}

static xo_err_t check_fields(json_object *o, const field_t *f, char *errstr, size_t errstr_size)
{
    json_object *v;

    if (!json_object_object_get_ex(o, "v", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) != XO_ENVELOPE_VERSION)
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "field 'v': expected %d",
                         XO_ENVELOPE_VERSION);
    for (; f && f->name; f++) {
        if (!json_object_object_get_ex(o, f->name, &v) || !json_object_is_type(v, f->type))
            return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "field '%s': missing or not a %s",
                             f->name, json_type_to_name(f->type));
    }
    return XO_OK;
}

json_tokener *xo_msg_tokener_new(void)
{
    return json_tokener_new_ex(XO_MSG_MAX_DEPTH);
}

/* True when no byte of @p s has its high bit set, eight bytes at a time. */
static bool text_is_ascii(const unsigned char *s, size_t len)
{
    uint64_t high = 0;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof(w));
        high |= w;
    }
    for (; i < len; i++)
        high |= s[i];
    return (high & UINT64_C(0x8080808080808080)) == 0;
}

xo_err_t xo_msg_parse_with(json_tokener *tok, xo_msg_kind_t kind, const void *value, size_t len,
                           json_object **out, char *errstr, size_t errstr_size)
{
    json_object *o;
    enum json_tokener_error jerr;
    xo_err_t err;

    if (!value)
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "empty value");
    if (len > XO_MSG_MAX_BYTES)
        return xo_seterr(errstr, errstr_size, XO_ERR_LIMIT, "value of %zu bytes exceeds %d", len,
                         XO_MSG_MAX_BYTES);
    json_tokener_reset(tok);
    /* ASCII text is valid UTF-8: json-c's check costs a call per byte of every string
     * (a fifth of the parse), so it runs only on values that have other bytes. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                    (text_is_ascii(value, len) ? 0 : JSON_TOKENER_VALIDATE_UTF8));
    o = json_tokener_parse_ex(tok, value, (int)len);
    jerr = json_tokener_get_error(tok);
    if (!o || jerr != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
        err = xo_seterr(errstr, errstr_size,
                        jerr == json_tokener_error_depth ? XO_ERR_LIMIT : XO_ERR_PARSE,
                        "invalid JSON: %s", o ? "trailing data" : json_tokener_error_desc(jerr));
        json_object_put(o);
        return err;
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return xo_seterr(errstr, errstr_size, XO_ERR_PARSE, "not a JSON object");
    }
    err = check_fields(o, fields_of(kind), errstr, errstr_size);
    if (err != XO_OK) {
        json_object_put(o);
        return err;
    }
    *out = o;
    return XO_OK;
}

xo_err_t xo_msg_parse(xo_msg_kind_t kind, const void *value, size_t len, json_object **out,
                      char *errstr, size_t errstr_size)
{
    json_tokener *tok = xo_msg_tokener_new();
    xo_err_t err;

    if (!tok)
        return XO_ERR_NOMEM;
    err = xo_msg_parse_with(tok, kind, value, len, out, errstr, errstr_size);
    json_tokener_free(tok);
    return err;
}

const char *xo_msg_str(json_object *obj, const char *field)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, field, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int64_t xo_msg_int(json_object *obj, const char *field, int64_t def)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, field, &v) || !json_object_is_type(v, json_type_int))
        return def;
    return json_object_get_int64(v);
}
