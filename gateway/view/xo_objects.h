/*
 * xo_objects.h - turn one XAPI record (as the agent published it) into the object shape
 * xo-server gives its clients (packages/xo-server/src/xapi-object-to-xo.mjs), serialized
 * once as JSON. The shapes are documented field by field in docs/api.md.
 *
 * The mapping is a pure function of the record, its pool and a resolver that answers
 * questions about other objects of the same pool (a ref's XO id, a linked record such as
 * VM_metrics). It never locks, logs or keeps anything. Which type a record becomes, and
 * which function maps it, is one row of the table in xo_types.h.
 */
#ifndef GW_XO_OBJECTS_H
#define GW_XO_OBJECTS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "core/gw_buf.h"
#include "view/xo_types.h"
#include "xo_error.h"

/** Longest XO id: "<pool-uuid>-<uuid>" of a default template, or an OpaqueRef. */
#define GW_ID_MAX 128

/**
 * Questions the mapping asks about other objects of the same pool. The view implements it.
 * Returned pointers are borrowed until the view changes (the caller holds its lock).
 */
typedef struct {
    /** XO id of the object of class @p cls (event.from's lower-case name) with @p ref, or NULL. */
    const char *(*id_of)(void *opaque, const char *cls, const char *ref);
    /**
     * The XAPI record of a linked object (parsed; caller puts it), or NULL if unknown. The
     * view remembers that the object being mapped depends on it, and maps it again when
     * the linked object changes (as xo-server's "dependents").
     */
    json_object *(*record_of)(void *opaque, const char *cls, const char *ref);
    void *opaque;
} gw_resolver_t;

/** Result of one mapping. Initialize with gw_xo_out_init, release with gw_xo_out_fini. */
typedef struct {
    gw_type_t type;      /**< GW_T_NONE: not an XO object (json is empty) */
    char id[GW_ID_MAX];  /**< XO id: uuid, "<pool>-<uuid>" for default templates, else ref */
    gw_buf_t json;       /**< the serialized XO object (owned) */
    unsigned unresolved; /**< links to pool objects that the resolver did not know yet */
} gw_xo_out_t;

void gw_xo_out_init(gw_xo_out_t *out);
void gw_xo_out_fini(gw_xo_out_t *out);

/**
 * @brief Map one record.
 * @param cls     lower-case XAPI class as in the key ("vm", "sr", ...)
 * @param ref     the object's OpaqueRef
 * @param snap    the XAPI record (borrowed)
 * @param pool_id the pool's uuid (the XO id of its pool object)
 * @param r       resolver (borrowed), may be NULL: every link is then unresolved
 * @returns XO_OK (out filled, possibly GW_T_NONE), XO_ERR_PARSE (snapshot is not an object
 *          or its uuid is not a string; detail in errstr), XO_ERR_NOMEM.
 */
xo_err_t gw_xo_map(const char *cls, const char *ref, json_object *snap, const char *pool_id,
                   const gw_resolver_t *r, gw_xo_out_t *out, char *errstr, size_t errstr_size);

/**
 * @brief The XO id gw_xo_map gives a record (out->id), without mapping it: what other
 *        objects' links to it resolve to.
 * @param id receives the id (GW_ID_MAX bytes)
 * @returns XO_OK, or XO_ERR_PARSE when gw_xo_map would refuse the record (detail in errstr)
 */
xo_err_t gw_xo_id(const char *cls, const char *ref, json_object *snap, const char *pool_id,
                  char id[GW_ID_MAX], char *errstr, size_t errstr_size);

/**
 * @brief Parse an XAPI datetime ("20240131T12:34:56Z", with or without dashes/colons,
 *        optional fraction or offset) to seconds since the epoch.
 * @returns true on success.
 */
bool gw_xo_parse_datetime(const char *s, double *out);

#endif
