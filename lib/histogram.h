/* Log-linear histogram of durations in ns: exact count/total/max and
 * percentiles within 1/32 relative error, in constant memory. */
#ifndef PYMEMTOP_LIB_HISTOGRAM_H
#define PYMEMTOP_LIB_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 5 /* 32 sub-buckets per power of two */
#define HISTOGRAM_BUCKETS (64 << HISTOGRAM_SUB_BITS)

struct histogram {
    uint64_t count, total_ns, max_ns, min_ns;
    uint32_t bucket[HISTOGRAM_BUCKETS];
};

void histogram_reset(struct histogram *h);
void histogram_add(struct histogram *h, uint64_t ns);
/* q in [0,1]; returns an upper bound of the bucket holding the q-quantile
 * (never above max); 0 when empty. */
uint64_t histogram_quantile(const struct histogram *h, double q);

#endif
