/*
 * fake_xapi.h - a scripted XAPI for unit tests: a plain-HTTP XML-RPC server in a thread on
 * 127.0.0.1 (ephemeral port). It decodes each call with the project's codec and answers
 * with the XAPI envelope the test's handler returns, so the code under test runs its real
 * transport (libcurl, streamed decoding). One connection at a time, keep-alive.
 * Must not: leave loopback, or wait without a bound (every wait polls the stop flag).
 */
#ifndef XO_TEST_FAKE_XAPI_H
#define XO_TEST_FAKE_XAPI_H

#include <json-c/json.h>

/**
 * Answers one call. Runs on the server thread while the caller waits for the answer, so
 * it may touch the test's state without a lock.
 * @param method borrowed, e.g. "event.from"; @param params borrowed json array (the
 *        session first, as the agent sends it).
 * @returns the XAPI envelope (taken): fake_xapi_success() or fake_xapi_failure(); NULL
 *          answers HTTP 500.
 */
typedef json_object *(*fake_xapi_handler_t)(void *opaque, const char *method, json_object *params);

typedef struct fake_xapi fake_xapi_t;

/** @brief Listen on 127.0.0.1 and serve in a thread. @returns NULL on failure. */
fake_xapi_t *fake_xapi_start(fake_xapi_handler_t handler, void *opaque);
/** @brief Stop the thread, close everything, free. NULL is a no-op. */
void fake_xapi_stop(fake_xapi_t *x);
/** @brief "http://127.0.0.1:<port>"; borrowed until fake_xapi_stop(). */
const char *fake_xapi_url(const fake_xapi_t *x);
/** @brief Calls answered so far. */
int fake_xapi_calls(fake_xapi_t *x);

/** @brief {Status: Success, Value: value}; takes @p value (NULL encodes nil). */
json_object *fake_xapi_success(json_object *value);
/** @brief {Status: Failure, ErrorDescription: [code, param?]}; strings copied. */
json_object *fake_xapi_failure(const char *code, const char *param);

#endif
