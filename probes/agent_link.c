/* Client side of the agent protocol. Frames are decoded by lib/proto only. */
#include "agent_link.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

struct agent_link {
    int fd;
    int closed;
    struct proto_reader in;
    struct proto_buf out;
    char error[160];
};

/* The target's socket inodes and the fds that hold them. */
struct link_fds {
    unsigned long *ino;
    int *fd;
    size_t n, cap;
};

static int link_fds_read(pid_t pid, struct link_fds *f)
{
    char path[64], link[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name)
            continue;
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        unsigned long ino;
        if (sscanf(link, "socket:[%lu]", &ino) != 1)
            continue;
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 64;
            unsigned long *i2 = realloc(f->ino, cap * sizeof(*i2));
            if (i2)
                f->ino = i2;
            int *f2 = i2 ? realloc(f->fd, cap * sizeof(*f2)) : NULL;
            if (!f2)
                break;
            f->fd = f2;
            f->cap = cap;
        }
        f->ino[f->n] = ino;
        f->fd[f->n++] = (int)fd;
    }
    closedir(d);
    return 0;
}

static int link_fds_lookup(const struct link_fds *f, unsigned long ino)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->ino[i] == ino)
            return f->fd[i];
    return -1;
}

int agent_link_find(const struct target_info *t, struct agent_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->spare_fd = -1;
    struct link_fds f = {0};
    int r = link_fds_read(t->pid, &f);
    char path[64], line[512], prefix[40];
    snprintf(path, sizeof(path), "/proc/%d/net/unix", (int)t->pid);
    /* Our own name carries the PID the agent saw: a socket some other
     * process handed to the target cannot pass for its agent. */
    snprintf(prefix, sizeof(prefix), "@pymemtop.%d.", (int)(t->ns_pid ? t->ns_pid : t->pid));
    FILE *u = r == 0 ? fopen(path, "re") : NULL;
    if (r == 0 && !u)
        r = -errno;
    char spare[80] = "";
    unsigned long spare_ino = 0;
    while (u && fgets(line, sizeof(line), u)) {
        unsigned long flags, type, st, ino;
        char name[64];
        if (sscanf(line, "%*s %*s %*s %lx %lx %lx %lu %63s", &flags, &type, &st, &ino, name) != 5 ||
            strncmp(name, prefix, strlen(prefix)) != 0)
            continue;
        int fd = link_fds_lookup(&f, ino);
        if (fd < 0)
            continue;
        if (flags & 0x10000) { /* __SO_ACCEPTCON: listening */
            memcpy(a->name, name + 1, sizeof(a->name) - 1);
            a->listen_fd = fd;
            a->found = true;
        } else if (st == 1) { /* SS_UNCONNECTED: a spare waiting for a monitor */
            memcpy(spare, name + 1, sizeof(name) - 1);
            a->spare_fd = fd;
            spare_ino = ino;
        }
    }
    if (u)
        fclose(u);
    free(f.ino);
    free(f.fd);
    size_t nl = strlen(a->name);
    if (a->spare_fd >= 0 && !(a->found && !strncmp(spare, a->name, nl) && spare[nl] == '.'))
        a->spare_fd = -1;
    a->spare_ino = spare_ino;
    return r < 0 ? r : a->found ? 0 : -ENOENT;
}

static bool link_same_netns(pid_t pid)
{
    char path[64];
    struct stat a, b;
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    return stat(path, &a) == 0 && stat("/proc/self/ns/net", &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

/* Takes the agent's spare socket (pidfd_getfd: the permission ptrace needs)
 * and connects it to the agent's name, which resolves in the namespace the
 * spare was made in: the target's, whatever ours is. Where pidfd_getfd is
 * missing or refused, a monitor in the same network namespace connects by
 * name (the agent checks who we are with SO_PEERCRED either way). */
static int link_connect(const struct target_info *t, const struct agent_addr *a, char *how,
                        size_t how_len)
{
    struct sockaddr_un sa;
    socklen_t sl = proto_abstract_addr(&sa, a->name);
    int err = ENOENT;
    if (a->spare_fd >= 0) {
        int pfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
        int fd = pfd >= 0 ? (int)syscall(SYS_pidfd_getfd, pfd, a->spare_fd, 0) : -1;
        err = errno;
        if (pfd >= 0)
            close(pfd);
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_ino != a->spare_ino)) {
            close(fd); /* the fd was reused since we looked: look again */
            return -EBUSY;
        }
        if (fd >= 0) {
            if (connect(fd, (struct sockaddr *)&sa, sl) == 0) {
                snprintf(how, how_len, "pidfd_getfd");
                return fd;
            }
            err = errno;
            close(fd);
            /* Another monitor connected this spare first: the agent makes a
             * new one once it has accepted that monitor. */
            return err == EISCONN || err == EINVAL ? -EBUSY : -err;
        }
    }
    if (!link_same_netns(t->pid))
        return a->spare_fd < 0 ? -EBUSY : err == ENOSYS ? -ENOSYS : -EACCES;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sl) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    snprintf(how, how_len, "name");
    return fd;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits for one whole frame; 1 ok, 0 timeout, -1 closed or malformed. */
static int link_wait_frame(struct agent_link *l, unsigned timeout_ms, struct proto_header *h,
                           const uint8_t **payload)
{
    uint64_t end = mono_ms() + timeout_ms;
    for (;;) {
        const char *why = NULL;
        int r = proto_reader_next(&l->in, h, payload, &why);
        if (r != 0) {
            if (r < 0)
                snprintf(l->error, sizeof(l->error), "bad data from the agent: %s", why);
            return r;
        }
        uint64_t now = mono_ms();
        if (now >= end)
            return 0;
        struct pollfd pf = {.fd = l->fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - now)) <= 0)
            continue;
        if (proto_reader_fill(&l->in, l->fd) <= 0)
            return -1;
    }
}

int agent_link_open(const struct target_info *t, unsigned timeout_ms, struct agent_link **out,
                    struct pm_hello *hello, char *msg, size_t msg_len)
{
    *out = NULL;
    struct agent_addr a;
    int fd = agent_link_find(t, &a);
    char how[16] = "";
    if (fd == 0)
        fd = link_connect(t, &a, how, sizeof(how));
    if (fd == -EACCES || fd == -ENOSYS) {
        snprintf(msg, msg_len,
                 "PID %d: cannot take the agent's socket (pidfd_getfd: %s) and the target is in "
                 "another network namespace; run pymemtop as root on the host, or with "
                 "CAP_SYS_PTRACE (docker/kubernetes: --cap-add=SYS_PTRACE)",
                 (int)t->pid, strerror(-fd));
        return fd;
    }
    if (fd < 0) {
        snprintf(msg, msg_len, "cannot connect to the agent in PID %d: %s", (int)t->pid,
                 fd == -ENOENT ? "no agent loaded" : strerror(-fd));
        return fd;
    }
    struct agent_link *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return -ENOMEM;
    }
    l->fd = fd;
    proto_reader_init(&l->in, PROTO_MAX_PAYLOAD);
    proto_buf_init(&l->out);
    struct proto_header h;
    const uint8_t *p;
    const char *why = "";
    int r = link_wait_frame(l, timeout_ms, &h, &p);
    int err = 0;
    if (r <= 0) {
        snprintf(msg, msg_len, "the agent in PID %d did not answer%s%s", (int)t->pid,
                 l->error[0] ? ": " : " within the timeout", l->error);
        err = r == 0 ? -ETIMEDOUT : -EPROTO;
    } else if (h.type == PROTO_BUSY) {
        struct proto_busy b;
        proto_decode_busy(p, h.length, &b, &why);
        if (b.monitors) /* an agent serving several: it serves its most now */
            snprintf(msg, msg_len,
                     "PID %d: the agent already serves %llu monitors, its limit (pymemtop PIDs "
                     "%s); quit one of them first",
                     (int)t->pid, (unsigned long long)b.monitors,
                     b.pids[0] ? b.pids : "outside its PID namespace");
        /* An older agent serves one: the holder's PID as it sees it, 0 when
         * that monitor runs outside the target's PID namespace. */
        else if (b.holder_pid > 0)
            snprintf(msg, msg_len,
                     "PID %d is already watched by another pymemtop (PID %lld); quit that one "
                     "first", (int)t->pid, (long long)b.holder_pid);
        else
            snprintf(msg, msg_len,
                     "PID %d is already watched by another pymemtop (outside its PID "
                     "namespace); quit that one first", (int)t->pid);
        err = -EBUSY;
    } else if (h.type != PROTO_HELLO || proto_decode_hello(p, h.length, hello, &why) < 0) {
        snprintf(msg, msg_len, "the agent in PID %d sent a bad greeting: %s", (int)t->pid,
                 h.type != PROTO_HELLO ? "not a hello" : why);
        err = -EPROTO;
    }
    if (err) {
        agent_link_close(l, 0);
        return err;
    }
    *out = l;
    return 0;
}

int agent_link_fd(const struct agent_link *l)
{
    return l && !l->closed ? l->fd : -1;
}

int agent_link_fill(struct agent_link *l)
{
    if (l->closed)
        return -1;
    long n = proto_reader_fill(&l->in, l->fd);
    if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
        l->closed = 1;
        return -1;
    }
    return 0;
}

enum agent_event agent_link_next(struct agent_link *l, struct agent_inbox *in)
{
    for (;;) {
        struct proto_header h;
        const uint8_t *p;
        const char *why = NULL;
        int r = proto_reader_next(&l->in, &h, &p, &why);
        if (r < 0) {
            snprintf(l->error, sizeof(l->error), "bad data from the agent: %s", why);
            l->closed = 1;
            return AGENT_EV_CLOSED;
        }
        if (r == 0)
            return l->closed ? AGENT_EV_CLOSED : AGENT_EV_NONE;
        if (h.type == PROTO_SAMPLE) {
            if (proto_decode_sample(p, h.length, &in->sample, &why) == 0)
                return AGENT_EV_SAMPLE;
        } else if (h.type == PROTO_REPLY) {
            if (proto_decode_reply(p, h.length, &in->reply, &why) == 0)
                return AGENT_EV_REPLY;
        } else if (h.type == PROTO_CENSUS) {
            if (proto_decode_census(p, h.length, &in->census, &why) == 0)
                return AGENT_EV_CENSUS;
        } else if (h.type == PROTO_HUNT) {
            if (proto_decode_hunt(p, h.length, &in->hunt, &why) == 0)
                return AGENT_EV_HUNT;
        } else if (h.type == PROTO_SITES) {
            if (proto_decode_sites(p, h.length, &in->sites, &why) == 0)
                return AGENT_EV_SITES;
        } else if (h.type == PROTO_SHAPES) {
            if (proto_decode_shapes(p, h.length, &in->capture, &why) == 0)
                return AGENT_EV_SHAPES;
        } else if (h.type == PROTO_WHY) {
            if (proto_decode_why(p, h.length, &in->why, &why) == 0)
                return AGENT_EV_WHY;
        } else {
            continue; /* a frame type this build does not know: skip it */
        }
        snprintf(l->error, sizeof(l->error), "bad data from the agent: %s", why);
    }
}

const char *agent_link_error(const struct agent_link *l)
{
    return l->error;
}

int agent_link_send(struct agent_link *l, uint64_t id, const char *name, int64_t arg)
{
    return agent_link_send_text(l, id, name, arg, NULL);
}

int agent_link_send_text(struct agent_link *l, uint64_t id, const char *name, int64_t arg,
                         const char *text)
{
    return agent_link_send_flags(l, id, name, arg, text, 0, 0);
}

int agent_link_send_flags(struct agent_link *l, uint64_t id, const char *name, int64_t arg,
                          const char *text, uint64_t flags, int64_t lease_s)
{
    if (l->closed)
        return -EPIPE;
    if (text && strlen(text) >= PM_TYPE_NAME_MAX)
        return -ENAMETOOLONG;
    proto_begin(&l->out, PROTO_COMMAND);
    proto_put_u64(&l->out, TAG_CMD_ID, id);
    proto_put_str(&l->out, TAG_CMD_NAME, name);
    proto_put_i64(&l->out, TAG_CMD_ARG, arg);
    if (text)
        proto_put_str(&l->out, TAG_CMD_TEXT, text);
    if (flags) /* older agents skip the unknown tag */
        proto_put_u64(&l->out, TAG_CMD_FLAGS, flags);
    if (lease_s > 0)
        proto_put_i64(&l->out, TAG_LEASE_S, lease_s);
    if (proto_end(&l->out) < 0)
        return -ENOMEM;
    return proto_send(l->fd, &l->out);
}

void agent_link_close(struct agent_link *l, int send_detach)
{
    if (!l)
        return;
    /* The agent closes its end once its hook is gone and it idles again:
     * waiting for that (briefly) lets the next monitor connect at once. */
    if (send_detach && !l->closed && agent_link_send(l, 0, "detach", 0) == 0) {
        uint64_t end = mono_ms() + 1000;
        while (!l->closed && mono_ms() < end) {
            struct pollfd pf = {.fd = l->fd, .events = POLLIN};
            if (poll(&pf, 1, (int)(end - mono_ms())) > 0 && agent_link_fill(l) < 0)
                break;
            l->in.consumed = l->in.len; /* drop whatever else it sent */
        }
    }
    close(l->fd);
    proto_reader_free(&l->in);
    proto_buf_free(&l->out);
    free(l);
}
