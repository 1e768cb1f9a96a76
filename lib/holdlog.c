/* The agent's GIL holds over a window (holdlog.h). */
#include "holdlog.h"

#include <string.h>

void holdlog_note(struct holdlog *l, uint64_t t_ns, const struct pm_hold *h)
{
    if (!h->ns)
        return;
    size_t at = (l->head + l->len) % HOLDLOG_LEN;
    if (l->len == HOLDLOG_LEN)
        l->head = (l->head + 1) % HOLDLOG_LEN;
    else
        l->len++;
    l->t_ns[at] = t_ns;
    l->hold[at] = *h;
    l->hold[at].what[sizeof(l->hold[at].what) - 1] = '\0';
}

struct pm_hold holdlog_max(const struct holdlog *l, uint64_t now_ns, uint64_t window_ns)
{
    struct pm_hold m;
    memset(&m, 0, sizeof(m));
    for (size_t i = 0; i < l->len; i++) {
        size_t at = (l->head + i) % HOLDLOG_LEN;
        if (l->t_ns[at] + window_ns < now_ns)
            continue;
        /* A census or a reply reports a hold the next sample reports too,
         * with its CPU time and collections: of equals, keep that one. */
        const struct pm_hold *h = &l->hold[at];
        if (h->ns > m.ns || (h->ns == m.ns && h->cpu_ns && !m.cpu_ns))
            m = *h;
    }
    return m;
}
