/* Allocator numbers in every sample (pymalloc arenas and blocks, glibc malloc)
 * and the optional pass-through hook that counts allocations per domain.
 *
 * Nothing here prints, raises or allocates Python objects. The pymalloc walk
 * and mallinfo2() are timed and budgeted like sys.getallocatedblocks(); their
 * last values are kept in between, stamped with when they were taken. */
#include "agent_alloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agent_state.h"

/* Share of wall time each walking probe may take (as in agent_sample.c). */
#define ALLOC_BUDGET_DIVISOR 1000
/* Installs of the counting hook in one process: a re-install is needed only
 * when something (tracemalloc.stop(), another profiler) put back an allocator
 * it saved before ours and so dropped us from the chain. */
#define HOOK_LAYERS 4
/* Calibration of the hook's own cost: alloc/free pairs per round, rounds. */
#define HOOK_CAL_PAIRS 10000
#define HOOK_CAL_ROUNDS 7
#define HOOK_CAL_FLOOR_PS 500

/* ---- CPython declarations outside the limited API ------------------------
 * Declared by hand because Py_LIMITED_API hides them; all are exported by
 * libpython (or the static executable) unchanged from 3.5 (allocators) and
 * 3.3 (_PyObject_DebugMallocStats) to 3.13. Weak, so a runtime without them
 * leaves the agent loadable and only these numbers unknown. */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} PyMemAllocatorEx;

typedef enum {
    PYMEM_DOMAIN_RAW, /* PyMem_RawMalloc: any thread, no GIL needed */
    PYMEM_DOMAIN_MEM, /* PyMem_Malloc: GIL held */
    PYMEM_DOMAIN_OBJ  /* PyObject_Malloc: GIL held */
} PyMemAllocatorDomain;

extern void PyMem_GetAllocator(PyMemAllocatorDomain domain, PyMemAllocatorEx *allocator)
    __attribute__((weak));
extern void PyMem_SetAllocator(PyMemAllocatorDomain domain, PyMemAllocatorEx *allocator)
    __attribute__((weak));
/* Writes pymalloc's statistics to `out` (only there) after walking every
 * arena. Returns 0 and writes nothing unless the OBJ allocator's top is
 * pymalloc, bare or under the debug hooks: with tracemalloc or our hook on
 * top of it, it declines (see pym_walk). */
extern int _PyObject_DebugMallocStats(FILE *out) __attribute__((weak));

/* glibc 2.33+; resolved at run time so the agent still loads on a libc
 * without it (musl, older glibc) and reports -1. */
struct alloc_mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks,
        keepcost;
};
typedef struct alloc_mallinfo2 (*alloc_mallinfo2_fn)(void);

/* ---- state ---------------------------------------------------------------- */

/* Counters, one cache line per domain so threads allocating in different
 * domains do not bounce one line between cores. */
struct hook_counter {
    _Atomic uint64_t calls;
    _Atomic uint64_t bytes;
} __attribute__((aligned(64)));

static struct hook_counter hook_count[PM_DOMAINS];
/* 0: counting off; L+1: the wrappers of layer L count, every other layer
 * only passes through (so an old layer still in a chain never counts twice). */
static atomic_int hook_active;
/* What each layer forwards to, written once (GIL held) before the layer's
 * wrappers are reachable and never changed again. Other threads may reach a
 * RAW wrapper without any lock; x86-64 keeps our two stores (this, then the
 * allocator table) in order, which is all they need. */
static PyMemAllocatorEx hook_saved[HOOK_LAYERS][PM_DOMAINS];

/* GIL-guarded. */
static int hook_layers;          /* layers installed so far */
static uint64_t hook_call_ps;    /* calibrated cost per allocation, picoseconds */
static int hook_atfork_set;

static struct {
    uint64_t next_ns, time_ns, cost_ns;
    uint64_t rss_at_walk;  /* resident bytes when the last walk ran */
    uint64_t skip_ns;      /* predicted hold of a walk left out; 0 when it ran */
    int64_t arenas, arenas_hw, used, free;
} pym = {.arenas = -1, .arenas_hw = -1, .used = -1, .free = -1};

static struct {
    int resolved;
    alloc_mallinfo2_fn fn;
    uint64_t next_ns, cost_ns;
    int64_t used, free, mmap;
} mal = {.used = -1, .free = -1, .mmap = -1};

/* ---- the pass-through wrappers -------------------------------------------- */

static inline void hook_note(int domain, size_t bytes)
{
    struct hook_counter *c = &hook_count[domain];
    if (domain == PM_DOMAIN_RAW) {
        /* Any thread, no GIL: a real atomic add. */
        atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->bytes, bytes, memory_order_relaxed);
    } else {
        /* MEM and OBJ run under the GIL, which already serialises them: a
         * relaxed load and store (plain moves, no locked instruction). Two
         * interpreters with their own GIL (3.12+) may lose a count, never
         * corrupt anything. */
        atomic_store_explicit(&c->calls,
                              atomic_load_explicit(&c->calls, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        atomic_store_explicit(&c->bytes,
                              atomic_load_explicit(&c->bytes, memory_order_relaxed) + bytes,
                              memory_order_relaxed);
    }
}

/* One set of four wrappers per (layer, domain): the wrapper knows both
 * statically, so the installed ctx can stay the one of the allocator we wrap.
 * That matters for RAW, which other threads read without any lock while
 * PyMem_SetAllocator copies the struct: a torn read then mixes our functions
 * with the old ones, both of which end in the same allocator with the same
 * ctx. */
#define HOOK_WRAPPERS(L, D)                                                                    \
    static void *hook_malloc_##L##_##D(void *ctx, size_t n)                                    \
    {                                                                                          \
        (void)ctx;                                                                             \
        if (atomic_load_explicit(&hook_active, memory_order_relaxed) == (L) + 1)               \
            hook_note(D, n);                                                                   \
        return hook_saved[L][D].malloc(hook_saved[L][D].ctx, n);                               \
    }                                                                                          \
    static void *hook_calloc_##L##_##D(void *ctx, size_t nelem, size_t elsize)                 \
    {                                                                                          \
        (void)ctx;                                                                             \
        if (atomic_load_explicit(&hook_active, memory_order_relaxed) == (L) + 1) {             \
            size_t n;                                                                          \
            hook_note(D, __builtin_mul_overflow(nelem, elsize, &n) ? 0 : n); /* fails */        \
        }                                                                                      \
        return hook_saved[L][D].calloc(hook_saved[L][D].ctx, nelem, elsize);                   \
    }                                                                                          \
    static void *hook_realloc_##L##_##D(void *ctx, void *p, size_t n)                          \
    {                                                                                          \
        (void)ctx;                                                                             \
        if (atomic_load_explicit(&hook_active, memory_order_relaxed) == (L) + 1)               \
            hook_note(D, n);                                                                   \
        return hook_saved[L][D].realloc(hook_saved[L][D].ctx, p, n);                           \
    }                                                                                          \
    static void hook_free_##L##_##D(void *ctx, void *p)                                        \
    {                                                                                          \
        (void)ctx;                                                                             \
        hook_saved[L][D].free(hook_saved[L][D].ctx, p);                                        \
    }

#define HOOK_LAYER(L) HOOK_WRAPPERS(L, 0) HOOK_WRAPPERS(L, 1) HOOK_WRAPPERS(L, 2)
HOOK_LAYER(0)
HOOK_LAYER(1)
HOOK_LAYER(2)
HOOK_LAYER(3)

#define HOOK_FNS(L, D)                                                                         \
    {NULL, hook_malloc_##L##_##D, hook_calloc_##L##_##D, hook_realloc_##L##_##D,               \
     hook_free_##L##_##D}
#define HOOK_FNS_LAYER(L) {HOOK_FNS(L, 0), HOOK_FNS(L, 1), HOOK_FNS(L, 2)}
static const PyMemAllocatorEx hook_fns[HOOK_LAYERS][PM_DOMAINS] = {
    HOOK_FNS_LAYER(0), HOOK_FNS_LAYER(1), HOOK_FNS_LAYER(2), HOOK_FNS_LAYER(3)};

/* ---- the hook ------------------------------------------------------------- */

static int hook_available(void)
{
    return PyMem_GetAllocator && PyMem_SetAllocator;
}

/* A forked child has no agent to report to: stop paying for the counts. */
static void hook_after_fork_child(void)
{
    atomic_store_explicit(&hook_active, 0, memory_order_relaxed);
}

/* Is the counting layer reached by an allocation in every domain right now?
 * Asks the allocator chain itself (one tiny block per domain, through its
 * top), so it also sees us when tracemalloc wraps us, and sees us gone when
 * someone restored an allocator saved before ours. Needs counting on; the
 * probe's own call is taken back off the counters. GIL held. */
static int hook_in_chain(void)
{
    int active = atomic_load_explicit(&hook_active, memory_order_relaxed);
    if (!active)
        return 0;
    int all = 1;
    for (int d = 0; d < PM_DOMAINS; d++) {
        /* Through the domain's top, exactly as PyMem_RawMalloc() & co. do
         * (PyMem_RawMalloc is not in the 3.8 limited API). */
        PyMemAllocatorEx top;
        PyMem_GetAllocator((PyMemAllocatorDomain)d, &top);
        uint64_t before = atomic_load_explicit(&hook_count[d].calls, memory_order_relaxed);
        void *p = top.malloc(top.ctx, 1);
        uint64_t after = atomic_load_explicit(&hook_count[d].calls, memory_order_relaxed);
        top.free(top.ctx, p);
        if (after == before) {
            all = 0;
            continue;
        }
        atomic_fetch_sub_explicit(&hook_count[d].calls, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&hook_count[d].bytes, 1, memory_order_relaxed);
    }
    return all;
}

/* Puts layer L on top of whatever each domain has now. GIL held. */
static void hook_install_layer(int L)
{
    for (int d = 0; d < PM_DOMAINS; d++)
        PyMem_GetAllocator((PyMemAllocatorDomain)d, &hook_saved[L][d]);
    for (int d = 0; d < PM_DOMAINS; d++) {
        PyMemAllocatorEx a = hook_fns[L][d];
        a.ctx = hook_saved[L][d].ctx;
        PyMem_SetAllocator((PyMemAllocatorDomain)d, &a);
    }
}

static uint64_t hook_cal_loop(const PyMemAllocatorEx *a)
{
    uint64_t t0 = agent_now_ns();
    for (int i = 0; i < HOOK_CAL_PAIRS; i++) {
        void *p = a->malloc(a->ctx, 64);
        a->free(a->ctx, p);
    }
    return agent_now_ns() - t0;
}

/* The wrapper's own cost per allocation (with its free), counting on: the
 * OBJ wrapper of layer L against the allocator it forwards to, the median of
 * paired rounds (a difference of ~1 ns in ~25 is easily lost in one round's
 * noise). A hot-cache figure: contended RAW counters cost more. Never below
 * HOOK_CAL_FLOOR_PS: an extra indirect call and a branch are not free. */
static uint64_t hook_calibrate_ps(int L)
{
    PyMemAllocatorEx wrapped = hook_fns[L][PM_DOMAIN_OBJ];
    wrapped.ctx = hook_saved[L][PM_DOMAIN_OBJ].ctx;
    int64_t diff[HOOK_CAL_ROUNDS];
    hook_cal_loop(&wrapped); /* warm up both paths and the pools */
    for (int r = 0; r < HOOK_CAL_ROUNDS; r++) {
        uint64_t d = hook_cal_loop(&hook_saved[L][PM_DOMAIN_OBJ]);
        uint64_t h = hook_cal_loop(&wrapped);
        diff[r] = (int64_t)h - (int64_t)d;
    }
    for (int i = 1; i < HOOK_CAL_ROUNDS; i++) /* insertion sort: 7 values */
        for (int j = i; j > 0 && diff[j - 1] > diff[j]; j--) {
            int64_t x = diff[j];
            diff[j] = diff[j - 1];
            diff[j - 1] = x;
        }
    int64_t med = diff[HOOK_CAL_ROUNDS / 2];
    uint64_t ps = med > 0 ? (uint64_t)med * 1000 / HOOK_CAL_PAIRS : 0;
    return ps < HOOK_CAL_FLOOR_PS ? HOOK_CAL_FLOOR_PS : ps;
}

static void hook_reset_counts(void)
{
    for (int d = 0; d < PM_DOMAINS; d++) {
        atomic_store_explicit(&hook_count[d].calls, 0, memory_order_relaxed);
        atomic_store_explicit(&hook_count[d].bytes, 0, memory_order_relaxed);
    }
}

static void hook_msg_on(char *msg, size_t msg_len)
{
    snprintf(msg, msg_len, "allocation counters on (about %llu.%llu ns per allocation)",
             (unsigned long long)(hook_call_ps / 1000),
             (unsigned long long)(hook_call_ps % 1000 / 100));
}

static int hook_on(char *msg, size_t msg_len)
{
    if (!hook_available()) {
        snprintf(msg, msg_len, "allocation counters unavailable: PyMem_SetAllocator not found");
        return -ENOSYS;
    }
    int active = atomic_load_explicit(&hook_active, memory_order_relaxed);
    if (active && hook_in_chain()) {
        hook_msg_on(msg, msg_len); /* already counting */
        return 0;
    }
    /* Is the newest layer still reached everywhere? Then only switch it on. */
    if (hook_layers > 0) {
        atomic_store_explicit(&hook_active, hook_layers, memory_order_relaxed);
        if (hook_in_chain()) {
            hook_reset_counts();
            hook_msg_on(msg, msg_len);
            return 0;
        }
        atomic_store_explicit(&hook_active, 0, memory_order_relaxed);
    }
    if (hook_layers == HOOK_LAYERS) {
        snprintf(msg, msg_len,
                 "allocation counters off: another allocator hook removed ours %d times "
                 "(tracemalloc.stop()?); not installing again",
                 HOOK_LAYERS);
        return -EBUSY;
    }
    if (!hook_atfork_set) {
        pthread_atfork(NULL, NULL, hook_after_fork_child);
        hook_atfork_set = 1;
    }
    int L = hook_layers++;
    hook_install_layer(L);
    atomic_store_explicit(&hook_active, L + 1, memory_order_relaxed);
    if (!hook_call_ps)
        hook_call_ps = hook_calibrate_ps(L);
    hook_reset_counts();
    if (!hook_in_chain()) { /* cannot happen: we were just put on top */
        atomic_store_explicit(&hook_active, 0, memory_order_relaxed);
        snprintf(msg, msg_len, "allocation counters off: the hook is not reached");
        return -EIO;
    }
    hook_msg_on(msg, msg_len);
    return 0;
}

int agent_alloc_hook(int on, char *msg, size_t msg_len)
{
    if (on)
        return hook_on(msg, msg_len);
    /* The wrappers stay installed: something may have wrapped them since, or
     * be running in them on another thread. Off only stops the counting. */
    atomic_store_explicit(&hook_active, 0, memory_order_relaxed);
    snprintf(msg, msg_len, "allocation counters off");
    return 0;
}

void agent_alloc_detach(void)
{
    atomic_store_explicit(&hook_active, 0, memory_order_relaxed);
}

/* ---- pymalloc ----------------------------------------------------------- */

/* "1,371,536" -> 1371536; -1 when there is no number. */
static int64_t pym_number(const char *s)
{
    int64_t v = 0;
    int digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s - '0');
            digits++;
        } else if (*s == ',' || *s == ' ') {
            if (digits && *s == ' ')
                break;
        } else {
            break;
        }
    }
    return digits ? v : -1;
}

/* Parses the lines of _PyObject_DebugMallocStats() that are the same from
 * 3.8 to 3.13 ("<label>  = <number with commas>"):
 *   # arenas highwater mark / # arenas allocated current
 *   # bytes in allocated blocks / # bytes in available blocks
 *   <n> unused pools * <pool size> bytes
 * and ignores the rest (size-class table, 3.10+ arena map section). Free =
 * free blocks in used pools + empty pools in the arenas. 0, or -1 when a
 * line is missing (a format we do not know). */
static int pym_parse(char *text, int64_t out[4])
{
    int64_t avail = -1, unused = -1;
    out[0] = out[1] = out[2] = -1;
    /* Split by hand: strtok() would share its static state with the target. */
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        char *end = eq;
        while (end > line && end[-1] == ' ')
            end--;
        size_t klen = (size_t)(end - line);
        int64_t v = pym_number(eq + 1);
        unsigned long n, sz;
        int pos = -1;
#define PYM_KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
        if (PYM_KEY("# arenas allocated current"))
            out[0] = v;
        else if (PYM_KEY("# arenas highwater mark"))
            out[1] = v;
        else if (PYM_KEY("# bytes in allocated blocks"))
            out[2] = v;
        else if (PYM_KEY("# bytes in available blocks"))
            avail = v;
        else if (sscanf(line, "%lu unused pools * %lu bytes%n", &n, &sz, &pos) == 2 &&
                 line + pos == end)
            unused = v;
#undef PYM_KEY
    }
    out[3] = avail >= 0 && unused >= 0 ? avail + unused : -1;
    return out[0] >= 0 && out[1] >= 0 && out[2] >= 0 && out[3] >= 0 ? 0 : -1;
}

/* The OBJ allocator's top, if it is one of our layers. */
static int hook_top_layer(const PyMemAllocatorEx *cur)
{
    for (int L = 0; L < hook_layers; L++)
        if (cur->malloc == hook_fns[L][PM_DOMAIN_OBJ].malloc)
            return L;
    return -1;
}

/* Runs the walk into a memory stream. pymalloc only reports itself when it is
 * the OBJ allocator's top (bare or under the debug hooks); when our own layer
 * sits on top, it is set aside for the call: the OBJ domain is only used with
 * the GIL held, which we hold, the walk allocates nothing from it, and our
 * layer shares its ctx with the allocator below, so nothing can observe the
 * swap. Something else on top (tracemalloc) is left alone: no numbers then. */
static int pym_walk(int64_t out[4])
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    PyMemAllocatorEx cur;
    int swapped = 0;
    if (hook_layers && hook_available()) {
        PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &cur);
        int L = hook_top_layer(&cur);
        if (L >= 0) {
            PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &hook_saved[L][PM_DOMAIN_OBJ]);
            swapped = 1;
        }
    }
    int wrote = _PyObject_DebugMallocStats(f);
    if (swapped)
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &cur);
    int rc = fclose(f) == 0 && wrote && buf ? pym_parse(buf, out) : -1;
    free(buf);
    return rc;
}

/* Peak resident bytes (getrusage: no /proc needed, which a container's
 * root may lack); an upper bound of what pymalloc's pools can cover now. */
static uint64_t pym_rss_bytes(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0 ? (uint64_t)ru.ru_maxrss * 1024u : 0;
}

/* The walk visits every pool of every arena: its cost follows the heap's
 * resident size, not the number of live blocks. Before the first walk it is
 * predicted from peak RSS (an upper bound of pymalloc's pools) at
 * PYM_NS_PER_POOL (a cache miss per pool header: 20-110 ns measured on
 * 1.5 GB heaps, 3.8 to 3.15); after, from the last walk scaled by growth. */
#define PYM_NS_PER_POOL 60u
static uint64_t pools_predict_ns(uint64_t last_cost_ns, uint64_t rss_at_last, uint64_t *rss_now)
{
    uint64_t rss = pym_rss_bytes();
    *rss_now = rss;
    if (rss_at_last) {
        if (rss > rss_at_last)
            return last_cost_ns * rss / rss_at_last;
        return last_cost_ns;
    }
    /* 4 KiB pools before 3.10, 16 KiB from 3.10 on (64-bit builds). */
    uint64_t pool = agent.hexversion >= 0x030a0000 ? 16384u : 4096u;
    return rss / pool * PYM_NS_PER_POOL;
}

int agent_alloc_pools_walk_fits(uint64_t last_cost_ns, uint64_t rss_at_last, uint64_t *rss_now,
                                uint64_t *predict_ns)
{
    *predict_ns = pools_predict_ns(last_cost_ns, rss_at_last, rss_now);
    uint64_t max_ns = (uint64_t)atomic_load(&agent.max_pause_us) * 1000u;
    return !max_ns || *predict_ns <= max_ns / 4u * 3u;
}

static void pym_read(uint64_t now)
{
    if (!_PyObject_DebugMallocStats || now < pym.next_ns)
        return;
    /* [agent] max_pause_ms bounds every hold: a walk that would take longer
     * is left out (its numbers keep their age) and the prediction is sent,
     * so the monitor can say why pymalloc's figures are stale. */
    uint64_t rss, predict;
    if (!agent_alloc_pools_walk_fits(pym.cost_ns, pym.rss_at_walk, &rss, &predict)) {
        pym.skip_ns = predict; /* asked again next sample: a prediction costs ~1 us */
        return;
    }
    int64_t v[4];
    uint64_t t0 = agent_now_ns();
    int rc = pym_walk(v);
    uint64_t cost = agent_now_ns() - t0;
    pym.next_ns = now + cost * ALLOC_BUDGET_DIVISOR;
    pym.skip_ns = 0;
    if (rc < 0)
        return; /* keep the last numbers; their time says how old they are */
    pym.rss_at_walk = rss;
    pym.arenas = v[0];
    pym.arenas_hw = v[1];
    pym.used = v[2];
    pym.free = v[3];
    pym.time_ns = now; /* the sample's time: its age is 0 in this sample */
    pym.cost_ns = cost;
}

/* ---- glibc malloc --------------------------------------------------------- */

/* mallinfo2() takes every malloc arena's lock and walks its bins: cheap on
 * most heaps, but not bounded, so it is budgeted too, and made without the
 * GIL (it needs none): a long walk stalls only threads that malloc meanwhile,
 * not every thread that runs Python. */
void agent_alloc_read_malloc(uint64_t now)
{
    if (!mal.resolved) {
        mal.fn = (alloc_mallinfo2_fn)dlsym(RTLD_DEFAULT, "mallinfo2");
        mal.resolved = 1;
    }
    if (!mal.fn || now < mal.next_ns)
        return;
    uint64_t t0 = agent_now_ns();
    struct alloc_mallinfo2 mi = mal.fn();
    mal.cost_ns = agent_now_ns() - t0;
    mal.next_ns = now + mal.cost_ns * ALLOC_BUDGET_DIVISOR;
    mal.used = (int64_t)(mi.uordblks + mi.hblkhd);
    mal.free = (int64_t)mi.fordblks;
    mal.mmap = (int64_t)mi.hblkhd;
}

/* ---- the sample ----------------------------------------------------------- */

void agent_alloc_read(struct pm_alloc *a, uint64_t now_ns)
{
    pym_read(now_ns);
    a->arenas = pym.arenas;
    a->arenas_highwater = pym.arenas_hw;
    a->pymalloc_used_bytes = pym.used;
    a->pymalloc_free_bytes = pym.free;
    a->pymalloc_time_ns = pym.time_ns;
    a->pymalloc_cost_ns = pym.cost_ns;
    a->pymalloc_skip_ns = pym.skip_ns;

    a->malloc_used_bytes = mal.used; /* agent_alloc_read_malloc, before the GIL */
    a->malloc_free_bytes = mal.free;
    a->mmap_bytes = mal.mmap;

    /* On only while counting and reached in every domain: after
     * tracemalloc.stop() restored an allocator saved before ours, say so. */
    a->hook_on = hook_in_chain();
    uint64_t calls = 0;
    for (int d = 0; d < PM_DOMAINS; d++) {
        a->hook_calls[d] = atomic_load_explicit(&hook_count[d].calls, memory_order_relaxed);
        a->hook_bytes[d] = atomic_load_explicit(&hook_count[d].bytes, memory_order_relaxed);
        calls += a->hook_calls[d];
    }
    a->hook_cost_ns = calls * hook_call_ps / 1000;
}
