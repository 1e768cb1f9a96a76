/* What we learn about a target process before attaching, and why an attach
 * would fail, in words a user can act on. Reads /proc and ELF files only. */
#ifndef PYMEMTOP_LIB_TARGET_H
#define PYMEMTOP_LIB_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pylayout;

enum target_status {
    TARGET_OK = 0,
    TARGET_NO_PROCESS,    /* kill(pid, 0) == ESRCH, or PID <= 0 */
    TARGET_OTHER_USER,    /* EPERM from kill, or uid mismatch and we are not root */
    TARGET_PTRACE_DENIED, /* PTRACE_SEIZE says EPERM: ptrace_scope, non-dumpable, no CAP_SYS_PTRACE */
    TARGET_TRACED,        /* TracerPid != 0 */
    TARGET_NOT_PYTHON,    /* no module exporting Py_AddPendingCall */
    TARGET_OLD_PYTHON,    /* CPython older than 3.8 */
    TARGET_GONE,          /* exited while we worked */
    TARGET_INJECT_FAILED, /* the remote call failed (message says how) */
    TARGET_TIMEOUT,       /* the remote call did not return (watchdog) */
    TARGET_NO_SAFE_POINT, /* call queued, no thread ran Python in time, and no thread
                             was parked where the agent could be loaded natively */
    TARGET_BUSY,          /* the agent serves its most monitors already */
    TARGET_AGENT_ERROR,   /* agent file unusable, or the agent misbehaved */
    TARGET_STARTING,      /* Py_IsInitialized() is 0: the interpreter is still starting */
    TARGET_UNSUPPORTED_BUILD, /* free-threaded build, or a version lib/pylayout.c has no
                                 row for: refused before anything is written */
};

struct target_info {
    pid_t pid;        /* as we see it */
    pid_t ns_pid;     /* innermost NSpid: what getpid() says inside the target */
    uid_t uid;        /* effective uid of the target */
    char comm[64];
    char cmdline[512]; /* NULs replaced by spaces, truncated */
    char root[64];     /* "/proc/PID/root": prefix to open the target's files */
    char pymod_path[PATH_MAX]; /* file holding the C API, as the target sees it */
    bool pymod_shared;         /* libpython3.X.so rather than the executable */
    int py_major, py_minor;    /* from symbols or file name; 0 if unknown */
    uint64_t load_bias;
    /* Absolute addresses in the target. */
    uint64_t addr_add_pending_call;
    uint64_t addr_run_simple_string;
    uint64_t addr_is_initialized; /* Py_IsInitialized; 0 if not exported */
    uint64_t addr_syscall_insn; /* a "syscall" (0f 05) in an r-xp libc mapping */
    bool version_exact;         /* py_minor read from the target's Py_Version (3.11+) */
    uint64_t py_hexversion;     /* that exact PY_VERSION_HEX, 0 before 3.11 */
    char py_abiflags[8];        /* from the module's file name: "", "d", "t", ... */
    bool py_debug;              /* a --with-pydebug build (abiflags "d" or Py_REF_DEBUG symbols) */
    bool py_free_threaded;      /* any sign of Py_GIL_DISABLED (see pylayout_judge) */
    const struct pylayout *py_row; /* lib/pylayout.c's row for it; NULL if unknown */
    char unsupported_why[200];  /* when refused as TARGET_UNSUPPORTED_BUILD */
    /* Set only when the row says PYLAYOUT_PENDING_ANY_THREAD (3.12+):
     * PyInterpreterState_Main() and _PyEval_AddPendingCall(interp, func, arg, 0),
     * a pending call that any thread of the main interpreter runs (its
     * signature differs before 3.12). */
    uint64_t addr_interp_main;
    uint64_t addr_add_pending_any;
    /* The safe path for a target whose threads all sit in C (attach.h,
     * attach_native_start); 0 when libc offers no dlopen. */
    uint64_t addr_dlopen;       /* dlopen (glibc 2.34+, musl), else __libc_dlopen_mode */
    uint64_t addr_dlsym;        /* dlsym, else __libc_dlsym */
    uint64_t addr_dlerror;      /* 0 if absent */
    bool dlopen_private;        /* the __libc_ variants: mode needs __RTLD_DLOPEN */
    uint64_t libc_text_start, libc_text_end; /* libc's r-xp mapping */
    pid_t tracer_pid;
    char tracer_comm[64];
};

/* Fills *t. Returns TARGET_OK or the first reason an attach cannot work, with
 * a one- or two-line message in msg saying what happened and what to do. */
enum target_status target_inspect(pid_t pid, struct target_info *t, char *msg, size_t msg_len);

/* Short name of a status, for JSON ("no_process", "other_user", ...). */
const char *target_status_name(enum target_status s);

#endif
