/* Unit tests for the exporter's pure parts: the exposition writer
 * (lib/metrics.c) and the HTTP request parser (lib/http.c). */
#include <stdlib.h>

#include "harness.h"
#include "http.h"
#include "metrics.h"

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += !strncmp(p, prefix, pl);
    return n;
}

static struct pm_agent_sample agent;
static struct metrics_pauses pauses[PM_GENERATIONS];

static struct metrics_target live_target(int pid)
{
    memset(&agent, 0, sizeof(agent));
    for (int g = 0; g < PM_GENERATIONS; g++) {
        agent.collections[g] = 10 - g;
        agent.collected[g] = 100 * g;
        agent.uncollectable[g] = 0;
    }
    agent.alloc.pymalloc_used_bytes = 4096;
    agent.alloc.pymalloc_free_bytes = -1; /* unknown: no sample */
    agent.alloc.arenas = 2;
    agent.alloc.malloc_used_bytes = 8192;
    agent.garbage_len = 0;
    static const struct metrics_type types[] = {{"dict", 50, true, 4800},
                                                    {"we\"ird\\na\nme\xff", 3, false, 0}};
    static const char *const suspects[] = {"app.Session"};
    return (struct metrics_target){
        .pid = pid, .up = true, .reason = "", .have_proc = true, .rss_bytes = 1 << 20,
        .vsz_bytes = 1 << 22, .cpu_seconds = 0.06, .start_time_s = 1.7e9, .have_agent = true,
        .python = "3.12.1", .agent = &agent, .pauses = pauses, .have_census = true,
        .census_cost_ns = 2000000, .census_objects = 53, .census_types = 2, .types = types,
        .n_types = 2, .suspects = suspects, .n_suspects = 1};
}

static void test_pause_buckets(void)
{
    struct metrics_pauses h = {0};
    metrics_pauses_add(&h, 5000);         /* below 10 us */
    metrics_pauses_add(&h, 10000);        /* exactly 10 us: le="1e-05" */
    metrics_pauses_add(&h, 10001);        /* the next bucket */
    metrics_pauses_add(&h, 20000000000ull); /* over 10 s: only +Inf */
    CHECK_EQ_INT(h.bucket[0], 2);
    CHECK_EQ_INT(h.bucket[1], 1);
    CHECK_EQ_INT(h.bucket[METRICS_PAUSE_BOUNDS], 1);
    CHECK_EQ_INT(h.count, 4);
    CHECK_EQ_INT(h.sum_ns, 5000 + 10000 + 10001 + 20000000000ull);
}

static void test_text_exposition(void)
{
    memset(pauses, 0, sizeof(pauses));
    metrics_pauses_add(&pauses[0], 30000);
    metrics_pauses_add(&pauses[0], 3000000);
    struct metrics_target t[2] = {live_target(42),
                                  {.pid = 7, .up = false, .reason = "busy"}};
    struct metrics_self self = {.scrapes = 3, .targets_up = 1, .targets_down = 1};
    struct metrics_buf b = {0};
    CHECK(metrics_write(&b, t, 2, &self, METRICS_TEXT) == 0);
    const char *s = b.data;
    /* Every family has exactly one HELP and one TYPE line. */
    CHECK_EQ_INT(count_lines(s, "# HELP "), metrics_n_families);
    CHECK_EQ_INT(count_lines(s, "# TYPE "), metrics_n_families);
    CHECK(strstr(s, "# TYPE python_gc_collections_total counter\n") != NULL);
    CHECK(strstr(s, "process_cpu_seconds_total{pid=\"42\"} 0.06\n") != NULL);
    CHECK(strstr(s, "python_gc_collections_total{pid=\"42\",generation=\"2\"} 8\n") != NULL);
    CHECK(strstr(s, "python_info{pid=\"42\",implementation=\"CPython\",major=\"3\",minor=\"12\","
                    "patchlevel=\"1\",version=\"3.12.1\"} 1\n") != NULL);
    /* Cumulative buckets, +Inf = count. */
    CHECK(strstr(s, "python_gc_pause_seconds_bucket{pid=\"42\",generation=\"0\",le=\"2.5e-05\"} 0\n"));
    CHECK(strstr(s, "python_gc_pause_seconds_bucket{pid=\"42\",generation=\"0\",le=\"5e-05\"} 1\n"));
    CHECK(strstr(s, "python_gc_pause_seconds_bucket{pid=\"42\",generation=\"0\",le=\"0.005\"} 2\n"));
    CHECK(strstr(s, "python_gc_pause_seconds_bucket{pid=\"42\",generation=\"0\",le=\"+Inf\"} 2\n"));
    CHECK(strstr(s, "python_gc_pause_seconds_count{pid=\"42\",generation=\"0\"} 2\n"));
    CHECK(strstr(s, "python_gc_pause_seconds_sum{pid=\"42\",generation=\"0\"} 0.00303\n"));
    /* Unknown values are left out, not written as -1. */
    CHECK(strstr(s, "python_pymalloc_free_bytes{") == NULL);
    CHECK(strstr(s, "python_pymalloc_used_bytes{pid=\"42\"} 4096\n"));
    /* Label values escaped; a byte that is not UTF-8 replaced. */
    /* Bytes only for rows whose census carried them. */
    CHECK(strstr(s, "python_object_bytes{pid=\"42\",type=\"dict\"} 4800\n"));
    CHECK(!strstr(s, "python_object_bytes{pid=\"42\",type=\"we"));
    CHECK(strstr(s, "python_objects{pid=\"42\",type=\"we\\\"ird\\\\na\\nme\xef\xbf\xbd\"} 3\n"));
    CHECK(strstr(s, "python_leak_suspect{pid=\"42\",type=\"app.Session\"} 1\n"));
    /* A target that is down: only its up series, with the reason. */
    CHECK(strstr(s, "pymemtop_target_up{pid=\"7\",reason=\"busy\"} 0\n"));
    CHECK(strstr(s, "pymemtop_target_up{pid=\"42\"} 1\n"));
    CHECK(strstr(s, "{pid=\"7\"}") == NULL);
    CHECK(strstr(s, "pymemtop_scrapes_total 3\n"));
    CHECK(strstr(s, "pymemtop_targets{state=\"down\"} 1\n"));
    CHECK(strstr(s, "# EOF") == NULL);
    metrics_buf_free(&b);
}

static void test_openmetrics(void)
{
    struct metrics_target t = live_target(42);
    struct metrics_self self = {0};
    struct metrics_buf b = {0};
    CHECK(metrics_write(&b, &t, 1, &self, METRICS_OPENMETRICS) == 0);
    const char *s = b.data;
    /* Counter families are named without _total; their samples keep it. */
    CHECK(strstr(s, "# TYPE python_gc_collections counter\n") != NULL);
    CHECK(strstr(s, "# TYPE python_gc_collections_total") == NULL);
    CHECK(strstr(s, "python_gc_collections_total{pid=\"42\",generation=\"0\"} 10\n") != NULL);
    CHECK(strstr(s, "# UNIT process_cpu_seconds seconds\n") != NULL);
    CHECK(b.len > 6 && !strcmp(s + b.len - 6, "# EOF\n"));
    metrics_buf_free(&b);
}

static void test_negotiate(void)
{
    CHECK(metrics_negotiate("") == METRICS_TEXT);
    CHECK(metrics_negotiate("text/plain;version=0.0.4") == METRICS_TEXT);
    CHECK(metrics_negotiate("application/openmetrics-text;version=1.0.0,"
                            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1") == METRICS_OPENMETRICS);
    CHECK(metrics_negotiate("text/plain, application/openmetrics-text; q=0") == METRICS_TEXT);
    CHECK(strstr(metrics_content_type(METRICS_OPENMETRICS), "version=1.0.0") != NULL);
}

static void test_http_parse(void)
{
    struct http_request r;
    const char *ok = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: application/openmetrics-text\r\n\r\n";
    CHECK(http_parse_request(ok, strlen(ok), &r) == HTTP_COMPLETE);
    CHECK(!strcmp(r.path, "/metrics") && r.minor == 1);
    CHECK(!strcmp(r.accept, "application/openmetrics-text"));
    CHECK(http_route_of(&r) == HTTP_ROUTE_METRICS);
    /* Bare LF and HTTP/1.0 */
    const char *lf = "GET / HTTP/1.0\n\n";
    CHECK(http_parse_request(lf, strlen(lf), &r) == HTTP_COMPLETE);
    CHECK(http_route_of(&r) == HTTP_ROUTE_INDEX && r.minor == 0);
    /* Not all in yet */
    CHECK(http_parse_request(ok, 20, &r) == HTTP_INCOMPLETE);
    /* Methods: read-only */
    const char *post = "POST /metrics HTTP/1.1\r\n\r\n";
    CHECK(http_parse_request(post, strlen(post), &r) == HTTP_COMPLETE);
    CHECK(http_route_of(&r) == HTTP_ROUTE_NOT_ALLOWED);
    const char *other = "GET /debug/collect HTTP/1.1\r\n\r\n";
    CHECK(http_parse_request(other, strlen(other), &r) == HTTP_COMPLETE);
    CHECK(http_route_of(&r) == HTTP_ROUTE_NOT_FOUND);
    /* Garbage */
    const char *bad[] = {"garbage\r\n\r\n", "\x16\x03\x01", "GET /\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
                         "GET metrics HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nno colon\r\n\r\n",
                         "get / HTTP/1.1\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(http_parse_request(bad[i], strlen(bad[i]), &r), HTTP_BAD);
    /* Too large */
    char *big = malloc(HTTP_MAX_REQUEST + 64);
    memset(big, 'a', HTTP_MAX_REQUEST + 64);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    CHECK(http_parse_request(big, HTTP_MAX_REQUEST, &r) == HTTP_TOO_LARGE);
    free(big);
}

int main(void)
{
    RUN(test_pause_buckets);
    RUN(test_text_exposition);
    RUN(test_openmetrics);
    RUN(test_negotiate);
    RUN(test_http_parse);
    return HARNESS_END();
}
