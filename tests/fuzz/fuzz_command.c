/*
 * fuzz_command.c - libFuzzer target for the agent's command checks: xo_msg_parse(COMMAND),
 * cmd_check() (every check after the signature, with a fixed clock and policy), cmd_peek_id()
 * and cmd_verify() with input-derived xo-sig/xo-key headers against a one-key ring.
 * Must not: keep state between inputs (the ring and window are read-only), touch files or
 * the network.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "command_verify.h"
#include "xo_envelope.h"

#define POOL "6f0c9a44-9f5e-4b3c-8a0e-3f1d2c4b5a69"
#define NOW  1700000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The policy: an empty ring (so signed inputs stop at UNKNOWN_KEY; a real key id is used so
 * the lookup runs), this test's pool, every op, and one id in the replay window. Built once
 * and never modified afterwards. */
static const cmd_policy_t *policy(const char **kid)
{
    static cmd_policy_t p;
    static xo_key_t *key;

    if (!key) {
        cmd_replay_t *replay = cmd_replay_new();
        if (xo_key_generate(&key, NULL, 0) != XO_OK || !replay)
            abort();
        cmd_replay_add(replay, "seen-id", NOW + 60000);
        p = (cmd_policy_t){xo_keyring_new(), POOL, (1u << XO_OP_COUNT) - 1, 300000, 5000, replay};
    }
    *kid = xo_key_id(key);
    return &p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *kid;
    const cmd_policy_t *p = policy(&kid);
    json_object *o = NULL;
    char reason[256], id[CMD_ID_MAX + 1];
    cmd_t c;
    size_t sig_len = size ? data[0] % (size < 100 ? size : 100) : 0;

    if (xo_msg_parse(XO_MSG_COMMAND, data, size, &o, NULL, 0) == XO_OK)
        json_object_put(o);
    cmd_check(p, data, size, NOW, &c, reason, sizeof(reason));
    cmd_fini(&c);
    cmd_peek_id(data, size, id, sizeof(id));
    /* headers taken from the start of the input, the value from the rest */
    cmd_verify(p, data + sig_len, size - sig_len, data, sig_len, kid, sig_len % 2 ? 0 : 16, NOW, &c,
               reason, sizeof(reason));
    cmd_fini(&c);
    return 0;
}
