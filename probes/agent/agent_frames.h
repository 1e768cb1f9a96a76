/* The fast locals of running Python frames, read from the frames' memory as
 * the interpreter's row allows (lib/pylayout.h): why uses them as roots and
 * the edge labeller to name a frame's local. Reading the memory rather than
 * frame.f_locals matters before 3.13: f_locals writes a snapshot into the
 * frame, and from 3.11 a running frame does not show its locals to
 * tp_traverse at all. GIL held for all. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_FRAMES_H
#define PYMEMTOP_PROBES_AGENT_AGENT_FRAMES_H

#include "agent_state.h"

/* One local of one frame of one thread; every pointer a strong reference. */
struct agent_frame_local {
    PyObject *value;
    PyObject *code; /* the frame's code object: names the function */
    PyObject *name; /* the local's name (str) */
    PyObject *tid;  /* the thread's ident (int) */
};

/* The locals of every thread's innermost `max_frames` frames, innermost
 * first. *out is malloc'd (agent_frames_free); returns how many, 0 when the
 * build offers no raw frame path (agent.frames_ok false), -1 out of memory. */
Py_ssize_t agent_frames_locals(struct agent_frame_local **out, int max_frames);
void agent_frames_free(struct agent_frame_local *v, Py_ssize_t n);

/* The name of frame object f's fast local that holds `to`, into name:
 * 1 found, 0 not (or not knowable on this build). Both strongly held by
 * the caller; may run Python code. */
int agent_frames_local_name(PyObject *f, PyObject *to, char *name, size_t n);

#endif
