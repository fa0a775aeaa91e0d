/* Unit tests of gateway/users.c: PBKDF2 hashes, users file, sign-in throttling, tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/users.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
