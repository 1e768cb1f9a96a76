/* What pymemtop knows about each CPython version's internals, in one table.
 *
 * Both sides read it: the monitor (which pending-call entry queues the
 * bootstrap; whether a build is supported at all) and the agent (where the
 * collector's generation lists and a frame's fast locals are). A row is a
 * claim about a version range and a kind of build; every raw read is still
 * proved on the running interpreter before use (pylayout_gens_valid,
 * pylayout_dbg_decode, pylayout_iframe_locals). A version or build with no row,
 * or a row that says NONE for a facility, gets the public-API path or "not
 * available on this build": never a guess.
 *
 * From 3.13 on CPython publishes the offsets that out-of-process tools need in
 * _Py_DebugOffsets, the first member of _PyRuntime (cookie "xdebugpy", the
 * build's PY_VERSION_HEX, a free-threaded flag, then per-struct offsets). The
 * table of offsets itself changes shape between minor versions, so a row names
 * which shape it has (dbg_shape) and the decoder reads only shapes it knows.
 *
 * Pure C, no Python.h: the unit tests exercise the validators on synthetic
 * memory, and the agent compiles this file too. */
#ifndef PYMEMTOP_LIB_PYLAYOUT_H
#define PYMEMTOP_LIB_PYLAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* Kinds of build a row applies to (a bit mask in the row). */
enum {
    PYLAYOUT_BUILD_RELEASE = 1u << 0,
    PYLAYOUT_BUILD_DEBUG = 1u << 1, /* --with-pydebug: sys.gettotalrefcount, abiflags "d" */
    /* Free-threaded (Py_GIL_DISABLED, abiflags "t") builds have no row:
     * no GIL, no generation lists, no pymalloc. */
};

enum pylayout_gc {
    PYLAYOUT_GC_NONE = 0,     /* unknown: count over gc.get_objects() */
    PYLAYOUT_GC_GENERATIONS3, /* three consecutive {PyGC_Head head; int threshold, count} */
    PYLAYOUT_GC_INCREMENTAL,  /* 3.14.0-3.14.4: young + two old spaces; not walked */
};

enum pylayout_frames {
    PYLAYOUT_FRAMES_NONE = 0, /* no local roots for why (public API has no borrowed view) */
    PYLAYOUT_FRAMES_OBJECT,   /* 3.8-3.10: PyFrameObject holds f_localsplus at its end */
    PYLAYOUT_FRAMES_IFRAME,   /* 3.11-3.12: PyFrameObject -> _PyInterpreterFrame, fixed offsets */
    PYLAYOUT_FRAMES_DEBUG_OFFSETS, /* 3.13+: thread state -> frames, offsets from _PyRuntime */
};

enum pylayout_pending {
    PYLAYOUT_PENDING_MAIN = 0, /* Py_AddPendingCall: the main thread runs it */
    /* _PyEval_AddPendingCall(interp, func, arg, int flags), flags 0: any thread
     * of the interpreter runs it (3.12+; 3.8-3.11 export another signature). */
    PYLAYOUT_PENDING_ANY_THREAD,
};

/* Fixed offsets for the frame kinds that predate _Py_DebugOffsets. */
struct pylayout_frame_fixed {
    uint16_t f_code, f_globals;          /* FRAMES_OBJECT: in PyFrameObject */
    uint16_t f_frame;                    /* FRAMES_IFRAME: PyFrameObject -> iframe */
    uint16_t if_code, if_globals, if_frame_obj, if_localsplus; /* in the iframe */
};

struct pylayout {
    uint32_t hex_min, hex_max; /* PY_VERSION_HEX range, inclusive */
    unsigned builds;           /* PYLAYOUT_BUILD_* mask */
    const char *label;         /* "3.14.5+", for messages and JSON */
    enum pylayout_gc gc;
    uint16_t gc_gens_off;      /* generations[] within struct _gc_runtime_state, checked
                                  against the debug offsets (0: rows without them) */
    enum pylayout_frames frames;
    struct pylayout_frame_fixed frame;
    uint8_t stackref_tagged;   /* frame slots are _PyStackRef: low 2 bits tag them */
    uint8_t dbg_shape;         /* _Py_DebugOffsets shape: 13, 14, 15; 0 = none */
    uint8_t static_type_slots; /* tp_flags/tp_traverse/tp_is_gc of static types read
                                  at fixed offsets (the limited API hides them < 3.10) */
    enum pylayout_pending pending;
};

/* Fixed PyTypeObject offsets (64-bit, 3.8-3.9), used only with
 * static_type_slots and after checking against PyType_GetFlags. */
#define PYLAYOUT_TP_FLAGS_OFF 168
#define PYLAYOUT_TP_TRAVERSE_OFF 184
#define PYLAYOUT_TP_CLEAR_OFF 192 /* right after tp_traverse in every version */
#define PYLAYOUT_TP_IS_GC_OFF 328

/* The row for this version and build (PYLAYOUT_BUILD_RELEASE or _DEBUG),
 * NULL when the version or build is unknown (older than 3.8, newer than
 * the newest row, a pre-release of a minor version we have no row for). */
const struct pylayout *pylayout_find(uint64_t hexversion, unsigned build);

/* "3.14.10" from a PY_VERSION_HEX, into buf. */
void pylayout_version_str(uint64_t hexversion, char *buf, size_t n);

/* "3.8-3.15": the minor versions the table has rows for, into buf. */
void pylayout_known_range(char *buf, size_t n);

/* ---- object sizes (the census's bytes per type) ---- */

/* What sys.getsizeof() counts on each version, beyond tp_basicsize: the
 * dict keys object's shape, and which type flags put a pre-header before
 * the object (managed dict / weakref pointers). Every formula built on these
 * is still proved on the running interpreter (agent_census_bytes.c). */
struct pylayout_sizes {
    uint8_t dict_shape;       /* 0: 3.8-3.10 keys {refcnt, size, lookup, usable,
                                 nentries, indices at 40}; 1: 3.11+ {refcnt,
                                 log2_size, log2_index_bytes, kind, version,
                                 usable at 16, nentries at 24, indices at 32} */
    uint32_t preheader_flags; /* tp_flags bits that add 2 pointers (3.11: managed
                                 dict; 3.12+: managed dict or weakref) */
};
/* 0, or -1 for a version with no row (the census then sends no bytes). */
int pylayout_sizes_find(uint64_t hexversion, struct pylayout_sizes *out);

/* ---- whether a target can be attached at all (the monitor's preflight) ---- */

/* ABI flags of a module file name: "t" for python3.14t and
 * libpython3.14t.so.1.0, "d" for python3.14d, "" for python3.14 and for a
 * name with no "pythonX.Y" in it. Letters among "dmut" after the minor. */
void pylayout_abiflags(const char *path, char *flags, size_t n);

/* What the monitor found in a target's files and memory, before writing
 * anything into it. */
struct pylayout_facts {
    const char *module_path;  /* the file holding the C API, as mapped */
    uint64_t hexversion;      /* exact PY_VERSION_HEX (Py_Version, 3.11+); 0 unknown */
    int major, minor;         /* from the file name, used when hexversion is 0 */
    const void *runtime_head; /* first bytes of _PyRuntime; NULL when not read */
    size_t runtime_head_len;
    int has_debug_sym;        /* _Py_NegativeRefcount or _Py_RefTotal exported (Py_REF_DEBUG) */
    int has_ft_sym;           /* _Py_DecRefShared or _Py_MergeZeroLocalRefcount exported
                                 (declared only under Py_GIL_DISABLED) */
};

enum pylayout_verdict {
    PYLAYOUT_SUPPORTED = 0,
    PYLAYOUT_FREE_THREADED, /* any one sign of a free-threaded build */
    PYLAYOUT_NO_ROW,        /* a version (or build) the table has no row for */
};

struct pylayout_judgement {
    enum pylayout_verdict verdict;
    unsigned build;              /* PYLAYOUT_BUILD_RELEASE or _DEBUG */
    int free_threaded;
    const struct pylayout *row;  /* NULL when unsupported, or version unknown */
    enum pylayout_pending pending; /* MAIN unless the row says otherwise */
    char why[200];               /* for a refusal: one line, no PID */
};

/* Decides from the facts alone (pure: the unit tests feed synthetic ones).
 * Free-threaded on any one sign: "t" in the ABI flags, free_threaded set in
 * a _Py_DebugOffsets header at runtime_head, or a free-threaded-only symbol.
 * Debug on "d" in the ABI flags or a Py_REF_DEBUG symbol (both present in
 * every debug build, stripped or not, since the symbols are in .dynsym). */
void pylayout_judge(const struct pylayout_facts *f, struct pylayout_judgement *j);

/* ---- _Py_DebugOffsets ---- */

#define PYLAYOUT_DBG_COOKIE "xdebugpy"
#define PYLAYOUT_DBG_HEADER_LEN 24 /* cookie, version, free_threaded */
#define PYLAYOUT_DBG_MAX_LEN 1024  /* enough to hold every shape we decode */

/* The fields pymemtop uses, decoded from one shape. Offsets in bytes. */
struct pylayout_dbg {
    uint64_t version;        /* PY_VERSION_HEX of the build that wrote it */
    int free_threaded;
    uint64_t interp_gc;      /* struct _gc_runtime_state within PyInterpreterState */
    uint64_t gc_size, gc_collecting;
    uint64_t tstate_size, tstate_current_frame, tstate_thread_id; /* thread_id: threading.get_ident() */
    uint64_t frame_size, frame_previous, frame_executable, frame_localsplus, frame_owner;
    uint64_t code_size, code_localsplusnames;
    uint64_t tuple_ob_size, tuple_ob_item;
};

/* The header alone (the monitor's preflight reads it from the target):
 * 1, with *version and *free_threaded set, when mem starts with the cookie; else 0. */
int pylayout_dbg_header(const void *mem, size_t len, uint64_t *version, int *free_threaded);

/* Decodes mem (len bytes copied from the start of _PyRuntime) with the shape
 * of `row`, for a running interpreter whose sys.hexversion is `hexversion`.
 * 0, or -1 with `why` saying what was refused: no cookie, another version,
 * a free-threaded build, an unknown shape, or anchors that do not read as
 * they must on every build (PyObject.ob_type at 8, list items at 24, ...:
 * a table read with the wrong shape fails them). */
int pylayout_dbg_decode(const void *mem, size_t len, const struct pylayout *row,
                        uint64_t hexversion, struct pylayout_dbg *out, char *why, size_t why_len);

/* ---- validators over live (or, in tests, synthetic) memory ---- */

/* The three generation heads at gen0_head, given what gc.get_threshold()
 * and gc.get_count() answered: thresholds equal, counts equal (generation 0
 * within `slack`: allocating the answer moves it), every head doubly linked
 * with aligned, non-null neighbours. 1 valid, 0 not. Reads 72 bytes at
 * gen0_head and 32 bytes at each neighbour. */
int pylayout_gens_valid(uintptr_t gen0_head, const long long thr[3], const long long cnt[3],
                        long long slack);

/* The fast locals of one _PyInterpreterFrame (3.13+), located through d:
 * its executable must be an object of type code_type whose localsplusnames
 * is a tuple (type tuple_type) of at most max_slots names. On success returns
 * the number of slots and sets *slots (the first slot), *code and *names;
 * tags are not removed (see pylayout_stackref_obj). -1 when the frame does
 * not prove itself (C-stack shim, interpreter-owned entry frame, a layout
 * that does not match): the caller skips it. */
long pylayout_iframe_locals(const struct pylayout_dbg *d, const struct pylayout *row,
                            uintptr_t iframe, uintptr_t code_type, uintptr_t tuple_type,
                            long max_slots, uintptr_t *slots, uintptr_t *code, uintptr_t *names);

/* The object a frame slot refers to, or 0 for NULL and for tagged ints
 * (3.14+: bits 11 tag an int, bit 0 alone a deferred reference). */
uintptr_t pylayout_stackref_obj(const struct pylayout *row, uintptr_t bits);

/* The previous (calling) frame of an iframe, 0 at the bottom. */
uintptr_t pylayout_iframe_previous(const struct pylayout_dbg *d, uintptr_t iframe);

#endif
