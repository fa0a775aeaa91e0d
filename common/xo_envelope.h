/*
 * xo_envelope.h - build and parse the v1 messages of the topic contract (docs/topics.md,
 * schemas/<topic>.json). Builders return exactly the bytes to publish; parsers check the JSON,
 * the version and every required field's type before anything else reads the message.
 * Timestamps are integer milliseconds since the Unix epoch (UTC).
 */
#ifndef XO_ENVELOPE_H
#define XO_ENVELOPE_H

#include <json-c/json.h>
#include <stdint.h>

#include "xo_error.h"
#include "xo_json_text.h"

#define XO_ENVELOPE_VERSION 1
#define XO_MSG_MAX_BYTES    (16 * 1024 * 1024) /**< largest message value a parser accepts */
#define XO_MSG_MAX_DEPTH    64                 /**< deepest JSON nesting a parser accepts */

/** Header on an xo.objects tombstone, saying it is a delete. */
#define XO_HDR_OP  "xo-op"
#define XO_HDR_SIG "xo-sig"
#define XO_HDR_KEY "xo-key"

/** @brief Milliseconds since the Unix epoch, from the real-time clock. */
int64_t xo_now_ms(void);

/** Message kinds, for xo_msg_parse(). */
typedef enum {
    XO_MSG_OBJECT,  /**< xo.objects record (add/mod) */
    XO_MSG_SYNC,    /**< xo.objects <pool>/_sync marker */
    XO_MSG_AGENT,   /**< xo.agents heartbeat */
    XO_MSG_COMMAND, /**< xo.commands */
    XO_MSG_RESULT   /**< xo.results */
} xo_msg_kind_t;

/** An object change (xo.objects value). All pointers borrowed. */
typedef struct {
    const char *pool, *cls, *ref, *uuid; /**< uuid may be NULL */
    const char *op;                      /**< "add" or "mod" */
    int64_t event_id, gen, ts;
    json_object *snapshot; /**< the XAPI record */
} xo_object_msg_t;

/**
 * @brief The key <pool-uuid>/<class>/<ref> (or <pool-uuid>/_sync when cls and ref are NULL).
 * @returns XO_OK, XO_ERR_LIMIT when it does not fit in @p size.
 */
xo_err_t xo_object_key(char *buf, size_t size, const char *pool, const char *cls, const char *ref);

/**
 * @brief Split an xo.objects key. On success cls and ref point into @p buf (a writable copy of
 *        the key the caller made); for the sync marker *cls is "_sync" and *ref is NULL.
 */
xo_err_t xo_object_key_split(char *buf, char **pool, char **cls, char **ref);

/** @brief Encode an object change. @returns a NUL-terminated string (caller frees) or NULL. */
char *xo_object_msg_encode(const xo_object_msg_t *m, size_t *len);

/**
 * @brief Write an object change whose snapshot is already JSON text (the agent's ingest:
 *        see xo_xmlrpc_decoder_set_stream_raw()): the bytes xo_object_msg_encode() gives for
 *        the same fields and the tree json-c parses that text into. m->snapshot is ignored.
 * @param snapshot borrowed JSON text of an object, @p len bytes, as json-c writes it.
 * @param out emptied, then holds the record; reused across calls by the caller.
 * @returns XO_OK, XO_ERR_NOMEM.
 */
xo_err_t xo_object_msg_write(const xo_object_msg_t *m, const char *snapshot, size_t len,
                             xo_jtext_t *out);

/** @brief Encode a sync marker: the end of a full dump of generation @p gen. */
char *xo_sync_msg_encode(const char *pool, const char *agent, int64_t gen, int64_t objects,
                         int64_t ts, size_t *len);

/** An agent heartbeat (xo.agents value). */
typedef struct {
    const char *agent, *version, *pool, *master,
        *state;        /**< state: connecting|syncing|live|error */
    const char *error; /**< NULL unless state is error */
    int64_t ts, since, gen, last_event_id, last_event_ts;
    int64_t interval_ms; /**< the agent's heartbeat interval, so that readers know when a
                              heartbeat is late; 0 leaves the field out */
    int64_t events, published, resyncs, xapi_errors, kafka_failed, commands;
} xo_agent_msg_t;

char *xo_agent_msg_encode(const xo_agent_msg_t *m, size_t *len);

/** A command (xo.commands value). */
typedef struct {
    const char *id, *pool, *op, *user;
    json_object *args; /**< borrowed; NULL encodes {} */
    int64_t issued, expires;
} xo_command_msg_t;

char *xo_command_msg_encode(const xo_command_msg_t *m, size_t *len);

/** A command result (xo.results value). */
typedef struct {
    const char *id, *pool, *agent, *state; /**< accepted|progress|success|failure|rejected */
    double progress;                       /**< 0..1 */
    int64_t bytes, ts;
    json_object *result;       /**< success value, or NULL */
    const char *error_code;    /**< failure/rejected: XAPI code or our reason code */
    json_object *error_params; /**< array of strings, or NULL */
    const char *reason;        /**< human text for rejected/failure, or NULL */
} xo_result_msg_t;

char *xo_result_msg_encode(const xo_result_msg_t *m, size_t *len);

/**
 * @brief Parse and check a message of @p kind.
 * @param out a new json object (caller puts) on success.
 * @returns XO_OK, XO_ERR_LIMIT (too large or too deep), XO_ERR_PARSE (not JSON, wrong
 *          version, missing or mistyped field; the field is named in errstr).
 */
xo_err_t xo_msg_parse(xo_msg_kind_t kind, const void *value, size_t len, json_object **out,
                      char *errstr, size_t errstr_size);

/**
 * @brief A tokener for xo_msg_parse_with(): the limits and checks of xo_msg_parse().
 * @returns a new tokener (caller frees with json_tokener_free), or NULL out of memory.
 */
json_tokener *xo_msg_tokener_new(void);

/**
 * @brief xo_msg_parse() through a caller's tokener (from xo_msg_tokener_new()), reset
 *        here: a thread parsing message after message allocates no tokener for each.
 * @returns as xo_msg_parse().
 */
xo_err_t xo_msg_parse_with(json_tokener *tok, xo_msg_kind_t kind, const void *value, size_t len,
                           json_object **out, char *errstr, size_t errstr_size);

/** @brief A string field of a parsed message, or NULL. Borrowed from @p obj. */
const char *xo_msg_str(json_object *obj, const char *field);
/** @brief An integer field of a parsed message, or @p def. */
int64_t xo_msg_int(json_object *obj, const char *field, int64_t def);

#endif
