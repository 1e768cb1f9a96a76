/* Bootstrap string and agent-file checks. */
#include "bootstrap.h"

#include <errno.h>
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
    if (!bootstrap_path_ok(agent_path)) {
        snprintf(msg, msg_len,
                 "agent path '%.200s' is not usable: it must be absolute, under %d bytes, "
                 "and use only letters, digits and / . _ + -; install pymemtop elsewhere",
                 agent_path, BOOTSTRAP_MAX_PATH);
        return -1;
    }
    /* exec() in a fresh dict: the names it binds die with it. The try block
     * binds nothing itself. */
    int n = snprintf(out, cap,
                     "try:\n"
                     " exec(\"import sys,_imp\\n"
                     "s=sys.modules['_frozen_importlib'].ModuleSpec('_pymemtop_agent',None,"
                     "origin='%s')\\n"
                     "m=_imp.create_dynamic(s)\\n"
                     "_imp.exec_dynamic(m)\\n"
                     "m._start()\",{})\n"
                     "except BaseException:\n"
                     " pass\n",
                     agent_path);
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
