/* The protocol codec: round trips, and hostile input that must be refused
 * without a crash (run under ASan/UBSan by make check-asan). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "proto.h"

static struct pm_agent_sample sample_in, sample_out;

static void make_sample(struct proto_buf *b)
{
    memset(&sample_in, 0, sizeof(sample_in));
    sample_in.time_ns = 123456789;
    sample_in.gc_enabled = true;
    for (int i = 0; i < 3; i++) {
        sample_in.thresholds[i] = 700 - i;
        sample_in.counts[i] = i;
        sample_in.collections[i] = 100 * i;
        sample_in.collected[i] = -5; /* negative values survive */
        sample_in.uncollectable[i] = i;
        sample_in.gc_duration_ns[i] = 1000000007LL * (i + 1); /* 3.15's "duration", as ns */
        sample_in.gc_candidates[i] = 5000 + i;
    }
    sample_in.alloc_blocks = 424242;
    sample_in.pause_count = 3;
    sample_in.pause_total_ns = 999;
    sample_in.pause_max_ns = 500;
    sample_in.n_pauses = 3;
    for (uint32_t i = 0; i < 3; i++)
        sample_in.pauses[i] = (struct pm_gc_pause){.end_ns = 10 + i, .pause_ns = 100 * i,
                                                   .collected = 7, .uncollectable = 1,
                                                   .generation = (uint8_t)i};
    proto_begin(b, PROTO_SAMPLE);
    proto_put_u64(b, TAG_TIME_NS, sample_in.time_ns);
    proto_put_u64(b, TAG_GC_ENABLED, 1);
    proto_put_gens(b, TAG_GC_THRESHOLDS, sample_in.thresholds);
    proto_put_gens(b, TAG_GC_COUNTS, sample_in.counts);
    proto_put_gens(b, TAG_GC_COLLECTIONS, sample_in.collections);
    proto_put_gens(b, TAG_GC_COLLECTED, sample_in.collected);
    proto_put_gens(b, TAG_GC_UNCOLLECTABLE, sample_in.uncollectable);
    proto_put_gens(b, TAG_GC_DURATION_NS, sample_in.gc_duration_ns);
    proto_put_gens(b, TAG_GC_CANDIDATES, sample_in.gc_candidates);
    proto_put_i64(b, TAG_ALLOC_BLOCKS, sample_in.alloc_blocks);
    proto_put_u64(b, TAG_PAUSE_COUNT, 3);
    proto_put_u64(b, TAG_PAUSE_TOTAL_NS, 999);
    proto_put_u64(b, TAG_PAUSE_MAX_NS, 500);
    proto_put_u64(b, 999, 1); /* an unknown tag from a newer agent: skipped */
    for (uint32_t i = 0; i < 3; i++)
        proto_put_pause(b, &sample_in.pauses[i]);
    proto_end(b);
}

static void test_sample_round_trip(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    make_sample(&b);
    CHECK(!b.failed);
    struct proto_header h;
    const char *why = NULL;
    CHECK_EQ_INT(proto_decode_header(b.data, b.len, &h, &why), 0);
    CHECK_EQ_INT(h.type, PROTO_SAMPLE);
    CHECK_EQ_INT(h.length, b.len - PROTO_HEADER_BYTES);
    CHECK_EQ_INT(proto_decode_sample(b.data + 12, h.length, &sample_out, &why), 0);
    CHECK_EQ_INT(sample_out.time_ns, 123456789);
    CHECK(sample_out.gc_enabled);
    CHECK_EQ_INT(sample_out.thresholds[2], 698);
    CHECK_EQ_INT(sample_out.collected[1], -5);
    CHECK_EQ_INT(sample_out.alloc_blocks, 424242);
    CHECK_EQ_INT(sample_out.n_pauses, 3);
    CHECK_EQ_INT(sample_out.pauses[2].pause_ns, 200);
    CHECK_EQ_INT(sample_out.pauses[2].generation, 2);
    CHECK_EQ_INT(sample_out.pause_total_ns, 999);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(sample_out.gc_duration_ns[i], sample_in.gc_duration_ns[i]);
        CHECK_EQ_INT(sample_out.gc_candidates[i], sample_in.gc_candidates[i]);
    }
    proto_buf_free(&b);
}

static void test_missing_fields_default_unknown(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_SAMPLE);
    proto_put_u64(&b, TAG_TIME_NS, 5);
    proto_end(&b);
    const char *why;
    CHECK_EQ_INT(proto_decode_sample(b.data + 12, b.len - 12, &sample_out, &why), 0);
    CHECK_EQ_INT(sample_out.alloc_blocks, -1);
    CHECK_EQ_INT(sample_out.counts[0], -1);
    /* An agent without the 3.15 GC stats (older agent or interpreter): unknown. */
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(sample_out.gc_duration_ns[i], -1);
        CHECK_EQ_INT(sample_out.gc_candidates[i], -1);
    }
    /* No time at all: refused. */
    CHECK_EQ_INT(proto_decode_sample(b.data + 12, 0, &sample_out, &why), -1);
    proto_buf_free(&b);
}

static void test_every_truncation_refused_or_safe(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    make_sample(&b);
    const char *why;
    int refused = 0;
    for (size_t n = 0; n < b.len - 12; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
        memcpy(copy, b.data + 12, n);
        if (proto_decode_sample(copy, n, &sample_out, &why) < 0)
            refused++;
        free(copy);
    }
    CHECK(refused > 0);
    proto_buf_free(&b);
}

static void test_bad_headers(void)
{
    uint8_t h[12] = {'P', 'M', 'T', 'P', 1, 0, 3, 0, 0, 0, 0, 0};
    struct proto_header ph;
    const char *why;
    CHECK_EQ_INT(proto_decode_header(h, 12, &ph, &why), 0);
    CHECK_EQ_INT(proto_decode_header(h, 11, &ph, &why), -1);
    h[0] = 'X';
    CHECK_EQ_INT(proto_decode_header(h, 12, &ph, &why), -1);
    h[0] = 'P';
    h[4] = 9; /* version */
    CHECK_EQ_INT(proto_decode_header(h, 12, &ph, &why), -1);
    h[4] = 1;
    h[11] = 0x7f; /* 2 GB payload */
    CHECK_EQ_INT(proto_decode_header(h, 12, &ph, &why), -1);
}

static void test_wrong_field_lengths(void)
{
    /* TIME_NS with 4 bytes instead of 8. */
    uint8_t p[] = {20, 0, 4, 0, 1, 2, 3, 4};
    const char *why = NULL;
    CHECK_EQ_INT(proto_decode_sample(p, sizeof(p), &sample_out, &why), -1);
    CHECK(why != NULL);
    /* A field claiming more bytes than remain. */
    uint8_t q[] = {20, 0, 8, 0, 1, 2};
    CHECK_EQ_INT(proto_decode_sample(q, sizeof(q), &sample_out, &why), -1);
    /* GC_DURATION_NS and GC_CANDIDATES are 24-byte arrays: 8 bytes is refused. */
    uint8_t t[] = {20, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 55, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(proto_decode_sample(t, sizeof(t), &sample_out, &why), -1);
    t[12] = 56;
    CHECK_EQ_INT(proto_decode_sample(t, sizeof(t), &sample_out, &why), -1);
    /* A pause with generation 7. */
    struct proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_SAMPLE);
    proto_put_u64(&b, TAG_TIME_NS, 1);
    struct pm_gc_pause bad = {.generation = 7};
    proto_put_pause(&b, &bad);
    proto_end(&b);
    CHECK_EQ_INT(proto_decode_sample(b.data + 12, b.len - 12, &sample_out, &why), -1);
    proto_buf_free(&b);
}

static void test_strings_with_nul_refused(void)
{
    uint8_t p[] = {4, 0, 3, 0, 'a', 0, 'b', 2, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    struct pm_hello h;
    const char *why;
    CHECK_EQ_INT(proto_decode_hello(p, sizeof(p), &h, &why), -1);
}

static void test_command_round_trip_and_truncated_name(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_COMMAND);
    proto_put_u64(&b, TAG_CMD_ID, 77);
    proto_put_str(&b, TAG_CMD_NAME, "collect-with-a-name-much-longer-than-thirty-two-bytes");
    proto_put_i64(&b, TAG_CMD_ARG, -2);
    proto_end(&b);
    struct proto_command c;
    const char *why;
    CHECK_EQ_INT(proto_decode_command(b.data + 12, b.len - 12, &c, &why), 0);
    CHECK_EQ_INT(c.id, 77);
    CHECK_EQ_INT(c.arg, -2);
    CHECK_EQ_INT(strlen(c.name), PROTO_CMD_NAME_MAX - 1);
    proto_buf_free(&b);
}

/* Random bytes and random mutations of a valid frame: never a crash. */
static void make_why(struct proto_buf *b)
{
    static struct pm_why_chain c;
    proto_begin(b, PROTO_WHY);
    proto_put_u64(b, TAG_TIME_NS, 77);
    proto_put_str(b, TAG_WHY_TYPE, "cache_demo.Session");
    proto_put_u64(b, TAG_SAMPLED, 3);
    proto_put_u64(b, TAG_VISITED, 1234);
    proto_put_u64(b, TAG_BUDGET_MS, 90);
    proto_put_u64(b, TAG_COMPLETE, 1);
    proto_put_u64(b, TAG_PAUSE_NS, 4242);
    proto_put_str(b, TAG_MESSAGE, "3 of 3");
    memset(&c, 0, sizeof(c));
    c.count = 3;
    c.n_edges = 3;
    snprintf(c.edges[0], sizeof(c.edges[0]), "module cache_demo .CACHE");
    snprintf(c.edges[1], sizeof(c.edges[1]), "dict [<int>]");
    snprintf(c.edges[2], sizeof(c.edges[2]), "Session");
    proto_put_chain(b, &c);
    c.count = 1;
    c.n_edges = 1;
    memset(c.edges[0], 'x', sizeof(c.edges[0])); /* no NUL: cut to EDGE_MAX-1 */
    proto_put_chain(b, &c);
    CHECK(proto_end(b) == 0);
}

static void test_why_round_trip_and_truncations(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    make_why(&b);
    static struct pm_why w;
    const char *why = NULL;
    const uint8_t *p = b.data + PROTO_HEADER_BYTES;
    size_t len = b.len - PROTO_HEADER_BYTES;
    CHECK(proto_decode_why(p, len, &w, &why) == 0);
    CHECK_EQ_INT(w.time_ns, 77);
    CHECK_EQ_INT(w.sampled, 3);
    CHECK_EQ_INT(w.visited, 1234);
    CHECK_EQ_INT(w.budget_ms, 90);
    CHECK_EQ_INT(w.complete, 1);
    CHECK_EQ_INT(w.pause_ns, 4242);
    CHECK(strcmp(w.type, "cache_demo.Session") == 0);
    CHECK(strcmp(w.message, "3 of 3") == 0);
    CHECK_EQ_INT(w.n_chains, 2);
    CHECK_EQ_INT(w.chains[0].count, 3);
    CHECK_EQ_INT(w.chains[0].n_edges, 3);
    CHECK(strcmp(w.chains[0].edges[0], "module cache_demo .CACHE") == 0);
    CHECK(strcmp(w.chains[0].edges[2], "Session") == 0);
    CHECK_EQ_INT(strlen(w.chains[1].edges[0]), PM_WHY_EDGE_MAX - 1);
    /* Every truncation is refused or decodes to something bounded. */
    for (size_t cut = 0; cut < len; cut++) {
        int r = proto_decode_why(p, cut, &w, &why);
        CHECK(r == -1 || r == 0);
        CHECK(w.n_chains <= PM_WHY_MAX_CHAINS);
        for (uint32_t i = 0; i < w.n_chains; i++)
            CHECK(w.chains[i].n_edges >= 1 && w.chains[i].n_edges <= PM_WHY_MAX_EDGES);
    }
    /* A chain field claiming more edges than it carries, too many edges,
     * an edge length past the field, trailing bytes. */
    uint8_t f[64];
    memset(f, 0, sizeof(f));
    f[0] = TAG_CHAIN;
    f[2] = 16 + 2 + 3; /* field length */
    f[4] = 1;          /* count */
    f[12] = 2;         /* n_edges 2, only one present */
    f[20] = 3;
    memcpy(f + 22, "abc", 3);
    CHECK(proto_decode_why(f, 4 + 21, &w, &why) == -1);
    f[12] = 1;
    CHECK(proto_decode_why(f, 4 + 21, &w, &why) == -1); /* no time: refused */
    f[12] = 200;
    CHECK(proto_decode_why(f, 4 + 21, &w, &why) == -1);
    f[12] = 1;
    f[20] = 9; /* edge longer than the field */
    CHECK(proto_decode_why(f, 4 + 21, &w, &why) == -1);
    f[20] = 2; /* one trailing byte */
    CHECK(proto_decode_why(f, 4 + 21, &w, &why) == -1);
    f[12] = 0; /* no edge at all */
    f[20] = 3;
    CHECK(proto_decode_why(f, 4 + 21, &w, &why) == -1);
    proto_buf_free(&b);
}

static void test_command_text_round_trip(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_COMMAND);
    proto_put_u64(&b, TAG_CMD_ID, 5);
    proto_put_str(&b, TAG_CMD_NAME, "why");
    proto_put_i64(&b, TAG_CMD_ARG, 200);
    proto_put_str(&b, TAG_CMD_TEXT, "cache_demo.Session");
    CHECK(proto_end(&b) == 0);
    struct proto_command c;
    const char *why = NULL;
    CHECK(proto_decode_command(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &c,
                               &why) == 0);
    CHECK(strcmp(c.name, "why") == 0 && strcmp(c.text, "cache_demo.Session") == 0);
    CHECK_EQ_INT(c.arg, 200);
    proto_buf_free(&b);
}

/* Bounded pauses (tags from 100): census slices, a reply's longest hold and
 * predicted pause, a command's force flag; absent, they read as 0. */
static void test_pause_fields_round_trip(void)
{
    struct proto_buf b;
    const char *why = NULL;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_CENSUS);
    proto_put_u64(&b, TAG_TIME_NS, 7);
    proto_put_u64(&b, TAG_COST_NS, 900);
    proto_put_u64(&b, TAG_WALL_NS, 1500);
    proto_put_u64(&b, TAG_MAX_SLICE_NS, 300);
    proto_put_u64(&b, TAG_SLICES, 4);
    proto_put_u64(&b, TAG_RESTARTS, 1);
    CHECK(proto_end(&b) == 0);
    struct pm_census c;
    CHECK(proto_decode_census(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &c,
                              &why) == 0);
    CHECK(c.wall_ns == 1500 && c.max_slice_ns == 300 && c.slices == 4 && c.restarts == 1);
    pm_census_free(&c);

    proto_begin(&b, PROTO_REPLY);
    proto_put_u64(&b, TAG_CMD_ID, 3);
    proto_put_i64(&b, TAG_STATUS, -11);
    proto_put_u64(&b, TAG_MAX_HOLD_NS, 4000);
    proto_put_u64(&b, TAG_PREDICT_NS, 2900000000ull);
    CHECK(proto_end(&b) == 0);
    struct pm_reply r;
    CHECK(proto_decode_reply(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &r,
                             &why) == 0);
    CHECK(r.max_hold_ns == 4000 && r.predict_ns == 2900000000ull && r.status == -11);

    proto_begin(&b, PROTO_COMMAND);
    proto_put_u64(&b, TAG_CMD_ID, 4);
    proto_put_str(&b, TAG_CMD_NAME, "hunt");
    CHECK(proto_end(&b) == 0);
    struct proto_command cmd;
    CHECK(proto_decode_command(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &cmd,
                               &why) == 0);
    CHECK(cmd.flags == 0);
    proto_begin(&b, PROTO_COMMAND);
    proto_put_u64(&b, TAG_CMD_ID, 4);
    proto_put_str(&b, TAG_CMD_NAME, "hunt");
    proto_put_u64(&b, TAG_CMD_FLAGS, PROTO_CMD_FORCE);
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_command(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &cmd,
                               &why) == 0);
    CHECK(cmd.flags == PROTO_CMD_FORCE);
    /* A wrong length is refused like any integer field's. */
    proto_begin(&b, PROTO_COMMAND);
    proto_put_str(&b, TAG_CMD_NAME, "hunt");
    proto_put_str(&b, TAG_CMD_FLAGS, "x");
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_command(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &cmd,
                               &why) < 0);
    proto_buf_free(&b);
}

/* Bytes per type (tags 120-122): each TYPE_BYTES belongs to the TYPE before
 * it; a census without them has no bytes; one before any TYPE, or of the
 * wrong length, is refused. */
static void test_type_bytes_round_trip(void)
{
    struct proto_buf b;
    const char *why = NULL;
    struct pm_census c;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_CENSUS);
    proto_put_u64(&b, TAG_TIME_NS, 7);
    proto_put_u64(&b, TAG_BYTES_TOTAL, 5000);
    proto_put_str(&b, TAG_BYTES_NOTE, "dict bytes approximate");
    proto_put_record(&b, TAG_TYPE, (const uint64_t[]){3, 1}, 2, "list");
    proto_put_record(&b, TAG_TYPE_BYTES, (const uint64_t[]){4000, (uint64_t)-24, 0}, 3, "");
    proto_put_record(&b, TAG_TYPE, (const uint64_t[]){2, 0}, 2, "type");
    proto_put_record(&b, TAG_TYPE_BYTES, (const uint64_t[]){1000, 0, PROTO_TYPE_BYTES_APPROX},
                     3, "");
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_census(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &c,
                              &why) == 0);
    CHECK(c.has_bytes && c.bytes_total == 5000 && c.n_types == 2);
    CHECK(strcmp(c.bytes_note, "dict bytes approximate") == 0);
    CHECK(c.types[0].bytes == 4000 && c.types[0].bytes_delta == -24 && !c.types[0].bytes_approx);
    CHECK(c.types[1].bytes == 1000 && c.types[1].bytes_approx);
    pm_census_free(&c);

    proto_begin(&b, PROTO_CENSUS); /* an older agent: no bytes at all */
    proto_put_u64(&b, TAG_TIME_NS, 7);
    proto_put_record(&b, TAG_TYPE, (const uint64_t[]){3, 1}, 2, "list");
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_census(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &c,
                              &why) == 0);
    CHECK(!c.has_bytes && c.types[0].bytes == 0);
    pm_census_free(&c);

    proto_begin(&b, PROTO_CENSUS);
    proto_put_u64(&b, TAG_TIME_NS, 7);
    proto_put_record(&b, TAG_TYPE_BYTES, (const uint64_t[]){1, 0, 0}, 3, "");
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_census(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &c,
                              &why) < 0);
    CHECK(why && strstr(why, "before any type"));

    proto_begin(&b, PROTO_CENSUS);
    proto_put_u64(&b, TAG_TIME_NS, 7);
    proto_put_record(&b, TAG_TYPE, (const uint64_t[]){3, 1}, 2, "list");
    proto_put_record(&b, TAG_TYPE_BYTES, (const uint64_t[]){1, 0}, 2, "x");
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_census(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &c,
                              &why) < 0);
    proto_buf_free(&b);
}

/* The lease (tags 150-152): COMMAND LEASE_S, SAMPLE lease left and owner,
 * SITES kind GROWTH; absent fields mean no lease. */
static void test_lease_fields_round_trip(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    const char *why;
    struct proto_command cmd;
    proto_begin(&b, PROTO_COMMAND);
    proto_put_u64(&b, TAG_CMD_ID, 5);
    proto_put_str(&b, TAG_CMD_NAME, "tracemalloc");
    proto_put_i64(&b, TAG_CMD_ARG, 1);
    proto_put_i64(&b, TAG_LEASE_S, 300);
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_command(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &cmd,
                               &why) == 0);
    CHECK_EQ_INT(cmd.lease_s, 300);
    proto_begin(&b, PROTO_COMMAND);
    proto_put_str(&b, TAG_CMD_NAME, "tracemalloc");
    proto_put_i64(&b, TAG_LEASE_S, -1);
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_command(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &cmd,
                               &why) < 0);

    struct pm_agent_sample s;
    make_sample(&b);
    CHECK(proto_decode_sample(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &s,
                              &why) == 0);
    CHECK(s.tm_lease_left_ms == 0 && s.tm_owner == PM_TM_OWNER_NONE);
    proto_begin(&b, PROTO_SAMPLE);
    proto_put_u64(&b, TAG_TIME_NS, 1);
    proto_put_u64(&b, TAG_TM_OWNER, PM_TM_OWNER_PYMEMTOP);
    proto_put_u64(&b, TAG_TM_LEASE_LEFT_MS, 252000);
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_sample(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &s,
                              &why) == 0);
    CHECK(s.tm_lease_left_ms == 252000 && s.tm_owner == PM_TM_OWNER_PYMEMTOP);

    static struct pm_sites sites;
    proto_begin(&b, PROTO_SITES);
    proto_put_u64(&b, TAG_TIME_NS, 1);
    proto_put_u64(&b, TAG_KIND, PM_SITES_GROWTH);
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_sites(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &sites,
                             &why) == 0);
    CHECK(sites.kind == PM_SITES_GROWTH);
    proto_begin(&b, PROTO_SITES);
    proto_put_u64(&b, TAG_TIME_NS, 1);
    proto_put_u64(&b, TAG_KIND, PM_SITES_GROWTH + 1);
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_sites(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &sites,
                             &why) < 0);
    proto_buf_free(&b);
}

/* SHAPES: stats and recent shapes round trip; the "unchanged" form;
 * bounded under every truncation; a bad path length refused. */
static void test_shapes_round_trip_and_truncations(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_SHAPES);
    proto_put_u64(&b, TAG_CAP_TIME_NS, 5000);
    proto_put_u64(&b, TAG_CAP_SINCE_NS, 1000);
    proto_put_u64(&b, TAG_CAP_BUDGET_BP, 100);
    proto_put_u64(&b, TAG_CAP_COST_NS, 40);
    const int64_t caps[3] = {3, 1, 0}, cols[3] = {30, 3, 1};
    proto_put_gens(&b, TAG_CAP_CAPTURES, caps);
    proto_put_gens(&b, TAG_CAP_COLLECTIONS, cols);
    proto_put_str(&b, TAG_CAP_STATE, "on");
    proto_put_u64(&b, 149, 7); /* a tag of ours this build does not know: skipped */
    static struct pm_recent_shape r;
    memset(&r, 0, sizeof(r));
    r.shape.count = 12;
    r.shape.bytes = 960;
    r.shape.length = 2;
    r.objects = 24;
    r.est_objects = 240;
    r.first_seen_ns = 1500;
    r.last_seen_ns = 4500;
    strcpy(r.shape.path, "Node -.next-> Node -.next-> Node");
    strcpy(r.shape.advice, "break .next on one side");
    for (int i = 0; i < PM_MAX_RECENT_SHAPES + 3; i++)
        proto_put_recent_shape(&b, &r);
    CHECK(proto_end(&b) == 0);
    static struct pm_capture c;
    const char *why = NULL;
    const uint8_t *p = b.data + PROTO_HEADER_BYTES;
    size_t len = b.len - PROTO_HEADER_BYTES;
    CHECK(proto_decode_shapes(p, len, &c, &why) == 0);
    CHECK_EQ_INT(c.time_ns, 5000);
    CHECK_EQ_INT(c.since_ns, 1000);
    CHECK_EQ_INT(c.budget_bp, 100);
    CHECK_EQ_INT(c.captures[0], 3);
    CHECK_EQ_INT(c.collections[2], 1);
    CHECK(strcmp(c.state, "on") == 0);
    CHECK_EQ_INT(c.unchanged, 0);
    CHECK_EQ_INT(c.n_shapes, PM_MAX_RECENT_SHAPES); /* the rest ignored */
    CHECK_EQ_INT(c.shapes[1].est_objects, 240);
    CHECK_EQ_INT(c.shapes[1].last_seen_ns, 4500);
    CHECK(strcmp(c.shapes[0].shape.path, r.shape.path) == 0);
    CHECK(strcmp(c.shapes[0].shape.advice, r.shape.advice) == 0);
    for (size_t cut = 0; cut < len; cut++) {
        int rc = proto_decode_shapes(p, cut, &c, &why);
        CHECK(rc == -1 || rc == 0);
        CHECK(c.n_shapes <= PM_MAX_RECENT_SHAPES);
    }
    /* A path length past the field. */
    uint8_t f[4 + 8 + 12 + 64];
    memset(f, 0, sizeof(f));
    f[0] = TAG_CAP_TIME_NS;
    f[2] = 8;
    f[4] = 1;
    f[12] = TAG_RECENT_SHAPE;
    f[14] = 58 + 3;
    f[16 + 56] = 9;
    CHECK(proto_decode_shapes(f, 12 + 4 + 61, &c, &why) == -1);
    f[16 + 56] = 0; /* an empty path */
    CHECK(proto_decode_shapes(f, 12 + 4 + 61, &c, &why) == -1);
    /* The unchanged form keeps the kept shapes (derive_capture_merge). */
    proto_begin(&b, PROTO_SHAPES);
    proto_put_u64(&b, TAG_CAP_TIME_NS, 6000);
    proto_put_u64(&b, TAG_CAP_UNCHANGED, 1);
    CHECK(proto_end(&b) == 0);
    CHECK(proto_decode_shapes(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &c,
                              &why) == 0);
    CHECK_EQ_INT(c.unchanged, 1);
    CHECK_EQ_INT(c.n_shapes, 0);
    proto_buf_free(&b);
}

static void test_fuzz_decoders(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    make_sample(&b);
    srand(12345);
    uint8_t buf[2048];
    const char *why;
    struct pm_hello hello;
    struct pm_reply reply;
    struct proto_command cmd;
    struct proto_busy holder;
    for (int it = 0; it < 200000; it++) {
        size_t n = b.len - 12;
        memcpy(buf, b.data + 12, n);
        int flips = 1 + rand() % 8;
        for (int k = 0; k < flips; k++)
            buf[rand() % n] = (uint8_t)rand();
        if (it % 4 == 0)
            n = (size_t)rand() % n;
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        proto_decode_sample(exact, n, &sample_out, &why);
        proto_decode_hello(exact, n, &hello, &why);
        proto_decode_reply(exact, n, &reply, &why);
        proto_decode_command(exact, n, &cmd, &why);
        proto_decode_busy(exact, n, &holder, &why);
        CHECK(sample_out.n_pauses <= PM_MAX_PAUSES_PER_SAMPLE);
        free(exact);
    }
    proto_buf_free(&b);
}

/* BUSY from an agent serving its most monitors, and from an older agent
 * (PID only): what the monitor prints depends on which fields came. */
static void test_busy_monitors_and_old_agents(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    proto_begin(&b, PROTO_BUSY);
    proto_put_i64(&b, TAG_PID, 41);
    proto_put_u64(&b, TAG_MONITORS, 8);
    proto_put_u64(&b, TAG_MONITORS_MAX, 8);
    proto_put_str(&b, TAG_MONITOR_PIDS, "41, 42");
    CHECK_EQ_INT(proto_end(&b), 0);
    struct proto_busy busy;
    const char *why = NULL;
    CHECK_EQ_INT(proto_decode_busy(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &busy,
                                   &why), 0);
    CHECK(busy.holder_pid == 41 && busy.monitors == 8 && busy.max == 8);
    CHECK(strcmp(busy.pids, "41, 42") == 0);
    proto_begin(&b, PROTO_BUSY);
    proto_put_i64(&b, TAG_PID, 7);
    CHECK_EQ_INT(proto_end(&b), 0);
    CHECK_EQ_INT(proto_decode_busy(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &busy,
                                   &why), 0);
    CHECK(busy.holder_pid == 7 && busy.monitors == 0 && busy.pids[0] == 0);
    /* HELLO and SAMPLE carry the monitors connected now. */
    proto_begin(&b, PROTO_HELLO);
    proto_put_i64(&b, TAG_PID, 5);
    proto_put_str(&b, TAG_PYTHON, "3.12.1");
    proto_put_u64(&b, TAG_MONITORS, 3);
    CHECK_EQ_INT(proto_end(&b), 0);
    struct pm_hello h;
    CHECK_EQ_INT(proto_decode_hello(b.data + PROTO_HEADER_BYTES, b.len - PROTO_HEADER_BYTES, &h,
                                    &why), 0);
    CHECK(h.monitors == 3);
    proto_buf_free(&b);
}

static void test_reader_reassembles_split_frames(void)
{
    struct proto_buf b;
    proto_buf_init(&b);
    make_sample(&b);
    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    struct proto_reader r;
    proto_reader_init(&r, PROTO_MAX_PAYLOAD);
    int frames = 0;
    for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < b.len; i++) { /* one byte at a time */
            CHECK_EQ_INT(write(fds[1], b.data + i, 1), 1);
            CHECK_EQ_INT(proto_reader_fill(&r, fds[0]), 1);
            struct proto_header h;
            const uint8_t *p;
            const char *why;
            int got = proto_reader_next(&r, &h, &p, &why);
            CHECK(got >= 0);
            if (got == 1) {
                frames++;
                CHECK_EQ_INT(i, b.len - 1);
                CHECK_EQ_INT(proto_decode_sample(p, h.length, &sample_out, &why), 0);
            }
        }
    }
    CHECK_EQ_INT(frames, 3);
    /* Garbage after valid frames is reported, not parsed. */
    CHECK_EQ_INT(write(fds[1], "garbage-garbage", 15), 15);
    CHECK(proto_reader_fill(&r, fds[0]) > 0);
    struct proto_header h;
    const uint8_t *p;
    const char *why = NULL;
    CHECK_EQ_INT(proto_reader_next(&r, &h, &p, &why), -1);
    proto_reader_free(&r);
    close(fds[0]);
    close(fds[1]);
    proto_buf_free(&b);
}

static void test_reader_caps_payload(void)
{
    struct proto_reader r;
    proto_reader_init(&r, 64);
    uint8_t h[12] = {'P', 'M', 'T', 'P', 1, 0, 4, 0, 0, 1, 0, 0}; /* 256-byte payload */
    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    CHECK_EQ_INT(write(fds[1], h, 12), 12);
    CHECK_EQ_INT(proto_reader_fill(&r, fds[0]), 12);
    struct proto_header ph;
    const uint8_t *p;
    const char *why = NULL;
    CHECK_EQ_INT(proto_reader_next(&r, &ph, &p, &why), -1);
    proto_reader_free(&r);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    RUN(test_sample_round_trip);
    RUN(test_busy_monitors_and_old_agents);
    RUN(test_missing_fields_default_unknown);
    RUN(test_every_truncation_refused_or_safe);
    RUN(test_bad_headers);
    RUN(test_wrong_field_lengths);
    RUN(test_strings_with_nul_refused);
    RUN(test_command_round_trip_and_truncated_name);
    RUN(test_fuzz_decoders);
    RUN(test_why_round_trip_and_truncations);
    RUN(test_shapes_round_trip_and_truncations);
    RUN(test_command_text_round_trip);
    RUN(test_lease_fields_round_trip);
    RUN(test_pause_fields_round_trip);
    RUN(test_type_bytes_round_trip);
    RUN(test_reader_reassembles_split_frames);
    RUN(test_reader_caps_payload);
    return HARNESS_END();
}
