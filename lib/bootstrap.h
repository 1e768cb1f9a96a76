/* The Python string a target runs at its safe point to load the agent, and
 * the checks on the agent file it names. */
#ifndef PYMEMTOP_LIB_BOOTSTRAP_H
#define PYMEMTOP_LIB_BOOTSTRAP_H

#include <stddef.h>
#include <sys/types.h>

#define BOOTSTRAP_MAX_PATH 512

/* Builds the bootstrap. It cannot raise (a pending call that fails kills the
 * target's main thread), binds no name in __main__, and loads the agent as a
 * multi-phase extension module so nothing lands in sys.modules either. The
 * path is the only variable part: it must be absolute and made only of
 * [A-Za-z0-9/._+-], so nothing can be smuggled into the code. 0 or -1. */
int bootstrap_build(const char *agent_path, char *out, size_t cap, char *msg, size_t msg_len);

/* What readlink("/proc/self/fd/N") starts with for the memfd pymemtop makes
 * in a target (lib/carry.c) to carry the agent in without a file. */
#define BOOTSTRAP_MEMFD_NAME "pymemtop-agent"
#define BOOTSTRAP_MEMFD_LINK "/memfd:" BOOTSTRAP_MEMFD_NAME

/* The same for an agent carried in as the target's fd `memfd`
 * (agent_path "/proc/self/fd/N"): loads it only if that fd still is the
 * memfd when the call runs. memfd -1: bootstrap_build. */
int bootstrap_build_memfd(const char *agent_path, int memfd, char *out, size_t cap, char *msg,
                          size_t msg_len);

/* The file must be a regular file that only root or we can write (it runs
 * inside the target) and that the target's uid can read. 0 or -1 with msg. */
int bootstrap_check_agent(const char *agent_path, uid_t target_uid, char *msg, size_t msg_len);

/* Run mode: writes DIR/sitecustomize.py, which loads the agent when the
 * interpreter starts, then hands over to the program's own sitecustomize
 * (if any) and restores PYTHONPATH to `orig_pythonpath` (NULL: unset) so
 * that the program's children start without the agent. 0 or -1 with msg. */
int bootstrap_write_sitecustomize(const char *dir, const char *agent_path,
                                  const char *orig_pythonpath, char *msg, size_t msg_len);

#endif
