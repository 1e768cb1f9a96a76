/* Which edge of a cycle a weakref would best break, read from a shape's
 * rendered path ("A -.parent-> B -[0]-> A"). Pure string work: no Python. */
#ifndef PYMEMTOP_PROBES_AGENT_AGENT_ADVICE_H
#define PYMEMTOP_PROBES_AGENT_AGENT_ADVICE_H

#include <stddef.h>

/* One line into out ("" when there is nothing useful to say). del_type: a
 * class of the cycle that defines __del__, "" or NULL none. */
void agent_advice_for(const char *path, const char *del_type, char *out, size_t n);

#endif
