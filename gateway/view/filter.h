/*
 * filter.h - object filters of xo.getAllObjects and the REST API, evaluated on the
 * serialized objects (parsed on demand; the view keeps no JSON trees).
 *
 * Two syntaxes, as xo-server accepts them:
 *  - a JSON pattern (lodash `_.matches`): every member of the pattern must match the
 *    object's member; objects match partially and recursively, arrays match when every
 *    pattern element matches some element, scalars compare equal;
 *  - a complex-matcher string (REST `filter=`), subset: space-separated terms, all must
 *    match; `prop:value` (string equality, or number equality when both are numbers),
 *    `prop:"quoted value"`, `!term` negates, a bare word matches any string property
 *    containing it (case-insensitive). Documented in docs/api.md.
 * Pure functions; no locks, no logging.
 */
#ifndef GW_FILTER_H
#define GW_FILTER_H

#include <json-c/json.h>
#include <stdbool.h>

#include "xo_error.h"
#include "view/xo_objects.h"

typedef struct gw_filter gw_filter_t;

/** @brief Filter from a JSON pattern (borrowed; a reference is taken). NULL: match all. */
gw_filter_t *gw_filter_from_json(json_object *pattern);

/**
 * @brief Filter from a complex-matcher string.
 * @returns XO_OK, XO_ERR_PARSE (unbalanced quote, empty property; detail in errstr),
 *          XO_ERR_LIMIT (more than 64 terms or 4096 bytes), XO_ERR_NOMEM.
 */
xo_err_t gw_filter_parse(const char *s, gw_filter_t **out, char *errstr, size_t errstr_size);

void gw_filter_free(gw_filter_t *f);

/** @brief The type the filter requires ("type" member/term), or GW_T_NONE. */
gw_type_t gw_filter_type_hint(const gw_filter_t *f);
/** @brief The id the filter requires, or NULL (borrowed from the filter). */
const char *gw_filter_id_hint(const gw_filter_t *f);
/** @brief True when the filter only constrains type and/or id (no parsing needed). */
bool gw_filter_trivial(const gw_filter_t *f);

/** @brief Match a parsed object. */
bool gw_filter_match(const gw_filter_t *f, json_object *obj);

/** @brief Match a serialized object (parses it unless the filter is trivial). */
bool gw_filter_match_json(const gw_filter_t *f, const char *json, size_t len);

#endif
