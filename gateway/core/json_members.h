/*
 * json_members.h - the top-level members of a JSON object's text, as spans of that text,
 * without building a tree. For hot paths that pick a few members of objects the gateway
 * keeps serialized (a REST list with ?fields=): json-c would parse every member of every
 * object for the one or two asked for.
 */
#ifndef GW_JSON_MEMBERS_H
#define GW_JSON_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>

/** Called for each member in order: @p key is the raw text between the key's quotes (it
 *  never holds a backslash or a byte below 0x20: such a key ends the walk unfollowed), @p val
 *  the value's whole text. Return false to stop. */
typedef bool (*gw_json_member_cb)(void *opaque, const char *key, size_t key_len, const char *val,
                                  size_t val_len);

/**
 * @brief Visit the members of the object @p json (@p len bytes, whitespace allowed around
 *        it and its tokens).
 * @returns true when the text is one object the walk could follow to its end (or @p cb
 *          stopped it); false when it is not an object, or holds what the walk does not
 *          follow (an escaped key, nesting over 64 levels, a value that is not a JSON token):
 *          the caller then parses it with json-c. Values are delimited, not validated: the
 *          gateway's own serialized objects are the input.
 */
bool gw_json_members(const char *json, size_t len, gw_json_member_cb cb, void *opaque);

#endif
