/* 5. Events: the session's log (pauses over the threshold, snapshots,
 * commands and their results, warnings), newest at the bottom; scrolls. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "format.h"
#include "view.h"

static struct {
    size_t back; /* entries scrolled back from the newest; 0 follows the log */
    int page;
} ev;

/* Wall clock of a CLOCK_MONOTONIC time, "HH:MM:SS". */
static void clock_of(char *buf, size_t len, uint64_t mono_ns)
{
    struct timespec rt, mt;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    int64_t off = ((int64_t)rt.tv_sec - (int64_t)mt.tv_sec) * 1000000000 +
                  ((int64_t)rt.tv_nsec - (int64_t)mt.tv_nsec);
    time_t t = (time_t)(((int64_t)mono_ns + off) / 1000000000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%H:%M:%S", &tm);
}

static attr_t kind_attr(const struct ui *u, enum eventlog_kind k)
{
    switch (k) {
    case EVENT_ERROR: return u->th.bad;
    case EVENT_WARN: return u->th.warn;
    case EVENT_PAUSE: return u->th.warn;
    case EVENT_RESULT: return u->th.good;
    case EVENT_SNAPSHOT: return u->th.title;
    default: return u->th.dim;
    }
}

static void events_draw(struct ui *u, WINDOW *w, int h, int wd)
{
    const struct eventlog *lg = u->s->events;
    size_t len = eventlog_len(lg);
    /* While frozen, hide what came after the freeze. */
    while (len > 0 && eventlog_at(lg, len - 1)->seq > u->events_upto)
        len--;
    char extra[120];
    snprintf(extra, sizeof extra, "%zu kept, %llu pauses over %llu ms, %llu warnings%s", len,
             (unsigned long long)eventlog_count(lg, EVENT_PAUSE),
             (unsigned long long)(u->pause_alert_ns / NS_PER_MS),
             (unsigned long long)eventlog_count(lg, EVENT_WARN), ev.back ? "  (End: follow)" : "");
    ui_rule(u, w, (struct rect){0, 0, 1, wd}, "Events", extra, u->th.dim);
    int rows = h - 1;
    ev.page = rows > 1 ? rows : 1;
    if (len == 0) {
        ui_put(w, 1, 1, wd - 1, u->th.dim, "nothing yet");
        return;
    }
    if (ev.back > len - 1)
        ev.back = len - 1;
    size_t last = len - 1 - ev.back; /* newest shown, at the bottom */
    size_t n = (size_t)rows < last + 1 ? (size_t)rows : last + 1;
    size_t first = last + 1 - n;
    int kw = wd >= 60 ? 9 : 0;
    for (size_t i = 0; i < n; i++) {
        const struct eventlog_entry *e = eventlog_at(lg, first + i);
        int y = 1 + (int)i, x = 0;
        char t[16];
        clock_of(t, sizeof t, e->time_ns);
        ui_put(w, y, x, 8, u->th.dim, t);
        x += 9;
        if (kw) {
            ui_put(w, y, x, kw - 1, kind_attr(u, e->kind), eventlog_kind_name(e->kind));
            x += kw;
        }
        attr_t ta = kw ? A_NORMAL : kind_attr(u, e->kind);
        if (e->kind == EVENT_ERROR || e->kind == EVENT_WARN)
            ta = kind_attr(u, e->kind);
        ui_text(u, w, y, x, wd - x, ta, e->text);
    }
}

static bool events_key(struct ui *u, int ch)
{
    (void)u;
    size_t page = (size_t)(ev.page > 1 ? ev.page - 1 : 1);
    switch (ch) {
    case KEY_UP:
    case 'k':
        ev.back++;
        return true;
    case KEY_DOWN:
    case 'j':
        if (ev.back)
            ev.back--;
        return true;
    case KEY_PPAGE:
        ev.back += page;
        return true;
    case KEY_NPAGE:
    case ' ':
        ev.back = ev.back > page ? ev.back - page : 0;
        return true;
    case KEY_HOME:
        ev.back = (size_t)-1 / 2; /* clamped when drawn */
        return true;
    case KEY_END:
    case 'G':
        ev.back = 0;
        return true;
    default:
        return false;
    }
}

static void events_resize(struct ui *u, int h, int wd)
{
    (void)u;
    (void)wd;
    ev.page = h > 1 ? h - 1 : 1;
}

static const char *const events_help[] = {
    "  Up Down PgUp PgDn Home End  scroll; End follows new events",
    NULL,
};

const struct view_class view_events = {
    .name = "Events",
    .short_name = "Ev",
    .draw = events_draw,
    .on_key = events_key,
    .on_resize = events_resize,
    .help = events_help,
    .hints = NULL,
};
