/* Pure lib modules: histogram, series, JSON, bootstrap, config. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootstrap.h"
#include "commands.h"
#include "config.h"
#include "harness.h"
#include "histogram.h"
#include "holdlog.h"
#include "json.h"
#include "series.h"

static struct histogram hist;

static void test_histogram_quantiles(void)
{
    histogram_reset(&hist);
    CHECK_EQ_INT(histogram_quantile(&hist, 0.5), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        histogram_add(&hist, v * 1000); /* 1 us .. 1 ms */
    CHECK_EQ_INT(hist.count, 1000);
    CHECK_EQ_INT(hist.max_ns, 1000000);
    uint64_t p50 = histogram_quantile(&hist, 0.5), p99 = histogram_quantile(&hist, 0.99);
    CHECK(p50 >= 500000 && p50 <= 500000 * 1.04);
    CHECK(p99 >= 990000 && p99 <= 1000000);
    CHECK_EQ_INT(histogram_quantile(&hist, 1.0), 1000000);
    CHECK_EQ_INT(histogram_quantile(&hist, 0.0), 1000);
}

static void test_histogram_extremes(void)
{
    histogram_reset(&hist);
    histogram_add(&hist, 0);
    histogram_add(&hist, UINT64_MAX);
    CHECK_EQ_INT(hist.count, 2);
    CHECK(histogram_quantile(&hist, 1.0) == UINT64_MAX);
    CHECK_EQ_INT(histogram_quantile(&hist, 0.0), 0);
}

static struct holdlog holds;

static void test_holdlog_window_and_detail(void)
{
    memset(&holds, 0, sizeof(holds));
    struct pm_hold none = {0}, a = {.ns = 5000000, .cpu_ns = 4900000, .what = "census walk"};
    struct pm_hold b = {.ns = 9000000, .what = "census"}, b2 = {.ns = 9000000, .cpu_ns = 8000000,
                                                                .gc_ns = 3000000, .what = "sample"};
    holdlog_note(&holds, 10, &none); /* nothing held: nothing kept */
    CHECK_EQ_INT(holds.len, 0);
    holdlog_note(&holds, 1000, &a);
    holdlog_note(&holds, 2000, &b);
    holdlog_note(&holds, 2500, &b2);
    struct pm_hold m = holdlog_max(&holds, 3000, 5000);
    /* Of equal holds, the one that says how it was spent. */
    CHECK_EQ_INT(m.ns, 9000000);
    CHECK(strcmp(m.what, "sample") == 0 && m.gc_ns == 3000000);
    m = holdlog_max(&holds, 7000, 5000); /* a left the window */
    CHECK_EQ_INT(m.ns, 9000000);
    m = holdlog_max(&holds, 8000, 5000); /* all left it */
    CHECK_EQ_INT(m.ns, 0);
    CHECK(m.what[0] == '\0');
    for (uint64_t i = 0; i < HOLDLOG_LEN + 5; i++) /* the oldest go when full */
        holdlog_note(&holds, 10000 + i, &a);
    CHECK_EQ_INT(holds.len, HOLDLOG_LEN);
    CHECK_EQ_INT(holdlog_max(&holds, 20000, 100000).ns, 5000000);
}

static void test_series_ring_and_slope(void)
{
    struct series s;
    CHECK_EQ_INT(series_init(&s, 5), 0);
    CHECK(series_slope_per_min(&s, 60e9) == 0);
    for (int i = 0; i < 8; i++) /* 10 units per second = 600 per minute */
        series_push(&s, (uint64_t)i * 1000000000u, 10.0 * i);
    CHECK_EQ_INT(series_len(&s), 5);
    CHECK(series_value_at(&s, 0) == 30.0);
    CHECK(series_last(&s) == 70.0);
    CHECK(fabs(series_slope_per_min(&s, 600e9) - 600.0) < 1e-6);
    double lo, hi;
    series_minmax(&s, 0, &lo, &hi);
    CHECK(lo == 30.0 && hi == 70.0);
    /* A window that holds only the last two points. */
    CHECK(fabs(series_slope_per_min(&s, 1000000000u) - 600.0) < 1e-6);
    series_free(&s);
}

static void test_slope_accumulator(void)
{
    struct slope_acc a = {0};
    CHECK(slope_per_min(&a) == 0);
    slope_add(&a, 5000000000ull, 7);
    CHECK(slope_per_min(&a) == 0);
    /* y = 3 + 2 per second, with alternating noise that cancels. */
    for (int i = 1; i <= 120; i++)
        slope_add(&a, 5000000000ull + (uint64_t)i * 1000000000u, 7 + 2.0 * i + (i % 2 ? 1 : -1));
    CHECK(fabs(slope_per_min(&a) - 120.0) < 0.5);
}

static void test_json_escaping_and_nesting(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct json j;
    json_init(&j, f);
    json_object_begin(&j, NULL);
    json_string(&j, "s", "a\"b\\c\n\x01");
    json_array_begin(&j, "a");
    json_int(&j, NULL, -1);
    json_uint(&j, NULL, 18446744073709551615ull);
    json_array_end(&j);
    json_double(&j, "nan", NAN);
    json_bool(&j, "t", 1);
    json_object_end(&j);
    fclose(f);
    CHECK(strcmp(buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"a\":[-1,18446744073709551615],"
                      "\"nan\":null,\"t\":true}") == 0);
    free(buf);
}

static void test_bootstrap_refuses_hostile_paths(void)
{
    char out[1024], msg[256];
    CHECK_EQ_INT(bootstrap_build("/usr/lib/pymemtop/pymemtop_agent.so", out, sizeof(out), msg,
                                 sizeof(msg)), 0);
    CHECK(strstr(out, "origin='/usr/lib/pymemtop/pymemtop_agent.so'") != NULL);
    CHECK(strstr(out, "except BaseException") != NULL);
    const char *bad[] = {"relative/agent.so", "/tmp/a'b.so", "/tmp/a\\nb.so", "/tmp/a b.so",
                         "/tmp/\")\nimport os#.so", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(bootstrap_build(bad[i], out, sizeof(out), msg, sizeof(msg)), -1);
    char longp[700];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = 0;
    CHECK_EQ_INT(bootstrap_build(longp, out, sizeof(out), msg, sizeof(msg)), -1);
}

static void test_bootstrap_refuses_writable_agent(void)
{
    char path[] = "/tmp/pymemtop-unit-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    char msg[512];
    chmod(path, 0644);
    CHECK_EQ_INT(bootstrap_check_agent(path, getuid(), msg, sizeof(msg)), 0);
    chmod(path, 0666);
    CHECK_EQ_INT(bootstrap_check_agent(path, getuid(), msg, sizeof(msg)), -1);
    CHECK(strstr(msg, "chmod go-w") != NULL);
    chmod(path, 0600);
    CHECK_EQ_INT(bootstrap_check_agent(path, getuid() + 4242, msg, sizeof(msg)), -1);
    unlink(path);
    CHECK_EQ_INT(bootstrap_check_agent(path, getuid(), msg, sizeof(msg)), -1);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_config_values_errors_warnings(void)
{
    /* A file of our own (mkstemps): write_file must not follow a link
     * someone planted at a fixed name in /tmp. */
    char p[] = "/tmp/pymemtop-unit-XXXXXX.ini";
    int fd = mkstemps(p, 4);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    struct config c;
    char err[512], warn[512];
    config_defaults(&c);
    CHECK_EQ_INT(c.interval_ms, 1000);
    write_file(p, "; comment\n[sampling]\ninterval = 0.5\nhistory = 100\n[attach]\ntimeout = 2\n"
                  "[display]\nascii = yes\ncolor = off\n[other]\nwhat = 1\n");
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), 0);
    CHECK_EQ_INT(c.interval_ms, 500);
    CHECK_EQ_INT(c.history, 100);
    CHECK_EQ_INT(c.attach_timeout_ms, 2000);
    CHECK(c.ascii && !c.color);
    CHECK(strstr(warn, "unknown key [other] what") != NULL);
    write_file(p, "[sampling]\ninterval = 1\ninterval = 99\n");
    config_defaults(&c);
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), -1);
    CHECK(strstr(err, "0.1 to 60") != NULL && strstr(err, "line 3") != NULL);
    write_file(p, "[sampling\ninterval = 1\n");
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), -1);
    CHECK(strstr(err, ".ini:1") != NULL);
    write_file(p, "[display]\nascii = maybe\n");
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), -1);
    CHECK(strstr(err, "true or false") != NULL);
    /* pause_ms: 0 is never; a fraction must not round down into never. */
    const char *pauses[][2] = {{"0", "0"}, {"0.3", "1"}, {"1", "1"}, {"250.4", "250"}};
    for (size_t i = 0; i < sizeof(pauses) / sizeof(pauses[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "[alerts]\npause_ms = %s\n", pauses[i][0]);
        write_file(p, text);
        config_defaults(&c);
        CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), 0);
        CHECK_EQ_INT(c.pause_alert_ms, atoi(pauses[i][1]));
    }
    /* [tracemalloc] lease: 0 none, seconds or with a unit, at most 7 days. */
    const char *leases[][2] = {{"0", "0"}, {"300", "300"}, {"5m", "300"}, {"2h", "7200"},
                               {"7d", "604800"}};
    for (size_t i = 0; i < sizeof(leases) / sizeof(leases[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "[tracemalloc]\nlease = %s\n", leases[i][0]);
        write_file(p, text);
        config_defaults(&c);
        CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), 0);
        CHECK_EQ_INT(c.tracemalloc_lease_s, atoi(leases[i][1]));
    }
    write_file(p, "[tracemalloc]\nlease = 8d\n");
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), -1);
    CHECK(strstr(err, "7 days") != NULL && strstr(err, "line 2") != NULL);
    /* [serve]: the exporter's keys, defaults and ranges. */
    config_defaults(&c);
    CHECK_EQ_INT(c.serve_types, 20);
    CHECK_EQ_INT(c.serve_scan_ms, 5000);
    CHECK(!strcmp(c.serve_address, "127.0.0.1"));
    write_file(p, "[serve]\ntypes = 5\nscan_interval = 1.5\naddress = ::1\n");
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), 0);
    CHECK_EQ_INT(c.serve_types, 5);
    CHECK_EQ_INT(c.serve_scan_ms, 1500);
    CHECK(!strcmp(c.serve_address, "::1") && !warn[0]);
    write_file(p, "[serve]\nscan_interval = 0\n");
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), -1);
    CHECK(strstr(err, "1 to 3600") != NULL);
    write_file(p, "[serve]\naddress = a b\n");
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), -1);
    CHECK(strstr(err, "not an address") != NULL);
    unlink(p);
    CHECK_EQ_INT(config_load(&c, p, err, sizeof(err), warn, sizeof(warn)), -1);
}

/* tracemalloc=on[:SECONDS]|off: the lease into lease_s, its range enforced
 * with a message that names it. */
static void test_commands_parse_lease(void)
{
    const struct command_def *d;
    int64_t arg, lease;
    char text[8], err[512];
    CHECK_EQ_INT(commands_parse("tracemalloc=on", &d, &arg, &lease, text, sizeof text, err,
                                sizeof err), 0);
    CHECK(d->id == CMD_TRACEMALLOC && arg == 1 && lease == 0);
    CHECK_EQ_INT(commands_parse("tracemalloc=on:90", &d, &arg, &lease, text, sizeof text, err,
                                sizeof err), 0);
    CHECK(arg == 1 && lease == 90);
    CHECK_EQ_INT(commands_parse("tracemalloc=on:1.5h", &d, &arg, &lease, text, sizeof text, err,
                                sizeof err), 0);
    CHECK(lease == 5400);
    CHECK_EQ_INT(commands_parse("tracemalloc=off", &d, &arg, &lease, text, sizeof text, err,
                                sizeof err), 0);
    CHECK(arg == 0 && lease == 0);
    const char *bad[] = {"tracemalloc=on:8d", "tracemalloc=on:-1", "tracemalloc=on:x",
                         "tracemalloc=on:0.2", "tracemalloc=on:5y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_EQ_INT(commands_parse(bad[i], &d, &arg, &lease, text, sizeof text, err,
                                    sizeof err), -1);
        CHECK(strstr(err, "1 s to 7 days") != NULL);
    }
    CHECK_EQ_INT(commands_parse("tracemalloc=maybe", &d, &arg, &lease, text, sizeof text, err,
                                sizeof err), -1);
    CHECK(strstr(err, "on[:SECONDS]|off") != NULL);
    /* tm_growth is internal: not for --command. */
    CHECK_EQ_INT(commands_parse("tm_growth=1", &d, &arg, &lease, text, sizeof text, err,
                                sizeof err), -1);
}

int main(void)
{
    RUN(test_histogram_quantiles);
    RUN(test_histogram_extremes);
    RUN(test_holdlog_window_and_detail);
    RUN(test_series_ring_and_slope);
    RUN(test_slope_accumulator);
    RUN(test_json_escaping_and_nesting);
    RUN(test_bootstrap_refuses_hostile_paths);
    RUN(test_bootstrap_refuses_writable_agent);
    RUN(test_config_values_errors_warnings);
    RUN(test_commands_parse_lease);
    return HARNESS_END();
}
