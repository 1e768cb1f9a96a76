/* Unit tests for lib/elf.c, lib/procmaps.c and target_inspect's early exits,
 * against the machine's real CPython files and this test's own process. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elfsym.h"
#include "harness.h"
#include "procmaps.h"
#include "procmem.h"
#include "target.h"

#define LIBPY311 "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"
#define STATIC_PY "/usr/bin/python3.11"
/* Cut copies go to a private directory: a fixed name in /tmp could be a
 * link someone planted. */
static char trunc_dir[] = "/tmp/pymemtop-test-elf-XXXXXX";
static char trunc_path[sizeof(trunc_dir) + 8];
#define TRUNC_PATH trunc_path

static bool have_file(const char *path)
{
    if (access(path, R_OK) == 0)
        return true;
    printf("SKIP %s (missing)\n", path);
    return false;
}

/* A function that lives only in .symtab (static), to test the fallback. */
__attribute__((noinline, used)) static int test_elf_marker(int x)
{
    return x * 3 + 1;
}

static void test_elf_shared_libpython(void)
{
    if (!have_file(LIBPY311))
        return;
    struct elf_file e;
    CHECK_EQ_INT(elfsym_open(&e, LIBPY311), 0);
    uint64_t vaddr = 1, apc = 0, run = 0, bm = 0, ver = 0, none = 0;
    CHECK_EQ_INT(elfsym_first_load_vaddr(&e, &vaddr), 0);
    CHECK_EQ_INT(vaddr, 0);
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_AddPendingCall", &apc), 0);
    CHECK_EQ_INT(elfsym_lookup(&e, "PyRun_SimpleString", &run), 0);
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_BytesMain", &bm), 0);
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_Version", &ver), 0);
    CHECK(apc != 0 && run != 0 && apc != run);
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_NoSuchSymbolAnywhere", &none), -ENOENT);
    /* A prefix of a real name must not match. */
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_AddPending", &none), -ENOENT);
    elfsym_close(&e);
}

static void test_elf_static_executable(void)
{
    if (!have_file(STATIC_PY))
        return;
    struct elf_file e;
    CHECK_EQ_INT(elfsym_open(&e, STATIC_PY), 0);
    uint64_t vaddr = 0, apc = 0, ver = 0;
    CHECK_EQ_INT(elfsym_first_load_vaddr(&e, &vaddr), 0);
    CHECK_EQ_INT(vaddr, 0x400000); /* non-PIE: load bias 0 */
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_AddPendingCall", &apc), 0);
    CHECK(apc > vaddr);
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_Version", &ver), 0);
    elfsym_close(&e);
}

static void test_elf_old_python_has_no_bytesmain(void)
{
    const char *lib37 = "/root/.pyenv/versions/3.7.16/lib/libpython3.7m.so.1.0";
    if (!have_file(lib37))
        return;
    struct elf_file e;
    uint64_t v;
    CHECK_EQ_INT(elfsym_open(&e, lib37), 0);
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_AddPendingCall", &v), 0);
    CHECK_EQ_INT(elfsym_lookup(&e, "Py_BytesMain", &v), -ENOENT);
    elfsym_close(&e);
}

/* The static marker is found through .symtab and, with the bias computed
 * from our own maps, lands exactly on the function. */
static void test_elf_symtab_and_bias_on_self(void)
{
    struct procmaps m;
    CHECK_EQ_INT(procmaps_load(getpid(), &m), 0);
    struct stat st;
    CHECK_EQ_INT(stat("/proc/self/exe", &st), 0);
    const struct procmaps_entry *exe = procmaps_find_pymod(&m, (uint64_t)st.st_ino);
    CHECK(exe != NULL);
    if (!exe) {
        procmaps_free(&m);
        return;
    }
    struct elf_file e;
    uint64_t vaddr = 0, marker = 0;
    CHECK_EQ_INT(elfsym_open(&e, "/proc/self/exe"), 0);
    CHECK_EQ_INT(elfsym_first_load_vaddr(&e, &vaddr), 0);
    CHECK_EQ_INT(elfsym_lookup(&e, "test_elf_marker", &marker), 0);
    CHECK_EQ_INT(exe->start - vaddr + marker, (uint64_t)(uintptr_t)test_elf_marker);
    CHECK_EQ_INT(test_elf_marker(1), 4);
    elfsym_close(&e);
    procmaps_free(&m);
}

static int copy_prefix(const char *src, const char *dst, size_t len)
{
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[65536];
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    while (rc == 0 && len > 0) {
        ssize_t n = read(in, buf, len < sizeof(buf) ? len : sizeof(buf));
        if (n <= 0 || write(out, buf, (size_t)n) != n)
            break;
        len -= (size_t)n;
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* Truncated copies: either elf_open fails or lookups fail; never a crash. */
static void test_elf_truncated_files(void)
{
    if (!have_file(LIBPY311))
        return;
    struct stat st;
    CHECK_EQ_INT(stat(LIBPY311, &st), 0);
    const size_t lens[] = {0, 4, 63, 64, 100, 4096, (size_t)st.st_size / 2,
                           (size_t)st.st_size - 1};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        CHECK_EQ_INT(copy_prefix(LIBPY311, TRUNC_PATH, lens[i]), 0);
        struct elf_file e;
        int rc = elfsym_open(&e, TRUNC_PATH);
        if (lens[i] < 64)
            CHECK_EQ_INT(rc, -ENOEXEC);
        if (rc == 0) {
            uint64_t v;
            /* The section headers sit at the end: any cut loses them. */
            CHECK(elfsym_lookup(&e, "Py_AddPendingCall", &v) != 0);
            elfsym_close(&e);
        }
    }
    unlink(TRUNC_PATH);
}

/* A header whose tables point past the end or wrap around. */
static void test_elf_hostile_header(void)
{
    if (!have_file(LIBPY311))
        return;
    CHECK_EQ_INT(copy_prefix(LIBPY311, TRUNC_PATH, 8192), 0);
    int fd = open(TRUNC_PATH, O_RDWR);
    Elf64_Ehdr eh;
    CHECK(pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh));
    eh.e_shoff = UINT64_MAX - 16;
    eh.e_phoff = UINT64_MAX - 8;
    CHECK(pwrite(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh));
    close(fd);
    struct elf_file e;
    int rc = elfsym_open(&e, TRUNC_PATH);
    if (rc == 0) {
        uint64_t v;
        CHECK(elfsym_first_load_vaddr(&e, &v) != 0);
        CHECK(elfsym_lookup(&e, "Py_AddPendingCall", &v) != 0);
        elfsym_close(&e);
    }
    unlink(TRUNC_PATH);
}

static void test_elf_not_elf(void)
{
    struct elf_file e;
    CHECK_EQ_INT(elfsym_open(&e, "/nonexistent/pymemtop"), -ENOENT);
    CHECK_EQ_INT(elfsym_open(&e, "/tmp"), -ENOEXEC);
    CHECK_EQ_INT(elfsym_open(&e, "/etc/passwd"), -ENOEXEC);
}

static void test_procmaps_parse_line(void)
{
    struct procmaps_entry e;
    CHECK_EQ_INT(procmaps_parse_line("7f12a0000000-7f12a0021000 r-xp 00001000 fe:01 1234567   "
                                     "/opt/my dir/libpython3.12.so.1.0 (deleted)",
                                     &e),
                 0);
    CHECK_EQ_INT(e.start, 0x7f12a0000000ull);
    CHECK_EQ_INT(e.end, 0x7f12a0021000ull);
    CHECK_EQ_INT(e.offset, 0x1000);
    CHECK_EQ_INT(e.inode, 1234567);
    CHECK(strcmp(e.perms, "r-xp") == 0);
    CHECK(e.deleted);
    CHECK(strcmp(e.path, "/opt/my dir/libpython3.12.so.1.0") == 0);
    free(e.path);
    CHECK_EQ_INT(procmaps_parse_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0", &e), 0);
    CHECK(e.path && e.path[0] == '\0' && !e.deleted);
    free(e.path);
    CHECK_EQ_INT(procmaps_parse_line("garbage", &e), -EINVAL);
    CHECK_EQ_INT(procmaps_parse_line("", &e), -EINVAL);
    CHECK_EQ_INT(procmaps_parse_line("2000-1000 r-xp 0 00:00 0 /x", &e), -EINVAL);
}

static void test_procmaps_is_libpython(void)
{
    CHECK(procmaps_is_libpython("/usr/lib/libpython3.11.so.1.0"));
    CHECK(procmaps_is_libpython("libpython3.7m.so.1.0"));
    CHECK(procmaps_is_libpython("/x/libpython2.7.so"));
    CHECK(procmaps_is_libpython("/x/libpython3.13t.so.1.0"));
    CHECK(!procmaps_is_libpython("/x/libpython3.so"));
    CHECK(!procmaps_is_libpython("/usr/bin/python3.11"));
    CHECK(!procmaps_is_libpython("/x/libpython3.11.a"));
    CHECK(!procmaps_is_libpython("/libpython3.11/libfoo.so"));
}

static void test_procmaps_self(void)
{
    struct procmaps m;
    CHECK_EQ_INT(procmaps_load(getpid(), &m), 0);
    CHECK(m.n > 5);
    uint64_t addr = 0;
    CHECK_EQ_INT(procmaps_find_syscall(getpid(), &m, &addr), 0);
    uint8_t insn[2] = {0, 0};
    CHECK_EQ_INT(procmem_read(getpid(), addr, insn, 2), 0);
    CHECK(insn[0] == 0x0f && insn[1] == 0x05);
    CHECK(procmaps_find_pymod(&m, 0) == NULL); /* not a Python process */
    CHECK(procmem_read(getpid(), 8, insn, 2) != 0);
    procmaps_free(&m);
    CHECK_EQ_INT(procmaps_load(-5, &m), -ENOENT);
}

/* A python linked against libpython names it in DT_NEEDED: target_inspect
 * reads that to tell "starting" (ld.so has not mapped it yet) from "not
 * Python". Debian's python3 carries libpython inside; both need libc. */
#define SHARED_PY "/root/.pyenv/versions/3.11.7/bin/python3.11"
static void test_elf_needed_libraries(void)
{
    struct elf_file e;
    if (have_file(SHARED_PY)) {
        CHECK_EQ_INT(elfsym_open(&e, SHARED_PY), 0);
        CHECK(elfsym_needs(&e, "libpython3.11"));
        CHECK(elfsym_needs(&e, "libc.so"));
        CHECK(!elfsym_needs(&e, "libpython3.12"));
        elfsym_close(&e);
    }
    if (have_file(STATIC_PY)) {
        CHECK_EQ_INT(elfsym_open(&e, STATIC_PY), 0);
        CHECK(!elfsym_needs(&e, "libpython"));
        CHECK(elfsym_needs(&e, "libc.so"));
        elfsym_close(&e);
    }
}

static void test_target_early_exits(void)
{
    struct target_info t;
    char msg[256];
    CHECK_EQ_INT(target_inspect(0, &t, msg, sizeof(msg)), TARGET_NO_PROCESS);
    CHECK_EQ_INT(target_inspect(-1, &t, msg, sizeof(msg)), TARGET_NO_PROCESS);
    CHECK_EQ_INT(target_inspect(getpid(), &t, msg, sizeof(msg)), TARGET_NOT_PYTHON);
    CHECK(strstr(msg, "not a CPython process") != NULL);
    CHECK(t.ns_pid > 0 && t.comm[0] != '\0');
    CHECK(strcmp(target_status_name(TARGET_OLD_PYTHON), "old_python") == 0);
    CHECK(strcmp(target_status_name(TARGET_NO_PROCESS), "no_process") == 0);
}

/* A real, idle interpreter: inspect only (injection is an integration test). */
static void test_target_inspect_python(void)
{
    if (!have_file(STATIC_PY))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execl(STATIC_PY, "python3.11", "-c", "import time; time.sleep(30)", (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    struct target_info t;
    char msg[256];
    enum target_status s = TARGET_NOT_PYTHON;
    /* Until the interpreter has mapped itself and run Py_Initialize. */
    for (int i = 0; i < 100 && s != TARGET_OK; i++) {
        usleep(20000);
        s = target_inspect(pid, &t, msg, sizeof(msg));
    }
    CHECK_EQ_INT(s, TARGET_OK);
    CHECK_EQ_INT(t.py_major, 3);
    CHECK_EQ_INT(t.py_minor, 11);
    CHECK(!t.pymod_shared);
    CHECK(t.addr_add_pending_call && t.addr_run_simple_string && t.addr_syscall_insn);
    CHECK(strstr(t.cmdline, "time.sleep(30)") != NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    if (!mkdtemp(trunc_dir))
        return 1;
    snprintf(trunc_path, sizeof(trunc_path), "%s/trunc", trunc_dir);
    RUN(test_elf_shared_libpython);
    RUN(test_elf_static_executable);
    RUN(test_elf_old_python_has_no_bytesmain);
    RUN(test_elf_symtab_and_bias_on_self);
    RUN(test_elf_truncated_files);
    RUN(test_elf_hostile_header);
    RUN(test_elf_not_elf);
    RUN(test_elf_needed_libraries);
    RUN(test_procmaps_parse_line);
    RUN(test_procmaps_is_libpython);
    RUN(test_procmaps_self);
    RUN(test_target_early_exits);
    RUN(test_target_inspect_python);
    rmdir(trunc_dir);
    return HARNESS_END();
}
