/* tracemalloc on demand: started and stopped by the monitor, never stopping
 * the program's own tracing, and the lease that keeps it on after the
 * monitor leaves (tracemalloc=on:SECONDS).
 *
 * Whose tracing is it? pymemtop's only while it is provably the tracing
 * pymemtop started: right after tracemalloc.start() the agent allocates a
 * small object of its own (the sentinel), which tracemalloc traces. Any
 * tracemalloc.stop() (then maybe start()) or clear_traces() by the program
 * drops every trace, the sentinel's too: from then on the tracing belongs to
 * the program and pymemtop never stops it (not at detach, not when the lease
 * ends), nor changes anything else. The check runs at every sample and before
 * every stop. What cannot be seen: a program calling tracemalloc.start()
 * while pymemtop's tracing is on, which CPython treats as a no-op (it starts
 * nothing), so that tracing still is pymemtop's and ends with the lease.
 *
 * The lease: its end is kept here (monotonic ns, 0 none). The agent thread
 * sleeps in poll() until then when no monitor is connected (no timer
 * otherwise) and stops tracing at that moment (agent_tracemalloc_lease_tick).
 * At interpreter exit the lease is forgotten (CPython stops tracing as it
 * finalizes); in a forked child (no agent thread there) tracing pymemtop
 * started is stopped at once by an os.register_at_fork(after_in_child) hook. */
#include "agent_tracemalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_state.h"
#include "agent_tmmod.h"
#include "agent_tmsnap.h"
#include "agent_util.h"
#include "proto.h"

#define TM_MAX_FRAMES 100 /* more multiplies the slowdown (17-70x at 25 frames) */

static struct {
    int started;         /* the agent started the current tracing (see above) */
    int frames;          /* the traceback limit it started with */
    PyObject *sentinel;  /* traced while the tracing is the one the agent started */
    int fork_hook;       /* the after_in_child hook is registered */
    char lost[96];       /* why the tracing stopped being the agent's, "" */
} tm;

/* The lease's end (CLOCK_MONOTONIC ns), 0 none. Written with the GIL,
 * read without it by the agent thread to size its poll() timeout. */
static _Atomic uint64_t tm_lease_end_ns;

/* "4m12s", "2h05m", "3d04h": a lease's time left, ms in. */
void agent_tracemalloc_fmt_left(char *buf, size_t len, uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    if (s < 60)
        snprintf(buf, len, "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60));
    else
        snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s / 3600 % 24));
}

static uint64_t tm_lease_left_ms(void)
{
    uint64_t end = atomic_load(&tm_lease_end_ns), now = agent_now_ns();
    return end > now ? (end - now + 999999) / 1000000 : 0;
}

uint64_t agent_tracemalloc_lease_end_ns(void)
{
    return atomic_load(&tm_lease_end_ns);
}

/* The tracing is not (or no longer) the agent's: forget all of it. */
static void tm_disown(const char *why)
{
    tm.started = 0;
    atomic_store(&tm_lease_end_ns, 0);
    Py_CLEAR(tm.sentinel);
    snprintf(tm.lost, sizeof(tm.lost), "%s", why ? why : "");
}

/* Is our sentinel still traced? _get_object_traceback() answers None for an
 * object tracemalloc holds no trace of (all traces go at stop()/clear). */
static int tm_sentinel_traced(PyObject *mod)
{
    if (!tm.sentinel)
        return 0;
    PyObject *r = PyObject_CallMethod(mod, "_get_object_traceback", "O", tm.sentinel);
    int traced = r && r != Py_None;
    Py_XDECREF(r);
    PyErr_Clear();
    return traced;
}

/* 1 while the tracing on is the one the agent started (file comment);
 * otherwise disowns it and returns 0. */
static int tm_still_ours(PyObject *mod)
{
    if (!tm.started)
        return 0;
    const char *lost = NULL;
    if (!agent_tracemalloc_tracing(mod))
        lost = "the program stopped tracemalloc";
    else if (!tm_sentinel_traced(mod) || agent_call_long(mod, "get_traceback_limit") != tm.frames)
        lost = "the program restarted or cleared tracemalloc: it is the program's now";
    if (!lost)
        return 1;
    tm_disown(lost);
    return 0;
}

/* tracemalloc.stop() of the agent's own tracing; 0 or -1. */
static int tm_stop(PyObject *mod)
{
    PyObject *r = PyObject_CallMethod(mod, "stop", NULL);
    Py_XDECREF(r);
    PyErr_Clear();
    tm_disown(NULL);
    return r ? 0 : -1;
}

/* Forked child: no agent thread here to end a lease or serve a monitor, so
 * tracing the agent started ends now (the program's is left alone). */
static PyObject *tm_py_after_fork_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyObject *mod = agent_tracemalloc_module(0);
    if (mod && tm_still_ours(mod))
        tm_stop(mod);
    tm_disown(NULL);
    agent_tmsnap_drop();
    PyErr_Clear();
    Py_RETURN_NONE;
}

static PyMethodDef tm_fork_def = {"_pymemtop_tm_after_fork", tm_py_after_fork_child, METH_NOARGS,
                                  NULL};

/* posix.register_at_fork(after_in_child=...): once, the first time the agent
 * starts tracing; os.fork() children then run it. No name anywhere. */
static void tm_register_fork_hook(void)
{
    if (tm.fork_hook)
        return;
    PyObject *mods = PyImport_GetModuleDict();
    PyObject *posix = mods ? PyDict_GetItemString(mods, "posix") : NULL; /* borrowed */
    PyObject *reg = posix ? PyObject_GetAttrString(posix, "register_at_fork") : NULL;
    PyObject *fn = reg ? PyCFunction_NewEx(&tm_fork_def, NULL, NULL) : NULL;
    PyObject *kw = fn ? Py_BuildValue("{s:O}", "after_in_child", fn) : NULL;
    PyObject *args = kw ? PyTuple_New(0) : NULL;
    PyObject *r = args ? PyObject_Call(reg, args, kw) : NULL;
    tm.fork_hook = r != NULL;
    Py_XDECREF(r);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    Py_XDECREF(fn);
    Py_XDECREF(reg);
    PyErr_Clear();
}

void agent_tracemalloc_read(struct pm_agent_sample *s)
{
    PyObject *mod = agent_tracemalloc_module(0);
    s->tracemalloc_on = agent_tracemalloc_tracing(mod);
    s->traced_bytes = s->traced_peak_bytes = -1;
    s->tm_owner = PM_TM_OWNER_NONE;
    if (s->tracemalloc_on) {
        agent_tracemalloc_memory(mod, &s->traced_bytes, &s->traced_peak_bytes);
        s->tm_owner = tm_still_ours(mod) ? PM_TM_OWNER_PYMEMTOP : PM_TM_OWNER_PROGRAM;
    } else if (tm.started) {
        tm_disown("the program stopped tracemalloc");
    }
    s->tm_lease_left_ms = tm.started ? tm_lease_left_ms() : 0;
}

void agent_tracemalloc_put(struct proto_buf *out, const struct pm_agent_sample *s)
{
    if (s->tm_owner)
        proto_put_u64(out, TAG_TM_OWNER, s->tm_owner);
    if (s->tm_lease_left_ms)
        proto_put_u64(out, TAG_TM_LEASE_LEFT_MS, s->tm_lease_left_ms);
}

/* "tracemalloc=on" while tracing is on: says whose it is, and sets the lease
 * when it is ours. */
static int tm_already_on(PyObject *mod, int64_t lease_s, char *msg, size_t msg_len)
{
    long limit = agent_call_long(mod, "get_traceback_limit");
    char left[32];
    if (!tm_still_ours(mod)) {
        snprintf(msg, msg_len,
                 "tracemalloc already on (%ld frame%s, started by the program): not restarted; "
                 "pymemtop never stops it%s",
                 limit, limit == 1 ? "" : "s", lease_s ? ", so it needs no lease" : "");
        return 0;
    }
    if (lease_s > 0) {
        atomic_store(&tm_lease_end_ns, agent_now_ns() + (uint64_t)lease_s * 1000000000u);
        agent_tracemalloc_fmt_left(left, sizeof(left), (uint64_t)lease_s * 1000);
        snprintf(msg, msg_len,
                 "tracemalloc already on (%ld frame%s, started by pymemtop): lease now %s, "
                 "then pymemtop stops it (costs 4-10x allocation time until then)",
                 limit, limit == 1 ? "" : "s", left);
    } else if (tm_lease_left_ms()) {
        agent_tracemalloc_fmt_left(left, sizeof(left), tm_lease_left_ms());
        snprintf(msg, msg_len,
                 "tracemalloc already on (%ld frame%s, started by pymemtop): its lease (%s left) "
                 "is kept; tracemalloc=off ends it",
                 limit, limit == 1 ? "" : "s", left);
    } else {
        snprintf(msg, msg_len, "tracemalloc already on (%ld frame%s, started by pymemtop): not "
                 "restarted", limit, limit == 1 ? "" : "s");
    }
    return 0;
}

static int tm_off(PyObject *mod, char *msg, size_t msg_len)
{
    int had_lease = tm_lease_left_ms() > 0;
    if (!agent_tracemalloc_tracing(mod)) {
        tm_disown(NULL);
        snprintf(msg, msg_len, "tracemalloc is already off");
        return 0;
    }
    if (!tm_still_ours(mod)) {
        snprintf(msg, msg_len,
                 "tracemalloc was started by the program, not by pymemtop: left on%s%s",
                 tm.lost[0] ? " (" : "", tm.lost[0] ? "pymemtop's tracing was replaced)" : "");
        return -EPERM;
    }
    if (tm_stop(mod) < 0) {
        snprintf(msg, msg_len, "tracemalloc.stop() failed; tracing may still be on");
        return -EIO;
    }
    snprintf(msg, msg_len, "tracemalloc off%s: allocations run at full speed again "
             "(snapshots kept until detach)", had_lease ? " and its lease ended" : "");
    return 0;
}

int agent_tracemalloc_set(int64_t frames, int64_t lease_s, char *msg, size_t msg_len)
{
    if (frames < 0 || frames > TM_MAX_FRAMES) {
        snprintf(msg, msg_len, "tracemalloc takes 0 (off) or 1 to %d frames", TM_MAX_FRAMES);
        return -EINVAL;
    }
    if (lease_s < 0 || lease_s > AGENT_TM_LEASE_MAX_S) {
        snprintf(msg, msg_len, "a tracemalloc lease is 1 to %d seconds (7 days)",
                 AGENT_TM_LEASE_MAX_S);
        return -EINVAL;
    }
    PyObject *mod = agent_tracemalloc_module(frames > 0);
    if (frames == 0)
        return tm_off(mod, msg, msg_len);
    if (!mod) {
        snprintf(msg, msg_len, "tracemalloc is not available in this Python");
        return -ENOSYS;
    }
    if (agent_tracemalloc_tracing(mod))
        return tm_already_on(mod, lease_s, msg, msg_len);
    PyObject *r = PyObject_CallMethod(mod, "start", "i", (int)frames);
    Py_XDECREF(r);
    PyErr_Clear();
    if (!r || !agent_tracemalloc_tracing(mod)) {
        snprintf(msg, msg_len, "tracemalloc.start(%d) failed; tracing is off", (int)frames);
        return -EIO;
    }
    /* Allocated while tracing, so traced: see the file comment. 8 bytes
     * (not 0 or 1: those bytes objects are shared singletons). */
    Py_CLEAR(tm.sentinel);
    tm.sentinel = PyBytes_FromStringAndSize("pymemtop", 8);
    PyErr_Clear();
    tm.started = 1;
    tm.frames = (int)frames;
    tm.lost[0] = 0;
    tm_register_fork_hook();
    atomic_store(&tm_lease_end_ns,
                 lease_s ? agent_now_ns() + (uint64_t)lease_s * 1000000000u : 0);
    char until[160];
    if (lease_s) {
        char left[32];
        agent_tracemalloc_fmt_left(left, sizeof(left), (uint64_t)lease_s * 1000);
        snprintf(until, sizeof(until), "for its lease, %s, even after pymemtop leaves "
                 "(tracemalloc=off ends it)", left);
    } else {
        snprintf(until, sizeof(until), "until you turn it off or pymemtop leaves");
    }
    snprintf(msg, msg_len, "tracemalloc on (%d frame%s): allocation-heavy code runs 4-10x slower%s %s",
             (int)frames, frames == 1 ? "" : "s", frames > 1 ? " (more with more frames)" : "",
             until);
    return 0;
}

/* The lease ended (GIL held): stop tracing if it still is ours. Snapshots
 * go too when no monitor is there to diff them. */
static void tm_expire(int served)
{
    atomic_store(&tm_lease_end_ns, 0);
    PyObject *mod = agent_tracemalloc_module(0);
    if (mod && tm_still_ours(mod))
        tm_stop(mod);
    tm_disown(NULL);
    if (!served)
        agent_tmsnap_drop();
}

void agent_tracemalloc_lease_tick(int served)
{
    uint64_t end = atomic_load(&tm_lease_end_ns);
    if (!end || agent_now_ns() < end)
        return;
    if (!agent_gil_enter("tracemalloc lease end")) {
        /* Python is going away: CPython stops tracing itself. */
        atomic_store(&tm_lease_end_ns, 0);
        return;
    }
    tm_expire(served);
    PyErr_Clear();
    agent_gil_exit();
}

int agent_tracemalloc_detach(void)
{
    agent_tmsnap_forget_mark();
    PyObject *mod = agent_tracemalloc_module(0);
    int ours = mod && tm_still_ours(mod);
    if (ours && tm_lease_left_ms() > 0)
        return 1; /* the lease keeps tracing, and the snapshots with it */
    if (ours)
        tm_stop(mod);
    tm_disown(NULL);
    agent_tmsnap_drop();
    return 0;
}

void agent_tracemalloc_at_exit(void)
{
    atomic_store(&tm_lease_end_ns, 0);
    Py_CLEAR(tm.sentinel);
    tm.started = 0;
}
