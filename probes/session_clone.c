/* A deep copy of a session for a frozen screen: nothing in the copy points
 * into the live session, which keeps sampling (and freeing, and growing its
 * tables) underneath. */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct session *session_clone(const struct session *src)
{
    struct session *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *src;
    /* Every pointer the struct holds, cleared before anything can fail so
     * session_clone_free never frees one of src's. */
    struct series *dst_series[] = SESSION_SERIES(c);
    const struct series *src_series[] = SESSION_SERIES(src);
    size_t n = sizeof(dst_series) / sizeof(dst_series[0]);
    for (size_t i = 0; i < n; i++)
        memset(dst_series[i], 0, sizeof(*dst_series[i]));
    c->types = NULL;
    c->events = NULL;
    c->diff.types = NULL;
    c->diff.n_types = 0;
    c->census.types = NULL; /* the latest census keeps no types (they fold into types) */
    c->census.n_types = 0;
    /* A copy never talks to the agent or reads /proc. */
    c->link = NULL;
    c->inbox = NULL;
    c->probe = NULL;

    int fail = 0;
    for (size_t i = 0; i < n && !fail; i++)
        fail = series_clone(dst_series[i], src_series[i]) < 0;
    if (!fail && src->types)
        fail = !(c->types = typetable_clone(src->types));
    if (!fail && src->events)
        fail = !(c->events = eventlog_clone(src->events));
    if (!fail && src->diff.types && src->diff.n_types) {
        c->diff.types = malloc(src->diff.n_types * sizeof(*c->diff.types));
        fail = !c->diff.types;
        if (!fail) {
            memcpy(c->diff.types, src->diff.types, src->diff.n_types * sizeof(*c->diff.types));
            c->diff.n_types = src->diff.n_types;
        }
    }
    if (fail) {
        session_clone_free(c);
        return NULL;
    }
    return c;
}

void session_clone_free(struct session *c)
{
    if (!c)
        return;
    struct series *all[] = SESSION_SERIES(c);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        series_free(all[i]);
    typetable_free(c->types);
    eventlog_free(c->events);
    free(c->diff.types);
    free(c);
}
