/* /proc/PID/maps: parsing, finding the module that holds the CPython C API and
 * a `syscall` instruction to borrow, and reading target memory. */
#ifndef PYMEMTOP_LIB_PROCMAPS_H
#define PYMEMTOP_LIB_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procmaps_entry {
    uint64_t start, end, offset;
    char perms[5];  /* "r-xp" */
    uint64_t inode;
    bool deleted;   /* the kernel appended " (deleted)"; stripped from path */
    char *path;     /* "" for anonymous mappings; "[heap]" etc. kept as is */
};

struct procmaps {
    struct procmaps_entry *v;
    size_t n;
};

/* One line of a maps file, without its newline. 0 or -EINVAL. */
int procmaps_parse_line(const char *line, struct procmaps_entry *e);

/* Reads a maps file (e.g. "/proc/123/maps"). 0 or -errno. */
int procmaps_load_file(const char *path, struct procmaps *m);
int procmaps_load(pid_t pid, struct procmaps *m);
void procmaps_free(struct procmaps *m);

/* True for ".../libpython3.11.so.1.0", "libpython3.7m.so", "libpython2.7.so"
 * but not "libpython3.so" (the stable-ABI forwarder). */
bool procmaps_is_libpython(const char *path);

/* First offset-0 mapping of a libpython, else of the executable (matched by
 * exe_inode, the st_ino of /proc/PID/exe). NULL if neither is mapped. */
const struct procmaps_entry *procmaps_find_pymod(const struct procmaps *m, uint64_t exe_inode);

/* libc's mapping: the offset-0 one (text false) or the r-xp one (text true).
 * NULL if no libc (glibc libc.so.6 / libc-2.x.so, or musl) is mapped. */
const struct procmaps_entry *procmaps_find_libc(const struct procmaps *m, bool text);

/* Address of bytes 0f 05 in an r-xp mapping of libc (else of any file).
 * 0 or -errno (-ENOENT if none was found). */
int procmaps_find_syscall(pid_t pid, const struct procmaps *m, uint64_t *addr);


#endif
