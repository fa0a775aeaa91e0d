/*
 * xo_config.h - configuration as one table: the daemons' settings, their types, defaults,
 * ranges and descriptions in one place, from which loading, validation, --help and
 * docs/configuration.md all come.
 *
 * File format (documented in docs/configuration.md):
 *     # comment            ; comment
 *     [section]
 *     key = value          -> setting "section.key"
 * Values may be wrapped in double quotes. Every key of the [kafka] section is passed to
 * librdkafka unchanged (without the "kafka." prefix). Environment variables override the
 * file: <PREFIX>_<SECTION>_<KEY> in upper case with '.' as '_' (e.g. XO_AGENT_XAPI_URL);
 * in the kafka section '_' maps back to '.' (XO_AGENT_KAFKA_BOOTSTRAP_SERVERS ->
 * kafka bootstrap.servers). Errors name the file, line and key.
 */
#ifndef XO_CONFIG_H
#define XO_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "xo_error.h"

typedef enum {
    XO_CFG_STRING, /**< free text */
    XO_CFG_INT,    /**< integer within [min, max] */
    XO_CFG_BOOL,   /**< true/false/yes/no/on/off/1/0 */
    XO_CFG_SECRET  /**< text never printed by dumps or logs */
} xo_cfg_type_t;

/** One setting. A table of these, terminated by an entry with name NULL, defines a daemon. */
typedef struct {
    const char *name; /**< "section.key" */
    xo_cfg_type_t type;
    const char *def;  /**< default as text, NULL when there is none */
    long min, max;    /**< range for XO_CFG_INT */
    bool required;    /**< must be set (by file or environment) */
    const char *help; /**< one sentence */
} xo_cfg_spec_t;

typedef struct xo_config xo_config_t;

/**
 * @brief Create an empty configuration for a spec table.
 * @param spec borrowed, must outlive the config (normally a static table).
 * @param env_prefix e.g. "XO_AGENT"; borrowed likewise.
 * @returns NULL on allocation failure. Free with xo_config_free().
 */
xo_config_t *xo_config_new(const xo_cfg_spec_t *spec, const char *env_prefix);
void xo_config_free(xo_config_t *cfg);

/**
 * @brief Parse a config file. Unknown keys, bad syntax and invalid values fail with
 *        "<path>:<line>: ..." in errstr.
 * @returns XO_OK, XO_ERR_IO (cannot read), XO_ERR_CONFIG.
 */
xo_err_t xo_config_load_file(xo_config_t *cfg, const char *path, char *errstr, size_t errstr_size);

/** @brief Same as xo_config_load_file() on text in memory; @p origin names it in errors. */
xo_err_t xo_config_load_string(xo_config_t *cfg, const char *text, const char *origin, char *errstr,
                               size_t errstr_size);

/**
 * @brief Apply environment overrides from @p envp (NULL-terminated, as environ).
 * @returns XO_OK or XO_ERR_CONFIG naming the variable.
 */
xo_err_t xo_config_apply_env(xo_config_t *cfg, char **envp, char *errstr, size_t errstr_size);

/** @brief Set one value programmatically (origin "set"). Validates like the file does. */
xo_err_t xo_config_set(xo_config_t *cfg, const char *name, const char *value, char *errstr,
                       size_t errstr_size);

/** @brief Check that every required setting has a value. @returns XO_OK or XO_ERR_CONFIG. */
xo_err_t xo_config_validate(const xo_config_t *cfg, char *errstr, size_t errstr_size);

/** @brief The value (or default) of a setting; NULL when unset with no default. Borrowed. */
const char *xo_config_get(const xo_config_t *cfg, const char *name);
long xo_config_get_int(const xo_config_t *cfg, const char *name);
bool xo_config_get_bool(const xo_config_t *cfg, const char *name);

/** @brief Visit each [kafka] pass-through property (librdkafka name, value). */
typedef xo_err_t (*xo_config_kv_cb)(const char *key, const char *value, void *opaque);
xo_err_t xo_config_each_kafka(const xo_config_t *cfg, xo_config_kv_cb cb, void *opaque);

/** @brief Print the effective configuration, secrets redacted, as a valid config file. */
void xo_config_dump(const xo_config_t *cfg, FILE *fp);

/** @brief Print the settings table as text (for --help) or Markdown (for docs). */
void xo_config_print_spec(const xo_cfg_spec_t *spec, const char *env_prefix, bool markdown,
                          FILE *fp);

#endif
