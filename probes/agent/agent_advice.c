/* Weakref advice from a shape's rendered path: the edge whose name says it
 * points back (.parent, .owner ...), holds a callback, or keeps a caught
 * exception's traceback; else the first plain attribute of the cycle. */
#include "agent_advice.h"

#include <stdio.h>
#include <string.h>

#include "agent_edges.h"
#include "agent_shapes.h"

struct advice_hop {
    char from[AGENT_SHAPES_NAME_MAX];
    char label[AGENT_EDGE_MAX]; /* "" unlabelled */
};

/* Splits a rendered path into hops; their number (0 when it is abbreviated
 * or does not parse). */
static int advice_parse(const char *path, struct advice_hop *hops, int cap)
{
    int n = 0;
    const char *p = path;
    if (strstr(path, "...") || strstr(path, " (x"))
        return 0;
    while (*p && n < cap) {
        const char *plain = strstr(p, " -> "), *lab = strstr(p, " -");
        if (!lab)
            break; /* the last name: back to the start */
        struct advice_hop *hp = &hops[n++];
        size_t k = (size_t)(lab - p);
        snprintf(hp->from, sizeof(hp->from), "%.*s", (int)(k < AGENT_SHAPES_NAME_MAX ? k : AGENT_SHAPES_NAME_MAX - 1), p);
        hp->label[0] = 0;
        if (plain == lab) {
            p = plain + 4;
            continue;
        }
        const char *end = strstr(lab + 2, "-> ");
        if (!end)
            return 0;
        k = (size_t)(end - (lab + 2));
        snprintf(hp->label, sizeof(hp->label), "%.*s",
                 (int)(k < AGENT_EDGE_MAX ? k : AGENT_EDGE_MAX - 1), lab + 2);
        p = end + 3;
    }
    return n;
}

/* Does the attribute name (".parent", "._owner") contain one of words? */
static const char *advice_word(const char *label, const char *const *words, size_t n)
{
    if (label[0] != '.')
        return NULL;
    const char *a = label + 1;
    while (*a == '_')
        a++;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(words[i]);
        if (strncmp(a, words[i], k) == 0 && (a[k] == 0 || a[k] == '_'))
            return words[i];
    }
    return NULL;
}

/* Which edge a weakref would best break, and why; "" when nothing to say. */
void agent_advice_for(const char *path, const char *del_type, char *out, size_t n)
{
    static const char *const back[] = {"parent", "owner", "creator", "container", "master",
                                       "manager", "outer", "root", "up", "prev", "previous",
                                       "back", "holder", "origin", "source"};
    static const char *const cbs[] = {"callback", "callbacks", "cb", "handler", "handlers",
                                      "listener", "listeners", "observer", "observers", "hook",
                                      "hooks", "on", "target", "delegate", "subscriber"};
    struct advice_hop hops[AGENT_SHAPES_SHOW_HOPS + 1];
    int nh = advice_parse(path, hops, AGENT_SHAPES_SHOW_HOPS + 1);
    out[0] = 0;
    int done = 0;
    /* An object holding a method bound to itself. */
    for (int i = 0; i < nh && !done; i++) {
        if (strcmp(hops[i].label, ".__self__") != 0 || strcmp(hops[i].from, "method") != 0)
            continue;
        const struct advice_hop *into = &hops[(i + nh - 1) % nh];
        if (into->label[0] == '.') {
            snprintf(out, n, "store %s as weakref.WeakMethod (%s%s is a bound method of the %s "
                     "that holds it)", into->label, into->from, into->label, hops[(i + 1) % nh].from);
            done = 1;
        }
    }
    for (int i = 0; i < nh && !done; i++) {
        const char *w = advice_word(hops[i].label, back, sizeof(back) / sizeof(back[0]));
        if (!w)
            continue;
        const char *what = !strcmp(w, "prev") || !strcmp(w, "previous") || !strcmp(w, "back")
                               ? "the object before it"
                               : !strcmp(w, "owner") || !strcmp(w, "holder") ? "its owner"
                                                                              : "the creator";
        snprintf(out, n, "break %s with weakref.ref (%s%s points back to %s)", hops[i].label,
                 hops[i].from, hops[i].label, what);
        done = 1;
    }
    for (int i = 0; i < nh && !done; i++) {
        if (!advice_word(hops[i].label, cbs, sizeof(cbs) / sizeof(cbs[0])))
            continue;
        snprintf(out, n, "break %s with weakref.ref or weakref.WeakMethod (%s%s holds a callback "
                 "whose target refers back)", hops[i].label, hops[i].from, hops[i].label);
        done = 1;
    }
    for (int i = 0; i < nh && !done; i++) {
        const char *l = hops[i].label;
        if (strcmp(l, ".__traceback__") && strcmp(l, ".tb_frame") && strcmp(l, ".f_locals"))
            continue;
        snprintf(out, n, "drop the caught exception after handling it (del it, or set it to "
                 "None): its traceback holds the frame that holds it");
        done = 1;
    }
    if (!done && nh == 1 && hops[0].label[0] == '.') {
        snprintf(out, n, "break %s with weakref.ref (%s%s points to the object itself)",
                 hops[0].label, hops[0].from, hops[0].label);
        done = 1;
    } else if (!done && nh == 1) {
        snprintf(out, n, "remove the %s's entry %s that holds the %s itself", hops[0].from,
                 hops[0].label[0] ? hops[0].label : "", hops[0].from);
        done = 1;
    }
    if (!done && nh == 2 && !strcmp(hops[0].label, hops[1].label) && hops[0].label[0] == '.' &&
        !strcmp(hops[0].from, hops[1].from)) {
        snprintf(out, n, "break %s on one side with weakref.ref (the %s created later, pointing "
                 "back to the one created earlier)", hops[0].label, hops[0].from);
        done = 1;
    }
    for (int i = 0; i < nh && !done; i++) {
        if (hops[i].label[0] != '.' || hops[i].label[1] == '_')
            continue;
        snprintf(out, n, "break %s with weakref.ref (one edge of the cycle must be weak for "
                 "reference counting alone to free it)", hops[i].label);
        done = 1;
    }
    if (del_type && del_type[0]) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s defines __del__: such cycles were uncollectable "
                 "before Python 3.4 and still cost a full collection", len ? "; " : "", del_type);
    }
}
