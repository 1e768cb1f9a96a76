/* Settings: built-in defaults, then a config file (inih), then the command
 * line. The only file that sees inih. */
#ifndef PYMEMTOP_LIB_CONFIG_H
#define PYMEMTOP_LIB_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct config {
    unsigned interval_ms;       /* [sampling] interval (seconds in the file) */
    unsigned history;           /* [sampling] history: points kept per graph */
    unsigned attach_timeout_ms; /* [attach] timeout (seconds in the file) */
    bool ascii;                 /* [display] ascii: no UTF-8 graphs */
    bool color;                 /* [display] color */
    unsigned suspect_window;    /* [census] suspect_window: K censuses of growth */
    unsigned json_types;        /* [census] json_types: rows in JSON "types" */
    unsigned tracemalloc_frames; /* [tracemalloc] frames */
    char source[PATH_MAX];      /* the file read, "" for defaults only */
};

void config_defaults(struct config *c);

/* Reads `path`, or when NULL the first that exists of
 * $XDG_CONFIG_HOME/pymemtop/pymemtop.ini, ~/.config/pymemtop/pymemtop.ini,
 * /etc/pymemtop.ini. 0 ok; -1 with err set ("FILE:LINE: what, range").
 * Unknown keys are warnings, written to `warn` (may be empty). */
int config_load(struct config *c, const char *path, char *err, size_t err_len, char *warn,
                size_t warn_len);

#endif
