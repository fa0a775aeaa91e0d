/*
 * result_trust.c - the agent keys trusted per pool and the checks of one xo.results record
 * (see result_trust.h). The signature is verified before the value is parsed, so forged
 * bytes never reach the command bus's parser. Must not log, read the clock or touch Kafka.
 */
#include "bus/result_trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h"
#include "xo_sign.h"

typedef struct {
    char pool[64];
    xo_key_t *key; /* owned */
} entry_t;

struct gw_result_trust {
    entry_t *e;
    size_t n;
};

static const char *const NAMES[GW_RES_VERDICT_COUNT] = {
    [GW_RES_OK] = "ok",
    [GW_RES_TOO_LARGE] = "too_large",
    [GW_RES_SIGNATURE_MISSING] = "signature_missing",
    [GW_RES_UNKNOWN_KEY] = "unknown_key",
    [GW_RES_SIGNATURE_INVALID] = "signature_invalid",
    [GW_RES_MALFORMED] = "malformed",
    [GW_RES_KEY_NOT_FOR_POOL] = "key_not_for_pool",
    [GW_RES_WRONG_PARTITION] = "wrong_partition",
    [GW_RES_WRONG_POOL] = "wrong_pool",
};

const char *gw_res_verdict_name(gw_res_verdict_t v)
{
    return v < GW_RES_VERDICT_COUNT ? NAMES[v] : "unknown";
}

/* One "POOL=PATH" entry (surrounding spaces ignored) appended to the list. */
static xo_err_t add_entry(gw_result_trust_t *t, const char *item, size_t len, char *errstr,
                          size_t errstr_size)
{
    char buf[2048], *eq, *pool, *path;
    entry_t *grown;
    xo_key_t *key = NULL;
    xo_err_t err;

    if (len >= sizeof(buf))
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "commands.agent_keys: entry too long");
    memcpy(buf, item, len);
    buf[len] = '\0';
    eq = strchr(buf, '=');
    if (!eq)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "commands.agent_keys: '%s' is not POOL=PATH", buf);
    *eq = '\0';
    pool = buf + strspn(buf, " ");
    for (char *end = eq; end > pool && end[-1] == ' ';)
        *--end = '\0';
    path = eq + 1 + strspn(eq + 1, " ");
    for (char *end = path + strlen(path); end > path && end[-1] == ' ';)
        *--end = '\0';
    if (!*pool || !*path || strlen(pool) >= sizeof(t->e[0].pool))
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "commands.agent_keys: entry for pool '%s' needs a pool (under 64 bytes) "
                         "and a key path",
                         pool);
    err = xo_key_load_public(path, &key, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    grown = realloc(t->e, (t->n + 1) * sizeof(*grown));
    if (!grown) {
        xo_key_free(key);
        return XO_ERR_NOMEM;
    }
    t->e = grown;
    snprintf(t->e[t->n].pool, sizeof(t->e[t->n].pool), "%s", pool);
    t->e[t->n++].key = key;
    return XO_OK;
}

xo_err_t gw_result_trust_new(const char *spec, gw_result_trust_t **out, char *errstr,
                             size_t errstr_size)
{
    gw_result_trust_t *t = calloc(1, sizeof(*t));
    xo_err_t err = XO_OK;

    *out = NULL;
    if (!t)
        return XO_ERR_NOMEM;
    while (spec && *spec && err == XO_OK) {
        size_t n = strcspn(spec, ",");
        if (n > strspn(spec, " "))
            err = add_entry(t, spec, n, errstr, errstr_size);
        spec += n;
        spec += strspn(spec, ",");
    }
    if (err != XO_OK) {
        gw_result_trust_free(t);
        return err;
    }
    *out = t;
    return XO_OK;
}

size_t gw_result_trust_count(const gw_result_trust_t *t)
{
    return t ? t->n : 0;
}

size_t gw_result_trust_pool_keys(const gw_result_trust_t *t, const char *pool, json_object *keys)
{
    char b64[XO_PUB_B64_LEN + 1];
    size_t n = 0;

    for (size_t i = 0; t && i < t->n; i++) {
        if (strcmp(t->e[i].pool, pool) != 0 || xo_key_public_b64(t->e[i].key, b64) != XO_OK)
            continue;
        if (json_object_array_add(keys, json_object_new_string(b64)) == 0)
            n++;
    }
    return n;
}

void gw_result_trust_free(gw_result_trust_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        xo_key_free(t->e[i].key);
    free(t->e);
    free(t);
}

/* The first entry whose key has this id (any pool), or NULL. */
static const entry_t *by_key_id(const gw_result_trust_t *t, const char *id, size_t len)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (len == XO_KEY_ID_LEN && !memcmp(xo_key_id(t->e[i].key), id, len))
            return &t->e[i];
    return NULL;
}

/* True when the key with this id is trusted for @p pool. */
static bool trusted_for(const gw_result_trust_t *t, const char *id, size_t len, const char *pool)
{
    for (size_t i = 0; i < t->n; i++)
        if (len == XO_KEY_ID_LEN && !memcmp(xo_key_id(t->e[i].key), id, len) &&
            !strcmp(t->e[i].pool, pool))
            return true;
    return false;
}

static gw_res_verdict_t refuse(gw_res_verdict_t v, char *why, size_t why_size, const char *text)
{
    if (why && why_size)
        snprintf(why, why_size, "%s", text);
    return v;
}

/* Size, headers, key and signature: everything checked before a byte is parsed. */
static gw_res_verdict_t check_signature(const gw_result_trust_t *t, const xo_record_t *rec,
                                        size_t max_bytes, char *why, size_t why_size)
{
    const entry_t *e;

    if (!rec->value || (max_bytes && rec->value_len > max_bytes))
        return refuse(GW_RES_TOO_LARGE, why, why_size,
                      rec->value ? "value over the size cap" : "no value");
    if (!rec->sig || !rec->key_id)
        return refuse(GW_RES_SIGNATURE_MISSING, why, why_size, "no xo-sig or xo-key header");
    e = by_key_id(t, rec->key_id, rec->key_id_len);
    if (!e)
        return refuse(GW_RES_UNKNOWN_KEY, why, why_size, "xo-key names no trusted agent key");
    if (xo_verify(e->key, rec->value, rec->value_len, rec->sig, rec->sig_len) != XO_OK)
        return refuse(GW_RES_SIGNATURE_INVALID, why, why_size,
                      "the signature does not verify over the value");
    return GW_RES_OK;
}

gw_res_verdict_t gw_result_check(const gw_result_trust_t *t, const xo_record_t *rec,
                                 size_t max_bytes, json_object **parsed, char *why, size_t why_size)
{
    json_object *o = NULL;
    const char *pool;
    gw_res_verdict_t v = check_signature(t, rec, max_bytes, why, why_size);

    *parsed = NULL;
    if (v != GW_RES_OK)
        return v;
    if (xo_msg_parse(XO_MSG_RESULT, rec->value, rec->value_len, &o, why, why_size) != XO_OK)
        return GW_RES_MALFORMED;
    pool = xo_msg_str(o, "pool");
    if (!trusted_for(t, rec->key_id, rec->key_id_len, pool)) {
        v = refuse(GW_RES_KEY_NOT_FOR_POOL, why, why_size,
                   "the signing key is not trusted for the result's pool");
    } else if (rec->partitions > 0 && xo_pool_partition(pool, rec->partitions) != rec->partition) {
        v = refuse(GW_RES_WRONG_PARTITION, why, why_size,
                   "not on the partition of the result's pool");
    }
    if (v != GW_RES_OK) {
        json_object_put(o);
        return v;
    }
    *parsed = o;
    return GW_RES_OK;
}
