/* The dashboard's state, shared by its parts: the frame loop (dashboard.c),
 * key dispatch (keys.c), command dispatch (dispatch.c), the header, tabs and
 * overlays (chrome.c), the status line (statusline.c), freeze (freeze.c),
 * the filter prompt (filter.c), the tracemalloc lease prompt (lease_prompt.c),
 * replay stepping (replay_step.c) and frame
 * timing (frame_stats.c). Only those files include it. */
#ifndef PYMEMTOP_TUI_DASH_H
#define PYMEMTOP_TUI_DASH_H

#include <stdbool.h>
#include <stdint.h>

#include "dashboard_opts.h"
#include "frame_stats.h"
#include "history.h"
#include "layout.h"
#include "ui.h"
#include "view.h"

/* Redraw period while a command runs: its spinner and elapsed time move. */
#define DASH_PENDING_REDRAW_NS (250 * NS_PER_MS)

/* The views in tab order (1 to 5). */
extern const struct view_class *const dash_views[CONFIG_VIEWS];

struct dash {
    struct session *s;
    const struct dashboard_opts *o;
    struct ui ui;
    struct screen_layout lay;
    WINDOW *w_header, *w_tabs, *w_body, *w_status, *w_help;
    bool help;
    bool want_gen;          /* 'g' pressed: the next key picks a generation */
    bool filter_edit;       /* the status line is a filter prompt */
    char filter[64];
    bool lease_edit;        /* the status line asks how long to trace ('t') */
    char lease_text[16];
    unsigned tm_frames;
    struct history hist;
    struct typecache types;
    /* The frozen copy ('p'): the views read these instead of the live data. */
    struct session *frozen_s;
    struct history frozen_h;
    uint64_t frozen_ns;
    struct frame_stats fs;
    bool why_wait, why_open; /* 'w' sent / its answer shown */
    bool playing;           /* replay: advance one sample per second */
    uint64_t next_play_ns;
};

/* Frees and remakes the windows for the terminal's size. */
void dash_relayout(struct dash *d);
/* Frees the windows (at exit, or before a relayout). */
void dash_free_windows(struct dash *d);

#endif
