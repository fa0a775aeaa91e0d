/*
 * http_status.c - status lines with reason phrases, request size checks and the
 * transport's own short answers (see http_status.h). Knows HTTP framing only; what a
 * request means is the endpoints'.
 */
#include "transport/http_status.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int status;
    const char *reason;
} reason_t;

/* RFC 9110 section 15, plus 429 and 431 (RFC 6585). */
static const reason_t REASONS[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *gw_http_reason(int status)
{
    for (size_t i = 0; i < sizeof(REASONS) / sizeof(REASONS[0]); i++)
        if (REASONS[i].status == status)
            return REASONS[i].reason;
    return "Unknown";
}

/* Tokens of the request line (method, target, version): the rest are header lines. */
static bool in_request_line(int t, bool *target)
{
    switch (t) {
    case WSI_TOKEN_GET_URI:
    case WSI_TOKEN_POST_URI:
    case WSI_TOKEN_OPTIONS_URI:
    case WSI_TOKEN_PUT_URI:
    case WSI_TOKEN_PATCH_URI:
    case WSI_TOKEN_DELETE_URI:
    case WSI_TOKEN_HEAD_URI:
    case WSI_TOKEN_CONNECT:
    case WSI_TOKEN_HTTP_URI_ARGS:
    case WSI_TOKEN_HTTP_COLON_PATH:
        *target = true;
        return true;
    case WSI_TOKEN_HTTP:
    case WSI_TOKEN_HTTP1_0:
    case WSI_TOKEN_HTTP_COLON_METHOD:
        *target = false;
        return true;
    default:
        return false;
    }
}

int gw_http_check_size(struct lws *wsi, size_t max_url, size_t max_header)
{
    size_t url = 0, header = 0;

    /* libwebsockets keeps each header it knows by token (name not stored) and cuts one
     * longer than its token limit (http_server.c sets them just above these limits), so a
     * single oversized header or target still reads as "over" here. */
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        int n = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        const unsigned char *name;
        bool target;

        if (n <= 0)
            continue;
        if (in_request_line(t, &target)) {
            url += target ? (size_t)n : 0;
            continue;
        }
        name = lws_token_to_string((enum lws_token_indexes)t);
        header += (name ? strlen((const char *)name) : 0) + 1 + (size_t)n + 2; /* ' ', CRLF */
    }
    if (url > max_url)
        return 414;
    return header > max_header ? 431 : 0;
}

/* An HTTP/2 stream has its own network connection above it; HTTP/2 has no reason phrase. */
static bool is_h2_stream(struct lws *wsi)
{
    return lws_get_network_wsi(wsi) != wsi;
}

int gw_http_add_status(struct lws *wsi, int status, unsigned char **p, unsigned char *end)
{
    char line[96];
    int n;

    if (is_h2_stream(wsi))
        return lws_add_http_header_status(wsi, (unsigned int)status, p, end);
    /* HTTP/1.1 also answers a 1.0 request: the highest minor version we conform to */
    n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s", status, gw_http_reason(status));
    return lws_add_http_header_by_name(wsi, NULL, (const unsigned char *)line, n, p, end);
}

/* {"error":"<reason in lower case>"}\n */
static size_t error_body(int status, char *out, size_t size)
{
    const char *r = gw_http_reason(status);
    size_t n = 0;
    int w = snprintf(out, size, "{\"error\":\"");

    if (w < 0 || (size_t)w >= size)
        return 0;
    n = (size_t)w;
    for (; *r && n + 4 < size; r++)
        out[n++] = (char)tolower((unsigned char)*r);
    w = snprintf(out + n, size - n, "\"}\n");
    return w < 0 ? 0 : n + (size_t)w;
}

int gw_http_answer(struct lws *wsi, int status, bool close)
{
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start,
                                      *end = buf + sizeof(buf) - 1;
    char body[96], len[16];
    size_t blen = error_body(status, body, sizeof(body));
    int n = snprintf(len, sizeof(len), "%zu", blen);

    if (is_h2_stream(wsi)) /* lws frames HTTP/2 answers itself (no phrase there) */
        return lws_return_http_status(wsi, (unsigned int)status, NULL) ? -1 : 0;
    if (gw_http_add_status(wsi, status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)"application/json", 16, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (const unsigned char *)len,
                                     n, &p, end) ||
        (close && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                               (const unsigned char *)"close", 5, &p, end)) ||
        lws_finalize_http_header(wsi, &p, end) || (size_t)(end - p) < blen)
        return -1;
    memcpy(p, body, blen);
    p += blen;
    n = (int)(p - start);
    return lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP) == n ? 0 : -1;
}

size_t gw_http_format_answer(int status, const char *allow, char *out, size_t size)
{
    char body[96];
    size_t blen = error_body(status, body, sizeof(body));
    int n = snprintf(out, size,
                     "HTTP/1.1 %d %s\r\n%s%s%scontent-type: application/json\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s",
                     status, gw_http_reason(status), allow ? "allow: " : "", allow ? allow : "",
                     allow ? "\r\n" : "", blen, body);

    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}
