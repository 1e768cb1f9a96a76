/* Diagnosis without attaching: reads /proc and ELF headers only; the ptrace
 * permission is probed by opening /proc/PID/mem, which the kernel checks
 * exactly like PTRACE_ATTACH (Yama included) without stopping anything. */
#include "diagnose.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bootstrap.h"
#include "carry.h"

static struct diagnose_item *diag_add(struct diagnose_report *r, const char *what,
                                      enum diagnose_result res, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static struct diagnose_item *diag_add(struct diagnose_report *r, const char *what,
                                      enum diagnose_result res, const char *fmt, ...)
{
    if (r->n == DIAGNOSE_MAX_ITEMS)
        return NULL;
    struct diagnose_item *it = &r->items[r->n++];
    it->what = what;
    it->result = res;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
    va_end(ap);
    if (res == DIAG_FAIL)
        r->attachable = false;
    return it;
}

/* Does a line of /proc/PID/maps satisfy `match`? */
static bool diag_maps_any(pid_t pid, bool (*match)(const char *line))
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = match(line);
    fclose(f);
    return found;
}

static bool diag_is_agent(const char *line)
{
    return strstr(line, "/pymemtop_agent.so") != NULL ||
           strstr(line, BOOTSTRAP_MEMFD_LINK) != NULL ||
           strstr(line, "/.pymemtop-agent.") != NULL;
}

/* Is the target's namespace `ns` ("mnt", "pid", "net") ours? */
static bool diag_same_ns(pid_t pid, const char *ns)
{
    char a[64], b[64];
    struct stat sa, sb;
    snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, ns);
    snprintf(b, sizeof(b), "/proc/self/ns/%s", ns);
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

/* The name the container goes by in its cgroup path, if it has one: an
 * nspawn machine (machine-NAME.scope, systemd-nspawn@NAME.service), or a
 * docker, podman or CRI container id (first 12 characters). */
static bool diag_cgroup_name(pid_t pid, char *out, size_t len)
{
    static const struct { const char *pre, *post, *label; } pat[] = {
        {"machine-", ".scope", ""},          {"systemd-nspawn@", ".service", ""},
        {"docker-", ".scope", "docker:"},    {"/docker/", "", "docker:"},
        {"libpod-", ".scope", "podman:"},    {"cri-containerd-", ".scope", "k8s:"},
        {"crio-", ".scope", "k8s:"},
    };
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    for (size_t i = 0; i < sizeof(pat) / sizeof(pat[0]); i++) {
        const char *at = strstr(buf, pat[i].pre);
        if (!at)
            continue;
        at += strlen(pat[i].pre);
        size_t l = strcspn(at, "/\n");
        if (*pat[i].post) {
            const char *end = strstr(at, pat[i].post);
            if (!end || (size_t)(end - at) > l)
                continue;
            l = (size_t)(end - at);
        }
        if (*pat[i].label && l > 12)
            l = 12;
        char name[128];
        size_t k = 0;
        /* systemd escapes '-' in unit names as \x2d */
        for (size_t j = 0; j < l && k + 1 < sizeof(name); j++) {
            if (!strncmp(at + j, "\\x2d", 4)) {
                name[k++] = '-';
                j += 3;
            } else {
                name[k++] = at[j];
            }
        }
        name[k] = '\0';
        snprintf(out, len, "%s%s", pat[i].label, name);
        return true;
    }
    return false;
}

bool diagnose_container(pid_t pid, char *out, size_t len)
{
    out[0] = '\0';
    char path[64], root[PATH_MAX];
    snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
    ssize_t n = readlink(path, root, sizeof(root) - 1);
    root[n > 0 ? n : 0] = '\0';
    bool other = diag_same_ns(pid, "mnt") ? strcmp(root, "/") != 0 : true;
    if (!other)
        return false;
    if (!diag_cgroup_name(pid, out, len))
        snprintf(out, len, "%s", n > 0 ? root : "?");
    return true;
}

/* Where the target lives and how the agent and the connection get across. */
static void diag_container(struct diagnose_report *r, pid_t pid)
{
    char name[PATH_MAX], how[256];
    if (!diagnose_container(pid, name, sizeof(name)))
        return;
    const struct target_info *t = &r->target;
    bool same_pid = diag_same_ns(pid, "pid"), same_net = diag_same_ns(pid, "net");
    char pidns[64] = "";
    if (!same_pid)
        snprintf(pidns, sizeof(pidns), ", own PID namespace (PID %d inside)", (int)t->ns_pid);
    diag_add(r, "container", DIAG_INFO, "%.200s: own mount namespace and root%s%s", name, pidns,
             same_net ? "" : ", own network namespace");
    enum carry_way w = carry_plan(t, how, sizeof(how));
    diag_add(r, "agent way", w == CARRY_NONE ? DIAG_FAIL : DIAG_OK, "%s", how);
    /* pidfd_getfd on the target's fd 0 asks the kernel exactly what taking
     * the agent's socket will (the copy is closed at once). */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int fd = pfd >= 0 ? (int)syscall(SYS_pidfd_getfd, pfd, 0, 0) : -1;
    int err = fd >= 0 ? 0 : errno;
    if (fd >= 0)
        close(fd);
    if (pfd >= 0)
        close(pfd);
    if (err == 0 || err == EBADF)
        diag_add(r, "connection", DIAG_OK,
                 "pidfd_getfd: pymemtop takes the agent's socket from the target; no path");
    else if (same_net)
        diag_add(r, "connection", DIAG_OK,
                 "by the agent's abstract socket name (same network namespace; pidfd_getfd: %s)",
                 strerror(err));
    else
        diag_add(r, "connection", DIAG_FAIL,
                 "pidfd_getfd refused (%s) and the target has its own network namespace: run "
                 "pymemtop as root on the host, or with CAP_SYS_PTRACE "
                 "(docker/kubernetes: --cap-add=SYS_PTRACE)",
                 strerror(err));
}

/* Cheap pre-filter before the ELF work: a file named like python or
 * libpython is mapped. */
static bool diag_is_python(const char *line)
{
    const char *slash = strrchr(line, '/');
    return slash && (!strncmp(slash + 1, "python", 6) || !strncmp(slash + 1, "libpython", 9));
}

/* ELF e_type of a file: 3 (ET_DYN) for PIE executables and libraries. */
static int diag_elf_type(const char *path)
{
    unsigned char h[18];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, h, sizeof(h));
    close(fd);
    return n == (ssize_t)sizeof(h) && !memcmp(h, "\177ELF", 4) ? h[16] | h[17] << 8 : -1;
}

static void diag_python(struct diagnose_report *r, const char *inspect_msg)
{
    const struct target_info *t = &r->target;
    if (!t->addr_add_pending_call) {
        if (r->status == TARGET_OLD_PYTHON || r->status == TARGET_NOT_PYTHON)
            diag_add(r, "CPython", DIAG_FAIL, "%s", inspect_msg);
        else if (r->status != TARGET_OK && r->status != TARGET_TRACED)
            diag_add(r, "CPython", DIAG_FAIL, "could not be checked: %s", inspect_msg);
        return;
    }
    char file[PATH_MAX + 80], ver[48];
    snprintf(file, sizeof(file), "%s%s", t->root, t->pymod_path);
    int et = diag_elf_type(file);
    diagnose_version_label(t, true, ver, sizeof(ver));
    if (r->status == TARGET_UNSUPPORTED_BUILD)
        diag_add(r, "CPython", DIAG_FAIL, "%s", inspect_msg);
    else
        diag_add(r, "CPython", r->status == TARGET_OLD_PYTHON ? DIAG_FAIL : DIAG_OK,
                 "%s%s, %s %s%s", ver, t->py_debug ? " (debug build)" : "",
                 t->pymod_shared ? "shared libpython" : "static executable", t->pymod_path,
                 t->pymod_shared ? "" : et == 3 ? " (PIE)" : et == 2 ? " (not PIE)" : "");
    /* Refused builds: the inspection stopped before the rest was looked up. */
    if (r->status == TARGET_UNSUPPORTED_BUILD || r->status == TARGET_OLD_PYTHON)
        return;
    diag_add(r, "pending call", DIAG_INFO, "%s",
             t->addr_add_pending_any ? "any thread of the main interpreter runs the bootstrap "
                                       "(_PyEval_AddPendingCall, flags 0)"
                                     : "main thread runs the bootstrap (Py_AddPendingCall); "
                                       "a main thread blocked in C gets the native path");
    diag_add(r, "symbols", t->addr_run_simple_string && t->addr_syscall_insn ? DIAG_OK : DIAG_FAIL,
             "Py_AddPendingCall %s, PyRun_SimpleString %s, a syscall instruction in libc %s",
             t->addr_add_pending_call ? "found" : "missing",
             t->addr_run_simple_string ? "found" : "missing",
             t->addr_syscall_insn ? "found" : "missing");
}

void diagnose_version_label(const struct target_info *t, bool micro, char *buf, size_t len)
{
    unsigned hex = (unsigned)t->py_hexversion;
    if (t->version_exact && micro)
        snprintf(buf, len, "%u.%u.%u%s", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff,
                 t->py_free_threaded ? "t" : "");
    else
        snprintf(buf, len, "%d.%d%s", t->py_major, t->py_minor, t->py_free_threaded ? "t" : "");
}

/* Next NUL-separated string after a, or end. */
static const char *diag_next_arg(const char *a, const char *end)
{
    return a < end ? a + strnlen(a, (size_t)(end - a)) + 1 : end;
}

/* Is `opt` ("disable-remote-debug") given with -X in an argv (NUL-separated,
 * len bytes)? Only interpreter options count: scanning stops at the script,
 * at -c/-m (what follows belongs to the program), and at "--". */
static bool diag_xoption(const char *argv, size_t len, const char *opt)
{
    size_t olen = strlen(opt);
    const char *end = argv + len;
    for (const char *a = diag_next_arg(argv, end); a < end;) {
        const char *next = diag_next_arg(a, end), *val = NULL;
        if (a[0] != '-' || a[1] == '\0' || !strcmp(a, "--"))
            return false;
        if (a[1] == '-') { /* the one long option taking a value */
            if (!strcmp(a, "--check-hash-based-pycs"))
                next = diag_next_arg(next, end);
            a = next;
            continue;
        }
        /* A bundle of one-letter flags: c and m end the options, W and X
         * take the rest of the argument or the next one. */
        for (const char *c = a + 1; *c; c++) {
            if (*c == 'c' || *c == 'm')
                return false;
            if (*c == 'W' || *c == 'X') {
                const char *v = c[1] ? c + 1 : next < end ? next : NULL;
                if (!c[1])
                    next = diag_next_arg(next, end);
                if (*c == 'X')
                    val = v;
                break;
            }
        }
        if (val && !strncmp(val, opt, olen) && (val[olen] == '\0' || val[olen] == '='))
            return true;
        a = next;
    }
    return false;
}

bool diagnose_remote_debug_off(const char *environ, size_t env_len, const char *argv,
                               size_t argv_len)
{
    static const char var[] = "PYTHON_DISABLE_REMOTE_DEBUG=";
    for (const char *e = environ, *end = environ + env_len; e < end;
         e += strnlen(e, (size_t)(end - e)) + 1) {
        /* CPython ignores the variable when it is set to an empty string. */
        if (!strncmp(e, var, sizeof(var) - 1) && e[sizeof(var) - 1] != '\0')
            return true;
    }
    return diag_xoption(argv, argv_len, "disable-remote-debug");
}

/* PEP 768's switch off, in the target's environment or command line:
 * readable by the same user, and pymemtop does not use that mechanism. */
static void diag_remote_debug(struct diagnose_report *r, pid_t pid)
{
    static char env[65536], argv[8192];
    char path[64];
    int fd;
    ssize_t ne = 0, na = 0;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        ne = read(fd, env, sizeof(env) - 1);
        close(fd);
    }
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        na = read(fd, argv, sizeof(argv) - 1);
        close(fd);
    }
    if (diagnose_remote_debug_off(env, ne > 0 ? (size_t)ne : 0, argv, na > 0 ? (size_t)na : 0))
        diag_add(r, "PEP 768", DIAG_INFO,
                 "remote debugging disabled in the target (PEP 768): does not affect "
                 "pymemtop, which attaches with ptrace");
}

static void diag_yama(char *buf, size_t len)
{
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    int v;
    if (f && fscanf(f, "%d", &v) == 1)
        snprintf(buf, len, "kernel.yama.ptrace_scope = %d", v);
    else
        snprintf(buf, len, "no Yama LSM");
    if (f)
        fclose(f);
}

static void diag_ptrace(struct diagnose_report *r, pid_t pid)
{
    char yama[64], path[64];
    diag_yama(yama, sizeof(yama));
    if (r->target.tracer_pid) {
        diag_add(r, "tracer", DIAG_FAIL, "already traced by %s (pid %d): detach it first",
                 r->target.tracer_comm, (int)r->target.tracer_pid);
    } else {
        diag_add(r, "tracer", DIAG_OK, "not traced by anyone");
    }
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    if (!err)
        diag_add(r, "ptrace", DIAG_OK, "permitted (%s, uid %u)", yama, (unsigned)geteuid());
    else
        diag_add(r, "ptrace", DIAG_FAIL,
                 "not permitted (%s; %s). Fix: run with sudo, or `sudo sysctl "
                 "kernel.yama.ptrace_scope=0`, or in a container --cap-add SYS_PTRACE; a "
                 "non-dumpable target needs CAP_SYS_PTRACE",
                 strerror(err), yama);
}

void diagnose_check(pid_t pid, const char *agent_path, struct diagnose_report *r)
{
    char msg[512];
    memset(r, 0, sizeof(*r));
    r->attachable = true;
    r->status = target_inspect(pid, &r->target, msg, sizeof(msg));
    if (r->status == TARGET_NO_PROCESS || r->status == TARGET_GONE) {
        diag_add(r, "process", DIAG_FAIL, "%s", msg);
        return;
    }
    diag_add(r, "process", DIAG_OK, "%d (%s) %s", (int)pid, r->target.comm, r->target.cmdline);
    struct passwd *pw = getpwuid(r->target.uid);
    if (r->status == TARGET_OTHER_USER) {
        diag_add(r, "user", DIAG_FAIL, "%s", msg);
        return;
    }
    diag_add(r, "user", DIAG_OK, "runs as %s (uid %u)%s", pw ? pw->pw_name : "?",
             (unsigned)r->target.uid, geteuid() == 0 ? ", we are root" : ", as we do");
    diag_python(r, msg);
    diag_remote_debug(r, pid);
    diag_ptrace(r, pid);
    diag_container(r, pid);
    r->agent_loaded = diag_maps_any(pid, diag_is_agent);
    diag_add(r, "agent", DIAG_INFO, "%s",
             r->agent_loaded ? "already loaded: pymemtop will reuse it without ptrace"
                             : "not loaded yet: pymemtop will inject it");
    if (!agent_path) {
        diag_add(r, "agent file", DIAG_FAIL,
                 "pymemtop_agent.so not found next to the binary or in ../lib/pymemtop");
    } else if (bootstrap_check_agent(agent_path, geteuid(), msg, sizeof(msg)) < 0) {
        diag_add(r, "agent file", DIAG_FAIL, "%s", msg);
    } else {
        diag_add(r, "agent file", DIAG_OK, "%s", agent_path);
    }
    /* A loaded agent needs neither ptrace nor an untraced target. */
    if (r->agent_loaded && !r->attachable) {
        bool other = false;
        for (size_t i = 0; i < r->n; i++)
            if (r->items[i].result == DIAG_FAIL && strcmp(r->items[i].what, "ptrace") &&
                strcmp(r->items[i].what, "tracer"))
                other = true;
        r->attachable = !other;
    }
}

static uint64_t diag_rss_kib(pid_t pid)
{
    char path[64];
    unsigned long long size, resident;
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
    fclose(f);
    return ok ? resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024 : 0;
}

size_t diagnose_python_pids(pid_t *out, size_t cap)
{
    DIR *d = opendir("/proc");
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    pid_t self = getpid();
    uid_t me = geteuid();
    while ((e = readdir(d)) && n < cap) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        /* Another user's maps are unreadable anyway; skip them unopened. */
        if (pid == self || stat(path, &st) < 0 || (me != 0 && st.st_uid != me))
            continue;
        if (diag_maps_any(pid, diag_is_python))
            out[n++] = pid;
    }
    closedir(d);
    return n;
}

size_t diagnose_list(struct diagnose_process *out, size_t cap, size_t *total)
{
    DIR *d = opendir("/proc");
    size_t n = 0;
    *total = 0;
    if (!d)
        return 0;
    struct dirent *e;
    pid_t self = getpid();
    /* /proc lists PIDs in ascending order. */
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid == self || !diag_maps_any(pid, diag_is_python))
            continue;
        struct target_info t;
        char msg[512];
        enum target_status st = target_inspect(pid, &t, msg, sizeof(msg));
        if (st == TARGET_NOT_PYTHON || st == TARGET_NO_PROCESS || st == TARGET_OTHER_USER ||
            st == TARGET_GONE)
            continue;
        (*total)++;
        if (n == cap)
            continue;
        struct diagnose_process *p = &out[n++];
        p->pid = pid;
        p->py_major = t.py_major;
        p->py_minor = t.py_minor;
        diagnose_version_label(&t, false, p->version, sizeof(p->version));
        p->free_threaded = t.py_free_threaded;
        p->debug = t.py_debug;
        p->rss_kib = diag_rss_kib(pid);
        p->agent_loaded = diag_maps_any(pid, diag_is_agent);
        p->status = st;
        p->ns_pid = t.ns_pid ? t.ns_pid : pid;
        diagnose_container(pid, p->container, sizeof(p->container));
        snprintf(p->cmdline, sizeof(p->cmdline), "%.255s", t.cmdline);
    }
    closedir(d);
    return n;
}
