/* Wire protocol encoding (see proto.h for the format): growable buffers,
 * frames and fields, and sending them. Compiled into the monitor and the
 * agent. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proto_fields.h"

void proto_buf_init(struct proto_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void proto_buf_free(struct proto_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static uint8_t *buf_grow(struct proto_buf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (b->len + n > b->frame_start + PROTO_HEADER_BYTES + PROTO_MAX_PAYLOAD) {
        b->failed = 1;
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return NULL;
        }
        b->data = d;
        b->cap = cap;
    }
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void proto_begin(struct proto_buf *b, enum proto_type type)
{
    b->len = 0;
    b->failed = 0;
    proto_append(b, type);
}

void proto_append(struct proto_buf *b, enum proto_type type)
{
    b->frame_start = b->len;
    uint8_t *p = buf_grow(b, PROTO_HEADER_BYTES);
    if (!p)
        return;
    proto_put_le(p, PROTO_MAGIC, 4);
    proto_put_le(p + 4, PROTO_VERSION, 2);
    proto_put_le(p + 6, (uint64_t)type, 2);
    proto_put_le(p + 8, 0, 4);
}

void proto_append_frames(struct proto_buf *b, const struct proto_buf *frames)
{
    if (frames->failed) {
        b->failed = 1;
        return;
    }
    if (!frames->len)
        return;
    b->frame_start = b->len; /* one frame's limits: what it holds is at most that */
    uint8_t *p = buf_grow(b, frames->len);
    if (p)
        memcpy(p, frames->data, frames->len);
}

static uint8_t *field_begin(struct proto_buf *b, enum proto_tag tag, size_t len)
{
    uint8_t *p = buf_grow(b, 4 + len);
    if (!p)
        return NULL;
    proto_put_le(p, (uint64_t)tag, 2);
    proto_put_le(p + 2, len, 2);
    return p + 4;
}

void proto_put_u64(struct proto_buf *b, enum proto_tag tag, uint64_t v)
{
    uint8_t *p = field_begin(b, tag, 8);
    if (p)
        proto_put_le(p, v, 8);
}

void proto_put_i64(struct proto_buf *b, enum proto_tag tag, int64_t v)
{
    proto_put_u64(b, tag, (uint64_t)v);
}

void proto_put_str(struct proto_buf *b, enum proto_tag tag, const char *s)
{
    size_t n = strlen(s);
    if (n > PROTO_MAX_STRING)
        n = PROTO_MAX_STRING;
    uint8_t *p = field_begin(b, tag, n);
    if (p)
        memcpy(p, s, n);
}

void proto_put_gens(struct proto_buf *b, enum proto_tag tag, const int64_t v[PM_GENERATIONS])
{
    uint8_t *p = field_begin(b, tag, 8 * PM_GENERATIONS);
    if (p)
        for (int i = 0; i < PM_GENERATIONS; i++)
            proto_put_le(p + 8 * i, (uint64_t)v[i], 8);
}

void proto_put_pause(struct proto_buf *b, const struct pm_gc_pause *pz)
{
    uint8_t *p = field_begin(b, TAG_PAUSE, PROTO_PAUSE_BYTES);
    if (!p)
        return;
    proto_put_le(p, pz->end_ns, 8);
    proto_put_le(p + 8, pz->pause_ns, 8);
    proto_put_le(p + 16, (uint64_t)pz->collected, 8);
    proto_put_le(p + 24, (uint64_t)pz->uncollectable, 8);
    proto_put_le(p + 32, pz->generation, 8);
}

void proto_put_record(struct proto_buf *b, enum proto_tag tag, const uint64_t *nums, int n,
                      const char *str)
{
    size_t sl = strlen(str);
    size_t max = 65535 - 8 * (size_t)n;
    if (sl > max)
        sl = max;
    uint8_t *p = field_begin(b, tag, 8 * (size_t)n + sl);
    if (!p)
        return;
    for (int i = 0; i < n; i++)
        proto_put_le(p + 8 * i, nums[i], 8);
    memcpy(p + 8 * n, str, sl);
}

void proto_put_shape(struct proto_buf *b, const struct pm_shape *sh)
{
    size_t pl = strnlen(sh->path, PM_SHAPE_PATH_MAX - 1);
    size_t al = strnlen(sh->advice, PM_SHAPE_PATH_MAX - 1);
    uint8_t *p = field_begin(b, TAG_SHAPE, 24 + 2 + pl + al);
    if (!p)
        return;
    proto_put_le(p, sh->count, 8);
    proto_put_le(p + 8, sh->bytes, 8);
    proto_put_le(p + 16, sh->length, 8);
    proto_put_le(p + 24, pl, 2);
    memcpy(p + 26, sh->path, pl);
    memcpy(p + 26 + pl, sh->advice, al);
}

void proto_put_recent_shape(struct proto_buf *b, const struct pm_recent_shape *r)
{
    const struct pm_shape *sh = &r->shape;
    size_t pl = strnlen(sh->path, PM_SHAPE_PATH_MAX - 1);
    size_t al = strnlen(sh->advice, PM_SHAPE_PATH_MAX - 1);
    uint8_t *p = field_begin(b, TAG_RECENT_SHAPE, 56 + 2 + pl + al);
    if (!p)
        return;
    const uint64_t nums[7] = {sh->count,       sh->bytes,        sh->length,     r->objects,
                              r->est_objects, r->first_seen_ns, r->last_seen_ns};
    for (int i = 0; i < 7; i++)
        proto_put_le(p + 8 * i, nums[i], 8);
    proto_put_le(p + 56, pl, 2);
    memcpy(p + 58, sh->path, pl);
    memcpy(p + 58 + pl, sh->advice, al);
}

void proto_put_chain(struct proto_buf *b, const struct pm_why_chain *c)
{
    uint32_t n = c->n_edges < PM_WHY_MAX_EDGES ? c->n_edges : PM_WHY_MAX_EDGES;
    size_t el[PM_WHY_MAX_EDGES], total = 16;
    for (uint32_t i = 0; i < n; i++) {
        el[i] = strnlen(c->edges[i], PM_WHY_EDGE_MAX - 1);
        total += 2 + el[i];
    }
    uint8_t *p = field_begin(b, TAG_CHAIN, total);
    if (!p)
        return;
    proto_put_le(p, c->count, 8);
    proto_put_le(p + 8, n, 8);
    p += 16;
    for (uint32_t i = 0; i < n; i++) {
        proto_put_le(p, el[i], 2);
        memcpy(p + 2, c->edges[i], el[i]);
        p += 2 + el[i];
    }
}

int proto_end(struct proto_buf *b)
{
    if (b->failed || b->len < b->frame_start + PROTO_HEADER_BYTES)
        return -1;
    size_t payload = b->len - b->frame_start - PROTO_HEADER_BYTES;
    if (payload > PROTO_MAX_PAYLOAD) {
        b->failed = 1;
        return -1;
    }
    proto_put_le(b->data + b->frame_start + 8, payload, 4);
    return 0;
}

int proto_send(int fd, const struct proto_buf *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = send(fd, b->data + off, b->len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)n;
    }
    return 0;
}
