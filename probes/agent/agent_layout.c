/* Which raw paths this interpreter allows: its row in lib/pylayout.c, its
 * own _Py_DebugOffsets (3.13+), and the build's kind. Decided once at start;
 * every probe then asks agent.layout / agent.dbg_ok / agent.frames_ok rather
 * than comparing version numbers itself. */
#include "agent_layout.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* --with-pydebug builds have sys.gettotalrefcount (Py_REF_DEBUG). */
static unsigned layout_build(void)
{
    PyObject *f = PySys_GetObject("gettotalrefcount"); /* borrowed, no error set */
    return f ? PYLAYOUT_BUILD_DEBUG : PYLAYOUT_BUILD_RELEASE;
}

/* The debug offsets sit at the start of _PyRuntime, which the interpreter
 * exports for exactly this use (3.13+). Copied first: decoding reads only
 * the copy. */
static void layout_read_dbg(void)
{
    if (!agent.layout || !agent.layout->dbg_shape) {
        snprintf(agent.layout_why, sizeof(agent.layout_why), "no debug offsets before 3.13");
        return;
    }
    const void *rt = dlsym(RTLD_DEFAULT, "_PyRuntime");
    if (!rt) {
        snprintf(agent.layout_why, sizeof(agent.layout_why), "_PyRuntime is not exported");
        return;
    }
    unsigned char copy[PYLAYOUT_DBG_MAX_LEN];
    memcpy(copy, rt, sizeof(copy)); /* _PyRuntimeState is far larger than this */
    agent.dbg_ok = pylayout_dbg_decode(copy, sizeof(copy), agent.layout, agent.hexversion,
                                       &agent.dbg, agent.layout_why,
                                       sizeof(agent.layout_why)) == 0;
}

void agent_layout_init(void)
{
    unsigned build = layout_build();
    agent.layout = pylayout_find(agent.hexversion, build);
    agent.dbg_ok = 0;
    agent.frames_ok = 0;
    agent.layout_why[0] = 0;
    if (!agent.layout) {
        snprintf(agent.layout_why, sizeof(agent.layout_why), "%s%s build: layout unknown",
                 agent.python, build == PYLAYOUT_BUILD_DEBUG ? " debug" : "");
        return;
    }
    layout_read_dbg();
    switch (agent.layout->frames) {
    case PYLAYOUT_FRAMES_OBJECT:
    case PYLAYOUT_FRAMES_IFRAME:
        agent.frames_ok = 1;
        break;
    case PYLAYOUT_FRAMES_DEBUG_OFFSETS:
        /* A Py_STACKREF_DEBUG build keeps indices, not pointers, in frame
         * slots; it exports its index lookup, which tells it apart. */
        agent.frames_ok = agent.dbg_ok && !dlsym(RTLD_DEFAULT, "_Py_stackref_get_object");
        if (agent.dbg_ok && !agent.frames_ok)
            snprintf(agent.layout_why, sizeof(agent.layout_why),
                     "frame slots are not plain references on this build");
        break;
    case PYLAYOUT_FRAMES_NONE:
        snprintf(agent.layout_why, sizeof(agent.layout_why), "%s: frame layout unknown",
                 agent.layout->label);
        break;
    }
}
