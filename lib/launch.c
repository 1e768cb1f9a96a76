/* fork/exec with the bootstrap directory first on PYTHONPATH. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"

static int launch_env(const char *dir)
{
    const char *old = getenv("PYTHONPATH");
    char *val;
    if (old && *old) {
        size_t n = strlen(dir) + strlen(old) + 2;
        val = malloc(n);
        if (!val)
            return -1;
        snprintf(val, n, "%s:%s", dir, old);
    } else {
        val = strdup(dir);
        if (!val)
            return -1;
    }
    int rc = setenv("PYTHONPATH", val, 1);
    free(val);
    return rc;
}

/* In the child: output to the log file when asked, then exec. Only
 * async-signal-safe calls, since the monitor may have threads (ncurses none,
 * but libraries might). */
static void launch_child(char *const argv[], int log_fd, int null_fd)
{
    /* A failed exec is ours to report, on the terminal, not in the log. */
    int err_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (log_fd >= 0) {
        /* The dashboard owns the terminal: the program gets its own process
         * group (terminal keys are the dashboard's) and a log file. */
        setpgid(0, 0);
        dup2(null_fd, STDIN_FILENO);
        dup2(log_fd, STDOUT_FILENO);
        dup2(log_fd, STDERR_FILENO);
    }
    execvp(argv[0], argv);
    int e = errno;
    const char *what = e == ENOENT ? "command not found" : strerror(e);
    dprintf(err_fd >= 0 ? err_fd : STDERR_FILENO, "pymemtop: cannot run %s: %s\n", argv[0], what);
    _exit(e == ENOENT ? 127 : 126);
}

/* The log goes in a directory of our own, made by mkdtemp (0700) under
 * log_dir, and the file is created O_EXCL|O_NOFOLLOW: a fixed name in a shared
 * /tmp would let anyone plant a link there and have the write (as root, when
 * pymemtop runs as root) land wherever it points. The fd, or -1 with msg set
 * and nothing left behind. */
static int launch_open_log(struct launch *l, const char *log_dir, char *msg, size_t msg_len)
{
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof(dir), "%s/pymemtop-log-XXXXXX", log_dir) >= sizeof(dir)) {
        snprintf(msg, msg_len, "cannot create a log directory in %s: name too long", log_dir);
        return -1;
    }
    if (!mkdtemp(dir)) {
        snprintf(msg, msg_len, "cannot create a log directory in %s: %s", log_dir,
                 strerror(errno));
        return -1;
    }
    if ((size_t)snprintf(l->log_path, sizeof(l->log_path), "%s/pymemtop-run-%ld.log", dir,
                         (long)time(NULL)) >= sizeof(l->log_path)) {
        snprintf(msg, msg_len, "cannot create a log in %s: name too long", dir);
        l->log_path[0] = 0;
        rmdir(dir);
        return -1;
    }
    int fd = open(l->log_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(msg, msg_len, "cannot write %s: %s", l->log_path, strerror(errno));
        l->log_path[0] = 0;
        rmdir(dir);
    }
    return fd;
}

/* Undoes launch_open_log when the program never started: its log would only
 * hold nothing. */
static void launch_drop_log(struct launch *l, int log_fd)
{
    close(log_fd);
    unlink(l->log_path);
    char *slash = strrchr(l->log_path, '/');
    if (slash) {
        *slash = 0;
        rmdir(l->log_path);
    }
    l->log_path[0] = 0;
}

int launch_start(struct launch *l, char *const argv[], const char *agent_path,
                 const char *log_dir, char *msg, size_t msg_len)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->dir, sizeof(l->dir), "/tmp/pymemtop-run-XXXXXX");
    if (!mkdtemp(l->dir)) {
        snprintf(msg, msg_len, "cannot create a directory in /tmp: %s", strerror(errno));
        l->dir[0] = 0;
        return -1;
    }
    chmod(l->dir, 0755); /* the program may run as another user (sudo -u) */
    const char *orig = getenv("PYTHONPATH");
    if (bootstrap_write_sitecustomize(l->dir, agent_path, orig && *orig ? orig : NULL, msg,
                                      msg_len) < 0)
        return -1;
    int log_fd = -1, null_fd = -1;
    if (log_dir) {
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0) {
            snprintf(msg, msg_len, "cannot open /dev/null: %s", strerror(errno));
            return -1;
        }
        log_fd = launch_open_log(l, log_dir, msg, msg_len);
        if (log_fd < 0) {
            close(null_fd);
            return -1;
        }
    }
    char *old = getenv("PYTHONPATH") ? strdup(getenv("PYTHONPATH")) : NULL;
    if (launch_env(l->dir) < 0) {
        free(old);
        snprintf(msg, msg_len, "out of memory");
        if (log_fd >= 0) {
            launch_drop_log(l, log_fd);
            close(null_fd);
        }
        return -1;
    }
    l->pid = fork();
    if (l->pid == 0)
        launch_child(argv, log_fd, null_fd);
    int fork_errno = errno;
    /* Our own environment goes back as it was. */
    if (old)
        setenv("PYTHONPATH", old, 1);
    else
        unsetenv("PYTHONPATH");
    free(old);
    if (null_fd >= 0)
        close(null_fd);
    if (l->pid < 0) {
        snprintf(msg, msg_len, "cannot start %s: %s", argv[0], strerror(fork_errno));
        if (log_fd >= 0)
            launch_drop_log(l, log_fd);
        return -1;
    }
    if (log_fd >= 0)
        close(log_fd);
    return 0;
}

bool launch_exited(struct launch *l)
{
    if (!l->reaped && l->pid > 0 && waitpid(l->pid, &l->status, WNOHANG) == l->pid)
        l->reaped = true;
    return l->reaped;
}

int launch_wait(struct launch *l)
{
    while (!l->reaped && l->pid > 0) {
        if (waitpid(l->pid, &l->status, 0) == l->pid)
            l->reaped = true;
        else if (errno != EINTR)
            break;
    }
    return launch_exit_code(l);
}

int launch_exit_code(const struct launch *l)
{
    if (!l->reaped)
        return 1;
    if (WIFEXITED(l->status))
        return WEXITSTATUS(l->status);
    return WIFSIGNALED(l->status) ? 128 + WTERMSIG(l->status) : 1;
}

void launch_cleanup(struct launch *l)
{
    if (!l->dir[0])
        return;
    char path[128];
    snprintf(path, sizeof(path), "%s/sitecustomize.py", l->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/__pycache__", l->dir);
    /* Python may have cached the bytecode; remove what it wrote, then the dir. */
    char cache[200];
    for (int minor = 8; minor <= 20; minor++) {
        snprintf(cache, sizeof(cache), "%s/sitecustomize.cpython-3%d.pyc", path, minor);
        unlink(cache);
    }
    rmdir(path);
    rmdir(l->dir);
    l->dir[0] = 0;
}
