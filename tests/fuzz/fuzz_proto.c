/* libFuzzer target for the wire protocol decoders (lib/proto.c, lib/proto_results.c).
 *
 * Input: byte 0 picks the reader's limit (monitor 1 MiB or agent 64 KiB) and
 * the size of the chunks the stream arrives in (1..4096 bytes); the rest is
 * the byte stream a peer would send. Chunks go through a real pipe and
 * proto_reader_fill, every complete frame goes to the decoder of its type
 * (and unknown types to every decoder), exactly as agent_link.c and
 * agent_server.c use them. Decoded strings must be NUL-terminated within
 * their buffers; anything else is left to ASan/UBSan.
 *
 * Built two ways: with -fsanitize=fuzzer (tests/fuzz/fuzz.mk) and, with
 * FUZZ_NO_ENTRY defined, included by tests/unit/test_fuzz_corpus.c, which
 * replays tests/fuzz/corpus/proto in the ordinary test pass. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

int fuzz_proto_one(const uint8_t *data, size_t size);

static void fuzz_proto_check_str(const char *s, size_t cap)
{
    if (!memchr(s, 0, cap))
        abort(); /* a decoded string without its terminator */
}

static void fuzz_proto_frame(uint16_t type, const uint8_t *p, size_t len)
{
    const char *why = NULL;
    static struct pm_agent_sample sample;
    static struct pm_hunt hunt;
    static struct pm_sites sites;
    static struct pm_why whyres;
    struct pm_hello hello;
    struct proto_command cmd;
    struct pm_reply reply;
    struct pm_census census;
    struct proto_busy holder;
    int all = type < PROTO_HELLO || type > PROTO_WHY;
    if (all || type == PROTO_HELLO)
        if (proto_decode_hello(p, len, &hello, &why) == 0)
            fuzz_proto_check_str(hello.python, sizeof(hello.python));
    if (all || type == PROTO_BUSY)
        proto_decode_busy(p, len, &holder, &why);
    if (all || type == PROTO_SAMPLE)
        if (proto_decode_sample(p, len, &sample, &why) == 0 && sample.n_pauses > PM_MAX_PAUSES_PER_SAMPLE)
            abort();
    if (all || type == PROTO_COMMAND)
        if (proto_decode_command(p, len, &cmd, &why) == 0)
            fuzz_proto_check_str(cmd.name, sizeof(cmd.name));
    if (all || type == PROTO_REPLY)
        if (proto_decode_reply(p, len, &reply, &why) == 0)
            fuzz_proto_check_str(reply.message, sizeof(reply.message));
    if (all || type == PROTO_CENSUS) {
        if (proto_decode_census(p, len, &census, &why) == 0) {
            for (uint32_t i = 0; i < census.n_types; i++)
                fuzz_proto_check_str(census.types[i].name, sizeof(census.types[i].name));
            pm_census_free(&census);
        } else if (census.types) {
            abort(); /* the decoder must free on error */
        }
    }
    if (all || type == PROTO_HUNT)
        if (proto_decode_hunt(p, len, &hunt, &why) == 0)
            for (uint32_t i = 0; i < hunt.n_shapes; i++)
                fuzz_proto_check_str(hunt.shapes[i].path, sizeof(hunt.shapes[i].path));
    if (all || type == PROTO_SITES)
        if (proto_decode_sites(p, len, &sites, &why) == 0 && sites.n > PM_MAX_SITES)
            abort();
    if (all || type == PROTO_WHY) {
        if (proto_decode_why(p, len, &whyres, &why) == 0) {
            if (whyres.n_chains > PM_WHY_MAX_CHAINS)
                abort();
            fuzz_proto_check_str(whyres.type, sizeof(whyres.type));
            for (uint32_t i = 0; i < whyres.n_chains; i++) {
                if (whyres.chains[i].n_edges > PM_WHY_MAX_EDGES)
                    abort();
                for (uint32_t e = 0; e < whyres.chains[i].n_edges; e++)
                    fuzz_proto_check_str(whyres.chains[i].edges[e], PM_WHY_EDGE_MAX);
            }
        }
    }
}

int fuzz_proto_one(const uint8_t *data, size_t size)
{
    static int fds[2] = {-1, -1};
    if (size < 1)
        return 0;
    if (fds[0] < 0 && pipe2(fds, O_CLOEXEC) != 0)
        abort();
    uint8_t mode = data[0];
    data++;
    size--;
    size_t chunk = (size_t)1 << (mode & 7); /* 1 .. 128 bytes */
    if (mode & 8)
        chunk = 4096;
    struct proto_reader r;
    proto_reader_init(&r, (mode & 16) ? 64 * 1024 : PROTO_MAX_PAYLOAD);
    size_t off = 0;
    int bad = 0;
    while (off < size && !bad) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (write(fds[1], data + off, n) != (ssize_t)n)
            abort();
        off += n;
        if (proto_reader_fill(&r, fds[0]) != (long)n)
            abort();
        for (;;) {
            struct proto_header h;
            const uint8_t *payload = NULL;
            const char *why = NULL;
            int k = proto_reader_next(&r, &h, &payload, &why);
            if (k < 0) {
                if (!why)
                    abort();
                bad = 1; /* a malformed stream: the link is dropped */
                break;
            }
            if (k == 0)
                break;
            if (h.length > r.max_payload)
                abort();
            fuzz_proto_frame(h.type, payload, h.length);
        }
    }
    proto_reader_free(&r);
    /* The decoders also see the raw input as a payload, without framing. */
    fuzz_proto_frame(0, data, size);
    return 0;
}

#ifndef FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_proto_one(data, size);
}
#endif
