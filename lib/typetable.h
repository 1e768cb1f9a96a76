/* Per-type object counts across censuses, on the monitor side: change since
 * attach, change since the agent's latest snapshot, rate per minute (least
 * squares over recent censuses) and the leak-suspect flag (grew in each of
 * the last K censuses). Pure: no I/O, unit-tested. */
#ifndef PYMEMTOP_LIB_TYPETABLE_H
#define PYMEMTOP_LIB_TYPETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct typetable_row {
    char name[PM_TYPE_NAME_MAX];
    uint64_t count;
    int64_t delta_attach;
    int64_t delta_snapshot; /* 0 when the agent holds no snapshot */
    double rate_per_min;
    bool suspect;        /* count or bytes grew K censuses in a row */
    bool bytes_known;    /* the latest census carried bytes (else all bytes_* are 0) */
    bool bytes_approx;   /* basicsize only: no proved formula for the type */
    uint64_t bytes;      /* shallow bytes of all instances (sys.getsizeof summed) */
    int64_t bytes_delta_attach;
    int64_t bytes_delta_snapshot;
    double bytes_rate_per_min;
};

enum typetable_sort {
    TYPETABLE_BY_COUNT,
    TYPETABLE_BY_DELTA_ATTACH,
    TYPETABLE_BY_DELTA_SNAPSHOT,
    TYPETABLE_BY_RATE,
    TYPETABLE_BY_NAME,
    TYPETABLE_BY_BYTES,
    TYPETABLE_BY_BYTES_RATE,
};

/* A type grows "by bytes" rather than by count when its bytes grow faster,
 * relatively, than its count: bytes_rate / bytes > rate / count (a count
 * that is flat or falls while bytes rise included). The growing-types list
 * and the leak gate rank such types by bytes. */
bool typetable_grows_by_bytes(const struct typetable_row *r);

struct typetable;

/* suspect_window: K censuses of growth in a row make a suspect (>= 2);
 * history: censuses kept per type for the rate. NULL on no memory. */
struct typetable *typetable_new(unsigned suspect_window, unsigned history);
void typetable_free(struct typetable *t);
/* A deep copy that shares nothing with src (a frozen screen); NULL on no memory. */
struct typetable *typetable_clone(const struct typetable *src);
/* Folds in a census of kind PM_CENSUS_KIND_CENSUS (other kinds ignored). A
 * type missing from a census (not truncated) counts as 0 at that time. */
void typetable_update(struct typetable *t, const struct pm_census *c);
size_t typetable_size(const struct typetable *t);   /* distinct types seen */
uint64_t typetable_objects(const struct typetable *t); /* objects in the latest census */
/* Bytes of every type in the latest census; false when it carried none. */
bool typetable_bytes_total(const struct typetable *t, uint64_t *bytes);
unsigned typetable_censuses(const struct typetable *t);
bool typetable_have_snapshot(const struct typetable *t);
/* Replay: replaces the table with recorded rows, shown verbatim (sorting and
 * filtering still apply); later updates are ignored. 0 or -ENOMEM. */
int typetable_load(struct typetable *t, const struct typetable_row *rows, size_t n,
                   uint64_t objects);
/* Replay: the recorded census bytes total (has: it was recorded). */
void typetable_load_bytes(struct typetable *t, bool has, uint64_t bytes_total);

/* Copies up to cap rows, sorted (descending for numbers, ascending by name),
 * keeping only names containing `filter` (NULL or "" = all). Returns rows
 * written. */
size_t typetable_rows(const struct typetable *t, enum typetable_sort sort, const char *filter,
                      struct typetable_row *out, size_t cap);

#endif
