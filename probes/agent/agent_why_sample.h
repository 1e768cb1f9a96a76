/* why's sampling: the type a user names, and a few of its newest tracked
 * instances. GIL held by the caller; the walk of the generation lists lets
 * it go between slices of at most [agent] max_pause_ms. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_WHY_SAMPLE_H
#define PYMEMTOP_PROBES_AGENT_AGENT_WHY_SAMPLE_H

#include "agent_state.h"

#define AGENT_WHY_SAMPLES 5 /* instances followed, newest first */

struct agent_why_samples {
    PyObject *samples[AGENT_WHY_SAMPLES]; /* strong references */
    int n_samples;
    int gone; /* Python is going away: the GIL is not held */
};

/* Fills w (zeroed by the caller): `want` as "module.qualname" (the census's
 * naming) or a bare class name; type_out gets the full name. 0, -ENOENT
 * (none), -EINVAL (ambiguous: msg says), -ESHUTDOWN (w->gone: the GIL is
 * not held, the references taken are left alone). */
int agent_why_sample(struct agent_why_samples *w, const char *want, char *type_out,
                     size_t type_len, char *msg, size_t msg_len);

/* "module.qualname", builtins bare (full); the qualname; the bare name. */
void agent_why_type_names(PyObject *t, char *full, size_t n, char *qual, size_t qn, char *name,
                          size_t nn);

#endif
