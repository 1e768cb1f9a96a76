/* The attach engine's shared part, for its two paths: the pending call
 * (lib/attach.c, which also holds the ptrace primitives and the remote call)
 * and the native dlopen in a parked thread (lib/attach_native.c). Only for
 * lib/attach*.c: everyone else goes through attach.h. */
#ifndef PYMEMTOP_LIB_ATTACH_CTX_H
#define PYMEMTOP_LIB_ATTACH_CTX_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "target.h"

struct attach_stats; /* attach.h */

#define ATTACH_PAGE_BYTES 4096
/* Large enough for any XSAVE layout (AMX needs ~11 KiB); the kernel reports
 * the real size, and PTRACE_SETREGSET wants exactly that size back. */
#define ATTACH_XSTATE_BYTES (64u << 10)
#define ATTACH_MAX_SIGNALS 32
/* Kernel-internal errno that makes an interrupted sleep resume via
 * restart_syscall with the state saved in the thread's restart_block. */
#define ATTACH_ERESTART_RESTARTBLOCK 516
#define ATTACH_ERESTARTSYS 512
#define ATTACH_ERESTARTNOHAND 514

/* Which stop a resume is waiting for. */
enum attach_stop {
    ATTACH_STOP_INTERRUPT, /* PTRACE_EVENT_STOP after PTRACE_INTERRUPT */
    ATTACH_STOP_STEP,      /* SIGTRAP after single-stepping the syscall */
    ATTACH_STOP_CALL,      /* SIGSEGV at rip 0: the remote call returned */
};

struct attach_ctx {
    const struct target_info *t;
    pid_t pid;             /* the thread we trace (ptrace works per thread) */
    pid_t tgid;            /* its process, for tgkill */
    const char *call_name; /* the remote function being called, for messages */
    bool call_faulted;     /* that call faulted (the signal was not delivered) */
    unsigned watchdog_ms;
    /* Nonzero during a call that must never wait on a lock for long: the
     * wait for it ends (as the watchdog's would) once the thread has slept
     * this long in one futex wait (attach_futex_stuck). */
    unsigned futex_stuck_ms;
    struct attach_stats *st;
    char *msg;
    size_t msg_len;
    struct user_regs_struct saved;
    uint8_t *xstate;
    size_t xstate_len; /* 0: fell back to fpregs */
    struct user_fpregs_struct fpregs;
    int sigs[ATTACH_MAX_SIGNALS];
    int nsigs;
    bool gone;
    bool have_regs, have_fp; /* what attach_save managed to save */
    uint64_t scratch;        /* ATTACH_SCRATCH_BYTES of ours in the target, 0 none yet */
};

/* CLOCK_MONOTONIC in ns. */
uint64_t attach_now_ns(void);
/* Writes the message (if the caller gave room for one) and returns s. */
__attribute__((format(printf, 3, 4))) enum target_status
attach_fail(struct attach_ctx *c, enum target_status s, const char *fmt, ...);
/* Seizes c->pid and stops it (*stop_t0: when; 0 if it never stopped). */
enum target_status attach_stop(struct attach_ctx *c, uint64_t *stop_t0);
/* A syscall made by the stopped thread (a libc `syscall` borrowed). */
enum target_status attach_syscall(struct attach_ctx *c, long nr, const uint64_t a[6],
                                  uint64_t *ret);
/* An anonymous read-write mapping of len bytes in the target. */
enum target_status attach_remote_mmap(struct attach_ctx *c, uint64_t len, uint64_t *page);
/* Calls fn(args...) in the stopped thread, on its stack or below
 * stack_top, within c->watchdog_ms (TARGET_TIMEOUT past it). */
enum target_status attach_call(struct attach_ctx *c, const char *name, uint64_t fn,
                               const uint64_t *args, int nargs, uint64_t stack_top, uint64_t *ret);
/* Puts back every register and detaches. */
void attach_finish(struct attach_ctx *c, enum target_status s);
/* Sends the signals that arrived while the thread was ours. */
void attach_redeliver(struct attach_ctx *c);
/* Blocks the signals an attach must not be cut short by; *old to restore. */
void attach_signals_hold(sigset_t *old);

#endif
