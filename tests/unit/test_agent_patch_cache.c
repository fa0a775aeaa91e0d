/*
 * test_agent_patch_cache.c - the agent's listing debounce (agent/patch_cache.c): a host's
 * answer is given again within patches.list_debounce_s, as a copy; 0 keeps nothing; an
 * installation's end (patch_listing_forget) forgets every answer, and an answer whose
 * listing began before it is not kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "patch_int.h"

static const xo_cfg_spec_t SPEC[] = {
    {"patches.list_debounce_s", XO_CFG_INT, "60", 0, 3600, false, "debounce"},
    {NULL, 0, NULL, 0, 0, false, NULL},
};

static xo_config_t *config(const char *debounce)
{
    xo_config_t *cfg = xo_config_new(SPEC, "XO_TEST");
    char errstr[128];

    assert_non_null(cfg);
    assert_int_equal(
        xo_config_set(cfg, "patches.list_debounce_s", debounce, errstr, sizeof(errstr)), XO_OK);
    return cfg;
}

static json_object *list_of(const char *name)
{
    json_object *a = json_object_new_array(), *p = json_object_new_object();

    json_object_object_add(p, "name", json_object_new_string(name));
    json_object_array_add(a, p);
    return a;
}

static void assert_listed(xo_config_t *cfg, const char *host, const char *name)
{
    json_object *got = patch_listing_get(cfg, host);

    assert_non_null(got);
    assert_string_equal(
        json_object_get_string(json_object_object_get(json_object_array_get_idx(got, 0), "name")),
        name);
    json_object_put(got);
}

static void test_debounce(void **state)
{
    xo_config_t *cfg = config("60");
    json_object *a = list_of("a"), *b = list_of("b");
    (void)state;
    patch_listing_forget();
    assert_null(patch_listing_get(cfg, "OpaqueRef:h1"));
    patch_listing_put(cfg, "OpaqueRef:h1", a, patch_listing_gen());
    patch_listing_put(cfg, "OpaqueRef:h2", b, patch_listing_gen());
    json_object_put(a); /* kept as text: the caller's object is its own */
    assert_listed(cfg, "OpaqueRef:h1", "a");
    assert_listed(cfg, "OpaqueRef:h2", "b");
    assert_null(patch_listing_get(cfg, "OpaqueRef:h3"));
    patch_listing_put(cfg, "OpaqueRef:h1", b, patch_listing_gen()); /* replaced */
    assert_listed(cfg, "OpaqueRef:h1", "b");
    patch_listing_forget(); /* an installation ended */
    assert_null(patch_listing_get(cfg, "OpaqueRef:h1"));
    assert_null(patch_listing_get(cfg, "OpaqueRef:h2"));
    json_object_put(b);
    xo_config_free(cfg);
}

static void test_listing_older_than_an_install_is_not_kept(void **state)
{
    xo_config_t *cfg = config("60");
    json_object *a = list_of("a");
    uint64_t gen = patch_listing_gen(); /* the listing begins */
    (void)state;
    patch_listing_forget(); /* meanwhile an installation ends */
    patch_listing_put(cfg, "OpaqueRef:h1", a, gen);
    assert_null(patch_listing_get(cfg, "OpaqueRef:h1"));
    patch_listing_put(cfg, "OpaqueRef:h1", a, patch_listing_gen());
    assert_listed(cfg, "OpaqueRef:h1", "a");
    json_object_put(a);
    patch_listing_forget();
    xo_config_free(cfg);
}

static void test_off(void **state)
{
    xo_config_t *cfg = config("0");
    json_object *a = list_of("a");
    (void)state;
    patch_listing_put(cfg, "OpaqueRef:h1", a, patch_listing_gen());
    assert_null(patch_listing_get(cfg, "OpaqueRef:h1"));
    json_object_put(a);
    xo_config_free(cfg);
}

static void test_many_hosts(void **state)
{
    xo_config_t *cfg = config("60");
    json_object *a = list_of("a");
    char host[32];
    (void)state;
    for (int i = 0; i < 200; i++) { /* more hosts than remembered: never more memory */
        snprintf(host, sizeof(host), "OpaqueRef:h%d", i);
        patch_listing_put(cfg, host, a, patch_listing_gen());
    }
    assert_listed(cfg, "OpaqueRef:h199", "a");
    json_object_put(a);
    patch_cache_free();
    xo_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debounce),
        cmocka_unit_test(test_listing_older_than_an_install_is_not_kept),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_many_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
