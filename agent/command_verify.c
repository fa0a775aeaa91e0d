/*
 * command_verify.c - decides whether an xo.commands message may run: signature, shape,
 * pool, lifetime, expiry, op allow-list, arguments and the replay window, in that order,
 * each failure mapped to one `rejected` code. Pure functions of their inputs (the clock is
 * a parameter): must not log, publish or call XAPI.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_verify.h"
#include "xo_envelope.h"

static const char *const verdict_codes[] = {
    "OK",         "SIGNATURE_MISSING", "SIGNATURE_INVALID", "UNKNOWN_KEY", "EXPIRED",
    "WRONG_POOL", "REPLAYED",          "OP_NOT_ALLOWED",    "MALFORMED",   "EXPIRES_TOO_FAR",
};

const char *cmd_verdict_code(cmd_verdict_t v)
{
    if ((size_t)v >= sizeof(verdict_codes) / sizeof(verdict_codes[0]))
        return "MALFORMED";
    return verdict_codes[v];
}

const char *cmd_op_name(cmd_op_t op)
{
    const xo_op_t *row = xo_op_get(op);

    return row ? row->name : NULL;
}

xo_err_t cmd_op_parse(const char *name, cmd_op_t *op)
{
    const xo_op_t *row = xo_op_find(name);

    if (!row)
        return XO_ERR_NOTFOUND;
    *op = xo_op_id(row);
    return XO_OK;
}

unsigned cmd_ops_all(void)
{
    return XO_OP_COUNT == 32 ? ~0u : (1u << XO_OP_COUNT) - 1;
}

xo_err_t cmd_ops_mask(const char *list, unsigned *mask, char *errstr, size_t errstr_size)
{
    *mask = 0;
    while (list && *list) {
        char one[64];
        size_t n = strcspn(list, ", ");
        cmd_op_t op;

        snprintf(one, sizeof(one), "%.*s", (int)(n < 63 ? n : 63), list);
        if (n > 0 && cmd_op_parse(one, &op) != XO_OK)
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                             "commands.allowed_ops: unknown op '%s'", one);
        if (n > 0)
            *mask |= 1u << op;
        list += n;
        list += strspn(list, ", ");
    }
    return XO_OK;
}

/* ------------------------------------------------------------------ replay window */

struct cmd_replay {
    xo_strmap_t *ids; /* id -> deadline (ms) */
};

cmd_replay_t *cmd_replay_new(void)
{
    cmd_replay_t *r = calloc(1, sizeof(*r));

    if (r)
        r->ids = xo_strmap_new();
    if (r && !r->ids) {
        free(r);
        r = NULL;
    }
    return r;
}

void cmd_replay_free(cmd_replay_t *r)
{
    if (!r)
        return;
    xo_strmap_free(r->ids);
    free(r);
}

xo_err_t cmd_replay_add(cmd_replay_t *r, const char *id, int64_t until_ms)
{
    int64_t old;

    if (xo_strmap_get(r->ids, id, &old) && old >= until_ms)
        return XO_OK;
    return xo_strmap_set(r->ids, id, until_ms);
}

bool cmd_replay_seen(const cmd_replay_t *r, const char *id)
{
    return r && xo_strmap_get(r->ids, id, NULL);
}

size_t cmd_replay_evict(cmd_replay_t *r, int64_t now_ms)
{
    size_t pos = 0, n = 0;
    int64_t until;
    const char *id;

    while ((id = xo_strmap_next(r->ids, &pos, &until)) != NULL) {
        if (until < now_ms) {
            xo_strmap_del(r->ids, id);
            n++;
        }
    }
    return n;
}

size_t cmd_replay_count(const cmd_replay_t *r)
{
    return xo_strmap_count(r->ids);
}

/* ------------------------------------------------------------------ checks */

static cmd_verdict_t reject(cmd_verdict_t v, char *reason, size_t reason_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static cmd_verdict_t reject(cmd_verdict_t v, char *reason, size_t reason_size, const char *fmt, ...)
{
    va_list ap;

    if (reason && reason_size) {
        va_start(ap, fmt);
        vsnprintf(reason, reason_size, fmt, ap);
        va_end(ap);
    }
    return v;
}

void cmd_fini(cmd_t *c)
{
    json_object_put(c->msg);
    memset(c, 0, sizeof(*c));
}

cmd_verdict_t cmd_check_signature(const cmd_policy_t *p, const void *value, size_t len,
                                  const void *sig, size_t sig_len, const void *key_id,
                                  size_t key_id_len, char *reason, size_t reason_size)
{
    xo_err_t err;

    if (!sig || !sig_len || !key_id || !key_id_len)
        return reject(CMD_SIGNATURE_MISSING, reason, reason_size, "no %s header",
                      !sig || !sig_len ? "xo-sig" : "xo-key");
    if (!value)
        return reject(CMD_MALFORMED, reason, reason_size, "empty value");
    err = xo_keyring_verify(p->keys, key_id, key_id_len, value, len, sig, sig_len);
    if (err == XO_ERR_NOTFOUND)
        return reject(CMD_UNKNOWN_KEY, reason, reason_size, "key id '%.*s' is not trusted",
                      (int)(key_id_len < 32 ? key_id_len : 32), (const char *)key_id);
    if (err != XO_OK)
        return reject(CMD_SIGNATURE_INVALID, reason, reason_size,
                      "signature does not verify with key '%.*s'",
                      (int)(key_id_len < 32 ? key_id_len : 32), (const char *)key_id);
    return CMD_OK;
}

/* The op's arguments, as the shared op table describes them. */
static cmd_verdict_t check_args(const cmd_t *c, char *reason, size_t reason_size)
{
    xo_args_check_t check;

    if (xo_op_check_args(xo_op_get(c->op), c->args, &check) != XO_OK)
        return reject(CMD_MALFORMED, reason, reason_size, "%s", check.message);
    return CMD_OK;
}

/* Shape and identity: v1 command, id, pool. */
static cmd_verdict_t check_shape(const cmd_policy_t *p, const void *value, size_t len, cmd_t *out,
                                 char *reason, size_t reason_size)
{
    char perr[160];

    if (xo_msg_parse(XO_MSG_COMMAND, value, len, &out->msg, perr, sizeof(perr)) != XO_OK)
        return reject(CMD_MALFORMED, reason, reason_size, "%s", perr);
    out->id = xo_msg_str(out->msg, "id");
    out->pool = xo_msg_str(out->msg, "pool");
    out->user = xo_msg_str(out->msg, "user");
    out->issued = xo_msg_int(out->msg, "issued", 0);
    out->expires = xo_msg_int(out->msg, "expires", 0);
    json_object_object_get_ex(out->msg, "args", &out->args);
    if (!out->id[0] || strlen(out->id) > CMD_ID_MAX)
        return reject(CMD_MALFORMED, reason, reason_size, "id: empty or longer than %d",
                      CMD_ID_MAX);
    if (strcmp(out->pool, p->pool) != 0)
        return reject(CMD_WRONG_POOL, reason, reason_size,
                      "command is for pool %.64s, this agent serves %s", out->pool, p->pool);
    return CMD_OK;
}

/* Lifetime: bounded so the replay window (max_expiry_ms) always outlives the command. */
static cmd_verdict_t check_time(const cmd_policy_t *p, const cmd_t *c, int64_t now_ms, char *reason,
                                size_t reason_size)
{
    if (c->expires <= c->issued)
        return reject(CMD_MALFORMED, reason, reason_size, "expires is not after issued");
    if (c->expires - c->issued > p->max_expiry_ms)
        return reject(CMD_EXPIRES_TOO_FAR, reason, reason_size,
                      "lifetime %lld ms exceeds commands.max_expiry_ms %lld",
                      (long long)(c->expires - c->issued), (long long)p->max_expiry_ms);
    if (c->expires - now_ms > p->max_expiry_ms + p->skew_ms)
        return reject(CMD_EXPIRES_TOO_FAR, reason, reason_size,
                      "expires %lld ms from now, beyond max_expiry_ms + skew",
                      (long long)(c->expires - now_ms));
    if (now_ms > c->expires + p->skew_ms)
        return reject(CMD_EXPIRED, reason, reason_size, "expired %lld ms ago",
                      (long long)(now_ms - c->expires));
    return CMD_OK;
}

cmd_verdict_t cmd_check(const cmd_policy_t *p, const void *value, size_t len, int64_t now_ms,
                        cmd_t *out, char *reason, size_t reason_size)
{
    const char *op;
    cmd_verdict_t v;

    memset(out, 0, sizeof(*out));
    v = check_shape(p, value, len, out, reason, reason_size);
    if (v == CMD_OK)
        v = check_time(p, out, now_ms, reason, reason_size);
    if (v != CMD_OK)
        return v;
    op = xo_msg_str(out->msg, "op");
    if (cmd_op_parse(op, &out->op) != XO_OK || !(p->allowed_ops & (1u << out->op)))
        return reject(CMD_OP_NOT_ALLOWED, reason, reason_size, "op '%.64s' is not allowed", op);
    v = check_args(out, reason, reason_size);
    if (v == CMD_OK && cmd_replay_seen(p->replay, out->id))
        v = reject(CMD_REPLAYED, reason, reason_size, "command %s was already accepted", out->id);
    return v;
}

cmd_verdict_t cmd_verify(const cmd_policy_t *p, const void *value, size_t len, const void *sig,
                         size_t sig_len, const void *key_id, size_t key_id_len, int64_t now_ms,
                         cmd_t *out, char *reason, size_t reason_size)
{
    cmd_verdict_t v;

    memset(out, 0, sizeof(*out));
    v = cmd_check_signature(p, value, len, sig, sig_len, key_id, key_id_len, reason, reason_size);
    return v == CMD_OK ? cmd_check(p, value, len, now_ms, out, reason, reason_size) : v;
}

void cmd_peek_id(const void *value, size_t len, char *id, size_t id_size)
{
    json_tokener *tok;
    json_object *o = NULL, *v;

    id[0] = '\0';
    if (!value || len == 0 || len > XO_MSG_MAX_BYTES)
        return;
    tok = json_tokener_new_ex(XO_MSG_MAX_DEPTH);
    if (!tok)
        return;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, value, (int)len);
    json_tokener_free(tok);
    if (o && json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_string) &&
        json_object_get_string_len(v) <= CMD_ID_MAX)
        snprintf(id, id_size, "%s", json_object_get_string(v));
    json_object_put(o);
}
