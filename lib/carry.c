/* How the agent gets into the target (see carry.h): a memfd the target
 * makes and we fill, else a file written without following links. */
#include "carry.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"

#define CARRY_MFD_CLOEXEC 0x1u
#define CARRY_MFD_ALLOW_SEALING 0x2u
/* Linux 6.3+: an executable memfd must say so where vm.memfd_noexec asks;
 * older kernels reject the flag (EINVAL) and need none. */
#define CARRY_MFD_EXEC 0x10u
#define CARRY_PROC_SUPER_MAGIC 0x9fa0
/* Where a file may go when it must, in this order: the places a read-only
 * container most often still has writable. Relative to the target's root. */
static const char *const carry_dirs[] = {"tmp", "dev/shm", "var/tmp"};

void carry_init(struct carry *cr, const struct target_info *t, const char *host_path)
{
    memset(cr, 0, sizeof(*cr));
    cr->host_path = host_path;
    cr->t = t;
    cr->memfd = -1;
    cr->file_dirfd = -1;
}

const char *carry_way_name(enum carry_way w)
{
    return w == CARRY_MEMFD ? "memfd" : w == CARRY_FILE ? "file" : "none";
}

/* Copies the agent's bytes into fd and checks the size. 0 or -errno. */
static int carry_copy(int dst, const char *host_path)
{
    int src = open(host_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0)
        return -errno;
    struct stat st;
    int rc = fstat(src, &st) == 0 ? 0 : -errno;
    off_t done = 0;
    while (rc == 0 && done < st.st_size) {
        ssize_t n = sendfile(dst, src, &done, (size_t)(st.st_size - done));
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n == 0)
            rc = -EIO;
    }
    close(src);
    return rc;
}

/* Our own reference to the target's fd N: pidfd_getfd (Linux 5.6+), else a
 * reopen through /proc/PID/fd/N; both need the permission ptrace needs. */
static int carry_take_fd(pid_t pid, int remote_fd, int flags)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int fd = pfd >= 0 ? (int)syscall(SYS_pidfd_getfd, pfd, remote_fd, 0) : -1;
    if (pfd >= 0)
        close(pfd);
    if (fd >= 0)
        return fd;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, remote_fd);
    return open(path, flags | O_CLOEXEC);
}

/* readlink("/proc/self/fd/N") in the target itself, so its root, its mounts
 * and its PID namespace decide: is the memfd reachable there by that path?
 * 1 yes, 0 no (*why says what the target saw), or a status on failure. */
static enum target_status carry_reachable(struct attach_ctx *c, int memfd, int *yes, char *why,
                                          size_t why_len)
{
    uint64_t sc = attach_remote_scratch(c);
    char path[64], link[256] = "";
    int n = snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    if (attach_remote_write(c, sc, path, (size_t)n + 1) != 0)
        return TARGET_INJECT_FAILED;
    const uint64_t a[6] = {sc, sc + 128, sizeof(link) - 1, 0, 0, 0};
    int64_t r;
    enum target_status s = attach_remote_syscall(c, SYS_readlink, a, &r);
    if (s != TARGET_OK)
        return s;
    if (r > 0 && attach_remote_read(c, sc + 128, link, (size_t)r) == 0)
        link[r] = '\0';
    *yes = r > 0 && strncmp(link, BOOTSTRAP_MEMFD_LINK, strlen(BOOTSTRAP_MEMFD_LINK)) == 0;
    if (!*yes)
        snprintf(why, why_len, "%s in the target: %s", path,
                 r < 0 ? strerror((int)-r) : "names something else");
    return TARGET_OK;
}

/* memfd_create in the target, filled and sealed from here. On a failure that
 * a file could stand in for, *why says it and the status is TARGET_OK with
 * cr->way still CARRY_NONE. */
static enum target_status carry_memfd(struct carry *cr, struct attach_ctx *c, char *msg,
                                      size_t msg_len)
{
    uint64_t sc = attach_remote_scratch(c);
    if (attach_remote_write(c, sc, BOOTSTRAP_MEMFD_NAME, sizeof(BOOTSTRAP_MEMFD_NAME)) != 0)
        return TARGET_INJECT_FAILED;
    uint64_t a[6] = {sc, CARRY_MFD_CLOEXEC | CARRY_MFD_ALLOW_SEALING | CARRY_MFD_EXEC, 0, 0, 0, 0};
    int64_t fd;
    enum target_status s = attach_remote_syscall(c, SYS_memfd_create, a, &fd);
    if (s == TARGET_OK && fd == -EINVAL) {
        a[1] &= ~(uint64_t)CARRY_MFD_EXEC;
        s = attach_remote_syscall(c, SYS_memfd_create, a, &fd);
    }
    if (s != TARGET_OK)
        return s;
    if (fd < 0) {
        snprintf(cr->why_not_memfd, sizeof(cr->why_not_memfd), "memfd_create in the target: %s",
                 strerror((int)-fd));
        return TARGET_OK;
    }
    int ours = carry_take_fd(cr->t->pid, (int)fd, O_WRONLY);
    int rc = ours < 0 ? -errno : carry_copy(ours, cr->host_path);
    /* Sealed, the code cannot change under a later load (the native path's,
     * or a second monitor's). */
    if (rc == 0 && fcntl(ours, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
                                               F_SEAL_SEAL) != 0)
        rc = -errno;
    if (ours >= 0)
        close(ours);
    int yes = 0;
    if (rc == 0)
        s = carry_reachable(c, (int)fd, &yes, cr->why_not_memfd, sizeof(cr->why_not_memfd));
    if (s == TARGET_OK && yes) {
        cr->way = CARRY_MEMFD;
        cr->memfd = (int)fd;
        snprintf(cr->target_path, sizeof(cr->target_path), "/proc/self/fd/%d", (int)fd);
        return TARGET_OK;
    }
    const uint64_t ca[6] = {(uint64_t)fd, 0, 0, 0, 0, 0};
    int64_t unused;
    attach_remote_syscall(c, SYS_close, ca, &unused); /* leave no fd of ours behind */
    if (s != TARGET_OK)
        return s;
    if (rc != 0) {
        snprintf(msg, msg_len, "PID %d (%s): cannot fill the agent's memfd from %s: %s",
                 (int)cr->t->pid, cr->t->comm, cr->host_path, strerror(-rc));
        return TARGET_AGENT_ERROR;
    }
    return TARGET_OK;
}

static long carry_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                          uint64_t resolve)
{
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* The directory `rel` of the target's root, resolved as the target would
 * (RESOLVE_IN_ROOT: absolute links and ".." stay inside its root) and
 * refusing any symlink on the way. -errno on failure. */
static int carry_open_dir(pid_t pid, const char *rel)
{
    char root[64];
    snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
    int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return -errno;
    long fd = carry_openat2(rfd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                            RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    int err = errno;
    close(rfd);
    return fd < 0 ? -err : (int)fd;
}

/* Why a directory cannot take the file, or NULL: read-only, noexec. */
static const char *carry_dir_unusable(int dfd)
{
    struct statvfs vs;
    if (fstatvfs(dfd, &vs) != 0)
        return strerror(errno);
    if (vs.f_flag & ST_RDONLY)
        return "read-only";
    if (vs.f_flag & ST_NOEXEC)
        return "mounted noexec";
    return NULL;
}

/* What sits at dfd/name (for the message when O_EXCL found something). */
static const char *carry_what_is(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return "something";
    return S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISDIR(st.st_mode) ? "a directory"
                                                                          : "a file";
}

static enum target_status carry_file(struct carry *cr, char *msg, size_t msg_len)
{
    const struct target_info *t = cr->t;
    char tried[400] = "";
    /* A name nobody can guess: a link planted in advance cannot be at it, and
     * a file left by a monitor killed mid-attach never blocks a later
     * process that gets the same PID (PIDs are reused within minutes). */
    uint32_t nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
        nonce = (uint32_t)t->pid ^ (uint32_t)time(NULL);
    snprintf(cr->file_name, sizeof(cr->file_name), ".pymemtop-agent.%d.%08x.so",
             (int)(t->ns_pid ? t->ns_pid : t->pid), nonce);
    for (size_t i = 0; i < sizeof(carry_dirs) / sizeof(carry_dirs[0]); i++) {
        const char *dir = carry_dirs[i];
        size_t used = strlen(tried);
        int dfd = carry_open_dir(t->pid, dir);
        const char *why = dfd < 0 ? (dfd == -ELOOP ? "a symbolic link" : strerror(-dfd))
                                  : carry_dir_unusable(dfd);
        if (why) {
            snprintf(tried + used, sizeof(tried) - used, "%s/%s %s", used ? ";" : "", dir, why);
            if (dfd >= 0)
                close(dfd);
            continue;
        }
        long fd = carry_openat2(dfd, cr->file_name,
                                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444,
                                RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0 && errno == EEXIST) {
            snprintf(msg, msg_len,
                     "PID %d (%s): /%s/%s in the target's root (%s) already exists (%s); "
                     "pymemtop writes no file through a name it did not create. Remove it.",
                     (int)t->pid, t->comm, dir, cr->file_name, t->root,
                     carry_what_is(dfd, cr->file_name));
            close(dfd);
            return TARGET_AGENT_ERROR;
        }
        if (fd < 0) {
            snprintf(tried + used, sizeof(tried) - used, "%s/%s %s", used ? ";" : "", dir,
                     strerror(errno));
            close(dfd);
            continue;
        }
        struct stat st;
        int rc = carry_copy((int)fd, cr->host_path);
        if (rc == 0 && fstat((int)fd, &st) != 0)
            rc = -errno;
        close((int)fd);
        cr->file_dirfd = dfd; /* from here carry_cleanup removes it */
        if (rc != 0) {
            carry_cleanup(cr);
            snprintf(msg, msg_len, "PID %d (%s): cannot write the agent to /%s/%s: %s",
                     (int)t->pid, t->comm, dir, cr->file_name, strerror(-rc));
            return TARGET_AGENT_ERROR;
        }
        cr->file_dev = st.st_dev;
        cr->file_ino = st.st_ino;
        cr->way = CARRY_FILE;
        snprintf(cr->target_path, sizeof(cr->target_path), "/%s/%s", dir, cr->file_name);
        return TARGET_OK;
    }
    snprintf(msg, msg_len,
             "PID %d (%s): cannot carry the agent in: %s, and no directory can take it as a "
             "file (%s).\nMount /proc in the target's root, or give it a writable /tmp.",
             (int)t->pid, t->comm, cr->why_not_memfd, tried);
    return TARGET_AGENT_ERROR;
}

enum target_status carry_prepare(struct attach_ctx *c, void *arg, char *code, size_t cap,
                                 char *msg, size_t msg_len)
{
    struct carry *cr = arg;
    enum target_status s = cr->way != CARRY_NONE ? TARGET_OK : carry_memfd(cr, c, msg, msg_len);
    if (s == TARGET_OK && cr->way == CARRY_NONE)
        s = carry_file(cr, msg, msg_len);
    if (s != TARGET_OK)
        return s;
    if (bootstrap_build_memfd(cr->target_path, cr->way == CARRY_MEMFD ? cr->memfd : -1, code, cap,
                              msg, msg_len) < 0)
        return TARGET_AGENT_ERROR;
    return TARGET_OK;
}

enum target_status carry_verify(struct attach_ctx *c, void *arg, char *msg, size_t msg_len)
{
    struct carry *cr = arg;
    if (cr->way != CARRY_MEMFD)
        return cr->way == CARRY_FILE ? TARGET_OK : TARGET_AGENT_ERROR;
    int yes = 0;
    char why[160];
    enum target_status s = carry_reachable(c, cr->memfd, &yes, why, sizeof(why));
    if (s == TARGET_OK && !yes) {
        snprintf(msg, msg_len, "PID %d (%s): the agent's memfd went away (%s); run pymemtop again",
                 (int)cr->t->pid, cr->t->comm, why);
        return TARGET_AGENT_ERROR;
    }
    return s;
}

void carry_cleanup(struct carry *cr)
{
    if (cr->file_dirfd < 0)
        return;
    struct stat st;
    /* Only our own file: the target's owner may have replaced the name. */
    if (fstatat(cr->file_dirfd, cr->file_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == cr->file_dev && st.st_ino == cr->file_ino)
        unlinkat(cr->file_dirfd, cr->file_name, 0);
    close(cr->file_dirfd);
    cr->file_dirfd = -1;
}

enum carry_way carry_plan(const struct target_info *t, char *how, size_t how_len)
{
    int pfd = carry_open_dir(t->pid, "proc");
    struct statfs fs;
    bool proc = pfd >= 0 && fstatfs(pfd, &fs) == 0 && fs.f_type == CARRY_PROC_SUPER_MAGIC;
    if (pfd >= 0)
        close(pfd);
    if (proc) {
        snprintf(how, how_len,
                 "memfd: the target loads it from /proc/self/fd/N; nothing is written into its "
                 "filesystem");
        return CARRY_MEMFD;
    }
    for (size_t i = 0; i < sizeof(carry_dirs) / sizeof(carry_dirs[0]); i++) {
        int dfd = carry_open_dir(t->pid, carry_dirs[i]);
        const char *why = dfd < 0 ? "x" : carry_dir_unusable(dfd);
        if (dfd >= 0)
            close(dfd);
        if (!why) {
            snprintf(how, how_len,
                     "file: no /proc in the target's root, so the agent is written to /%s "
                     "(openat2, no symlink followed) and removed once loaded",
                     carry_dirs[i]);
            return CARRY_FILE;
        }
    }
    snprintf(how, how_len,
             "impossible: no /proc in the target's root and no writable /tmp, /dev/shm or "
             "/var/tmp there. Mount /proc in the container (or give it a writable /tmp)");
    return CARRY_NONE;
}
