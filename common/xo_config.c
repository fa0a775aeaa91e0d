/*
 * xo_config.c - parse, override, validate and print configuration.
 * Keeps one value slot per spec entry plus a list of [kafka] pass-through properties.
 * Must not log: every problem is returned with its location in errstr.
 */
#include "xo_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xo_log.h"

#define KAFKA_PREFIX "kafka."
#define MAX_LINE     4096

typedef struct {
    char *key, *value;
} kv_t;

struct xo_config {
    const xo_cfg_spec_t *spec;
    const char *env_prefix;
    size_t n_spec;
    char **values;
    kv_t *kafka;
    size_t n_kafka, cap_kafka;
};

xo_config_t *xo_config_new(const xo_cfg_spec_t *spec, const char *env_prefix)
{
    xo_config_t *cfg = calloc(1, sizeof(*cfg));

    if (!cfg)
        return NULL;
    cfg->spec = spec;
    cfg->env_prefix = env_prefix;
    while (spec[cfg->n_spec].name)
        cfg->n_spec++;
    cfg->values = calloc(cfg->n_spec + 1, sizeof(char *));
    if (!cfg->values) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

void xo_config_free(xo_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_spec; i++)
        free(cfg->values[i]);
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    free(cfg->values);
    free(cfg);
}

static long spec_index(const xo_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_spec; i++) {
        if (strcmp(cfg->spec[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_long(const char *v, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(v, &end, 10);
    return errno == 0 && end != v && *end == '\0';
}

/* Check a value against its spec entry; the message says what was expected. */
static xo_err_t check_value(const xo_cfg_spec_t *s, const char *value, const char *where,
                            char *errstr, size_t errstr_size)
{
    long n;
    bool b;

    switch (s->type) {
    case XO_CFG_INT:
        if (!parse_long(value, &n))
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                             "%s: key '%s': expected an integer, got '%s'", where, s->name, value);
        if (n < s->min || n > s->max)
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                             "%s: key '%s': %ld is outside the range %ld..%ld", where, s->name, n,
                             s->min, s->max);
        break;
    case XO_CFG_BOOL:
        if (!parse_bool(value, &b))
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                             "%s: key '%s': expected true or false, got '%s'", where, s->name,
                             value);
        break;
    case XO_CFG_STRING:
    case XO_CFG_SECRET:
        break;
    }
    return XO_OK;
}

static xo_err_t set_kafka(xo_config_t *cfg, const char *key, const char *value)
{
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        if (strcmp(cfg->kafka[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return XO_ERR_NOMEM;
            free(cfg->kafka[i].value);
            cfg->kafka[i].value = v;
            return XO_OK;
        }
    }
    if (cfg->n_kafka == cfg->cap_kafka) {
        size_t cap = cfg->cap_kafka ? cfg->cap_kafka * 2 : 8;
        kv_t *grown = realloc(cfg->kafka, cap * sizeof(kv_t));
        if (!grown)
            return XO_ERR_NOMEM;
        cfg->kafka = grown;
        cfg->cap_kafka = cap;
    }
    cfg->kafka[cfg->n_kafka].key = strdup(key);
    cfg->kafka[cfg->n_kafka].value = strdup(value);
    if (!cfg->kafka[cfg->n_kafka].key || !cfg->kafka[cfg->n_kafka].value) {
        free(cfg->kafka[cfg->n_kafka].key);
        free(cfg->kafka[cfg->n_kafka].value);
        return XO_ERR_NOMEM;
    }
    cfg->n_kafka++;
    return XO_OK;
}

/* Store name=value; `where` ("file:line" or "environment VAR") goes into errors. */
static xo_err_t set_value(xo_config_t *cfg, const char *name, const char *value, const char *where,
                          char *errstr, size_t errstr_size)
{
    long i;
    xo_err_t err;
    char *copy;

    if (strncmp(name, KAFKA_PREFIX, strlen(KAFKA_PREFIX)) == 0 &&
        name[strlen(KAFKA_PREFIX)] != '\0')
        return set_kafka(cfg, name + strlen(KAFKA_PREFIX), value);
    i = spec_index(cfg, name);
    if (i < 0)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "%s: unknown key '%s'", where, name);
    err = check_value(&cfg->spec[i], value, where, errstr, errstr_size);
    if (err != XO_OK)
        return err;
    copy = strdup(value);
    if (!copy)
        return XO_ERR_NOMEM;
    free(cfg->values[i]);
    cfg->values[i] = copy;
    return XO_OK;
}

xo_err_t xo_config_set(xo_config_t *cfg, const char *name, const char *value, char *errstr,
                       size_t errstr_size)
{
    return set_value(cfg, name, value, "set", errstr, errstr_size);
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One line of a config file: blank, comment, [section] or key = value. */
static xo_err_t parse_line(xo_config_t *cfg, char *line, char *section, size_t section_size,
                           const char *where, char *errstr, size_t errstr_size)
{
    char *s = trim(line), *eq, *key, *value, name[256];
    size_t vlen;

    if (*s == '\0' || *s == '#' || *s == ';')
        return XO_OK;
    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close || close[1] != '\0' || close == s + 1)
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                             "%s: malformed section header '%s'", where, s);
        *close = '\0';
        snprintf(section, section_size, "%s", trim(s + 1));
        return XO_OK;
    }
    eq = strchr(s, '=');
    if (!eq)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "%s: expected 'key = value', got '%s'",
                         where, s);
    *eq = '\0';
    key = trim(s);
    value = trim(eq + 1);
    vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
        value[vlen - 1] = '\0';
        value++;
    }
    if (*key == '\0')
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "%s: empty key", where);
    if (section[0])
        snprintf(name, sizeof(name), "%s.%s", section, key);
    else
        snprintf(name, sizeof(name), "%s", key);
    return set_value(cfg, name, value, where, errstr, errstr_size);
}

xo_err_t xo_config_load_string(xo_config_t *cfg, const char *text, const char *origin, char *errstr,
                               size_t errstr_size)
{
    char section[128] = "", line[MAX_LINE], where[512];
    const char *p = text;
    unsigned lineno = 0;
    xo_err_t err = XO_OK;

    while (*p && err == XO_OK) {
        size_t len = strcspn(p, "\n");
        lineno++;
        snprintf(where, sizeof(where), "%s:%u", origin, lineno);
        if (len >= sizeof(line))
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "%s: line longer than %d bytes",
                             where, MAX_LINE - 1);
        memcpy(line, p, len);
        line[len] = '\0';
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        err = parse_line(cfg, line, section, sizeof(section), where, errstr, errstr_size);
        p += len;
        if (*p == '\n')
            p++;
    }
    return err;
}

xo_err_t xo_config_load_file(xo_config_t *cfg, const char *path, char *errstr, size_t errstr_size)
{
    FILE *fp = fopen(path, "rb");
    char *text = NULL;
    long size;
    xo_err_t err = XO_OK;

    if (!fp)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: cannot open: %s", path,
                         strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: cannot read", path);
        goto out;
    }
    if (size > 1024 * 1024) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "%s: larger than 1 MiB", path);
        goto out;
    }
    text = malloc((size_t)size + 1);
    if (!text) {
        err = XO_ERR_NOMEM;
        goto out;
    }
    if (fread(text, 1, (size_t)size, fp) != (size_t)size) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_IO, "%s: short read", path);
        goto out;
    }
    text[size] = '\0';
    if (strlen(text) != (size_t)size) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "%s: contains a NUL byte", path);
        goto out;
    }
    err = xo_config_load_string(cfg, text, path, errstr, errstr_size);
out:
    free(text);
    fclose(fp);
    return err;
}

/* Map an environment variable name (after the prefix) to a setting name. */
static bool env_to_name(const xo_config_t *cfg, const char *suffix, char *name, size_t size)
{
    static const char kafka_env[] = "KAFKA_";

    if (strncmp(suffix, kafka_env, strlen(kafka_env)) == 0) {
        size_t n = (size_t)snprintf(name, size, "kafka.%s", suffix + strlen(kafka_env));
        for (size_t i = strlen(KAFKA_PREFIX); i < n && i < size; i++)
            name[i] = name[i] == '_' ? '.' : (char)tolower((unsigned char)name[i]);
        return n < size;
    }
    for (size_t i = 0; i < cfg->n_spec; i++) {
        const char *s = cfg->spec[i].name, *e = suffix;
        for (; *s && *e; s++, e++) {
            char want = (*s == '.' || *s == '-') ? '_' : (char)toupper((unsigned char)*s);
            if (want != *e)
                break;
        }
        if (*s == '\0' && *e == '\0') {
            snprintf(name, size, "%s", cfg->spec[i].name);
            return true;
        }
    }
    return false;
}

xo_err_t xo_config_apply_env(xo_config_t *cfg, char **envp, char *errstr, size_t errstr_size)
{
    size_t plen = strlen(cfg->env_prefix);

    for (char **e = envp; e && *e; e++) {
        char var[256], name[256], where[300];
        const char *eq = strchr(*e, '=');
        xo_err_t err;

        if (!eq || strncmp(*e, cfg->env_prefix, plen) != 0 || (*e)[plen] != '_')
            continue;
        if ((size_t)(eq - *e) >= sizeof(var))
            continue;
        memcpy(var, *e, (size_t)(eq - *e));
        var[eq - *e] = '\0';
        if (!env_to_name(cfg, var + plen + 1, name, sizeof(name)))
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "environment %s: no such setting",
                             var);
        snprintf(where, sizeof(where), "environment %s", var);
        err = set_value(cfg, name, eq + 1, where, errstr, errstr_size);
        if (err != XO_OK)
            return err;
    }
    return XO_OK;
}

xo_err_t xo_config_validate(const xo_config_t *cfg, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < cfg->n_spec; i++) {
        if (cfg->spec[i].required && !cfg->values[i])
            return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "missing required key '%s' (%s)",
                             cfg->spec[i].name, cfg->spec[i].help);
    }
    return XO_OK;
}

const char *xo_config_get(const xo_config_t *cfg, const char *name)
{
    long i = spec_index(cfg, name);

    if (i < 0)
        return NULL;
    return cfg->values[i] ? cfg->values[i] : cfg->spec[i].def;
}

long xo_config_get_int(const xo_config_t *cfg, const char *name)
{
    const char *v = xo_config_get(cfg, name);
    long n = 0;

    if (v)
        parse_long(v, &n);
    return n;
}

bool xo_config_get_bool(const xo_config_t *cfg, const char *name)
{
    const char *v = xo_config_get(cfg, name);
    bool b = false;

    if (v)
        parse_bool(v, &b);
    return b;
}

xo_err_t xo_config_each_kafka(const xo_config_t *cfg, xo_config_kv_cb cb, void *opaque)
{
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        xo_err_t err = cb(cfg->kafka[i].key, cfg->kafka[i].value, opaque);
        if (err != XO_OK)
            return err;
    }
    return XO_OK;
}

static void dump_entry(FILE *fp, const char *key, const char *value, bool secret)
{
    fprintf(fp, "%s = %s\n", key, secret ? "<redacted>" : value);
}

void xo_config_dump(const xo_config_t *cfg, FILE *fp)
{
    char section[128] = "";

    for (size_t i = 0; i < cfg->n_spec; i++) {
        const xo_cfg_spec_t *s = &cfg->spec[i];
        const char *v = xo_config_get(cfg, s->name), *dot = strchr(s->name, '.');
        size_t slen = dot ? (size_t)(dot - s->name) : 0;

        if (!v)
            continue;
        if (slen && (strlen(section) != slen || strncmp(section, s->name, slen) != 0)) {
            snprintf(section, sizeof(section), "%.*s", (int)slen, s->name);
            fprintf(fp, "\n[%s]\n", section);
        }
        dump_entry(fp, dot ? dot + 1 : s->name, v,
                   s->type == XO_CFG_SECRET || xo_log_is_secret_key(s->name));
    }
    if (cfg->n_kafka)
        fprintf(fp, "\n[kafka]\n");
    for (size_t i = 0; i < cfg->n_kafka; i++)
        dump_entry(fp, cfg->kafka[i].key, cfg->kafka[i].value,
                   xo_log_is_secret_key(cfg->kafka[i].key));
}

static const char *type_name(xo_cfg_type_t t)
{
    switch (t) {
    case XO_CFG_INT:
        return "integer";
    case XO_CFG_BOOL:
        return "boolean";
    case XO_CFG_SECRET:
        return "secret";
    case XO_CFG_STRING:
        break;
    }
    return "string";
}

static void env_name(const char *prefix, const char *name, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s_", prefix);

    for (; *name && n + 1 < size; name++)
        out[n++] = (*name == '.' || *name == '-') ? '_' : (char)toupper((unsigned char)*name);
    out[n] = '\0';
}

void xo_config_print_spec(const xo_cfg_spec_t *spec, const char *env_prefix, bool markdown,
                          FILE *fp)
{
    char env[256], range[64];

    if (markdown)
        fprintf(fp, "| key | type | default | environment | description |\n"
                    "|---|---|---|---|---|\n");
    for (const xo_cfg_spec_t *s = spec; s->name; s++) {
        env_name(env_prefix, s->name, env, sizeof(env));
        range[0] = '\0';
        if (s->type == XO_CFG_INT)
            snprintf(range, sizeof(range), " (%ld..%ld)", s->min, s->max);
        if (markdown)
            fprintf(fp, "| `%s` | %s%s | %s%s%s | `%s` | %s%s |\n", s->name, type_name(s->type),
                    range, s->def ? "`" : "", s->def ? s->def : "-", s->def ? "`" : "", env,
                    s->help, s->required ? " **Required.**" : "");
        else
            fprintf(fp, "  %-28s %s%s, default: %s%s\n      %s (env %s)\n", s->name,
                    type_name(s->type), range, s->def ? s->def : "none",
                    s->required ? ", required" : "", s->help, env);
    }
    if (markdown)
        fprintf(fp,
                "| `kafka.*` | string | - | `%s_KAFKA_*` | Passed to librdkafka unchanged "
                "(without the `kafka.` prefix). |\n",
                env_prefix);
    else
        fprintf(fp, "  %-28s passed to librdkafka unchanged (env %s_KAFKA_*)\n", "kafka.*",
                env_prefix);
}
