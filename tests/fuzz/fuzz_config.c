/* libFuzzer target for the config parser (lib/config.c over inih).
 *
 * Input: the bytes of a config file. They are written to a memfd and
 * config_load() reads them through /proc/self/fd/N, with the buffer sizes
 * tui/main.c uses. After a load the settings must lie in their documented
 * ranges and the messages must be NUL-terminated; anything else is left to
 * ASan/UBSan.
 *
 * Built two ways: with -fsanitize=fuzzer (tests/fuzz/fuzz.mk) and, with
 * FUZZ_NO_ENTRY defined, included by tests/unit/test_fuzz_corpus.c, which
 * replays tests/fuzz/corpus/config in the ordinary test pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int fuzz_config_one(const uint8_t *data, size_t size);

int fuzz_config_one(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("pymemtop-fuzz-config", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    struct config c;
    char err[512], warn[1024]; /* as in tui/main.c */
    config_defaults(&c);
    int r = config_load(&c, path, err, sizeof(err), warn, sizeof(warn));
    if (!memchr(err, 0, sizeof(err)) || !memchr(warn, 0, sizeof(warn)))
        abort();
    if (r < 0 && !err[0])
        abort(); /* a refusal must say why */
    if (r == 0) {
        if (c.interval_ms < 100 || c.interval_ms > 60000 || c.history < 10 ||
            c.history > 100000 || c.attach_timeout_ms < 100 || c.attach_timeout_ms > 600000 ||
            (unsigned)c.default_view >= CONFIG_VIEWS)
            abort();
        for (int i = 0; i < CONFIG_COLOR_ROLES; i++)
            if (c.colors[i] < CONFIG_COLOR_DEFAULT || c.colors[i] > 7)
                abort();
    }
    return 0;
}

#ifndef FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_config_one(data, size);
}
#endif
