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
#include <sys/socket.h>
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

int agent_link_path(const struct target_info *t, char *out, size_t cap)
{
    int n = snprintf(out, cap, "/proc/%d/root/tmp/.pymemtop-%u/%d.sock", (int)t->pid,
                     (unsigned)t->uid, (int)(t->ns_pid ? t->ns_pid : t->pid));
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
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

static int link_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int agent_link_open(const struct target_info *t, unsigned timeout_ms, struct agent_link **out,
                    struct pm_hello *hello, char *msg, size_t msg_len)
{
    char path[108];
    *out = NULL;
    if (agent_link_path(t, path, sizeof(path)) < 0) {
        snprintf(msg, msg_len, "agent socket path too long for PID %d", (int)t->pid);
        return -ENAMETOOLONG;
    }
    int fd = link_connect(path);
    if (fd == -ECONNREFUSED)
        unlink(path); /* left by an agent that died with its process */

    if (fd < 0) {
        snprintf(msg, msg_len, "cannot connect to the agent at %s: %s", path, strerror(-fd));
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
        int64_t holder = 0;
        proto_decode_busy(p, h.length, &holder, &why);
        snprintf(msg, msg_len,
                 "PID %d is already watched by another pymemtop (PID %lld); quit that one first",
                 (int)t->pid, (long long)holder);
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

int agent_link_sweep(const struct target_info *t)
{
    if (t->ns_pid && t->ns_pid != t->pid)
        return 0;
    char dir[96];
    snprintf(dir, sizeof(dir), "/proc/%d/root/tmp/.pymemtop-%u", (int)t->pid, (unsigned)t->uid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (pid <= 0 || strcmp(end, ".sock") || pid == t->pid)
            continue;
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
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
    return agent_link_send_flags(l, id, name, arg, text, 0);
}

int agent_link_send_flags(struct agent_link *l, uint64_t id, const char *name, int64_t arg,
                          const char *text, uint64_t flags)
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
