/* Recursive descent over a bounded depth; every node and string lives in one
 * arena, so a document is freed at once and a hostile one cannot leak. */
#include "jsonread.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JV_MAX_DEPTH 64
#define JV_MAX_BYTES (64u << 20)

struct jv_parser {
    const char *p, *start, *end;
    struct jv_doc *doc;
    int depth;
};

static int jv_fail(struct jv_parser *ps, const char *what)
{
    snprintf(ps->doc->error, sizeof(ps->doc->error), "offset %zu: %s",
             (size_t)(ps->p - ps->start), what);
    return -1;
}

/* Arena blocks never move once handed out: grow by chaining new blocks. */
struct jv_block {
    struct jv_block *prev;
    size_t used, cap;
    max_align_t data[];
};

static void *jv_alloc(struct jv_doc *doc, size_t n)
{
    struct jv_block *b = (struct jv_block *)doc->arena;
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (doc->arena_len + cap > JV_MAX_BYTES)
            return NULL;
        struct jv_block *nb = malloc(sizeof(*nb) + cap);
        if (!nb)
            return NULL;
        nb->prev = b;
        nb->used = 0;
        nb->cap = cap;
        doc->arena = (char *)nb;
        doc->arena_len += cap;
        b = nb;
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    return r;
}

void jv_free(struct jv_doc *doc)
{
    struct jv_block *b = (struct jv_block *)doc->arena;
    while (b) {
        struct jv_block *prev = b->prev;
        free(b);
        b = prev;
    }
    doc->arena = NULL;
    doc->root = NULL;
    doc->arena_len = 0;
}

static void jv_ws(struct jv_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int jv_hex4(struct jv_parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return jv_fail(ps, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return jv_fail(ps, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static size_t jv_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decoded strings are never longer than their escaped form. */
static int jv_string(struct jv_parser *ps, const char **out)
{
    ps->p++; /* opening quote */
    const char *q = ps->p;
    while (q < ps->end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    if (q >= ps->end)
        return jv_fail(ps, "unterminated string");
    char *o = jv_alloc(ps->doc, (size_t)(q - ps->p) + 1), *w = o;
    if (!o)
        return jv_fail(ps, "document too large");
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20)
            return jv_fail(ps, "control character in string");
        if (c != '\\') {
            *w++ = (char)c;
            continue;
        }
        char e = *ps->p++;
        unsigned cp;
        switch (e) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            if (jv_hex4(ps, &cp) < 0)
                return -1;
            if (cp >= 0xd800 && cp < 0xdc00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                unsigned lo;
                ps->p += 2;
                if (jv_hex4(ps, &lo) < 0)
                    return -1;
                cp = lo >= 0xdc00 && lo < 0xe000 ? 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
                                                 : 0xfffd;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd;
            }
            if (cp == 0)
                cp = 0xfffd; /* keep C strings whole */
            w += jv_utf8(w, cp);
            break;
        default:
            return jv_fail(ps, "bad escape");
        }
    }
    ps->p++; /* closing quote */
    *w = 0;
    *out = o;
    return 0;
}

static int jv_value(struct jv_parser *ps, struct jv *v);

static int jv_container(struct jv_parser *ps, struct jv *v, bool object)
{
    if (++ps->depth > JV_MAX_DEPTH)
        return jv_fail(ps, "nested too deep");
    ps->p++;
    v->type = object ? JV_OBJECT : JV_ARRAY;
    struct jv **tail = &v->child;
    jv_ws(ps);
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
        ps->p++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        struct jv *c = jv_alloc(ps->doc, sizeof(*c));
        if (!c)
            return jv_fail(ps, "document too large");
        memset(c, 0, sizeof(*c));
        jv_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"')
                return jv_fail(ps, "expected a key");
            if (jv_string(ps, &c->key) < 0)
                return -1;
            jv_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return jv_fail(ps, "expected ':'");
            ps->p++;
        }
        if (jv_value(ps, c) < 0)
            return -1;
        *tail = c;
        tail = &c->next;
        v->len++;
        jv_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
            ps->p++;
            ps->depth--;
            return 0;
        }
        return jv_fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jv_number(struct jv_parser *ps, struct jv *v)
{
    char buf[64];
    size_t n = 0;
    while (ps->p + n < ps->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", ps->p[n]))
        n++;
    memcpy(buf, ps->p, n);
    buf[n] = 0;
    char *e;
    errno = 0;
    double d = strtod(buf, &e);
    if (n == 0 || e != buf + n || !isfinite(d))
        return jv_fail(ps, "bad number");
    ps->p += n;
    v->type = JV_NUMBER;
    v->number = d;
    if (!strpbrk(buf, ".eE")) {
        errno = 0;
        long long ll = strtoll(buf, &e, 10);
        v->is_int = errno == 0 && *e == 0;
        v->integer = ll;
    }
    return 0;
}

static int jv_word(struct jv_parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n))
        return jv_fail(ps, "unexpected character");
    ps->p += n;
    return 0;
}

static int jv_value(struct jv_parser *ps, struct jv *v)
{
    jv_ws(ps);
    if (ps->p >= ps->end)
        return jv_fail(ps, "unexpected end");
    switch (*ps->p) {
    case '{':
        return jv_container(ps, v, true);
    case '[':
        return jv_container(ps, v, false);
    case '"':
        v->type = JV_STRING;
        return jv_string(ps, &v->string);
    case 't':
        v->type = JV_BOOL;
        v->boolean = true;
        return jv_word(ps, "true");
    case 'f':
        v->type = JV_BOOL;
        return jv_word(ps, "false");
    case 'n':
        v->type = JV_NULL;
        return jv_word(ps, "null");
    default:
        return jv_number(ps, v);
    }
}

int jv_parse(struct jv_doc *doc, const char *text, size_t len)
{
    memset(doc, 0, sizeof(*doc));
    struct jv_parser ps = {text, text, text + len, doc, 0};
    struct jv *root = jv_alloc(doc, sizeof(*root));
    if (!root) {
        snprintf(doc->error, sizeof(doc->error), "out of memory");
        return -1;
    }
    memset(root, 0, sizeof(*root));
    if (jv_value(&ps, root) < 0) {
        jv_free(doc);
        return -1;
    }
    jv_ws(&ps);
    if (ps.p != ps.end) {
        jv_fail(&ps, "trailing data");
        jv_free(doc);
        return -1;
    }
    doc->root = root;
    return 0;
}

const struct jv *jv_get(const struct jv *obj, const char *key)
{
    if (!obj || obj->type != JV_OBJECT)
        return NULL;
    for (const struct jv *c = obj->child; c; c = c->next)
        if (!strcmp(c->key, key))
            return c;
    return NULL;
}

const struct jv *jv_path(const struct jv *obj, const char *path)
{
    char part[64];
    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = 0;
        obj = jv_get(obj, part);
        path += n + (dot ? 1 : 0);
    }
    return obj;
}

const struct jv *jv_at(const struct jv *arr, size_t i)
{
    if (!arr || arr->type != JV_ARRAY)
        return NULL;
    const struct jv *c = arr->child;
    while (c && i--)
        c = c->next;
    return c;
}

double jv_num(const struct jv *v, double dflt)
{
    return v && v->type == JV_NUMBER ? v->number : dflt;
}

int64_t jv_int(const struct jv *v, int64_t dflt)
{
    if (v && v->type == JV_NUMBER && v->is_int)
        return v->integer;
    if (!v || v->type != JV_NUMBER || !(v->number > -9.3e18 && v->number < 9.3e18))
        return dflt;
    return (int64_t)v->number;
}

const char *jv_str(const struct jv *v, const char *dflt)
{
    return v && v->type == JV_STRING ? v->string : dflt;
}

bool jv_bool(const struct jv *v, bool dflt)
{
    return v && v->type == JV_BOOL ? v->boolean : dflt;
}
