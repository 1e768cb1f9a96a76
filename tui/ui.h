/* What every view shares: the drawing context (session to show, glyph set,
 * colours, reference time), small drawing helpers, and the type rows cached
 * per census so no frame sorts thousands of types. */
#ifndef PYMEMTOP_TUI_UI_H
#define PYMEMTOP_TUI_UI_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "history.h"
#include "layout.h"
#include "session.h"
#include "typetable.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

struct theme {
    attr_t title, value, dim, good, warn, bad;
    attr_t rss, alloc, traced;               /* graph series */
    attr_t badge_good, badge_warn, badge_bad;
    attr_t key, tab, tab_active, select;
};

/* Every type of the latest census (by count), copied once per census. */
struct typecache {
    struct typetable_row *rows;
    size_t n, cap;
    uint64_t censuses;  /* session's census count when copied */
    uint64_t gen;       /* +1 per copy: views re-sort when it moves */
    size_t types_total; /* distinct types in the table */
    bool have_snapshot;
};

struct ui {
    const struct session *s;  /* live, or the frozen copy */
    const struct history *h;  /* same */
    struct typecache *types;  /* not refreshed while frozen */
    bool utf8;
    bool frozen;
    struct theme th;
    uint64_t now_ns;          /* reference time: the frame's, or the freeze's, or the last sample's */
    uint64_t events_upto;     /* events newer than this seq are not shown (frozen) */
    uint64_t pause_alert_ns;  /* colours pauses over it */
    double growth_alert_kib_per_min;
    enum config_view view;    /* the one on screen */
    bool diff_mode;           /* objects view shows the latest snapshot diff */
    /* Feedback for the status line, set by keys and views. */
    char msg[200];
    uint64_t msg_ns;
    bool msg_error;
};

/* Status line feedback. */
void ui_msg(struct ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ui_err(struct ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Text at (y, x) clipped to maxw columns (ASCII). */
void ui_put(WINDOW *w, int y, int x, int maxw, attr_t a, const char *str);
void ui_putf(WINDOW *w, int y, int x, int maxw, attr_t a, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* UTF-8 text from outside (names, messages), cut with an ellipsis; returns columns used. */
int ui_text(const struct ui *u, WINDOW *w, int y, int x, int maxw, attr_t a, const char *str);
/* Right-aligned in a field of width fw ending at x + fw. */
void ui_right(WINDOW *w, int y, int x, int fw, attr_t a, const char *str);
/* A title rule across r's first line: "── Title ── extra ───". Returns the
 * column after the extra text (for more on the same line). */
int ui_rule(const struct ui *u, WINDOW *w, struct rect r, const char *title, const char *extra,
            attr_t extra_attr);

/* A row of "label value" fields that drops the least important until the
 * rest fit; values have fixed widths so nothing shifts between frames. */
struct field {
    const char *label; /* may be "" */
    char value[48];
    attr_t attr;       /* of the value */
    int prio;          /* higher survives longer */
};
void field_set(struct field *f, const char *label, attr_t a, int prio, const char *value);
int field_w(const struct field *f);
/* Returns the columns used. */
int ui_fields(const struct ui *u, WINDOW *w, int y, int x, int maxw, struct field *f, int n,
              int gap);

/* Attribute for a pause: bad over the alert threshold, warn over a tenth. */
attr_t ui_pause_attr(const struct ui *u, uint64_t ns);
/* Strips the leading spaces of a right-aligned number. */
const char *ui_trim(const char *s);
/* ", census 3s ago" for a rule's title, or "" before the first census or
 * when its time is unknown (a recording made before census.time_ns). */
void ui_census_age(const struct ui *u, char *buf, size_t len);

void theme_init(struct theme *t, bool color, const int colors[CONFIG_COLOR_ROLES]);

/* Copies the session's type rows when a census arrived since the last call. */
void typecache_refresh(struct typecache *c, const struct session *s);
void typecache_free(struct typecache *c);

#endif
