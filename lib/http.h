/* The little HTTP that --serve speaks: one request per connection, parsed
 * from bytes already read, answered and closed. Pure: no sockets here
 * (tui/serve.c owns them), unit-tested. Read-only by construction: the only
 * routes are GET / and GET /metrics. */
#ifndef PYMEMTOP_LIB_HTTP_H
#define PYMEMTOP_LIB_HTTP_H

#include <stddef.h>

/* A request larger than this (request line and headers) is refused: 431. */
#define HTTP_MAX_REQUEST 8192

enum http_parse {
    HTTP_INCOMPLETE, /* no blank line yet: read more */
    HTTP_COMPLETE,
    HTTP_BAD,        /* garbage: 400 */
    HTTP_TOO_LARGE,  /* HTTP_MAX_REQUEST reached without the end of the headers */
};

enum http_route {
    HTTP_ROUTE_INDEX,     /* GET / */
    HTTP_ROUTE_METRICS,   /* GET /metrics */
    HTTP_ROUTE_NOT_FOUND, /* 404 */
    HTTP_ROUTE_NOT_ALLOWED, /* 405: a known path, another method */
    HTTP_ROUTE_BAD,       /* 400 */
    HTTP_ROUTE_TOO_LARGE, /* 431 */
};

struct http_request {
    char method[16];
    char path[256];   /* without the query string */
    char accept[512]; /* the Accept header, "" when absent */
    int minor;        /* HTTP/1.minor */
};

/* Parses buf[0..len): the request line, then headers up to the blank line
 * (CRLF or bare LF). */
enum http_parse http_parse_request(const char *buf, size_t len, struct http_request *r);
/* Where a parsed request goes. */
enum http_route http_route_of(const struct http_request *r);
/* "200 OK", "404 Not Found", ... */
const char *http_status_line(int code);

#endif
