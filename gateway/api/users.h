/*
 * users.h - who may sign in: a users file of salted PBKDF2-HMAC-SHA256 password hashes
 * (OpenSSL) with a permission per user, in-memory authentication tokens, and a
 * per-account and per-address limit on failed sign-ins.
 *
 * Users file (one user a line; '#' comments; written by `xo-gateway useradd`):
 *     <email> <admin|viewer> pbkdf2-sha256$<iterations>$<salt-b64>$<hash-b64>
 * The file is read again when it changes (checked at most once a second, when someone
 * authenticates): new users appear, changed passwords and permissions apply at once, and
 * removed users are disabled (their gw_user_t stays allocated, so borrowed pointers stay
 * valid, but no sign-in, token or session of theirs is accepted any more).
 * Passwords that verified are remembered briefly (auth_cache.h), so that HTTP Basic does not
 * cost a PBKDF2 per request. Tokens live in memory; with gw_users_share_tokens() every
 * token created or deleted is also published (bus/token_log.h: the tokens topic), and what
 * other gateways published is applied before any answer about a token, so that a token
 * works on every gateway and survives restarts. Without it a restart signs tokens out.
 * Never logs or stores a password or a token in clear; logs name the account and address.
 * Not thread-safe: used from the service thread only.
 */
#ifndef GW_USERS_H
#define GW_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gw_buf.h"
#include "xo_error.h"

#define GW_PBKDF2_ITERATIONS 60000 /**< default work factor of new hashes */
#define GW_EMAIL_MAX         256
#define GW_HASH_MAX          256
#define GW_TOKEN_LEN         43 /**< base64url of 32 random bytes */

typedef enum { GW_PERM_VIEWER = 0, GW_PERM_ADMIN = 1 } gw_perm_t;

typedef struct {
    char id[40]; /**< stable id derived from the email (uuid-shaped) */
    char email[GW_EMAIL_MAX];
    gw_perm_t permission;
    char hash[GW_HASH_MAX];
} gw_user_t;

typedef struct gw_users gw_users_t;

/** @brief "admin" / "viewer". */
const char *gw_perm_name(gw_perm_t p);
/** @returns XO_OK or XO_ERR_INVALID. */
xo_err_t gw_perm_parse(const char *s, gw_perm_t *out);

/**
 * @brief Hash a password: "pbkdf2-sha256$<iter>$<salt>$<hash>" with a random 16-byte salt.
 * @returns XO_OK, XO_ERR_CRYPTO, XO_ERR_LIMIT (out too small).
 */
xo_err_t gw_password_hash(const char *password, unsigned iterations, char *out, size_t out_size);

/** @brief Check a password against an encoded hash (constant-time compare). */
bool gw_password_verify(const char *password, const char *encoded);

/**
 * @brief Load a users file. @p path NULL gives the built-in demo account
 *        admin@admin.net / admin (admin), as a fresh xo-server has; the caller logs that.
 * @returns XO_OK, XO_ERR_IO, XO_ERR_PARSE ("<path>:<line>: ..." in errstr), XO_ERR_NOMEM.
 */
xo_err_t gw_users_load(const char *path, gw_users_t **out, char *errstr, size_t errstr_size);
void gw_users_free(gw_users_t *u);
size_t gw_users_count(const gw_users_t *u);

/**
 * @brief Add (or replace) a user in a users file, creating it with mode 0600.
 * @returns XO_OK, XO_ERR_INVALID (bad email/permission/empty password), XO_ERR_IO, XO_ERR_CRYPTO.
 */
xo_err_t gw_users_add_to_file(const char *path, const char *email, gw_perm_t perm,
                              const char *password, unsigned iterations, char *errstr,
                              size_t errstr_size);

/** Outcome of a sign-in attempt. */
typedef enum {
    GW_AUTH_OK = 0,
    GW_AUTH_INVALID,  /**< unknown user or wrong password */
    GW_AUTH_THROTTLED /**< too many recent failures for this account or address */
} gw_auth_t;

/**
 * @brief Check credentials, applying the failure limit (GW_AUTH_THROTTLED refuses without
 *        even hashing, whether or not the password is cached), then the credentials cache,
 *        then the password hash (a success is cached; a failure is counted, never cached).
 *        Reloads the users file first if it changed. Logs failures with account and
 *        address, never the password.
 * @param now_ms monotonic milliseconds (tests pass their own clock)
 * @param user   receives the user on GW_AUTH_OK (borrowed from @p u)
 */
gw_auth_t gw_users_authenticate(gw_users_t *u, const char *email, const char *password,
                                const char *addr, int64_t now_ms, const gw_user_t **user);

/** @brief Write the public user object {id, email, permission, groups, preferences}. */
void gw_user_write_json(const gw_user_t *u, gw_buf_t *out);

/** @brief Find a user by id (tokens, sessions), or NULL when unknown or removed. */
const gw_user_t *gw_users_by_id(const gw_users_t *u, const char *id);

/**
 * @brief Remember verified passwords for @p ttl_ms in a table of @p entries (auth_cache.h);
 *        0 for either turns the cache off. Replaces (and empties) any previous cache.
 * @returns XO_OK, XO_ERR_NOMEM, XO_ERR_CRYPTO.
 */
xo_err_t gw_users_set_cache(gw_users_t *u, size_t entries, int64_t ttl_ms);

/** @brief The credentials cache (NULL when off), for tests and counters. */
const struct gw_auth_cache *gw_users_cache(const gw_users_t *u);

/**
 * @brief Read the users file again if it changed since it was read (its identity is
 *        stat()ed at most once a second; cheap to call often). Failures are logged once per
 *        version of the file, and the current users stay.
 */
void gw_users_refresh(gw_users_t *u);

/** @brief A number that changes whenever a reload changed a user (sessions re-check then). */
uint64_t gw_users_generation(const gw_users_t *u);

/**
 * @brief Read the users file again now and apply it: new users added, passwords and
 *        permissions updated, missing users disabled; the credentials cache is emptied
 *        when anything changed. On error the current users stay as they are.
 * @param changed receives the number of users added, changed or disabled (may be NULL)
 * @returns XO_OK (also without a users file: nothing to do), XO_ERR_IO, XO_ERR_PARSE,
 *          XO_ERR_NOMEM; detail in errstr.
 */
xo_err_t gw_users_reload(gw_users_t *u, size_t *changed, char *errstr, size_t errstr_size);

/* ---- tokens ---- */

#define GW_TOKENS_MAX 100000 /**< live tokens kept at most (oldest dropped first) */

/**
 * @brief Create a token for @p user valid @p ttl_ms.
 * @param out receives GW_TOKEN_LEN characters plus NUL
 * @returns XO_OK, XO_ERR_CRYPTO (no randomness), XO_ERR_NOMEM.
 */
xo_err_t gw_tokens_create(gw_users_t *u, const gw_user_t *user, int64_t ttl_ms, int64_t now_ms,
                          char out[GW_TOKEN_LEN + 1]);

/** What a session keeps of the token it signed in with: never the token itself. */
typedef struct {
    unsigned char digest[32]; /**< SHA-256 of the token */
    size_t slot;              /**< where it was found, to check it again in O(1) */
} gw_token_ref_t;

/**
 * @brief The user of a live token (not expired at wall-clock @p now_ms, not deleted, its
 *        user still in the users file), or NULL; *expires_ms (may be NULL) receives its
 *        expiry.
 */
const gw_user_t *gw_tokens_lookup(gw_users_t *u, const char *token, int64_t now_ms,
                                  int64_t *expires_ms);

/** @brief gw_tokens_lookup(), and *ref receives what gw_tokens_check() and _revoke() need. */
const gw_user_t *gw_tokens_lookup_ref(gw_users_t *u, const char *token, int64_t now_ms,
                                      int64_t *expires_ms, gw_token_ref_t *ref);

/** @brief The user of the token @p ref if it is still live at @p now_ms, else NULL. */
const gw_user_t *gw_tokens_check(gw_users_t *u, const gw_token_ref_t *ref, int64_t now_ms);

/** @brief Delete the token @p ref names (session.signOut); no-op when already gone. */
void gw_tokens_revoke(gw_users_t *u, const gw_token_ref_t *ref);

/**
 * @brief Delete @p token if it exists and, when @p owner is not NULL, belongs to @p owner
 *        (token.deleteOwn; token.delete passes NULL).
 * @returns true when a token was deleted.
 */
bool gw_tokens_delete(gw_users_t *u, const char *token, const gw_user_t *owner);

/** @brief Live tokens at @p now_ms. */
size_t gw_tokens_count(const gw_users_t *u, int64_t now_ms);

/** How this gateway's tokens are shared with the others (main.c wires bus/token_log.h). */
typedef struct {
    /** a token was created here (user_id, expiry) or deleted here (user_id NULL, 0) */
    void (*publish)(void *opaque, const unsigned char digest[32], const char *user_id,
                    int64_t issued_ms, int64_t expires_ms);
    /** apply what was published since the last call (with gw_tokens_apply()) */
    void (*receive)(void *opaque, gw_users_t *u);
    void *opaque;
} gw_token_share_t;

/** @brief Share tokens (@p share copied; its opaque must outlive @p u). */
void gw_users_share_tokens(gw_users_t *u, const gw_token_share_t *share);

/**
 * @brief Apply a token published by a gateway (possibly this one): add or update it
 *        (@p user_id and a future @p expires_ms), or delete it (@p user_id NULL). Not
 *        published again. A token deleted here lately is not brought back by its own
 *        older record.
 */
void gw_tokens_apply(gw_users_t *u, const unsigned char digest[32], const char *user_id,
                     int64_t expires_ms, int64_t now_ms);

#endif
