/* The session's event ring: fixed capacity, oldest dropped first. */
#include "eventlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eventlog {
    struct eventlog_entry *e;
    size_t cap, len, head; /* head: index of the oldest entry */
    uint64_t total;
    uint64_t per_kind[EVENT_KINDS];
};

struct eventlog *eventlog_new(size_t cap)
{
    if (cap == 0)
        cap = 1;
    struct eventlog *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->e = calloc(cap, sizeof(*l->e));
    if (!l->e) {
        free(l);
        return NULL;
    }
    l->cap = cap;
    return l;
}

void eventlog_free(struct eventlog *l)
{
    if (!l)
        return;
    free(l->e);
    free(l);
}

struct eventlog *eventlog_clone(const struct eventlog *src)
{
    struct eventlog *l = eventlog_new(src->cap);
    if (!l)
        return NULL;
    struct eventlog_entry *e = l->e;
    *l = *src;
    l->e = e;
    memcpy(l->e, src->e, src->cap * sizeof(*l->e));
    return l;
}

void eventlog_push(struct eventlog *l, uint64_t time_ns, enum eventlog_kind kind,
                   const char *text)
{
    if (!l)
        return;
    if ((unsigned)kind >= EVENT_KINDS)
        kind = EVENT_INFO;
    size_t at = (l->head + l->len) % l->cap;
    if (l->len == l->cap)
        l->head = (l->head + 1) % l->cap;
    else
        l->len++;
    struct eventlog_entry *e = &l->e[at];
    e->seq = ++l->total;
    e->time_ns = time_ns;
    e->kind = kind;
    snprintf(e->text, sizeof(e->text), "%s", text ? text : "");
    l->per_kind[kind]++;
}

void eventlog_pushf(struct eventlog *l, uint64_t time_ns, enum eventlog_kind kind,
                    const char *fmt, ...)
{
    if (!l)
        return;
    char buf[EVENTLOG_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    eventlog_push(l, time_ns, kind, buf);
}

size_t eventlog_len(const struct eventlog *l)
{
    return l ? l->len : 0;
}

uint64_t eventlog_total(const struct eventlog *l)
{
    return l ? l->total : 0;
}

const struct eventlog_entry *eventlog_at(const struct eventlog *l, size_t i)
{
    if (!l || i >= l->len)
        return NULL;
    return &l->e[(l->head + i) % l->cap];
}

uint64_t eventlog_count(const struct eventlog *l, enum eventlog_kind kind)
{
    return l && (unsigned)kind < EVENT_KINDS ? l->per_kind[kind] : 0;
}

const char *eventlog_kind_name(enum eventlog_kind kind)
{
    static const char *const names[EVENT_KINDS] = {
        "info", "command", "ok", "error", "pause", "snapshot", "warning",
    };
    return (unsigned)kind < EVENT_KINDS ? names[kind] : "info";
}
