/* The Prometheus exposition of --serve: plain data about each target in,
 * text out (format 0.0.4, or OpenMetrics 1.0.0). Pure: no I/O, no session,
 * unit-tested. One table of families (metrics.c) gives every name, type and
 * HELP line; README's Fleet section and the Grafana dashboard use the same
 * names (a test checks them against `metrics_families`). */
#ifndef PYMEMTOP_LIB_METRICS_H
#define PYMEMTOP_LIB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* GC pause histogram: upper bounds 10 us to 10 s, 1-2.5-5 per decade. */
#define METRICS_PAUSE_BOUNDS 19
extern const uint64_t metrics_pause_bounds_ns[METRICS_PAUSE_BOUNDS];

/* Pauses per generation since the exporter attached: monotonic. */
struct metrics_pauses {
    uint64_t bucket[METRICS_PAUSE_BOUNDS + 1]; /* per bucket, not cumulative; last: above 10 s */
    uint64_t count;
    uint64_t sum_ns;
};
void metrics_pauses_add(struct metrics_pauses *h, uint64_t pause_ns);

struct metrics_type {
    const char *name; /* any bytes: escaped, invalid UTF-8 replaced */
    uint64_t count;
    bool bytes_known; /* the census carried bytes per type */
    uint64_t bytes;   /* shallow bytes of its instances (sys.getsizeof summed) */
};

/* One target as the exporter last saw it. */
struct metrics_target {
    int pid;
    bool up;            /* attached and sampling */
    const char *reason; /* down: a short word (target_status_name), "" none */
    bool have_proc;     /* the /proc numbers below are set */
    uint64_t rss_bytes, vsz_bytes, swap_bytes;
    double cpu_seconds;     /* utime + stime */
    double start_time_s;    /* since the Unix epoch */
    bool have_agent;        /* the agent fields below are set */
    const char *python;     /* "3.11.7" */
    const struct pm_agent_sample *agent;
    const struct metrics_pauses *pauses; /* PM_GENERATIONS of them */
    double sample_age_s;    /* since the latest agent sample */
    bool have_census;
    uint64_t census_cost_ns, census_objects, census_types;
    const struct metrics_type *types; /* top by count, at most [serve] types */
    size_t n_types;
    const char *const *suspects; /* leak suspects' type names */
    size_t n_suspects;
};

/* About the exporter itself. */
struct metrics_self {
    uint64_t scrapes;           /* counted before this one */
    uint64_t rss_bytes;
    double cpu_seconds;
    uint64_t attach_failures;   /* attaches that failed, since start */
    double last_scrape_s;       /* how long the previous scrape took to serve */
    size_t targets_up, targets_down;
};

enum metrics_format { METRICS_TEXT, METRICS_OPENMETRICS };

enum metrics_type_kind { METRICS_GAUGE, METRICS_COUNTER, METRICS_HISTOGRAM };

struct metrics_family {
    const char *name; /* as exposed in the text format (counters end in _total) */
    enum metrics_type_kind type;
    const char *unit; /* OpenMetrics UNIT ("bytes", "seconds"), "" none */
    const char *help;
};
extern const struct metrics_family metrics_families[];
extern const size_t metrics_n_families;

/* A growable text buffer; allocation failure sets failed. */
struct metrics_buf {
    char *data;
    size_t len, cap;
    int failed;
};
void metrics_buf_free(struct metrics_buf *b);

/* Writes the whole exposition (every family's HELP and TYPE, then its
 * samples; OpenMetrics ends with "# EOF"). Returns 0 or -1 (no memory). */
int metrics_write(struct metrics_buf *b, const struct metrics_target *t, size_t n,
                  const struct metrics_self *self, enum metrics_format fmt);

/* The Content-Type of a format. */
const char *metrics_content_type(enum metrics_format fmt);
/* What an Accept header asks for: OpenMetrics when it names
 * application/openmetrics-text (with q above 0), else the text format. */
enum metrics_format metrics_negotiate(const char *accept);

/* A label value escaped for the exposition: \ " and newline escaped, bytes
 * that are not UTF-8 replaced with U+FFFD. Appends to b. */
void metrics_escape_label(struct metrics_buf *b, const char *v);

#endif
