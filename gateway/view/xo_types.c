/*
 * xo_types.c - the table of XO object types (see xo_types.h), expanded from GW_XO_TYPES,
 * and its look-ups by type, name, REST collection and XAPI class. Data and look-ups only:
 * it must not map, lock or log (the mapper's functions are bound in xo_objects.c).
 */
#include "view/xo_types.h"

#include <string.h>

#define TYPE_ROW(e, name, cls, coll, mapper, when, flags) {GW_T_##e, name, cls, coll, flags},

static const gw_xo_type_t TYPES[] = {{GW_T_NONE, "", "", "", 0}, GW_XO_TYPES(TYPE_ROW)};

_Static_assert(sizeof(TYPES) / sizeof(TYPES[0]) == GW_T_COUNT, "one row per gw_type_t");

static const char *const LINKED_CLASSES[] = {
#define LINKED_ROW(cls) cls,
    GW_XO_LINKED_CLASSES(LINKED_ROW)
#undef LINKED_ROW
};

const gw_xo_type_t *gw_xo_type(gw_type_t t)
{
    return (t > GW_T_NONE && t < GW_T_COUNT) ? &TYPES[t] : &TYPES[GW_T_NONE];
}

const char *gw_type_name(gw_type_t t)
{
    return gw_xo_type(t)->name;
}

gw_type_t gw_type_from_name(const char *name)
{
    for (int i = 1; i < GW_T_COUNT; i++)
        if (!strcmp(TYPES[i].name, name))
            return (gw_type_t)i;
    return GW_T_NONE;
}

gw_type_t gw_type_from_collection(const char *collection)
{
    for (int i = 1; i < GW_T_COUNT; i++)
        if (!strcmp(TYPES[i].collection, collection))
            return (gw_type_t)i;
    return GW_T_NONE;
}

gw_type_t gw_type_of_class(const char *xapi_class)
{
    for (int i = 1; i < GW_T_COUNT; i++)
        if (!strcmp(TYPES[i].xapi_class, xapi_class))
            return (gw_type_t)i; /* rows of a class are adjacent, its default first */
    return GW_T_NONE;
}

bool gw_xo_class_keeps_record(const char *cls)
{
    gw_type_t t = gw_type_of_class(cls);

    if (t != GW_T_NONE)
        return (TYPES[t].flags & GW_XO_KEEP) != 0;
    for (size_t i = 0; i < sizeof(LINKED_CLASSES) / sizeof(LINKED_CLASSES[0]); i++)
        if (!strcmp(LINKED_CLASSES[i], cls))
            return true;
    return false;
}
