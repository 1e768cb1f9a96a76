/* Unit tests for the census type table: growth, suspects, rate, sorting. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "proto.h"
#include "typetable.h"

#define SEC 1000000000ull

/* A census built from "name", count pairs. */
struct census_in {
    const char *name;
    uint64_t count;
    int64_t delta;
};

static struct pm_census mk(uint64_t t_s, const struct census_in *in, size_t n, int truncated,
                           uint32_t snapshots)
{
    struct pm_census c = {.time_ns = t_s * SEC + 1, .kind = PM_CENSUS_KIND_CENSUS,
                          .truncated = (uint8_t)truncated, .snapshots = snapshots,
                          .types_total = (uint32_t)n, .n_types = (uint32_t)n};
    c.types = calloc(n ? n : 1, sizeof(*c.types));
    for (size_t i = 0; i < n; i++) {
        c.types[i].count = in[i].count;
        c.types[i].delta = in[i].delta;
        snprintf(c.types[i].name, sizeof(c.types[i].name), "%s", in[i].name);
        c.objects += in[i].count;
    }
    return c;
}

static void feed(struct typetable *t, uint64_t t_s, const struct census_in *in, size_t n,
                 int truncated, uint32_t snapshots)
{
    struct pm_census c = mk(t_s, in, n, truncated, snapshots);
    typetable_update(t, &c);
    pm_census_free(&c);
}

static const struct typetable_row *find(const struct typetable_row *rows, size_t n,
                                        const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

static void test_growth_since_attach(void)
{
    struct typetable *t = typetable_new(3, 16);
    feed(t, 0, (struct census_in[]){{"dict", 100, 0}, {"list", 50, 0}}, 2, 0, 0);
    feed(t, 10, (struct census_in[]){{"dict", 130, 0}, {"list", 40, 0}}, 2, 0, 0);
    struct typetable_row rows[8];
    size_t n = typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 8);
    CHECK_EQ_INT(n, 2);
    CHECK(strcmp(rows[0].name, "dict") == 0);
    CHECK_EQ_INT(rows[0].count, 130);
    CHECK_EQ_INT(rows[0].delta_attach, 30);
    CHECK_EQ_INT(rows[1].delta_attach, -10);
    CHECK_EQ_INT(typetable_size(t), 2);
    CHECK_EQ_INT(typetable_objects(t), 170);
    CHECK_EQ_INT(typetable_censuses(t), 2);
    CHECK(!typetable_have_snapshot(t));
    typetable_free(t);
}

static void test_suspect_after_k_increases(void)
{
    const unsigned k = 3;
    struct typetable *t = typetable_new(k, 16);
    struct typetable_row rows[4];
    uint64_t counts[] = {10, 11, 12, 13, 13, 14};
    /* Census 0 is the start; increases at 1, 2, 3 make K = 3. */
    for (unsigned i = 0; i < 6; i++) {
        feed(t, i, (struct census_in[]){{"Leak", counts[i], 0}}, 1, 0, 0);
        typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 4);
        bool want = i == 3; /* 3 increases; then flat at 4 resets; 1 increase at 5 */
        CHECK_EQ_INT(rows[0].suspect, want);
    }
    typetable_free(t);
}

static void test_suspect_window_two(void)
{
    struct typetable *t = typetable_new(2, 8);
    struct typetable_row rows[4];
    feed(t, 0, (struct census_in[]){{"A", 1, 0}}, 1, 0, 0);
    feed(t, 1, (struct census_in[]){{"A", 2, 0}}, 1, 0, 0);
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 4);
    CHECK(!rows[0].suspect);
    feed(t, 2, (struct census_in[]){{"A", 3, 0}}, 1, 0, 0);
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 4);
    CHECK(rows[0].suspect);
    feed(t, 3, (struct census_in[]){{"A", 2, 0}}, 1, 0, 0);
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 4);
    CHECK(!rows[0].suspect);
    typetable_free(t);
}

static void test_disappeared_counts_zero(void)
{
    struct typetable *t = typetable_new(2, 8);
    feed(t, 0, (struct census_in[]){{"A", 5, 0}, {"B", 7, 0}}, 2, 0, 0);
    feed(t, 60, (struct census_in[]){{"A", 5, 0}}, 1, 0, 0);
    struct typetable_row rows[4];
    size_t n = typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 4);
    CHECK_EQ_INT(n, 2);
    const struct typetable_row *b = find(rows, n, "B");
    CHECK(b != NULL);
    CHECK_EQ_INT(b->count, 0);
    CHECK_EQ_INT(b->delta_attach, -7);
    CHECK(fabs(b->rate_per_min - -7.0) < 1e-9);
    /* Sorted by count: A first, B (0) last. */
    CHECK(strcmp(rows[0].name, "A") == 0);
    /* Missing from a truncated census: unknown, keeps its last count. */
    feed(t, 120, (struct census_in[]){{"B", 3, 0}}, 1, 1, 0);
    n = typetable_rows(t, TYPETABLE_BY_NAME, NULL, rows, 4);
    const struct typetable_row *a = find(rows, n, "A");
    CHECK(a != NULL && a->count == 5);
    typetable_free(t);
}

static void test_new_type_grows_from_zero(void)
{
    struct typetable *t = typetable_new(2, 8);
    feed(t, 0, (struct census_in[]){{"A", 5, 0}}, 1, 0, 0);
    feed(t, 60, (struct census_in[]){{"A", 5, 0}, {"N", 10, 0}}, 2, 0, 0);
    feed(t, 120, (struct census_in[]){{"A", 5, 0}, {"N", 20, 0}}, 2, 0, 0);
    struct typetable_row rows[4];
    size_t n = typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 4);
    const struct typetable_row *r = find(rows, n, "N");
    CHECK(r != NULL);
    CHECK_EQ_INT(r->delta_attach, 20);
    CHECK(r->suspect); /* 0 -> 10 -> 20 */
    CHECK(fabs(r->rate_per_min - 10.0) < 1e-9);
    typetable_free(t);
}

static void test_rate_least_squares(void)
{
    /* Points (0 s, 0), (30 s, 20), (60 s, 10), (90 s, 30): the least-squares
     * slope is 0.2667 per second = 16 per minute. */
    struct typetable *t = typetable_new(2, 16);
    uint64_t ts[] = {0, 30, 60, 90}, cs[] = {0, 20, 10, 30};
    for (int i = 0; i < 4; i++)
        feed(t, ts[i], (struct census_in[]){{"X", cs[i], 0}}, 1, 0, 0);
    struct typetable_row rows[2];
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 2);
    CHECK(fabs(rows[0].rate_per_min - 16.0) < 1e-6);
    typetable_free(t);

    /* Only the last `history` points count: a flat start is forgotten. */
    t = typetable_new(2, 3);
    uint64_t c2[] = {100, 100, 100, 100, 160, 220};
    for (int i = 0; i < 6; i++)
        feed(t, (uint64_t)i * 60, (struct census_in[]){{"Y", c2[i], 0}}, 1, 0, 0);
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 2);
    CHECK(fabs(rows[0].rate_per_min - 60.0) < 1e-6);
    typetable_free(t);

    /* One point: no rate. */
    t = typetable_new(2, 8);
    feed(t, 0, (struct census_in[]){{"Z", 9, 0}}, 1, 0, 0);
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 2);
    CHECK(rows[0].rate_per_min == 0);
    typetable_free(t);
}

static void test_sorting_and_filter(void)
{
    struct typetable *t = typetable_new(2, 8);
    feed(t, 0,
         (struct census_in[]){{"b.B", 10, 0}, {"a.A", 30, 0}, {"c.C", 20, 0}, {"dict", 5, 0}},
         4, 0, 0);
    feed(t, 60,
         (struct census_in[]){{"b.B", 40, 5}, {"a.A", 31, -2}, {"c.C", 10, 9}, {"dict", 5, 0}},
         4, 0, 1);
    struct typetable_row rows[8];
    size_t n = typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 8);
    CHECK_EQ_INT(n, 4);
    CHECK(strcmp(rows[0].name, "b.B") == 0 && strcmp(rows[1].name, "a.A") == 0 &&
          strcmp(rows[2].name, "c.C") == 0 && strcmp(rows[3].name, "dict") == 0);
    n = typetable_rows(t, TYPETABLE_BY_DELTA_ATTACH, NULL, rows, 8);
    CHECK(strcmp(rows[0].name, "b.B") == 0 && strcmp(rows[3].name, "c.C") == 0);
    n = typetable_rows(t, TYPETABLE_BY_DELTA_SNAPSHOT, NULL, rows, 8);
    CHECK(strcmp(rows[0].name, "c.C") == 0 && rows[0].delta_snapshot == 9);
    CHECK(strcmp(rows[3].name, "a.A") == 0 && rows[3].delta_snapshot == -2);
    CHECK(typetable_have_snapshot(t));
    n = typetable_rows(t, TYPETABLE_BY_RATE, NULL, rows, 8);
    CHECK(strcmp(rows[0].name, "b.B") == 0 && fabs(rows[0].rate_per_min - 30.0) < 1e-9);
    n = typetable_rows(t, TYPETABLE_BY_NAME, NULL, rows, 8);
    CHECK(strcmp(rows[0].name, "a.A") == 0 && strcmp(rows[3].name, "dict") == 0);
    /* Cap keeps the first rows of the order. */
    n = typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 2);
    CHECK_EQ_INT(n, 2);
    CHECK(strcmp(rows[1].name, "a.A") == 0);
    /* Filter: substring of the name. */
    n = typetable_rows(t, TYPETABLE_BY_COUNT, ".", rows, 8);
    CHECK_EQ_INT(n, 3);
    n = typetable_rows(t, TYPETABLE_BY_COUNT, "dic", rows, 8);
    CHECK_EQ_INT(n, 1);
    n = typetable_rows(t, TYPETABLE_BY_COUNT, "", rows, 8);
    CHECK_EQ_INT(n, 4);
    n = typetable_rows(t, TYPETABLE_BY_COUNT, "nothing", rows, 8);
    CHECK_EQ_INT(n, 0);
    typetable_free(t);
}

static void test_snapshot_delta_of_vanished_type(void)
{
    struct typetable *t = typetable_new(2, 8);
    /* Snapshot 1 taken with G at 4; the census after says G 6, delta +2. */
    feed(t, 0, (struct census_in[]){{"G", 6, 2}, {"H", 1, 0}}, 2, 0, 1);
    feed(t, 10, (struct census_in[]){{"H", 1, 0}}, 1, 0, 1);
    struct typetable_row rows[4];
    size_t n = typetable_rows(t, TYPETABLE_BY_NAME, NULL, rows, 4);
    const struct typetable_row *g = find(rows, n, "G");
    CHECK(g != NULL && g->count == 0 && g->delta_snapshot == -4);
    typetable_free(t);
}

static void test_ignores_other_kinds_and_duplicates(void)
{
    struct typetable *t = typetable_new(2, 8);
    struct pm_census c = mk(0, (struct census_in[]){{"A", 3, 0}}, 1, 0, 2);
    c.kind = PM_CENSUS_KIND_DIFF_PREVIOUS;
    typetable_update(t, &c);
    pm_census_free(&c);
    CHECK_EQ_INT(typetable_censuses(t), 0);
    CHECK_EQ_INT(typetable_size(t), 0);
    /* The same name twice in one census is one type with the sum. */
    feed(t, 0, (struct census_in[]){{"A", 3, 0}, {"A", 4, 0}}, 2, 0, 0);
    struct typetable_row rows[4];
    size_t n = typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 4);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(rows[0].count, 7);
    typetable_free(t);
}

static void test_many_types(void)
{
    struct typetable *t = typetable_new(2, 4);
    enum { N = 5000 };
    struct census_in *in = calloc(N, sizeof(*in));
    char(*names)[32] = calloc(N, sizeof(*names));
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(names[i], sizeof(names[i]), "m%d.T%d", i % 7, i);
            in[i] = (struct census_in){names[i], (uint64_t)(i + round), 0};
        }
        feed(t, (uint64_t)round * 10, in, N, 0, 0);
    }
    CHECK_EQ_INT(typetable_size(t), N);
    struct typetable_row *rows = calloc(N, sizeof(*rows));
    size_t n = typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, N);
    CHECK_EQ_INT(n, N);
    CHECK(strcmp(rows[0].name, "m1.T4999") == 0 && rows[0].count == 5001);
    CHECK(rows[0].suspect && rows[0].delta_attach == 2);
    free(rows);
    free(names);
    free(in);
    typetable_free(t);
}

/* A census with bytes: {name, count, bytes, bytes_delta} per type. */
struct bytes_in {
    const char *name;
    uint64_t count, bytes;
    int64_t bytes_delta;
};

static void feed_bytes(struct typetable *t, uint64_t t_s, const struct bytes_in *in, size_t n,
                       uint32_t snapshots)
{
    struct census_in cin[8] = {{0}};
    for (size_t i = 0; i < n; i++)
        cin[i] = (struct census_in){in[i].name, in[i].count, 0};
    struct pm_census c = mk(t_s, cin, n, 0, snapshots);
    c.has_bytes = 1;
    for (size_t i = 0; i < n; i++) {
        c.types[i].bytes = in[i].bytes;
        c.types[i].bytes_delta = in[i].bytes_delta;
        c.bytes_total += in[i].bytes;
    }
    typetable_update(t, &c);
    pm_census_free(&c);
}

/* A container that keeps growing: flat count, bytes up every census. It
 * becomes a suspect by bytes alone, its deltas and rate are in bytes, and
 * it grows "by bytes"; a type growing by count at a steady size does not. */
static void test_bytes_deltas_rate_suspect(void)
{
    struct typetable *t = typetable_new(3, 16);
    struct typetable_row rows[4];
    for (int i = 0; i < 5; i++) {
        struct bytes_in in[] = {{"Bag", 1, 1000 + 600 * (uint64_t)i, 0},
                                {"Node", 10 + (uint64_t)i, 500 + 48 * (uint64_t)i, 0},
                                {"Flat", 7, 700, 0}};
        feed_bytes(t, (uint64_t)i * 10, in, 3, 0);
        size_t n = typetable_rows(t, TYPETABLE_BY_NAME, NULL, rows, 4);
        CHECK_EQ_INT(n, 3);
        const struct typetable_row *bag = find(rows, n, "Bag");
        /* 4 censuses of growth after 3 increases: window 3 from i = 3. */
        CHECK(bag->suspect == (i >= 3));
        CHECK(bag->bytes_known && bag->count == 1 && bag->delta_attach == 0);
    }
    size_t n = typetable_rows(t, TYPETABLE_BY_BYTES_RATE, NULL, rows, 4);
    CHECK(strcmp(rows[0].name, "Bag") == 0);
    const struct typetable_row *bag = find(rows, n, "Bag"), *node = find(rows, n, "Node"),
                               *flat = find(rows, n, "Flat");
    CHECK_EQ_INT(bag->bytes, 3400);
    CHECK_EQ_INT(bag->bytes_delta_attach, 2400);
    CHECK(fabs(bag->bytes_rate_per_min - 3600.0) < 1e-6); /* 600 B per 10 s */
    CHECK(fabs(node->rate_per_min - 6.0) < 1e-6 && fabs(node->bytes_rate_per_min - 288.0) < 1e-6);
    CHECK(typetable_grows_by_bytes(bag));
    CHECK(!typetable_grows_by_bytes(node)); /* bytes grow slower, relatively, than count */
    CHECK(!typetable_grows_by_bytes(flat) && !flat->suspect && flat->bytes_rate_per_min == 0);
    CHECK(node->suspect); /* by count */
    uint64_t total;
    CHECK(typetable_bytes_total(t, &total) && total == 3400 + 692 + 700);
    n = typetable_rows(t, TYPETABLE_BY_BYTES, NULL, rows, 4);
    CHECK(n == 3 && strcmp(rows[0].name, "Bag") == 0 && strcmp(rows[2].name, "Node") == 0);
    typetable_free(t);
}

/* Snapshot deltas come from the agent, like counts; a census without bytes
 * (an older agent) makes bytes unknown, not zero growth. */
static void test_bytes_snapshot_and_unknown(void)
{
    struct typetable *t = typetable_new(3, 16);
    struct typetable_row rows[2];
    struct bytes_in a[] = {{"dict", 4, 1000, 250}};
    feed_bytes(t, 0, a, 1, 1);
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 2);
    CHECK(rows[0].bytes_known && rows[0].bytes_delta_snapshot == 250);
    /* The type vanishes from a complete census: minus its snapshot base. */
    struct bytes_in none[] = {{"other", 1, 16, 16}};
    feed_bytes(t, 10, none, 1, 1);
    size_t n = typetable_rows(t, TYPETABLE_BY_NAME, NULL, rows, 2);
    CHECK_EQ_INT(find(rows, n, "dict")->bytes_delta_snapshot, -750);
    struct census_in plain[] = {{"dict", 4, 0}};
    feed(t, 20, plain, 1, 0, 1);
    typetable_rows(t, TYPETABLE_BY_COUNT, NULL, rows, 2);
    uint64_t total;
    CHECK(!rows[0].bytes_known && rows[0].bytes == 0 && !typetable_bytes_total(t, &total));
    typetable_free(t);
}

int main(void)
{
    RUN(test_growth_since_attach);
    RUN(test_suspect_after_k_increases);
    RUN(test_suspect_window_two);
    RUN(test_disappeared_counts_zero);
    RUN(test_new_type_grows_from_zero);
    RUN(test_rate_least_squares);
    RUN(test_sorting_and_filter);
    RUN(test_snapshot_delta_of_vanished_type);
    RUN(test_ignores_other_kinds_and_duplicates);
    RUN(test_many_types);
    RUN(test_bytes_deltas_rate_suspect);
    RUN(test_bytes_snapshot_and_unknown);
    return HARNESS_END();
}
