/* 'e' in the dashboard: the session's state (the --once --json object), its
 * history series, pauses and events, written to one JSON file. No curses. */
#ifndef PYMEMTOP_TUI_EXPORT_H
#define PYMEMTOP_TUI_EXPORT_H

#include <stddef.h>

#include "history.h"
#include "session.h"

/* Writes ./pymemtop-PID-YYYYmmdd-HHMMSS.json, or into $TMPDIR (else /tmp)
 * when the current directory is not writable. 0 with the absolute path in `path`, or
 * -errno with a message in `err`. */
int export_write(const struct session *s, const struct history *h, size_t types_cap, char *path,
                 size_t path_len, char *err, size_t err_len);

#endif
