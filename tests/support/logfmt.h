/*
 * logfmt.h - a strict reader of the log lines common/xo_log.c writes, for the log tests
 * and the log fuzz target: it checks the line's grammar and decodes every value back to
 * the bytes that were logged. Test support only; nothing in the daemons uses it.
 *
 * Grammar:  line  = field *(" " field) "\n"        (valid UTF-8, no other control byte)
 *           field = key "=" (quoted / bare)         key = 1*(ALNUM / "_" / "." / "-")
 *           quoted = '"' *(char / '\"' / '\\' / "\n" / "\t" / "\x" 2HEXDIG) '"'
 *           bare   = *(char except '"' and '=', with the same backslash escapes)
 */
#ifndef XO_TEST_LOGFMT_H
#define XO_TEST_LOGFMT_H

#include <stddef.h>

#define LOGFMT_MAX_FIELDS 64
#define LOGFMT_MAX_KEY    64
#define LOGFMT_MAX_VALUE  4096

typedef struct {
    char key[LOGFMT_MAX_KEY];
    char value[LOGFMT_MAX_VALUE]; /* decoded; NUL-terminated, but may hold NUL bytes */
    size_t value_len;
    int quoted;
} logfmt_field_t;

typedef struct {
    size_t n;
    logfmt_field_t f[LOGFMT_MAX_FIELDS];
} logfmt_line_t;

/**
 * @brief Parse one whole line (@p len bytes, ending in its only newline) into @p out.
 * @returns NULL on success, or a static description of the first violation.
 */
const char *logfmt_parse(const char *line, size_t len, logfmt_line_t *out);

/** @brief The field named @p key, or NULL. */
const logfmt_field_t *logfmt_get(const logfmt_line_t *l, const char *key);

#endif
