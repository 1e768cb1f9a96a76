/* The wire protocol between the monitor and the agent: framing, encoding, and
 * the one decoder, which never trusts its input.
 *
 * Transport: a SOCK_STREAM Unix socket at /tmp/.pymemtop-<uid>/<pid>.sock
 * (directory 0700, owned by the target's uid; peers checked with SO_PEERCRED).
 *
 * Frame (all integers little-endian):
 *   offset 0  u32 magic    0x50544d50 ("PMTP" in memory order)
 *   offset 4  u16 version  PROTO_VERSION; a peer refuses other versions
 *   offset 6  u16 type     enum proto_type
 *   offset 8  u32 length   payload bytes, at most PROTO_MAX_PAYLOAD
 *   offset 12 payload      a sequence of fields
 *
 * Field: u16 tag, u16 length, then `length` bytes of value.
 *   integer fields: exactly 8 bytes (u64 or two's-complement i64)
 *   string fields:  UTF-8, no NUL, 0 to PROTO_MAX_STRING bytes
 *   PAUSE fields:   40 bytes: end_ns u64, pause_ns u64, collected i64,
 *                   uncollectable i64, generation u64
 *   array fields (GC_*): 24 bytes, three i64, one per generation
 * Unknown tags are skipped (a newer peer may add fields); a known tag with the
 * wrong length, a truncated field or a frame over the limits is an error.
 *
 * Messages:
 *   HELLO   agent -> monitor on connect: AGENT_VERSION, PID, HEXVERSION,
 *           PYTHON, LOADED_NS, CLIENTS, INTERVAL_MS
 *   BUSY    agent -> monitor: the agent serves as many monitors as it can
 *           (PM_AGENT_MAX_MONITORS, 8) and refuses this one: PID (of the
 *           first it serves, for monitors that knew only one), and since
 *           issue 12 MONITORS, MONITORS_MAX and MONITOR_PIDS
 *   SAMPLE  agent -> monitor every interval: TIME_NS, GC_ENABLED,
 *           GC_THRESHOLDS, GC_COUNTS, GC_COLLECTIONS, GC_COLLECTED,
 *           GC_UNCOLLECTABLE, ALLOC_BLOCKS, PAUSE_COUNT, PAUSE_TOTAL_NS,
 *           PAUSE_MAX_NS, OBSERVER_NS, SAMPLE_COST_NS, PAUSES_DROPPED,
 *           PAUSE (repeated, oldest first)
 *           and since version 1.1: allocator fields (ALLOC_*, PYMALLOC_*,
 *           MALLOC_*, MMAP_BYTES, BLOCKS_COST_NS, HOOK_*), GARBAGE_LEN,
 *           TRACEMALLOC_ON, TRACED_BYTES, TRACED_PEAK, CENSUS_COST_NS,
 *           CENSUS_INTERVAL_MS. HOOK_CALLS and HOOK_BYTES are 24-byte arrays
 *           (RAW, MEM, OBJ).
 *           and, added later and sent only when gc.get_stats() has the keys
 *           (3.15+): GC_DURATION_NS (the "duration" seconds as ns, since
 *           process start) and GC_CANDIDATES, both GC_* arrays; -1 entries
 *           for a generation without the key. Absent: unknown (-1).
 *   CENSUS  agent -> monitor, on its budget or on command: TIME_NS, COST_NS,
 *           OBJECTS, METHOD, KIND (PM_CENSUS_KIND_*), TRUNCATED, SNAPSHOTS,
 *           TYPES_TOTAL, TYPE (repeated: u64 count, i64 delta, then the type
 *           name, 1 to PM_TYPE_NAME_MAX-1 bytes)
 *   HUNT    agent -> monitor after a cycle hunt: TIME_NS, COST_NS, OBJECTS,
 *           CYCLES, TRUNCATED, SHAPE (repeated: u64 count, u64 bytes,
 *           u64 length, u16 path length, path, advice)
 *   SITES   agent -> monitor: tracemalloc top sites or a snapshot diff:
 *           TIME_NS, COST_NS, KIND, TRACED_BYTES, TRACED_PEAK, SITE
 *           (repeated: i64 size, i64 count, i64 size_diff, i64 count_diff,
 *           then "file:line")
 *   WHY     agent -> monitor after a "why" command: TIME_NS, WHY_TYPE, SAMPLED,
 *           VISITED, BUDGET_MS, COMPLETE, PAUSE_NS, MESSAGE, CHAIN (repeated,
 *           most common first: u64 count, u64 n_edges (1..PM_WHY_MAX_EDGES),
 *           then n_edges times u16 length + that many bytes of UTF-8, the
 *           field ending exactly after the last edge)
 *   COMMAND monitor -> agent: CMD_ID, CMD_NAME, CMD_ARG, CMD_TEXT (optional
 *           string argument, at most PM_TYPE_NAME_MAX-1 bytes). Names: "collect"
 *           (generation), "interval" (ms), "census", "snapshot", "diff"
 *           (0 previous, 1 baseline), "tracemalloc" (0 off, N>0 on with N
 *           frames), "hunt", "alloc_hook" (0 off, 1 on), "detach", "ping",
 *           "why" (CMD_TEXT the type name, "module.qualname" as the census
 *           names it or a bare class name; CMD_ARG the time budget in ms,
 *           0 for the default).
 *           A command's result messages (CENSUS, HUNT, SITES, WHY) come before
 *           its REPLY.
 *   REPLY   agent -> monitor: CMD_ID, STATUS, MESSAGE, VALUE, PAUSE_NS
 *
 * Several monitors at once (issue 12): the agent serves up to 8 connections,
 * each exactly as if it were alone: its own HELLO, its own SAMPLE interval
 * ("interval" applies to the sender only), every PAUSE since its own
 * previous sample (PAUSE_COUNT, PAUSE_TOTAL_NS, PAUSE_MAX_NS, PAUSES_DROPPED
 * and OBSERVER_NS count since its first sample), the REPLY and result frames
 * of its own commands only. The periodic CENSUS goes to all. Shared by all:
 * the census schedule (the fastest "census_interval", the smallest
 * "census_budget"), "max_pause" (the smallest), snapshots, tracemalloc and
 * the allocation hook; "confirm_pause" is the sender's own. HELLO and SAMPLE
 * carry MONITORS (connected now, this one included; absent from older
 * agents); HELLO's CLIENTS stays "connections served since load".
 *
 * Added for cycle capture (issue 13; tags 130-149, type 10):
 *   SHAPES  agent -> monitor with every SAMPLE while a monitor is attached:
 *           CAP_TIME_NS, CAP_SINCE_NS, CAP_BUDGET_BP, CAP_COST_NS, CAP_MAX_NS,
 *           CAP_CAPTURES and CAP_COLLECTIONS (GC_* arrays, per generation),
 *           CAP_OBJECTS, CAP_TRUNCATED, CAP_SKIPPED, CAP_SHAPES_TOTAL,
 *           CAP_STATE, then either CAP_UNCHANGED (1: the shapes did not change
 *           since the previous SHAPES frame, none sent) or RECENT_SHAPE
 *           (repeated, most objects first: u64 count, bytes, length, objects,
 *           est_objects, first_seen_ns, last_seen_ns, u16 path length, path,
 *           advice). COMMAND "cycle_capture" (CMD_ARG basis points of wall
 *           time, 0 off) sets [cycles] capture and capture_budget.
 *
 * Added for bounded pauses (all optional, absent = 0): CENSUS WALL_NS,
 * MAX_SLICE_NS, SLICES, RESTARTS; SAMPLE HOLD_MAX_NS (and of that hold
 * HOLD_MAX_CPU_NS, HOLD_MAX_GC_NS, HOLD_MAX_WHAT: lib/model.h pm_hold); REPLY MAX_HOLD_NS and
 * PREDICT_NS (a stop-the-world command refused with -EAGAIN because its
 * predicted pause is over the confirmation threshold: run it again with
 * COMMAND CMD_FLAGS PROTO_CMD_FORCE); SAMPLE PYMALLOC_SKIP_NS (the pymalloc
 * walk was due but would hold the GIL longer than max_pause: left out, its
 * figures keep their PYMALLOC_TIME_NS); CENSUS CENSUS_SKIP_NS (a periodic
 * census on the gc.get_objects() path, one CPython call, left out because it
 * would hold the GIL longer than max_pause: no TYPE rows); COMMAND "max_pause" (ms) and
 * "confirm_pause" (ms) set [agent] max_pause_ms and confirm_pause_ms.
 *
 * Added for bytes per type (tags 120-129, all optional): CENSUS BYTES_TOTAL
 * (u64, every type's bytes, sent types or not), BYTES_NOTE (str, why some
 * kind's bytes fell back to approximate), and after each TYPE record a
 * TYPE_BYTES record (u64 bytes, i64 bytes_delta, u64 flags
 * PROTO_TYPE_BYTES_*, no string) for that type: shallow bytes as
 * sys.getsizeof sums them, and their change like TYPE's delta. Absent when
 * the agent computed no bytes (an older agent, PYMEMTOP_CENSUS_BYTES=0 in
 * the target, a version with no size layout): the monitor shows none. A
 * TYPE_BYTES with no TYPE before it is an error.
 */
#ifndef PYMEMTOP_LIB_PROTO_H
#define PYMEMTOP_LIB_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "model.h"

#define PROTO_MAGIC 0x50544d50u
#define PROTO_VERSION 1
#define PROTO_HEADER_BYTES 12
#define PROTO_MAX_PAYLOAD (1u << 20)
#define PROTO_MAX_STRING 4096
#define PROTO_PAUSE_BYTES 40
#define PROTO_CMD_NAME_MAX 32

enum proto_type {
    PROTO_HELLO = 1,
    PROTO_BUSY = 2,
    PROTO_SAMPLE = 3,
    PROTO_COMMAND = 4,
    PROTO_REPLY = 5,
    PROTO_CENSUS = 6,
    PROTO_HUNT = 7,
    PROTO_SITES = 8,
    PROTO_WHY = 9,
    PROTO_SHAPES = 10,
};

enum proto_tag {
    /* HELLO */
    TAG_AGENT_VERSION = 1,
    TAG_PID = 2,
    TAG_HEXVERSION = 3,
    TAG_PYTHON = 4,
    TAG_LOADED_NS = 5,
    TAG_CLIENTS = 6,
    TAG_INTERVAL_MS = 7,
    TAG_PROTOCOL = 8,
    TAG_LAYOUT = 9,       /* str: the lib/pylayout.c row, "" when none */
    TAG_RAW_PATHS = 10,   /* u64: PM_RAW_* bits, the raw-memory paths proved at start */
    TAG_LAYOUT_NOTE = 11, /* str: why a raw path is off */
    /* SAMPLE */
    TAG_TIME_NS = 20,
    TAG_GC_ENABLED = 21,
    TAG_GC_THRESHOLDS = 22,
    TAG_GC_COUNTS = 23,
    TAG_GC_COLLECTIONS = 24,
    TAG_GC_COLLECTED = 25,
    TAG_GC_UNCOLLECTABLE = 26,
    TAG_ALLOC_BLOCKS = 27,
    TAG_PAUSE_COUNT = 28,
    TAG_PAUSE_TOTAL_NS = 29,
    TAG_PAUSE_MAX_NS = 30,
    TAG_OBSERVER_NS = 31,
    TAG_SAMPLE_COST_NS = 32,
    TAG_PAUSES_DROPPED = 33,
    TAG_PAUSE = 34,
    TAG_ALLOC_ARENAS = 35,
    TAG_ALLOC_ARENAS_HW = 36,
    TAG_PYMALLOC_USED = 37,
    TAG_PYMALLOC_FREE = 38,
    TAG_PYMALLOC_TIME_NS = 39,
    TAG_PYMALLOC_COST_NS = 40,
    TAG_MALLOC_USED = 41,
    TAG_MALLOC_FREE = 42,
    TAG_MMAP_BYTES = 43,
    TAG_BLOCKS_COST_NS = 44,
    TAG_HOOK_ON = 45,
    TAG_HOOK_CALLS = 46,
    TAG_HOOK_BYTES = 47,
    TAG_HOOK_COST_NS = 48,
    TAG_GARBAGE_LEN = 49,
    TAG_TRACEMALLOC_ON = 50,
    TAG_TRACED_BYTES = 51,
    TAG_TRACED_PEAK = 52,
    TAG_CENSUS_COST_NS = 53,
    TAG_CENSUS_INTERVAL_MS = 54,
    TAG_GC_DURATION_NS = 55,
    TAG_GC_CANDIDATES = 56,
    /* COMMAND / REPLY */
    TAG_CMD_ID = 60,
    TAG_CMD_NAME = 61,
    TAG_CMD_ARG = 62,
    TAG_STATUS = 63,
    TAG_MESSAGE = 64,
    TAG_VALUE = 65,
    TAG_PAUSE_NS = 66,
    TAG_CMD_TEXT = 67,
    /* CENSUS / HUNT / SITES */
    TAG_COST_NS = 70,
    TAG_OBJECTS = 71,
    TAG_METHOD = 72,
    TAG_TRUNCATED = 73,
    TAG_TYPE = 74,
    TAG_CYCLES = 75,
    TAG_SHAPE = 76,
    TAG_KIND = 77,
    TAG_SITE = 78,
    TAG_SNAPSHOTS = 79,
    TAG_TYPES_TOTAL = 80,
    /* WHY */
    TAG_SAMPLED = 81,
    TAG_CHAIN = 82,
    TAG_WHY_TYPE = 83,
    TAG_VISITED = 84,
    TAG_BUDGET_MS = 85,
    TAG_COMPLETE = 86,

    /* Bounded pauses (issue 15); numbered from 100 to stay clear of other work. */
    TAG_WALL_NS = 100,      /* CENSUS: first slice to last, ns */
    TAG_MAX_SLICE_NS = 101, /* CENSUS: the longest single GIL hold, ns */
    TAG_SLICES = 102,       /* CENSUS: GIL holds it took */
    TAG_RESTARTS = 103,     /* CENSUS: restarts after full collections mid-census */
    TAG_HOLD_MAX_NS = 104,  /* SAMPLE: the agent's longest GIL hold since the last sample */
    TAG_MAX_HOLD_NS = 105,  /* REPLY: the command's longest single GIL hold */
    TAG_PREDICT_NS = 106,   /* REPLY: predicted pause of a stop-the-world command */
    TAG_CMD_FLAGS = 107,    /* COMMAND: PROTO_CMD_FORCE ... */
    TAG_PYMALLOC_SKIP_NS = 108, /* SAMPLE: predicted hold of a pymalloc walk left out */
    TAG_CENSUS_SKIP_NS = 109,   /* CENSUS: predicted hold of a get_objects census left out */
    TAG_HOLD_MAX_CPU_NS = 110,  /* SAMPLE: of HOLD_MAX_NS, the agent's thread on a CPU */
    TAG_HOLD_MAX_GC_NS = 111,   /* SAMPLE: of HOLD_MAX_NS, collections run inside it */
    TAG_HOLD_MAX_WHAT = 112,    /* SAMPLE: str, what the agent did for most of that hold */
    TAG_BLOCKS_SKIP_NS = 113,   /* SAMPLE: predicted hold of a getallocatedblocks() left out */

    /* Bytes per type (issue 13): 120-129. */
    TAG_TYPE_BYTES = 120,  /* CENSUS: u64 bytes, i64 bytes_delta, u64 flags; the TYPE before it */
    TAG_BYTES_TOTAL = 121, /* CENSUS: bytes of every type counted */
    TAG_BYTES_NOTE = 122,  /* CENSUS: why some bytes are approximate */

    /* The tracemalloc lease (issue 13); 150-159 are reserved for it. */
    TAG_LEASE_S = 150,          /* COMMAND tracemalloc: keep tracing this many s after the
                                   monitor leaves; absent or 0: stop when it leaves */
    TAG_TM_LEASE_LEFT_MS = 151, /* SAMPLE: ms left of the lease; absent or 0: none */
    TAG_TM_OWNER = 152,         /* SAMPLE: who started the tracing on now, PM_TM_OWNER_* */

    /* Several monitors at once (issue 12 part 3): 160-169. */
    TAG_MONITORS = 160,     /* HELLO, SAMPLE, BUSY: monitors the agent serves now */
    TAG_MONITORS_MAX = 161, /* BUSY: how many it serves at most */
    TAG_MONITOR_PIDS = 162, /* BUSY: str "123, 456": their PIDs (those it can see) */

    /* Cycle capture (issue 13): 130-149, SHAPES frames only. */
    TAG_CAP_BUDGET_BP = 130,
    TAG_CAP_SINCE_NS = 131,
    TAG_CAP_COST_NS = 132,
    TAG_CAP_MAX_NS = 133,
    TAG_CAP_CAPTURES = 134,    /* GC_* array */
    TAG_CAP_COLLECTIONS = 135, /* GC_* array */
    TAG_CAP_OBJECTS = 136,
    TAG_CAP_TRUNCATED = 137,
    TAG_CAP_STATE = 138,       /* str */
    TAG_CAP_SKIPPED = 139,
    TAG_RECENT_SHAPE = 140,
    TAG_CAP_UNCHANGED = 141,
    TAG_CAP_SHAPES_TOTAL = 142,
    TAG_CAP_TIME_NS = 143,
};

/* TYPE_BYTES flags. APPROX: no proved formula for the type (its own C
 * __sizeof__, or one written in Python, which the census never calls):
 * bytes are basicsize + headers per instance. */
#define PROTO_TYPE_BYTES_APPROX 1u

/* COMMAND flags. FORCE: run a stop-the-world command even when its predicted
 * pause is over the confirmation threshold. */
#define PROTO_CMD_FORCE 1u

/* A growable encode buffer. Allocation failure sets `failed`; every later put
 * is a no-op, so callers check once at the end. */
struct proto_buf {
    uint8_t *data;
    size_t len, cap;
    size_t frame_start; /* offset of the frame being built */
    int failed;
};

/* A decoded frame header. */
struct proto_header {
    uint16_t version;
    uint16_t type;
    uint32_t length;
};

/* A command as the agent sees it. */
struct proto_command {
    uint64_t id;
    char name[PROTO_CMD_NAME_MAX];
    int64_t arg;
    char text[PM_TYPE_NAME_MAX]; /* CMD_TEXT, "" when absent */
    uint64_t flags;              /* CMD_FLAGS, PROTO_CMD_*; 0 when absent */
    int64_t lease_s;             /* LEASE_S; 0 when absent */
};

void proto_buf_init(struct proto_buf *b);
void proto_buf_free(struct proto_buf *b);
/* Starts a frame of `type` in an emptied buffer; proto_end() fills in the
 * length. proto_append() starts another frame after those already built, so
 * one send carries a command's result and its reply. */
void proto_begin(struct proto_buf *b, enum proto_type type);
void proto_append(struct proto_buf *b, enum proto_type type);
/* Appends the complete frames built in `frames` (one frame's size at most)
 * after those in b: one encoding sent to several peers. */
void proto_append_frames(struct proto_buf *b, const struct proto_buf *frames);
void proto_put_u64(struct proto_buf *b, enum proto_tag tag, uint64_t v);
void proto_put_i64(struct proto_buf *b, enum proto_tag tag, int64_t v);
void proto_put_str(struct proto_buf *b, enum proto_tag tag, const char *s);
void proto_put_gens(struct proto_buf *b, enum proto_tag tag, const int64_t v[PM_GENERATIONS]);
void proto_put_pause(struct proto_buf *b, const struct pm_gc_pause *p);
/* A record field: n 8-byte integers, then a string (may be ""). */
void proto_put_record(struct proto_buf *b, enum proto_tag tag, const uint64_t *nums, int n,
                      const char *s);
void proto_put_shape(struct proto_buf *b, const struct pm_shape *sh);
/* A RECENT_SHAPE field of a SHAPES frame. */
void proto_put_recent_shape(struct proto_buf *b, const struct pm_recent_shape *r);
/* A CHAIN field of a WHY frame (edges cut to PM_WHY_EDGE_MAX-1 bytes). */
void proto_put_chain(struct proto_buf *b, const struct pm_why_chain *c);
/* Returns 0, or -1 if the frame could not be built (no memory, too large). */
int proto_end(struct proto_buf *b);

/* Header checks: magic, version, length limit. 0 or -1 with *why set. */
int proto_decode_header(const uint8_t *buf, size_t len, struct proto_header *h, const char **why);

/* Payload decoders: 0 on success, -1 with *why set. Missing fields keep the
 * defaults the decoder sets (zero, or -1 for "unknown" counters). */
int proto_decode_hello(const uint8_t *p, size_t len, struct pm_hello *out, const char **why);
int proto_decode_sample(const uint8_t *p, size_t len, struct pm_agent_sample *out,
                        const char **why);
int proto_decode_command(const uint8_t *p, size_t len, struct proto_command *out,
                         const char **why);
int proto_decode_reply(const uint8_t *p, size_t len, struct pm_reply *out, const char **why);
/* CENSUS allocates out->types; free it with pm_census_free (also on error). */
int proto_decode_census(const uint8_t *p, size_t len, struct pm_census *out, const char **why);
void pm_census_free(struct pm_census *c);
int proto_decode_hunt(const uint8_t *p, size_t len, struct pm_hunt *out, const char **why);
int proto_decode_sites(const uint8_t *p, size_t len, struct pm_sites *out, const char **why);
int proto_decode_why(const uint8_t *p, size_t len, struct pm_why *out, const char **why);
/* SHAPES: out->unchanged set means out->shapes were not sent (keep yours). */
int proto_decode_shapes(const uint8_t *p, size_t len, struct pm_capture *out, const char **why);

/* BUSY: who the agent serves already. Fields absent (older agents): 0, "". */
struct proto_busy {
    int64_t holder_pid; /* the first monitor served; 0 outside its PID namespace */
    uint64_t monitors;  /* served now */
    uint64_t max;       /* at most */
    char pids[256];     /* "123, 456" */
};
int proto_decode_busy(const uint8_t *p, size_t len, struct proto_busy *out, const char **why);

/* Reassembles frames from a stream socket. `max_payload` lets each side cap
 * what it accepts (the agent takes only small commands). */
struct proto_reader {
    uint8_t *buf;
    size_t len, cap, consumed;
    uint32_t max_payload;
};

void proto_reader_init(struct proto_reader *r, uint32_t max_payload);
void proto_reader_free(struct proto_reader *r);
/* One read(2) from fd: >0 bytes read, 0 end of stream, -1 error (errno). */
long proto_reader_fill(struct proto_reader *r, int fd);
/* Next complete frame: 1 (h and *payload valid until the next call), 0 when
 * more bytes are needed, -1 for a malformed stream (*why says how). */
int proto_reader_next(struct proto_reader *r, struct proto_header *h, const uint8_t **payload,
                      const char **why);
/* Writes a whole frame (MSG_NOSIGNAL); 0 or -errno. */
int proto_send(int fd, const struct proto_buf *b);

/* The agent's address: an abstract unix name (no file: it lives in the
 * target's network namespace), `name` without its leading NUL. Both the
 * agent (bind) and the monitor (connect) build it here. Returns its length. */
socklen_t proto_abstract_addr(struct sockaddr_un *sa, const char *name);

#endif
