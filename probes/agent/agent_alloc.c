/* Allocator numbers (stub: replaced by the allocator implementation). */
#include "agent.h"

#include <errno.h>
#include <stdio.h>

void agent_alloc_read(struct pm_alloc *a, uint64_t now_ns)
{
    (void)now_ns;
    a->arenas = a->arenas_highwater = a->pymalloc_used_bytes = a->pymalloc_free_bytes = -1;
    a->malloc_used_bytes = a->malloc_free_bytes = a->mmap_bytes = -1;
}

int agent_alloc_hook(int on, char *msg, size_t msg_len)
{
    (void)on;
    snprintf(msg, msg_len, "allocation counters are not available yet");
    return -ENOSYS;
}

void agent_alloc_detach(void)
{
}
