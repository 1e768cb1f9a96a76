/* The attach engine (see attach.h and /work/shared/notes/attach.md): stop the
 * main thread, borrow a libc `syscall` to map a page, queue
 * Py_AddPendingCall(PyRun_SimpleString, page), put everything back, detach.
 * The ptrace primitives and the remote call here serve the native path too
 * (attach_native.c, through attach_ctx.h). */
#include "attach.h"

#if !defined(__x86_64__)
#error "attach.c implements the remote call for x86-64 only"
#endif

#include <errno.h>
#include <fcntl.h>
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

#include "attach_ctx.h"
#include "elfsym.h" /* NT_X86_XSTATE, via the system <elf.h> */
#include "procmem.h"

#define ATTACH_MAX_CODE_BYTES 3000
#define ATTACH_EFLAGS_DF (1ull << 10)

uint64_t attach_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 3, 4))) enum target_status
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

/* How the thread waits right now, from /proc/PID/task/TID/syscall: the
 * futex address it sleeps on, 0 if it is not in a futex wait (running, or in
 * another system call). */
static uint64_t attach_futex_addr(const struct attach_ctx *c)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)c->tgid, (int)c->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long nr = strtol(buf, &end, 10);
    if (end == buf || nr != SYS_futex)
        return 0;
    return strtoull(end, NULL, 16); /* the first argument: uaddr */
}

/* True once the thread has slept on one futex for c->futex_stuck_ms: a
 * remote call that must never wait for long (the pending call, which waits
 * on the GIL's mutex from 3.13 on) is then deadlocked, with a thread that
 * waits on the one we stopped; the watchdog's seconds would only stall the
 * target longer. Sampled each poll; a wait that moves to another address, or
 * returns, starts the count again. */
static bool attach_futex_stuck(const struct attach_ctx *c, uint64_t *addr, uint64_t *since_ns)
{
    uint64_t now = attach_now_ns(), a = attach_futex_addr(c);
    if (!a || a != *addr) {
        *addr = a;
        *since_ns = now;
        return false;
    }
    return now - *since_ns >= (uint64_t)c->futex_stuck_ms * 1000000ull;
}

/* Waits for the next stop of the main thread, polling so the wait is bounded
 * by the watchdog (or a call stuck on a lock, futex_stuck_ms): 1 = stopped,
 * 0 = watchdog expired, -1 = exited. */
static int attach_wait(struct attach_ctx *c, int *status)
{
    uint64_t deadline = attach_now_ns() + (uint64_t)c->watchdog_ms * 1000000ull;
    uint64_t futex_addr = 0, futex_since = 0;
    long nap_ns = 5000;
    for (;;) {
        pid_t r = waitpid(c->pid, status, __WALL | WNOHANG);
        if (r == c->pid)
            return WIFSTOPPED(*status) ? 1 : -1;
        if (r < 0 && errno != EINTR)
            return -1; /* ECHILD: no longer our tracee */
        if (attach_now_ns() >= deadline)
            return 0;
        if (c->futex_stuck_ms && nap_ns >= 500000 &&
            attach_futex_stuck(c, &futex_addr, &futex_since)) {
            c->st->call_stuck_futex = true;
            return 0;
        }
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
enum target_status attach_syscall(struct attach_ctx *c, long nr, const uint64_t a[6],
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
enum target_status attach_remote_mmap(struct attach_ctx *c, uint64_t len, uint64_t *page)
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
enum target_status attach_call(struct attach_ctx *c, const char *name, uint64_t fn,
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
        c->futex_stuck_ms = ATTACH_FUTEX_STUCK_MS; /* see attach_futex_stuck */
        s = attach_call(c, "_PyEval_AddPendingCall", t->addr_add_pending_any, a, 4, 0, &rc);
        c->futex_stuck_ms = 0;
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
    c->st->call_abandoned = true;
    if (c->st->call_stuck_futex)
        return attach_fail(c, TARGET_TIMEOUT,
                           "PID %d (%s): %s waited %u ms on a lock another thread holds "
                           "while it waits on this one.\nThe target was left as it was; try again.",
                           (int)c->pid, c->t->comm, c->call_name, ATTACH_FUTEX_STUCK_MS);
    return attach_fail(c, TARGET_TIMEOUT,
                       "PID %d (%s): %s did not return within %u ms "
                       "(a thread holds its lock).\nThe target was left as it was; try again.",
                       (int)c->pid, c->t->comm, c->call_name, c->watchdog_ms);
}

/* Puts back every register and detaches; the kernel then restarts the
 * syscall we interrupted, from the original orig_rax/rax. */
void attach_finish(struct attach_ctx *c, enum target_status s)
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

void attach_redeliver(struct attach_ctx *c)
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
enum target_status attach_stop(struct attach_ctx *c, uint64_t *stop_t0)
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
void attach_signals_hold(sigset_t *old)
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
