/*
 * xo_types.h - the one table of XO object types: every fact about a type (its enum, the
 * XO "type" string, the XAPI class it comes from, its REST collection, its mapper, whether
 * the view keeps its record) is one row of GW_XO_TYPES below. The view, the mapper
 * (xo_objects.c) and REST (rest.c) read it; docs/architecture.md shows how to add a row.
 * Data only: no mapping code here, so that this file depends on nothing in the gateway.
 */
#ifndef GW_XO_TYPES_H
#define GW_XO_TYPES_H

#include <stdbool.h>

/*
 * One row per XO type: X(ENUM, xo_name, xapi_class, rest_collection, mapper, when, flags)
 *  - ENUM             suffix of the enum constant (GW_T_<ENUM>)
 *  - xo_name          the XO "type" field, as xo-server writes it
 *  - xapi_class       the lower-case XAPI class (event.from's name, the key's <class>)
 *  - rest_collection  the /rest/v0/<collection> serving this type
 *  - mapper           map_<mapper>() in xo_objects.c writes the type's own fields
 *  - when             rec_<when>() in xo_objects.c: true when a record of the class is of
 *                     this type. A class's first row is its default (`any`); its other rows
 *                     are tried in table order, the first true one wins.
 *  - flags            GW_XO_KEEP: the view keeps the XAPI record (a mapper reads it through
 *                     the resolver, or the type's own mapper does, so its objects are mapped
 *                     again when a linked record changes); rows of one class agree.
 *                     GW_XO_OWN_TYPE: "type" is the object's first field (xo-server's
 *                     transform sets it); otherwise it follows "id" (xapiObjectToXo does).
 * Rows of one class are adjacent, default first. The order is the REST root's listing and
 * the order of gw_view_foreach over all types.
 */
#define GW_XO_TYPES(X)                                                                             \
    X(POOL, "pool", "pool", "pools", pool, any, GW_XO_KEEP)                                        \
    X(HOST, "host", "host", "hosts", host, any, GW_XO_KEEP)                                        \
    X(VM, "VM", "vm", "vms", vm, any, GW_XO_KEEP | GW_XO_OWN_TYPE)                                 \
    X(VM_CONTROLLER, "VM-controller", "vm", "vm-controllers", vm, control_domain,                  \
      GW_XO_KEEP | GW_XO_OWN_TYPE)                                                                 \
    X(VM_SNAPSHOT, "VM-snapshot", "vm", "vm-snapshots", vm, snapshot, GW_XO_KEEP | GW_XO_OWN_TYPE) \
    X(VM_TEMPLATE, "VM-template", "vm", "vm-templates", vm, template, GW_XO_KEEP | GW_XO_OWN_TYPE) \
    X(SR, "SR", "sr", "srs", sr, any, GW_XO_KEEP | GW_XO_OWN_TYPE)                                 \
    X(PBD, "PBD", "pbd", "pbds", pbd, any, GW_XO_KEEP | GW_XO_OWN_TYPE)                            \
    X(VDI, "VDI", "vdi", "vdis", vdi, any, GW_XO_OWN_TYPE)                                         \
    X(VDI_SNAPSHOT, "VDI-snapshot", "vdi", "vdi-snapshots", vdi, snapshot, GW_XO_OWN_TYPE)         \
    X(VDI_UNMANAGED, "VDI-unmanaged", "vdi", "vdi-unmanaged", vdi, unmanaged, GW_XO_OWN_TYPE)      \
    X(VBD, "VBD", "vbd", "vbds", vbd, any, GW_XO_OWN_TYPE)                                         \
    X(VIF, "VIF", "vif", "vifs", vif, any, GW_XO_OWN_TYPE)                                         \
    X(NETWORK, "network", "network", "networks", network, any, GW_XO_KEEP)                         \
    X(PIF, "PIF", "pif", "pifs", pif, any, GW_XO_KEEP | GW_XO_OWN_TYPE)                            \
    X(MESSAGE, "message", "message", "messages", message, any, 0)                                  \
    X(TASK, "task", "task", "tasks", task, any, 0)

/*
 * XAPI classes without an XO shape whose records a mapper reads through the resolver
 * (record_of): the view keeps their records and remaps the objects that read them.
 */
#define GW_XO_LINKED_CLASSES(X) X("host_metrics") X("vm_metrics") X("vm_guest_metrics")

enum { GW_XO_KEEP = 1, GW_XO_OWN_TYPE = 2 };

#define GW_T_ENUM_ROW(e, ...) GW_T_##e,

/** XO object types ("type" field). GW_T_NONE: the class has no XO shape (kept for links). */
typedef enum { GW_T_NONE = 0, GW_XO_TYPES(GW_T_ENUM_ROW) GW_T_COUNT } gw_type_t;

/** One row of the table (GW_T_NONE's row has empty strings and no flags). */
typedef struct {
    gw_type_t type;
    const char *name;       /**< XO "type" string ("VM-template"); "" for GW_T_NONE */
    const char *xapi_class; /**< lower-case XAPI class ("vm") */
    const char *collection; /**< REST collection ("vm-templates") */
    unsigned flags;         /**< GW_XO_KEEP, GW_XO_OWN_TYPE */
} gw_xo_type_t;

/** @brief The row of @p t (GW_T_NONE's row when out of range). Static storage. */
const gw_xo_type_t *gw_xo_type(gw_type_t t);

/** @brief The XO "type" string of a type ("VM-template"); "" for GW_T_NONE. */
const char *gw_type_name(gw_type_t t);
/** @brief Inverse of gw_type_name. @returns GW_T_NONE when unknown. */
gw_type_t gw_type_from_name(const char *name);
/** @brief The type served by /rest/v0/<collection>. @returns GW_T_NONE when unknown. */
gw_type_t gw_type_from_collection(const char *collection);
/** @brief The default (first) type of an XAPI class. @returns GW_T_NONE for classes
 * without an XO shape. */
gw_type_t gw_type_of_class(const char *xapi_class);

/** @brief True for classes whose XAPI record the view must keep to remap (see view.c). */
bool gw_xo_class_keeps_record(const char *cls);

#endif
