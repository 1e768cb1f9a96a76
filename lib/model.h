/* Plain data that crosses layers: what one sample of a target holds. */
#ifndef PYMEMTOP_LIB_MODEL_H
#define PYMEMTOP_LIB_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define PM_GENERATIONS 3
/* Pause events carried in one agent sample; more are counted as dropped
 * (the agent's totals stay exact). */
#define PM_MAX_PAUSES_PER_SAMPLE 512

/* From /proc (libproc2), read by the monitor itself. */
struct pm_proc_sample {
    uint64_t time_ns; /* CLOCK_MONOTONIC */
    bool valid;       /* false: the process was gone */
    uint64_t rss_kib, anon_kib, file_kib, swap_kib, vsz_kib;
    uint64_t minflt, majflt;
    uint64_t cpu_ticks;      /* utime + stime, clock ticks */
    double cpu_pct;          /* of one core, since the previous sample; <0 unknown */
    uint64_t start_time_ns;  /* process start, CLOCK_MONOTONIC-comparable (boot time based) */
    uint32_t threads;
};

/* One garbage collection, timed by the agent's gc.callbacks entry. */
struct pm_gc_pause {
    uint64_t end_ns;   /* CLOCK_MONOTONIC in the target (same clock as ours) */
    uint64_t pause_ns;
    int64_t collected;
    int64_t uncollectable;
    uint8_t generation;
};

/* Allocator numbers, from the agent. -1 = unknown. The pymalloc walk and
 * sys.getallocatedblocks() cost milliseconds on big heaps, so they are
 * refreshed on a budget; *_time_ns says when. */
enum { PM_DOMAIN_RAW, PM_DOMAIN_MEM, PM_DOMAIN_OBJ, PM_DOMAINS };
struct pm_alloc {
    int64_t arenas;              /* pymalloc arenas allocated now */
    int64_t arenas_highwater;
    int64_t pymalloc_used_bytes; /* bytes in allocated blocks */
    int64_t pymalloc_free_bytes; /* bytes free in pools and arenas */
    uint64_t pymalloc_time_ns, pymalloc_cost_ns;
    /* Predicted hold of a pymalloc walk the agent left out because it would
     * exceed [agent] max_pause_ms (the numbers above are then stale); 0 when
     * the last due walk ran. */
    uint64_t pymalloc_skip_ns;
    /* The same for sys.getallocatedblocks(), which walks every pool from 3.9
     * on: alloc_blocks is then the last read's. */
    uint64_t blocks_skip_ns;
    int64_t malloc_used_bytes;   /* glibc mallinfo2: uordblks + hblkhd */
    int64_t malloc_free_bytes;   /* fordblks */
    int64_t mmap_bytes;          /* hblkhd */
    uint64_t blocks_cost_ns;     /* last sys.getallocatedblocks() */
    bool hook_on;                /* pass-through counting allocator enabled */
    uint64_t hook_calls[PM_DOMAINS]; /* cumulative since the hook was enabled */
    uint64_t hook_bytes[PM_DOMAINS];
    uint64_t hook_cost_ns;       /* estimated time the hook itself added */
};

/* One GIL hold by the agent thread, which the target's threads waited out:
 * how long; what the agent was doing for most of it (its longest phase, e.g.
 * "census", "pymalloc walk"); how much of it the agent's thread was on a CPU
 * (the rest it was preempted while holding the GIL); and how much of it was
 * collections that ran inside it (started by the agent's own allocations,
 * which the program's next allocation would have started instead). */
#define PM_HOLD_WHAT_LEN 24
struct pm_hold {
    uint64_t ns, cpu_ns, gc_ns;
    char what[PM_HOLD_WHAT_LEN];
};

/* From the agent inside the target, once per sampling interval. */
struct pm_agent_sample {
    uint64_t time_ns; /* CLOCK_MONOTONIC when the sample was taken */
    bool gc_enabled;
    int64_t thresholds[PM_GENERATIONS];
    int64_t counts[PM_GENERATIONS];
    int64_t collections[PM_GENERATIONS];   /* gc.get_stats(), since process start */
    int64_t collected[PM_GENERATIONS];
    int64_t uncollectable[PM_GENERATIONS];
    /* gc.get_stats() "duration" (seconds there, ns here) and "candidates",
     * since process start; -1 where the interpreter has no such key (< 3.15). */
    int64_t gc_duration_ns[PM_GENERATIONS];
    int64_t gc_candidates[PM_GENERATIONS];
    int64_t alloc_blocks;                  /* sys.getallocatedblocks(); -1 unknown */
    /* Pauses since this client's first sample (exact, kept by the agent). */
    uint64_t pause_count;
    uint64_t pause_total_ns;
    uint64_t pause_max_ns;
    /* Cost the agent itself inflicted on the target (GIL held), since attach. */
    uint64_t observer_ns;
    uint64_t sample_cost_ns;  /* of this sample alone */
    uint32_t pauses_dropped;  /* events not carried (ring overflow) */
    struct pm_alloc alloc;
    int64_t garbage_len;      /* len(gc.garbage) */
    bool tracemalloc_on;
    int64_t traced_bytes, traced_peak_bytes; /* tracemalloc.get_traced_memory() */
    uint64_t tm_lease_left_ms; /* the tracemalloc lease: ms left, 0 none */
    uint8_t tm_owner;          /* PM_TM_OWNER_*: who started the tracing that is on */
    uint64_t census_cost_ns;  /* the last census's pause; 0 none yet */
    uint64_t census_interval_ms; /* current adaptive census interval */
    struct pm_hold hold_max;  /* the agent's longest GIL hold since the last sample */
    uint32_t monitors;        /* monitors the agent serves now; 0 unknown (older agent) */
    uint32_t n_pauses;
    struct pm_gc_pause pauses[PM_MAX_PAUSES_PER_SAMPLE];
};

/* Who started the tracemalloc tracing that is on: nobody (off), pymemtop
 * (it stops it when its monitor leaves or its lease ends), the program
 * (never stopped by pymemtop). */
enum { PM_TM_OWNER_NONE = 0, PM_TM_OWNER_PYMEMTOP = 1, PM_TM_OWNER_PROGRAM = 2 };
/* "" (off), "pymemtop", "program": as JSON's tracemalloc.started_by says it. */
static inline const char *pm_tm_owner_name(int owner)
{
    return owner == PM_TM_OWNER_PYMEMTOP ? "pymemtop" : owner == PM_TM_OWNER_PROGRAM ? "program" : "";
}

/* A census: GC-tracked objects per type (module-qualified name). */
#define PM_TYPE_NAME_MAX 128
enum { PM_CENSUS_GC_LISTS = 0, PM_CENSUS_GET_OBJECTS = 1 };
/* A census frame is either counts (KIND_CENSUS: delta = count minus the
 * count at the latest snapshot, 0 when there is none) or a snapshot diff
 * (delta = latest snapshot minus the previous one or the baseline). */
enum { PM_CENSUS_KIND_CENSUS = 0, PM_CENSUS_KIND_DIFF_PREVIOUS = 1,
       PM_CENSUS_KIND_DIFF_BASELINE = 2 };
struct pm_type_count {
    uint64_t count;
    int64_t delta;
    uint64_t bytes;      /* shallow bytes of all instances (has_bytes) */
    int64_t bytes_delta; /* like delta, for bytes */
    uint8_t bytes_approx; /* basicsize only: no proved formula for the type */
    char name[PM_TYPE_NAME_MAX];
};
struct pm_census {
    uint64_t time_ns, cost_ns; /* cost: how long the GIL was held, all slices */
    uint64_t wall_ns;          /* first slice to last (0: not sent) */
    uint64_t max_slice_ns;     /* the longest single hold */
    uint32_t slices, restarts; /* holds taken; restarts after full collections */
    uint64_t skip_ns;          /* left out: predicted hold of its one gc.get_objects() call */
    uint64_t objects;          /* tracked objects counted */
    uint8_t method;            /* PM_CENSUS_* */
    uint8_t kind;              /* PM_CENSUS_KIND_* */
    uint8_t truncated;         /* more types than the agent sends; counted in objects */
    uint32_t snapshots;        /* snapshots the agent holds (0: no delta yet) */
    uint32_t types_total;      /* distinct types, including any not sent */
    uint8_t has_bytes;         /* the agent sent bytes per type (TYPE_BYTES) */
    uint64_t bytes_total;      /* every type's bytes, when has_bytes */
    char bytes_note[160];      /* why some bytes are approximate, "" none */
    uint32_t n_types;
    struct pm_type_count *types; /* heap: freed with pm_census_free() (proto.h) */
};

/* A cycle hunt: garbage split into strongly connected components, grouped by
 * shape ("Node -.child-> Node"). */
#define PM_MAX_SHAPES 16
#define PM_SHAPE_PATH_MAX 400
struct pm_shape {
    uint64_t count;  /* cycles of this shape */
    uint64_t bytes;  /* their total size (sys.getsizeof) */
    uint64_t length; /* objects per cycle */
    char path[PM_SHAPE_PATH_MAX];
    char advice[PM_SHAPE_PATH_MAX]; /* which edge a weakref would best break; "" none */
};
struct pm_hunt {
    uint64_t time_ns, cost_ns;
    uint64_t objects;   /* garbage objects analysed */
    uint64_t cycles;    /* components found */
    uint8_t truncated;  /* the object cap was hit */
    uint32_t n_shapes;
    struct pm_shape shapes[PM_MAX_SHAPES];
};

/* Cycle shapes captured during the program's own automatic collections
 * (agent_capture.c): a bounded table of recent shapes, with the capture's own
 * cost. Times are the agent's CLOCK_MONOTONIC (as pause events' end_ns). */
#define PM_MAX_RECENT_SHAPES 32
#define PM_CAPTURE_STATE_MAX 96
struct pm_recent_shape {
    struct pm_shape shape;   /* count: cycles captured; bytes; length; path; advice */
    uint64_t objects;        /* objects captured in cycles of this shape */
    uint64_t est_objects;    /* the same, each capture scaled by its generation's
                                collections per capture: an estimate of all freed */
    uint64_t first_seen_ns, last_seen_ns;
};
struct pm_capture {
    uint64_t time_ns;        /* when the agent sent it */
    uint64_t since_ns;       /* capture accounting began (the monitor's attach) */
    uint64_t budget_bp;      /* share of wall time it may take, basis points; 0 off */
    uint64_t cost_ns;        /* time our callbacks spent capturing, all captures */
    uint64_t max_ns;         /* the longest single capture */
    uint64_t objects;        /* objects captured in all */
    uint64_t truncated;      /* captures cut by the object or time cap */
    uint64_t skipped;        /* collections left alone to stay within the budget */
    uint64_t shapes_total;   /* shapes in the agent's table (at most 64) */
    int64_t captures[PM_GENERATIONS], collections[PM_GENERATIONS];
    char state[PM_CAPTURE_STATE_MAX]; /* "on", "off", or why it is off */
    uint8_t unchanged;       /* the shapes are those of the previous frame (none sent) */
    uint32_t n_shapes;
    struct pm_recent_shape shapes[PM_MAX_RECENT_SHAPES];
};

/* Why is it alive: referrer chains from a root (module global, class
 * attribute, thread frame local, or the untracked world) to sampled instances
 * of one type, grouped by shape. Bounded: chains x edges x bytes. */
#define PM_WHY_MAX_CHAINS 8
#define PM_WHY_MAX_EDGES 16
#define PM_WHY_EDGE_MAX 160
struct pm_why_chain {
    uint64_t count;    /* sampled instances held this way */
    uint32_t n_edges;  /* "module cache_demo .CACHE", "dict [<int>]", "Session" */
    char edges[PM_WHY_MAX_EDGES][PM_WHY_EDGE_MAX];
};
struct pm_why {
    uint64_t time_ns;
    uint64_t pause_ns;  /* how long the search held the GIL */
    uint64_t sampled;   /* instances sampled (newest first) */
    uint64_t visited;   /* objects visited by the search */
    uint64_t budget_ms; /* the time budget it had */
    uint8_t complete;   /* every sampled instance got a chain */
    char type[PM_TYPE_NAME_MAX];
    char message[256];
    uint32_t n_chains;
    struct pm_why_chain chains[PM_WHY_MAX_CHAINS];
};

/* tracemalloc sites: the top, or a diff between snapshots. */
#define PM_MAX_SITES 32
#define PM_SITE_MAX 256
/* GROWTH: the traces now minus a mark the monitor took (--record --tracemalloc,
 * the leak gate); its rows are diffs like the others. */
enum { PM_SITES_TOP = 0, PM_SITES_DIFF_PREVIOUS = 1, PM_SITES_DIFF_BASELINE = 2,
       PM_SITES_GROWTH = 3 };
struct pm_site {
    int64_t size_bytes, count, size_diff, count_diff;
    char where[PM_SITE_MAX]; /* "file.py:123" */
};
struct pm_sites {
    uint64_t time_ns, cost_ns;
    uint8_t kind; /* PM_SITES_* */
    int64_t traced_bytes, peak_bytes;
    uint32_t n;
    struct pm_site sites[PM_MAX_SITES];
};

/* What the agent says when a client connects. */
struct pm_hello {
    uint32_t agent_version;
    uint32_t protocol_version;
    int64_t pid;             /* getpid() inside the target (its PID namespace) */
    uint64_t hexversion;     /* sys.hexversion */
    char python[32];         /* "3.11.7" */
    uint64_t loaded_ns;      /* CLOCK_MONOTONIC when the agent was loaded */
    uint64_t clients_served; /* >1 means the agent was reused */
    uint32_t monitors;       /* connected now, this one included; 0 unknown */
    uint32_t interval_ms;
    char layout[32];         /* lib/pylayout.c row label, "" when the build has none */
    uint64_t raw_paths;      /* PM_RAW_* */
    char layout_note[96];    /* why a raw path is off ("" when all are on) */
};

/* Raw-memory paths the agent proved on its interpreter; the others take
 * the public API (or answer "not available on this build"). */
#define PM_RAW_DEBUG_OFFSETS 1u /* _Py_DebugOffsets decoded and anchored */
#define PM_RAW_GC_LISTS 2u      /* the census may walk the generation lists */
#define PM_RAW_FRAME_LOCALS 4u  /* why reads threads' frame locals */

/* A command's answer. */
struct pm_reply {
    uint64_t id;
    int64_t status; /* 0 ok, else a negative errno-like code */
    char message[256];
    int64_t value;     /* command-specific: objects collected, new interval ... */
    uint64_t pause_ns; /* time the command held the GIL */
    uint64_t max_hold_ns; /* its longest single hold (sliced work); 0 unknown */
    uint64_t predict_ns;  /* refused (-EAGAIN): the pause it predicted; 0 none */
};

#endif
