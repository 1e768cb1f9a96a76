/* Ring buffer of timed values; slopes by least squares. */
#include "series.h"

#include <errno.h>
#include <stdlib.h>

int series_init(struct series *s, size_t cap)
{
    s->time_ns = calloc(cap ? cap : 1, sizeof(*s->time_ns));
    s->value = calloc(cap ? cap : 1, sizeof(*s->value));
    s->cap = cap ? cap : 1;
    s->len = s->head = 0;
    if (!s->time_ns || !s->value) {
        series_free(s);
        return -ENOMEM;
    }
    return 0;
}

void series_free(struct series *s)
{
    free(s->time_ns);
    free(s->value);
    s->time_ns = NULL;
    s->value = NULL;
    s->cap = s->len = s->head = 0;
}

int series_clone(struct series *dst, const struct series *src)
{
    if (series_init(dst, src->cap) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < series_len(src); i++)
        series_push(dst, series_time_at(src, i), series_value_at(src, i));
    return 0;
}

void series_push(struct series *s, uint64_t time_ns, double value)
{
    if (!s->cap)
        return;
    size_t at = (s->head + s->len) % s->cap;
    if (s->len == s->cap)
        s->head = (s->head + 1) % s->cap;
    else
        s->len++;
    s->time_ns[at] = time_ns;
    s->value[at] = value;
}

size_t series_len(const struct series *s)
{
    return s->len;
}

uint64_t series_time_at(const struct series *s, size_t i)
{
    return i < s->len ? s->time_ns[(s->head + i) % s->cap] : 0;
}

double series_value_at(const struct series *s, size_t i)
{
    return i < s->len ? s->value[(s->head + i) % s->cap] : 0;
}

double series_last(const struct series *s)
{
    return s->len ? series_value_at(s, s->len - 1) : 0;
}

double series_slope_per_min(const struct series *s, uint64_t window_ns)
{
    if (s->len < 2)
        return 0;
    uint64_t t_last = series_time_at(s, s->len - 1);
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = s->len; i-- > 0;) {
        uint64_t t = series_time_at(s, i);
        if (t_last - t > window_ns)
            break;
        /* x in minutes relative to the last point keeps the sums small. */
        double x = -(double)(t_last - t) / 60e9, y = series_value_at(s, i);
        n++;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double den = n * sxx - sx * sx;
    return n < 2 || den <= 0 ? 0 : (n * sxy - sx * sy) / den;
}

void series_minmax(const struct series *s, size_t from, double *min, double *max)
{
    *min = *max = 0;
    for (size_t i = from; i < s->len; i++) {
        double v = series_value_at(s, i);
        if (i == from || v < *min)
            *min = v;
        if (i == from || v > *max)
            *max = v;
    }
}

void slope_add(struct slope_acc *a, uint64_t time_ns, double value)
{
    if (a->n == 0)
        a->t0_ns = time_ns;
    double x = (double)(time_ns - a->t0_ns) / 60e9;
    a->n++;
    a->sx += x;
    a->sy += value;
    a->sxx += x * x;
    a->sxy += x * value;
}

double slope_per_min(const struct slope_acc *a)
{
    double den = a->n * a->sxx - a->sx * a->sx;
    return a->n < 2 || den <= 0 ? 0 : (a->n * a->sxy - a->sx * a->sy) / den;
}
