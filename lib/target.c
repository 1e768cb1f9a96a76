/* target_inspect: everything an attach needs to know, from /proc and ELF files
 * only, and a message a user can act on when an attach cannot work. */
#include "target.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "procmaps.h"
#include "procmem.h"
#include "pylayout.h"

/* What we need from /proc/PID/status. */
struct target_status_file {
    char state;
    uid_t euid;
    pid_t tracer_pid;
    pid_t ns_pid;
    int threads;
};

const char *target_status_name(enum target_status s)
{
    switch (s) {
    case TARGET_OK: return "ok";
    case TARGET_NO_PROCESS: return "no_process";
    case TARGET_OTHER_USER: return "other_user";
    case TARGET_PTRACE_DENIED: return "ptrace_denied";
    case TARGET_TRACED: return "traced";
    case TARGET_NOT_PYTHON: return "not_python";
    case TARGET_OLD_PYTHON: return "old_python";
    case TARGET_GONE: return "gone";
    case TARGET_INJECT_FAILED: return "inject_failed";
    case TARGET_TIMEOUT: return "timeout";
    case TARGET_NO_SAFE_POINT: return "no_safe_point";
    case TARGET_BUSY: return "busy";
    case TARGET_AGENT_ERROR: return "agent_error";
    case TARGET_STARTING: return "starting";
    case TARGET_UNSUPPORTED_BUILD: return "unsupported_build";
    }
    return "unknown";
}

__attribute__((format(printf, 4, 5))) static enum target_status
target_fail(enum target_status s, char *msg, size_t msg_len, const char *fmt, ...)
{
    if (msg && msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_len, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* Reads a small /proc file into buf (NUL-terminated). Bytes read or -errno. */
static ssize_t target_read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

static void target_read_comm(pid_t pid, char *comm, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if (target_read_small(path, comm, len) <= 0)
        snprintf(comm, len, "?");
    comm[strcspn(comm, "\n")] = '\0';
}

static void target_read_cmdline(pid_t pid, char *cmdline, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    ssize_t n = target_read_small(path, cmdline, len);
    for (ssize_t i = 0; i < n; i++)
        if (cmdline[i] == '\0')
            cmdline[i] = ' ';
    while (n > 0 && cmdline[n - 1] == ' ')
        cmdline[--n] = '\0';
}

/* The last number on an NSpid line is the PID inside the innermost namespace. */
static pid_t target_last_field(const char *s)
{
    long v = 0;
    char *end;
    for (;;) {
        long x = strtol(s, &end, 10);
        if (end == s)
            return (pid_t)v;
        v = x;
        s = end;
    }
}

static int target_read_status(pid_t pid, struct target_status_file *sf)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    ssize_t n = target_read_small(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    memset(sf, 0, sizeof(*sf));
    sf->ns_pid = pid;
    sf->euid = (uid_t)-1;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned ruid, euid;
        if (strncmp(line, "State:", 6) == 0)
            sf->state = line[6 + strspn(line + 6, " \t")];
        else if (sscanf(line, "Uid: %u %u", &ruid, &euid) == 2)
            sf->euid = (uid_t)euid;
        else if (strncmp(line, "TracerPid:", 10) == 0)
            sf->tracer_pid = (pid_t)atoi(line + 10);
        else if (strncmp(line, "NSpid:", 6) == 0)
            sf->ns_pid = target_last_field(line + 6);
        else if (strncmp(line, "Threads:", 8) == 0)
            sf->threads = atoi(line + 8);
    }
    return 0;
}

static void target_user_name(uid_t uid, char *name, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(name, len, "%s", pw->pw_name);
    else
        snprintf(name, len, "uid %u", (unsigned)uid);
}

static enum target_status target_other_user(const struct target_info *t, char *msg, size_t len)
{
    char owner[64], me[64];
    target_user_name(t->uid, owner, sizeof(owner));
    target_user_name(geteuid(), me, sizeof(me));
    return target_fail(TARGET_OTHER_USER, msg, len,
                       "PID %d (%s) belongs to %s, and we run as %s.\n"
                       "Run pymemtop as %s, or with sudo.",
                       (int)t->pid, t->comm, owner, me, owner);
}

/* The process-level checks: exists, ours, not traced, not exiting. */
static enum target_status target_check_process(pid_t pid, struct target_info *t, char *msg,
                                               size_t len)
{
    int kill_errno = pid > 0 && kill(pid, 0) != 0 ? errno : 0;
    if (pid <= 0 || kill_errno == ESRCH)
        return target_fail(TARGET_NO_PROCESS, msg, len,
                           "No process with PID %d. Check the PID (ps -e | grep python).",
                           (int)pid);
    bool kill_eperm = kill_errno == EPERM;
    struct target_status_file sf;
    if (target_read_status(pid, &sf) != 0)
        return target_fail(TARGET_NO_PROCESS, msg, len, "PID %d exited.", (int)pid);
    t->uid = sf.euid;
    t->ns_pid = sf.ns_pid;
    target_read_comm(pid, t->comm, sizeof(t->comm));
    target_read_cmdline(pid, t->cmdline, sizeof(t->cmdline));
    snprintf(t->root, sizeof(t->root), "/proc/%d/root", (int)pid);
    if (kill_eperm || (geteuid() != 0 && sf.euid != geteuid()))
        return target_other_user(t, msg, len);
    if (sf.state == 'Z' || sf.state == 'X')
        return target_fail(TARGET_GONE, msg, len,
                           sf.threads > 1 ? "PID %d (%s): its main thread has exited, so "
                                            "there is no thread to run Python in.\n"
                                            "Attach to the process while its main thread runs."
                                          : "PID %d (%s) has exited (zombie).",
                           (int)pid, t->comm);
    if (sf.tracer_pid != 0) {
        t->tracer_pid = sf.tracer_pid;
        target_read_comm(sf.tracer_pid, t->tracer_comm, sizeof(t->tracer_comm));
        return target_fail(TARGET_TRACED, msg, len,
                           "PID %d (%s) is already traced by %s (pid %d); detach it first.",
                           (int)pid, t->comm, t->tracer_comm, (int)sf.tracer_pid);
    }
    return TARGET_OK;
}

/* "libpython3.11.so.1.0" or "python3.11" -> 3, 11. */
static void target_version_from_name(const char *path, int *major, int *minor)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *p = strstr(b, "python");
    if (!p)
        return;
    p += 6;
    int ma, mi;
    if (isdigit((unsigned char)*p) && sscanf(p, "%d.%d", &ma, &mi) == 2) {
        *major = ma;
        *minor = mi;
    }
}

/* The module file, as the mapping's own inode: 0 when e is that file. */
static int target_module_is(const struct elf_file *ef, const struct procmaps_entry *pm)
{
    struct stat st;
    return fstat(ef->fd, &st) == 0 && (uint64_t)st.st_ino == pm->inode ? 0 : -ESTALE;
}

/* Opens the module the target mapped. maps names it relative to our root
 * when the file is reachable from it (a chroot in our mount namespace: the
 * path already includes the chroot's prefix) and relative to the target's
 * root otherwise (a container), so both are tried, each checked against the
 * mapping's inode; a module replaced on disk since it was mapped is still
 * reachable via map_files (that needs CAP_SYS_ADMIN). */
static int target_open_module(pid_t pid, const struct target_info *t,
                              const struct procmaps_entry *pm, struct elf_file *ef)
{
    char path[PATH_MAX + 80];
    int rc = -ENOENT;
    if (!pm->deleted) {
        snprintf(path, sizeof(path), "%s%s", t->root, pm->path);
        rc = elfsym_open(ef, path);
        if (rc == 0 && (rc = target_module_is(ef, pm)) == 0)
            return 0;
        if (rc == -ESTALE)
            elfsym_close(ef);
        int rc2 = elfsym_open(ef, pm->path);
        if (rc2 == 0 && (rc2 = target_module_is(ef, pm)) == 0)
            return 0;
        if (rc2 == -ESTALE)
            elfsym_close(ef);
    }
    snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
             (unsigned long long)pm->start, (unsigned long long)pm->end);
    return elfsym_open(ef, path) == 0 ? 0 : rc;
}

static uint64_t target_exe_inode(pid_t pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* Right after exec, a python linked against libpython runs ld.so before
 * libpython is mapped: the process is a CPython that is starting, not
 * something else. */
static bool target_exe_awaits_libpython(pid_t pid)
{
    char path[64];
    struct elf_file ef;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    if (elfsym_open(&ef, path) != 0)
        return false;
    bool needs = elfsym_needs(&ef, "libpython");
    elfsym_close(&ef);
    return needs;
}

static enum target_status target_not_python(const struct target_info *t, char *msg, size_t len)
{
    return target_fail(TARGET_NOT_PYTHON, msg, len,
                       "PID %d (%s) is not a CPython process: no libpython or python "
                       "executable exporting Py_AddPendingCall.",
                       (int)t->pid, t->comm);
}

/* Reads the 4-byte PY_VERSION_HEX that 3.11+ exports as Py_Version. */
static void target_version_from_memory(struct target_info *t, struct elf_file *ef)
{
    uint64_t v;
    uint32_t hex;
    if (elfsym_lookup(ef, "Py_Version", &v) != 0)
        return;
    if (procmem_read(t->pid, t->load_bias + v, &hex, sizeof(hex)) != 0)
        return;
    if ((hex >> 24) == 3) {
        t->py_major = 3;
        t->py_minor = (int)((hex >> 16) & 0xff);
        t->py_hexversion = hex;
        t->version_exact = true;
    }
}

static bool target_has_symbol(struct elf_file *ef, const char *name)
{
    uint64_t v;
    return elfsym_lookup(ef, name, &v) == 0;
}

/* What kind of build this is, from the file name, the symbols and the
 * _Py_DebugOffsets header at _PyRuntime (3.13+; only read, never written),
 * and lib/pylayout.c's verdict on it. */
static void target_judge_build(struct target_info *t, struct elf_file *ef,
                               struct pylayout_judgement *j)
{
    unsigned char head[PYLAYOUT_DBG_HEADER_LEN];
    uint64_t rt;
    struct pylayout_facts f = {
        .module_path = t->pymod_path,
        .hexversion = t->version_exact ? t->py_hexversion : 0,
        .major = t->py_major,
        .minor = t->py_minor,
        .has_debug_sym = target_has_symbol(ef, "_Py_NegativeRefcount") ||
                         target_has_symbol(ef, "_Py_RefTotal"),
        .has_ft_sym = target_has_symbol(ef, "_Py_DecRefShared") ||
                      target_has_symbol(ef, "_Py_MergeZeroLocalRefcount"),
    };
    if (elfsym_lookup(ef, "_PyRuntime", &rt) == 0 &&
        procmem_read(t->pid, t->load_bias + rt, head, sizeof(head)) == 0) {
        f.runtime_head = head;
        f.runtime_head_len = sizeof(head);
    }
    pylayout_judge(&f, j);
    pylayout_abiflags(t->pymod_path, t->py_abiflags, sizeof(t->py_abiflags));
    t->py_debug = j->build == PYLAYOUT_BUILD_DEBUG;
    t->py_free_threaded = j->free_threaded;
    t->py_row = j->row;
    snprintf(t->unsupported_why, sizeof(t->unsupported_why), "%s", j->why);
}

/* _PyEval_AddPendingCall is exported from 3.8 on, with three signatures; the
 * table's row says when it is the (interp, func, arg, int flags) one that
 * takes 0 for "any thread" (3.12+, exact version read from memory). */
static void target_any_thread_call(struct target_info *t, struct elf_file *ef,
                                   const struct pylayout_judgement *j)
{
    uint64_t main_fn, add_fn;
    if (!t->version_exact || j->verdict != PYLAYOUT_SUPPORTED ||
        j->pending != PYLAYOUT_PENDING_ANY_THREAD)
        return;
    if (elfsym_lookup(ef, "PyInterpreterState_Main", &main_fn) != 0 ||
        elfsym_lookup(ef, "_PyEval_AddPendingCall", &add_fn) != 0)
        return;
    t->addr_interp_main = t->load_bias + main_fn;
    t->addr_add_pending_any = t->load_bias + add_fn;
}

/* dlopen and dlsym in the target's libc, for attach_native_start. Missing
 * ones only disable that path. glibc before 2.34 exports them from libdl,
 * which may not be loaded: its libc has the __libc_ variants. */
static void target_read_libc(struct target_info *t, const struct procmaps *m)
{
    const struct procmaps_entry *base = procmaps_find_libc(m, false);
    const struct procmaps_entry *text = procmaps_find_libc(m, true);
    struct elf_file ef;
    uint64_t first, v, w;
    if (!base || !text || target_open_module(t->pid, t, base, &ef) != 0)
        return;
    if (elfsym_first_load_vaddr(&ef, &first) == 0) {
        uint64_t bias = base->start - first;
        if (elfsym_lookup(&ef, "dlopen", &v) == 0 && elfsym_lookup(&ef, "dlsym", &w) == 0) {
            t->addr_dlopen = bias + v;
            t->addr_dlsym = bias + w;
        } else if (elfsym_lookup(&ef, "__libc_dlopen_mode", &v) == 0 &&
                   elfsym_lookup(&ef, "__libc_dlsym", &w) == 0) {
            t->addr_dlopen = bias + v;
            t->addr_dlsym = bias + w;
            t->dlopen_private = true;
        }
        if (elfsym_lookup(&ef, "dlerror", &v) == 0 && !t->dlopen_private)
            t->addr_dlerror = bias + v;
        t->libc_text_start = text->start;
        t->libc_text_end = text->end;
    }
    elfsym_close(&ef);
}

/* Symbols and version of the C API module; *is_old set for CPython < 3.8. */
static enum target_status target_read_symbols(struct target_info *t,
                                              const struct procmaps_entry *pm,
                                              struct elf_file *ef, bool *is_old, char *msg,
                                              size_t len)
{
    uint64_t first_vaddr, v;
    if (elfsym_first_load_vaddr(ef, &first_vaddr) != 0 ||
        elfsym_lookup(ef, "Py_AddPendingCall", &v) != 0)
        return target_not_python(t, msg, len);
    t->load_bias = pm->start - first_vaddr;
    t->addr_add_pending_call = t->load_bias + v;
    if (elfsym_lookup(ef, "PyRun_SimpleString", &v) != 0)
        return target_not_python(t, msg, len);
    t->addr_run_simple_string = t->load_bias + v;
    if (elfsym_lookup(ef, "Py_IsInitialized", &v) == 0)
        t->addr_is_initialized = t->load_bias + v;
    target_version_from_name(pm->path, &t->py_major, &t->py_minor);
    target_version_from_memory(t, ef);
    struct pylayout_judgement j;
    target_judge_build(t, ef, &j);
    target_any_thread_call(t, ef, &j);
    *is_old = elfsym_lookup(ef, "Py_BytesMain", &v) != 0; /* Py_BytesMain is new in 3.8 */
    return TARGET_OK;
}

static enum target_status target_old_python(const struct target_info *t, char *msg, size_t len)
{
    char ver[32] = "an old CPython";
    if (t->py_major)
        snprintf(ver, sizeof(ver), "CPython %d.%d", t->py_major, t->py_minor);
    return target_fail(TARGET_OLD_PYTHON, msg, len,
                       "PID %d (%s) runs %s; pymemtop needs CPython 3.8 or newer.", (int)t->pid,
                       t->comm, ver);
}

static enum target_status target_inspect_maps(struct target_info *t, char *msg, size_t len)
{
    struct procmaps m;
    int rc = procmaps_load(t->pid, &m);
    /* Same uid but no access: the kernel's ptrace check said no. */
    if (rc == -EACCES || rc == -EPERM)
        return target_fail(TARGET_PTRACE_DENIED, msg, len,
                           "Not allowed to read PID %d (%s)'s memory map: it is non-dumpable, "
                           "or ptrace is restricted (Yama, no CAP_SYS_PTRACE).\nFix: run with "
                           "sudo, or in a container add --cap-add SYS_PTRACE.",
                           (int)t->pid, t->comm);
    if (rc != 0)
        return target_fail(TARGET_GONE, msg, len, "Cannot read /proc/%d/maps: %s.", (int)t->pid,
                           strerror(-rc));
    enum target_status s = TARGET_OK;
    bool is_old = false;
    struct elf_file ef;
    const struct procmaps_entry *pm = procmaps_find_pymod(&m, target_exe_inode(t->pid));
    if ((!pm || !procmaps_is_libpython(pm->path)) && target_exe_awaits_libpython(t->pid))
        s = target_fail(TARGET_STARTING, msg, len,
                        "PID %d (%s) is still loading its libraries (libpython is not mapped "
                        "yet); try again in a moment.",
                        (int)t->pid, t->comm);
    else if (!pm || target_open_module(t->pid, t, pm, &ef) != 0)
        s = target_not_python(t, msg, len);
    if (s == TARGET_OK) {
        snprintf(t->pymod_path, sizeof(t->pymod_path), "%s", pm->path);
        t->pymod_shared = procmaps_is_libpython(pm->path);
        s = target_read_symbols(t, pm, &ef, &is_old, msg, len);
        elfsym_close(&ef);
    }
    if (s == TARGET_OK && is_old)
        s = target_old_python(t, msg, len);
    /* Refused before anything is written into the target. */
    if (s == TARGET_OK && t->unsupported_why[0])
        s = target_fail(TARGET_UNSUPPORTED_BUILD, msg, len, "PID %d (%s): %s.", (int)t->pid,
                        t->comm, t->unsupported_why);
    if (s == TARGET_OK && (rc = procmaps_find_syscall(t->pid, &m, &t->addr_syscall_insn)) != 0)
        s = target_fail(TARGET_INJECT_FAILED, msg, len,
                        "PID %d (%s): found no syscall instruction in its libc (%s).",
                        (int)t->pid, t->comm, strerror(-rc));
    if (s == TARGET_OK)
        target_read_libc(t, &m);
    procmaps_free(&m);
    return s;
}

enum target_status target_inspect(pid_t pid, struct target_info *t, char *msg, size_t msg_len)
{
    memset(t, 0, sizeof(*t));
    t->pid = pid;
    if (msg && msg_len)
        msg[0] = '\0';
    enum target_status s = target_check_process(pid, t, msg, msg_len);
    if (s != TARGET_OK)
        return s;
    return target_inspect_maps(t, msg, msg_len);
}
