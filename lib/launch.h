/* Run mode: start a Python program with the agent loaded from its first
 * instruction (a sitecustomize.py first on PYTHONPATH), and collect its exit
 * status. */
#ifndef PYMEMTOP_LIB_LAUNCH_H
#define PYMEMTOP_LIB_LAUNCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct launch {
    pid_t pid;
    char dir[64];            /* private bootstrap directory, removed by launch_cleanup */
    char log_path[PATH_MAX]; /* LOG_DIR/pymemtop-log-XXXXXX/pymemtop-run-TIME.log, a
                              * private directory; "" = output passed through */
    bool reaped;
    int status;              /* wait status once reaped */
};

/* Starts argv[0] (searched in PATH) with stdin/stdout/stderr inherited, or
 * with output to a new log file in a new 0700 directory under `log_dir` when
 * it is set (the dashboard owns the terminal then) and stdin from /dev/null.
 * 0, or -1 with msg set (no descriptor kept, no log left). */
int launch_start(struct launch *l, char *const argv[], const char *agent_path,
                 const char *log_dir, char *msg, size_t msg_len);
/* True once the program has exited (reaps it; non-blocking). */
bool launch_exited(struct launch *l);
/* Blocks until the program exits; returns its exit code, 128+N for a signal. */
int launch_wait(struct launch *l);
int launch_exit_code(const struct launch *l);
void launch_cleanup(struct launch *l);

#endif
