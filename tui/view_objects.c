/* 2. Objects: the type table (count, shallow bytes, change since attach and
 * since the snapshot, rate per minute of count and of bytes, suspect mark),
 * sorted by any column, filtered with /; or, after d, the latest snapshot
 * diff. A "~" before bytes: approximate (basicsize only, agent_census_bytes.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "derive.h"
#include "format.h"
#include "graph.h"
#include "view.h"

enum col { COL_NAME, COL_COUNT, COL_BYTES, COL_ATTACH, COL_SNAP, COL_RATE, COL_BRATE,
           COL_SUSPECT, NCOLS };

static const struct column_spec specs[NCOLS] = {
    [COL_NAME] = {10, 10, true},  [COL_COUNT] = {7, 9, false}, [COL_BYTES] = {9, 8, false},
    [COL_ATTACH] = {8, 7, false}, [COL_SNAP] = {8, 4, false},  [COL_RATE] = {9, 6, false},
    [COL_BRATE] = {10, 5, false}, [COL_SUSPECT] = {1, 8, false},
};
static const char *const heads[NCOLS] = {"type",     "count",    "bytes",   "attach",
                                         "snapshot", "rate/min", "bytes/min", "!"};
static const char *const sort_names[NCOLS] = {
    "name", "count", "bytes", "change since attach", "change since snapshot", "rate",
    "bytes rate", "suspect"};

static struct {
    enum col sort;
    bool reverse;
    char filter[64];
    size_t *idx, n, cap; /* rows shown, sorted and filtered */
    uint64_t idx_gen;    /* typecache generation of idx; 0 = stale */
    uint64_t diff_time;  /* diff the diff index was made from */
    size_t top, sel;     /* first row shown, selected row */
    int page;            /* rows per screen, from the last draw */
} ob = {.sort = COL_COUNT};

void view_objects_set_filter(const char *text)
{
    snprintf(ob.filter, sizeof ob.filter, "%s", text ? text : "");
    ob.idx_gen = 0;
    ob.diff_time = 0;
    ob.top = ob.sel = 0;
}

const char *view_objects_filter(void)
{
    return ob.filter;
}

/* What a comparator needs, passed through qsort_r (glibc) instead of globals. */
struct sort_ctx {
    const struct typetable_row *rows; /* or */
    const struct pm_type_count *diff;
    enum col col;
    bool reverse;
};

static int cmp_num(double a, double b)
{
    return a < b ? 1 : a > b ? -1 : 0; /* descending */
}

static int cmp_rows(const void *pa, const void *pb, void *ctx)
{
    const struct sort_ctx *k = ctx;
    const struct typetable_row *a = &k->rows[*(const size_t *)pa], *b = &k->rows[*(const size_t *)pb];
    int c = 0;
    switch (k->col) {
    case COL_NAME: c = strcmp(a->name, b->name); break;
    case COL_COUNT: c = cmp_num((double)a->count, (double)b->count); break;
    case COL_BYTES: c = cmp_num((double)a->bytes, (double)b->bytes); break;
    case COL_BRATE: c = cmp_num(a->bytes_rate_per_min, b->bytes_rate_per_min); break;
    case COL_ATTACH: c = cmp_num((double)a->delta_attach, (double)b->delta_attach); break;
    case COL_SNAP: c = cmp_num((double)a->delta_snapshot, (double)b->delta_snapshot); break;
    case COL_RATE: c = cmp_num(a->rate_per_min, b->rate_per_min); break;
    case COL_SUSPECT:
        c = cmp_num(a->suspect, b->suspect);
        if (!c)
            c = cmp_num(a->rate_per_min, b->rate_per_min);
        break;
    default: break;
    }
    if (!c)
        c = cmp_num((double)a->count, (double)b->count);
    if (!c)
        c = strcmp(a->name, b->name);
    return k->reverse ? -c : c;
}

static int cmp_diff(const void *pa, const void *pb, void *ctx)
{
    const struct sort_ctx *k = ctx;
    const struct pm_type_count *a = &k->diff[*(const size_t *)pa], *b = &k->diff[*(const size_t *)pb];
    int c = 0;
    switch (k->col) {
    case COL_NAME: c = strcmp(a->name, b->name); break;
    case COL_COUNT: c = cmp_num((double)a->count, (double)b->count); break;
    case COL_BYTES: c = cmp_num((double)a->bytes, (double)b->bytes); break;
    default: c = cmp_num((double)a->delta, (double)b->delta); break;
    }
    if (!c)
        c = strcmp(a->name, b->name);
    return k->reverse ? -c : c;
}

static bool reserve(size_t n)
{
    if (n <= ob.cap)
        return true;
    size_t cap = n + n / 2 + 64;
    size_t *p = realloc(ob.idx, cap * sizeof *p);
    if (!p)
        return false;
    ob.idx = p;
    ob.cap = cap;
    return true;
}

static void rebuild(const struct ui *u)
{
    const struct typecache *tc = u->types;
    if (u->diff_mode) {
        const struct pm_census *d = &u->s->diff;
        if (ob.diff_time == d->time_ns + 1)
            return;
        ob.diff_time = d->time_ns + 1;
        ob.n = 0;
        if (!u->s->have_diff || !reserve(d->n_types))
            return;
        for (size_t i = 0; i < d->n_types; i++)
            if ((!ob.filter[0] || strcasestr(d->types[i].name, ob.filter)) && d->types[i].delta)
                ob.idx[ob.n++] = i;
        struct sort_ctx k = {.diff = d->types, .col = ob.sort, .reverse = ob.reverse};
        if (ob.n) /* qsort with a NULL base is undefined, even for 0 items */
            qsort_r(ob.idx, ob.n, sizeof ob.idx[0], cmp_diff, &k);
        return;
    }
    if (ob.idx_gen == tc->gen)
        return;
    ob.idx_gen = tc->gen;
    ob.n = 0;
    if (!reserve(tc->n))
        return;
    for (size_t i = 0; i < tc->n; i++)
        if (!ob.filter[0] || strcasestr(tc->rows[i].name, ob.filter))
            ob.idx[ob.n++] = i;
    struct sort_ctx k = {.rows = tc->rows, .col = ob.sort, .reverse = ob.reverse};
    if (ob.n)
        qsort_r(ob.idx, ob.n, sizeof ob.idx[0], cmp_rows, &k);
}

static void rate_str(char *buf, size_t len, double r)
{
    char v[16];
    format_count(v, sizeof v, (int64_t)llround(fabs(r)));
    snprintf(buf, len, "%c%s", r < -0.5 ? '-' : r > 0.5 ? '+' : ' ', ui_trim(v));
}

/* Signed bytes per minute: "+1.21 MiB", " 0 B", "-512 B". */
static void bytes_rate_str(char *buf, size_t len, double r)
{
    char v[16];
    format_bytes(v, sizeof v, (uint64_t)llround(fabs(r)));
    snprintf(buf, len, "%c%s", r < -0.5 ? '-' : r > 0.5 ? '+' : ' ', ui_trim(v));
}

static void bytes_str(char *buf, size_t len, uint64_t bytes, bool approx)
{
    char v[16];
    format_bytes(v, sizeof v, bytes);
    snprintf(buf, len, "%s%s", approx ? "~" : "", ui_trim(v));
}

static void objects_draw(struct ui *u, WINDOW *w, int h, int wd)
{
    const struct session *s = u->s;
    const struct typecache *tc = u->types;
    rebuild(u);
    char extra[200], v[32];
    const char *arrow = u->utf8 ? (ob.reverse ? "\xe2\x96\xb2" : "\xe2\x96\xbc") : (ob.reverse ? "^" : "v");
    struct rect title = {0, 0, 1, wd};
    if (u->diff_mode) {
        const struct pm_census *d = &s->diff;
        if (!s->have_diff)
            snprintf(extra, sizeof extra, "waiting for the diff...  (d: back to live counts)");
        else
            snprintf(extra, sizeof extra, "%s: %zu types changed  (d: back to live counts)",
                     d->kind == PM_CENSUS_KIND_DIFF_BASELINE ? "first -> latest snapshot"
                                                             : "previous -> latest snapshot",
                     ob.n);
        ui_rule(u, w, title, "Snapshot diff", extra, u->th.dim);
    } else {
        format_count(v, sizeof v, (int64_t)s->census.objects);
        /* Bytes, and the share of the allocators' used bytes they explain. */
        char bytes_part[64] = "", bv[16], pct[16];
        uint64_t bytes;
        if (typetable_bytes_total(s->types, &bytes)) {
            format_bytes(bv, sizeof bv, bytes);
            double share = derive_bytes_share(bytes, &s->agent.alloc);
            format_pct(pct, sizeof pct, share);
            snprintf(bytes_part, sizeof bytes_part, ", %s%s%s%s", ui_trim(bv),
                     share >= 0 ? " (" : "", share >= 0 ? ui_trim(pct) : "",
                     share >= 0 ? " of heap)" : "");
        }
        /* The "N-M of K" pager takes the rule's right end: on a narrow
         * screen the census age gives it room. */
        char age_part[40] = "";
        if (!(ob.n > (size_t)(h - 2) && wd < 110))
            ui_census_age(u, age_part, sizeof age_part);
        if (s->censuses)
            snprintf(extra, sizeof extra, "%zu types, %s objects%s%s%s%s%s", tc->types_total,
                     ui_trim(v), bytes_part, age_part, ob.filter[0] ? ", filter '" : "",
                     ob.filter, ob.filter[0] ? "'" : "");
        else
            snprintf(extra, sizeof extra, "waiting for the first census (n: count now)");
        /* The periodic census was left out: gc.get_objects() is one call on
         * this build and would pause the target longer than max_pause_ms. */
        if (s->census_skip_ns) {
            char d[16];
            format_duration(d, sizeof d, s->census_skip_ns);
            snprintf(extra, sizeof extra, "census paused: it would stop the target %s (n: now)",
                     ui_trim(d));
        }
        ui_rule(u, w, title, "Objects", extra, s->census_skip_ns ? u->th.warn : u->th.dim);
    }

    struct column_pos pos[NCOLS];
    layout_columns(specs, NCOLS, wd, 1, pos);
    bool diff = u->diff_mode;
    for (int c = 0; c < NCOLS; c++) {
        if (!pos[c].w)
            continue;
        const char *hd = heads[c];
        if (diff && c == COL_ATTACH)
            hd = "change";
        if (diff && (c == COL_SNAP || c == COL_RATE || c == COL_SUSPECT))
            hd = "";
        if (diff && c == COL_BRATE)
            hd = "bytes chg";
        char buf[32];
        bool sorted = (enum col)c == ob.sort || (diff && c == COL_ATTACH && ob.sort >= COL_ATTACH);
        snprintf(buf, sizeof buf, "%s%s", sorted && c != COL_NAME ? arrow : "", hd);
        attr_t a = sorted ? u->th.title : u->th.dim;
        if (c == COL_NAME)
            ui_putf(w, 1, pos[c].x, pos[c].w, a, "%s%s", hd, sorted ? arrow : "");
        else
            ui_right(w, 1, pos[c].x, pos[c].w, a, buf);
    }

    int rows = h - 2;
    ob.page = rows > 0 ? rows : 1;
    if (ob.sel >= ob.n)
        ob.sel = ob.n ? ob.n - 1 : 0;
    if (ob.sel < ob.top)
        ob.top = ob.sel;
    if (rows > 0 && ob.sel >= ob.top + (size_t)rows)
        ob.top = ob.sel - (size_t)rows + 1;
    if (ob.n == 0) {
        const char *why = u->diff_mode ? (s->have_diff ? "no type changed between the snapshots"
                                                       : "s takes a snapshot; d diffs the last two")
                          : ob.filter[0] ? "no type matches the filter (/ to change it)"
                          : s->censuses  ? "no types"
                                         : "the agent counts objects every few seconds; n counts now";
        ui_text(u, w, 2, 1, wd - 2, u->th.dim, why);
        return;
    }
    for (int r = 0; r < rows && ob.top + (size_t)r < ob.n; r++) {
        size_t i = ob.idx[ob.top + (size_t)r];
        int y = 2 + r;
        bool sel = ob.top + (size_t)r == ob.sel;
        if (sel) {
            wattrset(w, u->th.select);
            mvwhline(w, y, 0, ' ', wd);
            wattrset(w, A_NORMAL);
        }
        attr_t base = sel ? u->th.select : A_NORMAL;
        char buf[32];
        if (diff) {
            const struct pm_type_count *t = &s->diff.types[i];
            ui_text(u, w, y, pos[COL_NAME].x, pos[COL_NAME].w, base, t->name);
            format_count(buf, sizeof buf, (int64_t)t->count);
            ui_right(w, y, pos[COL_COUNT].x, pos[COL_COUNT].w, base | A_BOLD, buf);
            format_delta(buf, sizeof buf, t->delta);
            if (pos[COL_ATTACH].w)
                ui_right(w, y, pos[COL_ATTACH].x, pos[COL_ATTACH].w,
                         base | (t->delta > 0 ? u->th.warn : A_BOLD), buf);
            if (s->diff.has_bytes && pos[COL_BYTES].w) {
                bytes_str(buf, sizeof buf, t->bytes, t->bytes_approx);
                ui_right(w, y, pos[COL_BYTES].x, pos[COL_BYTES].w, base, buf);
            }
            if (s->diff.has_bytes && pos[COL_BRATE].w) {
                bytes_rate_str(buf, sizeof buf, (double)t->bytes_delta);
                ui_right(w, y, pos[COL_BRATE].x, pos[COL_BRATE].w, base, buf);
            }
            continue;
        }
        const struct typetable_row *t = &tc->rows[i];
        ui_text(u, w, y, pos[COL_NAME].x, pos[COL_NAME].w, base | (t->suspect ? u->th.warn : 0),
                t->name);
        format_count(buf, sizeof buf, (int64_t)t->count);
        ui_right(w, y, pos[COL_COUNT].x, pos[COL_COUNT].w, base | A_BOLD, buf);
        if (pos[COL_BYTES].w) {
            if (t->bytes_known)
                bytes_str(buf, sizeof buf, t->bytes, t->bytes_approx);
            else
                snprintf(buf, sizeof buf, "-");
            ui_right(w, y, pos[COL_BYTES].x, pos[COL_BYTES].w, base, buf);
        }
        if (pos[COL_BRATE].w) {
            if (t->bytes_known)
                bytes_rate_str(buf, sizeof buf, t->bytes_rate_per_min);
            else
                snprintf(buf, sizeof buf, "-");
            ui_right(w, y, pos[COL_BRATE].x, pos[COL_BRATE].w, base, buf);
        }
        if (pos[COL_ATTACH].w) {
            format_delta(buf, sizeof buf, t->delta_attach);
            ui_right(w, y, pos[COL_ATTACH].x, pos[COL_ATTACH].w, base, buf);
        }
        if (pos[COL_SNAP].w) {
            if (tc->have_snapshot)
                format_delta(buf, sizeof buf, t->delta_snapshot);
            else
                snprintf(buf, sizeof buf, "-");
            ui_right(w, y, pos[COL_SNAP].x, pos[COL_SNAP].w, base, buf);
        }
        if (pos[COL_RATE].w) {
            rate_str(buf, sizeof buf, t->rate_per_min);
            ui_right(w, y, pos[COL_RATE].x, pos[COL_RATE].w, base, buf);
        }
        if (pos[COL_SUSPECT].w && t->suspect)
            ui_put(w, y, pos[COL_SUSPECT].x, 1, base | u->th.bad, "!");
    }
    /* Where we are in a long table. */
    if (ob.n > (size_t)rows && rows > 0) {
        snprintf(extra, sizeof extra, " %zu-%zu of %zu ", ob.top + 1,
                 ob.top + (size_t)rows < ob.n ? ob.top + (size_t)rows : ob.n, ob.n);
        int ew = (int)strlen(extra);
        if (wd > ew + 40)
            ui_put(w, 0, wd - ew - 1, ew, u->th.dim, extra);
    }
}

static bool objects_key(struct ui *u, int ch)
{
    size_t page = (size_t)(ob.page > 1 ? ob.page - 1 : 1);
    switch (ch) {
    case KEY_DOWN:
    case 'j':
        if (ob.sel + 1 < ob.n)
            ob.sel++;
        return true;
    case KEY_UP:
    case 'k':
        if (ob.sel > 0)
            ob.sel--;
        return true;
    case KEY_NPAGE:
    case ' ':
        ob.sel = ob.sel + page < ob.n ? ob.sel + page : (ob.n ? ob.n - 1 : 0);
        return true;
    case KEY_PPAGE:
        ob.sel = ob.sel > page ? ob.sel - page : 0;
        return true;
    case KEY_HOME:
        ob.sel = 0;
        return true;
    case KEY_END:
    case 'G':
        ob.sel = ob.n ? ob.n - 1 : 0;
        return true;
    case '<':
    case '>':
    case KEY_LEFT:
    case KEY_RIGHT: {
        int dir = (ch == '>' || ch == KEY_RIGHT) ? 1 : -1;
        int c = (int)ob.sort;
        do {
            c = (c + dir + NCOLS) % NCOLS;
        } while (u->diff_mode && c != COL_NAME && c != COL_COUNT && c != COL_BYTES &&
                 c != COL_ATTACH);
        ob.sort = (enum col)c;
        ob.idx_gen = 0;
        ob.diff_time = 0;
        ui_msg(u, "sorted by %s%s", u->diff_mode && c == COL_ATTACH ? "change" : sort_names[c],
               ob.reverse ? " (reversed)" : "");
        return true;
    }
    case 'r':
        ob.reverse = !ob.reverse;
        ob.idx_gen = 0;
        ob.diff_time = 0;
        ui_msg(u, "sorted by %s, %s", sort_names[ob.sort],
               ob.reverse ? "reversed" : "largest first");
        return true;
    default:
        return false;
    }
}

static void objects_resize(struct ui *u, int h, int wd)
{
    (void)u;
    (void)wd;
    ob.page = h > 2 ? h - 2 : 1;
}

static const char *const objects_help[] = {
    "  < > Left Right  sort by the previous / next column;  r  reverse",
    "  Up Down PgUp PgDn Home End  move in the table",
    "  /        filter types by name (Enter keeps it, Esc clears it)",
    "  !        leak suspect: count or bytes grew in each of the last censuses",
    "  bytes    shallow, as sys.getsizeof sums them; ~ approximate (own __sizeof__);",
    "           dicts of 5 items or fewer: from 1 in 16 of their type",
    NULL,
};

const struct view_class view_objects = {
    .name = "Objects",
    .short_name = "Obj",
    .draw = objects_draw,
    .on_key = objects_key,
    .on_resize = objects_resize,
    .help = objects_help,
    .hints = "< > sort  / filter  w why",
};

bool view_objects_selected(const struct ui *u, char *name, size_t len)
{
    if (ob.sel >= ob.n)
        return false;
    size_t i = ob.idx[ob.sel];
    const char *n = u->diff_mode ? (i < u->s->diff.n_types ? u->s->diff.types[i].name : NULL)
                                 : (i < u->types->n ? u->types->rows[i].name : NULL);
    if (!n)
        return false;
    snprintf(name, len, "%s", n);
    return true;
}
