/* Log-linear buckets: values below 2^SUB_BITS get their own bucket; above,
 * each power of two is split into 2^SUB_BITS equal sub-buckets. */
#include "histogram.h"

#include <string.h>

void histogram_reset(struct histogram *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned histogram_index(uint64_t v)
{
    if (v < (1u << HISTOGRAM_SUB_BITS))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HISTOGRAM_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) & ((1u << HISTOGRAM_SUB_BITS) - 1);
    return ((shift + 1) << HISTOGRAM_SUB_BITS) + sub;
}

/* Largest value that falls in bucket i. */
static uint64_t histogram_upper(unsigned i)
{
    if (i < (1u << HISTOGRAM_SUB_BITS))
        return i;
    unsigned shift = (i >> HISTOGRAM_SUB_BITS) - 1;
    uint64_t sub = i & ((1u << HISTOGRAM_SUB_BITS) - 1);
    uint64_t base = ((1ull << HISTOGRAM_SUB_BITS) | sub) << shift;
    return base + ((1ull << shift) - 1);
}

void histogram_add(struct histogram *h, uint64_t ns)
{
    unsigned i = histogram_index(ns);
    if (i >= HISTOGRAM_BUCKETS)
        i = HISTOGRAM_BUCKETS - 1;
    h->bucket[i]++;
    if (!h->count || ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
    h->count++;
    h->total_ns += ns;
}

uint64_t histogram_quantile(const struct histogram *h, double q)
{
    if (!h->count)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)(q * (double)(h->count - 1)) + 1, seen = 0;
    if (rank == 1)
        return h->min_ns; /* the extremes are known exactly */
    if (rank == h->count)
        return h->max_ns;
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t u = histogram_upper(i);
            if (u > h->max_ns)
                u = h->max_ns;
            return u < h->min_ns ? h->min_ns : u;
        }
    }
    return h->max_ns;
}
