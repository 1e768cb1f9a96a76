/* Carrying the agent into a target that may live in another mount namespace
 * (a container) whose filesystem has nothing of pymemtop and may be
 * read-only: how the target gets a path it can dlopen.
 *
 * The way: in the stopped thread the attach lends (lib/attach.h), the target
 * creates a memfd; pymemtop takes a copy of that fd (pidfd_getfd), writes the
 * agent's bytes into it and seals it, and the target loads
 * "/proc/self/fd/N". Nothing is written to any filesystem. The memfd stays
 * open in the target (close-on-exec) so a late bootstrap or the native path
 * finds it; a read-only container is fine.
 *
 * Only when the target cannot resolve /proc/self/fd/N (no /proc mounted in
 * its root, e.g. a bare chroot) is the agent written as a file into the
 * target's /tmp, /dev/shm or /var/tmp, in that order: opened with openat2
 * relative to /proc/PID/root with RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS and
 * O_CREAT | O_EXCL, so a link the container planted is never followed
 * (pymemtop is often root on the host) and an existing name is never
 * reused; removed by carry_cleanup once the agent has been loaded. */
#ifndef PYMEMTOP_LIB_CARRY_H
#define PYMEMTOP_LIB_CARRY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "attach.h"
#include "target.h"

enum carry_way { CARRY_NONE, CARRY_MEMFD, CARRY_FILE };

struct carry {
    const char *host_path;    /* the agent file on our side */
    const struct target_info *t;
    enum carry_way way;
    int memfd;                /* the fd number in the target (CARRY_MEMFD) */
    char target_path[128];    /* what the target dlopens */
    int file_dirfd;           /* our fd of the directory holding the file, -1 none */
    char file_name[64];
    dev_t file_dev;
    ino_t file_ino;
    char why_not_memfd[160];  /* why the memfd could not be used ("" if it was) */
};

void carry_init(struct carry *cr, const struct target_info *t, const char *host_path);

/* attach_prepare_fn (arg: a struct carry): carries the agent in and builds
 * the bootstrap that loads it. */
enum target_status carry_prepare(struct attach_ctx *c, void *arg, char *code, size_t cap,
                                 char *msg, size_t msg_len);

/* attach_verify_fn (arg: a struct carry): the memfd is still ours. */
enum target_status carry_verify(struct attach_ctx *c, void *arg, char *msg, size_t msg_len);

/* Removes the file, if one was written (only if it is still the file we
 * wrote); closes what we hold. Safe to call more than once. */
void carry_cleanup(struct carry *cr);

/* "memfd", "file" or "none": agent.carried_via in the JSON. */
const char *carry_way_name(enum carry_way w);

/* For --check, without stopping the target: how the agent would get in.
 * Returns CARRY_MEMFD or CARRY_FILE with `how` saying it, or CARRY_NONE with
 * `how` saying why not and what to do. */
enum carry_way carry_plan(const struct target_info *t, char *how, size_t how_len);

#endif
