/* The attach engine: make a CPython process run one string of Python at its
 * next safe point, using ptrace and process memory writes only (x86-64 Linux).
 *
 * Stops the main thread only, remotely maps one page, writes `code` there and
 * calls Py_AddPendingCall(PyRun_SimpleString, code); restores every register
 * (general, x87/SSE/AVX) and re-delivers signals that arrived meanwhile. */
#ifndef PYMEMTOP_LIB_ATTACH_H
#define PYMEMTOP_LIB_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "target.h"

struct attach_stats {
    uint64_t stop_ns;       /* how long the target's main thread was stopped */
    uint64_t total_ns;      /* whole injection */
    int signals_redelivered;
    int pending_rc;         /* Py_AddPendingCall's return value */
};

/* `code` must be at most 3000 bytes and must not be able to raise (a pending
 * call that fails kills the target's main thread). The page holding it is
 * left mapped: the call may run long after we detach. `watchdog_ms` bounds
 * every wait for the target. Returns TARGET_OK or an error with msg set. */
enum target_status attach_pending_call(const struct target_info *t, const char *code,
                                       unsigned watchdog_ms, struct attach_stats *st,
                                       char *msg, size_t msg_len);

#endif
