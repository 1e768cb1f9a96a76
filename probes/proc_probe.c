/* RSS, faults, CPU and start time from libproc2 (status + stat only: the
 * smaps items walk page tables under the target's mmap lock and are kept out
 * of the per-second path). */
#include "proc_probe.h"

#include <errno.h>
#include <libproc2/pids.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* PIDS_VAL changed arity in procps 4.0.5; the expansion did not. */
#define PM_PIDS_VAL(stack, i, type) ((stack)->head[(i)].result.type)

enum {
    I_RSS, I_ANON, I_FILE, I_VSZ, I_SWAP, I_MINFLT, I_MAJFLT, I_TICS, I_START, I_NLWP, I_STATE,
    I_N
};

static enum pids_item proc_items[I_N] = {
    [I_RSS] = PIDS_VM_RSS,       [I_ANON] = PIDS_VM_RSS_ANON, [I_FILE] = PIDS_VM_RSS_FILE,
    [I_VSZ] = PIDS_VM_SIZE,      [I_SWAP] = PIDS_VM_SWAP,     [I_MINFLT] = PIDS_FLT_MIN,
    [I_MAJFLT] = PIDS_FLT_MAJ,   [I_TICS] = PIDS_TICS_ALL,    [I_START] = PIDS_TIME_START,
    [I_NLWP] = PIDS_NLWP,        [I_STATE] = PIDS_STATE,
};

struct proc_probe {
    struct pids_info *info;
    unsigned pid;
    uint64_t last_ticks, last_ns;
    long hz;
};

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct proc_probe *proc_probe_new(pid_t pid)
{
    struct proc_probe *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->pid = (unsigned)pid;
    p->hz = sysconf(_SC_CLK_TCK);
    if (p->hz <= 0)
        p->hz = 100;
    if (procps_pids_new(&p->info, proc_items, I_N) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

int proc_probe_read(struct proc_probe *p, struct pm_proc_sample *out)
{
    memset(out, 0, sizeof(*out));
    out->time_ns = clock_ns(CLOCK_MONOTONIC);
    out->cpu_pct = -1;
    struct pids_fetch *f = procps_pids_select(p->info, &p->pid, 1, PIDS_SELECT_PID);
    if (!f)
        return -errno;
    if (f->counts->total < 1)
        return 0; /* gone: not an error, out->valid stays false */
    struct pids_stack *st = f->stacks[0];
    /* A zombie, or a process tearing down its memory (its mm already gone:
     * RSS and VSZ read 0), has exited for our purposes. */
    char state = PM_PIDS_VAL(st, I_STATE, s_ch);
    if (state == 'Z' || state == 'X' || PM_PIDS_VAL(st, I_VSZ, ul_int) == 0)
        return 0;
    out->valid = true;
    out->rss_kib = PM_PIDS_VAL(st, I_RSS, ul_int);
    out->anon_kib = PM_PIDS_VAL(st, I_ANON, ul_int);
    out->file_kib = PM_PIDS_VAL(st, I_FILE, ul_int);
    out->vsz_kib = PM_PIDS_VAL(st, I_VSZ, ul_int);
    out->swap_kib = PM_PIDS_VAL(st, I_SWAP, ul_int);
    out->minflt = PM_PIDS_VAL(st, I_MINFLT, ul_int);
    out->majflt = PM_PIDS_VAL(st, I_MAJFLT, ul_int);
    out->cpu_ticks = PM_PIDS_VAL(st, I_TICS, ull_int);
    out->threads = (uint32_t)PM_PIDS_VAL(st, I_NLWP, s_int);
    /* Start time is seconds since boot; express it on CLOCK_MONOTONIC. */
    double start_s = PM_PIDS_VAL(st, I_START, real);
    uint64_t since_start_ns = clock_ns(CLOCK_BOOTTIME) - (uint64_t)(start_s * 1e9);
    out->start_time_ns = out->time_ns > since_start_ns ? out->time_ns - since_start_ns : 0;
    if (p->last_ns && out->time_ns > p->last_ns && out->cpu_ticks >= p->last_ticks)
        out->cpu_pct = 100.0 * (double)(out->cpu_ticks - p->last_ticks) / (double)p->hz /
                       ((double)(out->time_ns - p->last_ns) / 1e9);
    p->last_ticks = out->cpu_ticks;
    p->last_ns = out->time_ns;
    return 0;
}

void proc_probe_free(struct proc_probe *p)
{
    if (!p)
        return;
    procps_pids_unref(&p->info);
    free(p);
}
