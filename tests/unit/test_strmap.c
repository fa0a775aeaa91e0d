/* Unit tests of common/xo_strmap.c against a brute-force model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xo_strmap.h"

#define N 5000

static void test_against_model(void **state)
{
    static int64_t model[N];
    static char present[N];
    xo_strmap_t *m = xo_strmap_new();
    char key[32];
    unsigned seed = 12345;
    size_t live = 0;

    (void)state;
    for (int step = 0; step < 200000; step++) {
        int k = (int)((seed = seed * 1103515245 + 12345) >> 8) % N, op = (int)(seed >> 4) % 3;
        snprintf(key, sizeof(key), "pool/vm/OpaqueRef:%d", k);
        if (op == 0) {
            assert_int_equal(xo_strmap_set(m, key, step), XO_OK);
            live += !present[k];
            present[k] = 1;
            model[k] = step;
        } else if (op == 1) {
            assert_int_equal(xo_strmap_del(m, key), present[k]);
            live -= present[k];
            present[k] = 0;
        } else {
            int64_t v = -1;
            assert_int_equal(xo_strmap_get(m, key, &v), present[k]);
            if (present[k])
                assert_int_equal(v, model[k]);
        }
        assert_int_equal(xo_strmap_count(m), live);
    }
    {
        size_t pos = 0, seen = 0;
        int64_t v;
        const char *k;
        while ((k = xo_strmap_next(m, &pos, &v))) {
            int idx = atoi(strrchr(k, ':') + 1);
            assert_true(present[idx]);
            assert_int_equal(v, model[idx]);
            seen++;
        }
        assert_int_equal(seen, live);
    }
    xo_strmap_free(m);
}

static void test_add_and_clear(void **state)
{
    xo_strmap_t *m = xo_strmap_new();
    int64_t v;

    (void)state;
    assert_int_equal(xo_strmap_add(m, "vm", 3, &v), XO_OK);
    assert_int_equal(v, 3); /* inserted: 0 + 3 */
    v = 0;
    assert_int_equal(xo_strmap_add(m, "vm", -1, &v), XO_OK);
    assert_int_equal(v, 2); /* found: 3 - 1 */
    assert_int_equal(xo_strmap_add(m, "vm", 5, NULL), XO_OK);
    assert_true(xo_strmap_get(m, "vm", &v));
    assert_int_equal(v, 7);
    xo_strmap_clear(m);
    assert_int_equal(xo_strmap_count(m), 0);
    assert_false(xo_strmap_get(m, "vm", NULL));
    xo_strmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_model),
        cmocka_unit_test(test_add_and_clear),
    };
    return cmocka_run_group_tests_name("strmap", tests, NULL, NULL);
}
