/* /proc numbers of one process through libproc2: the only file that sees
 * libproc2, so the rest of the code never does. */
#ifndef PYMEMTOP_PROBES_PROC_PROBE_H
#define PYMEMTOP_PROBES_PROC_PROBE_H

#include <sys/types.h>

#include "model.h"

struct proc_probe;

/* NULL when libproc2 cannot be set up (no memory). */
struct proc_probe *proc_probe_new(pid_t pid);
/* Fills *out; out->valid is false when the process is gone. 0 or -errno. */
int proc_probe_read(struct proc_probe *p, struct pm_proc_sample *out);
void proc_probe_free(struct proc_probe *p);

#endif
