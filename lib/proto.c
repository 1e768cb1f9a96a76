/* Wire protocol decoding of the stream and the frames both sides read
 * (see proto.h for the format): header, HELLO, SAMPLE, COMMAND, REPLY, BUSY,
 * the reader, and the primitives lib/proto_fields.h shares with
 * lib/proto_encode.c and lib/proto_results.c. Compiled into the monitor
 * and the agent; the decoders assume every byte is hostile. */
#include "proto.h"
#include "proto_fields.h"

#include <errno.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

void proto_put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t proto_get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int proto_decode_header(const uint8_t *buf, size_t len, struct proto_header *h, const char **why)
{
    if (len < PROTO_HEADER_BYTES) {
        *why = "short header";
        return -1;
    }
    if (proto_get_le(buf, 4) != PROTO_MAGIC) {
        *why = "bad magic (not a pymemtop agent)";
        return -1;
    }
    h->version = (uint16_t)proto_get_le(buf + 4, 2);
    h->type = (uint16_t)proto_get_le(buf + 6, 2);
    h->length = (uint32_t)proto_get_le(buf + 8, 4);
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

int proto_fields_walk(const uint8_t *p, size_t len, proto_field_fn on, void *ctx, const char **why)
{
    size_t off = 0;
    while (off < len) {
        if (len - off < 4) {
            *why = "truncated field header";
            return -1;
        }
        uint16_t tag = (uint16_t)proto_get_le(p + off, 2);
        uint16_t flen = (uint16_t)proto_get_le(p + off + 2, 2);
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

int proto_want_len(uint16_t len, uint16_t expect, const char **why)
{
    if (len != expect) {
        *why = "field has the wrong length";
        return -1;
    }
    return 0;
}

/* Copies a string field into a fixed buffer, truncating; rejects NUL bytes
 * so that a C string never hides data. */
int proto_get_str(const uint8_t *v, uint16_t len, char *dst, size_t cap, const char **why)
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

int proto_get_u64(const uint8_t *v, uint16_t len, uint64_t *out, const char **why)
{
    if (proto_want_len(len, 8, why) < 0)
        return -1;
    *out = proto_get_le(v, 8);
    return 0;
}

int proto_get_i64(const uint8_t *v, uint16_t len, int64_t *out, const char **why)
{
    uint64_t u;
    if (proto_get_u64(v, len, &u, why) < 0)
        return -1;
    *out = (int64_t)u;
    return 0;
}

int proto_get_gens(const uint8_t *v, uint16_t len, int64_t out[PM_GENERATIONS], const char **why)
{
    if (proto_want_len(len, 8 * PM_GENERATIONS, why) < 0)
        return -1;
    for (int i = 0; i < PM_GENERATIONS; i++)
        out[i] = (int64_t)proto_get_le(v + 8 * i, 8);
    return 0;
}

static int hello_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct pm_hello *h = ctx;
    uint64_t u = 0;
    switch (tag) {
    case TAG_AGENT_VERSION:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        h->agent_version = (uint32_t)u;
        return 0;
    case TAG_PROTOCOL:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        h->protocol_version = (uint32_t)u;
        return 0;
    case TAG_PID:
        return proto_get_i64(v, len, &h->pid, why);
    case TAG_HEXVERSION:
        return proto_get_u64(v, len, &h->hexversion, why);
    case TAG_PYTHON:
        return proto_get_str(v, len, h->python, sizeof(h->python), why);
    case TAG_LOADED_NS:
        return proto_get_u64(v, len, &h->loaded_ns, why);
    case TAG_CLIENTS:
        return proto_get_u64(v, len, &h->clients_served, why);
    case TAG_INTERVAL_MS:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        h->interval_ms = u > 3600000 ? 3600000 : (uint32_t)u;
        return 0;
    case TAG_LAYOUT:
        return proto_get_str(v, len, h->layout, sizeof(h->layout), why);
    case TAG_RAW_PATHS:
        return proto_get_u64(v, len, &h->raw_paths, why);
    case TAG_LAYOUT_NOTE:
        return proto_get_str(v, len, h->layout_note, sizeof(h->layout_note), why);
    case TAG_MONITORS:
        if (proto_get_u64(v, len, &u, why) < 0)
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
    if (proto_fields_walk(p, len, hello_field, out, why) < 0)
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
        return proto_get_u64(v, len, &s->time_ns, why);
    case TAG_GC_ENABLED:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        s->gc_enabled = u != 0;
        return 0;
    case TAG_GC_THRESHOLDS:
        return proto_get_gens(v, len, s->thresholds, why);
    case TAG_GC_COUNTS:
        return proto_get_gens(v, len, s->counts, why);
    case TAG_GC_COLLECTIONS:
        return proto_get_gens(v, len, s->collections, why);
    case TAG_GC_COLLECTED:
        return proto_get_gens(v, len, s->collected, why);
    case TAG_GC_UNCOLLECTABLE:
        return proto_get_gens(v, len, s->uncollectable, why);
    case TAG_GC_DURATION_NS:
        return proto_get_gens(v, len, s->gc_duration_ns, why);
    case TAG_GC_CANDIDATES:
        return proto_get_gens(v, len, s->gc_candidates, why);
    case TAG_ALLOC_BLOCKS:
        return proto_get_i64(v, len, &s->alloc_blocks, why);
    case TAG_PAUSE_COUNT:
        return proto_get_u64(v, len, &s->pause_count, why);
    case TAG_PAUSE_TOTAL_NS:
        return proto_get_u64(v, len, &s->pause_total_ns, why);
    case TAG_PAUSE_MAX_NS:
        return proto_get_u64(v, len, &s->pause_max_ns, why);
    case TAG_OBSERVER_NS:
        return proto_get_u64(v, len, &s->observer_ns, why);
    case TAG_SAMPLE_COST_NS:
        return proto_get_u64(v, len, &s->sample_cost_ns, why);
    case TAG_PAUSES_DROPPED:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        s->pauses_dropped = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_ALLOC_ARENAS:
        return proto_get_i64(v, len, &s->alloc.arenas, why);
    case TAG_ALLOC_ARENAS_HW:
        return proto_get_i64(v, len, &s->alloc.arenas_highwater, why);
    case TAG_PYMALLOC_USED:
        return proto_get_i64(v, len, &s->alloc.pymalloc_used_bytes, why);
    case TAG_PYMALLOC_FREE:
        return proto_get_i64(v, len, &s->alloc.pymalloc_free_bytes, why);
    case TAG_PYMALLOC_TIME_NS:
        return proto_get_u64(v, len, &s->alloc.pymalloc_time_ns, why);
    case TAG_PYMALLOC_COST_NS:
        return proto_get_u64(v, len, &s->alloc.pymalloc_cost_ns, why);
    case TAG_MALLOC_USED:
        return proto_get_i64(v, len, &s->alloc.malloc_used_bytes, why);
    case TAG_MALLOC_FREE:
        return proto_get_i64(v, len, &s->alloc.malloc_free_bytes, why);
    case TAG_MMAP_BYTES:
        return proto_get_i64(v, len, &s->alloc.mmap_bytes, why);
    case TAG_BLOCKS_COST_NS:
        return proto_get_u64(v, len, &s->alloc.blocks_cost_ns, why);
    case TAG_HOOK_ON:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        s->alloc.hook_on = u != 0;
        return 0;
    case TAG_HOOK_CALLS:
        return proto_get_gens(v, len, (int64_t *)s->alloc.hook_calls, why);
    case TAG_HOOK_BYTES:
        return proto_get_gens(v, len, (int64_t *)s->alloc.hook_bytes, why);
    case TAG_HOOK_COST_NS:
        return proto_get_u64(v, len, &s->alloc.hook_cost_ns, why);
    case TAG_GARBAGE_LEN:
        return proto_get_i64(v, len, &s->garbage_len, why);
    case TAG_TRACEMALLOC_ON:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        s->tracemalloc_on = u != 0;
        return 0;
    case TAG_TRACED_BYTES:
        return proto_get_i64(v, len, &s->traced_bytes, why);
    case TAG_TRACED_PEAK:
        return proto_get_i64(v, len, &s->traced_peak_bytes, why);
    case TAG_CENSUS_COST_NS:
        return proto_get_u64(v, len, &s->census_cost_ns, why);
    case TAG_CENSUS_INTERVAL_MS:
        return proto_get_u64(v, len, &s->census_interval_ms, why);
    case TAG_PYMALLOC_SKIP_NS:
        return proto_get_u64(v, len, &s->alloc.pymalloc_skip_ns, why);
    case TAG_BLOCKS_SKIP_NS:
        return proto_get_u64(v, len, &s->alloc.blocks_skip_ns, why);
    case TAG_HOLD_MAX_NS:
        return proto_get_u64(v, len, &s->hold_max.ns, why);
    case TAG_HOLD_MAX_CPU_NS:
        return proto_get_u64(v, len, &s->hold_max.cpu_ns, why);
    case TAG_HOLD_MAX_GC_NS:
        return proto_get_u64(v, len, &s->hold_max.gc_ns, why);
    case TAG_HOLD_MAX_WHAT:
        return proto_get_str(v, len, s->hold_max.what, sizeof(s->hold_max.what), why);
    case TAG_TM_LEASE_LEFT_MS:
        return proto_get_u64(v, len, &s->tm_lease_left_ms, why);
    case TAG_TM_OWNER:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        s->tm_owner = u <= PM_TM_OWNER_PROGRAM ? (uint8_t)u : PM_TM_OWNER_NONE;
        return 0;
    case TAG_MONITORS:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        s->monitors = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_PAUSE: {
        if (proto_want_len(len, PROTO_PAUSE_BYTES, why) < 0)
            return -1;
        if (s->n_pauses >= PM_MAX_PAUSES_PER_SAMPLE) {
            s->pauses_dropped++;
            return 0;
        }
        uint64_t gen = proto_get_le(v + 32, 8);
        if (gen >= PM_GENERATIONS) {
            *why = "pause with a generation out of range";
            return -1;
        }
        struct pm_gc_pause *pz = &s->pauses[s->n_pauses++];
        pz->end_ns = proto_get_le(v, 8);
        pz->pause_ns = proto_get_le(v + 8, 8);
        pz->collected = (int64_t)proto_get_le(v + 16, 8);
        pz->uncollectable = (int64_t)proto_get_le(v + 24, 8);
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
    if (proto_fields_walk(p, len, sample_field, out, why) < 0)
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
        return proto_get_u64(v, len, &c->id, why);
    case TAG_CMD_NAME:
        return proto_get_str(v, len, c->name, sizeof(c->name), why);
    case TAG_CMD_ARG:
        return proto_get_i64(v, len, &c->arg, why);
    case TAG_CMD_TEXT:
        return proto_get_str(v, len, c->text, sizeof(c->text), why);
    case TAG_CMD_FLAGS:
        return proto_get_u64(v, len, &c->flags, why);
    case TAG_LEASE_S:
        if (proto_get_i64(v, len, &c->lease_s, why) < 0)
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
    if (proto_fields_walk(p, len, command_field, out, why) < 0)
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
        return proto_get_u64(v, len, &r->id, why);
    case TAG_STATUS:
        return proto_get_i64(v, len, &r->status, why);
    case TAG_MESSAGE:
        return proto_get_str(v, len, r->message, sizeof(r->message), why);
    case TAG_VALUE:
        return proto_get_i64(v, len, &r->value, why);
    case TAG_PAUSE_NS:
        return proto_get_u64(v, len, &r->pause_ns, why);
    case TAG_MAX_HOLD_NS:
        return proto_get_u64(v, len, &r->max_hold_ns, why);
    case TAG_PREDICT_NS:
        return proto_get_u64(v, len, &r->predict_ns, why);
    default:
        return 0;
    }
}

int proto_decode_reply(const uint8_t *p, size_t len, struct pm_reply *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    return proto_fields_walk(p, len, reply_field, out, why);
}

/* A record field: n 8-byte integers then a string of 1..cap-1 bytes (0 allowed
 * when allow_empty). */
static int busy_field(void *ctx, uint16_t tag, const uint8_t *v, uint16_t len, const char **why)
{
    struct proto_busy *b = ctx;
    switch (tag) {
    case TAG_PID:
        return proto_get_i64(v, len, &b->holder_pid, why);
    case TAG_MONITORS:
        return proto_get_u64(v, len, &b->monitors, why);
    case TAG_MONITORS_MAX:
        return proto_get_u64(v, len, &b->max, why);
    case TAG_MONITOR_PIDS:
        return proto_get_str(v, len, b->pids, sizeof(b->pids), why);
    default:
        return 0;
    }
}

int proto_decode_busy(const uint8_t *p, size_t len, struct proto_busy *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    return proto_fields_walk(p, len, busy_field, out, why);
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

socklen_t proto_abstract_addr(struct sockaddr_un *sa, const char *name)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    size_t n = strnlen(name, sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}
