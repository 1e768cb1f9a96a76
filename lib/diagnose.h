/* --check and --list: what an attach would meet, found without attaching. */
#ifndef PYMEMTOP_LIB_DIAGNOSE_H
#define PYMEMTOP_LIB_DIAGNOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "target.h"

#define DIAGNOSE_MAX_ITEMS 20

enum diagnose_result { DIAG_OK, DIAG_FAIL, DIAG_INFO };

struct diagnose_item {
    const char *what;          /* "process", "CPython", "ptrace", ... */
    enum diagnose_result result;
    char detail[512];          /* what was found; on failure, what to do */
};

struct diagnose_report {
    struct target_info target;
    enum target_status status; /* what an attach would return first */
    size_t n;
    struct diagnose_item items[DIAGNOSE_MAX_ITEMS];
    bool attachable;           /* every required check passed */
    bool agent_loaded;         /* an agent is already in the process */
};

/* Runs every check (not only up to the first failure). agent_path may be
 * NULL when the agent file cannot be found (that is then a failure). */
void diagnose_check(pid_t pid, const char *agent_path, struct diagnose_report *r);

struct diagnose_process {
    pid_t pid;
    int py_major, py_minor;
    char version[24];          /* "3.14", "3.14t" (diagnose_version_label) */
    bool free_threaded, debug;
    uint64_t rss_kib;
    bool agent_loaded;
    enum target_status status; /* TARGET_OK or why it cannot be attached */
    pid_t ns_pid;              /* its PID inside its own PID namespace */
    char container[64];        /* diagnose_container, "" on the host */
    char cmdline[256];
};

/* CPython processes this user may see, lowest PID first; returns how many
 * were written (at most cap) and sets *total to how many were found. */
size_t diagnose_list(struct diagnose_process *out, size_t cap, size_t *total);

/* PIDs that look like Python (a python or libpython file is mapped) and
 * that this user may attach (same real uid, or any when root), lowest
 * first, without the ELF work of diagnose_list: --serve --all runs it every
 * scan. Returns how many were written (at most cap). */
size_t diagnose_python_pids(pid_t *out, size_t cap);

/* Whether pid lives in a container (a mount namespace or root other than
 * ours); out gets its name: the nspawn machine or the docker/podman/CRI
 * container id from its cgroup, else its root directory. */
bool diagnose_container(pid_t pid, char *out, size_t len);

/* "3.14" or, with micro and an exact version (3.11+), "3.14.10"; "t"
 * appended for a free-threaded build. */
void diagnose_version_label(const struct target_info *t, bool micro, char *buf, size_t len);

/* Does the target switch PEP 768 remote debugging off: a non-empty
 * PYTHON_DISABLE_REMOTE_DEBUG in its environment (NUL-separated, as in
 * /proc/PID/environ) or -X disable-remote-debug among the interpreter
 * options of its argv (as in /proc/PID/cmdline)? Pure. */
bool diagnose_remote_debug_off(const char *environ, size_t env_len, const char *argv,
                               size_t argv_len);

#endif
