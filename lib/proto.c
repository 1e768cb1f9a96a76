/* Wire protocol codec (see proto.h for the format). Compiled into both the
 * monitor and the agent; the decoders assume every byte is hostile. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

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
    put_le(p, PROTO_MAGIC, 4);
    put_le(p + 4, PROTO_VERSION, 2);
    put_le(p + 6, (uint64_t)type, 2);
    put_le(p + 8, 0, 4);
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
    put_le(p, (uint64_t)tag, 2);
    put_le(p + 2, len, 2);
    return p + 4;
}

void proto_put_u64(struct proto_buf *b, enum proto_tag tag, uint64_t v)
{
    uint8_t *p = field_begin(b, tag, 8);
    if (p)
        put_le(p, v, 8);
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
            put_le(p + 8 * i, (uint64_t)v[i], 8);
}

void proto_put_pause(struct proto_buf *b, const struct pm_gc_pause *pz)
{
    uint8_t *p = field_begin(b, TAG_PAUSE, PROTO_PAUSE_BYTES);
    if (!p)
        return;
    put_le(p, pz->end_ns, 8);
    put_le(p + 8, pz->pause_ns, 8);
    put_le(p + 16, (uint64_t)pz->collected, 8);
    put_le(p + 24, (uint64_t)pz->uncollectable, 8);
    put_le(p + 32, pz->generation, 8);
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
        put_le(p + 8 * i, nums[i], 8);
    memcpy(p + 8 * n, str, sl);
}

void proto_put_shape(struct proto_buf *b, const struct pm_shape *sh)
{
    size_t pl = strnlen(sh->path, PM_SHAPE_PATH_MAX - 1);
    size_t al = strnlen(sh->advice, PM_SHAPE_PATH_MAX - 1);
    uint8_t *p = field_begin(b, TAG_SHAPE, 24 + 2 + pl + al);
    if (!p)
        return;
    put_le(p, sh->count, 8);
    put_le(p + 8, sh->bytes, 8);
    put_le(p + 16, sh->length, 8);
    put_le(p + 24, pl, 2);
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
        put_le(p + 8 * i, nums[i], 8);
    put_le(p + 56, pl, 2);
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
    put_le(p, c->count, 8);
    put_le(p + 8, n, 8);
    p += 16;
    for (uint32_t i = 0; i < n; i++) {
        put_le(p, el[i], 2);
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
    put_le(b->data + b->frame_start + 8, payload, 4);
    return 0;
}

int proto_decode_header(const uint8_t *buf, size_t len, struct proto_header *h, const char **why)
{
    if (len < PROTO_HEADER_BYTES) {
        *why = "short header";
        return -1;
    }
    if (get_le(buf, 4) != PROTO_MAGIC) {
        *why = "bad magic (not a pymemtop agent)";
        return -1;
    }
    h->version = (uint16_t)get_le(buf + 4, 2);
    h->type = (uint16_t)get_le(buf + 6, 2);
    h->length = (uint32_t)get_le(buf + 8, 4);
    if (h->version != PROTO_VERSION) {
        *why = "protocol version mismatch (agent and monitor come from different builds)";
        return -1;
    }
    if (h->length > PROTO_MAX_PAYLOAD) {
        *why = "frame too large";
        return -1;
    }
    return 0;
}

/* Walks the fields of a payload; calls `on` for each. A field that runs past
 * the end is an error; the callback rejects bad lengths of known tags. */
typedef int (*field_fn)(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why);

static int fields_walk(const uint8_t *p, size_t len, field_fn on, void *ctx, const char **why)
{
    size_t off = 0;
    while (off < len) {
        if (len - off < 4) {
            *why = "truncated field header";
            return -1;
        }
        uint16_t tag = (uint16_t)get_le(p + off, 2);
        uint16_t flen = (uint16_t)get_le(p + off + 2, 2);
        off += 4;
        if (flen > len - off) {
            *why = "field runs past the end of the frame";
            return -1;
        }
        if (on(ctx, tag, p + off, flen, why) < 0)
            return -1;
        off += flen;
    }
    return 0;
}

static int want_len(uint16_t len, uint16_t expect, const char **why)
{
    if (len != expect) {
        *why = "field has the wrong length";
        return -1;
    }
    return 0;
}

/* Copies a string field into a fixed buffer, truncating; rejects NUL bytes
 * so that a C string never hides data. */
static int get_str(const uint8_t *v, uint16_t len, char *dst, size_t cap, const char **why)
{
    if (len > PROTO_MAX_STRING || memchr(v, 0, len)) {
        *why = "bad string field";
        return -1;
    }
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
    return 0;
}

static int get_u64(const uint8_t *v, uint16_t len, uint64_t *out, const char **why)
{
    if (want_len(len, 8, why) < 0)
        return -1;
    *out = get_le(v, 8);
    return 0;
}

static int get_i64(const uint8_t *v, uint16_t len, int64_t *out, const char **why)
{
    uint64_t u;
    if (get_u64(v, len, &u, why) < 0)
        return -1;
    *out = (int64_t)u;
    return 0;
}

static int get_gens(const uint8_t *v, uint16_t len, int64_t out[PM_GENERATIONS], const char **why)
{
    if (want_len(len, 8 * PM_GENERATIONS, why) < 0)
        return -1;
    for (int i = 0; i < PM_GENERATIONS; i++)
        out[i] = (int64_t)get_le(v + 8 * i, 8);
    return 0;
}

static int hello_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct pm_hello *h = ctx;
    uint64_t u = 0;
    switch (tag) {
    case TAG_AGENT_VERSION:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        h->agent_version = (uint32_t)u;
        return 0;
    case TAG_PROTOCOL:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        h->protocol_version = (uint32_t)u;
        return 0;
    case TAG_PID:
        return get_i64(v, len, &h->pid, why);
    case TAG_HEXVERSION:
        return get_u64(v, len, &h->hexversion, why);
    case TAG_PYTHON:
        return get_str(v, len, h->python, sizeof(h->python), why);
    case TAG_LOADED_NS:
        return get_u64(v, len, &h->loaded_ns, why);
    case TAG_CLIENTS:
        return get_u64(v, len, &h->clients_served, why);
    case TAG_INTERVAL_MS:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        h->interval_ms = u > 3600000 ? 3600000 : (uint32_t)u;
        return 0;
    case TAG_LAYOUT:
        return get_str(v, len, h->layout, sizeof(h->layout), why);
    case TAG_RAW_PATHS:
        return get_u64(v, len, &h->raw_paths, why);
    case TAG_LAYOUT_NOTE:
        return get_str(v, len, h->layout_note, sizeof(h->layout_note), why);
    case TAG_MONITORS:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        h->monitors = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    default:
        return 0;
    }
}

int proto_decode_hello(const uint8_t *p, size_t len, struct pm_hello *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (fields_walk(p, len, hello_field, out, why) < 0)
        return -1;
    if (out->pid <= 0 || !out->python[0]) {
        *why = "hello without pid or python version";
        return -1;
    }
    return 0;
}

static int sample_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct pm_agent_sample *s = ctx;
    uint64_t u = 0;
    switch (tag) {
    case TAG_TIME_NS:
        return get_u64(v, len, &s->time_ns, why);
    case TAG_GC_ENABLED:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        s->gc_enabled = u != 0;
        return 0;
    case TAG_GC_THRESHOLDS:
        return get_gens(v, len, s->thresholds, why);
    case TAG_GC_COUNTS:
        return get_gens(v, len, s->counts, why);
    case TAG_GC_COLLECTIONS:
        return get_gens(v, len, s->collections, why);
    case TAG_GC_COLLECTED:
        return get_gens(v, len, s->collected, why);
    case TAG_GC_UNCOLLECTABLE:
        return get_gens(v, len, s->uncollectable, why);
    case TAG_GC_DURATION_NS:
        return get_gens(v, len, s->gc_duration_ns, why);
    case TAG_GC_CANDIDATES:
        return get_gens(v, len, s->gc_candidates, why);
    case TAG_ALLOC_BLOCKS:
        return get_i64(v, len, &s->alloc_blocks, why);
    case TAG_PAUSE_COUNT:
        return get_u64(v, len, &s->pause_count, why);
    case TAG_PAUSE_TOTAL_NS:
        return get_u64(v, len, &s->pause_total_ns, why);
    case TAG_PAUSE_MAX_NS:
        return get_u64(v, len, &s->pause_max_ns, why);
    case TAG_OBSERVER_NS:
        return get_u64(v, len, &s->observer_ns, why);
    case TAG_SAMPLE_COST_NS:
        return get_u64(v, len, &s->sample_cost_ns, why);
    case TAG_PAUSES_DROPPED:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        s->pauses_dropped = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_ALLOC_ARENAS:
        return get_i64(v, len, &s->alloc.arenas, why);
    case TAG_ALLOC_ARENAS_HW:
        return get_i64(v, len, &s->alloc.arenas_highwater, why);
    case TAG_PYMALLOC_USED:
        return get_i64(v, len, &s->alloc.pymalloc_used_bytes, why);
    case TAG_PYMALLOC_FREE:
        return get_i64(v, len, &s->alloc.pymalloc_free_bytes, why);
    case TAG_PYMALLOC_TIME_NS:
        return get_u64(v, len, &s->alloc.pymalloc_time_ns, why);
    case TAG_PYMALLOC_COST_NS:
        return get_u64(v, len, &s->alloc.pymalloc_cost_ns, why);
    case TAG_MALLOC_USED:
        return get_i64(v, len, &s->alloc.malloc_used_bytes, why);
    case TAG_MALLOC_FREE:
        return get_i64(v, len, &s->alloc.malloc_free_bytes, why);
    case TAG_MMAP_BYTES:
        return get_i64(v, len, &s->alloc.mmap_bytes, why);
    case TAG_BLOCKS_COST_NS:
        return get_u64(v, len, &s->alloc.blocks_cost_ns, why);
    case TAG_HOOK_ON:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        s->alloc.hook_on = u != 0;
        return 0;
    case TAG_HOOK_CALLS:
        return get_gens(v, len, (int64_t *)s->alloc.hook_calls, why);
    case TAG_HOOK_BYTES:
        return get_gens(v, len, (int64_t *)s->alloc.hook_bytes, why);
    case TAG_HOOK_COST_NS:
        return get_u64(v, len, &s->alloc.hook_cost_ns, why);
    case TAG_GARBAGE_LEN:
        return get_i64(v, len, &s->garbage_len, why);
    case TAG_TRACEMALLOC_ON:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        s->tracemalloc_on = u != 0;
        return 0;
    case TAG_TRACED_BYTES:
        return get_i64(v, len, &s->traced_bytes, why);
    case TAG_TRACED_PEAK:
        return get_i64(v, len, &s->traced_peak_bytes, why);
    case TAG_CENSUS_COST_NS:
        return get_u64(v, len, &s->census_cost_ns, why);
    case TAG_CENSUS_INTERVAL_MS:
        return get_u64(v, len, &s->census_interval_ms, why);
    case TAG_PYMALLOC_SKIP_NS:
        return get_u64(v, len, &s->alloc.pymalloc_skip_ns, why);
    case TAG_HOLD_MAX_NS:
        return get_u64(v, len, &s->hold_max_ns, why);
    case TAG_TM_LEASE_LEFT_MS:
        return get_u64(v, len, &s->tm_lease_left_ms, why);
    case TAG_TM_OWNER:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        s->tm_owner = u <= PM_TM_OWNER_PROGRAM ? (uint8_t)u : PM_TM_OWNER_NONE;
        return 0;
    case TAG_MONITORS:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        s->monitors = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_PAUSE: {
        if (want_len(len, PROTO_PAUSE_BYTES, why) < 0)
            return -1;
        if (s->n_pauses >= PM_MAX_PAUSES_PER_SAMPLE) {
            s->pauses_dropped++;
            return 0;
        }
        uint64_t gen = get_le(v + 32, 8);
        if (gen >= PM_GENERATIONS) {
            *why = "pause with a generation out of range";
            return -1;
        }
        struct pm_gc_pause *pz = &s->pauses[s->n_pauses++];
        pz->end_ns = get_le(v, 8);
        pz->pause_ns = get_le(v + 8, 8);
        pz->collected = (int64_t)get_le(v + 16, 8);
        pz->uncollectable = (int64_t)get_le(v + 24, 8);
        pz->generation = (uint8_t)gen;
        return 0;
    }
    default:
        return 0;
    }
}

int proto_decode_sample(const uint8_t *p, size_t len, struct pm_agent_sample *out,
                        const char **why)
{
    memset(out, 0, offsetof(struct pm_agent_sample, pauses));
    out->alloc_blocks = -1;
    out->alloc.arenas = out->alloc.arenas_highwater = -1;
    out->alloc.pymalloc_used_bytes = out->alloc.pymalloc_free_bytes = -1;
    out->alloc.malloc_used_bytes = out->alloc.malloc_free_bytes = out->alloc.mmap_bytes = -1;
    out->garbage_len = out->traced_bytes = out->traced_peak_bytes = -1;
    for (int i = 0; i < PM_GENERATIONS; i++)
        out->thresholds[i] = out->counts[i] = out->collections[i] = out->collected[i] =
            out->uncollectable[i] = out->gc_duration_ns[i] = out->gc_candidates[i] = -1;
    if (fields_walk(p, len, sample_field, out, why) < 0)
        return -1;
    if (!out->time_ns) {
        *why = "sample without a time";
        return -1;
    }
    return 0;
}

static int command_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len,
                         const char **why)
{
    struct proto_command *c = ctx;
    switch (tag) {
    case TAG_CMD_ID:
        return get_u64(v, len, &c->id, why);
    case TAG_CMD_NAME:
        return get_str(v, len, c->name, sizeof(c->name), why);
    case TAG_CMD_ARG:
        return get_i64(v, len, &c->arg, why);
    case TAG_CMD_TEXT:
        return get_str(v, len, c->text, sizeof(c->text), why);
    case TAG_CMD_FLAGS:
        return get_u64(v, len, &c->flags, why);
    case TAG_LEASE_S:
        if (get_i64(v, len, &c->lease_s, why) < 0)
            return -1;
        if (c->lease_s < 0) {
            *why = "negative lease";
            return -1;
        }
        return 0;
    default:
        return 0;
    }
}

int proto_decode_command(const uint8_t *p, size_t len, struct proto_command *out,
                         const char **why)
{
    memset(out, 0, sizeof(*out));
    if (fields_walk(p, len, command_field, out, why) < 0)
        return -1;
    if (!out->name[0]) {
        *why = "command without a name";
        return -1;
    }
    return 0;
}

static int reply_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct pm_reply *r = ctx;
    switch (tag) {
    case TAG_CMD_ID:
        return get_u64(v, len, &r->id, why);
    case TAG_STATUS:
        return get_i64(v, len, &r->status, why);
    case TAG_MESSAGE:
        return get_str(v, len, r->message, sizeof(r->message), why);
    case TAG_VALUE:
        return get_i64(v, len, &r->value, why);
    case TAG_PAUSE_NS:
        return get_u64(v, len, &r->pause_ns, why);
    case TAG_MAX_HOLD_NS:
        return get_u64(v, len, &r->max_hold_ns, why);
    case TAG_PREDICT_NS:
        return get_u64(v, len, &r->predict_ns, why);
    default:
        return 0;
    }
}

int proto_decode_reply(const uint8_t *p, size_t len, struct pm_reply *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    return fields_walk(p, len, reply_field, out, why);
}

/* A record field: n 8-byte integers then a string of 1..cap-1 bytes (0 allowed
 * when allow_empty). */
static int get_record(const uint8_t *v, uint16_t len, uint64_t *nums, int n, char *dst,
                      size_t cap, int allow_empty, const char **why)
{
    if (len < 8 * n || (!allow_empty && len == 8 * n)) {
        *why = "record field too short";
        return -1;
    }
    for (int i = 0; i < n; i++)
        nums[i] = get_le(v + 8 * i, 8);
    return get_str(v + 8 * n, (uint16_t)(len - 8 * n), dst, cap, why);
}

struct census_ctx {
    struct pm_census *c;
    uint32_t cap;
};

static int census_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len,
                        const char **why)
{
    struct census_ctx *cc = ctx;
    struct pm_census *c = cc->c;
    uint64_t u = 0;
    switch (tag) {
    case TAG_TIME_NS:
        return get_u64(v, len, &c->time_ns, why);
    case TAG_COST_NS:
        return get_u64(v, len, &c->cost_ns, why);
    case TAG_OBJECTS:
        return get_u64(v, len, &c->objects, why);
    case TAG_METHOD:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        c->method = u ? PM_CENSUS_GET_OBJECTS : PM_CENSUS_GC_LISTS;
        return 0;
    case TAG_TRUNCATED:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        c->truncated = u != 0;
        return 0;
    case TAG_KIND:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        if (u > PM_CENSUS_KIND_DIFF_BASELINE) {
            *why = "unknown census kind";
            return -1;
        }
        c->kind = (uint8_t)u;
        return 0;
    case TAG_SNAPSHOTS:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        c->snapshots = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_TYPES_TOTAL:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        c->types_total = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_WALL_NS:
        return get_u64(v, len, &c->wall_ns, why);
    case TAG_MAX_SLICE_NS:
        return get_u64(v, len, &c->max_slice_ns, why);
    case TAG_SLICES:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        c->slices = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_RESTARTS:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        c->restarts = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_CENSUS_SKIP_NS:
        return get_u64(v, len, &c->skip_ns, why);
    case TAG_TYPE: {
        if (c->n_types == cc->cap) {
            uint32_t cap = cc->cap ? cc->cap * 2 : 256;
            void *t = realloc(c->types, cap * sizeof(*c->types));
            if (!t) {
                *why = "out of memory";
                return -1;
            }
            c->types = t;
            cc->cap = cap;
        }
        struct pm_type_count *tc = &c->types[c->n_types];
        uint64_t n[2];
        if (get_record(v, len, n, 2, tc->name, sizeof(tc->name), 0, why) < 0)
            return -1;
        tc->count = n[0];
        tc->delta = (int64_t)n[1];
        tc->bytes = 0;
        tc->bytes_delta = 0;
        tc->bytes_approx = 0;
        c->n_types++;
        return 0;
    }
    case TAG_TYPE_BYTES: {
        uint64_t n[3];
        char none[1];
        if (len != 24) {
            *why = "type bytes field is not 24 bytes";
            return -1;
        }
        if (!c->n_types) {
            *why = "type bytes before any type";
            return -1;
        }
        if (get_record(v, len, n, 3, none, sizeof(none), 1, why) < 0)
            return -1;
        struct pm_type_count *tc = &c->types[c->n_types - 1];
        tc->bytes = n[0];
        tc->bytes_delta = (int64_t)n[1];
        tc->bytes_approx = (n[2] & PROTO_TYPE_BYTES_APPROX) != 0;
        c->has_bytes = 1;
        return 0;
    }
    case TAG_BYTES_TOTAL:
        c->has_bytes = 1;
        return get_u64(v, len, &c->bytes_total, why);
    case TAG_BYTES_NOTE:
        return get_str(v, len, c->bytes_note, sizeof(c->bytes_note), why);
    default:
        return 0;
    }
}

void pm_census_free(struct pm_census *c)
{
    free(c->types);
    c->types = NULL;
    c->n_types = 0;
}

int proto_decode_census(const uint8_t *p, size_t len, struct pm_census *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    struct census_ctx cc = {out, 0};
    if (fields_walk(p, len, census_field, &cc, why) < 0) {
        pm_census_free(out);
        return -1;
    }
    if (!out->time_ns) {
        pm_census_free(out);
        *why = "census without a time";
        return -1;
    }
    return 0;
}

static int hunt_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct pm_hunt *h = ctx;
    uint64_t u = 0;
    switch (tag) {
    case TAG_TIME_NS:
        return get_u64(v, len, &h->time_ns, why);
    case TAG_COST_NS:
        return get_u64(v, len, &h->cost_ns, why);
    case TAG_OBJECTS:
        return get_u64(v, len, &h->objects, why);
    case TAG_CYCLES:
        return get_u64(v, len, &h->cycles, why);
    case TAG_TRUNCATED:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        h->truncated = u != 0;
        return 0;
    case TAG_SHAPE: {
        if (len < 26) {
            *why = "shape field too short";
            return -1;
        }
        size_t pl = get_le(v + 24, 2);
        if (pl == 0 || pl > (size_t)len - 26) {
            *why = "shape path length out of range";
            return -1;
        }
        if (h->n_shapes >= PM_MAX_SHAPES)
            return 0; /* more than we show: ignore the rest */
        struct pm_shape *sh = &h->shapes[h->n_shapes];
        sh->count = get_le(v, 8);
        sh->bytes = get_le(v + 8, 8);
        sh->length = get_le(v + 16, 8);
        if (get_str(v + 26, (uint16_t)pl, sh->path, sizeof(sh->path), why) < 0 ||
            get_str(v + 26 + pl, (uint16_t)(len - 26 - pl), sh->advice, sizeof(sh->advice),
                    why) < 0)
            return -1;
        h->n_shapes++;
        return 0;
    }
    default:
        return 0;
    }
}

int proto_decode_hunt(const uint8_t *p, size_t len, struct pm_hunt *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (fields_walk(p, len, hunt_field, out, why) < 0)
        return -1;
    if (!out->time_ns) {
        *why = "hunt without a time";
        return -1;
    }
    return 0;
}

static int shapes_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len,
                        const char **why)
{
    struct pm_capture *c = ctx;
    uint64_t u = 0;
    switch (tag) {
    case TAG_CAP_TIME_NS:
        return get_u64(v, len, &c->time_ns, why);
    case TAG_CAP_SINCE_NS:
        return get_u64(v, len, &c->since_ns, why);
    case TAG_CAP_BUDGET_BP:
        return get_u64(v, len, &c->budget_bp, why);
    case TAG_CAP_COST_NS:
        return get_u64(v, len, &c->cost_ns, why);
    case TAG_CAP_MAX_NS:
        return get_u64(v, len, &c->max_ns, why);
    case TAG_CAP_OBJECTS:
        return get_u64(v, len, &c->objects, why);
    case TAG_CAP_TRUNCATED:
        return get_u64(v, len, &c->truncated, why);
    case TAG_CAP_SKIPPED:
        return get_u64(v, len, &c->skipped, why);
    case TAG_CAP_SHAPES_TOTAL:
        return get_u64(v, len, &c->shapes_total, why);
    case TAG_CAP_CAPTURES:
        return get_gens(v, len, c->captures, why);
    case TAG_CAP_COLLECTIONS:
        return get_gens(v, len, c->collections, why);
    case TAG_CAP_STATE:
        return get_str(v, len, c->state, sizeof(c->state), why);
    case TAG_CAP_UNCHANGED:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        c->unchanged = u != 0;
        return 0;
    case TAG_RECENT_SHAPE: {
        if (len < 58) {
            *why = "recent shape field too short";
            return -1;
        }
        size_t pl = get_le(v + 56, 2);
        if (pl == 0 || pl > (size_t)len - 58) {
            *why = "recent shape path length out of range";
            return -1;
        }
        if (c->n_shapes >= PM_MAX_RECENT_SHAPES)
            return 0; /* more than we keep: ignore the rest */
        struct pm_recent_shape *r = &c->shapes[c->n_shapes];
        r->shape.count = get_le(v, 8);
        r->shape.bytes = get_le(v + 8, 8);
        r->shape.length = get_le(v + 16, 8);
        r->objects = get_le(v + 24, 8);
        r->est_objects = get_le(v + 32, 8);
        r->first_seen_ns = get_le(v + 40, 8);
        r->last_seen_ns = get_le(v + 48, 8);
        if (get_str(v + 58, (uint16_t)pl, r->shape.path, sizeof(r->shape.path), why) < 0 ||
            get_str(v + 58 + pl, (uint16_t)(len - 58 - pl), r->shape.advice,
                    sizeof(r->shape.advice), why) < 0)
            return -1;
        c->n_shapes++;
        return 0;
    }
    default:
        return 0;
    }
}

int proto_decode_shapes(const uint8_t *p, size_t len, struct pm_capture *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < PM_GENERATIONS; i++)
        out->captures[i] = out->collections[i] = -1;
    if (fields_walk(p, len, shapes_field, out, why) < 0)
        return -1;
    if (!out->time_ns) {
        *why = "shapes without a time";
        return -1;
    }
    return 0;
}

static int sites_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len,
                       const char **why)
{
    struct pm_sites *s = ctx;
    uint64_t u = 0;
    switch (tag) {
    case TAG_TIME_NS:
        return get_u64(v, len, &s->time_ns, why);
    case TAG_COST_NS:
        return get_u64(v, len, &s->cost_ns, why);
    case TAG_KIND:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        if (u > PM_SITES_GROWTH) {
            *why = "unknown sites kind";
            return -1;
        }
        s->kind = (uint8_t)u;
        return 0;
    case TAG_TRACED_BYTES:
        return get_i64(v, len, &s->traced_bytes, why);
    case TAG_TRACED_PEAK:
        return get_i64(v, len, &s->peak_bytes, why);
    case TAG_SITE: {
        uint64_t n[4];
        struct pm_site tmp;
        if (get_record(v, len, n, 4, tmp.where, sizeof(tmp.where), 0, why) < 0)
            return -1;
        if (s->n >= PM_MAX_SITES)
            return 0;
        tmp.size_bytes = (int64_t)n[0];
        tmp.count = (int64_t)n[1];
        tmp.size_diff = (int64_t)n[2];
        tmp.count_diff = (int64_t)n[3];
        s->sites[s->n++] = tmp;
        return 0;
    }
    default:
        return 0;
    }
}

int proto_decode_sites(const uint8_t *p, size_t len, struct pm_sites *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    out->traced_bytes = out->peak_bytes = -1;
    if (fields_walk(p, len, sites_field, out, why) < 0)
        return -1;
    if (!out->time_ns) {
        *why = "sites without a time";
        return -1;
    }
    return 0;
}

/* CHAIN: u64 count, u64 n_edges, then n_edges (u16 length, bytes); the
 * edges must fill the field exactly. */
static int why_chain(const uint8_t *v, uint16_t len, struct pm_why_chain *c, const char **why)
{
    if (len < 16) {
        *why = "chain field too short";
        return -1;
    }
    uint64_t n = get_le(v + 8, 8);
    if (n == 0 || n > PM_WHY_MAX_EDGES) {
        *why = "chain edge count out of range";
        return -1;
    }
    c->count = get_le(v, 8);
    c->n_edges = (uint32_t)n;
    size_t off = 16;
    for (uint32_t i = 0; i < c->n_edges; i++) {
        if ((size_t)len - off < 2) {
            *why = "chain edge header runs past the field";
            return -1;
        }
        size_t el = get_le(v + off, 2);
        off += 2;
        if (el > (size_t)len - off) {
            *why = "chain edge runs past the field";
            return -1;
        }
        if (get_str(v + off, (uint16_t)el, c->edges[i], sizeof(c->edges[i]), why) < 0)
            return -1;
        off += el;
    }
    if (off != len) {
        *why = "chain field has trailing bytes";
        return -1;
    }
    return 0;
}

static int why_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct pm_why *w = ctx;
    uint64_t u = 0;
    switch (tag) {
    case TAG_TIME_NS:
        return get_u64(v, len, &w->time_ns, why);
    case TAG_PAUSE_NS:
        return get_u64(v, len, &w->pause_ns, why);
    case TAG_SAMPLED:
        return get_u64(v, len, &w->sampled, why);
    case TAG_VISITED:
        return get_u64(v, len, &w->visited, why);
    case TAG_BUDGET_MS:
        return get_u64(v, len, &w->budget_ms, why);
    case TAG_COMPLETE:
        if (get_u64(v, len, &u, why) < 0)
            return -1;
        w->complete = u != 0;
        return 0;
    case TAG_WHY_TYPE:
        return get_str(v, len, w->type, sizeof(w->type), why);
    case TAG_MESSAGE:
        return get_str(v, len, w->message, sizeof(w->message), why);
    case TAG_CHAIN: {
        struct pm_why_chain tmp;
        if (why_chain(v, len, &tmp, why) < 0)
            return -1;
        if (w->n_chains < PM_WHY_MAX_CHAINS)
            w->chains[w->n_chains++] = tmp;
        return 0;
    }
    default:
        return 0;
    }
}

int proto_decode_why(const uint8_t *p, size_t len, struct pm_why *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (fields_walk(p, len, why_field, out, why) < 0)
        return -1;
    if (!out->time_ns) {
        *why = "why without a time";
        return -1;
    }
    return 0;
}

static int busy_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct proto_busy *b = ctx;
    switch (tag) {
    case TAG_PID:
        return get_i64(v, len, &b->holder_pid, why);
    case TAG_MONITORS:
        return get_u64(v, len, &b->monitors, why);
    case TAG_MONITORS_MAX:
        return get_u64(v, len, &b->max, why);
    case TAG_MONITOR_PIDS:
        return get_str(v, len, b->pids, sizeof(b->pids), why);
    default:
        return 0;
    }
}

int proto_decode_busy(const uint8_t *p, size_t len, struct proto_busy *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    return fields_walk(p, len, busy_field, out, why);
}

void proto_reader_init(struct proto_reader *r, uint32_t max_payload)
{
    memset(r, 0, sizeof(*r));
    r->max_payload = max_payload < PROTO_MAX_PAYLOAD ? max_payload : PROTO_MAX_PAYLOAD;
}

void proto_reader_free(struct proto_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

long proto_reader_fill(struct proto_reader *r, int fd)
{
    /* Drop what earlier frames consumed before reading more. */
    if (r->consumed) {
        memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
        r->len -= r->consumed;
        r->consumed = 0;
    }
    if (r->cap - r->len < 4096) {
        size_t cap = r->cap ? r->cap * 2 : 16384;
        if (cap > PROTO_HEADER_BYTES + (size_t)r->max_payload + 65536)
            cap = PROTO_HEADER_BYTES + (size_t)r->max_payload + 65536;
        if (cap <= r->len) {
            errno = EMSGSIZE;
            return -1;
        }
        uint8_t *b = realloc(r->buf, cap);
        if (!b) {
            errno = ENOMEM;
            return -1;
        }
        r->buf = b;
        r->cap = cap;
    }
    ssize_t n;
    do
        n = read(fd, r->buf + r->len, r->cap - r->len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        r->len += (size_t)n;
    return (long)n;
}

int proto_reader_next(struct proto_reader *r, struct proto_header *h, const uint8_t **payload,
                      const char **why)
{
    size_t avail = r->len - r->consumed;
    if (avail < PROTO_HEADER_BYTES)
        return 0;
    const uint8_t *p = r->buf + r->consumed;
    if (proto_decode_header(p, avail, h, why) < 0)
        return -1;
    if (h->length > r->max_payload) {
        *why = "frame larger than this side accepts";
        return -1;
    }
    if (avail - PROTO_HEADER_BYTES < h->length)
        return 0;
    *payload = p + PROTO_HEADER_BYTES;
    r->consumed += PROTO_HEADER_BYTES + h->length;
    return 1;
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

socklen_t proto_abstract_addr(struct sockaddr_un *sa, const char *name)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    size_t n = strnlen(name, sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}
