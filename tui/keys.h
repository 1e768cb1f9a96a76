/* The dashboard's key dispatch. */
#ifndef PYMEMTOP_TUI_KEYS_H
#define PYMEMTOP_TUI_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "dash.h"

/* Handles one key; true when the user asked to quit. */
bool keys_handle(struct dash *d, int ch, uint64_t now);

#endif
