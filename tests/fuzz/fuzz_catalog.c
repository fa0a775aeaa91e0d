/*
 * fuzz_catalog.c - libFuzzer target for the updates.xml parser and the missing-patches
 * computation (common/xo_catalog.c). Parses each input in one shot and in input-derived
 * chunks (same outcome required); on success, lists every version's missing patches with
 * an input-derived installed set and checks the answer: no duplicate, every requirement
 * installed or listed before the patch that needs it.
 * Must not: keep state between inputs, or touch files or the network.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xo_catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const xo_catalog_limits_t LIMITS = {
    .max_total = 1 << 20, .max_field = 4096, .max_depth = 12, .max_patches = 500, .max_refs = 100};

static xo_err_t parse_chunked(const uint8_t *data, size_t size, xo_catalog_t **out)
{
    xo_catalog_parser_t *p = xo_catalog_parser_new(&LIMITS);
    size_t off = 0, n;
    xo_err_t err = XO_OK;
    char errstr[256];

    *out = NULL;
    if (!p)
        return XO_ERR_NOMEM;
    while (off < size && err == XO_OK) {
        n = 1 + (size_t)(data[(off * 5) % size] & 31);
        if (n > size - off)
            n = size - off;
        err = xo_catalog_parser_feed(p, (const char *)data + off, n, errstr, sizeof errstr);
        off += n;
    }
    if (err == XO_OK)
        err = xo_catalog_parser_finish(p, out, errstr, sizeof errstr);
    xo_catalog_parser_free(p);
    return err;
}

static bool listed_before(const xo_catalog_list_t *l, size_t before, const char *uuid)
{
    for (size_t i = 0; i < before; i++)
        if (strcmp(l->patches[i]->uuid, uuid) == 0)
            return true;
    return false;
}

static void check_answer(const xo_catalog_list_t *l, const char *const *inst, size_t n_inst)
{
    for (size_t i = 0; i < l->count; i++) {
        const xo_catalog_patch_t *pt = l->patches[i];
        if (listed_before(l, i, pt->uuid) || pt->upgrade)
            abort();
        for (size_t r = 0; r < pt->requirements.count; r++) {
            bool ok = listed_before(l, i, pt->requirements.uuids[r]);
            for (size_t k = 0; k < n_inst && !ok; k++)
                ok = strcmp(inst[k], pt->requirements.uuids[r]) == 0;
            if (!ok)
                abort();
        }
        for (size_t k = 0; k < n_inst; k++)
            if (strcmp(inst[k], pt->uuid) == 0)
                abort();
    }
}

/* Every version, with every third patch of the catalogue (offset from the input) installed. */
static void list_missing(const xo_catalog_t *cat, unsigned salt)
{
    size_t np = xo_catalog_patch_count(cat), n_inst = 0;
    const char **inst = calloc(np + 1, sizeof *inst);
    char errstr[256];

    if (!inst)
        return;
    for (size_t i = salt % 3; i < np; i += 3)
        inst[n_inst++] = xo_catalog_patch_at(cat, i)->uuid;
    for (size_t v = 0; v < xo_catalog_version_count(cat); v++) {
        const xo_catalog_version_t *ver = xo_catalog_version_at(cat, v);
        xo_catalog_list_t l = {0};
        if (xo_catalog_missing(cat, ver, inst, n_inst, NULL, 0, salt & 4, &l, errstr,
                               sizeof errstr) == XO_OK)
            check_answer(&l, inst, n_inst);
        xo_catalog_list_fini(&l);
        if (ver->patches.count &&
            xo_catalog_missing(cat, ver, inst, n_inst, (const char *const *)ver->patches.uuids,
                               ver->patches.count, false, &l, errstr, sizeof errstr) == XO_OK)
            check_answer(&l, inst, n_inst);
        xo_catalog_list_fini(&l);
    }
    free(inst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xo_catalog_t *a = NULL, *b = NULL;
    xo_err_t ea, eb;
    char errstr[256];

    ea = xo_catalog_parse((const char *)data, size, &LIMITS, &a, errstr, sizeof errstr);
    eb = parse_chunked(data, size, &b);
    if (ea != eb || xo_catalog_patch_count(a) != xo_catalog_patch_count(b) ||
        xo_catalog_version_count(a) != xo_catalog_version_count(b))
        abort();
    if (a)
        list_missing(a, size ? data[size / 2] : 0);
    xo_catalog_free(a);
    xo_catalog_free(b);
    return 0;
}
