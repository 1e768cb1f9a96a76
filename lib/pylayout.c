/* The per-version table and the validators that prove a row on a live
 * interpreter. See pylayout.h. */
#include "pylayout.h"

#include <stdio.h>
#include <string.h>

#define HEX(ma, mi, mic) (((uint32_t)(ma) << 24) | ((uint32_t)(mi) << 16) | ((uint32_t)(mic) << 8))
#define HEX_END(ma, mi) (HEX(ma, mi, 0xff) | 0xffu)
#define REL PYLAYOUT_BUILD_RELEASE
#define DBG PYLAYOUT_BUILD_DEBUG
#define ANY (REL | DBG)

/* 3.8-3.10 PyFrameObject: f_code at 32, f_globals at 48, f_localsplus ends it. */
#define FRAME_OBJECT_38 {.f_code = 32, .f_globals = 48}
/* 3.11: PyFrameObject.f_frame at 24; iframe {f_func, f_globals 8, f_builtins,
 * f_locals, f_code 32, frame_obj 40, previous, prev_instr, stacktop, is_entry,
 * owner, localsplus 72}. */
#define FRAME_IFRAME_311 {.f_frame = 24, .if_code = 32, .if_globals = 8, .if_frame_obj = 40, \
                          .if_localsplus = 72}
/* 3.12: iframe {f_code 0, previous, f_funcobj, f_globals 24, f_builtins,
 * f_locals, frame_obj 48, prev_instr, stacktop, return_offset, owner,
 * localsplus 72}. */
#define FRAME_IFRAME_312 {.f_frame = 24, .if_code = 0, .if_globals = 24, .if_frame_obj = 48, \
                          .if_localsplus = 72}

/* Debug builds before 3.13 get no raw frame reads: nothing publishes their
 * layout and it has differed from release builds (Py_TRACE_REFS, lltrace).
 * Their generation lists are proved structurally like any other's. */
static const struct pylayout pylayout_rows[] = {
    {HEX(3, 8, 0), HEX_END(3, 9), REL, "3.8-3.9", PYLAYOUT_GC_GENERATIONS3, 0,
     PYLAYOUT_FRAMES_OBJECT, FRAME_OBJECT_38, 0, 0, 1, PYLAYOUT_PENDING_MAIN},
    {HEX(3, 8, 0), HEX_END(3, 9), DBG, "3.8-3.9 debug", PYLAYOUT_GC_GENERATIONS3, 0,
     PYLAYOUT_FRAMES_NONE, {0}, 0, 0, 0, PYLAYOUT_PENDING_MAIN},
    {HEX(3, 10, 0), HEX_END(3, 10), REL, "3.10", PYLAYOUT_GC_GENERATIONS3, 0,
     PYLAYOUT_FRAMES_OBJECT, FRAME_OBJECT_38, 0, 0, 0, PYLAYOUT_PENDING_MAIN},
    {HEX(3, 11, 0), HEX_END(3, 11), REL, "3.11", PYLAYOUT_GC_GENERATIONS3, 0,
     PYLAYOUT_FRAMES_IFRAME, FRAME_IFRAME_311, 0, 0, 0, PYLAYOUT_PENDING_MAIN},
    {HEX(3, 12, 0), HEX_END(3, 12), REL, "3.12", PYLAYOUT_GC_GENERATIONS3, 0,
     PYLAYOUT_FRAMES_IFRAME, FRAME_IFRAME_312, 0, 0, 0, PYLAYOUT_PENDING_ANY_THREAD},
    {HEX(3, 10, 0), HEX_END(3, 12), DBG, "3.10-3.12 debug", PYLAYOUT_GC_GENERATIONS3, 0,
     PYLAYOUT_FRAMES_NONE, {0}, 0, 0, 0, PYLAYOUT_PENDING_MAIN},
    {HEX(3, 13, 0), HEX_END(3, 13), ANY, "3.13", PYLAYOUT_GC_GENERATIONS3, 24,
     PYLAYOUT_FRAMES_DEBUG_OFFSETS, {0}, 0, 13, 0, PYLAYOUT_PENDING_ANY_THREAD},
    /* 3.14.0-3.14.4 shipped the incremental collector (gh-148726 reverted it
     * in 3.14.5): its spaces are not generations, so the census counts over
     * gc.get_objects() there. */
    {HEX(3, 14, 0), HEX(3, 14, 4) | 0xffu, ANY, "3.14.0-3.14.4", PYLAYOUT_GC_INCREMENTAL, 0,
     PYLAYOUT_FRAMES_DEBUG_OFFSETS, {0}, 1, 14, 0, PYLAYOUT_PENDING_ANY_THREAD},
    {HEX(3, 14, 5), HEX_END(3, 14), ANY, "3.14.5+", PYLAYOUT_GC_GENERATIONS3, 24,
     PYLAYOUT_FRAMES_DEBUG_OFFSETS, {0}, 1, 14, 0, PYLAYOUT_PENDING_ANY_THREAD},
    /* 3.15 from its final release: its alphas carried collectors of their own. */
    {HEX(3, 15, 0) | 0xf0u, HEX_END(3, 15), ANY, "3.15", PYLAYOUT_GC_GENERATIONS3, 8,
     PYLAYOUT_FRAMES_DEBUG_OFFSETS, {0}, 1, 15, 0, PYLAYOUT_PENDING_ANY_THREAD},
};

/* The 3.8-3.12 debug rows above differ from release only in frames: 3.10-3.12
 * share one row, so its pending column must not promise 3.12's any-thread
 * call to 3.10/3.11 debug builds (MAIN is always safe). */

const struct pylayout *pylayout_find(uint64_t hexversion, unsigned build)
{
    for (size_t i = 0; i < sizeof(pylayout_rows) / sizeof(pylayout_rows[0]); i++) {
        const struct pylayout *r = &pylayout_rows[i];
        if (hexversion >= r->hex_min && hexversion <= r->hex_max && (r->builds & build))
            return r;
    }
    return NULL;
}

void pylayout_version_str(uint64_t hexversion, char *buf, size_t n)
{
    snprintf(buf, n, "%u.%u.%u", (unsigned)(hexversion >> 24) & 0xff,
             (unsigned)(hexversion >> 16) & 0xff, (unsigned)(hexversion >> 8) & 0xff);
}

void pylayout_known_range(char *buf, size_t n)
{
    const size_t nrows = sizeof(pylayout_rows) / sizeof(pylayout_rows[0]);
    uint32_t lo = pylayout_rows[0].hex_min, hi = pylayout_rows[0].hex_max;
    for (size_t i = 1; i < nrows; i++) {
        if (pylayout_rows[i].hex_min < lo)
            lo = pylayout_rows[i].hex_min;
        if (pylayout_rows[i].hex_max > hi)
            hi = pylayout_rows[i].hex_max;
    }
    snprintf(buf, n, "%u.%u-%u.%u", lo >> 24, (lo >> 16) & 0xff, hi >> 24, (hi >> 16) & 0xff);
}

/* ---- object sizes ---- */

/* Py_TPFLAGS_MANAGED_WEAKREF (1 << 3, 3.12+) and _MANAGED_DICT (1 << 4, 3.11+). */
static const struct {
    uint32_t hex_min, hex_max;
    struct pylayout_sizes s;
} pylayout_size_rows[] = {
    {HEX(3, 8, 0), HEX_END(3, 10), {0, 0}},
    {HEX(3, 11, 0), HEX_END(3, 11), {1, 1u << 4}},
    {HEX(3, 12, 0), HEX_END(3, 15), {1, (1u << 3) | (1u << 4)}},
};

int pylayout_sizes_find(uint64_t hexversion, struct pylayout_sizes *out)
{
    for (size_t i = 0; i < sizeof(pylayout_size_rows) / sizeof(pylayout_size_rows[0]); i++)
        if (hexversion >= pylayout_size_rows[i].hex_min &&
            hexversion <= pylayout_size_rows[i].hex_max) {
            *out = pylayout_size_rows[i].s;
            return 0;
        }
    return -1;
}

/* ---- preflight ---- */

void pylayout_abiflags(const char *path, char *flags, size_t n)
{
    if (n)
        flags[0] = '\0';
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *p = strstr(b, "python");
    if (!p || n == 0)
        return;
    p += 6;
    /* "<major>.<minor>" then the flags, then the end, ".so", "-" or "." */
    if (*p < '0' || *p > '9')
        return;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '.' || *p < '0' || *p > '9')
        return;
    while (*p >= '0' && *p <= '9')
        p++;
    size_t k = 0;
    while (*p && strchr("dmut", *p) && k + 1 < n)
        flags[k++] = *p++;
    flags[k] = '\0';
    /* Letters followed by more letters are a word, not flags ("python3.14dev"). */
    if (*p && *p != '.' && *p != '-' && *p != '_')
        flags[0] = '\0';
}

void pylayout_judge(const struct pylayout_facts *f, struct pylayout_judgement *j)
{
    char flags[8], ver[32], known[32];
    memset(j, 0, sizeof(*j));
    j->pending = PYLAYOUT_PENDING_MAIN;
    pylayout_abiflags(f->module_path ? f->module_path : "", flags, sizeof(flags));
    uint64_t dbg_version = 0;
    int dbg_ft = 0, has_dbg = f->runtime_head &&
                              pylayout_dbg_header(f->runtime_head, f->runtime_head_len,
                                                  &dbg_version, &dbg_ft);
    j->build = strchr(flags, 'd') || f->has_debug_sym ? PYLAYOUT_BUILD_DEBUG
                                                      : PYLAYOUT_BUILD_RELEASE;
    uint64_t hex = f->hexversion;
    if (!hex && has_dbg && (dbg_version >> 24) == 3)
        hex = dbg_version;
    if (hex) {
        pylayout_version_str(hex, ver, sizeof(ver));
        unsigned level = (unsigned)(hex >> 4) & 0xf, serial = (unsigned)hex & 0xf;
        if (level >= 0xa && level <= 0xc) /* "3.15.0a1", "3.15.0rc2" */
            snprintf(ver + strlen(ver), sizeof(ver) - strlen(ver), "%s%u",
                     level == 0xa ? "a" : level == 0xb ? "b" : "rc", serial);
    } else if (f->major)
        snprintf(ver, sizeof(ver), "%d.%d", f->major, f->minor);
    else
        snprintf(ver, sizeof(ver), "of unknown version");
    pylayout_known_range(known, sizeof(known));
    if (strchr(flags, 't') || (has_dbg && dbg_ft) || f->has_ft_sym) {
        j->verdict = PYLAYOUT_FREE_THREADED;
        j->free_threaded = 1;
        snprintf(j->why, sizeof(j->why),
                 "CPython %st%s is a free-threaded build: no GIL, no generation lists, and "
                 "pymalloc stats do not apply; not supported yet (support is planned)",
                 ver, j->build == PYLAYOUT_BUILD_DEBUG ? " (debug)" : "");
        return;
    }
    /* Before 3.11 only the file name tells the minor: look the row up as
     * that minor's final release. Nothing known at all: no row, no claim. */
    if (!hex && f->major == 3 && f->minor > 0)
        hex = ((uint64_t)3 << 24) | ((uint64_t)f->minor << 16) | 0xf0;
    if (!hex)
        return;
    j->row = pylayout_find(hex, j->build);
    if (!j->row) {
        j->verdict = PYLAYOUT_NO_ROW;
        snprintf(j->why, sizeof(j->why), "CPython %s%s: not supported by this pymemtop (knows %s)",
                 ver, j->build == PYLAYOUT_BUILD_DEBUG ? " (debug build)" : "", known);
        return;
    }
    j->pending = j->row->pending;
}

/* ---- _Py_DebugOffsets ---- */

/* Where each field we use sits in one shape of the table, as the index of
 * its 8-byte word (the cookie is word 0). Counted from CPython's
 * Include/internal/pycore_runtime.h (3.13) and pycore_debug_offsets.h
 * (3.14, 3.15), and checked against the live tables of 3.13.0, 3.14.10,
 * 3.14.10d and 3.15.2. */
struct dbg_shape {
    uint8_t shape;
    uint16_t words; /* length of the whole table in words */
    uint16_t interp_gc, gc_size, gc_collecting, tstate_size, tstate_current_frame, tstate_thread_id;
    uint16_t frame_size, frame_previous, frame_executable, frame_localsplus, frame_owner;
    uint16_t code_size, code_localsplusnames;
    uint16_t object_size, object_ob_type, type_tp_flags;
    uint16_t tuple_size, tuple_ob_item, tuple_ob_size, list_size, list_ob_item, list_ob_size;
};

static const struct dbg_shape dbg_shapes[] = {
    {13, 73, 10, 71, 72, 19, 23, 24, 28, 29, 30, 32, 33, 34, 41, 44, 45, 49, 50, 51, 52, 53, 54, 55},
    {14, 95, 11, 81, 82, 22, 26, 27, 31, 32, 33, 35, 36, 39, 46, 50, 51, 55, 56, 57, 58, 59, 60, 61},
    {15, 111, 11, 94, 95, 22, 26, 30, 39, 40, 41, 43, 44, 47, 54, 58, 59, 63, 68, 69, 70, 71, 72, 73},
};

static uint64_t dbg_word(const unsigned char *mem, uint16_t idx)
{
    uint64_t v;
    memcpy(&v, mem + (size_t)idx * 8, sizeof(v));
    return v;
}

int pylayout_dbg_header(const void *mem, size_t len, uint64_t *version, int *free_threaded)
{
    if (len < PYLAYOUT_DBG_HEADER_LEN || memcmp(mem, PYLAYOUT_DBG_COOKIE, 8) != 0)
        return 0;
    *version = dbg_word(mem, 1);
    *free_threaded = dbg_word(mem, 2) != 0;
    return 1;
}

static int dbg_refuse(char *why, size_t n, const char *what)
{
    snprintf(why, n, "%s", what);
    return -1;
}

int pylayout_dbg_decode(const void *mem, size_t len, const struct pylayout *row,
                        uint64_t hexversion, struct pylayout_dbg *out, char *why, size_t why_len)
{
    uint64_t version;
    int ft;
    memset(out, 0, sizeof(*out));
    if (!row || !row->dbg_shape)
        return dbg_refuse(why, why_len, "no _Py_DebugOffsets shape known for this version");
    if (!pylayout_dbg_header(mem, len, &version, &ft))
        return dbg_refuse(why, why_len, "no _Py_DebugOffsets cookie at _PyRuntime");
    if (ft)
        return dbg_refuse(why, why_len, "free-threaded build");
    /* The table describes the build that wrote it; a different version here
     * means we are not reading the interpreter we think. */
    if ((version & ~0xffull) != (hexversion & ~0xffull))
        return dbg_refuse(why, why_len, "_Py_DebugOffsets is for another version");
    const struct dbg_shape *s = NULL;
    for (size_t i = 0; i < sizeof(dbg_shapes) / sizeof(dbg_shapes[0]); i++)
        if (dbg_shapes[i].shape == row->dbg_shape)
            s = &dbg_shapes[i];
    if (!s)
        return dbg_refuse(why, why_len, "unknown _Py_DebugOffsets shape");
    if (len < (size_t)s->words * 8)
        return dbg_refuse(why, why_len, "_Py_DebugOffsets shorter than its shape");
    const unsigned char *m = mem;
    /* Anchors: facts of the object model that hold on every default build
     * since 3.8. A table read with a shape shifted by even one word fails. */
    if (dbg_word(m, s->object_size) != 16 || dbg_word(m, s->object_ob_type) != 8 ||
        dbg_word(m, s->list_ob_size) != 16 || dbg_word(m, s->list_ob_item) != 24 ||
        dbg_word(m, s->list_size) != 40 || dbg_word(m, s->tuple_ob_size) != 16 ||
        dbg_word(m, s->tuple_ob_item) + 8 != dbg_word(m, s->tuple_size) ||
        dbg_word(m, s->type_tp_flags) != PYLAYOUT_TP_FLAGS_OFF)
        return dbg_refuse(why, why_len, "_Py_DebugOffsets anchors disagree (shape mismatch)");
    out->version = version;
    out->interp_gc = dbg_word(m, s->interp_gc);
    out->gc_size = dbg_word(m, s->gc_size);
    out->gc_collecting = dbg_word(m, s->gc_collecting);
    out->tstate_size = dbg_word(m, s->tstate_size);
    out->tstate_current_frame = dbg_word(m, s->tstate_current_frame);
    out->tstate_thread_id = dbg_word(m, s->tstate_thread_id);
    out->frame_size = dbg_word(m, s->frame_size);
    out->frame_previous = dbg_word(m, s->frame_previous);
    out->frame_executable = dbg_word(m, s->frame_executable);
    out->frame_localsplus = dbg_word(m, s->frame_localsplus);
    out->frame_owner = dbg_word(m, s->frame_owner);
    out->code_size = dbg_word(m, s->code_size);
    out->code_localsplusnames = dbg_word(m, s->code_localsplusnames);
    out->tuple_ob_size = dbg_word(m, s->tuple_ob_size);
    out->tuple_ob_item = dbg_word(m, s->tuple_ob_item);
    /* Every offset inside its struct, the struct sizes plausible, and the
     * frame's localsplus its flexible last member. */
    int ok = out->gc_size >= 72 && out->gc_size < 4096 && out->gc_collecting + 4 <= out->gc_size &&
             out->interp_gc > 0 && out->interp_gc < (1u << 20) && out->tstate_size < 8192 &&
             out->tstate_current_frame + 8 <= out->tstate_size &&
             out->tstate_thread_id + 8 <= out->tstate_size && out->frame_size <= 256 &&
             out->frame_localsplus + 8 == out->frame_size &&
             out->frame_previous + 8 <= out->frame_size &&
             out->frame_executable + 8 <= out->frame_size &&
             out->frame_owner < out->frame_size && out->code_size < 1024 &&
             out->code_localsplusnames + 8 <= out->code_size &&
             (uint64_t)row->gc_gens_off + 72 <= out->gc_size;
    if (!ok) {
        memset(out, 0, sizeof(*out));
        return dbg_refuse(why, why_len, "_Py_DebugOffsets values out of range");
    }
    return 0;
}

/* ---- validators ---- */

#define NODE_BAD(p) ((p) < 4096 || ((p) & 7) != 0)
#define LINK(v) ((v) & ~(uintptr_t)3)

static uintptr_t read_word(uintptr_t addr)
{
    uintptr_t v;
    memcpy(&v, (const void *)addr, sizeof(v));
    return v;
}

int pylayout_gens_valid(uintptr_t gen0_head, const long long thr[3], const long long cnt[3],
                        long long slack)
{
    if (NODE_BAD(gen0_head))
        return 0;
    for (int i = 0; i < 3; i++) {
        uintptr_t gh = gen0_head + (uintptr_t)i * 24; /* {head 16, threshold 4, count 4} */
        int threshold, count;
        memcpy(&threshold, (const void *)(gh + 16), sizeof(threshold));
        memcpy(&count, (const void *)(gh + 20), sizeof(count));
        uintptr_t nx = LINK(read_word(gh)), pv = LINK(read_word(gh + 8));
        if (threshold != thr[i] || NODE_BAD(nx) || NODE_BAD(pv))
            return 0;
        if (LINK(read_word(nx + 8)) != gh || LINK(read_word(pv)) != gh)
            return 0;
        if (i == 0 ? (count < cnt[0] - slack || count > cnt[0] + slack) : count != cnt[i])
            return 0;
    }
    return 1;
}

uintptr_t pylayout_stackref_obj(const struct pylayout *row, uintptr_t bits)
{
    if (!row->stackref_tagged)
        return bits;
    if (bits == 1 || (bits & 3) == 3) /* PyStackRef_NULL; a tagged int */
        return 0;
    return bits & ~(uintptr_t)3;
}

uintptr_t pylayout_iframe_previous(const struct pylayout_dbg *d, uintptr_t iframe)
{
    uintptr_t p = read_word(iframe + d->frame_previous);
    return NODE_BAD(p) ? 0 : p;
}

long pylayout_iframe_locals(const struct pylayout_dbg *d, const struct pylayout *row,
                            uintptr_t iframe, uintptr_t code_type, uintptr_t tuple_type,
                            long max_slots, uintptr_t *slots, uintptr_t *code, uintptr_t *names)
{
    if (NODE_BAD(iframe))
        return -1;
    uintptr_t c = pylayout_stackref_obj(row, read_word(iframe + d->frame_executable));
    /* Shim and entry frames carry None or NULL here: only code counts. */
    if (NODE_BAD(c) || read_word(c + 8) != code_type)
        return -1;
    uintptr_t nm = read_word(c + d->code_localsplusnames);
    if (NODE_BAD(nm) || read_word(nm + 8) != tuple_type)
        return -1;
    intptr_t n = (intptr_t)read_word(nm + d->tuple_ob_size);
    if (n < 0 || n > max_slots)
        return -1;
    *slots = iframe + d->frame_localsplus;
    *code = c;
    *names = nm;
    return (long)n;
}
