/*
 * users.c - users file (and its reload), PBKDF2 password hashes, failure throttling, the
 * verified-credentials cache and tokens (see users.h). Must never log, keep or compare
 * passwords or tokens in clear beyond the call that received them; comparisons of secrets
 * are constant-time. Never frees a gw_user_t before gw_users_free: sessions borrow them.
 */
#include "api/users.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/auth_cache.h"
#include "core/clock.h"
#include "xo_log.h"

#define MOD "users"

/* Failure limit: after FAIL_FREE failures within FAIL_WINDOW_MS, each further attempt must
 * wait FAIL_DELAY_MS * 2^(failures - FAIL_FREE), capped at FAIL_MAX_DELAY_MS. */
#define FAIL_FREE         5
#define FAIL_WINDOW_MS    (10 * 60 * 1000)
#define FAIL_DELAY_MS     1000
#define FAIL_MAX_DELAY_MS (60 * 1000)
#define FAIL_SLOTS        1024

#define RELOAD_CHECK_MS 1000 /* the users file is stat()ed at most this often */

typedef struct {
    char key[GW_EMAIL_MAX + 8]; /* "u:<email>" or "a:<addr>" */
    unsigned failures;
    int64_t first_ms, last_ms;
} fail_t;

#define RECENT_DELETES 256

typedef struct {
    unsigned char digest[32]; /* SHA-256 of the token: the token itself is not kept */
    char user_id[40];
    int64_t expires_ms;
    bool used;
} token_t;

/* A user as users.c keeps it: the public part first (what callers borrow), then the state
 * a reload changes. Never freed before gw_users_free. */
typedef struct {
    gw_user_t pub;
    bool disabled;  /* removed from the users file: nothing of theirs is accepted */
    uint64_t stamp; /* changes whenever the password changes or the user is disabled */
} user_rec_t;

/* What identifies a version of the users file. */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id_t;

struct gw_users {
    user_rec_t **users; /* each allocated once and never moved: sessions borrow them */
    size_t n;
    char *path;       /* NULL: the demo account, nothing to reload */
    file_id_t loaded; /* the file as last read */
    int64_t checked_ms;
    uint64_t generation;    /* bumped by every reload that changed a user */
    gw_auth_cache_t *cache; /* NULL: off */
    fail_t fails[FAIL_SLOTS];
    token_t *tokens;
    size_t ntokens, captokens;
    gw_token_share_t share; /* publish/receive NULL: tokens stay local */
    /* Tokens deleted here lately: their own earlier record, read back from the tokens
     * topic after the deletion, must not bring them back. */
    unsigned char deleted[RECENT_DELETES][32];
    size_t ndeleted;
};

void gw_user_write_json(const gw_user_t *u, gw_buf_t *out)
{
    gw_buf_puts(out, "{\"id\":");
    gw_buf_json_str(out, u->id);
    gw_buf_puts(out, ",\"email\":");
    gw_buf_json_str(out, u->email);
    gw_buf_puts(out, ",\"permission\":");
    gw_buf_json_str(out, gw_perm_name(u->permission));
    gw_buf_puts(out, ",\"groups\":[],\"preferences\":{}}");
}

const char *gw_perm_name(gw_perm_t p)
{
    return p == GW_PERM_ADMIN ? "admin" : "viewer";
}

xo_err_t gw_perm_parse(const char *s, gw_perm_t *out)
{
    if (!strcmp(s, "admin"))
        *out = GW_PERM_ADMIN;
    else if (!strcmp(s, "viewer"))
        *out = GW_PERM_VIEWER;
    else
        return XO_ERR_INVALID;
    return XO_OK;
}

static size_t b64(const unsigned char *in, size_t n, char *out, size_t out_size)
{
    if (out_size < 4 * ((n + 2) / 3) + 1)
        return 0;
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int unb64(const char *in, unsigned char *out, size_t out_size)
{
    size_t n = strlen(in);
    int len, pad = 0;
    if (n == 0 || n % 4 || 3 * (n / 4) > out_size)
        return -1;
    len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    if (in[n - 1] == '=')
        pad++;
    if (in[n - 2] == '=')
        pad++;
    return len - pad;
}

xo_err_t gw_password_hash(const char *password, unsigned iterations, char *out, size_t out_size)
{
    unsigned char salt[16], dk[32];
    char salt64[32], dk64[64];
    int n;

    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return XO_ERR_CRYPTO;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), (int)iterations,
                          EVP_sha256(), sizeof(dk), dk) != 1)
        return XO_ERR_CRYPTO;
    b64(salt, sizeof(salt), salt64, sizeof(salt64));
    b64(dk, sizeof(dk), dk64, sizeof(dk64));
    OPENSSL_cleanse(dk, sizeof(dk));
    n = snprintf(out, out_size, "pbkdf2-sha256$%u$%s$%s", iterations, salt64, dk64);
    return (n < 0 || (size_t)n >= out_size) ? XO_ERR_LIMIT : XO_OK;
}

bool gw_password_verify(const char *password, const char *encoded)
{
    char copy[GW_HASH_MAX], *save = NULL, *scheme, *iter_s, *salt_s, *hash_s;
    unsigned char salt[64], want[64], got[64];
    int salt_len, want_len;
    long iter;
    bool ok;

    if (!password || !encoded || strlen(encoded) >= sizeof(copy))
        return false;
    strcpy(copy, encoded);
    scheme = strtok_r(copy, "$", &save);
    iter_s = strtok_r(NULL, "$", &save);
    salt_s = strtok_r(NULL, "$", &save);
    hash_s = strtok_r(NULL, "$", &save);
    if (!scheme || !iter_s || !salt_s || !hash_s || strcmp(scheme, "pbkdf2-sha256") != 0)
        return false;
    iter = strtol(iter_s, NULL, 10);
    salt_len = unb64(salt_s, salt, sizeof(salt));
    want_len = unb64(hash_s, want, sizeof(want));
    if (iter < 1 || iter > 10000000 || salt_len <= 0 || want_len <= 0 || want_len > 64)
        return false;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, salt_len, (int)iter, EVP_sha256(),
                          want_len, got) != 1)
        return false;
    ok = CRYPTO_memcmp(got, want, (size_t)want_len) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return ok;
}

static void user_id_of(const char *email, char out[40])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)email, strlen(email), d);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0],
             d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13],
             d[14], d[15]);
}

static bool email_ok(const char *e)
{
    size_t n = strlen(e);
    if (n == 0 || n >= GW_EMAIL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] <= ' ' || e[i] == 0x7f)
            return false;
    return true;
}

static xo_err_t add_user(gw_users_t *u, const char *email, gw_perm_t perm, const char *hash)
{
    user_rec_t **nu = realloc(u->users, (u->n + 1) * sizeof(*nu));
    user_rec_t *r;

    if (!nu)
        return XO_ERR_NOMEM;
    u->users = nu;
    r = calloc(1, sizeof(*r));
    if (!r)
        return XO_ERR_NOMEM;
    snprintf(r->pub.email, sizeof(r->pub.email), "%s", email);
    snprintf(r->pub.hash, sizeof(r->pub.hash), "%s", hash);
    r->pub.permission = perm;
    user_id_of(email, r->pub.id);
    u->users[u->n++] = r;
    return XO_OK;
}

static user_rec_t *find_email(const gw_users_t *u, const char *email)
{
    for (size_t i = 0; i < u->n; i++)
        if (!strcmp(u->users[i]->pub.email, email))
            return u->users[i];
    return NULL;
}

/* One line of a users file, parsed. */
typedef struct {
    char email[GW_EMAIL_MAX];
    gw_perm_t perm;
    char hash[GW_HASH_MAX];
} line_t;

static bool file_id_of(const char *path, file_id_t *id)
{
    struct stat st;

    memset(id, 0, sizeof(*id));
    if (stat(path, &st) != 0)
        return false;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->size = st.st_size;
    id->mtime = st.st_mtim;
    return true;
}

static bool file_id_equal(const file_id_t *a, const file_id_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Read every user line of @p path into *lines (caller frees), noting the file's identity
 * as it was opened (a change after that is seen at the next check). */
static xo_err_t read_file(const char *path, line_t **lines, size_t *n, file_id_t *id, char *errstr,
                          size_t errstr_size)
{
    FILE *fp = fopen(path, "r");
    char buf[1024];
    int lineno = 0;
    xo_err_t err = XO_OK;
    struct stat st;

    *lines = NULL;
    *n = 0;
    if (!fp)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: %s", path, strerror(errno));
    memset(id, 0, sizeof(*id));
    if (fstat(fileno(fp), &st) == 0)
        *id = (file_id_t){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    while (fgets(buf, sizeof(buf), fp)) {
        char perm_s[16], extra[2];
        line_t l, *nl;
        char *p = buf;
        lineno++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        if (sscanf(p, "%255s %15s %255s %1s", l.email, perm_s, l.hash, extra) != 3 ||
            gw_perm_parse(perm_s, &l.perm) != XO_OK || strncmp(l.hash, "pbkdf2-sha256$", 14) != 0) {
            err = xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                            "%s:%d: expected '<email> <admin|viewer> pbkdf2-sha256$...'", path,
                            lineno);
            break;
        }
        nl = realloc(*lines, (*n + 1) * sizeof(*nl));
        if (!nl) {
            err = XO_ERR_NOMEM;
            break;
        }
        *lines = nl;
        nl[(*n)++] = l;
    }
    fclose(fp);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (err != XO_OK) {
        free(*lines);
        *lines = NULL;
        *n = 0;
    }
    return err;
}

/* Apply one line of the new file to the users; returns whether anything changed. */
static bool apply_line(gw_users_t *u, const line_t *l, xo_err_t *err)
{
    user_rec_t *r = find_email(u, l->email);
    bool changed = false;

    if (!r) {
        *err = add_user(u, l->email, l->perm, l->hash);
        return *err == XO_OK;
    }
    if (strcmp(r->pub.hash, l->hash) != 0 || r->disabled) {
        snprintf(r->pub.hash, sizeof(r->pub.hash), "%s", l->hash);
        r->disabled = false;
        r->stamp++;
        changed = true;
    }
    if (r->pub.permission != l->perm) {
        r->pub.permission = l->perm; /* sessions signed in as the user see it at once */
        changed = true;
    }
    return changed;
}

xo_err_t gw_users_load(const char *path, gw_users_t **out, char *errstr, size_t errstr_size)
{
    gw_users_t *u = calloc(1, sizeof(*u));
    line_t *lines = NULL;
    size_t n = 0;
    xo_err_t err;

    if (!u)
        return XO_ERR_NOMEM;
    if (!path || !*path) {
        char hash[GW_HASH_MAX];
        /* Demo default: a low work factor is fine for a well-known password. */
        err = gw_password_hash("admin", 1000, hash, sizeof(hash));
        if (err == XO_OK)
            err = add_user(u, "admin@admin.net", GW_PERM_ADMIN, hash);
        goto out;
    }
    u->path = strdup(path);
    err = u->path ? read_file(path, &lines, &n, &u->loaded, errstr, errstr_size) : XO_ERR_NOMEM;
    for (size_t i = 0; err == XO_OK && i < n; i++)
        (void)apply_line(u, &lines[i], &err); /* the last line of an email wins */
    u->checked_ms = gw_mono_ms();
out:
    if (lines)
        OPENSSL_cleanse(lines, n * sizeof(*lines));
    free(lines);
    if (err != XO_OK) {
        gw_users_free(u);
        return err;
    }
    *out = u;
    return XO_OK;
}

void gw_users_free(gw_users_t *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        OPENSSL_cleanse(u->users[i], sizeof(*u->users[i]));
        free(u->users[i]);
    }
    free(u->users);
    free(u->path);
    gw_auth_cache_free(u->cache);
    free(u->tokens);
    OPENSSL_cleanse(u, sizeof(*u));
    free(u);
}

size_t gw_users_count(const gw_users_t *u)
{
    size_t n = 0;

    for (size_t i = 0; i < u->n; i++)
        n += !u->users[i]->disabled;
    return n;
}

xo_err_t gw_users_set_cache(gw_users_t *u, size_t entries, int64_t ttl_ms)
{
    gw_auth_cache_t *c = NULL;
    xo_err_t err = gw_auth_cache_new(entries, ttl_ms, &c);

    if (err != XO_OK)
        return err;
    gw_auth_cache_free(u->cache);
    u->cache = c;
    return XO_OK;
}

const struct gw_auth_cache *gw_users_cache(const gw_users_t *u)
{
    return u->cache;
}

xo_err_t gw_users_reload(gw_users_t *u, size_t *changed, char *errstr, size_t errstr_size)
{
    line_t *lines = NULL;
    size_t n = 0, nchanged = 0, before = u->n;
    file_id_t id;
    xo_err_t err = XO_OK;

    if (changed)
        *changed = 0;
    if (!u->path)
        return XO_OK;
    err = read_file(u->path, &lines, &n, &id, errstr, errstr_size);
    for (size_t i = 0; err == XO_OK && i < n; i++)
        nchanged += apply_line(u, &lines[i], &err);
    /* users that are no longer in the file (the new ones were appended after before) */
    for (size_t i = 0; err == XO_OK && i < before; i++) {
        user_rec_t *r = u->users[i];
        bool present = false;
        for (size_t j = 0; j < n && !present; j++)
            present = !strcmp(lines[j].email, r->pub.email);
        if (!present && !r->disabled) {
            r->disabled = true;
            r->stamp++;
            nchanged++;
        }
    }
    if (lines)
        OPENSSL_cleanse(lines, n * sizeof(*lines));
    free(lines);
    if (nchanged) {
        gw_auth_cache_clear(u->cache);
        u->generation++;
    }
    if (err != XO_OK) /* partial changes stay: they came from the file, and are consistent */
        return err;
    u->loaded = id;
    if (changed)
        *changed = nchanged;
    return XO_OK;
}

uint64_t gw_users_generation(const gw_users_t *u)
{
    return u->generation;
}

void gw_users_refresh(gw_users_t *u)
{
    int64_t now = gw_mono_ms();
    char errstr[512];
    size_t changed = 0;
    file_id_t id;

    if (!u->path || now - u->checked_ms < RELOAD_CHECK_MS)
        return;
    u->checked_ms = now;
    if (!file_id_of(u->path, &id) || file_id_equal(&id, &u->loaded))
        return; /* unchanged, or gone (kept as loaded: a missing file is not "no users") */
    if (gw_users_reload(u, &changed, errstr, sizeof(errstr)) != XO_OK) {
        u->loaded = id; /* warn once per version of the file */
        xo_warn(MOD, "event=users_reload_failed error=\"%s\" note=\"the previous users stay\"",
                errstr);
        return;
    }
    xo_info(MOD, "event=users_reloaded users=%zu changed=%zu", gw_users_count(u), changed);
}

xo_err_t gw_users_add_to_file(const char *path, const char *email, gw_perm_t perm,
                              const char *password, unsigned iterations, char *errstr,
                              size_t errstr_size)
{
    char hash[GW_HASH_MAX], tmp[4096], line[1024];
    FILE *in, *out;
    int fd;
    xo_err_t err;

    if (!email_ok(email))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID,
                         "invalid email (no spaces, 1-255 bytes)");
    if (!password || !*password)
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "empty password");
    err = gw_password_hash(password, iterations, hash, sizeof(hash));
    if (err != XO_OK)
        return xo_seterr(errstr, errstr_size, err, "cannot hash the password");
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
        return xo_seterr(errstr, errstr_size, XO_ERR_INVALID, "path too long");
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: %s", tmp, strerror(errno));
    out = fdopen(fd, "w");
    if (!out) {
        close(fd);
        unlink(tmp);
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    in = fopen(path, "r");
    if (in) {
        while (fgets(line, sizeof(line), in)) {
            char e[GW_EMAIL_MAX];
            if (sscanf(line, "%255s", e) == 1 && !strcmp(e, email))
                continue; /* replaced below */
            fputs(line, out);
        }
        fclose(in);
    } else {
        fputs("# xo-gateway users: <email> <admin|viewer> <pbkdf2-sha256 hash>\n", out);
    }
    fprintf(out, "%s %s %s\n", email, gw_perm_name(perm), hash);
    if (fclose(out) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: %s", path, strerror(errno));
    }
    return XO_OK;
}

/* ---- failure throttling ---- */

static fail_t *fail_slot(gw_users_t *u, const char *prefix, const char *name, bool create,
                         int64_t now)
{
    char key[sizeof(((fail_t *)0)->key)];
    fail_t *victim = NULL;
    snprintf(key, sizeof(key), "%s%s", prefix, name);
    for (size_t i = 0; i < FAIL_SLOTS; i++) {
        fail_t *f = &u->fails[i];
        if (f->key[0] && now - f->last_ms > FAIL_WINDOW_MS)
            f->key[0] = '\0'; /* expired */
        if (f->key[0] && !strcmp(f->key, key))
            return f;
        /* victim: the first free slot, else the least recently failed one */
        if (!victim || (victim->key[0] && (!f->key[0] || f->last_ms < victim->last_ms)))
            victim = f;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->first_ms = victim->last_ms = now;
    return victim;
}

static bool throttled(const fail_t *f, int64_t now)
{
    int64_t delay;
    if (!f || f->failures < FAIL_FREE)
        return false;
    delay = (int64_t)FAIL_DELAY_MS << (f->failures - FAIL_FREE > 6 ? 6 : f->failures - FAIL_FREE);
    if (delay > FAIL_MAX_DELAY_MS)
        delay = FAIL_MAX_DELAY_MS;
    return now - f->last_ms < delay;
}

/* A live cache entry for these credentials whose user and password are still current. */
static const gw_user_t *cached(gw_users_t *u, const char *email, const char *password,
                               int64_t now_ms)
{
    const void *owner = NULL;
    uint64_t stamp = 0;
    const user_rec_t *r = find_email(u, email);

    if (!r || r->disabled ||
        !gw_auth_cache_lookup(u->cache, email, password, now_ms, &owner, &stamp))
        return NULL;
    return owner == r && stamp == r->stamp ? &r->pub : NULL;
}

static void count_failure(gw_users_t *u, const char *email, const char *addr, int64_t now_ms)
{
    fail_t *fu = fail_slot(u, "u:", email, true, now_ms);
    fail_t *fa = fail_slot(u, "a:", addr, true, now_ms);

    fu->failures++;
    fu->last_ms = now_ms;
    fa->failures++;
    fa->last_ms = now_ms;
    xo_warn(MOD, "event=signin_failed user=\"%s\" addr=%s failures=%u", email, addr, fu->failures);
}

gw_auth_t gw_users_authenticate(gw_users_t *u, const char *email, const char *password,
                                const char *addr, int64_t now_ms, const gw_user_t **user)
{
    fail_t *fu, *fa;
    user_rec_t *found;

    if (!addr)
        addr = "-";
    gw_users_refresh(u);
    fu = fail_slot(u, "u:", email, false, now_ms);
    fa = fail_slot(u, "a:", addr, false, now_ms);
    if (throttled(fu, now_ms) || throttled(fa, now_ms)) {
        xo_warn(MOD, "event=signin_throttled user=\"%s\" addr=%s", email, addr);
        return GW_AUTH_THROTTLED;
    }
    *user = cached(u, email, password, now_ms);
    if (*user) { /* verified within users.cache_ttl: no hash, no log line per request */
        if (fu)
            fu->key[0] = '\0';
        return GW_AUTH_OK;
    }
    found = find_email(u, email);
    if (found && found->disabled)
        found = NULL;
    if (found && gw_password_verify(password, found->pub.hash)) {
        if (fu)
            fu->key[0] = '\0';
        gw_auth_cache_insert(u->cache, email, password, found, found->stamp, now_ms);
        *user = &found->pub;
        xo_info(MOD, "event=signin user=\"%s\" addr=%s", email, addr);
        return GW_AUTH_OK;
    }
    if (!found) /* same cost as a wrong password, so that timing does not reveal accounts */
        (void)gw_password_verify(password, u->n ? u->users[0]->pub.hash : "");
    count_failure(u, email, addr, now_ms);
    return GW_AUTH_INVALID;
}

const gw_user_t *gw_users_by_id(const gw_users_t *u, const char *id)
{
    for (size_t i = 0; i < u->n; i++)
        if (!strcmp(u->users[i]->pub.id, id))
            return u->users[i]->disabled ? NULL : &u->users[i]->pub;
    return NULL;
}

/* ---- tokens ---- */

/* A slot for a new token: a free or expired one, else a new one, else the oldest's. */
static token_t *token_slot(gw_users_t *u, int64_t now_ms)
{
    token_t *t = NULL;

    for (size_t i = 0; i < u->ntokens && !t; i++)
        if (!u->tokens[i].used || u->tokens[i].expires_ms <= now_ms)
            t = &u->tokens[i];
    if (!t && u->ntokens < GW_TOKENS_MAX) {
        if (u->ntokens == u->captokens) {
            size_t ncap = u->captokens ? u->captokens * 2 : 16;
            token_t *nt = realloc(u->tokens, ncap * sizeof(*nt));
            if (!nt)
                return NULL;
            u->tokens = nt;
            u->captokens = ncap;
        }
        t = &u->tokens[u->ntokens++];
    }
    if (!t) {
        t = &u->tokens[0];
        for (size_t i = 1; i < u->ntokens; i++)
            if (u->tokens[i].expires_ms < t->expires_ms)
                t = &u->tokens[i];
    }
    return t;
}

xo_err_t gw_tokens_create(gw_users_t *u, const gw_user_t *user, int64_t ttl_ms, int64_t now_ms,
                          char out[GW_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    char b[64];
    token_t *t;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return XO_ERR_CRYPTO;
    b64(raw, sizeof(raw), b, sizeof(b));
    for (char *p = b; *p; p++) /* base64url, no padding */
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    b[GW_TOKEN_LEN] = '\0';
    memcpy(out, b, GW_TOKEN_LEN + 1);
    t = token_slot(u, now_ms);
    if (!t)
        return XO_ERR_NOMEM;
    SHA256((const unsigned char *)out, GW_TOKEN_LEN, t->digest);
    snprintf(t->user_id, sizeof(t->user_id), "%s", user->id);
    t->expires_ms = now_ms + ttl_ms;
    t->used = true;
    OPENSSL_cleanse(raw, sizeof(raw));
    if (u->share.publish)
        u->share.publish(u->share.opaque, t->digest, t->user_id, now_ms, t->expires_ms);
    return XO_OK;
}

void gw_users_share_tokens(gw_users_t *u, const gw_token_share_t *share)
{
    u->share = *share;
}

/* Apply what other gateways published (and this one, read back). */
static void receive_tokens(gw_users_t *u)
{
    if (u->share.receive)
        u->share.receive(u->share.opaque, u);
}

static bool deleted_lately(const gw_users_t *u, const unsigned char d[32])
{
    size_t n = u->ndeleted < RECENT_DELETES ? u->ndeleted : RECENT_DELETES;
    for (size_t i = 0; i < n; i++)
        if (!memcmp(u->deleted[i], d, 32))
            return true;
    return false;
}

void gw_tokens_apply(gw_users_t *u, const unsigned char digest[32], const char *user_id,
                     int64_t expires_ms, int64_t now_ms)
{
    token_t *t = NULL;

    for (size_t i = 0; i < u->ntokens && !t; i++)
        if (u->tokens[i].used && CRYPTO_memcmp(u->tokens[i].digest, digest, 32) == 0)
            t = &u->tokens[i];
    if (!user_id || expires_ms <= 0) {
        if (t)
            OPENSSL_cleanse(t, sizeof(*t));
        return;
    }
    if (expires_ms <= now_ms || deleted_lately(u, digest))
        return;
    if (!t)
        t = token_slot(u, now_ms);
    if (!t)
        return;
    memcpy(t->digest, digest, 32);
    snprintf(t->user_id, sizeof(t->user_id), "%s", user_id);
    t->expires_ms = expires_ms;
    t->used = true;
}

static bool token_digest(const char *token, unsigned char d[32])
{
    if (!token || strlen(token) != GW_TOKEN_LEN)
        return false;
    SHA256((const unsigned char *)token, GW_TOKEN_LEN, d);
    return true;
}

static bool token_live(const token_t *t, int64_t now_ms)
{
    return t->used && t->expires_ms > now_ms;
}

const gw_user_t *gw_tokens_lookup(gw_users_t *u, const char *token, int64_t now_ms,
                                  int64_t *expires_ms)
{
    return gw_tokens_lookup_ref(u, token, now_ms, expires_ms, NULL);
}

const gw_user_t *gw_tokens_lookup_ref(gw_users_t *u, const char *token, int64_t now_ms,
                                      int64_t *expires_ms, gw_token_ref_t *ref)
{
    unsigned char d[32];

    if (!token_digest(token, d))
        return NULL;
    gw_users_refresh(u);
    receive_tokens(u);
    for (size_t i = 0; i < u->ntokens; i++) {
        token_t *t = &u->tokens[i];
        if (token_live(t, now_ms) && CRYPTO_memcmp(t->digest, d, 32) == 0) {
            if (expires_ms)
                *expires_ms = t->expires_ms;
            if (ref) {
                memcpy(ref->digest, d, 32);
                ref->slot = i;
            }
            return gw_users_by_id(u, t->user_id);
        }
    }
    return NULL;
}

/* The slot @p ref names, if it still holds that token (slots are reused). */
static token_t *token_at(gw_users_t *u, const gw_token_ref_t *ref)
{
    token_t *t;

    if (!ref || ref->slot >= u->ntokens)
        return NULL;
    t = &u->tokens[ref->slot];
    return t->used && CRYPTO_memcmp(t->digest, ref->digest, 32) == 0 ? t : NULL;
}

const gw_user_t *gw_tokens_check(gw_users_t *u, const gw_token_ref_t *ref, int64_t now_ms)
{
    token_t *t;

    receive_tokens(u); /* a deletion made on another gateway ends this session too */
    t = token_at(u, ref);
    gw_users_refresh(u);
    return t && token_live(t, now_ms) ? gw_users_by_id(u, t->user_id) : NULL;
}

/* Delete here, and on every gateway. */
static void token_drop(gw_users_t *u, token_t *t)
{
    memcpy(u->deleted[u->ndeleted++ % RECENT_DELETES], t->digest, 32);
    if (u->share.publish)
        u->share.publish(u->share.opaque, t->digest, NULL, 0, 0);
    OPENSSL_cleanse(t, sizeof(*t)); /* used = false: the slot is free */
}

void gw_tokens_revoke(gw_users_t *u, const gw_token_ref_t *ref)
{
    token_t *t = token_at(u, ref);

    if (t)
        token_drop(u, t);
}

bool gw_tokens_delete(gw_users_t *u, const char *token, const gw_user_t *owner)
{
    unsigned char d[32];

    if (!token_digest(token, d))
        return false;
    receive_tokens(u);
    for (size_t i = 0; i < u->ntokens; i++) {
        token_t *t = &u->tokens[i];
        if (t->used && CRYPTO_memcmp(t->digest, d, 32) == 0) {
            if (owner && strcmp(t->user_id, owner->id) != 0)
                return false; /* another user's token: as if it did not exist */
            token_drop(u, t);
            return true;
        }
    }
    return false;
}

size_t gw_tokens_count(const gw_users_t *u, int64_t now_ms)
{
    size_t n = 0;

    for (size_t i = 0; i < u->ntokens; i++)
        n += token_live(&u->tokens[i], now_ms);
    return n;
}
