/* Writes the seed corpus of fuzz_proto: frames made by the real encoder
 * (lib/proto.c), alone, back to back, cut short and damaged. Each file is
 * one mode byte (see fuzz_proto.c) then the stream. Run by `make fuzz-seeds`;
 * the result is kept in tests/fuzz/corpus/proto. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char *dir;
static int nfile;

static void out(const char *name, uint8_t mode, const uint8_t *p, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%02d-%s", dir, nfile++, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputc(mode, f) == EOF || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void hello(struct proto_buf *b)
{
    proto_begin(b, PROTO_HELLO);
    proto_put_u64(b, TAG_AGENT_VERSION, 1);
    proto_put_u64(b, TAG_PROTOCOL, PROTO_VERSION);
    proto_put_i64(b, TAG_PID, 4242);
    proto_put_u64(b, TAG_HEXVERSION, 0x030b07f0);
    proto_put_str(b, TAG_PYTHON, "3.11.7");
    proto_put_u64(b, TAG_LOADED_NS, 123456789);
    proto_put_u64(b, TAG_CLIENTS, 2);
    proto_put_u64(b, TAG_INTERVAL_MS, 1000);
    proto_end(b);
}

static void sample(struct proto_buf *b, int pauses)
{
    int64_t g[3] = {700, 10, 10}, c[3] = {5, -1, 3};
    proto_begin(b, PROTO_SAMPLE);
    proto_put_u64(b, TAG_TIME_NS, 99999);
    proto_put_u64(b, TAG_GC_ENABLED, 1);
    proto_put_gens(b, TAG_GC_THRESHOLDS, g);
    proto_put_gens(b, TAG_GC_COUNTS, c);
    proto_put_gens(b, TAG_GC_COLLECTIONS, c);
    proto_put_gens(b, TAG_GC_COLLECTED, c);
    proto_put_gens(b, TAG_GC_UNCOLLECTABLE, c);
    int64_t d[3] = {1500000, -1, 250000000}; /* 3.15+: duration (ns), candidates */
    proto_put_gens(b, TAG_GC_DURATION_NS, d);
    proto_put_gens(b, TAG_GC_CANDIDATES, c);
    proto_put_i64(b, TAG_ALLOC_BLOCKS, 123456);
    proto_put_u64(b, TAG_PAUSE_COUNT, (uint64_t)pauses);
    proto_put_u64(b, TAG_PAUSE_TOTAL_NS, 5000);
    proto_put_u64(b, TAG_PAUSE_MAX_NS, 900);
    proto_put_u64(b, TAG_OBSERVER_NS, 77);
    proto_put_u64(b, TAG_SAMPLE_COST_NS, 66);
    proto_put_u64(b, TAG_PAUSES_DROPPED, 0);
    proto_put_i64(b, TAG_ALLOC_ARENAS, 12);
    proto_put_i64(b, TAG_PYMALLOC_USED, 1 << 20);
    proto_put_i64(b, TAG_MALLOC_USED, 1 << 22);
    proto_put_gens(b, TAG_HOOK_CALLS, c);
    proto_put_gens(b, TAG_HOOK_BYTES, c);
    proto_put_i64(b, TAG_GARBAGE_LEN, 3);
    proto_put_u64(b, TAG_TRACEMALLOC_ON, 1);
    proto_put_i64(b, TAG_TRACED_BYTES, 4096);
    proto_put_u64(b, 999, 7); /* a tag from a newer agent */
    for (int i = 0; i < pauses; i++) {
        struct pm_gc_pause p = {.end_ns = 1000u + (uint64_t)i, .pause_ns = 10u * (uint64_t)i,
                                .collected = i, .uncollectable = 0,
                                .generation = (uint8_t)(i % 3)};
        proto_put_pause(b, &p);
    }
    proto_end(b);
}

static void command(struct proto_buf *b, const char *name, int64_t arg)
{
    proto_begin(b, PROTO_COMMAND);
    proto_put_u64(b, TAG_CMD_ID, 7);
    proto_put_str(b, TAG_CMD_NAME, name);
    proto_put_i64(b, TAG_CMD_ARG, arg);
    proto_end(b);
}

static void reply(struct proto_buf *b, int append)
{
    if (append)
        proto_append(b, PROTO_REPLY);
    else
        proto_begin(b, PROTO_REPLY);
    proto_put_u64(b, TAG_CMD_ID, 7);
    proto_put_i64(b, TAG_STATUS, 0);
    proto_put_str(b, TAG_MESSAGE, "collected 12 objects");
    proto_put_i64(b, TAG_VALUE, 12);
    proto_put_u64(b, TAG_PAUSE_NS, 3000);
    proto_end(b);
}

static void census(struct proto_buf *b, int kind, int n)
{
    proto_begin(b, PROTO_CENSUS);
    proto_put_u64(b, TAG_TIME_NS, 5555);
    proto_put_u64(b, TAG_COST_NS, 100);
    proto_put_u64(b, TAG_OBJECTS, 1000);
    proto_put_u64(b, TAG_METHOD, 1);
    proto_put_u64(b, TAG_KIND, (uint64_t)kind);
    proto_put_u64(b, TAG_TRUNCATED, 0);
    proto_put_u64(b, TAG_SNAPSHOTS, 2);
    proto_put_u64(b, TAG_TYPES_TOTAL, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), i % 2 ? "dict" : "mod.Type%d", i);
        uint64_t nums[2] = {(uint64_t)(100 - i), (uint64_t)(int64_t)(i - 3)};
        proto_put_record(b, TAG_TYPE, nums, 2, name);
    }
    proto_end(b);
}

static void hunt(struct proto_buf *b)
{
    struct pm_shape sh = {.count = 3, .bytes = 400, .length = 2};
    snprintf(sh.path, sizeof(sh.path), "Node -.child-> Node -.child-> Node");
    snprintf(sh.advice, sizeof(sh.advice), "weakref Node.child");
    proto_begin(b, PROTO_HUNT);
    proto_put_u64(b, TAG_TIME_NS, 77);
    proto_put_u64(b, TAG_COST_NS, 10);
    proto_put_u64(b, TAG_OBJECTS, 6);
    proto_put_u64(b, TAG_CYCLES, 3);
    proto_put_u64(b, TAG_TRUNCATED, 0);
    proto_put_shape(b, &sh);
    sh.advice[0] = 0;
    proto_put_shape(b, &sh);
    proto_end(b);
}

static void sites(struct proto_buf *b, int kind)
{
    proto_begin(b, PROTO_SITES);
    proto_put_u64(b, TAG_TIME_NS, 88);
    proto_put_u64(b, TAG_COST_NS, 11);
    proto_put_u64(b, TAG_KIND, (uint64_t)kind);
    proto_put_i64(b, TAG_TRACED_BYTES, 1 << 20);
    proto_put_i64(b, TAG_TRACED_PEAK, 2 << 20);
    for (int i = 0; i < 4; i++) {
        uint64_t nums[4] = {4096u * (uint64_t)i, (uint64_t)i, (uint64_t)-5, 1};
        proto_put_record(b, TAG_SITE, nums, 4, "/srv/app/cache.py:42");
    }
    proto_end(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    struct proto_buf b, all;
    proto_buf_init(&b);
    proto_buf_init(&all);
    static const uint8_t modes[] = {8, 0, 3, 16 | 8};
#define ADD(name)                                                                          \
    do {                                                                                   \
        for (size_t m = 0; m < sizeof(modes); m++)                                        \
            if (m == 0 || !strcmp(name, "sample") || !strcmp(name, "command"))              \
                out(name, modes[m], b.data, b.len);                                        \
        if (all.len + b.len < 60000) {                                                     \
            uint8_t *d = realloc(all.data, all.len + b.len);                               \
            if (!d)                                                                        \
                return 1;                                                                  \
            memcpy(d + all.len, b.data, b.len);                                            \
            all.data = d;                                                                  \
            all.len += b.len;                                                              \
        }                                                                                  \
    } while (0)
    hello(&b);
    ADD("hello");
    proto_begin(&b, PROTO_BUSY);
    proto_put_i64(&b, TAG_PID, 999);
    proto_put_u64(&b, TAG_MONITORS, 8);
    proto_put_u64(&b, TAG_MONITORS_MAX, 8);
    proto_put_str(&b, TAG_MONITOR_PIDS, "999, 1000, 1001");
    proto_end(&b);
    ADD("busy");
    sample(&b, 3);
    ADD("sample");
    sample(&b, 0);
    ADD("sample0");
    command(&b, "collect", 2);
    ADD("command");
    command(&b, "tracemalloc", 5);
    ADD("tracemalloc");
    reply(&b, 0);
    ADD("reply");
    census(&b, 0, 5);
    reply(&b, 1); /* a command's result, then its reply, in one send */
    ADD("census-reply");
    census(&b, 1, 2);
    ADD("census-diff");
    hunt(&b);
    ADD("hunt");
    sites(&b, 0);
    ADD("sites");
    sites(&b, 2);
    ADD("sites-diff");
    out("stream", 8, all.data, all.len);
    out("stream-bytewise", 0, all.data, all.len);
    /* Damaged: cut short, bad magic, wrong version, oversized length. */
    hello(&b);
    out("hello-cut", 8, b.data, b.len - 3);
    b.data[0] ^= 0xff;
    out("bad-magic", 8, b.data, b.len);
    b.data[0] ^= 0xff;
    b.data[4] = 9;
    out("bad-version", 8, b.data, b.len);
    b.data[4] = 1;
    b.data[11] = 0x7f;
    out("huge-length", 8, b.data, b.len);
    sample(&b, 1);
    b.data[PROTO_HEADER_BYTES + 2] = 9; /* TIME_NS field with length 9 */
    out("bad-field-len", 8, b.data, b.len);
    proto_buf_free(&b);
    free(all.data);
    return 0;
}
