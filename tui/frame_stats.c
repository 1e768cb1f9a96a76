/* Frame timing for bench/dashboard.py: what a frame costs, per view. */
#include "frame_stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_STATS_MAX 65536

void frame_stats_start(struct frame_stats *fs)
{
    fs->ns = calloc(FRAME_STATS_MAX, sizeof *fs->ns);
    fs->draw = calloc(FRAME_STATS_MAX, sizeof *fs->draw);
    if (!fs->ns || !fs->draw)
        frame_stats_free(fs);
}

void frame_stats_add(struct frame_stats *fs, int view, uint64_t dt)
{
    if (!fs->ns)
        return;
    if (fs->n < FRAME_STATS_MAX) {
        uint64_t dr = dt - fs->last_update_ns;
        fs->draw[fs->n] = (uint32_t)(dr > UINT32_MAX ? UINT32_MAX : dr);
        fs->ns[fs->n++] = (uint32_t)(dt > UINT32_MAX ? UINT32_MAX : dt);
    }
    fs->count[view]++;
    fs->update_ns_total += fs->last_update_ns;
    if (fs->last_update_ns > fs->update_ns_max)
        fs->update_ns_max = fs->last_update_ns;
    fs->total_ns[view] += dt;
    if (dt > fs->max_ns[view])
        fs->max_ns[view] = dt;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void frame_stats_write(struct frame_stats *fs, const char *path)
{
    if (!fs->ns)
        return;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "pymemtop: --frame-stats %s: %s\n", path, strerror(errno));
        return;
    }
    qsort(fs->ns, fs->n, sizeof fs->ns[0], cmp_u32);
    uint64_t total = 0;
    for (size_t i = 0; i < fs->n; i++)
        total += fs->ns[i];
    fprintf(f, "{\"frames\":%zu,\"mean_ns\":%llu,\"p50_ns\":%u,\"p99_ns\":%u,\"max_ns\":%u,\"views\":{",
            fs->n, (unsigned long long)(fs->n ? total / fs->n : 0), fs->n ? fs->ns[fs->n / 2] : 0,
            fs->n ? fs->ns[(fs->n * 99) / 100] : 0, fs->n ? fs->ns[fs->n - 1] : 0);
    for (int v = 0; v < CONFIG_VIEWS; v++)
        fprintf(f, "%s\"%s\":{\"frames\":%llu,\"mean_ns\":%llu,\"max_ns\":%llu}", v ? "," : "",
                config_view_name((enum config_view)v), (unsigned long long)fs->count[v],
                (unsigned long long)(fs->count[v] ? fs->total_ns[v] / fs->count[v] : 0),
                (unsigned long long)fs->max_ns[v]);
    qsort(fs->draw, fs->n, sizeof fs->draw[0], cmp_u32);
    fprintf(f, "},\"doupdate_mean_ns\":%llu,\"doupdate_max_ns\":%llu,"
               "\"draw_p50_ns\":%u,\"draw_p99_ns\":%u,\"draw_max_ns\":%u}\n",
            (unsigned long long)(fs->n ? fs->update_ns_total / fs->n : 0),
            (unsigned long long)fs->update_ns_max, fs->n ? fs->draw[fs->n / 2] : 0,
            fs->n ? fs->draw[(fs->n * 99) / 100] : 0, fs->n ? fs->draw[fs->n - 1] : 0);
    fclose(f);
}

void frame_stats_free(struct frame_stats *fs)
{
    free(fs->ns);
    free(fs->draw);
    fs->ns = NULL;
    fs->draw = NULL;
}
