/* Shared drawing helpers, colours and the per-census type row cache. */
#include "ui.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "graph.h"

void ui_msg(struct ui *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->msg, sizeof u->msg, fmt, ap);
    va_end(ap);
    u->msg_ns = session_now_ns();
    u->msg_error = false;
}

void ui_err(struct ui *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->msg, sizeof u->msg, fmt, ap);
    va_end(ap);
    u->msg_ns = session_now_ns();
    u->msg_error = true;
}

void ui_put(WINDOW *w, int y, int x, int maxw, attr_t a, const char *str)
{
    if (maxw <= 0 || !w || x < 0 || y < 0)
        return;
    wattrset(w, a);
    mvwaddnstr(w, y, x, str, maxw);
    wattrset(w, A_NORMAL);
}

void ui_putf(WINDOW *w, int y, int x, int maxw, attr_t a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ui_put(w, y, x, maxw, a, buf);
}

int ui_text(const struct ui *u, WINDOW *w, int y, int x, int maxw, attr_t a, const char *str)
{
    char buf[1024];
    if (maxw <= 0 || x < 0)
        return 0;
    int used = format_truncate(buf, sizeof buf, str, maxw, u->utf8);
    wattrset(w, a);
    mvwaddstr(w, y, x, buf);
    wattrset(w, A_NORMAL);
    return used;
}

void ui_right(WINDOW *w, int y, int x, int fw, attr_t a, const char *str)
{
    if (fw <= 0)
        return;
    int cols = format_cols(str);
    if (cols > fw) { /* too wide: the start, cut (never mid-character) */
        char buf[256];
        format_truncate(buf, sizeof buf, str, fw, true);
        wattrset(w, a);
        mvwaddstr(w, y, x, buf);
        wattrset(w, A_NORMAL);
        return;
    }
    wattrset(w, a);
    mvwaddstr(w, y, x + fw - cols, str);
    wattrset(w, A_NORMAL);
}

int ui_rule(const struct ui *u, WINDOW *w, struct rect r, const char *title, const char *extra,
            attr_t extra_attr)
{
    if (rect_empty(r))
        return 0;
    for (int c = 0; c < r.w; c++) {
        if (u->utf8)
            graph_put_wch(w, r.y, r.x + c, L'\x2500', u->th.dim);
        else
            ui_put(w, r.y, r.x + c, 1, u->th.dim, "-");
    }
    int x = r.x + 1;
    if (title && r.w > 4) {
        ui_putf(w, r.y, x, r.w - 2, u->th.title, " %s ", title);
        x += (int)strlen(title) + 2;
    }
    if (extra && extra[0] && x < r.x + r.w - 2) {
        int used = ui_text(u, w, r.y, x + 1, r.x + r.w - x - 2, extra_attr, extra);
        ui_put(w, r.y, x, 1, A_NORMAL, " ");
        x += 1 + used;
        if (x < r.x + r.w)
            ui_put(w, r.y, x, 1, A_NORMAL, " ");
        x++;
    }
    return x;
}

void field_set(struct field *f, const char *label, attr_t a, int prio, const char *value)
{
    f->label = label;
    f->attr = a;
    f->prio = prio;
    snprintf(f->value, sizeof f->value, "%s", value);
}

int field_w(const struct field *f)
{
    int lw = (int)strlen(f->label);
    return lw + (lw ? 1 : 0) + format_cols(f->value);
}

int ui_fields(const struct ui *u, WINDOW *w, int y, int x, int maxw, struct field *f, int n,
              int gap)
{
    bool on[24];
    int wd[24] = {0}, prio[24] = {0};
    if (n > 24)
        n = 24;
    for (int i = 0; i < n; i++) {
        wd[i] = field_w(&f[i]);
        prio[i] = f[i].prio;
    }
    layout_fit(wd, prio, n, maxw, gap, 1, on); /* one field always shows, cut if need be */
    int cx = x, end = x + maxw;
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!on[i])
            continue;
        if (!first)
            cx += gap;
        first = false;
        int lw = (int)strlen(f[i].label);
        if (lw) {
            ui_put(w, y, cx, end - cx, u->th.dim, f[i].label);
            cx += lw + 1;
        }
        if (cx >= end)
            break;
        cx += ui_text(u, w, y, cx, end - cx, f[i].attr, f[i].value);
        if (cx >= end)
            break;
    }
    return cx - x;
}

attr_t ui_pause_attr(const struct ui *u, uint64_t ns)
{
    uint64_t alert = u->pause_alert_ns ? u->pause_alert_ns : 100 * NS_PER_MS;
    return ns >= alert ? u->th.bad : ns >= alert / 10 ? u->th.warn : u->th.value;
}

const char *ui_trim(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

void ui_census_age(const struct ui *u, char *buf, size_t len)
{
    const struct session *s = u->s;
    buf[0] = '\0';
    if (!s->censuses || !s->census.time_ns)
        return;
    char ago[16];
    format_uptime(ago, sizeof ago, u->now_ns > s->census.time_ns ? u->now_ns - s->census.time_ns : 0);
    snprintf(buf, len, ", census %s ago", ui_trim(ago));
}

enum {
    PAIR_ACCENT = 1,
    PAIR_RSS,
    PAIR_ALLOC,
    PAIR_TRACED,
    PAIR_GOOD,
    PAIR_WARN,
    PAIR_BAD,
    PAIR_BADGE_GOOD,
    PAIR_BADGE_WARN,
    PAIR_BADGE_BAD,
    PAIR_KEY,
};

void theme_init(struct theme *t, bool color, const int colors[CONFIG_COLOR_ROLES])
{
    if (color && has_colors() && start_color() == OK && COLORS >= 8) {
        short bg = use_default_colors() == OK ? -1 : COLOR_BLACK;
        short fg_default = bg < 0 ? -1 : COLOR_WHITE;
#define FG(role) (short)(colors[role] >= 0 ? colors[role] : fg_default)
        init_pair(PAIR_ACCENT, FG(CONFIG_COLOR_ACCENT), bg);
        init_pair(PAIR_RSS, FG(CONFIG_COLOR_RSS), bg);
        init_pair(PAIR_ALLOC, FG(CONFIG_COLOR_ALLOC), bg);
        init_pair(PAIR_TRACED, FG(CONFIG_COLOR_TRACED), bg);
        init_pair(PAIR_GOOD, FG(CONFIG_COLOR_GOOD), bg);
        init_pair(PAIR_WARN, FG(CONFIG_COLOR_WARN), bg);
        init_pair(PAIR_BAD, FG(CONFIG_COLOR_BAD), bg);
        short good = colors[CONFIG_COLOR_GOOD] >= 0 ? (short)colors[CONFIG_COLOR_GOOD] : COLOR_GREEN;
        short warn = colors[CONFIG_COLOR_WARN] >= 0 ? (short)colors[CONFIG_COLOR_WARN] : COLOR_YELLOW;
        short bad = colors[CONFIG_COLOR_BAD] >= 0 ? (short)colors[CONFIG_COLOR_BAD] : COLOR_RED;
        short acc = colors[CONFIG_COLOR_ACCENT] >= 0 ? (short)colors[CONFIG_COLOR_ACCENT] : COLOR_CYAN;
#undef FG
        init_pair(PAIR_BADGE_GOOD, COLOR_BLACK, good);
        init_pair(PAIR_BADGE_WARN, COLOR_BLACK, warn);
        init_pair(PAIR_BADGE_BAD, COLOR_WHITE, bad);
        init_pair(PAIR_KEY, COLOR_BLACK, acc);
        t->title = COLOR_PAIR(PAIR_ACCENT) | A_BOLD;
        t->value = A_BOLD;
        t->dim = A_NORMAL;
        t->good = COLOR_PAIR(PAIR_GOOD);
        t->warn = COLOR_PAIR(PAIR_WARN) | A_BOLD;
        t->bad = COLOR_PAIR(PAIR_BAD) | A_BOLD;
        t->rss = COLOR_PAIR(PAIR_RSS);
        t->alloc = COLOR_PAIR(PAIR_ALLOC) | A_BOLD;
        t->traced = COLOR_PAIR(PAIR_TRACED) | A_BOLD;
        t->badge_good = COLOR_PAIR(PAIR_BADGE_GOOD);
        t->badge_warn = COLOR_PAIR(PAIR_BADGE_WARN);
        t->badge_bad = COLOR_PAIR(PAIR_BADGE_BAD);
        t->key = COLOR_PAIR(PAIR_KEY);
        t->tab = A_NORMAL;
        t->tab_active = COLOR_PAIR(PAIR_KEY) | A_BOLD;
        t->select = A_REVERSE;
    } else {
        /* Monochrome: emphasis by weight, underline and reverse video only. */
        t->title = A_BOLD;
        t->value = A_BOLD;
        t->dim = A_NORMAL;
        t->good = A_NORMAL;
        t->warn = A_BOLD;
        t->bad = A_BOLD | A_UNDERLINE;
        t->rss = A_NORMAL;
        t->alloc = A_BOLD;
        t->traced = A_BOLD;
        t->badge_good = A_REVERSE;
        t->badge_warn = A_REVERSE;
        t->badge_bad = A_REVERSE | A_BOLD;
        t->key = A_REVERSE;
        t->tab = A_NORMAL;
        t->tab_active = A_REVERSE | A_BOLD;
        t->select = A_REVERSE;
    }
}

void typecache_refresh(struct typecache *c, const struct session *s)
{
    if (!s->types || (c->gen && c->censuses == s->censuses))
        return;
    size_t n = typetable_size(s->types);
    if (n > c->cap) {
        size_t cap = n + n / 2 + 64;
        struct typetable_row *r = realloc(c->rows, cap * sizeof *r);
        if (!r)
            return; /* keep the old rows */
        c->rows = r;
        c->cap = cap;
    }
    c->n = c->cap ? typetable_rows(s->types, TYPETABLE_BY_COUNT, NULL, c->rows, c->cap) : 0;
    c->censuses = s->censuses;
    c->types_total = n;
    c->have_snapshot = typetable_have_snapshot(s->types);
    c->gen++;
}

void typecache_free(struct typecache *c)
{
    free(c->rows);
    memset(c, 0, sizeof *c);
}
