/* Per-type object counts across censuses: growth, rate and leak suspects.
 *
 * Rules, in one place:
 * - A type missing from a complete census (not truncated) counts 0 then; a
 *   type missing from a truncated census is unknown then (its last count is
 *   kept, no point is recorded, and its growth streak starts again).
 * - A type that first appears after a complete census is taken to have had
 *   0 objects at that census (so its appearance counts as growth), and 0 at
 *   attach when the first census was complete; otherwise its first count is
 *   its attach count.
 * - delta_snapshot comes from the agent (count minus the count at its latest
 *   snapshot); for a type that vanished it is 0 minus what it had at that
 *   snapshot, when the snapshot has not changed since we last saw the type.
 * - rate_per_min: least-squares slope of count over time across the last
 *   `history` known points, per minute; 0 with fewer than two points.
 * - suspect: the count grew at each of the last K censuses (K increases in
 *   a row, so K + 1 known points), or the bytes did (a few containers
 *   that keep growing leak memory with a flat count).
 * - bytes follow the same rules as counts (deltas, rate, streak); they are
 *   known only while censuses carry them (an agent without bytes: none). */
#include "typetable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct typetable_point {
    uint64_t time_ns;
    uint64_t count;
    uint64_t bytes;
};

struct typetable_type {
    char name[PM_TYPE_NAME_MAX];
    uint64_t count;        /* latest known */
    uint64_t attach_count; /* at the first census, or when first seen */
    int64_t delta_snapshot;
    uint64_t snap_base;    /* count at the agent's latest snapshot, if snap_known */
    uint32_t snap_id;      /* snapshots the agent held when snap_base was learnt */
    bool snap_known;
    unsigned streak;       /* consecutive increases ending at the latest census */
    unsigned bytes_streak; /* the same for bytes */
    uint64_t bytes, attach_bytes, snap_base_bytes;
    int64_t bytes_delta_snapshot;
    bool bytes_approx;
    struct typetable_point *hist; /* ring of `history` points */
    unsigned hist_len, hist_head;
    /* Per update: what this census says (sums duplicate names). */
    unsigned seen_seq;
    uint64_t seen_count;
    int64_t seen_delta;
    uint64_t seen_bytes;
    int64_t seen_bytes_delta;
    bool seen_approx;
};

struct typetable {
    unsigned window, history;
    struct typetable_type *types;
    size_t n, cap;
    size_t *index; /* open addressing on the name: type index + 1, 0 empty */
    size_t index_cap;
    unsigned censuses;
    uint64_t objects;
    uint64_t bytes_total;
    bool has_bytes;
    bool have_snapshot;
    bool first_complete;
    bool prev_complete;
    uint64_t prev_time_ns;
    struct typetable_row *fixed; /* replay: recorded rows, verbatim */
    size_t nfixed;
};

static uint64_t typetable_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct typetable *typetable_new(unsigned suspect_window, unsigned history)
{
    struct typetable *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->window = suspect_window < 2 ? 2 : suspect_window;
    t->history = history < 2 ? 2 : history;
    if (t->history < t->window + 1)
        t->history = t->window + 1;
    return t;
}

void typetable_free(struct typetable *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->types[i].hist);
    free(t->types);
    free(t->index);
    free(t->fixed);
    free(t);
}

/* Duplicates a block of n elements; NULL only when n > 0 and memory is out. */
static void *typetable_dup(const void *p, size_t n, size_t size)
{
    if (!p || !n)
        return NULL;
    void *d = malloc(n * size);
    if (d)
        memcpy(d, p, n * size);
    return d;
}

struct typetable *typetable_clone(const struct typetable *src)
{
    struct typetable *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    *t = *src;
    t->types = NULL;
    t->index = NULL;
    t->fixed = NULL;
    t->n = t->cap = 0;
    /* types[i].hist are pointers too: copy each, counting them in n so
     * typetable_free releases exactly what was made. */
    if (src->n && !(t->types = calloc(src->n, sizeof(*t->types))))
        goto fail;
    t->cap = src->n;
    for (size_t i = 0; i < src->n; i++) {
        t->types[i] = src->types[i];
        t->types[i].hist = typetable_dup(src->types[i].hist, src->history,
                                         sizeof(*src->types[i].hist));
        t->n = i + 1;
        if (!t->types[i].hist)
            goto fail;
    }
    t->index_cap = src->index ? src->index_cap : 0;
    if (src->index && !(t->index = typetable_dup(src->index, src->index_cap, sizeof(*t->index))))
        goto fail;
    if (src->fixed && !(t->fixed = typetable_dup(src->fixed, src->nfixed ? src->nfixed : 1,
                                                 sizeof(*t->fixed))))
        goto fail;
    return t;
fail:
    typetable_free(t);
    return NULL;
}

static size_t *typetable_probe(size_t *index, size_t cap, const struct typetable_type *types,
                               const char *name)
{
    size_t mask = cap - 1, j = (size_t)typetable_hash(name) & mask;
    while (index[j] && strcmp(types[index[j] - 1].name, name) != 0)
        j = (j + 1) & mask;
    return &index[j];
}

static int typetable_reindex(struct typetable *t, size_t cap)
{
    size_t *index = calloc(cap, sizeof(*index));
    if (!index)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        *typetable_probe(index, cap, t->types, t->types[i].name) = i + 1;
    free(t->index);
    t->index = index;
    t->index_cap = cap;
    return 0;
}

/* The type of this name, created if new; NULL on no memory. */
static struct typetable_type *typetable_get(struct typetable *t, const char *name, bool *created)
{
    *created = false;
    if (t->index_cap) {
        size_t *slot = typetable_probe(t->index, t->index_cap, t->types, name);
        if (*slot)
            return &t->types[*slot - 1];
    }
    if ((t->n + 1) * 2 > t->index_cap &&
        typetable_reindex(t, t->index_cap ? t->index_cap * 2 : 256) < 0)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 128;
        struct typetable_type *ty = realloc(t->types, cap * sizeof(*ty));
        if (!ty)
            return NULL;
        t->types = ty;
        t->cap = cap;
    }
    struct typetable_type *ty = &t->types[t->n];
    memset(ty, 0, sizeof(*ty));
    ty->hist = calloc(t->history, sizeof(*ty->hist));
    if (!ty->hist)
        return NULL;
    size_t len = strnlen(name, sizeof(ty->name) - 1);
    memcpy(ty->name, name, len);
    ty->name[len] = 0;
    *typetable_probe(t->index, t->index_cap, t->types, ty->name) = t->n + 1;
    t->n++;
    *created = true;
    return ty;
}

static void typetable_push(struct typetable *t, struct typetable_type *ty, uint64_t time_ns,
                           uint64_t count, uint64_t bytes)
{
    if (ty->hist_len) {
        const struct typetable_point *last =
            &ty->hist[(ty->hist_head + ty->hist_len - 1) % t->history];
        ty->streak = count > last->count ? ty->streak + 1 : 0;
        ty->bytes_streak = bytes > last->bytes ? ty->bytes_streak + 1 : 0;
    }
    if (ty->hist_len == t->history) {
        ty->hist_head = (ty->hist_head + 1) % t->history;
        ty->hist_len--;
    }
    ty->hist[(ty->hist_head + ty->hist_len) % t->history] =
        (struct typetable_point){time_ns, count, bytes};
    ty->hist_len++;
    ty->count = count;
    ty->bytes = bytes;
}

void typetable_update(struct typetable *t, const struct pm_census *c)
{
    if (!t || !c || c->kind != PM_CENSUS_KIND_CENSUS || t->fixed)
        return;
    unsigned seq = t->censuses + 1;
    bool first = t->censuses == 0;
    bool complete = !c->truncated;
    for (uint32_t i = 0; i < c->n_types; i++) {
        const struct pm_type_count *tc = &c->types[i];
        if (!tc->name[0])
            continue;
        bool created;
        struct typetable_type *ty = typetable_get(t, tc->name, &created);
        if (!ty)
            continue;
        if (created) {
            if (!first && t->prev_complete)
                typetable_push(t, ty, t->prev_time_ns, 0, 0); /* it had none then */
            ty->attach_count = first || t->first_complete ? 0 : tc->count;
            ty->attach_bytes = first || t->first_complete ? 0 : tc->bytes;
        }
        if (ty->seen_seq == seq) {
            ty->seen_count += tc->count;
            ty->seen_delta += tc->delta;
            ty->seen_bytes += tc->bytes;
            ty->seen_bytes_delta += tc->bytes_delta;
            ty->seen_approx |= tc->bytes_approx;
        } else {
            ty->seen_seq = seq;
            ty->seen_count = tc->count;
            ty->seen_delta = tc->delta;
            ty->seen_bytes = tc->bytes;
            ty->seen_bytes_delta = tc->bytes_delta;
            ty->seen_approx = tc->bytes_approx;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        struct typetable_type *ty = &t->types[i];
        if (ty->seen_seq == seq) {
            typetable_push(t, ty, c->time_ns, ty->seen_count, ty->seen_bytes);
            if (first) {
                ty->attach_count = ty->seen_count;
                ty->attach_bytes = ty->seen_bytes;
            }
            ty->delta_snapshot = c->snapshots ? ty->seen_delta : 0;
            ty->bytes_delta_snapshot = c->snapshots ? ty->seen_bytes_delta : 0;
            ty->snap_known = c->snapshots != 0;
            ty->snap_base = (uint64_t)((int64_t)ty->seen_count - ty->seen_delta);
            ty->snap_base_bytes = (uint64_t)((int64_t)ty->seen_bytes - ty->seen_bytes_delta);
            ty->snap_id = c->snapshots;
            ty->bytes_approx = ty->seen_approx;
        } else if (complete) {
            typetable_push(t, ty, c->time_ns, 0, 0);
            bool same = c->snapshots && ty->snap_known && ty->snap_id == c->snapshots;
            ty->delta_snapshot = same ? -(int64_t)ty->snap_base : 0;
            ty->bytes_delta_snapshot = same ? -(int64_t)ty->snap_base_bytes : 0;
        } else {
            ty->streak = 0; /* unknown this time: growth must be seen again */
            ty->bytes_streak = 0;
            if (!c->snapshots || !ty->snap_known || ty->snap_id != c->snapshots) {
                ty->delta_snapshot = 0;
                ty->bytes_delta_snapshot = 0;
            }
        }
    }
    if (first)
        t->first_complete = complete;
    t->prev_complete = complete;
    t->prev_time_ns = c->time_ns;
    t->objects = c->objects;
    t->has_bytes = c->has_bytes;
    t->bytes_total = c->bytes_total;
    t->have_snapshot = c->snapshots != 0;
    t->censuses = seq;
}

size_t typetable_size(const struct typetable *t)
{
    return !t ? 0 : t->fixed ? t->nfixed : t->n;
}

uint64_t typetable_objects(const struct typetable *t)
{
    return t ? t->objects : 0;
}

unsigned typetable_censuses(const struct typetable *t)
{
    return t ? t->censuses : 0;
}

bool typetable_bytes_total(const struct typetable *t, uint64_t *bytes)
{
    *bytes = t && t->has_bytes ? t->bytes_total : 0;
    return t && t->has_bytes;
}

bool typetable_grows_by_bytes(const struct typetable_row *r)
{
    if (!r->bytes_known || r->bytes_rate_per_min <= 0 || !r->bytes)
        return false;
    if (r->rate_per_min <= 0 || !r->count)
        return true;
    return r->bytes_rate_per_min / (double)r->bytes > r->rate_per_min / (double)r->count;
}

bool typetable_have_snapshot(const struct typetable *t)
{
    return t && t->have_snapshot;
}

/* Least-squares slope per minute of count (bytes = false) or bytes. */
static double typetable_rate(const struct typetable *t, const struct typetable_type *ty,
                             bool bytes)
{
    if (ty->hist_len < 2)
        return 0;
    const struct typetable_point *last = &ty->hist[(ty->hist_head + ty->hist_len - 1) % t->history];
    double sx = 0, sy = 0;
    for (unsigned i = 0; i < ty->hist_len; i++) {
        const struct typetable_point *p = &ty->hist[(ty->hist_head + i) % t->history];
        sx += ((double)p->time_ns - (double)last->time_ns) / 1e9;
        sy += (double)(bytes ? p->bytes : p->count);
    }
    double mx = sx / ty->hist_len, my = sy / ty->hist_len, sxy = 0, sxx = 0;
    for (unsigned i = 0; i < ty->hist_len; i++) {
        const struct typetable_point *p = &ty->hist[(ty->hist_head + i) % t->history];
        double x = ((double)p->time_ns - (double)last->time_ns) / 1e9 - mx;
        sxy += x * ((double)(bytes ? p->bytes : p->count) - my);
        sxx += x * x;
    }
    return sxx > 0 ? sxy / sxx * 60.0 : 0;
}

/* qsort_r (glibc) carries the sort key: no global, so two tables can be
 * sorted at once (the dashboard and a JSON writer). */
static int typetable_cmp(const void *a, const void *b, void *ctx)
{
    const struct typetable_row *x = a, *y = b;
    enum typetable_sort key = *(const enum typetable_sort *)ctx;
    int c = 0;
    switch (key) {
    case TYPETABLE_BY_COUNT:
        c = x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
        break;
    case TYPETABLE_BY_DELTA_ATTACH:
        c = x->delta_attach < y->delta_attach ? 1 : x->delta_attach > y->delta_attach ? -1 : 0;
        break;
    case TYPETABLE_BY_DELTA_SNAPSHOT:
        c = x->delta_snapshot < y->delta_snapshot    ? 1
            : x->delta_snapshot > y->delta_snapshot ? -1
                                                    : 0;
        break;
    case TYPETABLE_BY_RATE:
        c = x->rate_per_min < y->rate_per_min ? 1 : x->rate_per_min > y->rate_per_min ? -1 : 0;
        break;
    case TYPETABLE_BY_BYTES:
        c = x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
        break;
    case TYPETABLE_BY_BYTES_RATE:
        c = x->bytes_rate_per_min < y->bytes_rate_per_min    ? 1
            : x->bytes_rate_per_min > y->bytes_rate_per_min ? -1
                                                            : 0;
        break;
    case TYPETABLE_BY_NAME:
        break;
    }
    return c ? c : strcmp(x->name, y->name);
}

int typetable_load(struct typetable *t, const struct typetable_row *rows, size_t n,
                   uint64_t objects)
{
    struct typetable_row *copy = malloc((n ? n : 1) * sizeof(*copy));
    if (!copy)
        return -ENOMEM;
    memcpy(copy, rows, n * sizeof(*copy));
    free(t->fixed);
    t->fixed = copy;
    t->nfixed = n;
    t->objects = objects;
    return 0;
}

void typetable_load_bytes(struct typetable *t, bool has, uint64_t bytes_total)
{
    t->has_bytes = has;
    t->bytes_total = bytes_total;
}

size_t typetable_rows(const struct typetable *t, enum typetable_sort sort, const char *filter,
                      struct typetable_row *out, size_t cap)
{
    if (!t || !out || !cap || !(t->fixed ? t->nfixed : t->n))
        return 0;
    size_t total = t->fixed ? t->nfixed : t->n;
    struct typetable_row *all = malloc(total * sizeof(*all));
    if (!all)
        return 0;
    size_t n = 0;
    for (size_t i = 0; t->fixed && i < t->nfixed; i++)
        if (!filter || !*filter || strstr(t->fixed[i].name, filter))
            all[n++] = t->fixed[i];
    for (size_t i = 0; !t->fixed && i < t->n; i++) {
        const struct typetable_type *ty = &t->types[i];
        if (filter && *filter && !strstr(ty->name, filter))
            continue;
        struct typetable_row *r = &all[n++];
        memcpy(r->name, ty->name, sizeof(r->name));
        r->count = ty->count;
        r->delta_attach = (int64_t)ty->count - (int64_t)ty->attach_count;
        r->delta_snapshot = ty->delta_snapshot;
        r->rate_per_min = typetable_rate(t, ty, false);
        r->bytes_known = t->has_bytes;
        r->bytes_approx = t->has_bytes && ty->bytes_approx;
        r->bytes = t->has_bytes ? ty->bytes : 0;
        r->bytes_delta_attach = t->has_bytes ? (int64_t)ty->bytes - (int64_t)ty->attach_bytes : 0;
        r->bytes_delta_snapshot = t->has_bytes ? ty->bytes_delta_snapshot : 0;
        r->bytes_rate_per_min = t->has_bytes ? typetable_rate(t, ty, true) : 0;
        r->suspect = ty->streak >= t->window || (t->has_bytes && ty->bytes_streak >= t->window);
    }
    if (n)
        qsort_r(all, n, sizeof(*all), typetable_cmp, &sort);
    size_t w = n < cap ? n : cap;
    memcpy(out, all, w * sizeof(*out));
    free(all);
    return w;
}
