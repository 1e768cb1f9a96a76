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
    char log_path[PATH_MAX]; /* where the program's output goes; "" = passed through */
    bool reaped;
    int status;              /* wait status once reaped */
};

/* Starts argv[0] (searched in PATH) with stdin/stdout/stderr inherited, or
 * with output to a log file when `log_dir` is set (the dashboard owns the
 * terminal then) and stdin from /dev/null. 0, or -1 with msg set. */
int launch_start(struct launch *l, char *const argv[], const char *agent_path,
                 const char *log_dir, char *msg, size_t msg_len);
/* True once the program has exited (reaps it; non-blocking). */
bool launch_exited(struct launch *l);
/* Blocks until the program exits; returns its exit code, 128+N for a signal. */
int launch_wait(struct launch *l);
int launch_exit_code(const struct launch *l);
void launch_cleanup(struct launch *l);

#endif
