/* Bootstrap string and agent-file checks. */
#include "bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int bootstrap_path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > BOOTSTRAP_MAX_PATH || p[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '/' || c == '.' || c == '_' || c == '+' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int bootstrap_build(const char *agent_path, char *out, size_t cap, char *msg, size_t msg_len)
{
    return bootstrap_build_memfd(agent_path, -1, out, cap, msg, msg_len);
}

int bootstrap_build_memfd(const char *agent_path, int memfd, char *out, size_t cap, char *msg,
                          size_t msg_len)
{
    if (!bootstrap_path_ok(agent_path)) {
        snprintf(msg, msg_len,
                 "agent path '%.200s' is not usable: it must be absolute, under %d bytes, "
                 "and use only letters, digits and / . _ + -; install pymemtop elsewhere",
                 agent_path, BOOTSTRAP_MAX_PATH);
        return -1;
    }
    /* The call may run long after the attach: if the target closed the
     * memfd meanwhile and the number now names one of its own files, that
     * file must not be loaded. posix is always in sys.modules (os needs it). */
    char guard[128] = "";
    if (memfd >= 0)
        snprintf(guard, sizeof(guard),
                 "import posix\\n"
                 "if posix.readlink('/proc/self/fd/%d').startswith('%s'):\\n ",
                 memfd, BOOTSTRAP_MEMFD_LINK);
    const char *ind = memfd >= 0 ? " " : "";
    /* exec() in a fresh dict: the names it binds die with it. The try block
     * binds nothing itself. */
    int n = snprintf(out, cap,
                     "try:\n"
                     " exec(\"import sys,_imp\\n"
                     "%s"
                     "s=sys.modules['_frozen_importlib'].ModuleSpec('_pymemtop_agent',None,"
                     "origin='%s')\\n"
                     "%sm=_imp.create_dynamic(s)\\n"
                     "%s_imp.exec_dynamic(m)\\n"
                     "%sm._start()\",{})\n"
                     "except BaseException:\n"
                     " pass\n",
                     guard, agent_path, ind, ind, ind);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(msg, msg_len, "bootstrap does not fit in %zu bytes", cap);
        return -1;
    }
    return 0;
}

int bootstrap_check_agent(const char *agent_path, uid_t target_uid, char *msg, size_t msg_len)
{
    struct stat st;
    if (lstat(agent_path, &st) < 0) {
        snprintf(msg, msg_len, "agent %s: %s; run 'make' or reinstall pymemtop", agent_path,
                 strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, msg_len, "agent %s is not a regular file; reinstall pymemtop", agent_path);
        return -1;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) || (st.st_uid != 0 && st.st_uid != geteuid())) {
        snprintf(msg, msg_len,
                 "agent %s is writable by other users, so it could be swapped for code that "
                 "runs inside the target; fix with: chmod go-w %s",
                 agent_path, agent_path);
        return -1;
    }
    int readable = st.st_uid == target_uid ? (st.st_mode & S_IRUSR) != 0
                                           : (st.st_mode & S_IROTH) != 0;
    if (!readable && target_uid != 0) {
        snprintf(msg, msg_len,
                 "agent %s is not readable by the target's user (uid %u); "
                 "install pymemtop system-wide (make install) or chmod a+r it",
                 agent_path, (unsigned)target_uid);
        return -1;
    }
    return 0;
}

/* PYTHONPATH comes from the user's environment: pass it through a hex
 * literal so that no byte of it can end up as Python syntax. */
static void bootstrap_hex(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fprintf(f, "%02x", *p);
}

int bootstrap_write_sitecustomize(const char *dir, const char *agent_path,
                                  const char *orig_pythonpath, char *msg, size_t msg_len)
{
    if (!bootstrap_path_ok(agent_path) || !bootstrap_path_ok(dir)) {
        snprintf(msg, msg_len, "paths must be absolute and use only letters, digits and / . _ + -");
        return -1;
    }
    char path[BOOTSTRAP_MAX_PATH + 32];
    snprintf(path, sizeof(path), "%s/sitecustomize.py", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(msg, msg_len, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f,
            "# Written by pymemtop for one run: loads its agent, then the program's own\n"
            "# sitecustomize. Nothing here stays in the program's namespaces.\n"
            "def _pymemtop_boot():\n"
            "    import os, sys\n"
            "    try:\n"
            "        import _imp\n"
            "        s = sys.modules['_frozen_importlib'].ModuleSpec('_pymemtop_agent', None,\n"
            "                                                        origin='%s')\n"
            "        m = _imp.create_dynamic(s)\n"
            "        _imp.exec_dynamic(m)\n"
            "        m._start()\n"
            "    except BaseException:\n"
            "        pass\n"
            "    here = '%s'\n",
            agent_path, dir);
    fprintf(f, "    orig = ");
    if (orig_pythonpath) {
        fprintf(f, "bytes.fromhex('");
        bootstrap_hex(f, orig_pythonpath);
        fprintf(f, "').decode('utf-8', 'surrogateescape')\n");
    } else {
        fprintf(f, "None\n");
    }
    fprintf(f,
            "    if orig is None:\n"
            "        os.environ.pop('PYTHONPATH', None)\n"
            "    else:\n"
            "        os.environ['PYTHONPATH'] = orig\n"
            "    sys.path[:] = [p for p in sys.path if p != here]\n"
            "    # The program's own sitecustomize, if it has one, takes our place\n"
            "    # in sys.modules and runs as it would have without us.\n"
            "    # (the frozen importlib already loaded: no new modules for the program)\n"
            "    finder = sys.modules['_frozen_importlib_external'].PathFinder\n"
            "    spec = finder.find_spec('sitecustomize', sys.path)\n"
            "    if spec is not None:\n"
            "        mod = sys.modules['_frozen_importlib'].module_from_spec(spec)\n"
            "        sys.modules['sitecustomize'] = mod\n"
            "        spec.loader.exec_module(mod)\n"
            "_pymemtop_boot()\n"
            "del _pymemtop_boot\n");
    if (fclose(f) != 0) {
        snprintf(msg, msg_len, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
