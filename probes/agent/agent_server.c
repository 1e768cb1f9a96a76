/* The agent's thread and its abstract Unix socket. Idle (blocked in poll on
 * the listening socket, no GIL, no timers) until a monitor connects; then
 * serves up to PM_AGENT_MAX_MONITORS at once from one poll loop: one reading
 * per sample deadline for every monitor due, the budgeted census for all,
 * each command's answer to its sender; hooks on from the first arrival to
 * the last departure. The one timer while idle: the end of a tracemalloc
 * lease, if one runs. */
#include "agent_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_alloc.h"
#include "agent_census.h"
#include "agent_clients.h"
#include "agent_gc.h"
#include "agent_sample.h"
#include "agent_state.h"
#include "agent_tracemalloc.h"
#include "proto.h"

/* The agent's addresses are abstract Unix socket names: they live in the
 * target's network namespace, never in a filesystem, so nothing is written
 * into a (possibly read-only) container, no directory can be hijacked, and
 * nothing is left behind when the process dies. The random part keeps a
 * process of the namespace from taking the name first. */
static int agent_listen(void)
{
    unsigned long long r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = agent_now_ns() ^ ((unsigned long long)agent.pid << 40);
    snprintf(agent.listen_name, sizeof(agent.listen_name), "pymemtop.%d.%016llx", (int)agent.pid,
             r);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa;
    socklen_t len = proto_abstract_addr(&sa, agent.listen_name);
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, PM_AGENT_MAX_MONITORS) < 0) {
        close(fd);
        return -1;
    }
    agent.listen_fd = fd;
    return 0;
}

/* The spare is how a monitor in another network namespace (a container's)
 * reaches us: it copies this fd with pidfd_getfd (which needs the same
 * permission as ptrace) and connects it to our name, which resolves in the
 * namespace the socket was created in: ours. It is bound to a name only so
 * that the monitor can tell it apart in /proc/PID/net/unix. */
static void agent_spare_renew(void)
{
    if (agent.spare_fd >= 0)
        close(agent.spare_fd); /* the monitor holds its own reference */
    agent.spare_fd = -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    char name[80];
    snprintf(name, sizeof(name), "%s.%u", agent.listen_name, ++agent.spare_seq);
    struct sockaddr_un sa;
    socklen_t len = proto_abstract_addr(&sa, name);
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
        close(fd);
        return;
    }
    agent.spare_fd = fd;
}

/* After every accept: a spare that got connected now belongs to a monitor
 * (kept, it would also keep that connection open after the monitor exits);
 * the next monitor gets a fresh one. */
static void agent_spare_check(void)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);
    if (agent.spare_fd < 0 || getpeername(agent.spare_fd, (struct sockaddr *)&sa, &len) == 0 ||
        errno != ENOTCONN)
        agent_spare_renew();
}

static int agent_accept(void)
{
    int fd = accept4(agent.listen_fd, NULL, NULL, SOCK_CLOEXEC);
    agent_spare_check();
    return fd;
}

/* Only the target's own uid or root may talk to the agent. */
static int agent_peer_allowed(int fd, pid_t *peer_pid)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return 0;
    *peer_pid = cr.pid;
    return cr.uid == agent.euid || cr.uid == 0;
}

/* One encode buffer for everything sent: every send completes (or fails)
 * before the next frame is built. */
static struct proto_buf out;
/* The latest reading (a copy of the pause ring: kept off the small stack). */
static struct agent_reading reading;
/* Our hooks are in: from the first monitor's arrival to the last one's leaving. */
static int hooked;
/* Python is going away (a GIL entry was refused): stop touching it. */
static int python_gone;
/* When the latest reading was taken: the next is not before the fastest
 * interval after it (agent_clients_wake_ns). */
static uint64_t last_reading_ns;

/* A send that fails (the monitor left, or stopped reading for SO_SNDTIMEO)
 * marks that monitor alone for dropping. Sent even to one marked already:
 * the reply to its "detach" is its last frame. */
static void agent_send_to(struct agent_client *c, const struct proto_buf *b)
{
    if (b->failed || proto_send(c->fd, b) < 0)
        c->closing = 1;
}

static void agent_send_hello(struct agent_client *c)
{
    proto_begin(&out, PROTO_HELLO);
    proto_put_u64(&out, TAG_AGENT_VERSION, AGENT_VERSION);
    proto_put_u64(&out, TAG_PROTOCOL, PROTO_VERSION);
    proto_put_i64(&out, TAG_PID, agent.pid);
    proto_put_u64(&out, TAG_HEXVERSION, agent.hexversion);
    proto_put_str(&out, TAG_PYTHON, agent.python);
    proto_put_u64(&out, TAG_LOADED_NS, agent.loaded_ns);
    proto_put_u64(&out, TAG_CLIENTS, agent.clients_served);
    proto_put_u64(&out, TAG_INTERVAL_MS, c->interval_ms);
    proto_put_u64(&out, TAG_MONITORS, (uint64_t)agent_clients_count());
    proto_put_str(&out, TAG_LAYOUT, agent.layout ? agent.layout->label : "");
    uint64_t raw = (agent.dbg_ok ? PM_RAW_DEBUG_OFFSETS : 0) | (agent.frames_ok ? PM_RAW_FRAME_LOCALS : 0) |
                   (agent.layout && agent.layout->gc == PYLAYOUT_GC_GENERATIONS3 ? PM_RAW_GC_LISTS : 0);
    proto_put_u64(&out, TAG_RAW_PATHS, raw);
    proto_put_str(&out, TAG_LAYOUT_NOTE, agent.layout_why);
    proto_end(&out);
    agent_send_to(c, &out);
}

/* One monitor too many: tell it whom the agent serves. PID alone is what
 * monitors that knew a single holder print. */
static void agent_refuse(int fd)
{
    char pids[200];
    agent_clients_pids(pids, sizeof(pids));
    pid_t first = 0;
    for (int i = 0; i < PM_AGENT_MAX_MONITORS && !first; i++)
        if (agent_client_at(i)->fd >= 0)
            first = agent_client_at(i)->peer;
    proto_begin(&out, PROTO_BUSY);
    proto_put_i64(&out, TAG_PID, first);
    proto_put_u64(&out, TAG_MONITORS, (uint64_t)agent_clients_count());
    proto_put_u64(&out, TAG_MONITORS_MAX, PM_AGENT_MAX_MONITORS);
    proto_put_str(&out, TAG_MONITOR_PIDS, pids);
    proto_end(&out);
    if (!out.failed)
        proto_send(fd, &out);
}

/* What the first monitor's arrival and the last one's leaving switch on and
 * off. After the last, nothing of ours keeps running: no GC hook, no
 * counting, no tracing we started, no census timer. */
static int agent_hook(int install)
{
    if (install)
        agent_census_attach();
    else
        agent_census_detach();
    if (!agent_gil_enter("hook setup"))
        return -1;
    if (install) {
        agent_gc_install();
    } else {
        agent_gc_remove();
        agent_alloc_detach();
        agent_tracemalloc_detach(); /* a lease keeps tracing on past this */
    }
    agent_gil_exit();
    return 0;
}

/* Drops the monitors marked closing; the last one out takes our hooks. */
static void agent_sweep(void)
{
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        struct agent_client *c = agent_client_at(i);
        if (c->fd >= 0 && c->closing)
            agent_client_drop(c);
    }
    if (hooked && agent_clients_count() == 0) {
        hooked = 0;
        if (agent_hook(0) < 0)
            python_gone = 1;
    }
}

static void agent_arrive(void)
{
    int fd = agent_accept();
    if (fd < 0)
        return;
    pid_t peer = 0;
    if (!agent_peer_allowed(fd, &peer)) { /* another uid: no answer at all */
        close(fd);
        return;
    }
    /* A monitor that stops reading must not wedge the agent thread: its
     * sends fail after this, and it alone is dropped. */
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct agent_client *c = agent_client_add(fd, peer);
    if (!c) {
        agent_refuse(fd);
        close(fd);
        return;
    }
    agent.clients_served++;
    agent_send_hello(c);
    if (!hooked) {
        if (agent_hook(1) < 0)
            python_gone = 1;
        else
            hooked = 1;
    }
}

/* One reading for every monitor due now, each sent its own encoding (its
 * pauses since its last sample). Monitors at slower intervals are skipped:
 * an exporter asking every second is not sent the dashboard's ten samples a
 * second, and the target pays for one reading at the fastest interval. */
static void agent_sample_due(struct proto_buf *buf, uint64_t now)
{
    uint64_t from = UINT64_MAX;
    int any = 0;
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        struct agent_client *c = agent_client_at(i);
        if (!agent_client_due(c, now))
            continue;
        any = 1;
        if (!c->fresh && c->pause_next < from)
            from = c->pause_next;
    }
    if (!any)
        return;
    if (agent_sample_read(&reading, from) < 0) {
        python_gone = 1;
        return;
    }
    last_reading_ns = now;
    unsigned monitors = (unsigned)agent_clients_count();
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        struct agent_client *c = agent_client_at(i);
        if (c->fd < 0)
            continue;
        if (reading.hold_max.ns > c->hold_max.ns) /* every monitor hears of every hold */
            c->hold_max = reading.hold_max;
        if (!agent_client_due(c, now))
            continue;
        agent_sample_encode(buf, &reading, c, monitors);
        agent_send_to(c, buf);
        agent_client_served(c, now);
    }
}

/* Between two slices of a long command (a census, why, hunt), the GIL let go:
 * the monitors due get their samples now rather than after the command.
 * Into a buffer of its own (the command's results are being built in
 * `out`); the reading's GIL hold is not the command's (its pause and cost
 * are reported without it). Monitors whose send fails are dropped after the
 * command, never under it. */
static void agent_between_slices(void)
{
    static struct proto_buf sbuf;
    static int inside;
    uint64_t now = agent_now_ns(), next = agent_clients_wake_ns(last_reading_ns);
    if (inside || python_gone || !next || now < next)
        return;
    inside = 1;
    uint64_t held = agent.op_held_ns, max_hold = agent.op_max_hold_ns;
    agent_sample_due(&sbuf, now);
    agent.op_held_ns = held;
    agent.op_max_hold_ns = max_hold;
    inside = 0;
}

/* The budgeted census, for everyone. */
static void agent_census_due(void)
{
    out.len = 0;
    out.failed = 0;
    if (agent_census_run(&out, 0) < 0) {
        python_gone = 1;
        return;
    }
    if (!out.len)
        return;
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
        struct agent_client *c = agent_client_at(i);
        if (c->fd >= 0 && !c->closing)
            agent_send_to(c, &out);
    }
}

/* Commands answer their sender only. A peer that speaks nonsense is
 * dropped, never obeyed; the others are served on. */
static void agent_read_commands(struct agent_client *c)
{
    if (proto_reader_fill(&c->in, c->fd) <= 0) {
        c->closing = 1; /* EOF: it left (or died) */
        return;
    }
    struct proto_header h;
    const uint8_t *payload;
    const char *why;
    int r = 0;
    while (!c->closing && !python_gone &&
           (r = proto_reader_next(&c->in, &h, &payload, &why)) == 1) {
        struct proto_command cmd;
        if (h.type != PROTO_COMMAND || proto_decode_command(payload, h.length, &cmd, &why) < 0) {
            c->closing = 1;
            break;
        }
        if (agent_command_run(&cmd, &out, c) < 0) {
            python_gone = 1;
            break;
        }
        agent_send_to(c, &out);
    }
    if (r < 0)
        c->closing = 1;
}

/* Until Python goes away: monitors come and go, each served as if alone. */
static void agent_serve(void)
{
    while (!python_gone && !atomic_load(&agent.finalizing) && !atomic_load(&agent.forked)) {
        uint64_t now = agent_now_ns();
        uint64_t sample_ns = agent_clients_wake_ns(last_reading_ns);
        if (sample_ns && now >= sample_ns) {
            agent_sample_due(&out, now);
            agent_sweep();
            continue;
        }
        uint64_t census_ns = sample_ns ? agent_census_next_ns() : 0;
        if (census_ns && now >= census_ns) {
            agent_census_due();
            agent_sweep();
            continue;
        }
        /* A tracemalloc lease ends on time, with or without monitors. */
        uint64_t lease_ns = agent_tracemalloc_lease_end_ns();
        if (lease_ns && now >= lease_ns) {
            agent_tracemalloc_lease_tick(agent_clients_count() > 0);
            continue;
        }
        uint64_t wake_ns = census_ns && census_ns < sample_ns ? census_ns : sample_ns;
        if (lease_ns && (!wake_ns || lease_ns < wake_ns))
            wake_ns = lease_ns;
        struct pollfd pf[1 + PM_AGENT_MAX_MONITORS];
        struct agent_client *of[1 + PM_AGENT_MAX_MONITORS];
        int n = 0;
        pf[n] = (struct pollfd){.fd = agent.listen_fd, .events = POLLIN};
        of[n++] = NULL;
        for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++) {
            struct agent_client *c = agent_client_at(i);
            if (c->fd < 0)
                continue;
            pf[n] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            of[n++] = c;
        }
        /* Idle (no monitor): blocked here, no GIL, no timer (but a lease's end). */
        int timeout_ms = wake_ns ? (int)((wake_ns - now + 999999) / 1000000) : -1;
        int got = poll(pf, (nfds_t)n, timeout_ms);
        if (got <= 0)
            continue;
        for (int i = 1; i < n && !python_gone; i++) {
            if (pf[i].revents & (POLLERR | POLLNVAL))
                of[i]->closing = 1;
            else if (pf[i].revents & (POLLIN | POLLHUP))
                agent_read_commands(of[i]);
        }
        if (!python_gone && (pf[0].revents & POLLIN))
            agent_arrive();
        agent_sweep();
    }
    /* At exit the monitors see their connections close: the target is
     * going, and nothing here may take the GIL again. */
    for (int i = 0; i < PM_AGENT_MAX_MONITORS; i++)
        agent_client_drop(agent_client_at(i));
}

static void agent_park(void)
{
    for (;;)
        pause(); /* signals are blocked here: this never returns, at no cost */
}

/* The main interpreter; not in the 3.8 limited API, exported since 3.7. */
PyAPI_FUNC(PyInterpreterState *) PyInterpreterState_Main(void);

/* One thread state for the thread's whole life. PyGILState_Ensure/Release
 * around each sample created and freed a thread state every time, with
 * PyMem_RawMalloc/Free outside the GIL: CPython's tracemalloc races such
 * allocations against tracemalloc.stop(), which crashed targets that toggle
 * tracemalloc while being sampled. Now that happens once per process, when
 * this thread starts (as for any C extension that starts a thread). It must
 * not wait for the GIL-holding caller: with tracemalloc on, the allocation
 * itself needs the GIL. */
static void *agent_thread(void *arg)
{
    (void)arg;
    agent.tstate = PyThreadState_New(PyInterpreterState_Main());
    proto_buf_init(&out);
    agent.between_slices = agent_between_slices;
    for (;;) {
        if (atomic_load(&agent.finalizing) || atomic_load(&agent.forked) || agent.listen_fd < 0 ||
            python_gone)
            agent_park();
        agent_serve();
    }
    return NULL;
}

int agent_server_start(void)
{
    if (agent_listen() < 0)
        return -1;
    agent_spare_renew();
    agent_clients_init();
    /* Signals belong to the target's threads, never to ours. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    int rc = pthread_create(&t, &attr, agent_thread, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(agent.listen_fd);
        agent.listen_fd = -1;
        if (agent.spare_fd >= 0)
            close(agent.spare_fd);
        agent.spare_fd = -1;
        return -1;
    }
    pthread_setname_np(t, "pymemtop-agent");
    return 0;
}
