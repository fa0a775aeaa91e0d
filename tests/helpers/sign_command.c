/*
 * sign_command.c - test helper: makes Ed25519 key pairs and signed xo.commands messages for
 * kcat, as the gateway would (tests/e2e/test_agent_commands.py). Prints the value on one
 * line, then "xo-sig=<base64>", "xo-key=<key id>" and, with --partitions, "partition=<n>".
 * --tamper changes one byte of the value after signing. It also signs or verifies any
 * value read from stdin (an xo.results message as an agent would sign it, for forgery
 * tests). Must not be used in production.
 *
 *   sign_command --genkey PRIV.pem PUB.pem
 *   sign_command --key PRIV.pem --pool UUID --op vm.start [--args JSON] [--id ID] [--user U]
 *                [--expires-in-ms N] [--issued-ms-ago N] [--partitions N] [--tamper]
 *   sign_command --sign-stdin PRIV.pem          (prints xo-sig=..., xo-key=...)
 *   sign_command --verify-stdin PUB.pem SIG     (exit 0 when SIG verifies over stdin)
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_envelope.h"
#include "xo_kafka.h"
#include "xo_sign.h"

typedef struct {
    const char *key, *pool, *op, *args, *id, *user;
    long long expires_in, issued_ago;
    int partitions;
    int tamper;
} opts_t;

static void random_uuid(char out[37])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");

    if (!f || fread(b, 1, sizeof(b), f) != sizeof(b))
        exit(1);
    fclose(f);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static int genkey(const char *priv, const char *pub)
{
    char errstr[256];
    xo_key_t *k = NULL;
    int rc = xo_key_generate(&k, errstr, sizeof(errstr)) == XO_OK &&
                     xo_key_write_pem(k, priv, pub, errstr, sizeof(errstr)) == XO_OK
                 ? 0
                 : 1;

    if (rc)
        fprintf(stderr, "sign_command: %s\n", errstr);
    else
        printf("%s\n", xo_key_id(k));
    xo_key_free(k);
    return rc;
}

static int parse(int argc, char **argv, opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--tamper") == 0) {
            o->tamper = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--key") == 0)
            o->key = v;
        else if (strcmp(a, "--pool") == 0)
            o->pool = v;
        else if (strcmp(a, "--op") == 0)
            o->op = v;
        else if (strcmp(a, "--args") == 0)
            o->args = v;
        else if (strcmp(a, "--id") == 0)
            o->id = v;
        else if (strcmp(a, "--user") == 0)
            o->user = v;
        else if (strcmp(a, "--expires-in-ms") == 0)
            o->expires_in = atoll(v);
        else if (strcmp(a, "--issued-ms-ago") == 0)
            o->issued_ago = atoll(v);
        else if (strcmp(a, "--partitions") == 0)
            o->partitions = atoi(v);
        else
            return -1;
    }
    return o->key && o->pool && o->op ? 0 : -1;
}

static int sign_and_print(const opts_t *o)
{
    char id[37], sig[XO_SIG_B64_LEN + 1], errstr[256], *value = NULL;
    int64_t now = xo_now_ms();
    json_object *args = json_tokener_parse(o->args ? o->args : "{}");
    xo_command_msg_t m = {o->id,
                          o->pool,
                          o->op,
                          o->user ? o->user : "test-user",
                          args,
                          now - o->issued_ago,
                          now - o->issued_ago + o->expires_in};
    xo_key_t *k = NULL;
    size_t len = 0;
    int rc = 1;

    if (!o->id) {
        random_uuid(id);
        m.id = id;
    }
    if (!args || xo_key_load_private(o->key, &k, errstr, sizeof(errstr)) != XO_OK) {
        fprintf(stderr, "sign_command: bad --args or key: %s\n", args ? errstr : o->args);
        goto out;
    }
    value = xo_command_msg_encode(&m, &len);
    if (!value || xo_sign(k, value, len, sig) != XO_OK)
        goto out;
    if (o->tamper) /* the last character of the user name, after signing */
        value[strstr(value, "\"user\":\"") - value + 8] ^= 1;
    printf("%s\nxo-sig=%s\nxo-key=%s\n", value, sig, xo_key_id(k));
    if (o->partitions > 0)
        printf("partition=%d\n", (int)xo_pool_partition(o->pool, o->partitions));
    rc = 0;
out:
    free(value);
    xo_key_free(k);
    json_object_put(args);
    return rc;
}

/* All of stdin (up to 16 MiB) into a new buffer; NULL on error. */
static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);

    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            char *grown = cap < XO_MSG_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
    }
    *len = n;
    return buf;
}

/* --sign-stdin PRIV and --verify-stdin PUB SIG: any value, exact bytes. */
static int sign_or_verify_stdin(const char *path, const char *sig_in)
{
    char sig[XO_SIG_B64_LEN + 1], errstr[256] = "cannot read stdin";
    xo_key_t *k = NULL;
    size_t len = 0;
    char *value = read_stdin(&len);
    xo_err_t err = !value   ? XO_ERR_IO
                   : sig_in ? xo_key_load_public(path, &k, errstr, sizeof(errstr))
                            : xo_key_load_private(path, &k, errstr, sizeof(errstr));
    int rc = 1;

    if (err == XO_OK && sig_in)
        rc = xo_verify(k, value, len, sig_in, strlen(sig_in)) == XO_OK ? 0 : 1;
    else if (err == XO_OK && xo_sign(k, value, len, sig) == XO_OK)
        rc = printf("xo-sig=%s\nxo-key=%s\n", sig, xo_key_id(k)) > 0 ? 0 : 1;
    else
        fprintf(stderr, "sign_command: %s\n", err == XO_OK ? "cannot sign" : errstr);
    free(value);
    xo_key_free(k);
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o = {.expires_in = 60000};

    if (argc == 4 && strcmp(argv[1], "--genkey") == 0)
        return genkey(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--sign-stdin") == 0)
        return sign_or_verify_stdin(argv[2], NULL);
    if (argc == 4 && strcmp(argv[1], "--verify-stdin") == 0)
        return sign_or_verify_stdin(argv[2], argv[3]);
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: sign_command --genkey PRIV PUB | --key PRIV --pool UUID --op OP "
                        "[--args JSON] [--id ID] [--user U] [--expires-in-ms N] "
                        "[--issued-ms-ago N] [--partitions N] [--tamper] | --sign-stdin PRIV | "
                        "--verify-stdin PUB SIG\n");
        return 2;
    }
    return sign_and_print(&o);
}
