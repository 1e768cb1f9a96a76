/* The attach engine's safe path: dlopen of the agent by a thread parked in
 * a libc wait (attach_native_start, attach.h), for targets whose threads
 * never reach a safe point for a pending call. */
#if !defined(__x86_64__)
#error "attach_native.c implements the remote call for x86-64 only"
#endif

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "attach_ctx.h"
#include "elfsym.h"
#include "procmem.h"

/* The native path's own mapping: the strings at its start, a stack for
 * dlopen and the entry above them (ld.so needs a few KiB; untouched pages
 * cost nothing). */
#define ATTACH_NATIVE_MAP_BYTES (256u << 10)
#define ATTACH_NATIVE_MAX_THREADS 256
/* __RTLD_DLOPEN: what dlopen adds for __libc_dlopen_mode's callers. */
#define ATTACH_RTLD_DLOPEN 0x80000000u

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
