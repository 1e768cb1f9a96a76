/* Export of a session to a JSON file: state, history and events. */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "session_json.h"

static void series_json(struct json *j, const char *key, const struct series *s)
{
    json_array_begin(j, key);
    for (size_t i = 0; i < series_len(s); i++) {
        json_array_begin(j, NULL);
        json_uint(j, NULL, series_time_at(s, i));
        json_double(j, NULL, series_value_at(s, i));
        json_array_end(j);
    }
    json_array_end(j);
}

static int open_in(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s%s%s", dir, dir[0] ? "/" : "", name);
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
}

int export_write(const struct session *s, const struct history *h, size_t types_cap, char *path,
                 size_t path_len, char *err, size_t err_len)
{
    char name[96], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(name, sizeof name, "pymemtop-%d-%s.json", (int)s->target.pid, stamp);
    int fd = open_in("", name, path, path_len);
    if (fd < 0 && errno != EEXIST) {
        const char *tmp = getenv("TMPDIR");
        fd = open_in(tmp && tmp[0] ? tmp : "/tmp", name, path, path_len);
    }
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(e));
        return -e;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(e));
        return -e;
    }
    struct timespec rt, mt;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    int64_t off = ((int64_t)rt.tv_sec - (int64_t)mt.tv_sec) * 1000000000 +
                  ((int64_t)rt.tv_nsec - (int64_t)mt.tv_nsec);

    fputs("{\"state\":", f);
    session_json_write(s, f, types_cap);
    fputs(",", f);
    struct json j;
    json_init(&j, f);
    j.count[0] = 0;
    json_object_begin(&j, "history");
    /* Times in the series are CLOCK_MONOTONIC; add this for Unix epoch ns. */
    json_int(&j, "monotonic_to_epoch_ns", off);
    json_uint(&j, "interval_ms", s->interval_ms);
    series_json(&j, "rss_kib", &s->rss_kib);
    series_json(&j, "anon_kib", &s->anon_kib);
    series_json(&j, "alloc_blocks", &s->alloc_blocks);
    series_json(&j, "observer_ns", &s->observer_ns);
    series_json(&j, "pymalloc_kib", &s->pymalloc_kib);
    series_json(&j, "malloc_kib", &h->malloc_kib);
    series_json(&j, "traced_kib", &h->traced_kib);
    json_array_begin(&j, "freed_per_s");
    for (int g = 0; g < PM_GENERATIONS; g++)
        series_json(&j, NULL, &h->freed_per_s[g]);
    json_array_end(&j);
    json_array_begin(&j, "pauses");
    for (size_t i = 0; i < s->pause_len; i++) {
        const struct pm_gc_pause *p = session_pause_at(s, i);
        json_object_begin(&j, NULL);
        json_uint(&j, "end_ns", p->end_ns);
        json_uint(&j, "pause_ns", p->pause_ns);
        json_int(&j, "generation", p->generation);
        json_int(&j, "collected", p->collected);
        json_int(&j, "uncollectable", p->uncollectable);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);
    json_array_begin(&j, "events");
    for (size_t i = 0; i < eventlog_len(s->events); i++) {
        const struct eventlog_entry *e = eventlog_at(s->events, i);
        json_object_begin(&j, NULL);
        json_uint(&j, "time_ns", e->time_ns);
        json_string(&j, "kind", eventlog_kind_name(e->kind));
        json_string(&j, "text", e->text);
        json_object_end(&j);
    }
    json_array_end(&j);
    fputs("}\n", f);
    if (fclose(f) != 0) {
        int e = errno;
        snprintf(err, err_len, "writing %s: %s", path, strerror(e));
        return -e;
    }
    /* The user needs to find it: say where from anywhere. */
    char cwd[4096];
    if (path[0] != '/' && getcwd(cwd, sizeof cwd) && strlen(cwd) + 1 + strlen(path) < path_len) {
        memmove(path + strlen(cwd) + 1, path, strlen(path) + 1);
        memcpy(path, cwd, strlen(cwd));
        path[strlen(cwd)] = '/';
    }
    return 0;
}
