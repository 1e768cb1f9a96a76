/* Replays the fuzz corpus (tests/fuzz/corpus/{proto,config}) through the same
 * entry points the libFuzzer targets use, without clang's fuzzer runtime: it
 * runs in the ordinary unit pass and under make check-asan, so every input
 * that once crashed stays a regression test. Each file is one PASS/FAIL line;
 * a crash or sanitizer report ends the binary with a non-zero status, which
 * tests/run.py reports with the file being replayed. */
#define FUZZ_NO_ENTRY 1
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_proto.c"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"

/* The corpus: $PYMEMTOP_FUZZ_CORPUS, else tests/fuzz/corpus from the working
 * directory, else next to the binary (BUILD/tests/ -> ../../tests/fuzz/corpus). */
static int corpus_root(char *out, size_t len)
{
    struct stat st;
    const char *env = getenv("PYMEMTOP_FUZZ_CORPUS");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return stat(out, &st) == 0 ? 0 : -1;
    }
    snprintf(out, len, "tests/fuzz/corpus");
    if (stat(out, &st) == 0)
        return 0;
    char exe[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(out, len, "%s/../../tests/fuzz/corpus", exe);
    return stat(out, &st) == 0 ? 0 : -1;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs `one` on every regular file of root/sub, in name order. */
static void replay(const char *root, const char *sub, int (*one)(const uint8_t *, size_t))
{
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/%s", root, sub);
    DIR *d = opendir(dir);
    harness_cur_name = sub;
    harness_cur_failed = 0;
    CHECK(d != NULL);
    if (!d) {
        harness_failed++;
        return;
    }
    char *names[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), name_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        uint8_t *buf = malloc(1 << 20);
        size_t len = f && buf ? fread(buf, 1, 1 << 20, f) : 0;
        if (f)
            fclose(f);
        char label[300];
        snprintf(label, sizeof(label), "%s/%s", sub, names[i]);
        harness_cur_name = label;
        harness_cur_failed = 0;
        CHECK(f && buf);
        fflush(stdout); /* a crash below leaves this line as the last one printed */
        if (f && buf)
            one(buf, len);
        free(buf);
        if (harness_cur_failed) {
            harness_failed++;
        } else {
            harness_passed++;
            printf("PASS %s\n", label);
        }
        free(names[i]);
    }
    harness_cur_name = sub;
    harness_cur_failed = 0;
    if (n < 5) /* the corpus went missing: that is a failure, not a pass */
        printf("FAIL %s (only %zu files in %s)\n", sub, n, dir), harness_failed++;
}

int main(void)
{
    char root[PATH_MAX + 64];
    if (corpus_root(root, sizeof(root)) != 0) {
        printf("FAIL corpus (tests/fuzz/corpus not found; set PYMEMTOP_FUZZ_CORPUS)\n");
        return 1;
    }
    replay(root, "proto", fuzz_proto_one);
    replay(root, "config", fuzz_config_one);
    return HARNESS_END();
}
