/* 4. Allocations: pymalloc, glibc malloc and the process side by side, the
 * allocation counters when on, and with tracemalloc on its top sites and the
 * snapshot diff. */
#include <stdio.h>
#include <string.h>

#include "derive.h"
#include "format.h"
#include "graph.h"
#include "view.h"

static void kib_of_bytes(char *buf, size_t len, int64_t bytes, bool known)
{
    if (!known || bytes < 0)
        snprintf(buf, len, "%*s", FORMAT_SIZE_W, "n/a");
    else
        format_kib(buf, len, (uint64_t)bytes / 1024);
}

/* One "label value" cell of a column. */
static void cell(struct ui *u, WINDOW *w, int y, int x, int cw, const char *label, const char *val,
                 attr_t a)
{
    int vw = (int)strlen(val);
    ui_put(w, y, x, cw, u->th.dim, label);
    if (vw < cw)
        ui_put(w, y, x + cw - vw, vw, a, val);
}

static void draw_numbers(struct ui *u, WINDOW *w, const struct alloc_layout *l)
{
    const struct session *s = u->s;
    const struct pm_alloc *al = &s->agent.alloc;
    const struct pm_proc_sample *pr = &s->proc;
    bool have = s->agent_samples > 0, hp = pr->time_ns != 0;
    char v[48], c[32];
    ui_rule(u, w, l->nums_title, "Allocators", hp ? "in use and free, side by side" : "",
            u->th.dim);
    struct rect r = l->nums;
    int64_t used = al->pymalloc_used_bytes, fr = al->pymalloc_free_bytes;
    double frag = derive_fragmentation(al);
    if (!l->wide) {
        struct field f[5];
        int n = 0;
        kib_of_bytes(v, sizeof v, used, have);
        field_set(&f[n++], "pymalloc", u->th.value, 9, v);
        kib_of_bytes(v, sizeof v, fr, have);
        field_set(&f[n++], "free", u->th.value, 5, v);
        format_pct(v, sizeof v, frag);
        field_set(&f[n++], "frag", u->th.value, 3, v);
        ui_fields(u, w, r.y, 0, r.w, f, n, 2);
        if (r.h < 2)
            return;
        n = 0;
        kib_of_bytes(v, sizeof v, al->malloc_used_bytes, have);
        field_set(&f[n++], "malloc  ", u->th.value, 9, v);
        kib_of_bytes(v, sizeof v, al->malloc_free_bytes, have);
        field_set(&f[n++], "free", u->th.value, 5, v);
        kib_of_bytes(v, sizeof v, al->mmap_bytes, have);
        field_set(&f[n++], "mmap", u->th.value, 3, v);
        ui_fields(u, w, r.y + 1, 0, r.w, f, n, 2);
        if (r.h < 3)
            return;
        n = 0;
        kib_of_bytes(v, sizeof v, (int64_t)pr->rss_kib * 1024, hp);
        field_set(&f[n++], "RSS     ", u->th.value, 9, v);
        kib_of_bytes(v, sizeof v, (int64_t)pr->anon_kib * 1024, hp);
        field_set(&f[n++], "anon", u->th.value, 5, v);
        kib_of_bytes(v, sizeof v, (int64_t)pr->swap_kib * 1024, hp);
        field_set(&f[n++], "swap", u->th.value, 3, v);
        ui_fields(u, w, r.y + 2, 0, r.w, f, n, 2);
        return;
    }
    int cw = (r.w - 4) / 3;
    if (cw > 34)
        cw = 34;
    int x0 = 0, x1 = cw + 2, x2 = 2 * (cw + 2);
    int y = r.y;
    ui_put(w, y, x0, cw, u->th.title, "pymalloc (small objects)");
    ui_put(w, y, x1, cw, u->th.title, "malloc (glibc)");
    ui_put(w, y, x2, cw, u->th.title, "process (/proc)");
    y++;
    kib_of_bytes(v, sizeof v, used, have);
    cell(u, w, y, x0, cw, "in blocks", v, u->th.value);
    kib_of_bytes(v, sizeof v, al->malloc_used_bytes, have);
    cell(u, w, y, x1, cw, "in use", v, u->th.value);
    kib_of_bytes(v, sizeof v, (int64_t)pr->rss_kib * 1024, hp);
    cell(u, w, y, x2, cw, "RSS", v, u->th.value);
    y++;
    kib_of_bytes(v, sizeof v, fr, have);
    cell(u, w, y, x0, cw, "free in pools", v, u->th.value);
    kib_of_bytes(v, sizeof v, al->malloc_free_bytes, have);
    cell(u, w, y, x1, cw, "free", v, u->th.value);
    kib_of_bytes(v, sizeof v, (int64_t)pr->anon_kib * 1024, hp);
    cell(u, w, y, x2, cw, "anon", v, u->th.value);
    y++;
    format_pct(v, sizeof v, frag);
    cell(u, w, y, x0, cw, "fragmentation", v, frag > 0.5 ? u->th.warn : u->th.value);
    kib_of_bytes(v, sizeof v, al->mmap_bytes, have);
    cell(u, w, y, x1, cw, "mmapped", v, u->th.value);
    kib_of_bytes(v, sizeof v, (int64_t)pr->file_kib * 1024, hp);
    cell(u, w, y, x2, cw, "file", v, u->th.value);
    y++;
    format_count(c, sizeof c, have ? al->arenas : -1);
    format_count(v, sizeof v, have ? al->arenas_highwater : -1);
    char both[48];
    snprintf(both, sizeof both, "%s (max %s)", ui_trim(c), ui_trim(v));
    cell(u, w, y, x0, cw, "arenas", both, u->th.value);
    cell(u, w, y, x1, cw, "counters (a)", al->hook_on ? "on" : "off",
         al->hook_on ? u->th.warn : u->th.dim);
    kib_of_bytes(v, sizeof v, (int64_t)pr->swap_kib * 1024, hp);
    cell(u, w, y, x2, cw, "swap", v, pr->swap_kib ? u->th.warn : u->th.value);
    y++;
    format_count(v, sizeof v, have ? s->agent.alloc_blocks : -1);
    cell(u, w, y, x0, cw, "blocks", v, u->th.value);
    uint64_t calls = 0, bytes = 0;
    for (int d = 0; d < PM_DOMAINS; d++) {
        calls += al->hook_calls[d];
        bytes += al->hook_bytes[d];
    }
    format_count(v, sizeof v, al->hook_on ? (int64_t)calls : -1);
    cell(u, w, y, x1, cw, "allocations", v, u->th.value);
    kib_of_bytes(v, sizeof v, (int64_t)pr->vsz_kib * 1024, hp);
    cell(u, w, y, x2, cw, "VSZ", v, u->th.value);
    y++;
    /* A walk left out because it would pause the target too long: its
     * predicted cost in warning colour, the figures above are stale. */
    format_duration(v, sizeof v, al->pymalloc_skip_ns ? al->pymalloc_skip_ns : al->pymalloc_cost_ns);
    cell(u, w, y, x0, cw, al->pymalloc_skip_ns ? "walk skipped" : "walk cost", v,
         al->pymalloc_skip_ns ? u->th.warn : u->th.dim);
    kib_of_bytes(v, sizeof v, al->hook_on ? (int64_t)bytes : -1, true);
    cell(u, w, y, x1, cw, "bytes allocated", v, u->th.value);
    format_count(v, sizeof v, hp ? (int64_t)pr->minflt : -1);
    cell(u, w, y, x2, cw, "minor faults", v, u->th.value);
}

static void draw_sites(struct ui *u, WINDOW *w, struct rect r, const struct pm_sites *st, bool have,
                       bool diff, const char *empty)
{
    if (rect_empty(r))
        return;
    char head[120], ago[16];
    if (have) {
        format_uptime(ago, sizeof ago, u->now_ns > st->time_ns ? u->now_ns - st->time_ns : 0);
        snprintf(head, sizeof head, "%s, %s ago", diff ? (st->kind == PM_SITES_DIFF_BASELINE
                                                             ? "diff: first -> latest snapshot"
                                                             : "diff: previous -> latest snapshot")
                                                       : "top sites at the latest snapshot",
                 ui_trim(ago));
    } else {
        snprintf(head, sizeof head, "%s", diff ? "diff" : "top sites");
    }
    ui_text(u, w, r.y, 0 + r.x, r.w, u->th.title, head);
    if (!have || st->n == 0) {
        if (r.h >= 2)
            ui_text(u, w, r.y + 1, r.x + 1, r.w - 1, u->th.dim, have ? "no sites" : empty);
        return;
    }
    int sw = FORMAT_SIZE_W + (diff ? 1 : 0), cw = 7;
    int px = r.x + sw + 1 + cw + 2;
    for (uint32_t i = 0; i < st->n && (int)i < r.h - 1; i++) {
        const struct pm_site *si = &st->sites[i];
        int y = r.y + 1 + (int)i;
        char v[32], c[32];
        if (diff) {
            format_kib(c, sizeof c, (uint64_t)(si->size_diff < 0 ? -si->size_diff : si->size_diff) / 1024);
            snprintf(v, sizeof v, "%c%s", si->size_diff < 0 ? '-' : '+', ui_trim(c));
            ui_right(w, y, r.x, sw, si->size_diff > 0 ? u->th.warn : u->th.value, v);
            format_delta(c, sizeof c, si->count_diff);
        } else {
            format_kib(v, sizeof v, (uint64_t)(si->size_bytes > 0 ? si->size_bytes : 0) / 1024);
            ui_right(w, y, r.x, sw, u->th.value, v);
            format_count(c, sizeof c, si->count);
        }
        ui_right(w, y, r.x + sw + 1, cw, A_NORMAL, c);
        ui_text(u, w, y, px, r.x + r.w - px, A_NORMAL, si->where);
    }
}

static void alloc_draw(struct ui *u, WINDOW *w, int h, int wd)
{
    const struct session *s = u->s;
    struct alloc_layout l;
    layout_alloc(&l, wd, h);
    draw_numbers(u, w, &l);
    char extra[160];
    bool on = s->agent.tracemalloc_on;
    bool pending = s->state == SESSION_LIVE && s->command_pending &&
                   !strcmp(s->last_command, "tracemalloc");
    if (on) {
        char t[16], p[16];
        format_kib(t, sizeof t, s->agent.traced_bytes > 0 ? (uint64_t)s->agent.traced_bytes / 1024 : 0);
        format_kib(p, sizeof p,
                   s->agent.traced_peak_bytes > 0 ? (uint64_t)s->agent.traced_peak_bytes / 1024 : 0);
        char lease[48] = "";
        if (s->agent.tm_lease_left_ms) {
            char left[16];
            format_uptime(left, sizeof left, s->agent.tm_lease_left_ms * NS_PER_MS);
            snprintf(lease, sizeof lease, ", lease %s left", ui_trim(left));
        } else if (s->agent.tm_owner == PM_TM_OWNER_PROGRAM) {
            snprintf(lease, sizeof lease, ", the program's");
        }
        snprintf(extra, sizeof extra, "on%s, allocs 4-10x slower: traced %s, peak %s  (t: off)",
                 lease, ui_trim(t), ui_trim(p));
    } else {
        snprintf(extra, sizeof extra, "%s", pending ? "switching..." : "off  (t: on; allocation-heavy code runs 4-10x slower)");
    }
    ui_rule(u, w, l.tm_title, "tracemalloc", extra, on ? u->th.warn : u->th.dim);
    const char *hint = on ? "s takes a snapshot of the top sites" : "t starts tracemalloc, then s takes a snapshot";
    draw_sites(u, w, l.sites_top, &s->sites_top, s->have_sites_top, false, hint);
    draw_sites(u, w, l.sites_diff, &s->sites_diff, s->have_sites_diff, true,
               "two snapshots (s, s), then d diffs them");
}

static bool alloc_key(struct ui *u, int ch)
{
    (void)u;
    (void)ch;
    return false;
}

static void alloc_resize(struct ui *u, int h, int wd)
{
    (void)u;
    (void)h;
    (void)wd;
}

static const char *const alloc_help[] = {
    "  t        tracemalloc on/off;  s snapshot (top sites);  d diff",
    "  a        allocation counters on/off (a pass-through allocator)",
    NULL,
};

const struct view_class view_alloc = {
    .name = "Allocations",
    .short_name = "Alloc",
    .draw = alloc_draw,
    .on_key = alloc_key,
    .on_resize = alloc_resize,
    .help = alloc_help,
    .hints = "t tracemalloc",
};
