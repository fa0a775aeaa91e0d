/*
 * snapshot_text.h - where an xo.objects message's snapshot is in its JSON text, found by
 * scanning (not parsing) the message: the view keeps that text, not the whole message, for
 * the objects it may map again (the envelope's pool, class, ref, ids and times are about
 * 170 bytes of every kept record, and never read again).
 */
#ifndef GW_SNAPSHOT_TEXT_H
#define GW_SNAPSHOT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/**
 * @brief The text of the value of the top-level member "snapshot" of @p msg, an object.
 * @returns true with its offset and length when that member is the message's last, no
 *          other top-level member is named so, and no top-level key holds an escape (so
 *          that a JSON parser reads the same member: the agents write the snapshot last);
 *          false otherwise (the caller then serializes the parsed snapshot instead).
 */
bool gw_snapshot_text(const char *msg, size_t len, size_t *off, size_t *n);

#endif
