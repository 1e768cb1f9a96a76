/* Remote memory access, with one fallback path for both directions. */
#include "procmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

static int procmem_file(pid_t pid, uint64_t addr, void *rbuf, const void *wbuf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
    int fd = open(path, (wbuf ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = wbuf ? pwrite(fd, wbuf, len, (off_t)addr) : pread(fd, rbuf, len, (off_t)addr);
    int rc = n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
    close(fd);
    return rc;
}

int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {.iov_base = buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
        return 0;
    return procmem_file(pid, addr, buf, NULL, len);
}

int procmem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    if (process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
        return 0;
    /* /proc/PID/mem writes also reach read-only pages; ours are RW anyway. */
    return procmem_file(pid, addr, NULL, buf, len);
}
