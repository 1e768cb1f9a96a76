/* The exporter's loop: one poll over the listening socket, the HTTP clients,
 * the agents' sockets and the attach worker's pipe. Nothing here waits on a
 * target: /metrics renders the latest samples the loop already holds, and
 * every client has a deadline, and when all slots are taken the one that has
 * waited longest gives its slot up: a slow or silent client (slowloris)
 * cannot keep a scraper out. */
#include "serve.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fleet.h"
#include "http.h"
#include "metrics.h"
#include "target.h"

#define SERVE_MAX_CLIENTS 64
#define SERVE_CLIENT_TIMEOUT_NS 10000000000ull /* request and response, from accept */
#define SERVE_POLL_MAX (1 + SERVE_MAX_CLIENTS + 1 + 4096)

struct client {
    int fd;
    char in[HTTP_MAX_REQUEST];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
    uint64_t deadline_ns;
    uint64_t seq; /* accept order: clients accepted in one batch share a deadline */
};

struct server {
    int listen_fd;
    struct client clients[SERVE_MAX_CLIENTS];
    size_t n_clients;
    uint64_t next_seq;
    struct fleet fleet;
    struct metrics_self self;
};

static volatile sig_atomic_t serve_stop;

static void serve_on_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

/* Binds host:port; 0 or an exit code after one line on stderr. */
static int serve_listen(struct server *sv, const char *spec, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai;
    int r = getaddrinfo(host, port, &hints, &ai);
    if (r) {
        fprintf(stderr, "pymemtop: --serve %s: address %s: %s\n", spec, host, gai_strerror(r));
        return EXIT_USAGE;
    }
    int err = 0;
    sv->listen_fd = -1;
    for (struct addrinfo *a = ai; a && sv->listen_fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            err = errno;
            close(fd);
            continue;
        }
        sv->listen_fd = fd;
    }
    freeaddrinfo(ai);
    if (sv->listen_fd >= 0)
        return 0;
    if (err == EADDRINUSE)
        fprintf(stderr, "pymemtop: --serve %s: port %s is already in use on %s (another "
                        "exporter?); choose another port\n", spec, port, host);
    else
        fprintf(stderr, "pymemtop: --serve %s: cannot listen on %s port %s: %s\n", spec, host,
                port, strerror(err));
    return EXIT_USAGE;
}

static void client_close(struct server *sv, size_t i)
{
    struct client *c = &sv->clients[i];
    /* Unread bytes (a request body) would turn close into a reset that can
     * cut the answer short: read them off first. */
    char sink[512];
    while (read(c->fd, sink, sizeof(sink)) > 0) {
    }
    close(c->fd);
    free(c->out);
    sv->clients[i] = sv->clients[--sv->n_clients];
}

static void client_respond(struct client *c, int code, const char *type, const char *body,
                           size_t body_len, const char *extra)
{
    char head[512];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n%s\r\n",
                      http_status_line(code), type, body_len, extra);
    c->out = malloc((size_t)hn + body_len);
    if (!c->out) {
        c->out_len = 0;
        return;
    }
    memcpy(c->out, head, (size_t)hn);
    memcpy(c->out + hn, body, body_len);
    c->out_len = (size_t)hn + body_len;
    c->out_off = 0;
}

static void client_error(struct client *c, int code, const char *extra)
{
    char body[128];
    int n = snprintf(body, sizeof(body), "%s\n", http_status_line(code));
    client_respond(c, code, "text/plain; charset=utf-8", body, (size_t)n, extra);
}

static const char index_page[] =
    "<!DOCTYPE html>\n<html><head><title>pymemtop exporter</title></head><body>\n"
    "<h1>pymemtop exporter</h1>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

static void serve_metrics(struct server *sv, struct client *c, const struct http_request *rq)
{
    uint64_t t0 = session_now_ns();
    enum metrics_format fmt = metrics_negotiate(rq->accept);
    struct metrics_buf b = {0};
    if (fleet_metrics(&sv->fleet, &b, &sv->self, fmt) < 0) {
        client_error(c, 500, "");
    } else {
        client_respond(c, 200, metrics_content_type(fmt), b.data, b.len, "");
    }
    metrics_buf_free(&b);
    sv->self.scrapes++;
    sv->self.last_scrape_s = (double)(session_now_ns() - t0) / 1e9;
}

/* A whole request is in: choose the answer. */
static void client_request(struct server *sv, struct client *c)
{
    struct http_request rq;
    switch (http_parse_request(c->in, c->in_len, &rq)) {
    case HTTP_INCOMPLETE:
        return;
    case HTTP_BAD:
        client_error(c, 400, "");
        return;
    case HTTP_TOO_LARGE:
        client_error(c, 431, "");
        return;
    case HTTP_COMPLETE:
        break;
    }
    switch (http_route_of(&rq)) {
    case HTTP_ROUTE_INDEX:
        client_respond(c, 200, "text/html; charset=utf-8", index_page, sizeof(index_page) - 1, "");
        break;
    case HTTP_ROUTE_METRICS:
        serve_metrics(sv, c, &rq);
        break;
    case HTTP_ROUTE_NOT_ALLOWED:
        client_error(c, 405, "Allow: GET\r\n");
        break;
    case HTTP_ROUTE_NOT_FOUND:
        client_error(c, 404, "");
        break;
    default:
        client_error(c, 400, "");
        break;
    }
}

/* Returns false when the client is done (to be closed). */
static bool client_io(struct server *sv, struct client *c, short revents)
{
    if (!c->out && (revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        if (n > 0) {
            c->in_len += (size_t)n;
            client_request(sv, c);
            if (!c->out && c->in_len == sizeof(c->in))
                client_error(c, 431, "");
        }
    }
    if (c->out) {
        while (c->out_off < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0)
                return errno == EAGAIN || errno == EINTR;
            c->out_off += (size_t)n;
        }
        shutdown(c->fd, SHUT_WR);
        return false;
    }
    return true;
}

/* Every slot taken: the client that has waited longest for its request to
 * end gives its slot up, so clients that never finish (slowloris) cannot
 * keep a scraper out for their whole deadline. Returns false if none can. */
static bool serve_evict(struct server *sv)
{
    size_t oldest = SERVE_MAX_CLIENTS;
    for (size_t i = 0; i < sv->n_clients; i++)
        if (!sv->clients[i].out &&
            (oldest == SERVE_MAX_CLIENTS || sv->clients[i].seq < sv->clients[oldest].seq))
            oldest = i;
    if (oldest == SERVE_MAX_CLIENTS)
        return false;
    client_close(sv, oldest);
    return true;
}

static void serve_accept(struct server *sv, uint64_t now)
{
    for (;;) {
        if (sv->n_clients == SERVE_MAX_CLIENTS && !serve_evict(sv))
            return;
        int fd = accept4(sv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct client *c = &sv->clients[sv->n_clients++];
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->deadline_ns = now + SERVE_CLIENT_TIMEOUT_NS;
        c->seq = sv->next_seq++;
    }
}

/* The PIDs given: gone is exit 4, a process pymemtop can never attach is
 * exit 3, each with one line, before anything listens. */
static int serve_check_pids(const struct cli *cli)
{
    for (int i = 0; i < cli->n_serve_pids; i++) {
        static struct target_info t;
        char msg[1024];
        enum target_status st = target_inspect(cli->serve_pids[i], &t, msg, sizeof(msg));
        if (st == TARGET_OK || st == TARGET_TRACED) /* traced: a loaded agent still serves */
            continue;
        fprintf(stderr, "pymemtop: --serve: %.*s\n", (int)strcspn(msg, "\n"), msg);
        return st == TARGET_NO_PROCESS || st == TARGET_GONE ? EXIT_GONE : EXIT_REFUSED;
    }
    return 0;
}

static void serve_loop(struct server *sv, const struct cli *cli)
{
    static struct pollfd fds[SERVE_POLL_MAX];
    static int idx[SERVE_POLL_MAX];
    bool said_all_gone = false;
    while (!serve_stop) {
        uint64_t now = session_now_ns();
        int timeout = fleet_tick(&sv->fleet, now);
        if (cli->n_serve_pids && !fleet_live(&sv->fleet) && !said_all_gone) {
            bool any_pending = false;
            for (size_t i = 0; i < sv->fleet.n; i++)
                any_pending |= sv->fleet.t[i]->state != FLEET_DOWN ||
                               strcmp(sv->fleet.t[i]->reason, "exited");
            if (!any_pending) {
                fprintf(stderr, "pymemtop: every PID given has exited; still serving "
                                "(pymemtop_target_up 0) until stopped\n");
                said_all_gone = true;
            }
        }
        size_t n = 0;
        /* Full of clients that are all being answered: leave new ones in
         * the backlog (polling the socket would only spin). */
        bool can_take = sv->n_clients < SERVE_MAX_CLIENTS;
        for (size_t i = 0; i < sv->n_clients && !can_take; i++)
            can_take = !sv->clients[i].out;
        fds[n++] = (struct pollfd){.fd = can_take ? sv->listen_fd : -1, .events = POLLIN};
        for (size_t i = 0; i < sv->n_clients; i++) {
            struct client *c = &sv->clients[i];
            fds[n++] = (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
            uint64_t left = c->deadline_ns > now ? (c->deadline_ns - now) / 1000000u + 1 : 0;
            if (left < (uint64_t)timeout)
                timeout = (int)left;
        }
        size_t nf = fleet_pollfds(&sv->fleet, fds + n, idx, SERVE_POLL_MAX - n);
        if (poll(fds, n + nf, timeout) < 0 && errno != EINTR)
            break;
        fleet_on_poll(&sv->fleet, fds + n, idx, nf);
        now = session_now_ns();
        /* Clients: backwards, as closing moves the last one into the gap. */
        for (size_t i = sv->n_clients; i-- > 0;) {
            struct client *c = &sv->clients[i];
            short rev = fds[1 + i].revents;
            if ((rev && !client_io(sv, c, rev)) || now >= c->deadline_ns)
                client_close(sv, i);
        }
        if (fds[0].revents & POLLIN)
            serve_accept(sv, now);
    }
}

int serve_run(const struct cli *cli, const struct config *cfg, const struct session_opts *so)
{
    static struct server sv;
    int rc = serve_check_pids(cli);
    if (rc)
        return rc;
    const char *host = cli->serve_host[0] ? cli->serve_host : cfg->serve_address;
    if ((rc = serve_listen(&sv, cli->serve, host, cli->serve_port)))
        return rc;
    struct fleet_opts fo = {
        .so = *so,
        .types = cfg->serve_types,
        .scan_interval_ms = cfg->serve_scan_ms,
        .all = cli->serve_all,
        .log = stderr,
    };
    fo.so.history = 16; /* graphs are Prometheus's job: keep little per target */
    /* Census results matter here, commands do not: no alert lines. */
    fo.so.pause_alert_ms = 0;
    fo.so.growth_alert_mib_per_min = 0;
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (fleet_start(&sv.fleet, &fo) < 0) {
        fprintf(stderr, "pymemtop: cannot start the attach thread\n");
        close(sv.listen_fd);
        return EXIT_INTERNAL;
    }
    for (int i = 0; i < cli->n_serve_pids; i++)
        fleet_add(&sv.fleet, cli->serve_pids[i]);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char shost[NI_MAXHOST] = "?", sport[NI_MAXSERV] = "?";
    if (getsockname(sv.listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, shost, sizeof(shost), sport, sizeof(sport),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    bool v6 = strchr(shost, ':') != NULL;
    fprintf(stderr, "pymemtop: serving http://%s%s%s:%s/metrics for %s\n", v6 ? "[" : "", shost,
            v6 ? "]" : "", sport,
            cli->serve_all ? "every CPython process this user may attach (--all)"
                           : "the PIDs given");
    struct sigaction sa = {.sa_handler = serve_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    serve_loop(&sv, cli);
    close(sv.listen_fd);
    while (sv.n_clients)
        client_close(&sv, sv.n_clients - 1);
    fleet_stop(&sv.fleet); /* detaches: each agent removes its hook and idles */
    fprintf(stderr, "pymemtop: stopped serving\n");
    return EXIT_OK;
}
