/* lib/pylayout.c: the per-version table, the _Py_DebugOffsets decoder on
 * tables copied from live interpreters, the validators on synthetic memory,
 * and the preflight verdict (free-threaded, unknown version) on synthetic
 * facts: no free-threaded interpreter exists on the test machines. Also
 * diagnose_remote_debug_off (the PEP 768 note of --check). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diagnose.h"
#include "harness.h"
#include "pylayout.h"

#define HEXV(ma, mi, mic, lvl, ser) \
    (((uint64_t)(ma) << 24) | ((uint64_t)(mi) << 16) | ((uint64_t)(mic) << 8) | ((lvl) << 4) | (ser))
#define FINAL 0xf

/* Copied with ctypes.string_at(addressof(c_char.in_dll(pythonapi, "_PyRuntime")), ...)
 * from Debian sid's python3.14 (3.14.10), python3.15 (3.15.2), python3.14d
 * (3.14.10 debug) and pyenv's 3.13.0, on x86-64. Word 0 is the cookie
 * "xdebugpy", word 1 the version, word 2 free_threaded. */
/* sys.hexversion 0x30e0af0: the first 95 words of _PyRuntime (the whole shape) */
static const uint64_t dbg_3_14_10[95] = {
    8750607829840520312ull, 51251952u, 0u, 316616u, 784u, 808u,
    225864u, 7280u, 7272u, 7344u, 7360u, 7408u,
    7688u, 7672u, 7680u, 16u, 7784u, 0u,
    7800u, 7792u, 7992u, 0u, 832u, 0u,
    8u, 16u, 72u, 152u, 160u, 232u,
    32u, 88u, 8u, 0u, 56u, 80u,
    74u, 64u, 0u, 216u, 112u, 120u,
    128u, 136u, 68u, 52u, 96u, 104u,
    208u, 0u, 16u, 8u, 416u, 24u,
    88u, 168u, 40u, 32u, 16u, 40u,
    24u, 16u, 200u, 24u, 40u, 32u,
    48u, 32u, 40u, 24u, 16u, 32u,
    16u, 24u, 40u, 16u, 32u, 64u,
    32u, 16u, 40u, 264u, 192u, 160u,
    24u, 72u, 67u, 0u, 8u, 24u,
    304u, 8076u, 0u, 4u, 512u,
};
/* sys.hexversion 0x30f02f0: the first 111 words of _PyRuntime (the whole shape) */
static const uint64_t dbg_3_15_2[111] = {
    8750607829840520312ull, 51315440u, 0u, 346568u, 912u, 936u,
    226240u, 7272u, 7264u, 7336u, 7352u, 7400u,
    7592u, 7576u, 7584u, 16u, 7736u, 0u,
    7752u, 7744u, 7944u, 0u, 888u, 0u,
    8u, 16u, 72u, 80u, 88u, 96u,
    176u, 184u, 256u, 32u, 36u, 40u,
    136u, 288u, 0u, 88u, 8u, 0u,
    56u, 80u, 74u, 64u, 0u, 216u,
    112u, 120u, 128u, 136u, 68u, 52u,
    96u, 104u, 208u, 0u, 16u, 8u,
    424u, 24u, 88u, 168u, 32u, 288u,
    944u, 888u, 40u, 32u, 16u, 40u,
    24u, 16u, 200u, 24u, 40u, 32u,
    48u, 32u, 40u, 24u, 16u, 32u,
    16u, 24u, 40u, 16u, 32u, 64u,
    32u, 16u, 40u, 56u, 176u, 112u,
    120u, 1120u, 104u, 160u, 24u, 72u,
    67u, 0u, 8u, 24u, 344u, 8028u,
    0u, 4u, 512u,
};
/* sys.hexversion 0x30e0af0: the first 95 words of _PyRuntime (the whole shape) */
static const uint64_t dbg_3_14_10d[95] = {
    8750607829840520312ull, 51251952u, 0u, 332632u, 784u, 808u,
    225880u, 7280u, 7272u, 7344u, 7360u, 7408u,
    7688u, 7672u, 7680u, 16u, 7784u, 0u,
    7800u, 7792u, 7992u, 0u, 832u, 0u,
    8u, 16u, 72u, 152u, 160u, 232u,
    32u, 88u, 8u, 0u, 56u, 80u,
    74u, 64u, 0u, 216u, 112u, 120u,
    128u, 136u, 68u, 52u, 96u, 104u,
    208u, 0u, 16u, 8u, 416u, 24u,
    88u, 168u, 40u, 32u, 16u, 40u,
    24u, 16u, 200u, 24u, 40u, 32u,
    48u, 32u, 40u, 24u, 16u, 32u,
    16u, 24u, 40u, 16u, 32u, 64u,
    32u, 16u, 40u, 264u, 192u, 160u,
    24u, 72u, 67u, 0u, 8u, 24u,
    304u, 8076u, 0u, 4u, 512u,
};
/* sys.hexversion 0x30d00f0: the first 73 words of _PyRuntime (the whole shape) */
static const uint64_t dbg_3_13_0[73] = {
    8750607829840520312ull, 51183856u, 0u, 283320u, 608u, 632u,
    194968u, 7272u, 7264u, 7344u, 7400u, 7656u,
    7640u, 7648u, 16u, 7752u, 0u, 7768u,
    7760u, 304u, 0u, 8u, 16u, 72u,
    152u, 160u, 232u, 32u, 80u, 8u,
    0u, 56u, 72u, 70u, 208u, 112u,
    120u, 128u, 136u, 68u, 52u, 96u,
    104u, 200u, 16u, 8u, 416u, 24u,
    88u, 168u, 32u, 24u, 16u, 40u,
    24u, 16u, 48u, 32u, 40u, 24u,
    16u, 32u, 16u, 24u, 40u, 16u,
    32u, 64u, 32u, 16u, 40u, 240u,
    200u,
};

static void test_find_rows(void)
{
    const unsigned REL = PYLAYOUT_BUILD_RELEASE, DBG = PYLAYOUT_BUILD_DEBUG;
    CHECK(pylayout_find(HEXV(3, 7, 16, FINAL, 0), REL) == NULL);
    const struct pylayout *r = pylayout_find(HEXV(3, 8, 18, FINAL, 0), REL);
    CHECK(r && r->frames == PYLAYOUT_FRAMES_OBJECT && r->pending == PYLAYOUT_PENDING_MAIN);
    r = pylayout_find(HEXV(3, 12, 1, FINAL, 0), DBG);
    CHECK(r && r->frames == PYLAYOUT_FRAMES_NONE);
    /* The 3.10-3.12 debug row must not promise 3.12's any-thread call to 3.10/3.11. */
    CHECK(r && r->pending == PYLAYOUT_PENDING_MAIN);
    r = pylayout_find(HEXV(3, 12, 1, FINAL, 0), REL);
    CHECK(r && r->pending == PYLAYOUT_PENDING_ANY_THREAD);
    r = pylayout_find(HEXV(3, 14, 3, FINAL, 0), REL);
    CHECK(r && r->gc == PYLAYOUT_GC_INCREMENTAL);
    r = pylayout_find(HEXV(3, 14, 10, FINAL, 0), REL);
    CHECK(r && r->gc == PYLAYOUT_GC_GENERATIONS3 && r->dbg_shape == 14 && r->stackref_tagged);
    CHECK(r && r->pending == PYLAYOUT_PENDING_ANY_THREAD);
    r = pylayout_find(HEXV(3, 14, 10, FINAL, 0), DBG);
    CHECK(r && r->pending == PYLAYOUT_PENDING_ANY_THREAD);
    r = pylayout_find(HEXV(3, 13, 0, FINAL, 0), REL);
    CHECK(r && r->pending == PYLAYOUT_PENDING_ANY_THREAD);
    r = pylayout_find(HEXV(3, 15, 2, FINAL, 0), REL);
    CHECK(r && r->dbg_shape == 15 && r->pending == PYLAYOUT_PENDING_ANY_THREAD);
    CHECK(pylayout_find(HEXV(3, 15, 0, 0xa, 1), REL) == NULL);
    CHECK(pylayout_find(HEXV(3, 16, 0, FINAL, 0), REL) == NULL);
    CHECK(pylayout_find(HEXV(3, 16, 0, FINAL, 0), DBG) == NULL);
    CHECK(pylayout_find(HEXV(4, 0, 0, FINAL, 0), REL) == NULL);
    char buf[32];
    pylayout_known_range(buf, sizeof(buf));
    CHECK(strcmp(buf, "3.8-3.15") == 0);
    pylayout_version_str(HEXV(3, 14, 10, FINAL, 0), buf, sizeof(buf));
    CHECK(strcmp(buf, "3.14.10") == 0);
}

/* A writable copy of a fixture, with room to shift it. */
static unsigned char dbg_buf[PYLAYOUT_DBG_MAX_LEN + 64];

static size_t dbg_copy(const uint64_t *w, size_t nwords)
{
    memset(dbg_buf, 0, sizeof(dbg_buf));
    memcpy(dbg_buf, w, nwords * 8);
    return nwords * 8;
}

static void dbg_accepts(const uint64_t *w, size_t nwords, uint64_t hex, unsigned build)
{
    struct pylayout_dbg d;
    char why[128] = "";
    const struct pylayout *row = pylayout_find(hex, build);
    size_t len = dbg_copy(w, nwords);
    CHECK(row != NULL);
    int rc = pylayout_dbg_decode(dbg_buf, len, row, hex, &d, why, sizeof(why));
    if (rc != 0)
        printf("  refused: %s\n", why);
    CHECK_EQ_INT(rc, 0);
    CHECK(d.version == w[1]);
    CHECK(d.frame_localsplus + 8 == d.frame_size);
    /* ob_item follows ob_size (3.13) or the cached hash (3.14+). */
    CHECK(d.tuple_ob_size == 16 && (d.tuple_ob_item == 24 || d.tuple_ob_item == 32));
    uint64_t v;
    int ft;
    CHECK(pylayout_dbg_header(dbg_buf, len, &v, &ft) == 1 && v == w[1] && ft == 0);
}

static void test_dbg_decode_live_tables(void)
{
    dbg_accepts(dbg_3_13_0, 73, HEXV(3, 13, 0, FINAL, 0), PYLAYOUT_BUILD_RELEASE);
    dbg_accepts(dbg_3_14_10, 95, HEXV(3, 14, 10, FINAL, 0), PYLAYOUT_BUILD_RELEASE);
    dbg_accepts(dbg_3_14_10d, 95, HEXV(3, 14, 10, FINAL, 0), PYLAYOUT_BUILD_DEBUG);
    dbg_accepts(dbg_3_15_2, 111, HEXV(3, 15, 2, FINAL, 0), PYLAYOUT_BUILD_RELEASE);
}

static int dbg_refused(size_t len, uint64_t hex, const char *why_has)
{
    struct pylayout_dbg d;
    char why[128] = "";
    const struct pylayout *row = pylayout_find(hex, PYLAYOUT_BUILD_RELEASE);
    int rc = pylayout_dbg_decode(dbg_buf, len, row, hex, &d, why, sizeof(why));
    int zeroed = d.frame_size == 0 && d.interp_gc == 0;
    if (rc == 0 || !zeroed || !strstr(why, why_has))
        printf("  rc %d why \"%s\" (wanted \"%s\")\n", rc, why, why_has);
    return rc == -1 && zeroed && strstr(why, why_has) != NULL;
}

static void test_dbg_decode_refusals(void)
{
    const uint64_t h14 = HEXV(3, 14, 10, FINAL, 0), h15 = HEXV(3, 15, 2, FINAL, 0);
    size_t len;
    /* One extra word after the header: every field read one word off. */
    len = dbg_copy(dbg_3_14_10, 95);
    memmove(dbg_buf + 32, dbg_buf + 24, len - 24);
    memset(dbg_buf + 24, 0, 8);
    CHECK(dbg_refused(len + 8, h14, "anchors"));
    /* One word missing after the header. */
    len = dbg_copy(dbg_3_14_10, 95);
    memmove(dbg_buf + 24, dbg_buf + 32, len - 32);
    CHECK(dbg_refused(len, h14, "")); /* anchors or too short: refused either way */
    len = dbg_copy(dbg_3_15_2, 111);
    memmove(dbg_buf + 32, dbg_buf + 24, len - 24);
    CHECK(dbg_refused(len + 8, h15, "anchors"));
    /* The 3.14 table read with the 3.15 shape and the other way round. */
    {
        struct pylayout_dbg d;
        char why[128];
        const struct pylayout *r15 = pylayout_find(h15, PYLAYOUT_BUILD_RELEASE);
        dbg_copy(dbg_3_14_10, 95);
        /* Right version for the 3.15 row, wrong shape. */
        ((uint64_t *)(void *)dbg_buf)[1] = dbg_3_15_2[1];
        CHECK(pylayout_dbg_decode(dbg_buf, PYLAYOUT_DBG_MAX_LEN, r15, h15, &d, why,
                                  sizeof(why)) == -1);
        const struct pylayout *r14 = pylayout_find(h14, PYLAYOUT_BUILD_RELEASE);
        dbg_copy(dbg_3_15_2, 111);
        ((uint64_t *)(void *)dbg_buf)[1] = dbg_3_14_10[1];
        CHECK(pylayout_dbg_decode(dbg_buf, PYLAYOUT_DBG_MAX_LEN, r14, h14, &d, why,
                                  sizeof(why)) == -1);
    }
    /* Wrong cookie. */
    len = dbg_copy(dbg_3_14_10, 95);
    dbg_buf[0] = 'X';
    CHECK(dbg_refused(len, h14, "cookie"));
    /* The table of another version than the interpreter reports. */
    len = dbg_copy(dbg_3_14_10, 95);
    CHECK(dbg_refused(len, HEXV(3, 14, 9, FINAL, 0), "another version"));
    len = dbg_copy(dbg_3_13_0, 73);
    CHECK(dbg_refused(PYLAYOUT_DBG_MAX_LEN, h14, "another version"));
    /* Free-threaded. */
    len = dbg_copy(dbg_3_14_10, 95);
    ((uint64_t *)(void *)dbg_buf)[2] = 1;
    CHECK(dbg_refused(len, h14, "free-threaded"));
    /* Truncated: one word short of the shape, and shorter than the header. */
    len = dbg_copy(dbg_3_14_10, 95);
    CHECK(dbg_refused(len - 8, h14, "shorter"));
    CHECK(dbg_refused(16, h14, "cookie"));
    /* No row, or a row without a shape (3.12). */
    {
        struct pylayout_dbg d;
        char why[128];
        len = dbg_copy(dbg_3_14_10, 95);
        CHECK(pylayout_dbg_decode(dbg_buf, len, NULL, h14, &d, why, sizeof(why)) == -1);
        const struct pylayout *r12 = pylayout_find(HEXV(3, 12, 1, FINAL, 0), PYLAYOUT_BUILD_RELEASE);
        CHECK(pylayout_dbg_decode(dbg_buf, len, r12, h14, &d, why, sizeof(why)) == -1);
    }
    /* A value out of range (frame localsplus not the last member). */
    len = dbg_copy(dbg_3_14_10, 95);
    ((uint64_t *)(void *)dbg_buf)[35] += 8; /* frame.localsplus in shape 14 */
    CHECK(dbg_refused(len, h14, "out of range"));
}

/* ---- generation heads ---- */

struct fake_gens {
    uintptr_t heads[9]; /* 3 x {next, prev, int threshold, int count} */
    uintptr_t nodes[3][2];
};

static void gens_build(struct fake_gens *g, const int thr[3], const int cnt[3])
{
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < 3; i++) {
        uintptr_t *h = &g->heads[i * 3];
        uintptr_t *n = g->nodes[i];
        h[0] = (uintptr_t)n;
        h[1] = (uintptr_t)n | 1; /* low bits of _gc_prev are flags: masked */
        memcpy((char *)&h[2], &thr[i], 4);
        memcpy((char *)&h[2] + 4, &cnt[i], 4);
        n[0] = (uintptr_t)h;
        n[1] = (uintptr_t)h;
    }
}

static void test_gens_valid(void)
{
    static struct fake_gens g;
    const int thr[3] = {2000, 10, 10}, cnt[3] = {57, 3, 0};
    const long long lthr[3] = {2000, 10, 10}, lcnt[3] = {55, 3, 0};
    gens_build(&g, thr, cnt);
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, lthr, lcnt, 4), 1);
    /* Generation 0's count outside the slack. */
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, lthr, lcnt, 1), 0);
    /* Wrong threshold. */
    const long long bad_thr[3] = {700, 10, 10};
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, bad_thr, lcnt, 4), 0);
    const long long bad_thr2[3] = {2000, 10, 11};
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, bad_thr2, lcnt, 4), 0);
    /* Older generation's count must match exactly. */
    const long long bad_cnt[3] = {57, 4, 0};
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, lthr, bad_cnt, 4), 0);
    /* Broken back-link in generation 1. */
    g.nodes[1][1] = (uintptr_t)&g.heads[0];
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, lthr, lcnt, 4), 0);
    gens_build(&g, thr, cnt);
    g.nodes[2][0] = (uintptr_t)g.nodes[2];
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, lthr, lcnt, 4), 0);
    /* Misaligned and null neighbours. */
    gens_build(&g, thr, cnt);
    g.heads[3] += 4; /* not masked away: LINK drops only the low 2 bits */
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, lthr, lcnt, 4), 0);
    gens_build(&g, thr, cnt);
    g.heads[7] = 0;
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads, lthr, lcnt, 4), 0);
    /* A misaligned or null head address. */
    gens_build(&g, thr, cnt);
    CHECK_EQ_INT(pylayout_gens_valid((uintptr_t)g.heads + 4, lthr, lcnt, 4), 0);
    CHECK_EQ_INT(pylayout_gens_valid(0, lthr, lcnt, 4), 0);
}

/* ---- frames ---- */

static void test_stackref(void)
{
    const struct pylayout *r14 = pylayout_find(HEXV(3, 14, 10, FINAL, 0), PYLAYOUT_BUILD_RELEASE);
    const struct pylayout *r13 = pylayout_find(HEXV(3, 13, 0, FINAL, 0), PYLAYOUT_BUILD_RELEASE);
    uintptr_t obj = (uintptr_t)0x7f0012345670ull;
    CHECK(pylayout_stackref_obj(r14, obj) == obj);
    CHECK(pylayout_stackref_obj(r14, obj | 1) == obj); /* deferred reference */
    CHECK(pylayout_stackref_obj(r14, 1) == 0);        /* PyStackRef_NULL */
    CHECK(pylayout_stackref_obj(r14, (42u << 2) | 3) == 0); /* tagged int */
    CHECK(pylayout_stackref_obj(r14, 0) == 0);
    CHECK(pylayout_stackref_obj(r13, obj) == obj);
    CHECK(pylayout_stackref_obj(r13, obj | 1) == (obj | 1)); /* untagged rows: as is */
}

static void test_iframe_locals(void)
{
    const uint64_t hex = HEXV(3, 14, 10, FINAL, 0);
    const struct pylayout *row = pylayout_find(hex, PYLAYOUT_BUILD_RELEASE);
    struct pylayout_dbg d;
    char why[128];
    size_t len = dbg_copy(dbg_3_14_10, 95);
    CHECK(pylayout_dbg_decode(dbg_buf, len, row, hex, &d, why, sizeof(why)) == 0);
    CHECK(d.frame_size <= 256 && d.code_size < 1024);
    static uintptr_t code_type[64], tuple_type[64], other_type[64];
    static uintptr_t code[128], names[8], frame[64], prev[64];
    memset(code, 0, sizeof(code));
    memset(frame, 0, sizeof(frame));
    /* names: a tuple of 3 (items not read) */
    names[1] = (uintptr_t)tuple_type;
    names[d.tuple_ob_size / 8] = 3;
    code[1] = (uintptr_t)code_type;
    code[d.code_localsplusnames / 8] = (uintptr_t)names;
    frame[d.frame_executable / 8] = (uintptr_t)code | 1; /* a deferred reference */
    frame[d.frame_previous / 8] = (uintptr_t)prev;
    uintptr_t *slots0 = &frame[d.frame_localsplus / 8];
    slots0[0] = (uintptr_t)other_type; /* an object */
    slots0[1] = (13u << 2) | 3;        /* tagged int */
    slots0[2] = 1;                     /* NULL */
    uintptr_t slots = 0, c = 0, nm = 0;
    long n = pylayout_iframe_locals(&d, row, (uintptr_t)frame, (uintptr_t)code_type,
                                    (uintptr_t)tuple_type, 100, &slots, &c, &nm);
    CHECK_EQ_INT(n, 3);
    CHECK(slots == (uintptr_t)slots0 && c == (uintptr_t)code && nm == (uintptr_t)names);
    CHECK(pylayout_stackref_obj(row, slots0[0]) == (uintptr_t)other_type);
    CHECK(pylayout_stackref_obj(row, slots0[1]) == 0);
    CHECK(pylayout_stackref_obj(row, slots0[2]) == 0);
    CHECK(pylayout_iframe_previous(&d, (uintptr_t)frame) == (uintptr_t)prev);
    /* More names than the caller allows. */
    CHECK_EQ_INT(pylayout_iframe_locals(&d, row, (uintptr_t)frame, (uintptr_t)code_type,
                                        (uintptr_t)tuple_type, 2, &slots, &c, &nm), -1);
    /* Executable not a code object (a shim frame carries None or NULL). */
    code[1] = (uintptr_t)other_type;
    CHECK_EQ_INT(pylayout_iframe_locals(&d, row, (uintptr_t)frame, (uintptr_t)code_type,
                                        (uintptr_t)tuple_type, 100, &slots, &c, &nm), -1);
    code[1] = (uintptr_t)code_type;
    frame[d.frame_executable / 8] = 1; /* PyStackRef_NULL */
    CHECK_EQ_INT(pylayout_iframe_locals(&d, row, (uintptr_t)frame, (uintptr_t)code_type,
                                        (uintptr_t)tuple_type, 100, &slots, &c, &nm), -1);
    frame[d.frame_executable / 8] = (uintptr_t)code;
    /* Names not a tuple; a negative size. */
    names[1] = (uintptr_t)other_type;
    CHECK_EQ_INT(pylayout_iframe_locals(&d, row, (uintptr_t)frame, (uintptr_t)code_type,
                                        (uintptr_t)tuple_type, 100, &slots, &c, &nm), -1);
    names[1] = (uintptr_t)tuple_type;
    names[d.tuple_ob_size / 8] = (uintptr_t)-1;
    CHECK_EQ_INT(pylayout_iframe_locals(&d, row, (uintptr_t)frame, (uintptr_t)code_type,
                                        (uintptr_t)tuple_type, 100, &slots, &c, &nm), -1);
    /* Misaligned frame; the bottom frame has no previous one. */
    CHECK_EQ_INT(pylayout_iframe_locals(&d, row, (uintptr_t)frame + 2, (uintptr_t)code_type,
                                        (uintptr_t)tuple_type, 100, &slots, &c, &nm), -1);
    frame[d.frame_previous / 8] = 0;
    CHECK(pylayout_iframe_previous(&d, (uintptr_t)frame) == 0);
}

/* ---- the preflight verdict ---- */

static void test_abiflags(void)
{
    char f[8];
    pylayout_abiflags("/usr/bin/python3.14", f, sizeof(f));
    CHECK(strcmp(f, "") == 0);
    pylayout_abiflags("/usr/bin/python3.14t", f, sizeof(f));
    CHECK(strcmp(f, "t") == 0);
    pylayout_abiflags("/usr/lib/x86_64-linux-gnu/libpython3.14t.so.1.0", f, sizeof(f));
    CHECK(strcmp(f, "t") == 0);
    pylayout_abiflags("/usr/lib/libpython3.14td.so.1.0", f, sizeof(f));
    CHECK(strcmp(f, "td") == 0);
    pylayout_abiflags("/usr/bin/python3.14d", f, sizeof(f));
    CHECK(strcmp(f, "d") == 0);
    pylayout_abiflags("/opt/py/lib/libpython3.7m.so.1.0", f, sizeof(f));
    CHECK(strcmp(f, "m") == 0);
    pylayout_abiflags("/opt/py/lib/libpython3.13.so.1.0", f, sizeof(f));
    CHECK(strcmp(f, "") == 0);
    pylayout_abiflags("/opt/tools/python3.14dev", f, sizeof(f));
    CHECK(strcmp(f, "") == 0);
    pylayout_abiflags("/opt/t/python", f, sizeof(f));
    CHECK(strcmp(f, "") == 0);
    pylayout_abiflags("/usr/bin/mypython-t", f, sizeof(f));
    CHECK(strcmp(f, "") == 0);
}

static void judge(const char *path, uint64_t hex, int minor, const void *head, size_t head_len,
                  int dbg_sym, int ft_sym, struct pylayout_judgement *j)
{
    struct pylayout_facts f = {.module_path = path, .hexversion = hex, .major = minor ? 3 : 0,
                               .minor = minor, .runtime_head = head,
                               .runtime_head_len = head_len, .has_debug_sym = dbg_sym,
                               .has_ft_sym = ft_sym};
    pylayout_judge(&f, j);
}

static void test_judge_supported(void)
{
    struct pylayout_judgement j;
    const uint64_t h14 = HEXV(3, 14, 10, FINAL, 0);
    judge("/usr/bin/python3.14", h14, 14, dbg_3_14_10, 24, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && j.row && j.build == PYLAYOUT_BUILD_RELEASE);
    CHECK(j.pending == PYLAYOUT_PENDING_ANY_THREAD && j.why[0] == '\0');
    /* Debug from the symbol alone (a renamed file), and from the name alone. */
    judge("/usr/bin/python", h14, 14, dbg_3_14_10d, 24, 1, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && j.build == PYLAYOUT_BUILD_DEBUG);
    CHECK(j.pending == PYLAYOUT_PENDING_ANY_THREAD);
    judge("/usr/bin/python3.12d", HEXV(3, 12, 1, FINAL, 0), 12, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && j.build == PYLAYOUT_BUILD_DEBUG);
    CHECK(j.pending == PYLAYOUT_PENDING_MAIN);
    judge("/usr/bin/python3.12", HEXV(3, 12, 1, FINAL, 0), 12, NULL, 0, 0, 0, &j);
    CHECK(j.pending == PYLAYOUT_PENDING_ANY_THREAD);
    judge("/usr/bin/python3.11", HEXV(3, 11, 7, FINAL, 0), 11, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && j.pending == PYLAYOUT_PENDING_MAIN);
    /* Before 3.11 the version comes from the file name only. */
    judge("/opt/py/bin/python3.9", 0, 9, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && j.row && j.pending == PYLAYOUT_PENDING_MAIN);
    /* Nothing known: no claim, no refusal, main thread. */
    judge("/opt/x/bin/interp", 0, 0, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && !j.row && j.pending == PYLAYOUT_PENDING_MAIN);
    /* 3.12's _PyRuntime starts with no cookie: no header, no harm. */
    static const uint64_t no_cookie[3] = {0, 0, 1};
    judge("/usr/bin/python3.12", HEXV(3, 12, 1, FINAL, 0), 12, no_cookie, 24, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && !j.free_threaded);
}

static void test_judge_free_threaded(void)
{
    struct pylayout_judgement j;
    const uint64_t h14 = HEXV(3, 14, 10, FINAL, 0);
    /* (1) the ABI suffix alone */
    judge("/usr/bin/python3.14t", h14, 14, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_FREE_THREADED && j.free_threaded && !j.row);
    CHECK(strstr(j.why, "free-threaded") && strstr(j.why, "3.14.10t") && strstr(j.why, "planned"));
    CHECK(strstr(j.why, "no GIL") && strstr(j.why, "pymalloc"));
    judge("/usr/lib/libpython3.13t.so.1.0", HEXV(3, 13, 1, FINAL, 0), 13, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_FREE_THREADED);
    /* (2) free_threaded in the _Py_DebugOffsets header, name and symbols silent */
    static uint64_t head[3];
    memcpy(head, dbg_3_14_10, sizeof(head));
    head[2] = 1;
    judge("/usr/bin/python3", h14, 14, head, 24, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_FREE_THREADED && j.pending == PYLAYOUT_PENDING_MAIN);
    /* ... but not when the cookie is missing (not a debug-offsets table) */
    head[0] = 0;
    judge("/usr/bin/python3", h14, 14, head, 24, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED);
    /* ... and the version from the header when Py_Version was not read */
    memcpy(head, dbg_3_14_10, sizeof(head));
    head[2] = 1;
    judge("/usr/bin/python3", 0, 0, head, 24, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_FREE_THREADED && strstr(j.why, "3.14.10t"));
    /* (3) a free-threaded-only symbol alone */
    judge("/usr/bin/python3", h14, 14, dbg_3_14_10, 24, 0, 1, &j);
    CHECK(j.verdict == PYLAYOUT_FREE_THREADED);
    /* free-threaded debug: still refused as free-threaded */
    judge("/usr/bin/python3.14td", h14, 14, NULL, 0, 1, 1, &j);
    CHECK(j.verdict == PYLAYOUT_FREE_THREADED && j.build == PYLAYOUT_BUILD_DEBUG);
}

static void test_judge_no_row(void)
{
    struct pylayout_judgement j;
    judge("/usr/bin/python3.16", HEXV(3, 16, 0, FINAL, 0), 16, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_NO_ROW && !j.row && j.pending == PYLAYOUT_PENDING_MAIN);
    CHECK(strcmp(j.why, "CPython 3.16.0: not supported by this pymemtop (knows 3.8-3.15)") == 0);
    judge("/usr/bin/python3.15", HEXV(3, 15, 0, 0xa, 1), 15, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_NO_ROW && strstr(j.why, "CPython 3.15.0a1:"));
    judge("/usr/bin/python3.15", HEXV(3, 15, 0, 0xc, 2), 15, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_NO_ROW && strstr(j.why, "3.15.0rc2"));
    /* A 3.7 named file (the monitor reports those as old_python first). */
    judge("/usr/bin/python3.7", 0, 7, NULL, 0, 0, 0, &j);
    CHECK(j.verdict == PYLAYOUT_NO_ROW && strstr(j.why, "CPython 3.7:"));
    /* 3.10 and 3.11 debug builds have a row (3.10-3.12 debug). */
    judge("/usr/bin/python3.11d", HEXV(3, 11, 7, FINAL, 0), 11, NULL, 0, 1, 0, &j);
    CHECK(j.verdict == PYLAYOUT_SUPPORTED && j.pending == PYLAYOUT_PENDING_MAIN);
}

static void test_remote_debug_off(void)
{
#define S(lit) lit, sizeof(lit) - 1
    CHECK(!diagnose_remote_debug_off(S("PATH=/bin\0HOME=/root\0"), S("python3.14\0x.py\0")));
    CHECK(diagnose_remote_debug_off(S("PATH=/bin\0PYTHON_DISABLE_REMOTE_DEBUG=1\0"),
                                    S("python3.14\0x.py\0")));
    /* Empty: CPython ignores it. A longer name is another variable. */
    CHECK(!diagnose_remote_debug_off(S("PYTHON_DISABLE_REMOTE_DEBUG=\0"), S("python3\0")));
    CHECK(!diagnose_remote_debug_off(S("PYTHON_DISABLE_REMOTE_DEBUGGER=1\0"), S("python3\0")));
    CHECK(!diagnose_remote_debug_off(S("XPYTHON_DISABLE_REMOTE_DEBUG=1\0"), S("python3\0")));
    CHECK(diagnose_remote_debug_off(S(""), S("python3.14\0-X\0disable-remote-debug\0x.py\0")));
    CHECK(diagnose_remote_debug_off(S(""), S("python3.14\0-Xdisable-remote-debug\0x.py\0")));
    CHECK(diagnose_remote_debug_off(S(""), S("python3.14\0-u\0-W\0ignore\0-X\0disable-remote-debug\0-c\0pass\0")));
    CHECK(diagnose_remote_debug_off(S(""), S("python3.14\0-BX\0disable-remote-debug\0x.py\0")));
    /* Another -X option; the program's own arguments; after -c / -m. */
    CHECK(!diagnose_remote_debug_off(S(""), S("python3.14\0-X\0dev\0x.py\0")));
    CHECK(!diagnose_remote_debug_off(S(""), S("python3.14\0x.py\0-X\0disable-remote-debug\0")));
    CHECK(!diagnose_remote_debug_off(S(""), S("python3.14\0-c\0pass\0-X\0disable-remote-debug\0")));
    CHECK(!diagnose_remote_debug_off(S(""), S("python3.14\0-m\0mod\0-Xdisable-remote-debug\0")));
    CHECK(!diagnose_remote_debug_off(S(""), S("python3.14\0-X\0")));
    CHECK(!diagnose_remote_debug_off(S(""), S("")));
#undef S
}

int main(void)
{
    RUN(test_find_rows);
    RUN(test_dbg_decode_live_tables);
    RUN(test_dbg_decode_refusals);
    RUN(test_gens_valid);
    RUN(test_stackref);
    RUN(test_iframe_locals);
    RUN(test_abiflags);
    RUN(test_judge_supported);
    RUN(test_judge_free_threaded);
    RUN(test_judge_no_row);
    RUN(test_remote_debug_off);
    return HARNESS_END();
}
