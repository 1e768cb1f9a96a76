/* Reading and writing another process's memory: process_vm_readv/writev,
 * falling back to /proc/PID/mem (old kernels, some seccomp profiles, or
 * pages process_vm_* cannot reach). Same permission check as ptrace. */
#ifndef PYMEMTOP_LIB_PROCMEM_H
#define PYMEMTOP_LIB_PROCMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Whole transfers only: 0, or -errno (-EIO for a short one). */
int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
int procmem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);

#endif
