/*
 * http_status.h - the transport's own HTTP answers: status lines with their reason
 * phrases (RFC 9110), the size checks of a request (414, 431), and the short answers the
 * transport gives before any endpoint reads a request: 405/501 for methods the gateway
 * does not serve, 408 for a request too slow, 411, 414, 431. libwebsockets 4.1 only knows
 * the phrases of some codes (it writes "HTTP/1.1 429 " for 429): every endpoint writes its
 * status line through here instead. Service thread only; knows no endpoint.
 */
#ifndef GW_HTTP_STATUS_H
#define GW_HTTP_STATUS_H

#include <libwebsockets.h>
#include <stdbool.h>

/** @brief The reason phrase of @p status ("Too Many Requests"); "Unknown" for none. */
const char *gw_http_reason(int status);

/**
 * @brief Check the size of the request whose headers libwebsockets has just parsed.
 * @param max_url longest request target (path and query as decoded), limits.max_url_bytes
 * @param max_header longest header section ("name: value" lines of the headers the
 *        gateway's parser knows), limits.max_header_bytes
 * @returns 0, 414 or 431.
 */
int gw_http_check_size(struct lws *wsi, size_t max_url, size_t max_header);

/**
 * @brief Add the status line of @p status to a response being built at *p (< end), as
 *        lws_add_http_header_status() does but always with its reason phrase.
 * @returns 0, or 1 when it does not fit.
 */
int gw_http_add_status(struct lws *wsi, int status, unsigned char **p, unsigned char *end);

/**
 * @brief Answer now with @p status and a small JSON body {"error": "<reason, lower
 *        case>"}: from an HTTP callback (LWS_CALLBACK_HTTP, ..._BODY, ..._WRITEABLE).
 * @param close add "connection: close"; the caller then closes (returns -1) after it
 * @returns 0, or -1 when the answer could not be written (close the connection).
 */
int gw_http_answer(struct lws *wsi, int status, bool close);

/**
 * @brief The same answer as raw bytes (for a connection libwebsockets handed over as raw,
 *        such as CONNECT): "HTTP/1.1 <status> <reason>", Allow when @p allow is not NULL,
 *        connection: close and the JSON body. @returns the length written to @p out
 *        (truncated to @p size - 1, always terminated).
 */
size_t gw_http_format_answer(int status, const char *allow, char *out, size_t size);

#endif
