/* The attach engine: make a CPython process run one string of Python at its
 * next safe point, using ptrace and process memory writes only (x86-64 Linux).
 *
 * Stops the main thread only, remotely maps one page, writes `code` there and
 * calls Py_AddPendingCall(PyRun_SimpleString, code); restores every register
 * (general, x87/SSE/AVX) and re-delivers signals that arrived meanwhile. */
#ifndef PYMEMTOP_LIB_ATTACH_H
#define PYMEMTOP_LIB_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "target.h"

struct attach_stats {
    uint64_t stop_ns;       /* how long the target's main thread was stopped */
    uint64_t total_ns;      /* whole injection */
    int signals_redelivered;
    int pending_rc;         /* Py_AddPendingCall's return value */
    bool any_thread;        /* queued for any thread (3.12+), not the main one only */
    /* The watchdog cut the any-thread call short and the thread was stopped
     * again and restored. From 3.13 that call can wait, after queueing the
     * bootstrap, on the GIL's mutex held by a thread that waits on ours
     * (glibc's condition variable signal waiting for the GIL waiter we
     * stopped): the bootstrap is then queued and runs when a thread next
     * takes the GIL. */
    bool call_abandoned;
    /* ...and it was cut short because the thread slept on one lock (futex)
     * for ATTACH_FUTEX_STUCK_MS, not at the watchdog: that wait never ends. */
    bool call_stuck_futex;
    /* attach_native_start (left alone by attach_pending_call) */
    int native_tid;         /* the thread that loaded the agent; 0: none did */
    uint64_t native_stop_ns; /* how long that thread was stopped */
    uint64_t native_total_ns;
};

/* A thread of the target stopped by pymemtop, lent to a prepare or verify
 * step (lib/carry.c): it may make system calls in the target with
 * attach_remote_syscall, passing strings and buffers through the scratch
 * area (ATTACH_SCRATCH_BYTES in the target, ours to use). */
struct attach_ctx;
#define ATTACH_SCRATCH_BYTES 1024u
/* A pending call asleep this long on one lock is deadlocked (the GIL's
 * mutex, held by a thread that waits on the one we stopped): cut it short
 * then rather than at the watchdog. Locks there are held for microseconds. */
#define ATTACH_FUTEX_STUCK_MS 50u

enum target_status attach_remote_syscall(struct attach_ctx *c, long nr, const uint64_t a[6],
                                         int64_t *ret);
uint64_t attach_remote_scratch(const struct attach_ctx *c);
int attach_remote_write(struct attach_ctx *c, uint64_t addr, const void *buf, size_t len);
int attach_remote_read(struct attach_ctx *c, uint64_t addr, void *buf, size_t len);

/* Runs in the stopped main thread before the pending call is queued: makes
 * the agent reachable in the target and writes into `code` (cap bytes) the
 * Python the call is to run. */
typedef enum target_status (*attach_prepare_fn)(struct attach_ctx *c, void *arg, char *code,
                                                size_t cap, char *msg, size_t msg_len);
/* Runs in the stopped thread of the native path before dlopen: TARGET_OK
 * when so_path still names the agent. */
typedef enum target_status (*attach_verify_fn)(struct attach_ctx *c, void *arg, char *msg,
                                               size_t msg_len);

/* Where lib/pylayout.c's row says PYLAYOUT_PENDING_ANY_THREAD (3.12+;
 * target_info.addr_add_pending_any set) the call is queued
 * with _PyEval_AddPendingCall(PyInterpreterState_Main(), ..., 0) in the same
 * stop, so any thread of the main interpreter runs it at its next eval-breaker
 * check; before 3.12 only the main thread can.
 *
 * The code `prepare` writes must be at most 3000 bytes and must not be able
 * to raise (a pending call that fails kills the target's main thread). The
 * page holding it is left mapped: the call may run long after we detach.
 * `watchdog_ms` bounds every wait for the target. Returns TARGET_OK or an
 * error with msg set. */
enum target_status attach_pending_call(const struct target_info *t, attach_prepare_fn prepare,
                                       void *arg, unsigned watchdog_ms, struct attach_stats *st,
                                       char *msg, size_t msg_len);

/* The safe path when no thread runs Python (a fully idle target, or a main
 * thread blocked in C before 3.12): load the shared object `so_path` into the
 * target and call its `int entry(void)`, which may only start a native thread
 * (that thread then takes the GIL the normal way, PyGILState_Ensure). Runs no
 * Python and touches no CPython state at the stop.
 *
 * Where: a thread parked in a blocking libc call that holds no lock, read
 * from /proc/PID/task/TID/syscall and checked again on its registers once
 * stopped: clock_nanosleep, nanosleep, select, pselect6 and ppoll (no signal
 * mask), poll, epoll_wait, pause, wait4, waitid, accept, or a futex
 * FUTEX_WAIT_BITSET (semaphores, condition variables, joins: what a Python
 * thread in time.sleep, lock.acquire, Event.wait or join waits in); never a
 * plain FUTEX_WAIT (how glibc waits for its internal locks: malloc arenas,
 * the loader lock, while possibly holding another), never a thread running a
 * signal handler (libc's __restore_rt on its stack), never code outside libc. Such a
 * thread is between calls of the program, so dlopen and pthread_create find
 * the malloc and loader locks free or held by a thread that will release them.
 * dlopen and the entry run on a stack of our own (a fresh mapping, removed
 * afterwards), every register is restored, the interrupted call restarts, and
 * signals that arrived meanwhile are re-delivered to that thread.
 * `verify` (may be NULL) runs on the stopped thread before dlopen.
 * Returns TARGET_OK (st->native_tid set), TARGET_NO_SAFE_POINT with msg naming
 * what each thread was doing, or another error with msg set. */
enum target_status attach_native_start(const struct target_info *t, const char *so_path,
                                       const char *entry, attach_verify_fn verify, void *arg,
                                       unsigned watchdog_ms, struct attach_stats *st, char *msg,
                                       size_t msg_len);

#endif
