/* Unit tests of gateway/view/view_consumer.c's record checks (gw_consumer_apply), without
 * Kafka: records not on their pool's partition are refused (objects, tombstones, markers,
 * heartbeats), records over limits.max_record_bytes are refused, snapshot strings over
 * limits.max_field_bytes are cut as the agents cut them (at any depth, at a character
 * boundary, and the view keeps the cut record), and keys and values are checked as before;
 * a tokener reused record after record gives the verdicts of a fresh one, whatever the
 * record before it left in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view/view_consumer.h"
#include "xo_envelope.h"

#define POOL_A "0f3c1e9a-5b2d-4c1e-9a8b-7d6e5f4a3b2c"
#define POOL_B "7a1d0c55-2f4e-4b8a-9c3d-1e2f3a4b5c6d"
#define PARTS  6

static const gw_record_limits_t LIMITS = {200000, 65536};

typedef struct {
    char key[256];
    char *value; /* owned */
    xo_record_t rec;
} msg_t;

/* An object record of @p pool on @p pool's partition (or @p partition when >= 0). */
static void object(msg_t *m, const char *pool, const char *ref, const char *snapshot,
                   int32_t partition)
{
    size_t cap = strlen(snapshot) + 512;

    snprintf(m->key, sizeof(m->key), "%s/vm/%s", pool, ref);
    m->value = malloc(cap);
    assert_non_null(m->value);
    snprintf(
        m->value, cap,
        "{\"v\":1,\"pool\":\"%s\",\"class\":\"vm\",\"ref\":\"%s\",\"uuid\":null,\"op\":\"add\","
        "\"event_id\":1,\"ts\":1,\"gen\":1,\"snapshot\":%s}",
        pool, ref, snapshot);
    m->rec = (xo_record_t){partition >= 0 ? partition : xo_pool_partition(pool, PARTS),
                           PARTS,
                           -1,
                           m->key,
                           strlen(m->key),
                           m->value,
                           strlen(m->value),
                           NULL,
                           0,
                           NULL,
                           0};
}

static gw_rec_verdict_t apply(gw_view_t *v, bool is_objects, const xo_record_t *rec,
                              unsigned *truncated)
{
    char errstr[256] = "";
    unsigned cut = 0;
    gw_rec_verdict_t verdict =
        gw_consumer_apply(v, NULL, NULL, &LIMITS, is_objects, rec, &cut, errstr, sizeof(errstr));

    if (verdict != GW_REC_APPLIED)
        assert_true(errstr[0] != '\0'); /* every refusal says why */
    if (truncated)
        *truncated = cut;
    return verdict;
}

static json_object *served(gw_view_t *v, const char *id)
{
    gw_obj_info_t o;
    return gw_view_get(v, id, &o) && o.json ? json_tokener_parse(o.json) : NULL;
}

static bool is_served(gw_view_t *v, const char *id)
{
    gw_obj_info_t o;
    return gw_view_get(v, id, &o);
}

static void test_wrong_partition_refused(void **state)
{
    gw_view_t *v = gw_view_new();
    int32_t a = xo_pool_partition(POOL_A, PARTS), b = xo_pool_partition(POOL_B, PARTS);
    gw_view_stats_t st;
    msg_t m;
    (void)state;
    assert_int_not_equal(a, b); /* the test vector needs two partitions */

    /* pool A's VM written to pool B's partition: refused, nothing in the view */
    object(&m, POOL_A, "OpaqueRef:1", "{\"uuid\":\"vm-1\",\"name_label\":\"x\"}", b);
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_WRONG_PARTITION);
    gw_view_stats(v, &st);
    assert_int_equal(st.objects, 0);
    /* on its own partition: applied */
    m.rec.partition = a;
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_APPLIED);
    assert_true(is_served(v, "vm-1"));
    /* a tombstone of it on another partition deletes nothing */
    m.rec.value = NULL;
    m.rec.value_len = 0;
    m.rec.partition = b;
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_WRONG_PARTITION);
    assert_true(is_served(v, "vm-1"));
    /* the partition count unknown: no partition check */
    m.rec.partitions = 0;
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_APPLIED);
    assert_false(is_served(v, "vm-1"));
    free(m.value);

    /* a _sync marker and a heartbeat (keyed by the pool: the key's partition) */
    snprintf(m.key, sizeof(m.key), "%s/_sync", POOL_A);
    m.value = strdup("{\"v\":1,\"pool\":\"" POOL_A "\",\"type\":\"sync\",\"agent\":\"a\",\"gen\":1,"
                     "\"objects\":0,\"ts\":1}");
    m.rec = (xo_record_t){b,    PARTS, -1,   m.key, strlen(m.key), m.value, strlen(m.value),
                          NULL, 0,     NULL, 0};
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_WRONG_PARTITION);
    m.rec.partition = a;
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_APPLIED);
    free(m.value);
    m.value = strdup("{\"v\":1,\"agent\":\"a\",\"version\":\"1\",\"pool\":\"" POOL_A "\","
                     "\"master\":\"m\",\"state\":\"live\",\"ts\":1,\"since\":1,\"gen\":1,"
                     "\"last_event_id\":0,\"last_event_ts\":0,\"counters\":{\"events\":0,"
                     "\"published\":0,\"resyncs\":0,\"xapi_errors\":0,\"kafka_failed\":0,"
                     "\"commands\":0}}");
    m.rec = (xo_record_t){b,    PARTS, -1,   POOL_A, strlen(POOL_A), m.value, strlen(m.value),
                          NULL, 0,     NULL, 0};
    assert_int_equal(apply(v, false, &m.rec, NULL), GW_REC_WRONG_PARTITION);
    m.rec.partition = a;
    assert_int_equal(apply(v, false, &m.rec, NULL), GW_REC_APPLIED);
    free(m.value);
    gw_view_free(v);
}

static void test_record_too_large_refused(void **state)
{
    gw_view_t *v = gw_view_new();
    char *big = malloc(LIMITS.max_record_bytes + 64);
    unsigned cut = 0;
    msg_t m;
    (void)state;

    assert_non_null(big);
    /* many small strings: no field over the cap, the record over it */
    strcpy(big, "{\"uuid\":\"vm-big\",\"tags\":[");
    for (size_t n = strlen(big); n < LIMITS.max_record_bytes; n = strlen(big))
        strcat(big, "\"0123456789012345678901234567890123456789\",");
    strcat(big, "\"end\"]}");
    object(&m, POOL_A, "OpaqueRef:big", big, -1);
    assert_true(m.rec.value_len > LIMITS.max_record_bytes);
    assert_int_equal(apply(v, true, &m.rec, &cut), GW_REC_TOO_LARGE);
    assert_false(is_served(v, "vm-big"));
    /* a tombstone has no size: it still applies */
    m.rec.value = NULL;
    assert_int_equal(apply(v, true, &m.rec, &cut), GW_REC_APPLIED);
    free(m.value);
    free(big);
    gw_view_free(v);
}

/* True when s is well-formed UTF-8 (the cut must not split a character). */
static bool utf8_ok(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : 3;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xC0) != 0x80)
                return false;
    }
    return true;
}

static void test_fields_cut_as_the_agents_cut(void **state)
{
    gw_view_t *v = gw_view_new();
    size_t big_len = 150000;
    char *label = malloc(big_len + 1), *snap = malloc(2 * big_len + 512), want[64];
    json_object *o, *f;
    gw_view_stats_t st;
    unsigned cut = 0;
    msg_t m;
    (void)state;

    assert_non_null(label);
    assert_non_null(snap);
    /* "x" then 2-byte characters: byte 1024 is in the middle of one */
    label[0] = 'x';
    for (size_t i = 1; i + 1 < big_len; i += 2)
        memcpy(label + i, "\xc3\xa9", 2); /* é */
    label[big_len - 1] = 'y';
    label[big_len] = '\0';
    snprintf(snap, 2 * big_len + 512,
             "{\"uuid\":\"vm-cut\",\"name_label\":\"%s\",\"other_config\":{\"k\":\"%s\"},"
             "\"name_description\":\"short\"}",
             label, label);
    object(&m, POOL_A, "OpaqueRef:cut", snap, -1);
    {
        gw_record_limits_t roomy = {1 << 20, LIMITS.max_field_bytes};
        char errstr[128];
        assert_int_equal(
            gw_consumer_apply(v, NULL, NULL, &roomy, true, &m.rec, &cut, errstr, sizeof(errstr)),
            GW_REC_APPLIED);
    }
    assert_int_equal(cut, 2); /* name_label and the nested other_config value */
    o = served(v, "vm-cut");
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "name_label", &f));
    snprintf(want, sizeof(want), "...[truncated %zu bytes]", big_len);
    assert_int_equal(json_object_get_string_len(f), 1023 + strlen(want));
    assert_memory_equal(json_object_get_string(f), label, 1023);
    assert_string_equal(json_object_get_string(f) + 1023, want);
    assert_true(utf8_ok((const unsigned char *)json_object_get_string(f)));
    assert_true(json_object_object_get_ex(o, "name_description", &f));
    assert_string_equal(json_object_get_string(f), "short");
    json_object_put(o);
    gw_view_stats(v, &st); /* the view keeps the cut record, not the 300 KB one */
    assert_true(st.bytes < 20000);
    free(m.value);
    free(label);
    free(snap);
    gw_view_free(v);
}

static void test_keys_and_values_checked(void **state)
{
    gw_view_t *v = gw_view_new();
    msg_t m;
    (void)state;

    object(&m, POOL_A, "OpaqueRef:1", "{\"uuid\":\"vm-1\"}", -1);
    m.rec.key = NULL;
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_MALFORMED);
    m.rec.key = "no-slash";
    m.rec.key_len = 8;
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_MALFORMED);
    m.rec.key = m.key;
    m.rec.key_len = strlen(m.key);
    m.rec.value_len = 10; /* cut JSON */
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_MALFORMED);
    free(m.value);
    /* the value names another pool than the key */
    object(&m, POOL_A, "OpaqueRef:1", "{\"uuid\":\"vm-1\"}", -1);
    memcpy(m.value + strlen("{\"v\":1,\"pool\":\""), "1", 1);
    assert_int_equal(apply(v, true, &m.rec, NULL), GW_REC_MALFORMED);
    free(m.value);
    assert_string_equal(gw_rec_verdict_name(GW_REC_WRONG_PARTITION), "wrong_partition");
    assert_string_equal(gw_rec_verdict_name(GW_REC_TOO_LARGE), "too_large");
    assert_string_equal(gw_rec_verdict_name(GW_REC_VERDICT_COUNT), "unknown");
    gw_view_free(v);
}

/* One verdict per value, through one reused tokener and through a fresh one each. */
static void test_reused_tokener_same_verdicts(void **state)
{
    /* a cut object, an invalid UTF-8 string, trailing data, too deep, then a valid one:
     * none of the refused ones may leave state in the tokener that changes the next */
    static const char *const snapshots[] = {
        "{\"uuid\":\"vm-1\",\"name_label\":\"a\"",
        "{\"uuid\":\"vm-1\",\"name_label\":\"\xc3(\"}",
        "{\"uuid\":\"vm-1\"}} {",
        "{\"uuid\":\"vm-1\",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        "{\"uuid\":\"vm-1\",\"name_label\":\"b\"}",
    };
    static const gw_rec_verdict_t want[] = {GW_REC_MALFORMED, GW_REC_MALFORMED, GW_REC_MALFORMED,
                                            GW_REC_MALFORMED, GW_REC_APPLIED};
    json_tokener *tok = xo_msg_tokener_new();
    (void)state;

    assert_non_null(tok);
    for (int round = 0; round < 2; round++) { /* twice: after a valid record too */
        gw_view_t *fresh = gw_view_new(), *reused = gw_view_new();
        for (size_t i = 0; i < sizeof(snapshots) / sizeof(snapshots[0]); i++) {
            char errstr[256] = "";
            unsigned cut = 0;
            msg_t m;
            object(&m, POOL_A, "OpaqueRef:1", snapshots[i], -1);
            assert_int_equal(gw_consumer_apply(fresh, NULL, NULL, &LIMITS, true, &m.rec, &cut,
                                               errstr, sizeof(errstr)),
                             want[i]);
            assert_int_equal(gw_consumer_apply(reused, NULL, tok, &LIMITS, true, &m.rec, &cut,
                                               errstr, sizeof(errstr)),
                             want[i]);
            free(m.value);
        }
        gw_view_settle(fresh);
        gw_view_settle(reused);
        {
            gw_obj_info_t a, b;
            assert_true(gw_view_get(fresh, "vm-1", &a));
            assert_true(gw_view_get(reused, "vm-1", &b));
            assert_non_null(a.json);
            assert_non_null(b.json);
            assert_string_equal(a.json, b.json);
        }
        gw_view_free(fresh);
        gw_view_free(reused);
    }
    json_tokener_free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_partition_refused),
        cmocka_unit_test(test_record_too_large_refused),
        cmocka_unit_test(test_fields_cut_as_the_agents_cut),
        cmocka_unit_test(test_keys_and_values_checked),
        cmocka_unit_test(test_reused_tokener_same_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
