/* The attach engine (see attach.h and /work/shared/notes/attach.md): stop the
 * main thread, borrow a libc `syscall` to map a page, queue
 * Py_AddPendingCall(PyRun_SimpleString, page), put everything back, detach. */
#include "attach.h"

#if !defined(__x86_64__)
#error "attach.c implements the remote call for x86-64 only"
#endif

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elfsym.h" /* NT_X86_XSTATE, via the system <elf.h> */
#include "procmem.h"

#define ATTACH_MAX_CODE_BYTES 3000
#define ATTACH_PAGE_BYTES 4096
/* The native path's own mapping: the strings at its start, a stack for
 * dlopen and the entry above them (ld.so needs a few KiB; untouched pages
 * cost nothing). */
#define ATTACH_NATIVE_MAP_BYTES (256u << 10)
#define ATTACH_NATIVE_MAX_THREADS 256
/* __RTLD_DLOPEN: what dlopen adds for __libc_dlopen_mode's callers. */
#define ATTACH_RTLD_DLOPEN 0x80000000u
/* Large enough for any XSAVE layout (AMX needs ~11 KiB); the kernel reports
 * the real size, and PTRACE_SETREGSET wants exactly that size back. */
#define ATTACH_XSTATE_BYTES (64u << 10)
#define ATTACH_MAX_SIGNALS 32
#define ATTACH_EFLAGS_DF (1ull << 10)
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
    pid_t pid;              /* the thread we trace (ptrace works per thread) */
    pid_t tgid;             /* its process, for tgkill */
    const char *call_name;  /* the remote function being called, for messages */
    bool call_faulted;      /* that call faulted (the signal was not delivered) */
    unsigned watchdog_ms;
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

static uint64_t attach_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 3, 4))) static enum target_status
attach_fail(struct attach_ctx *c, enum target_status s, const char *fmt, ...)
{
    if (c->msg && c->msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->msg_len, fmt, ap);
        va_end(ap);
    }
    return s;
}

static enum target_status attach_gone(struct attach_ctx *c)
{
    c->gone = true;
    return attach_fail(c, TARGET_GONE, "PID %d (%s) exited while pymemtop was attaching.",
                       (int)c->pid, c->t->comm);
}

/* ptrace failed with errno: ESRCH means the tracee died (or is not stopped,
 * which our protocol never causes). */
static enum target_status attach_ptrace_error(struct attach_ctx *c, const char *what)
{
    int err = errno;
    int status;
    if (err == ESRCH && waitpid(c->pid, &status, __WALL | WNOHANG) == c->pid &&
        (WIFEXITED(status) || WIFSIGNALED(status)))
        return attach_gone(c);
    return attach_fail(c, TARGET_INJECT_FAILED, "PID %d (%s): %s failed: %s.", (int)c->pid,
                       c->t->comm, what, strerror(err));
}

/* Waits for the next stop of the main thread, polling so the wait is bounded
 * by the watchdog: 1 = stopped, 0 = watchdog expired, -1 = exited. */
static int attach_wait(struct attach_ctx *c, int *status)
{
    uint64_t deadline = attach_now_ns() + (uint64_t)c->watchdog_ms * 1000000ull;
    long nap_ns = 5000;
    for (;;) {
        pid_t r = waitpid(c->pid, status, __WALL | WNOHANG);
        if (r == c->pid)
            return WIFSTOPPED(*status) ? 1 : -1;
        if (r < 0 && errno != EINTR)
            return -1; /* ECHILD: no longer our tracee */
        if (attach_now_ns() >= deadline)
            return 0;
        struct timespec ts = {0, nap_ns};
        nanosleep(&ts, NULL);
        nap_ns = nap_ns < 500000 ? nap_ns * 2 : 1000000;
    }
}

static void attach_remember_signal(struct attach_ctx *c, int sig)
{
    for (int i = 0; i < c->nsigs; i++)
        if (c->sigs[i] == sig && sig < SIGRTMIN)
            return; /* standard signals do not queue: one delivery is exact */
    if (c->nsigs < ATTACH_MAX_SIGNALS)
        c->sigs[c->nsigs++] = sig;
}

static bool attach_stop_matches(struct attach_ctx *c, enum attach_stop want, int status)
{
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (want == ATTACH_STOP_INTERRUPT)
        return event == PTRACE_EVENT_STOP;
    if (event != 0)
        return false;
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, c->pid, NULL, &r) != 0)
        return false;
    if (want == ATTACH_STOP_STEP)
        return sig == SIGTRAP && r.rip == c->t->addr_syscall_insn + 2;
    return sig == SIGSEGV && r.rip == 0;
}

/* Resumes with `req` (0 = already running) and waits for the stop `want`.
 * Signal-delivery stops met on the way are suppressed and remembered, to be
 * re-delivered after detach, so no handler runs on our borrowed registers. */
static enum target_status attach_resume_until(struct attach_ctx *c, int req, enum attach_stop want)
{
    for (;;) {
        if (req && ptrace((enum __ptrace_request)req, c->pid, NULL, NULL) != 0)
            return attach_ptrace_error(c, "resuming the target");
        req = want == ATTACH_STOP_STEP ? PTRACE_SINGLESTEP : PTRACE_CONT;
        int status;
        int w = attach_wait(c, &status);
        if (w < 0)
            return attach_gone(c);
        if (w == 0)
            return TARGET_TIMEOUT;
        if (attach_stop_matches(c, want, status))
            return TARGET_OK;
        int sig = WSTOPSIG(status);
        if (status >> 16 != 0)
            continue; /* a group-stop or an event: just resume */
        if (want == ATTACH_STOP_STEP && sig == SIGSYS)
            return attach_fail(c, TARGET_INJECT_FAILED,
                               "PID %d (%s): a seccomp filter forbids mmap in the target.",
                               (int)c->pid, c->t->comm);
        if (want == ATTACH_STOP_CALL && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL)) {
            c->call_faulted = true;
            return attach_fail(c, TARGET_INJECT_FAILED,
                               "PID %d (%s): the call to %s faulted (signal %d);"
                               " registers were restored.",
                               (int)c->pid, c->t->comm, c->call_name, sig);
        }
        attach_remember_signal(c, sig);
    }
}

static enum target_status attach_save(struct attach_ctx *c)
{
    if (ptrace(PTRACE_GETREGS, c->pid, NULL, &c->saved) != 0)
        return attach_ptrace_error(c, "PTRACE_GETREGS");
    c->have_regs = true;
    struct iovec iov = {.iov_base = c->xstate, .iov_len = ATTACH_XSTATE_BYTES};
    if (c->xstate &&
        ptrace(PTRACE_GETREGSET, c->pid, (void *)(uintptr_t)NT_X86_XSTATE, &iov) == 0) {
        c->xstate_len = iov.iov_len;
        c->have_fp = true;
        return TARGET_OK;
    }
    if (ptrace(PTRACE_GETFPREGS, c->pid, NULL, &c->fpregs) != 0)
        return attach_ptrace_error(c, "saving the FPU registers");
    c->have_fp = true;
    return TARGET_OK;
}

static int attach_restore(struct attach_ctx *c, const struct user_regs_struct *regs)
{
    if (!c->have_regs)
        return 0; /* nothing was changed either */
    int rc = ptrace(PTRACE_SETREGS, c->pid, NULL, regs) == 0 ? 0 : -errno;
    if (!c->have_fp)
        return rc;
    if (c->xstate_len) {
        struct iovec iov = {.iov_base = c->xstate, .iov_len = c->xstate_len};
        if (ptrace(PTRACE_SETREGSET, c->pid, (void *)(uintptr_t)NT_X86_XSTATE, &iov) != 0 &&
            rc == 0)
            rc = -errno;
    } else if (ptrace(PTRACE_SETFPREGS, c->pid, NULL, &c->fpregs) != 0 && rc == 0) {
        rc = -errno;
    }
    return rc;
}

/* Runs one system call on the borrowed `syscall` instruction: *ret is its
 * raw result (-errno on failure). orig_rax = -1 keeps the kernel from
 * restarting the syscall we interrupted instead. */
static enum target_status attach_syscall(struct attach_ctx *c, long nr, const uint64_t a[6],
                                         uint64_t *ret)
{
    struct user_regs_struct r = c->saved;
    r.rip = c->t->addr_syscall_insn;
    r.rax = (uint64_t)nr;
    r.orig_rax = (uint64_t)-1;
    r.rdi = a[0];
    r.rsi = a[1];
    r.rdx = a[2];
    r.r10 = a[3];
    r.r8 = a[4];
    r.r9 = a[5];
    if (ptrace(PTRACE_SETREGS, c->pid, NULL, &r) != 0)
        return attach_ptrace_error(c, "PTRACE_SETREGS");
    enum target_status s = attach_resume_until(c, PTRACE_SINGLESTEP, ATTACH_STOP_STEP);
    if (s != TARGET_OK)
        return s;
    if (ptrace(PTRACE_GETREGS, c->pid, NULL, &r) != 0)
        return attach_ptrace_error(c, "PTRACE_GETREGS");
    *ret = r.rax;
    return TARGET_OK;
}

/* mmap(NULL, len, RW, PRIVATE|ANON) in the target. */
static enum target_status attach_remote_mmap(struct attach_ctx *c, uint64_t len, uint64_t *page)
{
    const uint64_t a[6] = {0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           (uint64_t)-1, 0};
    uint64_t r;
    enum target_status s = attach_syscall(c, SYS_mmap, a, &r);
    if (s != TARGET_OK)
        return s;
    if ((int64_t)r < 0 && (int64_t)r > -4096)
        return attach_fail(c, TARGET_INJECT_FAILED, "PID %d (%s): mmap in the target failed: %s.",
                           (int)c->pid, c->t->comm, strerror((int)-(int64_t)r));
    *page = r;
    return TARGET_OK;
}

enum target_status attach_remote_syscall(struct attach_ctx *c, long nr, const uint64_t a[6],
                                         int64_t *ret)
{
    uint64_t r = 0;
    enum target_status s = attach_syscall(c, nr, a, &r);
    *ret = (int64_t)r;
    return s;
}

uint64_t attach_remote_scratch(const struct attach_ctx *c)
{
    return c->scratch;
}

int attach_remote_write(struct attach_ctx *c, uint64_t addr, const void *buf, size_t len)
{
    return procmem_write(c->pid, addr, buf, len);
}

int attach_remote_read(struct attach_ctx *c, uint64_t addr, void *buf, size_t len)
{
    return procmem_read(c->pid, addr, buf, len);
}

/* Calls fn(args...) in the stopped thread with return address 0, so the
 * return faults at rip 0 and we get the thread back; *ret = rax. The stack
 * is `stack_top` when given (a mapping of ours), else the thread's own well
 * below its red zone (128 bytes; 1024 are skipped). rsp % 16 == 8 at entry,
 * as after a call. */
static enum target_status attach_call(struct attach_ctx *c, const char *name, uint64_t fn,
                                      const uint64_t *args, int nargs, uint64_t stack_top,
                                      uint64_t *ret)
{
    struct user_regs_struct r = c->saved;
    uint64_t top = stack_top ? stack_top : c->saved.rsp - 1024;
    r.rsp = (top & ~(uint64_t)15) - 8;
    uint64_t ret_addr = 0;
    if (procmem_write(c->pid, r.rsp, &ret_addr, sizeof(ret_addr)) != 0)
        return attach_fail(c, TARGET_INJECT_FAILED,
                           "PID %d (%s): cannot write to the target's stack.", (int)c->pid,
                           c->t->comm);
    unsigned long long *regs[6] = {&r.rdi, &r.rsi, &r.rdx, &r.rcx, &r.r8, &r.r9};
    for (int i = 0; i < nargs && i < 6; i++)
        *regs[i] = args[i];
    r.rip = fn;
    r.rax = 0;
    r.orig_rax = (uint64_t)-1;
    r.eflags &= ~ATTACH_EFLAGS_DF; /* the ABI promises DF clear at a call */
    c->call_name = name;
    if (ptrace(PTRACE_SETREGS, c->pid, NULL, &r) != 0)
        return attach_ptrace_error(c, "PTRACE_SETREGS");
    enum target_status s = attach_resume_until(c, PTRACE_CONT, ATTACH_STOP_CALL);
    if (s != TARGET_OK)
        return s;
    if (ptrace(PTRACE_GETREGS, c->pid, NULL, &r) != 0)
        return attach_ptrace_error(c, "PTRACE_GETREGS");
    *ret = r.rax;
    return TARGET_OK;
}

/* Queues the pending call. Where the table says so (3.12+): for any thread
 * of the main interpreter (PyInterpreterState_Main reads one field of _PyRuntime, takes no lock);
 * else, or if that returned NULL, for the main thread (Py_AddPendingCall). */
static enum target_status attach_queue(struct attach_ctx *c, uint64_t page)
{
    const struct target_info *t = c->t;
    uint64_t rc = 0, interp = 0;
    enum target_status s;
    if (t->addr_add_pending_any && t->addr_interp_main) {
        s = attach_call(c, "PyInterpreterState_Main", t->addr_interp_main, NULL, 0, 0, &interp);
        if (s != TARGET_OK)
            return s;
    }
    if (interp) {
        const uint64_t a[4] = {interp, t->addr_run_simple_string, page, 0};
        s = attach_call(c, "_PyEval_AddPendingCall", t->addr_add_pending_any, a, 4, 0, &rc);
        c->st->any_thread = true;
    } else {
        const uint64_t a[2] = {t->addr_run_simple_string, page};
        s = attach_call(c, "Py_AddPendingCall", t->addr_add_pending_call, a, 2, 0, &rc);
    }
    if (s != TARGET_OK)
        return s;
    c->st->pending_rc = (int)rc;
    if (c->st->pending_rc != 0)
        return attach_fail(c, TARGET_INJECT_FAILED,
                           "PID %d (%s): %s returned %d (its queue is full).\n"
                           "Try again in a moment.",
                           (int)c->pid, c->t->comm, c->call_name, c->st->pending_rc);
    return TARGET_OK;
}

/* The page: the code from its start, the scratch area in its last KiB. */
static enum target_status attach_inject(struct attach_ctx *c, attach_prepare_fn prepare, void *arg)
{
    /* A pending call queued while the interpreter is still starting runs at
     * the first bytecode of its start-up, before importlib is ready: a debug
     * 3.14 aborted on it (about 1 attach in 40 right after exec). Py_IsInitialized
     * only reads one field of _PyRuntime; before it says 1, nothing is written. */
    uint64_t ready = 1;
    enum target_status s;
    if (c->t->addr_is_initialized) {
        s = attach_call(c, "Py_IsInitialized", c->t->addr_is_initialized, NULL, 0, 0, &ready);
        /* Right after exec the loader may not have relocated libpython yet:
         * the call faults on its GOT (the signal is not delivered, registers
         * are restored). That is a process still starting too. */
        if (s == TARGET_INJECT_FAILED && c->call_faulted)
            ready = 0;
        else if (s != TARGET_OK)
            return s;
    }
    if ((int)ready == 0)
        return attach_fail(c, TARGET_STARTING,
                           "PID %d (%s): its interpreter is not running yet (or any more): "
                           "Py_IsInitialized() is 0.",
                           (int)c->pid, c->t->comm);
    uint64_t page = 0;
    s = attach_remote_mmap(c, ATTACH_PAGE_BYTES, &page);
    if (s != TARGET_OK)
        return s;
    c->scratch = page + ATTACH_PAGE_BYTES - ATTACH_SCRATCH_BYTES;
    char code[ATTACH_MAX_CODE_BYTES + 1] = "";
    s = prepare(c, arg, code, sizeof(code), c->msg, c->msg_len);
    if (s != TARGET_OK)
        return s;
    size_t code_len = strnlen(code, sizeof(code));
    if (code_len == 0 || code_len > ATTACH_MAX_CODE_BYTES)
        return attach_fail(c, TARGET_INJECT_FAILED, "The code to inject must be 1 to %d bytes.",
                           ATTACH_MAX_CODE_BYTES);
    if (procmem_write(c->pid, page, code, code_len + 1) != 0)
        return attach_fail(c, TARGET_INJECT_FAILED,
                           "PID %d (%s): cannot write the code into the target.", (int)c->pid,
                           c->t->comm);
    return attach_queue(c, page);
}

/* The remote call is stuck (Py_AddPendingCall waiting for its lock, which
 * holds nothing yet, so abandoning it is safe): stop the thread again. */
static enum target_status attach_watchdog(struct attach_ctx *c)
{
    if (ptrace(PTRACE_INTERRUPT, c->pid, NULL, NULL) != 0)
        return attach_ptrace_error(c, "PTRACE_INTERRUPT");
    enum target_status s = attach_resume_until(c, 0, ATTACH_STOP_INTERRUPT);
    if (s == TARGET_TIMEOUT)
        return attach_fail(c, TARGET_TIMEOUT,
                           "PID %d (%s) did not stop again after the call timed out;\n"
                           "it stays traced by pymemtop until it stops or pymemtop exits.",
                           (int)c->pid, c->t->comm);
    if (s != TARGET_OK)
        return s;
    return attach_fail(c, TARGET_TIMEOUT,
                       "PID %d (%s): %s did not return within %u ms "
                       "(a thread holds its lock).\nThe target was left as it was; try again.",
                       (int)c->pid, c->t->comm, c->call_name, c->watchdog_ms);
}

/* Puts back every register and detaches; the kernel then restarts the
 * syscall we interrupted, from the original orig_rax/rax. */
static void attach_finish(struct attach_ctx *c, enum target_status s)
{
    struct user_regs_struct r = c->saved;
    /* After a watchdog stop the abandoned call may have reused the thread's
     * restart_block (futex waits do): restarting through it could resume the
     * wrong syscall, so let an interrupted sleep return EINTR instead, which
     * CPython retries with the remaining time. */
    if (s == TARGET_TIMEOUT && (int64_t)r.rax == -ATTACH_ERESTART_RESTARTBLOCK)
        r.rax = (uint64_t)-EINTR;
    int rc = attach_restore(c, &r);
    if (rc != 0 && s == TARGET_OK)
        attach_fail(c, TARGET_INJECT_FAILED, "PID %d (%s): restoring registers failed: %s.",
                    (int)c->pid, c->t->comm, strerror(-rc));
    ptrace(PTRACE_DETACH, c->pid, NULL, NULL);
}

static void attach_redeliver(struct attach_ctx *c)
{
    for (int i = 0; i < c->nsigs; i++)
        if (syscall(SYS_tgkill, c->tgid, c->pid, c->sigs[i]) == 0)
            c->st->signals_redelivered++;
}

static void attach_read_yama(char *buf, size_t len)
{
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    int v;
    if (f && fscanf(f, "%d", &v) == 1)
        snprintf(buf, len, "kernel.yama.ptrace_scope is %d (/proc/sys/kernel/yama/ptrace_scope)",
                 v);
    else
        snprintf(buf, len, "no Yama (/proc/sys/kernel/yama/ptrace_scope is absent)");
    if (f)
        fclose(f);
}

static enum target_status attach_seize_error(struct attach_ctx *c)
{
    int err = errno;
    if (err == ESRCH)
        return attach_gone(c);
    if (err != EPERM)
        return attach_fail(c, TARGET_INJECT_FAILED, "PID %d (%s): PTRACE_SEIZE failed: %s.",
                           (int)c->pid, c->t->comm, strerror(err));
    char yama[128];
    attach_read_yama(yama, sizeof(yama));
    return attach_fail(c, TARGET_PTRACE_DENIED,
                       "Not allowed to ptrace PID %d (%s): %s; or the target is non-dumpable, "
                       "or we lack CAP_SYS_PTRACE.\nFix: run with sudo, or `sudo sysctl "
                       "kernel.yama.ptrace_scope=0`, or in a container add --cap-add SYS_PTRACE.",
                       (int)c->pid, c->t->comm, yama);
}

/* Seize, interrupt and save: on success the main thread is stopped with its
 * state in c->saved. */
static enum target_status attach_stop(struct attach_ctx *c, uint64_t *stop_t0)
{
    if (ptrace(PTRACE_SEIZE, c->pid, NULL, NULL) != 0)
        return attach_seize_error(c);
    if (ptrace(PTRACE_INTERRUPT, c->pid, NULL, NULL) != 0)
        return attach_ptrace_error(c, "PTRACE_INTERRUPT");
    enum target_status s = attach_resume_until(c, 0, ATTACH_STOP_INTERRUPT);
    if (s == TARGET_TIMEOUT) {
        /* A tracee can only be detached while stopped: give it a second
         * period (uninterruptible I/O ends eventually) before giving up. */
        s = attach_resume_until(c, 0, ATTACH_STOP_INTERRUPT);
        if (s == TARGET_TIMEOUT)
            return attach_fail(c, TARGET_TIMEOUT,
                               "PID %d (%s): the main thread did not stop within %u ms;\n"
                               "it stays traced by pymemtop until it stops or pymemtop exits.",
                               (int)c->pid, c->t->comm, 2 * c->watchdog_ms);
    }
    if (s != TARGET_OK)
        return s;
    *stop_t0 = attach_now_ns();
    return attach_save(c);
}

static enum target_status attach_check_args(struct attach_ctx *c)
{
    if (!c->t->addr_add_pending_call || !c->t->addr_run_simple_string ||
        !c->t->addr_syscall_insn || c->pid <= 0)
        return attach_fail(c, TARGET_INJECT_FAILED,
                           "PID %d: inspect the target successfully before attaching.",
                           (int)c->pid);
    c->xstate = malloc(ATTACH_XSTATE_BYTES);
    return TARGET_OK;
}

/* A signal that ended pymemtop while the target is stopped on borrowed
 * registers would leave the target to die (SIGTRAP or a return to address 0).
 * The signals a user or a supervisor sends are held from PTRACE_SEIZE until
 * the registers are back and the thread detached, then delivered. SIGKILL
 * cannot be held. */
static void attach_signals_hold(sigset_t *old)
{
    sigset_t hold;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);
    sigaddset(&hold, SIGHUP);
    sigaddset(&hold, SIGQUIT);
    sigaddset(&hold, SIGTSTP);
    sigaddset(&hold, SIGPIPE);
    sigprocmask(SIG_BLOCK, &hold, old);
}

static enum target_status attach_pending_call_held(const struct target_info *t,
                                                   attach_prepare_fn prepare, void *arg,
                                                   unsigned watchdog_ms, struct attach_stats *st,
                                                   char *msg, size_t msg_len);

enum target_status attach_pending_call(const struct target_info *t, attach_prepare_fn prepare,
                                       void *arg, unsigned watchdog_ms, struct attach_stats *st,
                                       char *msg, size_t msg_len)
{
    sigset_t old;
    attach_signals_hold(&old);
    enum target_status r =
        attach_pending_call_held(t, prepare, arg, watchdog_ms, st, msg, msg_len);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}

static enum target_status attach_pending_call_held(const struct target_info *t,
                                                   attach_prepare_fn prepare, void *arg,
                                                   unsigned watchdog_ms, struct attach_stats *st,
                                                   char *msg, size_t msg_len)
{
    uint64_t t0 = attach_now_ns(), stop_t0 = 0;
    struct attach_ctx c = {.t = t, .pid = t->pid, .tgid = t->pid, .watchdog_ms = watchdog_ms ? watchdog_ms : 1,
                           .st = st, .msg = msg, .msg_len = msg_len};
    memset(st, 0, sizeof(*st));
    if (msg && msg_len)
        msg[0] = '\0';
    enum target_status s = attach_check_args(&c);
    if (s != TARGET_OK)
        return s;
    s = attach_stop(&c, &stop_t0);
    if (s == TARGET_OK) {
        s = attach_inject(&c, prepare, arg);
        if (s == TARGET_TIMEOUT)
            s = attach_watchdog(&c);
    }
    if (stop_t0 && !c.gone) {
        attach_finish(&c, s);
        st->stop_ns = attach_now_ns() - stop_t0;
        attach_redeliver(&c);
    }
    free(c.xstate);
    st->total_ns = attach_now_ns() - t0;
    return s;
}

/* ---- The safe path: dlopen in a thread parked in libc (attach_native_start) ---- */

#define ATTACH_NATIVE_CALL_MS (10u * 60u * 1000u)

/* What /proc/PID/task/TID/syscall says: nr -2 running, -1 not in a syscall. */
struct attach_blocked {
    long nr;
    uint64_t a[6];
    uint64_t sp, pc;
};

static int attach_read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static int attach_read_blocked(pid_t pid, pid_t tid, struct attach_blocked *b)
{
    char path[80], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
    if (attach_read_small(path, buf, sizeof(buf)) != 0)
        return -1;
    memset(b, 0, sizeof(*b));
    if (strncmp(buf, "running", 7) == 0) {
        b->nr = -2;
        return 0;
    }
    char *p = buf, *end;
    b->nr = strtol(p, &end, 10);
    if (end == p)
        return -1;
    if (b->nr < 0)
        return 0;
    for (int i = 0; i < 6; i++) {
        p = end;
        b->a[i] = strtoull(p, &end, 0);
    }
    p = end;
    b->sp = strtoull(p, &end, 0);
    p = end;
    b->pc = strtoull(p, &end, 0);
    return end == p ? -1 : 0;
}

/* glibc's and musl's signal return trampoline, __restore_rt:
 * mov $15, %rax (rt_sigreturn); syscall. Every handler installed through
 * libc returns through it, so a thread inside a handler has its address on
 * the stack (the first word of the kernel's signal frame). 0 if not found. */
static uint64_t attach_find_restorer(const struct target_info *t)
{
    static const uint8_t pat[9] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
    size_t len = (size_t)(t->libc_text_end - t->libc_text_start);
    uint8_t *buf = len && len < (64u << 20) ? malloc(len) : NULL;
    uint64_t at = 0;
    if (buf && procmem_read(t->pid, t->libc_text_start, buf, len) == 0) {
        const uint8_t *hit = memmem(buf, len, pat, sizeof(pat));
        at = hit ? t->libc_text_start + (uint64_t)(hit - buf) : 0;
    }
    free(buf);
    return at;
}

/* Whether the thread is running a signal handler (whatever the handler
 * interrupted may hold any lock): the restorer's address in the 64 KiB above
 * its stack pointer. Without a restorer to look for: any caught signal
 * blocked, which a handler without SA_NODEFER has. */
static bool attach_in_handler(pid_t pid, pid_t tid, uint64_t restorer, uint64_t sp)
{
    if (restorer) {
        static uint64_t words[8192];
        for (size_t len = sizeof(words); len >= 512; len /= 2) {
            if (procmem_read(tid, sp & ~(uint64_t)7, words, len) != 0)
                continue; /* ran past the top of the stack: read less */
            for (size_t i = 0; i < len / 8; i++)
                if (words[i] == restorer)
                    return true;
            return false;
        }
        return true;
    }
    char path[80], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
    if (attach_read_small(path, buf, sizeof(buf)) != 0)
        return true;
    const char *blk = strstr(buf, "\nSigBlk:"), *cgt = strstr(buf, "\nSigCgt:");
    if (!blk || !cgt)
        return true;
    return (strtoull(blk + 8, NULL, 16) & strtoull(cgt + 8, NULL, 16)) != 0;
}

/* NULL when a thread blocked in syscall `nr` with arguments `a`, about to
 * return to `pc`, may run dlopen; else why not (see attach.h). */
static const char *attach_native_unsafe(const struct target_info *t, const struct attach_blocked *b)
{
    if (b->nr == -2)
        return "running";
    if (b->nr < 0)
        return "not in a system call";
    if (b->pc < t->libc_text_start + 2 || b->pc > t->libc_text_end)
        return "in a system call made outside libc";
    switch (b->nr) {
    case SYS_clock_nanosleep:
    case SYS_nanosleep:
    case SYS_select:
    case SYS_poll:
    case SYS_epoll_wait:
    case SYS_pause:
    case SYS_wait4:
    case SYS_waitid:
    case SYS_accept:
    case SYS_accept4:
        return NULL;
    case SYS_pselect6:
        return b->a[5] ? "in pselect6 with a signal mask" : NULL;
    case SYS_ppoll:
        return b->a[3] ? "in ppoll with a signal mask" : NULL;
    case SYS_epoll_pwait:
        return b->a[4] ? "in epoll_pwait with a signal mask" : NULL;
    case SYS_futex:
        if ((b->a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET &&
            (uint32_t)b->a[5] == FUTEX_BITSET_MATCH_ANY)
            return NULL;
        return "waiting for a lock (plain futex wait)";
    default:
        return "in a system call that is not a plain wait";
    }
}

/* The stopped thread's own registers must tell the same story: stopped in
 * that syscall (interrupted: a restart code or EINTR in rax), right after a
 * `syscall` instruction in libc. */
static const char *attach_native_check_stop(struct attach_ctx *c, uint64_t restorer)
{
    const struct user_regs_struct *r = &c->saved;
    struct attach_blocked b = {.nr = (long)r->orig_rax,
                               .a = {r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9},
                               .pc = r->rip};
    const char *why = attach_native_unsafe(c->t, &b);
    if (why)
        return why;
    int64_t rax = (int64_t)r->rax;
    if (rax != -EINTR && rax != -ATTACH_ERESTARTSYS && rax != -ATTACH_ERESTARTSYS - 1 &&
        rax != -ATTACH_ERESTARTNOHAND && rax != -ATTACH_ERESTART_RESTARTBLOCK)
        return "stopped outside its wait";
    uint8_t insn[2];
    if (procmem_read(c->pid, r->rip - 2, insn, 2) != 0 || insn[0] != 0x0f || insn[1] != 0x05)
        return "not stopped after a syscall instruction";
    if (attach_in_handler(c->tgid, c->pid, restorer, r->rsp))
        return "running a signal handler";
    return NULL;
}

static void attach_read_cstr(pid_t pid, uint64_t addr, char *out, size_t len)
{
    out[0] = '\0';
    if (!addr || procmem_read(pid, addr, out, len - 1) != 0) {
        /* may cross into an unmapped page: try a shorter read */
        if (!addr || procmem_read(pid, addr, out, 64) != 0) {
            snprintf(out, len, "(no message)");
            return;
        }
        out[64] = '\0';
    }
    out[len - 1] = '\0';
}

/* In the stopped thread: map our own stack, dlopen, dlsym, call the entry,
 * unmap. The calls are not abandoned on a timeout: a dlopen cut short could
 * keep the loader lock, so we wait for it as long as the target lives (it
 * only waits for locks other threads hold for a moment). */
static enum target_status attach_native_load(struct attach_ctx *c, const char *so_path,
                                             const char *entry, attach_verify_fn verify,
                                             void *arg)
{
    const struct target_info *t = c->t;
    size_t pl = strlen(so_path) + 1, el = strlen(entry) + 1;
    uint64_t map = 0, handle = 0, fn = 0, rc = 0, unused;
    enum target_status s = attach_remote_mmap(c, ATTACH_NATIVE_MAP_BYTES, &map);
    if (s != TARGET_OK)
        return s;
    if (procmem_write(c->pid, map, so_path, pl) != 0 ||
        procmem_write(c->pid, map + pl, entry, el) != 0)
        s = attach_fail(c, TARGET_INJECT_FAILED, "PID %d (%s): cannot write into the target.",
                        (int)c->tgid, t->comm);
    uint64_t top = map + ATTACH_NATIVE_MAP_BYTES - 64;
    c->scratch = map + ATTACH_PAGE_BYTES; /* past the strings (at most 4 KiB) */
    if (s == TARGET_OK && verify)
        s = verify(c, arg, c->msg, c->msg_len);
    unsigned watchdog = c->watchdog_ms;
    c->watchdog_ms = ATTACH_NATIVE_CALL_MS;
    if (s == TARGET_OK) {
        const uint64_t a[2] = {map, RTLD_NOW | (t->dlopen_private ? ATTACH_RTLD_DLOPEN : 0)};
        s = attach_call(c, t->dlopen_private ? "__libc_dlopen_mode" : "dlopen", t->addr_dlopen,
                        a, 2, top, &handle);
    }
    if (s == TARGET_OK && !handle) {
        char err[256] = "";
        uint64_t e = 0;
        if (t->addr_dlerror && attach_call(c, "dlerror", t->addr_dlerror, NULL, 0, top, &e) ==
                                   TARGET_OK)
            attach_read_cstr(c->pid, e, err, sizeof(err));
        s = attach_fail(c, TARGET_AGENT_ERROR, "PID %d (%s): dlopen(%s) failed in the target: %s",
                        (int)c->tgid, t->comm, so_path, err[0] ? err : "(no message)");
    }
    if (s == TARGET_OK) {
        const uint64_t a[2] = {handle, map + pl};
        s = attach_call(c, t->dlopen_private ? "__libc_dlsym" : "dlsym", t->addr_dlsym, a, 2, top,
                        &fn);
        if (s == TARGET_OK && !fn)
            s = attach_fail(c, TARGET_AGENT_ERROR, "PID %d (%s): %s has no %s.", (int)c->tgid,
                            t->comm, so_path, entry);
    }
    if (s == TARGET_OK) {
        s = attach_call(c, entry, fn, NULL, 0, top, &rc);
        if (s == TARGET_OK && (int)rc != 0)
            s = attach_fail(c, TARGET_AGENT_ERROR, "PID %d (%s): %s() failed in the target: %s.",
                            (int)c->tgid, t->comm, entry, strerror(-(int)rc));
    }
    c->watchdog_ms = watchdog;
    /* Unmap only after clean returns; a fault leaves it (nothing else uses it). */
    if (s == TARGET_OK || s == TARGET_AGENT_ERROR) {
        const uint64_t a[6] = {map, ATTACH_NATIVE_MAP_BYTES, 0, 0, 0, 0};
        attach_syscall(c, SYS_munmap, a, &unused);
    }
    return s;
}

/* Stops one thread, checks it is where /proc said, loads. *why is set when
 * it had moved on (TARGET_NO_SAFE_POINT). */
static enum target_status attach_native_try(const struct target_info *t, pid_t tid,
                                            uint64_t restorer, const char *so_path,
                                            const char *entry, attach_verify_fn verify,
                                            void *arg, unsigned watchdog_ms,
                                            struct attach_stats *st, const char **why, char *msg,
                                            size_t msg_len)
{
    uint64_t stop_t0 = 0;
    struct attach_ctx c = {.t = t, .pid = tid, .tgid = t->pid, .watchdog_ms = watchdog_ms,
                           .st = st, .msg = msg, .msg_len = msg_len};
    c.xstate = malloc(ATTACH_XSTATE_BYTES);
    enum target_status s = attach_stop(&c, &stop_t0);
    if (s == TARGET_OK) {
        *why = attach_native_check_stop(&c, restorer);
        s = *why ? TARGET_NO_SAFE_POINT : attach_native_load(&c, so_path, entry, verify, arg);
    }
    if (stop_t0 && !c.gone) {
        attach_finish(&c, s);
        st->native_stop_ns = attach_now_ns() - stop_t0;
        attach_redeliver(&c);
    }
    free(c.xstate);
    if (s == TARGET_OK)
        st->native_tid = (int)tid;
    return s;
}

/* The process's threads, the main one first. */
static int attach_list_threads(pid_t pid, pid_t *tids, int max)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    tids[n++] = pid;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0 && tid != pid)
            tids[n++] = tid;
    }
    closedir(d);
    return n;
}

__attribute__((format(printf, 3, 4))) static void attach_append(char *buf, size_t len,
                                                                const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

static enum target_status attach_native_start_held(const struct target_info *t,
                                                   const char *so_path, const char *entry,
                                                   attach_verify_fn verify, void *arg,
                                                   unsigned watchdog_ms, struct attach_stats *st,
                                                   char *msg, size_t msg_len);

enum target_status attach_native_start(const struct target_info *t, const char *so_path,
                                       const char *entry, attach_verify_fn verify, void *arg,
                                       unsigned watchdog_ms, struct attach_stats *st, char *msg,
                                       size_t msg_len)
{
    sigset_t old;
    attach_signals_hold(&old);
    enum target_status r = attach_native_start_held(t, so_path, entry, verify, arg, watchdog_ms,
                                                    st, msg, msg_len);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}

static enum target_status attach_native_start_held(const struct target_info *t,
                                                   const char *so_path, const char *entry,
                                                   attach_verify_fn verify, void *arg,
                                                   unsigned watchdog_ms, struct attach_stats *st,
                                                   char *msg, size_t msg_len)
{
    uint64_t t0 = attach_now_ns();
    st->native_tid = 0;
    st->native_stop_ns = 0;
    if (msg && msg_len)
        msg[0] = '\0';
    if (!t->addr_dlopen || !t->addr_dlsym || !t->libc_text_end || !t->addr_syscall_insn) {
        snprintf(msg, msg_len, "PID %d (%s): its libc exports no dlopen to load the agent with.",
                 (int)t->pid, t->comm);
        return TARGET_NO_SAFE_POINT;
    }
    if (strlen(so_path) + strlen(entry) + 2 > 4096) {
        snprintf(msg, msg_len, "agent path too long");
        return TARGET_AGENT_ERROR;
    }
    pid_t tids[ATTACH_NATIVE_MAX_THREADS];
    int n = attach_list_threads(t->pid, tids, ATTACH_NATIVE_MAX_THREADS);
    if (n < 0) {
        snprintf(msg, msg_len, "PID %d exited while pymemtop was attaching.", (int)t->pid);
        return TARGET_GONE;
    }
    char seen[768] = "";
    uint64_t restorer = attach_find_restorer(t);
    enum target_status s = TARGET_NO_SAFE_POINT;
    for (int i = 0; i < n && s == TARGET_NO_SAFE_POINT; i++) {
        struct attach_blocked b;
        const char *why = attach_read_blocked(t->pid, tids[i], &b) != 0 ? "gone"
                                                                         : attach_native_unsafe(t, &b);
        if (!why && attach_in_handler(t->pid, tids[i], restorer, b.sp))
            why = "running a signal handler";
        if (!why) {
            s = attach_native_try(t, tids[i], restorer, so_path, entry, verify, arg,
                                  watchdog_ms, st, &why, msg, msg_len);
            if (s == TARGET_GONE && kill(t->pid, 0) == 0)
                s = TARGET_NO_SAFE_POINT, why = "exited"; /* only that thread went away */
        }
        if (s == TARGET_NO_SAFE_POINT)
            attach_append(seen, sizeof(seen), "%s%s %d %s", i ? "; " : "",
                          i ? "thread" : "main thread", (int)tids[i], why ? why : "?");
    }
    st->native_total_ns = attach_now_ns() - t0;
    if (s == TARGET_NO_SAFE_POINT)
        snprintf(msg, msg_len,
                 "PID %d (%s): no thread could load the agent: none ran Python, and none was "
                 "parked in a plain libc wait (sleep, select, poll, semaphore or condition "
                 "wait) where loading code cannot meet a held lock.\nThreads: %s.",
                 (int)t->pid, t->comm, seen);
    return s;
}
