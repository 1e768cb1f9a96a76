/* Formatting: edge values (0, 1023, 1024, unit boundaries, the largest
 * integers) and fixed widths, so numbers never shift the layout. */
#include <math.h>
#include <stdint.h>

#include "format.h"
#include "harness.h"
#include "model.h"

#define CHECK_STR(got, want)                                                             \
    do {                                                                                 \
        if (strcmp((got), (want)) != 0) {                                                \
            if (!harness_cur_failed)                                                     \
                printf("FAIL %s (%s:%d: got \"%s\", expected \"%s\")\n", harness_cur_name, \
                       __FILE__, __LINE__, (got), (want));                               \
            harness_cur_failed = 1;                                                      \
        }                                                                                \
    } while (0)

static char buf[128];

static const char *kib(uint64_t v)
{
    size_t n = format_kib(buf, sizeof buf, v);
    CHECK_EQ_INT(n, FORMAT_SIZE_W);
    CHECK_EQ_INT(strlen(buf), FORMAT_SIZE_W);
    return buf;
}

static const char *bytes(uint64_t v)
{
    size_t n = format_bytes(buf, sizeof buf, v);
    CHECK_EQ_INT(n, FORMAT_SIZE_W);
    return buf;
}

static const char *dur(uint64_t v)
{
    format_duration(buf, sizeof buf, v);
    CHECK_EQ_INT(strlen(buf), FORMAT_DURATION_W);
    return buf;
}

static const char *up(uint64_t v)
{
    format_uptime(buf, sizeof buf, v);
    CHECK_EQ_INT(strlen(buf), FORMAT_UPTIME_W);
    return buf;
}

static const char *cnt(int64_t v)
{
    format_count(buf, sizeof buf, v);
    CHECK_EQ_INT(strlen(buf), FORMAT_COUNT_W);
    return buf;
}

static const char *pct(double v)
{
    format_pct(buf, sizeof buf, v);
    CHECK_EQ_INT(strlen(buf), FORMAT_PCT_W);
    return buf;
}

static const char *slope(double v)
{
    format_slope_kib(buf, sizeof buf, v);
    CHECK_EQ_INT(strlen(buf), FORMAT_SLOPE_W);
    return buf;
}

static void test_kib(void)
{
    CHECK_STR(kib(0), "   0 KiB");
    CHECK_STR(kib(1), "   1 KiB");
    CHECK_STR(kib(1023), "1023 KiB");
    CHECK_STR(kib(1024), "1.00 MiB");
    CHECK_STR(kib(1536), "1.50 MiB");
    CHECK_STR(kib(10 * 1024), "10.0 MiB");
    CHECK_STR(kib(123 * 1024 + 400), " 123 MiB");
    CHECK_STR(kib(1023 * 1024), "1023 MiB");
    /* 1023.6 MiB would round to "1024 MiB": switch unit instead. */
    CHECK_STR(kib(1024 * 1024 - 400), "1.00 GiB");
    CHECK_STR(kib(1024 * 1024 - 1), "1.00 GiB");
    CHECK_STR(kib(1024 * 1024), "1.00 GiB");
    CHECK_STR(kib(3ull << 30), "3.00 TiB");
    CHECK_STR(kib(UINT64_MAX), "16.0 ZiB");
}

static void test_kib_width_sweep(void)
{
    /* Every magnitude, including both sides of each rounding edge. */
    for (uint64_t v = 1; v && v < UINT64_MAX / 3; v = v * 3 + 1) {
        uint64_t probes[] = {v - 1, v, v + 1};
        for (size_t i = 0; i < 3; i++) {
            CHECK_EQ_INT(format_kib(buf, sizeof buf, probes[i]), FORMAT_SIZE_W);
            CHECK(strstr(buf, "1024") == NULL);
        }
    }
}

static void test_small_buffer(void)
{
    char small[4];
    size_t n = format_kib(small, sizeof small, 1024);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(strlen(small), 3);
    CHECK_EQ_INT(format_kib(small, 0, 1), 0); /* no write at all */
    CHECK_EQ_INT(format_truncate(small, 1, "abc", 10, false), 0);
    CHECK_STR(small, "");
}

static void test_duration(void)
{
    CHECK_STR(dur(0), "   0ns");
    CHECK_STR(dur(850), " 850ns");
    CHECK_STR(dur(999), " 999ns");
    CHECK_STR(dur(1000), "1.00us");
    CHECK_STR(dur(57300), "57.3us");
    CHECK_STR(dur(999499), " 999us");
    CHECK_STR(dur(999500), "1.00ms");
    CHECK_STR(dur(12000000), "12.0ms");
    CHECK_STR(dur(1250000000), " 1.25s");
    CHECK_STR(dur(123000000000ull), "  123s");
    CHECK_STR(dur(1000000000000ull), " 16.7m");
    CHECK_STR(dur(3600000000000ull * 5 / 2), " 2.50h");
    CHECK_STR(dur(86400000000000ull * 100), "  100d");
    CHECK_STR(dur(UINT64_MAX), "  585y");
}

static void test_uptime(void)
{
    CHECK_STR(up(0), "    0s");
    CHECK_STR(up(59999999999ull), "   59s");
    CHECK_STR(up(60000000000ull), " 1m00s");
    CHECK_STR(up(3599000000000ull), "59m59s");
    CHECK_STR(up(3600000000000ull + 7 * 60000000000ull), " 1h07m");
    CHECK_STR(up(86400000000000ull * 2 + 4 * 3600000000000ull), " 2d04h");
    CHECK_STR(up(86400000000000ull * 150), "  150d");
    CHECK_STR(up(UINT64_MAX), "  584y");
}

static void test_count(void)
{
    CHECK_STR(cnt(-1), "  n/a");
    CHECK_STR(cnt(0), "    0");
    CHECK_STR(cnt(1023), " 1023");
    CHECK_STR(cnt(1024), " 1024");
    CHECK_STR(cnt(9999), " 9999");
    CHECK_STR(cnt(10000), "10.0k");
    CHECK_STR(cnt(123456), " 123k");
    CHECK_STR(cnt(999499), " 999k");
    CHECK_STR(cnt(999500), "1.00M");
    CHECK_STR(cnt(1200000), "1.20M");
    CHECK_STR(cnt(INT64_MAX), "9.22E");
    CHECK_STR(cnt(INT64_MIN), "  n/a");
}

static void test_pct(void)
{
    CHECK_STR(pct(0), "0.00%");
    CHECK_STR(pct(0.0012), "0.12%");
    CHECK_STR(pct(0.123), "12.3%");
    CHECK_STR(pct(1.0), " 100%");
    CHECK_STR(pct(25.0), "2500%");
    CHECK_STR(pct(1e30), "9999%");
    CHECK_STR(pct(-1), "  n/a");
    CHECK_STR(pct(NAN), "  n/a");
}

static void test_slope(void)
{
    CHECK_STR(slope(0), "+0.00 MiB/min");
    CHECK_STR(slope(-1), "+0.00 MiB/min"); /* no "-0.00" */
    CHECK_STR(slope(1280), "+1.25 MiB/min");
    CHECK_STR(slope(-1280), "-1.25 MiB/min");
    CHECK_STR(slope(123.0 * 1024), " +123 MiB/min");
    CHECK_STR(slope(1024.0 * 1024 * 1.21), "+1.21 GiB/min");
    CHECK_STR(slope(1e300), " +999 GiB/min");
    CHECK_STR(slope(NAN), "          n/a");
}

static void test_truncate(void)
{
    CHECK_EQ_INT(format_truncate(buf, sizeof buf, "python3 demo.py", 40, true), 15);
    CHECK_STR(buf, "python3 demo.py");
    CHECK_EQ_INT(format_truncate(buf, sizeof buf, "python3 demo.py", 10, true), 10);
    CHECK_STR(buf, "python3 d\xe2\x80\xa6");
    CHECK_EQ_INT(format_truncate(buf, sizeof buf, "python3 demo.py", 10, false), 10);
    CHECK_STR(buf, "python3...");
    CHECK_EQ_INT(format_truncate(buf, sizeof buf, "python3 demo.py", 15, false), 15);
    CHECK_STR(buf, "python3 demo.py");
    CHECK_EQ_INT(format_truncate(buf, sizeof buf, "abcdef", 2, false), 2); /* no room for "..." */
    CHECK_STR(buf, "ab");
    CHECK_EQ_INT(format_truncate(buf, sizeof buf, "abc", 0, true), 0);
    CHECK_STR(buf, "");
    /* Control bytes must not reach the terminal. */
    format_truncate(buf, sizeof buf, "a\tb\x1b[2Jc", 20, true);
    CHECK_STR(buf, "a?b?[2Jc");
    /* UTF-8 counts one column per code point; ASCII mode hides it. */
    CHECK_EQ_INT(format_truncate(buf, sizeof buf, "caf\xc3\xa9 ok", 20, true), 7);
    CHECK_STR(buf, "caf\xc3\xa9 ok");
    CHECK_EQ_INT(format_cols(buf), 7);
    format_truncate(buf, sizeof buf, "caf\xc3\xa9", 20, false);
    CHECK_STR(buf, "caf??");
    /* A lone continuation byte is not valid UTF-8. */
    format_truncate(buf, sizeof buf, "x\x80y", 20, true);
    CHECK_STR(buf, "x?y");
    /* Tiny buffers never overflow. */
    char small[5];
    format_truncate(small, sizeof small, "abcdefgh", 8, true);
    CHECK_EQ_INT(strlen(small), 4);
}

static void test_delta(void)
{
    static const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "    +0"}, {-12, "   -12"}, {9999, " +9999"}, {12345, "+12.3k"},
                 {-1234567, "-1.23M"}, {INT64_MIN, "-9.22E"}, {INT64_MAX, "+9.22E"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = format_delta(buf, sizeof buf, cases[i].v);
        CHECK_EQ_INT(n, FORMAT_DELTA_W);
        CHECK_STR(buf, cases[i].want);
    }
}

/* Bytes at a fixed width: exact below 1 KiB, three figures above. */
static void test_format_bytes(void)
{
    CHECK(strcmp(bytes(0), "     0 B") == 0);
    CHECK(strcmp(bytes(1023), "  1023 B") == 0);
    CHECK(strcmp(bytes(1024), "1.00 KiB") == 0);
    CHECK(strcmp(bytes(3u << 20), "3.00 MiB") == 0);
    CHECK(strcmp(bytes(1023ull * 1024 * 1024 + 600 * 1024 * 1024), "1.58 GiB") == 0);
    CHECK(strcmp(bytes(UINT64_MAX), "16.0 EiB") == 0);
}

/* The tracemalloc warning: longest form that fits, never longer than cols
 * (but for the last, shortest one), "" when off. */
static void test_tm_warning(void)
{
    char b[128];
    CHECK(format_tm_warning(b, sizeof b, false, 0, 0, 80) == 0 && !b[0]);
    format_tm_warning(b, sizeof b, true, PM_TM_OWNER_PYMEMTOP, 252000, 80);
    CHECK(!strcmp(b, "tracemalloc on (lease 4m12s left, costs 4-10x allocation time)"));
    format_tm_warning(b, sizeof b, true, PM_TM_OWNER_PYMEMTOP, 252000, 44);
    CHECK(!strcmp(b, "tracemalloc: 4m12s left, 4-10x slower"));
    format_tm_warning(b, sizeof b, true, PM_TM_OWNER_PROGRAM, 0, 80);
    CHECK(!strcmp(b, "tracemalloc on (the program's, costs 4-10x allocation time)"));
    format_tm_warning(b, sizeof b, true, PM_TM_OWNER_PYMEMTOP, 0, 20);
    CHECK(!strcmp(b, "tracemalloc on"));
    format_tm_warning(b, sizeof b, true, PM_TM_OWNER_PYMEMTOP, 3 * 86400000ull, 5);
    CHECK(!strcmp(b, "tm 3d00h"));
    for (int cols = 12; cols < 90; cols++) {
        format_tm_warning(b, sizeof b, true, PM_TM_OWNER_PYMEMTOP, 59000, cols);
        CHECK((int)strlen(b) <= cols);
    }
}

int main(void)
{
    RUN(test_format_bytes);
    RUN(test_delta);
    RUN(test_kib);
    RUN(test_kib_width_sweep);
    RUN(test_small_buffer);
    RUN(test_duration);
    RUN(test_uptime);
    RUN(test_count);
    RUN(test_pct);
    RUN(test_slope);
    RUN(test_truncate);
    RUN(test_tm_warning);
    return HARNESS_END();
}
