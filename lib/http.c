/* A strict, small HTTP/1.x request parser: enough for a scraper and a
 * browser, and nothing a client can use to make the exporter do work. */
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The end of the header block: offset after the blank line, or 0. */
static size_t headers_end(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* A token of the request line: visible ASCII only. */
static int copy_token(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    while (*p < end && **p != ' ' && **p != '\r' && **p != '\n') {
        unsigned char c = (unsigned char)**p;
        if (c < 0x21 || c > 0x7e || n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
        (*p)++;
    }
    out[n] = 0;
    return n ? 0 : -1;
}

enum http_parse http_parse_request(const char *buf, size_t len, struct http_request *r)
{
    memset(r, 0, sizeof(*r));
    size_t end_off = headers_end(buf, len);
    if (!end_off) {
        /* A line that cannot start a request fails at once, not after 8 KiB. */
        if (len && !isupper((unsigned char)buf[0]))
            return HTTP_BAD;
        return len >= HTTP_MAX_REQUEST ? HTTP_TOO_LARGE : HTTP_INCOMPLETE;
    }
    if (end_off > HTTP_MAX_REQUEST)
        return HTTP_TOO_LARGE;
    const char *p = buf, *end = buf + end_off;
    char target[1024], version[16];
    if (copy_token(&p, end, r->method, sizeof(r->method)) < 0 || *p++ != ' ' ||
        copy_token(&p, end, target, sizeof(target)) < 0 || *p++ != ' ' ||
        copy_token(&p, end, version, sizeof(version)) < 0)
        return HTTP_BAD;
    if (*p == '\r')
        p++;
    if (*p++ != '\n')
        return HTTP_BAD;
    for (const char *m = r->method; *m; m++)
        if (!isupper((unsigned char)*m))
            return HTTP_BAD;
    if (strncmp(version, "HTTP/1.", 7) || !isdigit((unsigned char)version[7]) || version[8])
        return HTTP_BAD;
    r->minor = version[7] - '0';
    if (target[0] != '/')
        return HTTP_BAD; /* absolute-form and '*' are for proxies */
    size_t plen = strcspn(target, "?#");
    if (plen >= sizeof(r->path))
        plen = sizeof(r->path) - 1;
    memcpy(r->path, target, plen);
    r->path[plen] = 0;
    /* Headers: "Name: value"; only Accept matters here. */
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(eol - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (!n)
            break; /* the blank line */
        const char *colon = memchr(p, ':', n);
        if (!colon || colon == p || *p == ' ' || *p == '\t')
            return HTTP_BAD;
        size_t name_len = (size_t)(colon - p);
        if (name_len == 6 && !strncasecmp(p, "accept", 6)) {
            const char *v = colon + 1;
            while (v < p + n && (*v == ' ' || *v == '\t'))
                v++;
            snprintf(r->accept, sizeof(r->accept), "%.*s", (int)(p + n - v), v);
        }
        p = eol + 1;
    }
    return HTTP_COMPLETE;
}

enum http_route http_route_of(const struct http_request *r)
{
    int known = !strcmp(r->path, "/") ? 1 : !strcmp(r->path, "/metrics") ? 2 : 0;
    if (!known)
        return HTTP_ROUTE_NOT_FOUND;
    if (strcmp(r->method, "GET"))
        return HTTP_ROUTE_NOT_ALLOWED;
    return known == 1 ? HTTP_ROUTE_INDEX : HTTP_ROUTE_METRICS;
}

const char *http_status_line(int code)
{
    switch (code) {
    case 200: return "200 OK";
    case 400: return "400 Bad Request";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 408: return "408 Request Timeout";
    case 431: return "431 Request Header Fields Too Large";
    case 500: return "500 Internal Server Error";
    case 503: return "503 Service Unavailable";
    default: return "500 Internal Server Error";
    }
}
