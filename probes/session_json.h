/* A session's latest sample as one JSON object (the --once --json schema,
 * documented in README.md). */
#ifndef PYMEMTOP_PROBES_SESSION_JSON_H
#define PYMEMTOP_PROBES_SESSION_JSON_H

#include <stdio.h>

#include "session.h"

void session_json_write(const struct session *s, FILE *f);
/* {"error": status name, "message": ...} for a failed attach. */
void session_json_error(FILE *f, int pid, const char *status, const char *message);

#endif
