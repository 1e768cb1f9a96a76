/* A session's latest sample as one JSON object (the --once --json schema,
 * documented in README.md). */
#ifndef PYMEMTOP_PROBES_SESSION_JSON_H
#define PYMEMTOP_PROBES_SESSION_JSON_H

#include <stdio.h>

#include "session.h"

/* types_cap: at most this many rows in "types" (sorted by count). */
void session_json_write(const struct session *s, FILE *f, size_t types_cap);
/* Pieces reused by the --command output. */
struct json;
void session_json_types(struct json *j, const struct session *s, size_t cap);
void session_json_hunt_fields(struct json *j, const struct pm_hunt *h);
/* cycles.capture and cycles.recent_shapes (session_json_capture.c). */
void session_json_capture(struct json *j, const struct session *s);
/* A "why" answer: type, sampled, visited, budget_ms, complete, chains
 * [{path: [...], count}]; session_json_why adds pause_ns and message (the
 * --command line already has both from the reply: use the _fields one). */
void session_json_why_fields(struct json *j, const struct pm_why *w);
void session_json_why(struct json *j, const struct pm_why *w);
void session_json_sites(struct json *j, const char *key, const struct pm_sites *sites);
void session_json_diff_types(struct json *j, const struct pm_census *diff, size_t cap);
/* {"error": status name, "message": ...} for a failed attach. */
void session_json_error(FILE *f, int pid, const char *status, const char *message);

#endif
