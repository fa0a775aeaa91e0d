/*
 * fuzz_patchzip.c - libFuzzer target for the patch zip reader and its entry selection
 * (common/xo_patchzip.c). Reads each input as a zip in input-derived chunks, for both
 * patch kinds, under small limits: the reader must end with XO_OK or an error, never give
 * more bytes than the entry declares, and agree with xo_patchzip_select() on the name it
 * took. The input's first line is also tried as an entry name.
 * Must not: keep state between inputs, or touch files or the network.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xo_patchzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *data;
    size_t size, off;
} src_t;

static xo_err_t source(void *opaque, const void **out, size_t *len)
{
    src_t *s = opaque;
    size_t n = s->off < s->size ? 1 + (size_t)(s->data[s->off] % 97) * 13 : 0;

    if (n > s->size - s->off)
        n = s->size - s->off;
    *out = s->data + s->off;
    *len = n;
    s->off += n;
    return XO_OK;
}

static void read_zip(const uint8_t *data, size_t size, xo_patch_kind_t kind)
{
    xo_patchzip_limits_t lim = {.max_entry = 1 << 20, .max_ratio = 50, .max_entries = 16};
    src_t s = {data, size, 0};
    xo_patchzip_t *z = NULL;
    char buf[4096], err[256];
    uint64_t total = 0;
    size_t n;
    bool take;

    if (xo_patchzip_open(source, &s, kind, &lim, &z, err, sizeof err) != XO_OK)
        return;
    if (xo_patchzip_select(xo_patchzip_name(z), kind, &take, err, sizeof err) != XO_OK || !take)
        abort();
    while (xo_patchzip_read(z, buf, sizeof buf, &n, err, sizeof err) == XO_OK && n)
        total += n;
    if (total > xo_patchzip_size(z) || xo_patchzip_size(z) > lim.max_entry)
        abort();
    xo_patchzip_free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[300];
    size_t k = 0;
    bool take;

    while (k < size && k < sizeof name - 1 && data[k] != '\n')
        k++;
    memcpy(name, data, k);
    name[k] = '\0';
    if (xo_patchzip_select(name, XO_PATCH_ISO, &take, NULL, 0) == XO_OK &&
        (name[0] == '/' || !strcmp(name, "..") || !strncmp(name, "../", 3) ||
         strstr(name, "/../") || (k >= 3 && !strcmp(name + k - 3, "/.."))))
        abort(); /* an unsafe name was accepted */
    read_zip(data, size, XO_PATCH_ISO);
    read_zip(data, size, XO_PATCH_XSUPDATE);
    return 0;
}
