/* --serve's targets: attach in a worker thread, sample in the caller's poll
 * loop, expose from the latest samples. Only the worker calls session_open
 * (all of an attach, ptrace included, happens in that one thread); only the
 * loop's thread touches a session once it is adopted. */
#include "fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "diagnose.h"
#include "target.h"
#include "typetable.h"

#define FLEET_SCAN_MAX 4096 /* PIDs looked at per --all scan */

struct fleet_result {
    int pid;
    enum target_status st;
    struct session *s; /* TARGET_OK only */
    char msg[512];
};

/* The worker never returns: libproc2 keeps per-thread buffers (TLS) that it
 * never frees, so a thread that ends leaks them; once stopped, it parks. */
static void *fleet_worker(void *arg)
{
    struct fleet *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        if (f->stop || !f->queue_len) {
            pthread_cond_wait(&f->cv, &f->mu);
            continue;
        }
        int pid = f->queue[0];
        memmove(f->queue, f->queue + 1, --f->queue_len * sizeof(*f->queue));
        f->busy = true;
        pthread_mutex_unlock(&f->mu);

        struct fleet_result r = {.pid = pid};
        r.s = calloc(1, sizeof(*r.s));
        if (!r.s) {
            r.st = TARGET_AGENT_ERROR;
            snprintf(r.msg, sizeof(r.msg), "out of memory");
        } else {
            r.st = session_open(r.s, pid, &f->o.so, r.msg, sizeof(r.msg));
            if (r.st != TARGET_OK) {
                session_close(r.s);
                free(r.s);
                r.s = NULL;
            }
        }

        pthread_mutex_lock(&f->mu);
        f->busy = false;
        pthread_cond_broadcast(&f->idle);
        if (f->done_len == f->done_cap) {
            size_t cap = f->done_cap ? f->done_cap * 2 : 16;
            struct fleet_result *d = realloc(f->done, cap * sizeof(*d));
            if (!d) { /* dropped: the target stays pending until the next retry */
                if (r.s) {
                    session_close(r.s);
                    free(r.s);
                }
                continue;
            }
            f->done = d;
            f->done_cap = cap;
        }
        f->done[f->done_len++] = r;
        ssize_t w = write(f->wake[1], "x", 1);
        (void)w; /* a full pipe already wakes the loop */
    }
    return NULL;
}

int fleet_start(struct fleet *f, const struct fleet_opts *o)
{
    memset(f, 0, sizeof(*f));
    f->o = *o;
    if (pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    pthread_cond_init(&f->idle, NULL);
    /* The worker must not take the loop's signals (SIGINT/SIGTERM end it). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&f->worker, NULL, fleet_worker, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r)
        return -r;
    return 0;
}

static struct fleet_target *fleet_find(struct fleet *f, int pid, size_t *at)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->t[i]->pid == pid) {
            if (at)
                *at = i;
            return f->t[i];
        }
    return NULL;
}

static void fleet_queue(struct fleet *f, struct fleet_target *t)
{
    t->state = FLEET_PENDING;
    pthread_mutex_lock(&f->mu);
    if (f->queue_len == f->queue_cap) {
        size_t cap = f->queue_cap ? f->queue_cap * 2 : 16;
        int *q = realloc(f->queue, cap * sizeof(*q));
        if (!q) {
            pthread_mutex_unlock(&f->mu);
            t->state = FLEET_DOWN; /* tried again at the next scan */
            t->retry = true;
            snprintf(t->reason, sizeof(t->reason), "out_of_memory");
            return;
        }
        f->queue = q;
        f->queue_cap = cap;
    }
    f->queue[f->queue_len++] = t->pid;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static struct fleet_target *fleet_new_target(struct fleet *f, int pid, bool given)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct fleet_target **t = realloc(f->t, cap * sizeof(*t));
        if (!t)
            return NULL;
        f->t = t;
        f->cap = cap;
    }
    struct fleet_target *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->pid = pid;
    t->given = given;
    f->t[f->n++] = t;
    fleet_queue(f, t);
    return t;
}

void fleet_add(struct fleet *f, int pid)
{
    if (!fleet_find(f, pid, NULL))
        fleet_new_target(f, pid, true);
}

static void fleet_remove(struct fleet *f, size_t i)
{
    struct fleet_target *t = f->t[i];
    if (t->s) {
        session_close(t->s);
        free(t->s);
    }
    free(t);
    f->t[i] = f->t[--f->n];
}

/* Statuses that can change by themselves: another monitor leaves, the
 * target reaches a safe point, finishes starting. The rest (not CPython,
 * other user, permissions) stay until the process is gone. */
static bool fleet_transient(enum target_status st)
{
    return st == TARGET_BUSY || st == TARGET_NO_SAFE_POINT || st == TARGET_TIMEOUT ||
           st == TARGET_STARTING || st == TARGET_AGENT_ERROR || st == TARGET_INJECT_FAILED;
}

static void fleet_down(struct fleet *f, struct fleet_target *t, const char *reason, bool retry)
{
    if (t->s) {
        session_close(t->s);
        free(t->s);
        t->s = NULL;
    }
    t->state = FLEET_DOWN;
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
    t->retry = retry;
    t->retry_ns = session_now_ns() + (uint64_t)f->o.scan_interval_ms * 1000000u;
}

static void fleet_adopt(struct fleet *f, struct fleet_result *r)
{
    size_t at;
    struct fleet_target *t = fleet_find(f, r->pid, &at);
    if (!t || t->state != FLEET_PENDING) { /* dropped meanwhile */
        if (r->s) {
            session_close(r->s);
            free(r->s);
        }
        return;
    }
    if (r->st == TARGET_OK) {
        t->state = FLEET_LIVE;
        t->s = r->s;
        t->announced = false;
        memset(t->pauses, 0, sizeof(t->pauses));
        t->last_pause_end_ns = 0;
        t->samples_seen = 0;
        fprintf(f->o.log, "pymemtop: PID %d: serving (Python %s, agent %s)\n", t->pid,
                t->s->hello.python, t->s->injected ? "loaded" : "reused");
        return;
    }
    f->attach_failures++;
    bool gone = r->st == TARGET_NO_PROCESS || r->st == TARGET_GONE;
    if (gone && !t->given) {
        fleet_remove(f, at); /* --all: it is simply not there any more */
        return;
    }
    fleet_down(f, t, gone ? "exited" : target_status_name(r->st), fleet_transient(r->st));
    if (!t->announced) {
        /* The first line of the message: the log stays one line per event. */
        fprintf(f->o.log, "pymemtop: PID %d: not served: %.*s\n", t->pid,
                (int)strcspn(r->msg, "\n"), r->msg);
        t->announced = true;
    }
}

size_t fleet_pollfds(struct fleet *f, struct pollfd *fds, int *idx, size_t cap)
{
    size_t n = 0;
    if (cap) {
        fds[n] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
        idx[n++] = -1;
    }
    for (size_t i = 0; i < f->n && n < cap; i++) {
        struct fleet_target *t = f->t[i];
        if (t->state == FLEET_LIVE && session_fd(t->s) >= 0) {
            fds[n] = (struct pollfd){.fd = session_fd(t->s), .events = POLLIN};
            idx[n++] = (int)i;
        }
    }
    return n;
}

/* New pauses since the last look go into the per-generation histogram once:
 * the session's ring holds them in order of end time. */
static void fleet_fold_pauses(struct fleet_target *t)
{
    struct session *s = t->s;
    if (s->agent_samples == t->samples_seen)
        return;
    t->samples_seen = s->agent_samples;
    size_t first = s->pause_len;
    while (first > 0 && session_pause_at(s, first - 1)->end_ns > t->last_pause_end_ns)
        first--;
    for (size_t i = first; i < s->pause_len; i++) {
        const struct pm_gc_pause *p = session_pause_at(s, i);
        if (p->generation < PM_GENERATIONS)
            metrics_pauses_add(&t->pauses[p->generation], p->pause_ns);
    }
    if (s->pause_len)
        t->last_pause_end_ns = session_pause_at(s, s->pause_len - 1)->end_ns;
}

void fleet_on_poll(struct fleet *f, const struct pollfd *fds, const int *idx, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (!fds[k].revents)
            continue;
        if (idx[k] < 0) {
            char buf[64];
            while (read(f->wake[0], buf, sizeof(buf)) > 0) {
            }
            continue;
        }
        struct fleet_target *t = f->t[idx[k]];
        if (t->state == FLEET_LIVE) {
            session_on_readable(t->s);
            fleet_fold_pauses(t);
        }
    }
    /* Finished attaches: take them all under the lock, adopt outside it. */
    pthread_mutex_lock(&f->mu);
    size_t nd = f->done_len;
    struct fleet_result *done = nd ? malloc(nd * sizeof(*done)) : NULL;
    if (done) {
        memcpy(done, f->done, nd * sizeof(*done));
        f->done_len = 0;
    }
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; done && i < nd; i++)
        fleet_adopt(f, &done[i]);
    free(done);
}

static bool fleet_pid_exists(int pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* --all: attach to CPython processes not followed yet. */
static void fleet_scan(struct fleet *f)
{
    static pid_t pids[FLEET_SCAN_MAX];
    size_t n = diagnose_python_pids(pids, FLEET_SCAN_MAX);
    for (size_t i = 0; i < n; i++)
        if (!fleet_find(f, pids[i], NULL))
            fleet_new_target(f, pids[i], false);
}

int fleet_tick(struct fleet *f, uint64_t now_ns)
{
    int wait_ms = 1000;
    bool scan = now_ns >= f->next_scan_ns;
    for (size_t i = 0; i < f->n;) {
        struct fleet_target *t = f->t[i];
        if (t->state == FLEET_LIVE) {
            int ms = session_tick(t->s, now_ns);
            if (ms < wait_ms)
                wait_ms = ms;
            fleet_fold_pauses(t);
            if (t->s->state == SESSION_TARGET_EXITED) {
                fprintf(f->o.log, "pymemtop: PID %d exited%s\n", t->pid,
                        t->given ? "; its series stay as pymemtop_target_up 0" : "");
                if (!t->given) {
                    fleet_remove(f, i);
                    continue;
                }
                fleet_down(f, t, "exited", false);
            } else if (t->s->state != SESSION_LIVE) {
                fprintf(f->o.log, "pymemtop: PID %d: %s; trying again in %u s\n", t->pid,
                        t->s->status, f->o.scan_interval_ms / 1000);
                fleet_down(f, t, "agent_lost", true);
                t->announced = true;
            }
        } else if (t->state == FLEET_DOWN && scan) {
            if (!fleet_pid_exists(t->pid) && strcmp(t->reason, "exited")) {
                if (!t->given) {
                    fleet_remove(f, i);
                    continue;
                }
                fleet_down(f, t, "exited", false);
            } else if (t->retry && now_ns >= t->retry_ns) {
                fleet_queue(f, t);
            }
        }
        i++;
    }
    if (scan) {
        if (f->o.all)
            fleet_scan(f);
        f->next_scan_ns = now_ns + (uint64_t)f->o.scan_interval_ms * 1000000u;
    }
    uint64_t to_scan = (f->next_scan_ns - now_ns) / 1000000u + 1;
    return (uint64_t)wait_ms < to_scan ? wait_ms : (int)to_scan;
}

size_t fleet_live(const struct fleet *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->t[i]->state == FLEET_LIVE;
    return n;
}

static int by_pid(const void *a, const void *b)
{
    const struct metrics_target *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* One target's metrics_target; its type rows go to rows[0..types). */
static void fleet_target_metrics(const struct fleet *f, const struct fleet_target *t,
                                 struct metrics_target *m, struct typetable_row *rows,
                                 struct metrics_type *types, const char **suspects,
                                 uint64_t mono_ns, double real_s, long hz)
{
    memset(m, 0, sizeof(*m));
    m->pid = t->pid;
    m->up = t->state == FLEET_LIVE;
    m->reason = t->state == FLEET_PENDING ? "attaching" : t->state == FLEET_DOWN ? t->reason : "";
    if (!m->up)
        return;
    const struct session *s = t->s;
    if (s->proc.valid) {
        m->have_proc = true;
        m->rss_bytes = s->proc.rss_kib * 1024;
        m->vsz_bytes = s->proc.vsz_kib * 1024;
        m->swap_bytes = s->proc.swap_kib * 1024;
        m->cpu_seconds = (double)s->proc.cpu_ticks / (double)hz;
        m->start_time_s = real_s - (double)(mono_ns - s->proc.start_time_ns) / 1e9;
    }
    m->python = s->hello.python;
    if (s->agent_samples) {
        m->have_agent = true;
        m->agent = &s->agent;
        m->pauses = t->pauses;
        m->sample_age_s = mono_ns > s->agent.time_ns ? (double)(mono_ns - s->agent.time_ns) / 1e9 : 0;
    }
    if (s->censuses) {
        m->have_census = true;
        m->census_cost_ns = s->census.cost_ns;
        m->census_objects = s->census.objects;
        m->census_types = s->census.types_total;
        size_t n = typetable_rows(s->types, TYPETABLE_BY_COUNT, NULL, rows, f->o.types);
        for (size_t i = 0; i < n; i++)
            types[i] = (struct metrics_type){rows[i].name, rows[i].count, rows[i].bytes_known,
                                             rows[i].bytes};
        m->types = types;
        m->n_types = n;
        /* Suspects grow: the fastest growing rows hold them. */
        struct typetable_row *by_rate = rows + f->o.types;
        n = typetable_rows(s->types, TYPETABLE_BY_RATE, NULL, by_rate, f->o.types);
        for (size_t i = 0; i < n; i++)
            if (by_rate[i].suspect)
                suspects[m->n_suspects++] = by_rate[i].name;
        m->suspects = suspects;
    }
}

/* The exporter's own RSS and CPU (both threads). */
static void fleet_self_usage(struct metrics_self *self)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        self->cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    FILE *sm = fopen("/proc/self/statm", "re");
    unsigned long size, resident;
    if (sm && fscanf(sm, "%lu %lu", &size, &resident) == 2)
        self->rss_bytes = (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
    if (sm)
        fclose(sm);
}

int fleet_metrics(struct fleet *f, struct metrics_buf *b, struct metrics_self *self,
                  enum metrics_format fmt)
{
    size_t n = f->n, k = f->o.types;
    struct metrics_target *m = calloc(n ? n : 1, sizeof(*m));
    struct typetable_row *rows = calloc(n ? n * 2 * k : 1, sizeof(*rows));
    struct metrics_type *types = calloc(n ? n * k : 1, sizeof(*types));
    const char **suspects = calloc(n ? n * k : 1, sizeof(*suspects));
    int r = -1;
    if (m && rows && types && suspects) {
        struct timespec real;
        clock_gettime(CLOCK_REALTIME, &real);
        double real_s = (double)real.tv_sec + real.tv_nsec / 1e9;
        uint64_t mono = session_now_ns();
        long hz = sysconf(_SC_CLK_TCK);
        self->targets_up = self->targets_down = 0;
        for (size_t i = 0; i < n; i++) {
            fleet_target_metrics(f, f->t[i], &m[i], rows + i * 2 * k, types + i * k,
                                 suspects + i * k, mono, real_s, hz > 0 ? hz : 100);
            if (m[i].up)
                self->targets_up++;
            else
                self->targets_down++;
        }
        qsort(m, n, sizeof(*m), by_pid);
        self->attach_failures = f->attach_failures;
        fleet_self_usage(self);
        r = metrics_write(b, m, n, self, fmt);
    }
    free(m);
    free(rows);
    free(types);
    free(suspects);
    return r;
}

void fleet_stop(struct fleet *f)
{
    /* An attach under way is let finish (a target is never left mid-way),
     * then the worker parks for good (see fleet_worker). */
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    while (f->busy)
        pthread_cond_wait(&f->idle, &f->mu);
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < f->done_len; i++)
        if (f->done[i].s) {
            session_close(f->done[i].s);
            free(f->done[i].s);
        }
    while (f->n)
        fleet_remove(f, f->n - 1);
    free(f->t);
    f->t = NULL;
    f->done_len = f->queue_len = 0;
    /* The pipe, lock and queues stay: the parked worker still owns them. */
}
