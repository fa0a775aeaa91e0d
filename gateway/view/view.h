/*
 * view.h - the materialized view: every object of every pool, as the topics describe it.
 *
 * One writer (the Kafka consumer thread, see view_consumer.h) applies records under the
 * write lock; readers (the service thread answering API calls) take the read lock. Per
 * object the view keeps a compact struct (key, id, type, pool) and the XO object
 * serialized once as JSON (what xo.getAllObjects and the `all` notification send as is);
 * the XAPI record itself is kept only where a later remap needs it (see docs/gateway.md).
 * Indexes: open-addressing hash tables by id and by key, intrusive lists by type and pool.
 *
 * Held pools: with gw_view_set_hold_unannounced(), the objects of a pool that no agent
 * heartbeat announced (records on xo.objects, nothing on xo.agents: a phantom pool any
 * Kafka writer can create) are kept and counted but not served: readers skip them and no
 * change of theirs is emitted, until the pool's heartbeat arrives (then they all enter).
 *
 * Locking: functions marked @locality writer need gw_view_wrlock(); readers need
 * gw_view_rdlock() (or the write lock). Pointers returned by readers are borrowed until
 * the lock is released.
 */
#ifndef GW_VIEW_H
#define GW_VIEW_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xo_error.h"
#include "view/xo_objects.h"

typedef struct gw_view gw_view_t;

/**
 * Called (writer thread, write lock held) for every visible change: @p json is the new
 * serialized object (enter), or NULL when the object left the view (exit). Borrowed.
 */
typedef void (*gw_view_emit_cb)(void *opaque, const char *id, const char *json, size_t len);

/** A read-only look at one object (all pointers borrowed under the lock). */
typedef struct {
    const char *id;
    const char *ref;
    const char *cls;  /**< lower-case XAPI class */
    const char *pool; /**< pool uuid */
    gw_type_t type;
    const char *json; /**< NULL for classes without an XO shape */
    size_t json_len;
} gw_obj_info_t;

/** What the view knows about a pool (borrowed under the lock). */
typedef struct {
    const char *uuid;
    size_t objects;          /**< records currently held for this pool (all classes) */
    bool synced;             /**< a _sync marker was seen: the pool is fully loaded */
    int64_t sync_gen;        /**< generation of the last _sync marker */
    int64_t sync_objects;    /**< object count announced by it */
    int64_t sync_ts;         /**< its timestamp (ms) */
    const char *agent_state; /**< last heartbeat's state, or NULL if none */
    const char *agent_id;    /**< last heartbeat's agent id, or NULL */
    const char *agent_json;  /**< last heartbeat as received, or NULL */
    int64_t agent_ts;        /**< last heartbeat's ts (ms) */
    int64_t hb_interval_ms;  /**< heartbeat interval it announced (interval_ms), 0 none */
    bool held;               /**< objects held back: no heartbeat, hold on (see above) */
} gw_pool_info_t;

/** Counters (read under the lock). */
typedef struct {
    size_t objects;             /**< all records held (all classes) */
    size_t by_type[GW_T_COUNT]; /**< XO objects by type (index GW_T_NONE: classes without shape) */
    size_t pending;             /**< objects with links not yet resolved */
    size_t bytes;               /**< bytes of strings held (keys, ids, JSON, records) */
    size_t table_bytes;         /**< bytes of structs and hash tables */
    size_t pools;
    uint64_t remaps; /**< objects mapped again because a linked one changed */
    size_t waiters;  /**< (awaited key, pending object) pairs */
} gw_view_stats_t;

/** @brief Create an empty view. @returns NULL on allocation failure. */
gw_view_t *gw_view_new(void);
/** @brief Free the view and everything in it. NULL is allowed. */
void gw_view_free(gw_view_t *v);

/** @brief Set the change callback (before the consumer starts). */
void gw_view_set_emit(gw_view_t *v, gw_view_emit_cb cb, void *opaque);

/**
 * @brief Hold the objects of pools that no agent heartbeat announced (see above). Off by
 *        default (tests of the mapping need no heartbeat); the daemon turns it on before
 *        the consumer starts.
 */
void gw_view_set_hold_unannounced(gw_view_t *v, bool on);

/**
 * @brief Defer the first mapping of new objects to the next gw_view_settle() (or until
 *        DEFER_MAX of them wait): a new object enters by its key and id at once (links to
 *        it resolve), is mapped once every record of its batch is in, and is served from
 *        then on. Off by default (tests map on arrival); the consumer turns it on. Turning
 *        it off maps the waiting ones. @locality writer
 */
void gw_view_set_defer_new(gw_view_t *v, bool on);

/**
 * @brief Make room for @p objects objects at once (a hint: the view still grows past it):
 *        its id and key tables and its object array are sized for them, so a cold start
 *        that knows its record count does not rehash the tables at every doubling. Hints
 *        over GW_VIEW_RESERVE_MAX are cut to it. On failure (no memory) the view is as
 *        usable as before.
 * @locality writer
 * @returns true when the room is there
 */
bool gw_view_reserve(gw_view_t *v, size_t objects);

/** The largest hint gw_view_reserve() follows (its tables then take 80 MiB). */
#define GW_VIEW_RESERVE_MAX ((size_t)1 << 23)

void gw_view_rdlock(gw_view_t *v);
void gw_view_wrlock(gw_view_t *v);
void gw_view_unlock(gw_view_t *v);

/**
 * @brief Add or replace the object <pool>/<cls>/<ref> from its XAPI record.
 * @locality writer
 * @param snapshot the record (borrowed)
 * @param msg, msg_len the whole message value: its snapshot's text is kept (copied) when a
 *                     remap may need it
 * @returns XO_OK, XO_ERR_PARSE (bad record; detail in errstr), XO_ERR_LIMIT (too many pools
 *          or classes, id too long), XO_ERR_NOMEM.
 */
xo_err_t gw_view_apply_object(gw_view_t *v, const char *pool, const char *cls, const char *ref,
                              json_object *snapshot, const char *msg, size_t msg_len, char *errstr,
                              size_t errstr_size);

/** @brief Remove <pool>/<cls>/<ref> (tombstone). @locality writer @returns XO_OK or
 * XO_ERR_NOTFOUND. */
xo_err_t gw_view_apply_delete(gw_view_t *v, const char *pool, const char *cls, const char *ref);

/** @brief Record a pool's _sync marker (end of a full dump). @locality writer */
xo_err_t gw_view_apply_sync(gw_view_t *v, const char *pool, int64_t gen, int64_t objects,
                            int64_t ts);

/**
 * @brief Record an agent heartbeat for @p pool (hb NULL: tombstone, forget it).
 * @locality writer
 */
xo_err_t gw_view_apply_agent(gw_view_t *v, const char *pool, json_object *hb, const char *msg,
                             size_t msg_len);

/**
 * @brief Map again the objects whose links did not resolve, in pools that received new
 *        objects or a _sync marker since the last call. Call after each consumed batch.
 * @locality writer
 */
void gw_view_settle(gw_view_t *v);

/** @brief Look an object up by XO id. @returns false if absent or held. @locality reader */
bool gw_view_get(gw_view_t *v, const char *id, gw_obj_info_t *out);

/**
 * @brief Look an object up by its key <pool>/<cls>/<ref> (e.g. a ref named in an XAPI
 *        error). @returns false if absent. @locality reader
 */
bool gw_view_get_by_ref(gw_view_t *v, const char *pool, const char *cls, const char *ref,
                        gw_obj_info_t *out);

/**
 * @brief Visit XO objects (classes without shape are skipped), optionally of one type
 *        and/or one pool. The callback returns false to stop. @locality reader
 * @param type GW_T_NONE for all types
 * @param pool NULL for all pools
 */
typedef bool (*gw_view_visit_cb)(void *opaque, const gw_obj_info_t *o);
void gw_view_foreach(gw_view_t *v, gw_type_t type, const char *pool, gw_view_visit_cb cb,
                     void *opaque);

/** @brief Visit every pool. @locality reader */
typedef void (*gw_view_pool_cb)(void *opaque, const gw_pool_info_t *p);
void gw_view_foreach_pool(gw_view_t *v, gw_view_pool_cb cb, void *opaque);

/** @brief Counters. @locality reader */
void gw_view_stats(gw_view_t *v, gw_view_stats_t *st);

#endif
