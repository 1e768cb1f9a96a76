/* The agent's second way in, for a target where no thread runs Python (a
 * fully idle process, or before 3.12 a main thread blocked in C): pymemtop
 * dlopens this object with ptrace in a thread parked in a libc wait, which
 * holds no lock (lib/attach.h, attach_native_start), and calls
 * pymemtop_agent_start_thread() there. That call only spawns a native
 * thread and returns; nothing touches Python at the stop. The new thread takes
 * the GIL the normal way (PyGILState_Ensure waits until a thread releases it,
 * as a thread in time.sleep or a lock wait has) and runs the same start as the
 * bootstrap's _start(). */
#include "agent_native.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "agent_main.h"
#include "agent_state.h"

static void *agent_native_thread(void *unused)
{
    (void)unused;
    /* A target that is shutting down is left alone; one that finalizes while
     * we wait for the GIL ends this thread inside PyGILState_Ensure. */
    if (!Py_IsInitialized() || atomic_load(&agent.finalizing))
        return NULL;
    PyGILState_STATE st = PyGILState_Ensure();
    agent_start_native();
    PyGILState_Release(st);
    return NULL;
}

/* Called by pymemtop in a borrowed thread of the target: no Python, no GIL,
 * no lock of ours. 0, or -errno when the thread cannot be created. The new
 * thread blocks every signal, so the target's handlers keep running where
 * they did. */
__attribute__((visibility("default"))) int pymemtop_agent_start_thread(void)
{
    if (atomic_load(&agent.started) && agent.pid == getpid())
        return 0; /* the bootstrap got there first */
    if (!Py_IsInitialized())
        return -EAGAIN; /* still starting (or finalizing): no thread may take the GIL yet */
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return -ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, &attr, agent_native_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return -rc;
}
