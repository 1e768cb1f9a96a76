/* The JSON reader: values, escapes, limits, and malformed input refused. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "jsonread.h"

static int parse(struct jv_doc *d, const char *s)
{
    /* Exact-size copy without a NUL: ASan sees any overread. */
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int r = jv_parse(d, copy, n);
    free(copy);
    return r;
}

static void test_values_and_lookups(void)
{
    struct jv_doc d;
    CHECK_EQ_INT(parse(&d, " {\"pid\": 42, \"python\": \"3.11.7\", \"time_ns\": 1795275133665945385,"
                           " \"gc\": {\"enabled\": true, \"counts\": [1, -2, 3.5e2]},"
                           " \"x\": null} "), 0);
    CHECK_EQ_INT(jv_int(jv_get(d.root, "pid"), 0), 42);
    CHECK(strcmp(jv_str(jv_get(d.root, "python"), ""), "3.11.7") == 0);
    CHECK_EQ_INT(jv_int(jv_get(d.root, "time_ns"), 0), 1795275133665945385LL);
    CHECK(jv_bool(jv_path(d.root, "gc.enabled"), false));
    const struct jv *counts = jv_path(d.root, "gc.counts");
    CHECK_EQ_INT(counts->len, 3);
    CHECK_EQ_INT(jv_int(jv_at(counts, 1), 0), -2);
    CHECK(jv_num(jv_at(counts, 2), 0) == 350.0);
    CHECK(jv_at(counts, 3) == NULL);
    CHECK(jv_get(d.root, "x")->type == JV_NULL);
    CHECK(jv_path(d.root, "gc.nope.deeper") == NULL);
    CHECK_EQ_INT(jv_int(jv_get(d.root, "missing"), -7), -7);
    jv_free(&d);
}

static void test_string_escapes(void)
{
    struct jv_doc d;
    CHECK_EQ_INT(parse(&d, "[\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\\u0000\"]"), 0);
    CHECK(strcmp(jv_at(d.root, 0)->string, "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd") == 0);
    jv_free(&d);
}

static void test_malformed_refused(void)
{
    const char *bad[] = {"", "{", "[1,", "{\"a\" 1}", "[1 2]", "\"abc", "tru", "nul", "[--1]",
                         "{\"a\":1}x", "[\"\\x\"]", "[\"\\u12\"]", "{1:2}", "[1e999]",
                         "[\"a\nb\"]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jv_doc d;
        CHECK_EQ_INT(parse(&d, bad[i]), -1);
        CHECK(d.error[0] != 0);
    }
}

static void test_depth_limit(void)
{
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    struct jv_doc d;
    CHECK_EQ_INT(jv_parse(&d, deep, 400), -1);
    CHECK(strstr(d.error, "deep") != NULL);
    CHECK_EQ_INT(jv_parse(&d, deep + 150, 100), 0); /* 50 levels are fine */
    jv_free(&d);
}

static void test_fuzz_no_crash(void)
{
    const char *seed = "{\"a\":[1,2,{\"b\":\"c\\u0041\"}],\"d\":true,\"e\":null,\"f\":-1.5e3}";
    size_t n = strlen(seed);
    char buf[128];
    srand(7);
    int ok = 0, refused = 0;
    for (int it = 0; it < 100000; it++) {
        memcpy(buf, seed, n);
        for (int k = 0; k < 1 + rand() % 4; k++)
            buf[rand() % n] = (char)(rand() % 128);
        size_t len = (size_t)rand() % (n + 1);
        char *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        struct jv_doc d;
        if (jv_parse(&d, exact, len) == 0) {
            CHECK(d.root != NULL);
            ok++;
            jv_free(&d);
        } else {
            CHECK(d.root == NULL && d.error[0]);
            refused++;
        }
        free(exact);
    }
    CHECK(ok > 0 && refused > 0); /* the mutations hit both sides */
}

int main(void)
{
    RUN(test_values_and_lookups);
    RUN(test_string_escapes);
    RUN(test_malformed_refused);
    RUN(test_depth_limit);
    RUN(test_fuzz_no_crash);
    return HARNESS_END();
}
