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

/* From the agent inside the target, once per sampling interval. */
struct pm_agent_sample {
    uint64_t time_ns; /* CLOCK_MONOTONIC when the sample was taken */
    bool gc_enabled;
    int64_t thresholds[PM_GENERATIONS];
    int64_t counts[PM_GENERATIONS];
    int64_t collections[PM_GENERATIONS];   /* gc.get_stats(), since process start */
    int64_t collected[PM_GENERATIONS];
    int64_t uncollectable[PM_GENERATIONS];
    int64_t alloc_blocks;                  /* sys.getallocatedblocks(); -1 unknown */
    /* Pauses since this client attached (exact, kept by the agent). */
    uint64_t pause_count;
    uint64_t pause_total_ns;
    uint64_t pause_max_ns;
    /* Cost the agent itself inflicted on the target (GIL held), since attach. */
    uint64_t observer_ns;
    uint64_t sample_cost_ns;  /* of this sample alone */
    uint32_t pauses_dropped;  /* events not carried (ring overflow) */
    uint32_t n_pauses;
    struct pm_gc_pause pauses[PM_MAX_PAUSES_PER_SAMPLE];
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
    uint32_t interval_ms;
};

/* A command's answer. */
struct pm_reply {
    uint64_t id;
    int64_t status; /* 0 ok, else a negative errno-like code */
    char message[256];
    int64_t value;     /* command-specific: objects collected, new interval ... */
    uint64_t pause_ns; /* time the command held the GIL */
};

#endif
