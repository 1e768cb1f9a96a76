/* The agent's thread and its abstract Unix socket. Idle (blocked in poll on the listening
 * socket, no GIL, no timers) until a monitor connects; then samples every
 * interval and answers commands until the monitor goes away. The one timer
 * while idle: the end of a tracemalloc lease, if one runs. */
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
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 4) < 0) {
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

static int agent_send(int fd, struct proto_buf *b)
{
    return b->failed ? -1 : proto_send(fd, b);
}

static void agent_send_hello(int fd, struct proto_buf *b)
{
    proto_begin(b, PROTO_HELLO);
    proto_put_u64(b, TAG_AGENT_VERSION, AGENT_VERSION);
    proto_put_u64(b, TAG_PROTOCOL, PROTO_VERSION);
    proto_put_i64(b, TAG_PID, agent.pid);
    proto_put_u64(b, TAG_HEXVERSION, agent.hexversion);
    proto_put_str(b, TAG_PYTHON, agent.python);
    proto_put_u64(b, TAG_LOADED_NS, agent.loaded_ns);
    proto_put_u64(b, TAG_CLIENTS, agent.clients_served);
    proto_put_u64(b, TAG_INTERVAL_MS, atomic_load(&agent.interval_ms));
    proto_put_str(b, TAG_LAYOUT, agent.layout ? agent.layout->label : "");
    uint64_t raw = (agent.dbg_ok ? PM_RAW_DEBUG_OFFSETS : 0) | (agent.frames_ok ? PM_RAW_FRAME_LOCALS : 0) |
                   (agent.layout && agent.layout->gc == PYLAYOUT_GC_GENERATIONS3 ? PM_RAW_GC_LISTS : 0);
    proto_put_u64(b, TAG_RAW_PATHS, raw);
    proto_put_str(b, TAG_LAYOUT_NOTE, agent.layout_why);
    proto_end(b);
    agent_send(fd, b);
}

/* A second monitor while one is served: tell it who holds the agent. */
static void agent_refuse_busy(pid_t holder)
{
    int fd = agent_accept();
    if (fd < 0)
        return;
    pid_t peer;
    if (agent_peer_allowed(fd, &peer)) {
        struct proto_buf b;
        proto_buf_init(&b);
        proto_begin(&b, PROTO_BUSY);
        proto_put_i64(&b, TAG_PID, holder);
        proto_end(&b);
        agent_send(fd, &b);
        proto_buf_free(&b);
    }
    close(fd);
}

/* What a monitor's arrival and departure switch on and off. On departure
 * nothing of ours keeps running: no GC hook, no counting, no tracing we
 * started, no census timer. */
static int agent_hook(int install)
{
    if (install)
        agent_census_attach();
    else
        agent_census_detach();
    if (!agent_gil_enter())
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

/* Returns when the monitor detaches, disconnects or misbehaves. */
static void agent_serve(int fd, pid_t peer)
{
    struct proto_buf out;
    struct proto_reader in;
    proto_buf_init(&out);
    proto_reader_init(&in, 64 * 1024);
    /* A monitor that stops reading must not wedge the agent thread. */
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    agent.clients_served++;
    agent_send_hello(fd, &out);
    if (agent_hook(1) < 0)
        goto done;
    uint64_t next_ns = agent_now_ns(); /* first sample at once: --once waits for it */
    for (int detach = 0; !detach;) {
        uint64_t now = agent_now_ns();
        if (now >= next_ns) {
            if (agent_sample_encode(&out) < 0 || agent_send(fd, &out) < 0)
                break;
            next_ns = now + (uint64_t)atomic_load(&agent.interval_ms) * 1000000u;
            continue;
        }
        uint64_t census_ns = agent_census_next_ns();
        if (census_ns && now >= census_ns) {
            out.len = 0;
            if (agent_census_run(&out, 0) < 0 || (out.len && agent_send(fd, &out) < 0))
                break;
            continue;
        }
        uint64_t lease_ns = agent_tracemalloc_lease_end_ns();
        if (lease_ns && now >= lease_ns) {
            agent_tracemalloc_lease_tick(1);
            continue;
        }
        uint64_t wake_ns = census_ns && census_ns < next_ns ? census_ns : next_ns;
        if (lease_ns && lease_ns < wake_ns)
            wake_ns = lease_ns;
        struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = agent.listen_fd, .events = POLLIN}};
        int timeout_ms = (int)((wake_ns - now + 999999) / 1000000);
        int n = poll(pf, 2, timeout_ms);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (pf[1].revents & POLLIN)
            agent_refuse_busy(peer);
        if (pf[0].revents & (POLLERR | POLLNVAL))
            break;
        if (!(pf[0].revents & (POLLIN | POLLHUP)))
            continue;
        if (proto_reader_fill(&in, fd) <= 0)
            break;
        struct proto_header h;
        const uint8_t *payload;
        const char *why;
        int r;
        while (!detach && (r = proto_reader_next(&in, &h, &payload, &why)) == 1) {
            struct proto_command c;
            if (h.type != PROTO_COMMAND || proto_decode_command(payload, h.length, &c, &why) < 0) {
                detach = 1; /* a peer that speaks nonsense is dropped, never obeyed */
                break;
            }
            if (agent_command_run(&c, &out, &detach) < 0 || agent_send(fd, &out) < 0)
                detach = 1;
        }
        if (r < 0)
            break;
    }
    agent_hook(0);
done:
    proto_reader_free(&in);
    proto_buf_free(&out);
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
    for (;;) {
        if (atomic_load(&agent.finalizing) || atomic_load(&agent.forked) || agent.listen_fd < 0)
            agent_park();
        /* No timer at all, unless a tracemalloc lease must end meanwhile. */
        uint64_t lease_ns = agent_tracemalloc_lease_end_ns(), now = agent_now_ns();
        int timeout_ms = !lease_ns ? -1 : lease_ns <= now ? 0
                                                           : (int)((lease_ns - now + 999999) / 1000000);
        struct pollfd pf = {.fd = agent.listen_fd, .events = POLLIN};
        int n = poll(&pf, 1, timeout_ms);
        if (n == 0)
            agent_tracemalloc_lease_tick(0);
        if (n <= 0)
            continue;
        int fd = agent_accept();
        if (fd < 0)
            continue;
        pid_t peer = 0;
        agent.client_fd = fd;
        if (agent_peer_allowed(fd, &peer))
            agent_serve(fd, peer);
        agent.client_fd = -1;
        close(fd);
    }
    return NULL;
}

int agent_server_start(void)
{
    if (agent_listen() < 0)
        return -1;
    agent_spare_renew();
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
