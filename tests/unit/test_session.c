/* Unit tests for what probes/ keeps of a session without a target: the deep
 * copy a frozen screen reads (session_clone). Run under make asan too: the
 * copy must stay readable after the live session is mutated and closed. */
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "harness.h"
#include "proto.h"
#include "replay.h"
#include "session.h"

#define SEC 1000000000ull

static void census(struct session *s, uint64_t t_s, const char *name, uint64_t count)
{
    struct pm_census c = {.time_ns = t_s * SEC, .kind = PM_CENSUS_KIND_CENSUS, .types_total = 1,
                          .n_types = 1, .objects = count};
    c.types = calloc(1, sizeof(*c.types));
    c.types[0].count = count;
    snprintf(c.types[0].name, sizeof(c.types[0].name), "%s", name);
    typetable_update(s->types, &c);
    pm_census_free(&c);
}

/* A session as the dashboard has it after a few samples. */
static void fill(struct session *s)
{
    CHECK_EQ_INT(replay_session_init(s, 8), 0);
    for (uint64_t i = 0; i < 5; i++) {
        series_push(&s->rss_kib, i * SEC, 1000.0 + (double)i);
        series_push(&s->anon_kib, i * SEC, 500.0);
        series_push(&s->alloc_blocks, i * SEC, 42.0);
        series_push(&s->observer_ns, i * SEC, 7.0);
    }
    census(s, 1, "Session", 10);
    census(s, 2, "Session", 20);
    eventlog_push(s->events, 3 * SEC, EVENT_INFO, "attached");
    s->diff.n_types = 2;
    s->diff.types = calloc(2, sizeof(*s->diff.types));
    snprintf(s->diff.types[0].name, sizeof(s->diff.types[0].name), "dict");
    s->diff.types[0].delta = 5;
    s->have_diff = true;
    s->proc.rss_kib = 1004;
}

static void check_as_filled(const struct session *c)
{
    CHECK_EQ_INT(series_len(&c->rss_kib), 5);
    CHECK(series_last(&c->rss_kib) == 1004.0);
    CHECK(series_value_at(&c->rss_kib, 0) == 1000.0);
    CHECK(series_last(&c->observer_ns) == 7.0);
    struct typetable_row rows[4];
    size_t n = typetable_rows(c->types, TYPETABLE_BY_COUNT, NULL, rows, 4);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(rows[0].count, 20);
    CHECK_EQ_INT(rows[0].delta_attach, 10);
    CHECK_EQ_INT(typetable_censuses(c->types), 2);
    CHECK_EQ_INT(eventlog_len(c->events), 1);
    CHECK(strcmp(eventlog_at(c->events, 0)->text, "attached") == 0);
    CHECK_EQ_INT(c->diff.n_types, 2);
    CHECK(strcmp(c->diff.types[0].name, "dict") == 0);
    CHECK_EQ_INT(c->diff.types[0].delta, 5);
    CHECK_EQ_INT(c->proc.rss_kib, 1004);
    CHECK(c->link == NULL && c->probe == NULL && c->inbox == NULL);
}

static void test_clone_shares_nothing(void)
{
    struct session live;
    fill(&live);
    struct session *c = session_clone(&live);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK(c->rss_kib.value != live.rss_kib.value && c->types != live.types &&
          c->events != live.events && c->diff.types != live.diff.types);
    check_as_filled(c);
    /* The live session keeps sampling: series wrap, types grow and new ones
     * appear, the log fills, a new diff replaces the old one. */
    for (uint64_t i = 5; i < 40; i++) {
        series_push(&live.rss_kib, i * SEC, 9999.0);
        series_push(&live.observer_ns, i * SEC, 1e9);
    }
    census(&live, 3, "Session", 500);
    census(&live, 4, "Other", 1);
    for (int i = 0; i < 1500; i++)
        eventlog_push(live.events, 5 * SEC, EVENT_WARN, "later");
    free(live.diff.types);
    live.diff.types = calloc(1, sizeof(*live.diff.types));
    live.diff.n_types = 1;
    live.proc.rss_kib = 1;
    check_as_filled(c);
    /* Even with the live session gone, the copy reads as it was. */
    session_close(&live);
    check_as_filled(c);
    session_clone_free(c);
}

/* Freed per second: the counter's rise over the samples of the last 10 s. */
static void test_freed_per_s_from_the_counter(void)
{
    struct session s;
    CHECK_EQ_INT(replay_session_init(&s, 64), 0);
    CHECK(derive_freed_per_s(&s.collected[0]) == 0);
    for (uint64_t i = 0; i <= 20; i++) /* 100 objects a second in gen 0, none in gen 2 */
        series_push(&s.collected[0], i * SEC, 100.0 * (double)i);
    for (uint64_t i = 0; i <= 20; i++)
        series_push(&s.collected[2], i * SEC, 7.0);
    CHECK(derive_freed_per_s(&s.collected[0]) == 100.0);
    CHECK(derive_freed_per_s(&s.collected[2]) == 0);
    /* A burst 5 s ago counts over the window, not the last interval. */
    series_push(&s.collected[1], 0, 0);
    series_push(&s.collected[1], 15 * SEC, 0);
    series_push(&s.collected[1], 16 * SEC, 1000);
    series_push(&s.collected[1], 20 * SEC, 1000);
    CHECK(derive_freed_per_s(&s.collected[1]) == 200.0); /* 1000 over 15 s .. 20 s */
    s.agent.uncollectable[0] = 2;
    s.agent.uncollectable[2] = -1;
    CHECK_EQ_INT(derive_uncollectable_total(&s.agent), 2);
    struct pm_alloc a = {.pymalloc_used_bytes = 300, .pymalloc_free_bytes = 100};
    CHECK(derive_fragmentation(&a) == 0.25);
    a.pymalloc_used_bytes = -1;
    CHECK(derive_fragmentation(&a) == -1);
    session_close(&s);
}

/* A SHAPES frame that says "unchanged" keeps the shapes already held, and
 * takes its counters; rates come from the capture's own times. */
static void test_capture_merge_and_rates(void)
{
    static struct pm_capture kept, in;
    memset(&kept, 0, sizeof(kept));
    memset(&in, 0, sizeof(in));
    in.time_ns = 61 * SEC;
    in.since_ns = 1 * SEC;
    in.cost_ns = SEC / 2;
    in.n_shapes = 2;
    in.shapes[1].est_objects = 600;
    snprintf(in.shapes[1].shape.path, sizeof(in.shapes[1].shape.path), "A -.x-> A");
    derive_capture_merge(&kept, &in);
    CHECK_EQ_INT(kept.n_shapes, 2);
    CHECK(derive_shape_objects_per_min(&kept, &kept.shapes[1]) == 600.0);
    CHECK(derive_capture_wall_share(&kept) > 0.0083 && derive_capture_wall_share(&kept) < 0.0084);
    memset(&in, 0, sizeof(in));
    in.time_ns = 121 * SEC;
    in.since_ns = 1 * SEC;
    in.unchanged = 1;
    in.objects = 77;
    derive_capture_merge(&kept, &in);
    CHECK_EQ_INT(kept.n_shapes, 2);
    CHECK_EQ_INT(kept.objects, 77);
    CHECK(strcmp(kept.shapes[1].shape.path, "A -.x-> A") == 0);
    CHECK(derive_shape_objects_per_min(&kept, &kept.shapes[1]) == 300.0);
    in.unchanged = 0; /* a full frame replaces them */
    derive_capture_merge(&kept, &in);
    CHECK_EQ_INT(kept.n_shapes, 0);
    in.time_ns = in.since_ns; /* no time yet: no rate */
    CHECK(derive_shape_objects_per_min(&in, &kept.shapes[0]) == 0);
}

int main(void)
{
    RUN(test_freed_per_s_from_the_counter);
    RUN(test_clone_shares_nothing);
    RUN(test_capture_merge_and_rates);
    return HARNESS_END();
}
