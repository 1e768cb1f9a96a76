/* Decoders of the agent's results (see proto.h): CENSUS, HUNT, SHAPES,
 * SITES and WHY. The monitor's side only; every byte is hostile. */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "proto_fields.h"

static int get_record(const uint8_t *v, uint16_t len, uint64_t *nums, int n, char *dst,
                      size_t cap, int allow_empty, const char **why)
{
    if (len < 8 * n || (!allow_empty && len == 8 * n)) {
        *why = "record field too short";
        return -1;
    }
    for (int i = 0; i < n; i++)
        nums[i] = proto_get_le(v + 8 * i, 8);
    return proto_get_str(v + 8 * n, (uint16_t)(len - 8 * n), dst, cap, why);
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
        return proto_get_u64(v, len, &c->time_ns, why);
    case TAG_COST_NS:
        return proto_get_u64(v, len, &c->cost_ns, why);
    case TAG_OBJECTS:
        return proto_get_u64(v, len, &c->objects, why);
    case TAG_METHOD:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        c->method = u ? PM_CENSUS_GET_OBJECTS : PM_CENSUS_GC_LISTS;
        return 0;
    case TAG_TRUNCATED:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        c->truncated = u != 0;
        return 0;
    case TAG_KIND:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        if (u > PM_CENSUS_KIND_DIFF_BASELINE) {
            *why = "unknown census kind";
            return -1;
        }
        c->kind = (uint8_t)u;
        return 0;
    case TAG_SNAPSHOTS:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        c->snapshots = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_TYPES_TOTAL:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        c->types_total = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_WALL_NS:
        return proto_get_u64(v, len, &c->wall_ns, why);
    case TAG_MAX_SLICE_NS:
        return proto_get_u64(v, len, &c->max_slice_ns, why);
    case TAG_SLICES:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        c->slices = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_RESTARTS:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        c->restarts = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
        return 0;
    case TAG_CENSUS_SKIP_NS:
        return proto_get_u64(v, len, &c->skip_ns, why);
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
        return proto_get_u64(v, len, &c->bytes_total, why);
    case TAG_BYTES_NOTE:
        return proto_get_str(v, len, c->bytes_note, sizeof(c->bytes_note), why);
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
    if (proto_fields_walk(p, len, census_field, &cc, why) < 0) {
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
        return proto_get_u64(v, len, &h->time_ns, why);
    case TAG_COST_NS:
        return proto_get_u64(v, len, &h->cost_ns, why);
    case TAG_OBJECTS:
        return proto_get_u64(v, len, &h->objects, why);
    case TAG_CYCLES:
        return proto_get_u64(v, len, &h->cycles, why);
    case TAG_TRUNCATED:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        h->truncated = u != 0;
        return 0;
    case TAG_SHAPE: {
        if (len < 26) {
            *why = "shape field too short";
            return -1;
        }
        size_t pl = proto_get_le(v + 24, 2);
        if (pl == 0 || pl > (size_t)len - 26) {
            *why = "shape path length out of range";
            return -1;
        }
        if (h->n_shapes >= PM_MAX_SHAPES)
            return 0; /* more than we show: ignore the rest */
        struct pm_shape *sh = &h->shapes[h->n_shapes];
        sh->count = proto_get_le(v, 8);
        sh->bytes = proto_get_le(v + 8, 8);
        sh->length = proto_get_le(v + 16, 8);
        if (proto_get_str(v + 26, (uint16_t)pl, sh->path, sizeof(sh->path), why) < 0 ||
            proto_get_str(v + 26 + pl, (uint16_t)(len - 26 - pl), sh->advice, sizeof(sh->advice),
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
    if (proto_fields_walk(p, len, hunt_field, out, why) < 0)
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
        return proto_get_u64(v, len, &c->time_ns, why);
    case TAG_CAP_SINCE_NS:
        return proto_get_u64(v, len, &c->since_ns, why);
    case TAG_CAP_BUDGET_BP:
        return proto_get_u64(v, len, &c->budget_bp, why);
    case TAG_CAP_COST_NS:
        return proto_get_u64(v, len, &c->cost_ns, why);
    case TAG_CAP_MAX_NS:
        return proto_get_u64(v, len, &c->max_ns, why);
    case TAG_CAP_OBJECTS:
        return proto_get_u64(v, len, &c->objects, why);
    case TAG_CAP_TRUNCATED:
        return proto_get_u64(v, len, &c->truncated, why);
    case TAG_CAP_SKIPPED:
        return proto_get_u64(v, len, &c->skipped, why);
    case TAG_CAP_SHAPES_TOTAL:
        return proto_get_u64(v, len, &c->shapes_total, why);
    case TAG_CAP_CAPTURES:
        return proto_get_gens(v, len, c->captures, why);
    case TAG_CAP_COLLECTIONS:
        return proto_get_gens(v, len, c->collections, why);
    case TAG_CAP_STATE:
        return proto_get_str(v, len, c->state, sizeof(c->state), why);
    case TAG_CAP_UNCHANGED:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        c->unchanged = u != 0;
        return 0;
    case TAG_RECENT_SHAPE: {
        if (len < 58) {
            *why = "recent shape field too short";
            return -1;
        }
        size_t pl = proto_get_le(v + 56, 2);
        if (pl == 0 || pl > (size_t)len - 58) {
            *why = "recent shape path length out of range";
            return -1;
        }
        if (c->n_shapes >= PM_MAX_RECENT_SHAPES)
            return 0; /* more than we keep: ignore the rest */
        struct pm_recent_shape *r = &c->shapes[c->n_shapes];
        r->shape.count = proto_get_le(v, 8);
        r->shape.bytes = proto_get_le(v + 8, 8);
        r->shape.length = proto_get_le(v + 16, 8);
        r->objects = proto_get_le(v + 24, 8);
        r->est_objects = proto_get_le(v + 32, 8);
        r->first_seen_ns = proto_get_le(v + 40, 8);
        r->last_seen_ns = proto_get_le(v + 48, 8);
        if (proto_get_str(v + 58, (uint16_t)pl, r->shape.path, sizeof(r->shape.path), why) < 0 ||
            proto_get_str(v + 58 + pl, (uint16_t)(len - 58 - pl), r->shape.advice,
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
    if (proto_fields_walk(p, len, shapes_field, out, why) < 0)
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
        return proto_get_u64(v, len, &s->time_ns, why);
    case TAG_COST_NS:
        return proto_get_u64(v, len, &s->cost_ns, why);
    case TAG_KIND:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        if (u > PM_SITES_GROWTH) {
            *why = "unknown sites kind";
            return -1;
        }
        s->kind = (uint8_t)u;
        return 0;
    case TAG_TRACED_BYTES:
        return proto_get_i64(v, len, &s->traced_bytes, why);
    case TAG_TRACED_PEAK:
        return proto_get_i64(v, len, &s->peak_bytes, why);
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
    if (proto_fields_walk(p, len, sites_field, out, why) < 0)
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
    uint64_t n = proto_get_le(v + 8, 8);
    if (n == 0 || n > PM_WHY_MAX_EDGES) {
        *why = "chain edge count out of range";
        return -1;
    }
    c->count = proto_get_le(v, 8);
    c->n_edges = (uint32_t)n;
    size_t off = 16;
    for (uint32_t i = 0; i < c->n_edges; i++) {
        if ((size_t)len - off < 2) {
            *why = "chain edge header runs past the field";
            return -1;
        }
        size_t el = proto_get_le(v + off, 2);
        off += 2;
        if (el > (size_t)len - off) {
            *why = "chain edge runs past the field";
            return -1;
        }
        if (proto_get_str(v + off, (uint16_t)el, c->edges[i], sizeof(c->edges[i]), why) < 0)
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
        return proto_get_u64(v, len, &w->time_ns, why);
    case TAG_PAUSE_NS:
        return proto_get_u64(v, len, &w->pause_ns, why);
    case TAG_SAMPLED:
        return proto_get_u64(v, len, &w->sampled, why);
    case TAG_VISITED:
        return proto_get_u64(v, len, &w->visited, why);
    case TAG_BUDGET_MS:
        return proto_get_u64(v, len, &w->budget_ms, why);
    case TAG_COMPLETE:
        if (proto_get_u64(v, len, &u, why) < 0)
            return -1;
        w->complete = u != 0;
        return 0;
    case TAG_WHY_TYPE:
        return proto_get_str(v, len, w->type, sizeof(w->type), why);
    case TAG_MESSAGE:
        return proto_get_str(v, len, w->message, sizeof(w->message), why);
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
    if (proto_fields_walk(p, len, why_field, out, why) < 0)
        return -1;
    if (!out->time_ns) {
        *why = "why without a time";
        return -1;
    }
    return 0;
}
