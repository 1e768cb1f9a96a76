/* A bounded log of what happened during a session (commands and their
 * answers, snapshots, long pauses, warnings): data, not UI, so the events
 * view and the JSON export read the same ring. Pure: no I/O. */
#ifndef PYMEMTOP_LIB_EVENTLOG_H
#define PYMEMTOP_LIB_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#define EVENTLOG_TEXT_MAX 200

enum eventlog_kind {
    EVENT_INFO,     /* attach, detach, settings */
    EVENT_COMMAND,  /* a command sent to the agent */
    EVENT_RESULT,   /* its answer: ok */
    EVENT_ERROR,    /* its answer: failed; or a failure of the monitor */
    EVENT_PAUSE,    /* a collection over the pause alert threshold */
    EVENT_SNAPSHOT, /* a census snapshot or diff */
    EVENT_WARN,     /* growth alert, target exited, agent lost */
    EVENT_KINDS
};

struct eventlog_entry {
    uint64_t seq;     /* 1 for the first event ever pushed, then +1 */
    uint64_t time_ns; /* CLOCK_MONOTONIC */
    enum eventlog_kind kind;
    char text[EVENTLOG_TEXT_MAX]; /* cut to fit, always NUL-terminated */
};

struct eventlog;

/* Keeps the newest cap entries (cap >= 1). NULL on no memory. */
struct eventlog *eventlog_new(size_t cap);
void eventlog_free(struct eventlog *l);
/* A deep copy (a frozen screen); NULL on no memory. */
struct eventlog *eventlog_clone(const struct eventlog *src);
/* Both accept l == NULL (nothing happens), so callers need no checks. */
void eventlog_push(struct eventlog *l, uint64_t time_ns, enum eventlog_kind kind,
                   const char *text);
void eventlog_pushf(struct eventlog *l, uint64_t time_ns, enum eventlog_kind kind,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
size_t eventlog_len(const struct eventlog *l);   /* entries kept */
uint64_t eventlog_total(const struct eventlog *l); /* pushed ever (seq of the newest) */
/* i = 0 is the oldest entry kept; NULL past the end. */
const struct eventlog_entry *eventlog_at(const struct eventlog *l, size_t i);
/* Entries pushed ever of one kind (kept or evicted). */
uint64_t eventlog_count(const struct eventlog *l, enum eventlog_kind kind);
/* "info", "command", "ok", "error", "pause", "snapshot", "warning". */
const char *eventlog_kind_name(enum eventlog_kind kind);

#endif
