/* A tiny test harness: CHECK records PASS/FAIL per test; each test binary
 * prints "N passed, M failed" last and exits non-zero on any failure. */
#ifndef PYMEMTOP_TESTS_UNIT_HARNESS_H
#define PYMEMTOP_TESTS_UNIT_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_passed, harness_failed, harness_cur_failed;
static const char *harness_cur_name;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            if (!harness_cur_failed)                                                     \
                printf("FAIL %s (%s:%d: %s)\n", harness_cur_name, __FILE__, __LINE__,   \
                       #cond);                                                           \
            harness_cur_failed = 1;                                                      \
        }                                                                                \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                               \
    do {                                                                                 \
        long long ha_ = (long long)(a), hb_ = (long long)(b);                            \
        if (ha_ != hb_) {                                                                \
            if (!harness_cur_failed)                                                     \
                printf("FAIL %s (%s:%d: %s == %lld, expected %lld)\n", harness_cur_name, \
                       __FILE__, __LINE__, #a, ha_, hb_);                                \
            harness_cur_failed = 1;                                                      \
        }                                                                                \
    } while (0)

#define RUN(fn)                                                                          \
    do {                                                                                 \
        harness_cur_name = #fn;                                                          \
        harness_cur_failed = 0;                                                          \
        fn();                                                                            \
        if (harness_cur_failed)                                                          \
            harness_failed++;                                                            \
        else {                                                                           \
            harness_passed++;                                                            \
            printf("PASS %s\n", #fn);                                                    \
        }                                                                                \
    } while (0)

#define HARNESS_END()                                                                    \
    (printf("%d passed, %d failed\n", harness_passed, harness_failed), harness_failed ? 1 : 0)

#endif
