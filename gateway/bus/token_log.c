/*
 * token_log.c - the tokens topic: signed token records out, verified records in (see
 * token_log.h). Knows nothing of users: it hands verified (digest, user, expiry) to a
 * callback. Must never log a token; digests are logged shortened.
 */
#include "bus/token_log.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h"
#include "xo_log.h"
#include "xo_sign.h"

#define MOD         "tokens"
#define KEY_HEX     64
#define MAX_QUEUED  200000 /* records waiting for the service thread; more are dropped */
#define USER_ID_MAX 40

typedef struct {
    unsigned char digest[32];
    char user_id[USER_ID_MAX];
    int64_t expires_ms; /* 0: deleted */
} queued_t;

struct gw_token_log {
    xo_key_t *key;         /* signs; NULL: disabled */
    xo_keyring_t *trusted; /* other gateways' public keys */
    xo_producer_t *producer;
    char topic[128];
    pthread_mutex_t mu; /* guards the queue */
    queued_t *q;
    size_t nq, capq;
    atomic_uint_fast64_t published, applied, refused;
    atomic_uint_fast64_t refused_by[GW_TOKREC_REASON_COUNT];
};

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool unhex(const char *s, size_t len, unsigned char *out, size_t n)
{
    if (len != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

size_t gw_token_signed_text(const char *key, size_t key_len, const char *value, size_t value_len,
                            char *out, size_t out_size)
{
    size_t n = key_len + 1 + value_len;

    if (n + 1 > out_size)
        return 0;
    memcpy(out, key, key_len);
    out[key_len] = '\n';
    if (value_len)
        memcpy(out + key_len + 1, value, value_len);
    out[n] = '\0';
    return n;
}

/* Trusted keys: ours (a private key verifies too) and the listed public keys. */
static xo_err_t load_trusted(gw_token_log_t *tl, const char *list, char *errstr, size_t errstr_size)
{
    char buf[4096], *save = NULL, *path;

    tl->trusted = xo_keyring_new();
    if (!tl->trusted)
        return XO_ERR_NOMEM;
    if (!list)
        return XO_OK;
    snprintf(buf, sizeof(buf), "%s", list);
    for (path = strtok_r(buf, ", ", &save); path; path = strtok_r(NULL, ", ", &save)) {
        xo_err_t err = xo_keyring_add_file(tl->trusted, path, errstr, errstr_size);
        if (err != XO_OK)
            return err == XO_ERR_NOMEM ? err : XO_ERR_CONFIG;
    }
    return XO_OK;
}

xo_err_t gw_token_log_new(const gw_token_log_settings_t *s, const xo_config_t *cfg,
                          const xo_topics_t *topics, gw_token_log_t **out, char *errstr,
                          size_t errstr_size)
{
    static const char *const extra[] = {"linger.ms", "0", NULL};
    gw_token_log_t *tl = calloc(1, sizeof(*tl));
    xo_err_t err = XO_OK;

    if (!tl)
        return XO_ERR_NOMEM;
    pthread_mutex_init(&tl->mu, NULL);
    snprintf(tl->topic, sizeof(tl->topic), "%s", topics->tokens);
    if (s->private_key) {
        err = xo_key_load_private(s->private_key, &tl->key, errstr, errstr_size);
        if (err != XO_OK && err != XO_ERR_NOMEM)
            err = XO_ERR_CONFIG;
    }
    if (err == XO_OK && tl->key)
        err = load_trusted(tl, s->public_keys, errstr, errstr_size);
    if (err == XO_OK && tl->key)
        err = xo_producer_new(cfg, extra, &tl->producer, errstr, errstr_size);
    if (err != XO_OK) {
        gw_token_log_free(tl, 0);
        return err;
    }
    *out = tl;
    return XO_OK;
}

bool gw_token_log_enabled(const gw_token_log_t *tl)
{
    return tl && tl->key;
}

void gw_token_log_publish(gw_token_log_t *tl, const unsigned char digest[32], const char *user_id,
                          int64_t issued_ms, int64_t expires_ms)
{
    char key[KEY_HEX + 1], value[GW_TOKEN_MAX_VALUE], text[KEY_HEX + 2 + GW_TOKEN_MAX_VALUE];
    char sig[XO_SIG_B64_LEN + 1], errstr[256];
    size_t vlen = 0, tlen;
    xo_kafka_header_t hdr[2];

    if (!gw_token_log_enabled(tl))
        return;
    hex(digest, 32, key);
    if (user_id && expires_ms > 0) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "v", json_object_new_int(1));
        json_object_object_add(o, "user", json_object_new_string(user_id));
        json_object_object_add(o, "expires", json_object_new_int64(expires_ms));
        json_object_object_add(o, "issued", json_object_new_int64(issued_ms));
        vlen = (size_t)snprintf(value, sizeof(value), "%s",
                                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        if (vlen >= sizeof(value))
            return;
    }
    tlen = gw_token_signed_text(key, KEY_HEX, value, vlen, text, sizeof(text));
    if (!tlen || xo_sign(tl->key, text, tlen, sig) != XO_OK)
        return;
    hdr[0] = (xo_kafka_header_t){"xo-sig", sig, strlen(sig)};
    hdr[1] = (xo_kafka_header_t){"xo-key", xo_key_id(tl->key), strlen(xo_key_id(tl->key))};
    if (xo_producer_send(tl->producer, tl->topic, RD_KAFKA_PARTITION_UA, key, KEY_HEX,
                         vlen ? value : NULL, vlen, hdr, 2, errstr, sizeof(errstr)) != XO_OK) {
        xo_warn(MOD, "event=token_not_published key=%.12s reason=\"%s\"", key, errstr);
        return;
    }
    atomic_fetch_add(&tl->published, 1);
    xo_producer_poll(tl->producer, 0);
}

static bool verify(gw_token_log_t *tl, const xo_record_t *r, const char *text, size_t len)
{
    const char *own = xo_key_id(tl->key);

    if (!r->sig_len || !r->key_id_len)
        return false;
    if (r->key_id_len == strlen(own) && !memcmp(r->key_id, own, r->key_id_len))
        return xo_verify(tl->key, text, len, r->sig, r->sig_len) == XO_OK;
    return xo_keyring_verify(tl->trusted, r->key_id, r->key_id_len, text, len, r->sig,
                             r->sig_len) == XO_OK;
}

/* The value of a live token: {v:1, user, expires}. */
static bool parse_value(const char *value, size_t len, queued_t *e)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = NULL, *f;
    bool ok = false;

    if (tok)
        o = json_tokener_parse_ex(tok, value, (int)len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "v", &f) ||
        json_object_get_int(f) != 1)
        goto out;
    if (json_object_object_get_ex(o, "user", &f) && json_object_is_type(f, json_type_string) &&
        json_object_get_string_len(f) > 0 && json_object_get_string_len(f) < USER_ID_MAX &&
        json_object_object_get_ex(o, "expires", &f) && json_object_is_type(f, json_type_int)) {
        e->expires_ms = json_object_get_int64(f);
        json_object_object_get_ex(o, "user", &f);
        snprintf(e->user_id, sizeof(e->user_id), "%s", json_object_get_string(f));
        ok = e->expires_ms > 0;
    }
out:
    json_object_put(o);
    if (tok)
        json_tokener_free(tok);
    return ok;
}

static const char *const REFUSAL_NAMES[GW_TOKREC_REASON_COUNT] = {
    [GW_TOKREC_BAD_KEY] = "bad_key",
    [GW_TOKREC_TOO_LARGE] = "too_large",
    [GW_TOKREC_SIGNATURE] = "signature",
    [GW_TOKREC_MALFORMED] = "malformed",
};

const char *gw_token_refusal_name(gw_token_refusal_t r)
{
    return r < GW_TOKREC_REASON_COUNT ? REFUSAL_NAMES[r] : "unknown";
}

/* Count a refused record; log the first ones and then every 1000th. */
static void refuse(gw_token_log_t *tl, const xo_record_t *r, gw_token_refusal_t why)
{
    uint64_t n = atomic_fetch_add(&tl->refused, 1) + 1;

    atomic_fetch_add(&tl->refused_by[why], 1);
    if (n <= 20 || n % 1000 == 0)
        xo_warn(MOD, "event=token_record_refused partition=%d offset=%lld count=%llu reason=%s",
                (int)r->partition, (long long)r->offset, (unsigned long long)n,
                gw_token_refusal_name(why));
}

void gw_token_log_push_record(gw_token_log_t *tl, const xo_record_t *r)
{
    char text[KEY_HEX + 2 + GW_TOKEN_MAX_VALUE];
    queued_t e = {{0}, "", 0};
    size_t tlen;

    if (!gw_token_log_enabled(tl))
        return;
    if (!r->key || !unhex(r->key, r->key_len, e.digest, 32))
        return refuse(tl, r, GW_TOKREC_BAD_KEY);
    if (r->value && (r->value_len == 0 || r->value_len > GW_TOKEN_MAX_VALUE))
        return refuse(tl, r, GW_TOKREC_TOO_LARGE);
    tlen = gw_token_signed_text(r->key, r->key_len, r->value, r->value ? r->value_len : 0, text,
                                sizeof(text));
    if (!tlen || !verify(tl, r, text, tlen))
        return refuse(tl, r, GW_TOKREC_SIGNATURE);
    if (r->value && !parse_value(r->value, r->value_len, &e))
        return refuse(tl, r, GW_TOKREC_MALFORMED);
    pthread_mutex_lock(&tl->mu);
    if (tl->nq == tl->capq && tl->capq < MAX_QUEUED) {
        size_t cap = tl->capq ? tl->capq * 2 : 64;
        queued_t *grown = realloc(tl->q, cap * sizeof(*grown));
        if (grown) {
            tl->q = grown;
            tl->capq = cap;
        }
    }
    if (tl->nq < tl->capq)
        tl->q[tl->nq++] = e;
    else
        xo_warn(MOD, "event=token_queue_full limit=%d", MAX_QUEUED);
    pthread_mutex_unlock(&tl->mu);
}

void gw_token_log_push(void *tl, const xo_record_t *r)
{
    gw_token_log_push_record(tl, r);
}

void gw_token_log_drain(gw_token_log_t *tl, gw_token_apply_fn apply, void *opaque)
{
    queued_t *q;
    size_t n;

    if (!gw_token_log_enabled(tl))
        return;
    pthread_mutex_lock(&tl->mu);
    q = tl->q;
    n = tl->nq;
    tl->q = NULL;
    tl->nq = tl->capq = 0;
    pthread_mutex_unlock(&tl->mu);
    for (size_t i = 0; i < n; i++)
        apply(opaque, q[i].digest, q[i].expires_ms ? q[i].user_id : NULL, q[i].expires_ms);
    atomic_fetch_add(&tl->applied, n);
    free(q);
}

void gw_token_log_stats(gw_token_log_t *tl, gw_token_log_stats_t *st)
{
    st->published = atomic_load(&tl->published);
    st->applied = atomic_load(&tl->applied);
    st->refused = atomic_load(&tl->refused);
    for (int i = 0; i < GW_TOKREC_REASON_COUNT; i++)
        st->refused_by[i] = atomic_load(&tl->refused_by[i]);
}

void gw_token_log_free(gw_token_log_t *tl, int timeout_ms)
{
    if (!tl)
        return;
    xo_producer_free(tl->producer, timeout_ms);
    xo_keyring_free(tl->trusted);
    xo_key_free(tl->key);
    pthread_mutex_destroy(&tl->mu);
    free(tl->q);
    free(tl);
}
