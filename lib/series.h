/* A fixed-capacity ring of (time, value) points: the history behind graphs
 * and growth slopes. */
#ifndef PYMEMTOP_LIB_SERIES_H
#define PYMEMTOP_LIB_SERIES_H

#include <stddef.h>
#include <stdint.h>

struct series {
    uint64_t *time_ns;
    double *value;
    size_t cap, len, head; /* head: index of the oldest point */
};

int series_init(struct series *s, size_t cap); /* 0 or -ENOMEM */
void series_free(struct series *s);
/* A deep copy with src's capacity; dst is initialised (and empty on failure). */
int series_clone(struct series *dst, const struct series *src);
void series_push(struct series *s, uint64_t time_ns, double value);
size_t series_len(const struct series *s);
/* i = 0 is the oldest point kept. */
uint64_t series_time_at(const struct series *s, size_t i);
double series_value_at(const struct series *s, size_t i);
double series_last(const struct series *s); /* 0 when empty */
/* Least-squares slope over points not older than window_ns before the last
 * one, in value units per minute; 0 with fewer than 2 points. */
double series_slope_per_min(const struct series *s, uint64_t window_ns);
void series_minmax(const struct series *s, size_t from, double *min, double *max);

/* Least squares over every point ever added, in constant memory: the slope
 * of a whole recording, however long. */
struct slope_acc {
    double n, sx, sy, sxx, sxy;
    uint64_t t0_ns; /* x is measured from the first point, in minutes */
};

void slope_add(struct slope_acc *a, uint64_t time_ns, double value);
double slope_per_min(const struct slope_acc *a); /* 0 with fewer than 2 points */

#endif
