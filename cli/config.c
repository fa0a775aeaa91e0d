/*
 * config.c - the file `register` writes and every other command reads (config.h). The
 * token is a credential: the file is created 0600 (fchmod as well, whatever the umask)
 * and replaced by rename, so that no reader ever sees it half written or readable by
 * others.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_BYTES (64 * 1024)

xo_err_t cli_config_path(char *out, size_t size, char *errstr, size_t errstr_size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;

    /* the XDG base directory spec: a relative XDG_CONFIG_HOME is ignored */
    if (xdg && xdg[0] == '/')
        n = snprintf(out, size, "%s/xo-fleet/config.json", xdg);
    else if (home && *home)
        n = snprintf(out, size, "%s/.config/xo-fleet/config.json", home);
    else
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG,
                         "no configuration directory: set HOME or XDG_CONFIG_HOME");
    if (n < 0 || (size_t)n >= size)
        return xo_seterr(errstr, errstr_size, XO_ERR_CONFIG, "configuration path too long");
    return XO_OK;
}

static void copy_member(json_object *o, const char *k, char *out, size_t size)
{
    json_object *v;
    if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
        snprintf(out, size, "%s", json_object_get_string(v));
}

xo_err_t cli_config_load(const char *path, cli_config_t *c, bool *found, char *errstr,
                         size_t errstr_size)
{
    char *text = NULL;
    json_object *o = NULL, *v;
    xo_err_t err = XO_OK;
    FILE *f;
    size_t n;

    memset(c, 0, sizeof(*c));
    *found = false;
    f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return XO_OK;
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot read %s: %s", path,
                         strerror(errno));
    }
    text = malloc(CONFIG_MAX_BYTES + 1);
    if (!text) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
        goto out;
    }
    n = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
    if (ferror(f) || n > CONFIG_MAX_BYTES) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot read %s: %s", path,
                        ferror(f) ? strerror(errno) : "too large");
        goto out;
    }
    text[n] = '\0';
    o = json_tokener_parse(text);
    if (!json_object_is_type(o, json_type_object)) {
        err = xo_seterr(errstr, errstr_size, XO_ERR_PARSE,
                        "%s is not a JSON object: register again", path);
        goto out;
    }
    copy_member(o, "server", c->server, sizeof(c->server));
    copy_member(o, "token", c->token, sizeof(c->token));
    if (json_object_object_get_ex(o, "allowUnauthorized", &v))
        c->allow_unauthorized = json_object_get_boolean(v);
    *found = true;
out:
    json_object_put(o);
    free(text);
    fclose(f);
    return err;
}

/* mkdir -p of path's directory, each level created 0700. */
static xo_err_t make_dirs(const char *path, char *errstr, size_t errstr_size)
{
    char dir[1024];
    char *slash;

    if (strlen(path) >= sizeof(dir))
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "path too long");
    strcpy(dir, path);
    slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return XO_OK;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot create %s: %s", dir,
                             strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot create %s: %s", dir,
                         strerror(errno));
    return XO_OK;
}

static xo_err_t write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return XO_ERR_IO;
        s += w;
        n -= (size_t)w;
    }
    return XO_OK;
}

xo_err_t cli_config_save(const char *path, const cli_config_t *c, char *errstr, size_t errstr_size)
{
    char tmp[1100] = "";
    json_object *o = json_object_new_object();
    const char *text;
    xo_err_t err;
    int fd = -1;

    if (!o)
        return xo_seterr(errstr, errstr_size, XO_ERR_NOMEM, "out of memory");
    json_object_object_add(o, "server", json_object_new_string(c->server));
    json_object_object_add(o, "token", json_object_new_string(c->token));
    json_object_object_add(o, "allowUnauthorized", json_object_new_boolean(c->allow_unauthorized));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
    err = make_dirs(path, errstr, errstr_size);
    if (err != XO_OK)
        goto out;
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || write_all(fd, text, strlen(text)) != XO_OK ||
        write_all(fd, "\n", 1) != XO_OK || fsync(fd) != 0) {
        err =
            xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        fd = -1;
        err =
            xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    if (err != XO_OK && tmp[0])
        unlink(tmp);
    json_object_put(o);
    return err;
}

xo_err_t cli_config_remove(const char *path, char *errstr, size_t errstr_size)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return xo_seterr(errstr, errstr_size, XO_ERR_IO, "cannot remove %s: %s", path,
                         strerror(errno));
    return XO_OK;
}
