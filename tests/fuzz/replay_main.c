/*
 * replay_main.c - standalone driver for libFuzzer targets in normal builds (ctest fuzz.<name>):
 * runs LLVMFuzzerTestOneInput on every file of a corpus directory, then on a bounded number
 * of deterministic mutations of them (fixed seed, so a failure replays identically).
 * Must not: use randomness that differs between runs, or write anywhere.
 * Usage: replay_<name> <corpus-dir> [iterations]
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUTS     1024
#define MAX_INPUT_SIZE (1 << 20)

typedef struct {
    uint8_t *data;
    size_t size;
} input_t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const char *const tokens[] = {
    "<value>",
    "</value>",
    "<struct>",
    "</struct>",
    "<member>",
    "</member>",
    "<name>",
    "</name>",
    "<array><data>",
    "</data></array>",
    "<int>",
    "</int>",
    "<i8>",
    "<boolean>",
    "<double>",
    "<base64>",
    "<nil/>",
    "<string>",
    "&amp;",
    "&#0;",
    "&#x10FFFF;",
    "&x;",
    "<!DOCTYPE a [<!ENTITY x \"y\">]>",
    "<![CDATA[",
    "]]>",
    "\xff",
    "\xc3",
    "\0",
    "-1",
    "99999999999999999999",
    "1e308",
    "<fault>",
    "<?xml version=\"1.0\" encoding=\"latin1\"?>",
};

static bool read_file(const char *path, input_t *in)
{
    FILE *f = fopen(path, "rb");
    bool ok = false;

    if (!f)
        return false;
    in->data = malloc(MAX_INPUT_SIZE);
    if (in->data) {
        in->size = fread(in->data, 1, MAX_INPUT_SIZE, f);
        ok = true;
    }
    fclose(f);
    return ok;
}

static size_t load_corpus(const char *dir, input_t *inputs)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];
    struct stat st;
    size_t n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL && n < MAX_INPUTS) {
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (read_file(path, &inputs[n]))
            n++;
    }
    closedir(d);
    return n;
}

/* One random edit of buf (len bytes, capacity cap). Returns the new length. */
static size_t mutate_once(uint8_t *buf, size_t len, size_t cap)
{
    size_t pos = len ? rng() % len : 0, n;
    const char *tok;

    switch (rng() % 5) {
    case 0: /* flip a byte */
        if (len)
            buf[pos] ^= (uint8_t)(1u << (rng() % 8));
        return len;
    case 1: /* delete a range */
        n = len - pos < 16 ? len - pos : rng() % 16;
        memmove(buf + pos, buf + pos + n, len - pos - n);
        return len - n;
    case 2: /* duplicate a range */
        n = len - pos < 64 ? len - pos : rng() % 64;
        if (len + n > cap)
            return len;
        memmove(buf + pos + n, buf + pos, len - pos);
        return len + n;
    case 3: /* truncate */
        return pos;
    default: /* insert a token */
        tok = tokens[rng() % (sizeof tokens / sizeof tokens[0])];
        n = strlen(tok) ? strlen(tok) : 1;
        if (len + n > cap)
            return len;
        memmove(buf + pos + n, buf + pos, len - pos);
        memcpy(buf + pos, tok, n);
        return len + n;
    }
}

int main(int argc, char **argv)
{
    static input_t inputs[MAX_INPUTS];
    size_t n, iterations = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    uint8_t *buf = malloc(MAX_INPUT_SIZE);

    if (argc < 2 || !buf) {
        fprintf(stderr, "usage: %s <corpus-dir> [iterations]\n", argv[0]);
        free(buf);
        return 2;
    }
    n = load_corpus(argv[1], inputs);
    if (n == 0) {
        fprintf(stderr, "%s: no corpus files in %s\n", argv[0], argv[1]);
        free(buf);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        LLVMFuzzerTestOneInput(inputs[i].data, inputs[i].size);
    for (size_t it = 0; it < iterations; it++) {
        const input_t *in = &inputs[rng() % n];
        size_t len = in->size, edits = 1 + rng() % 8;
        memcpy(buf, in->data, len);
        for (size_t e = 0; e < edits; e++)
            len = mutate_once(buf, len, MAX_INPUT_SIZE);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%s: %zu corpus files, %zu mutations, no crash\n", argv[0], n, iterations);
    for (size_t i = 0; i < n; i++)
        free(inputs[i].data);
    free(buf);
    return 0;
}
