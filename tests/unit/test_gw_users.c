/* Unit tests of gateway/users.c: PBKDF2 hashes, users file and its reload, sign-in
 * throttling, the verified-credentials cache as sign-in uses it, tokens and their lifecycle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/auth_cache.h"
#include <openssl/sha.h>

#include "api/users.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A users file with one admin and one viewer (iterations: the PBKDF2 work factor). */
static void write_users(char *path, unsigned iterations, const char *viewer_pw)
{
    char errstr[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    assert_int_equal(gw_users_add_to_file(path, "a@x", GW_PERM_ADMIN, "admin pw", iterations,
                                          errstr, sizeof(errstr)),
                     XO_OK);
    assert_int_equal(gw_users_add_to_file(path, "v@x", GW_PERM_VIEWER, viewer_pw, iterations,
                                          errstr, sizeof(errstr)),
                     XO_OK);
}

static void test_hash_verify(void **state)
{
    char h1[GW_HASH_MAX], h2[GW_HASH_MAX];
    (void)state;
    assert_int_equal(gw_password_hash("correct horse", 1000, h1, sizeof(h1)), XO_OK);
    assert_int_equal(gw_password_hash("correct horse", 1000, h2, sizeof(h2)), XO_OK);
    assert_string_not_equal(h1, h2); /* salted */
    assert_non_null(strstr(h1, "pbkdf2-sha256$1000$"));
    assert_null(strstr(h1, "correct"));
    assert_true(gw_password_verify("correct horse", h1));
    assert_false(gw_password_verify("correct horsE", h1));
    assert_false(gw_password_verify("", h1));
    assert_false(gw_password_verify("x", "garbage"));
    assert_false(gw_password_verify("x", "pbkdf2-sha256$0$AAAA$AAAA"));
    assert_false(gw_password_verify("x", "pbkdf2-sha256$1000$!!!$AAAA"));
}

static void test_users_file(void **state)
{
    char path[] = "/tmp/test_gw_users_XXXXXX", errstr[256];
    int fd = mkstemp(path);
    gw_users_t *u = NULL;
    const gw_user_t *user = NULL;
    struct stat st;
    FILE *fp;
    (void)state;
    close(fd);
    unlink(path);
    assert_int_equal(
        gw_users_add_to_file(path, "a@x", GW_PERM_ADMIN, "pw1", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(
        gw_users_add_to_file(path, "v@x", GW_PERM_VIEWER, "pw2", 1000, errstr, sizeof(errstr)),
        XO_OK);
    /* replacing a user keeps one line for it */
    assert_int_equal(
        gw_users_add_to_file(path, "v@x", GW_PERM_VIEWER, "pw3", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(
        gw_users_add_to_file(path, "bad email", GW_PERM_VIEWER, "x", 1000, errstr, sizeof(errstr)),
        XO_ERR_INVALID);
    assert_int_equal(
        gw_users_add_to_file(path, "e@x", GW_PERM_VIEWER, "", 1000, errstr, sizeof(errstr)),
        XO_ERR_INVALID);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(gw_users_load(path, &u, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_users_count(u), 2);
    assert_int_equal(gw_users_authenticate(u, "v@x", "pw3", "1.2.3.4", 1000, &user), GW_AUTH_OK);
    assert_int_equal(user->permission, GW_PERM_VIEWER);
    assert_int_equal(gw_users_authenticate(u, "v@x", "pw2", "1.2.3.4", 1000, &user),
                     GW_AUTH_INVALID);
    gw_users_free(u);
    /* a malformed line is reported with its line number */
    fp = fopen(path, "a");
    fputs("oops\n", fp);
    fclose(fp);
    assert_int_equal(gw_users_load(path, &u, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_non_null(strstr(errstr, ":4:"));
    unlink(path);
    assert_int_equal(gw_users_load(path, &u, errstr, sizeof(errstr)), XO_ERR_IO);
}

static void test_throttle(void **state)
{
    char errstr[64];
    gw_users_t *u = NULL;
    const gw_user_t *user = NULL;
    int64_t now = 1000000;
    (void)state;
    assert_int_equal(gw_users_load(NULL, &u, errstr, sizeof(errstr)), XO_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "no", "10.0.0.1", now, &user),
                         GW_AUTH_INVALID);
    /* the right password is refused while throttled, without a hash */
    assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "admin", "10.0.0.2", now, &user),
                     GW_AUTH_THROTTLED);
    /* another account from another address is not affected */
    assert_int_equal(gw_users_authenticate(u, "other", "x", "10.0.0.3", now, &user),
                     GW_AUTH_INVALID);
    /* after the delay, the right password works and resets the account's count */
    now += 1500;
    assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "admin", "10.0.0.2", now, &user),
                     GW_AUTH_OK);
    assert_string_equal(user->email, "admin@admin.net");
    assert_int_equal(user->permission, GW_PERM_ADMIN);
    gw_users_free(u);
}

static void test_tokens(void **state)
{
    char errstr[64], t1[GW_TOKEN_LEN + 1], t2[GW_TOKEN_LEN + 1];
    gw_users_t *u = NULL;
    const gw_user_t *user = NULL;
    int64_t exp = 0;
    (void)state;
    assert_int_equal(gw_users_load(NULL, &u, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "admin", "a", 0, &user),
                     GW_AUTH_OK);
    assert_int_equal(gw_tokens_create(u, user, 1000, 5000, t1), XO_OK);
    assert_int_equal(gw_tokens_create(u, user, 1000, 5000, t2), XO_OK);
    assert_int_equal(strlen(t1), GW_TOKEN_LEN);
    assert_string_not_equal(t1, t2);
    assert_ptr_equal(gw_tokens_lookup(u, t1, 5500, &exp), user);
    assert_int_equal(exp, 6000);
    assert_null(gw_tokens_lookup(u, t1, 6000, NULL)); /* expired */
    assert_null(gw_tokens_lookup(u, "short", 5500, NULL));
    t2[0] = t2[0] == 'A' ? 'B' : 'A';
    assert_null(gw_tokens_lookup(u, t2, 5500, NULL));
    gw_users_free(u);
}

/* Shared tokens: what this gateway creates and deletes is published; what others published
 * is applied before any answer; a token deleted here is not brought back by its own older
 * record read back from the topic. */
typedef struct {
    unsigned char digest[32];
    char user[40];
    int64_t expires;
    int published;
    /* what "the topic" hands back at the next receive */
    unsigned char in_digest[32];
    const char *in_user;
    int64_t in_expires;
    bool pending;
} share_t;

static void share_publish(void *opaque, const unsigned char digest[32], const char *user_id,
                          int64_t issued_ms, int64_t expires_ms)
{
    share_t *sh = opaque;
    (void)issued_ms;
    memcpy(sh->digest, digest, 32);
    snprintf(sh->user, sizeof(sh->user), "%s", user_id ? user_id : "");
    sh->expires = expires_ms;
    sh->published++;
}

static void share_receive(void *opaque, gw_users_t *u)
{
    share_t *sh = opaque;
    if (sh->pending)
        gw_tokens_apply(u, sh->in_digest, sh->in_user, sh->in_expires, 5000);
    sh->pending = false;
}

static void test_shared_tokens(void **state)
{
    char errstr[64], t1[GW_TOKEN_LEN + 1];
    const char *other = "tokenmadeonanothergatewayxxxxxxxxxxxxxxxxxx";
    const char *other2 = "tokenmadeonanothergatewayyyyyyyyyyyyyyyyyyy";
    unsigned char d1[32], d2[32];
    gw_users_t *u = NULL;
    const gw_user_t *user = NULL;
    share_t sh;
    (void)state;
    memset(&sh, 0, sizeof(sh));
    assert_int_equal(strlen(other), GW_TOKEN_LEN);
    assert_int_equal(gw_users_load(NULL, &u, errstr, sizeof(errstr)), XO_OK);
    gw_users_share_tokens(u, &(gw_token_share_t){share_publish, share_receive, &sh});
    assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "admin", "a", 0, &user),
                     GW_AUTH_OK);
    /* created here: published with its digest, user and expiry */
    assert_int_equal(gw_tokens_create(u, user, 1000, 5000, t1), XO_OK);
    SHA256((const unsigned char *)t1, GW_TOKEN_LEN, d1);
    assert_int_equal(sh.published, 1);
    assert_memory_equal(sh.digest, d1, 32);
    assert_string_equal(sh.user, user->id);
    assert_int_equal(sh.expires, 6000);
    /* made on another gateway: unknown until the topic hands it over, then honoured */
    assert_null(gw_tokens_lookup(u, other, 5500, NULL));
    SHA256((const unsigned char *)other, GW_TOKEN_LEN, d2);
    memcpy(sh.in_digest, d2, 32);
    sh.in_user = user->id;
    sh.in_expires = 9000;
    sh.pending = true;
    assert_ptr_equal(gw_tokens_lookup(u, other, 5500, NULL), user);
    assert_int_equal(sh.published, 1); /* applied, not published again */
    /* deleted on another gateway: refused from the next answer on */
    sh.in_user = NULL;
    sh.in_expires = 0;
    sh.pending = true;
    assert_null(gw_tokens_lookup(u, other, 5500, NULL));
    /* deleted here: published as a deletion; its own older record read back later does
     * not bring it back */
    assert_true(gw_tokens_delete(u, t1, NULL));
    assert_int_equal(sh.published, 2);
    assert_string_equal(sh.user, "");
    assert_int_equal(sh.expires, 0);
    memcpy(sh.in_digest, d1, 32);
    sh.in_user = user->id;
    sh.in_expires = 6000;
    sh.pending = true;
    assert_null(gw_tokens_lookup(u, t1, 5500, NULL));
    /* an expired record is not applied (the same token, valid: it is) */
    SHA256((const unsigned char *)other2, GW_TOKEN_LEN, d2);
    memcpy(sh.in_digest, d2, 32);
    sh.in_expires = 4000;
    sh.pending = true;
    assert_null(gw_tokens_lookup(u, other2, 3000, NULL));
    sh.in_expires = 9000;
    sh.pending = true;
    assert_ptr_equal(gw_tokens_lookup(u, other2, 5500, NULL), user);
    gw_users_free(u);
}

/* A password that verified is not hashed again within the ttl; anything else is. */
static void test_cache_hits(void **state)
{
    char path[] = "/tmp/test_gw_users_XXXXXX", errstr[256];
    gw_users_t *u = NULL;
    const gw_user_t *user = NULL;
    const gw_auth_cache_t *c;
    double t0, slow, fast;
    int64_t now = 1000000;
    (void)state;
    write_users(path, 200000, "viewer pw"); /* tens of milliseconds per hash */
    assert_int_equal(gw_users_load(path, &u, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_users_set_cache(u, 64, 60000), XO_OK);
    c = gw_users_cache(u);
    t0 = now_s();
    assert_int_equal(gw_users_authenticate(u, "v@x", "viewer pw", "a1", now, &user), GW_AUTH_OK);
    slow = now_s() - t0;
    assert_int_equal(gw_auth_cache_count(c, now), 1);
    t0 = now_s();
    for (int i = 0; i < 10; i++)
        assert_int_equal(gw_users_authenticate(u, "v@x", "viewer pw", "a1", now + i, &user),
                         GW_AUTH_OK);
    fast = now_s() - t0;
    assert_string_equal(user->email, "v@x");
    /* ten cached sign-ins together cost less than a fifth of one hash */
    assert_true(fast * 5 < slow);
    /* a wrong password is hashed, refused and never cached */
    assert_int_equal(gw_users_authenticate(u, "v@x", "viewer pW", "a1", now, &user),
                     GW_AUTH_INVALID);
    assert_int_equal(gw_auth_cache_count(c, now), 1);
    /* after the ttl the password is verified again (and cached again) */
    assert_int_equal(gw_users_authenticate(u, "v@x", "viewer pw", "a1", now + 60000, &user),
                     GW_AUTH_OK);
    assert_int_equal(gw_auth_cache_count(c, now + 60000), 1);
    gw_users_free(u);
    unlink(path);
}

/* Throttling applies before the cache: a cached password is refused while throttled. */
static void test_cache_throttled(void **state)
{
    char errstr[64];
    gw_users_t *u = NULL;
    const gw_user_t *user = NULL;
    int64_t now = 1000000;
    (void)state;
    assert_int_equal(gw_users_load(NULL, &u, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_users_set_cache(u, 64, 60000), XO_OK);
    assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "admin", "ok", now, &user),
                     GW_AUTH_OK);
    assert_int_equal(gw_auth_cache_count(gw_users_cache(u), now), 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "x", "bad", now, &user),
                         GW_AUTH_INVALID);
    assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "admin", "ok", now, &user),
                     GW_AUTH_THROTTLED);
    assert_int_equal(gw_users_authenticate(u, "admin@admin.net", "admin", "ok", now + 1500, &user),
                     GW_AUTH_OK);
    gw_users_free(u);
}

/* A changed users file applies at its reload: the old password is refused even though it
 * was cached, the new one works, a removed user's tokens and sign-ins stop. */
static void test_reload(void **state)
{
    char path[] = "/tmp/test_gw_users_XXXXXX", errstr[256], tok[GW_TOKEN_LEN + 1];
    gw_users_t *u = NULL;
    const gw_user_t *user = NULL, *viewer;
    size_t changed = 99;
    int64_t now = 1000000;
    FILE *in, *out;
    char line[1024], tmp[64];
    (void)state;
    write_users(path, 1000, "old pw");
    assert_int_equal(gw_users_load(path, &u, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_users_set_cache(u, 64, 60000), XO_OK);
    assert_int_equal(gw_users_authenticate(u, "v@x", "old pw", "a", now, &user), GW_AUTH_OK);
    viewer = user;
    assert_int_equal(gw_users_reload(u, &changed, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(changed, 0); /* same file: nothing changes, the cache stays */
    assert_int_equal(gw_auth_cache_count(gw_users_cache(u), now), 1);
    /* password change */
    assert_int_equal(
        gw_users_add_to_file(path, "v@x", GW_PERM_VIEWER, "new pw", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(gw_users_reload(u, &changed, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(gw_auth_cache_count(gw_users_cache(u), now), 0);
    assert_int_equal(gw_users_authenticate(u, "v@x", "old pw", "a", now, &user), GW_AUTH_INVALID);
    assert_int_equal(gw_users_authenticate(u, "v@x", "new pw", "a", now, &user), GW_AUTH_OK);
    assert_ptr_equal(user, viewer); /* the same record: borrowed pointers stay valid */
    assert_int_equal(gw_tokens_create(u, viewer, 60000, now, tok), XO_OK);
    /* permission change and a new user */
    assert_int_equal(
        gw_users_add_to_file(path, "v@x", GW_PERM_ADMIN, "new pw", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(
        gw_users_add_to_file(path, "n@x", GW_PERM_VIEWER, "n pw", 1000, errstr, sizeof(errstr)),
        XO_OK);
    assert_int_equal(gw_users_reload(u, &changed, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(changed, 2);
    assert_int_equal(viewer->permission, GW_PERM_ADMIN);
    assert_int_equal(gw_users_count(u), 3);
    /* removal: the user's sign-ins and tokens stop */
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    in = fopen(path, "r");
    out = fopen(tmp, "w");
    while (fgets(line, sizeof(line), in))
        if (strncmp(line, "v@x ", 4) != 0)
            fputs(line, out);
    fclose(in);
    fclose(out);
    assert_int_equal(rename(tmp, path), 0);
    assert_ptr_equal(gw_tokens_lookup(u, tok, now, NULL), viewer);
    assert_int_equal(gw_users_reload(u, &changed, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(gw_users_count(u), 2);
    assert_null(gw_users_by_id(u, viewer->id));
    assert_null(gw_tokens_lookup(u, tok, now, NULL));
    assert_int_equal(gw_users_authenticate(u, "v@x", "new pw", "b", now, &user), GW_AUTH_INVALID);
    /* a broken file keeps the users as they are */
    out = fopen(path, "a");
    fputs("garbage\n", out);
    fclose(out);
    assert_int_equal(gw_users_reload(u, &changed, errstr, sizeof(errstr)), XO_ERR_PARSE);
    assert_int_equal(gw_users_count(u), 2);
    assert_int_equal(gw_users_authenticate(u, "n@x", "n pw", "b", now, &user), GW_AUTH_OK);
    gw_users_free(u);
    unlink(path);
}

/* Tokens: deleted by token or by reference, for their owner only when asked, expiring. */
static void test_token_lifecycle(void **state)
{
    char path[] = "/tmp/test_gw_users_XXXXXX", errstr[256];
    char ta[GW_TOKEN_LEN + 1], tv[GW_TOKEN_LEN + 1], t2[GW_TOKEN_LEN + 1];
    gw_users_t *u = NULL;
    const gw_user_t *admin = NULL, *viewer = NULL;
    gw_token_ref_t ref;
    int64_t exp = 0;
    (void)state;
    write_users(path, 1000, "v pw");
    assert_int_equal(gw_users_load(path, &u, errstr, sizeof(errstr)), XO_OK);
    assert_int_equal(gw_users_authenticate(u, "a@x", "admin pw", "a", 0, &admin), GW_AUTH_OK);
    assert_int_equal(gw_users_authenticate(u, "v@x", "v pw", "a", 0, &viewer), GW_AUTH_OK);
    assert_int_equal(gw_tokens_create(u, admin, 1000, 5000, ta), XO_OK);
    assert_int_equal(gw_tokens_create(u, viewer, 1000, 5000, tv), XO_OK);
    assert_int_equal(gw_tokens_count(u, 5000), 2);
    /* a session's reference checks the token in place, and ends with it */
    assert_ptr_equal(gw_tokens_lookup_ref(u, tv, 5000, &exp, &ref), viewer);
    assert_int_equal(exp, 6000);
    assert_ptr_equal(gw_tokens_check(u, &ref, 5999), viewer);
    assert_null(gw_tokens_check(u, &ref, 6000)); /* expired */
    gw_tokens_revoke(u, &ref);
    assert_null(gw_tokens_lookup(u, tv, 5500, NULL));
    assert_null(gw_tokens_check(u, &ref, 5500));
    gw_tokens_revoke(u, &ref); /* already gone: nothing happens */
    /* its slot is reused by the next token: the old reference does not name it */
    assert_int_equal(gw_tokens_create(u, viewer, 1000, 5000, t2), XO_OK);
    assert_null(gw_tokens_check(u, &ref, 5500));
    assert_ptr_equal(gw_tokens_lookup(u, t2, 5500, NULL), viewer);
    /* deleteOwn: another user's token is left alone */
    assert_false(gw_tokens_delete(u, ta, viewer));
    assert_ptr_equal(gw_tokens_lookup(u, ta, 5500, NULL), admin);
    assert_true(gw_tokens_delete(u, t2, viewer));
    assert_null(gw_tokens_lookup(u, t2, 5500, NULL));
    /* delete (admin): anyone's token; unknown or malformed tokens are no error */
    assert_true(gw_tokens_delete(u, ta, NULL));
    assert_null(gw_tokens_lookup(u, ta, 5500, NULL));
    assert_false(gw_tokens_delete(u, ta, NULL));
    assert_false(gw_tokens_delete(u, "short", NULL));
    assert_int_equal(gw_tokens_count(u, 5500), 0);
    gw_users_free(u);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verify),   cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_throttle),      cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_cache_hits),    cmocka_unit_test(test_cache_throttled),
        cmocka_unit_test(test_reload),        cmocka_unit_test(test_token_lifecycle),
        cmocka_unit_test(test_shared_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
