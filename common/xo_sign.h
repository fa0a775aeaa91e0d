/*
 * xo_sign.h - Ed25519 signatures of command messages (OpenSSL EVP), PEM key files, key ids
 * and a keyring of trusted public keys (several, so keys can be rotated).
 *
 * On the wire (headers of xo.commands): xo-sig = base64 of the 64-byte Ed25519 signature
 * over the exact value bytes; xo-key = the signer's key id, the first 16 hex digits of
 * SHA-256 over the raw 32-byte public key.
 */
#ifndef XO_SIGN_H
#define XO_SIGN_H

#include <stddef.h>

#include "xo_error.h"

#define XO_KEY_ID_LEN  16 /**< hex digits of a key id */
#define XO_SIG_B64_LEN 88 /**< base64 characters of a signature */
#define XO_PUB_B64_LEN 44 /**< base64 characters of a raw 32-byte public key */

typedef struct xo_key xo_key_t;

/** @brief Generate a new Ed25519 key pair. Free with xo_key_free(). */
xo_err_t xo_key_generate(xo_key_t **out, char *errstr, size_t errstr_size);

/**
 * @brief Write the private key (PKCS#8 PEM, mode 0600, refusing to overwrite) and the public
 *        key (SubjectPublicKeyInfo PEM, 0644).
 * @returns XO_OK, XO_ERR_IO (exists or cannot write; named in errstr), XO_ERR_CRYPTO.
 */
xo_err_t xo_key_write_pem(const xo_key_t *key, const char *private_path, const char *public_path,
                          char *errstr, size_t errstr_size);

/** @brief Load a private key from PEM. @returns XO_OK, XO_ERR_IO, XO_ERR_CRYPTO (not Ed25519). */
xo_err_t xo_key_load_private(const char *path, xo_key_t **out, char *errstr, size_t errstr_size);

/** @brief Load a public key from PEM. */
xo_err_t xo_key_load_public(const char *path, xo_key_t **out, char *errstr, size_t errstr_size);

/** @brief The key id (XO_KEY_ID_LEN hex digits, NUL-terminated; borrowed from the key). */
const char *xo_key_id(const xo_key_t *key);

/**
 * @brief Another handle on the same key (OpenSSL's reference count, thread-safe), for a
 *        thread that may outlive the owner of @p key: each handle is freed on its own.
 * @returns the handle (caller frees with xo_key_free), or NULL (NULL key, no memory).
 */
xo_key_t *xo_key_dup(const xo_key_t *key);

void xo_key_free(xo_key_t *key);

/**
 * @brief The raw 32-byte public key in base64 (RFC 8032's encoding), the form a key takes
 *        inside a message (vm.importPrepare's source_keys).
 * @param b64 receives XO_PUB_B64_LEN characters plus NUL.
 * @returns XO_OK, XO_ERR_CRYPTO.
 */
xo_err_t xo_key_public_b64(const xo_key_t *key, char b64[XO_PUB_B64_LEN + 1]);

/**
 * @brief A public key from its raw base64 form (xo_key_public_b64's).
 * @returns XO_OK (caller frees *out with xo_key_free), XO_ERR_BADSIG (not 44 base64
 *          characters of 32 bytes, or not an Ed25519 point), XO_ERR_NOMEM.
 */
xo_err_t xo_key_from_public_b64(const char *b64, size_t len, xo_key_t **out);

/**
 * @brief Sign @p data with a private key.
 * @param sig_b64 receives XO_SIG_B64_LEN characters plus NUL.
 */
xo_err_t xo_sign(const xo_key_t *key, const void *data, size_t len,
                 char sig_b64[XO_SIG_B64_LEN + 1]);

/**
 * @brief Verify a base64 signature of @p data.
 * @returns XO_OK, or XO_ERR_BADSIG (wrong key, tampered data, malformed signature).
 */
xo_err_t xo_verify(const xo_key_t *key, const void *data, size_t len, const char *sig_b64,
                   size_t sig_len);

typedef struct xo_keyring xo_keyring_t;

xo_keyring_t *xo_keyring_new(void);
/** @brief Add a public key file to the ring. */
xo_err_t xo_keyring_add_file(xo_keyring_t *ring, const char *path, char *errstr,
                             size_t errstr_size);
/** @brief Number of keys in the ring. */
size_t xo_keyring_count(const xo_keyring_t *ring);
/**
 * @brief Verify with the key named by @p key_id.
 * @returns XO_OK, XO_ERR_NOTFOUND (no such key in the ring), XO_ERR_BADSIG.
 */
xo_err_t xo_keyring_verify(const xo_keyring_t *ring, const char *key_id, size_t key_id_len,
                           const void *data, size_t len, const char *sig_b64, size_t sig_len);
void xo_keyring_free(xo_keyring_t *ring);

#endif
