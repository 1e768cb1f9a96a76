/* Parsing /proc/PID/maps and reading target memory (see procmaps.h). */
#include "procmaps.h"

#include "procmem.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define PROCMAPS_DELETED " (deleted)"
#define PROCMAPS_SCAN_CHUNK (64u << 10)

int procmaps_parse_line(const char *line, struct procmaps_entry *e)
{
    memset(e, 0, sizeof(*e));
    unsigned dev_major, dev_minor;
    int path_at = -1;
    /* The path is everything after the inode and its padding; it may hold spaces. */
    if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n", &e->start,
               &e->end, e->perms, &e->offset, &dev_major, &dev_minor, &e->inode, &path_at) < 7)
        return -EINVAL;
    if (path_at < 0 || strlen(e->perms) != 4 || e->end < e->start)
        return -EINVAL;
    const char *p = line + path_at;
    size_t len = strlen(p);
    size_t dl = strlen(PROCMAPS_DELETED);
    if (len >= dl && strcmp(p + len - dl, PROCMAPS_DELETED) == 0) {
        e->deleted = true;
        len -= dl;
    }
    e->path = strndup(p, len);
    return e->path ? 0 : -ENOMEM;
}

void procmaps_free(struct procmaps *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].path);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

static int procmaps_append(struct procmaps *m, size_t *cap, const struct procmaps_entry *e)
{
    if (m->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct procmaps_entry *nv = realloc(m->v, ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        m->v = nv;
        *cap = ncap;
    }
    m->v[m->n++] = *e;
    return 0;
}

int procmaps_load_file(const char *path, struct procmaps *m)
{
    m->v = NULL;
    m->n = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t line_cap = 0, cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &line_cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        struct procmaps_entry e;
        rc = procmaps_parse_line(line, &e);
        if (rc == 0) {
            rc = procmaps_append(m, &cap, &e);
            if (rc)
                free(e.path);
        }
    }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    free(line);
    fclose(f);
    if (rc)
        procmaps_free(m);
    return rc;
}

int procmaps_load(pid_t pid, struct procmaps *m)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    return procmaps_load_file(path, m);
}

static const char *procmaps_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool procmaps_is_libpython(const char *path)
{
    const char *b = procmaps_basename(path);
    if (strncmp(b, "libpython", 9) != 0)
        return false;
    b += 9;
    /* "<major>.<minor>", then ABI flags (m, d, u, t), then ".so". */
    if (!isdigit((unsigned char)*b))
        return false;
    while (isdigit((unsigned char)*b))
        b++;
    if (*b++ != '.' || !isdigit((unsigned char)*b))
        return false;
    while (isdigit((unsigned char)*b))
        b++;
    while (*b && strchr("mdut", *b))
        b++;
    return strncmp(b, ".so", 3) == 0;
}

const struct procmaps_entry *procmaps_find_pymod(const struct procmaps *m, uint64_t exe_inode)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].offset == 0 && procmaps_is_libpython(m->v[i].path))
            return &m->v[i];
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].offset == 0 && exe_inode != 0 && m->v[i].inode == exe_inode &&
            m->v[i].path[0] == '/')
            return &m->v[i];
    return NULL;
}

static bool procmaps_is_libc(const char *path)
{
    const char *b = procmaps_basename(path);
    return strncmp(b, "libc.so", 7) == 0 || strncmp(b, "libc-2.", 7) == 0 ||
           strncmp(b, "ld-musl-", 8) == 0;
}

const struct procmaps_entry *procmaps_find_libc(const struct procmaps *m, bool text)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct procmaps_entry *e = &m->v[i];
        if (e->path[0] != '/' || !procmaps_is_libc(e->path))
            continue;
        if (text ? strcmp(e->perms, "r-xp") == 0 : e->offset == 0)
            return e;
    }
    return NULL;
}

/* Scans one mapping in chunks that overlap by one byte, so a 0f 05 pair that
 * straddles two chunks is still found. */
static int procmaps_scan(pid_t pid, const struct procmaps_entry *e, uint8_t *buf, uint64_t *addr)
{
    for (uint64_t at = e->start; at + 1 < e->end; at += PROCMAPS_SCAN_CHUNK - 1) {
        size_t len = e->end - at < PROCMAPS_SCAN_CHUNK ? (size_t)(e->end - at) : PROCMAPS_SCAN_CHUNK;
        int rc = procmem_read(pid, at, buf, len);
        if (rc)
            return rc;
        const uint8_t *hit = memmem(buf, len, "\x0f\x05", 2);
        if (hit) {
            *addr = at + (uint64_t)(hit - buf);
            return 0;
        }
    }
    return -ENOENT;
}

int procmaps_find_syscall(pid_t pid, const struct procmaps *m, uint64_t *addr)
{
    uint8_t *buf = malloc(PROCMAPS_SCAN_CHUNK);
    if (!buf)
        return -ENOMEM;
    int rc = -ENOENT;
    /* Pass 0: libc, which always has syscall instructions; pass 1: any file. */
    for (int pass = 0; pass < 2 && rc != 0; pass++) {
        for (size_t i = 0; i < m->n && rc != 0; i++) {
            const struct procmaps_entry *e = &m->v[i];
            if (strcmp(e->perms, "r-xp") != 0 || e->path[0] != '/')
                continue;
            if (pass == 0 && !procmaps_is_libc(e->path))
                continue;
            int r = procmaps_scan(pid, e, buf, addr);
            if (r == 0 || r != -ENOENT)
                rc = r;
        }
    }
    free(buf);
    return rc;
}
