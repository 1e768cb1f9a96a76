/* Series the views graph that the session does not keep: glibc malloc and
 * tracemalloc in KiB, and objects freed per second per generation (as
 * probes/derive.c defines it) at each new agent sample. No curses. */
#ifndef PYMEMTOP_TUI_HISTORY_H
#define PYMEMTOP_TUI_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "series.h"

struct session;

struct history {
    struct series malloc_kib;   /* glibc in use */
    struct series traced_kib;   /* tracemalloc traced memory, while it is on */
    struct series freed_per_s[PM_GENERATIONS]; /* derive_freed_per_s() at each sample */
    uint64_t seen_samples;      /* the session's agent_samples at the last update */
};

int history_init(struct history *h, size_t cap); /* 0 or -ENOMEM */
void history_free(struct history *h);
/* Folds in the session's latest agent sample if it is new. */
void history_update(struct history *h, const struct session *s);
/* Deep copies (for a frozen screen); 0 or -ENOMEM. dst is initialised. */
int history_clone(struct history *dst, const struct history *src);

#endif
