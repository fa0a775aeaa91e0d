/*
 * filter.h - object filters of xo.getAllObjects and the REST API, evaluated on the
 * serialized objects (parsed on demand; the view keeps no JSON trees).
 *
 * Two syntaxes, as xo-server accepts them:
 *  - a JSON pattern (lodash `_.matches`): every member of the pattern must match the
 *    object's member; objects match partially and recursively, arrays match when every
 *    pattern element matches some element, scalars compare equal;
 *  - a complex-matcher string (REST `filter=`), Xen Orchestra's grammar and matching:
 *    terms (all must match), `( )`, `|( )`, `!term`, `prop:term`, `prop?`, `>n` `>=n`
 *    `<n` `<=n`, "quoted", /regex/ and /regex/i, words with `*`, numbers; a value is a
 *    case-insensitive substring and searches arrays and objects. Refused with a message
 *    naming it: `[resolve]`, regular-expression features POSIX lacks. docs/api.md.
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
 * @returns XO_OK, XO_ERR_PARSE (not the grammar: unbalanced quote or parenthesis, an
 *          unexpected character...; the position in errstr), XO_ERR_UNSUPPORTED (valid
 *          complex-matcher this filter cannot do: [resolve], some regular expressions;
 *          errstr names it), XO_ERR_LIMIT (more than 64 terms, 256 nodes, 32 levels or
 *          4096 bytes), XO_ERR_NOMEM.
 */
xo_err_t gw_filter_parse(const char *s, gw_filter_t **out, char *errstr, size_t errstr_size);

void gw_filter_free(gw_filter_t *f);

/** @brief The type a JSON pattern requires ("type" member), or GW_T_NONE. */
gw_type_t gw_filter_type_hint(const gw_filter_t *f);
/** @brief The id a JSON pattern requires, or NULL (borrowed from the filter). */
const char *gw_filter_id_hint(const gw_filter_t *f);
/** @brief True when the filter only constrains type and/or id (no parsing needed); for a
 *         complex-matcher string, only when it has no term. */
bool gw_filter_trivial(const gw_filter_t *f);

/** @brief Match a parsed object. */
bool gw_filter_match(const gw_filter_t *f, json_object *obj);

/** @brief Match a serialized object (parses it unless the filter is trivial). */
bool gw_filter_match_json(const gw_filter_t *f, const char *json, size_t len);

#endif
