/* tracemalloc during --record and --max-growth: the growth since the start,
 * per source line, computed by the agent against a mark it keeps (the user's
 * own snapshots are left alone). */
#include "watch_tm.h"

#include <errno.h>
#include <string.h>

#include "roundtrip.h"
#include "json.h"
#include "json_keys.h"
#include "session_json.h"

int watch_tm_start(struct watch_tm *w, struct session *s, const struct cli *cli, int frames)
{
    memset(w, 0, sizeof(*w));
    if (cli->tracemalloc_lease_s >= 0) {
        /* No lease: the agent stops it when we leave, killed or not. */
        int rc = roundtrip_command(s, "tracemalloc", frames, NULL, cli->tracemalloc_lease_s);
        fprintf(stderr, "pymemtop: %s\n", s->last_reply.message[0] ? s->last_reply.message
                                                                 : "tracemalloc: no answer");
        if (rc != EXIT_OK)
            return rc;
    }
    if (!s->agent.tracemalloc_on && cli->tracemalloc_lease_s < 0)
        return EXIT_OK; /* not asked, not on: census only */
    if (roundtrip_command(s, "tm_growth", 0, NULL, 0) == EXIT_OK) {
        w->marked = true;
        w->mark_ns = session_now_ns();
        w->next_ns = w->mark_ns + WATCH_TM_PERIOD_NS;
    } else if (s->last_reply.message[0]) { /* refused (its pause) or failed: types only */
        fprintf(stderr, "pymemtop: no tracemalloc growth lines: %s\n", s->last_reply.message);
    }
    return EXIT_OK;
}

/* A periodic report refused for its predicted pause (over max_pause_ms):
 * the recording says so, with the prediction, instead of going silent. */
static void watch_tm_skipped(const struct session *s, FILE *out)
{
    struct json j;
    json_init(&j, out);
    json_object_begin(&j, NULL);
    json_string(&j, JK_EVENT, JK_EVENT_TM_GROWTH);
    json_uint(&j, JK_TIME_NS, session_now_ns());
    json_bool(&j, "skipped", true);
    json_uint(&j, "predicted_pause_ns", s->last_reply.predict_ns);
    json_string(&j, "message", s->last_reply.message);
    json_object_end(&j);
    fputc('\n', out);
    fflush(out);
}

static void watch_tm_record(struct watch_tm *w, struct session *s, FILE *out, bool final)
{
    s->have_sites_growth = false;
    /* Periodic reports keep within max_pause (2); the last one may ask more. */
    if (roundtrip_command(s, "tm_growth", final ? 1 : 2, NULL, 0) != EXIT_OK ||
        !s->have_sites_growth) {
        if (out && s->last_reply.status == -EAGAIN && s->last_reply.predict_ns)
            watch_tm_skipped(s, out);
        if (final && s->state == SESSION_LIVE)
            fprintf(stderr, "pymemtop: tracemalloc growth: %s\n",
                    s->last_reply.message[0] ? s->last_reply.message : "no answer");
        return;
    }
    w->have_final = final;
    if (!out)
        return;
    struct json j;
    json_init(&j, out);
    json_object_begin(&j, NULL);
    json_string(&j, JK_EVENT, JK_EVENT_TM_GROWTH);
    json_uint(&j, JK_TIME_NS, session_now_ns());
    json_double(&j, "since_s", (double)(session_now_ns() - w->mark_ns) / 1e9);
    json_bool(&j, "final", final);
    json_int(&j, JK_TRACED_BYTES, s->sites_growth.traced_bytes);
    json_uint(&j, "cost_ns", s->sites_growth.cost_ns);
    session_json_sites(&j, "sites", &s->sites_growth);
    json_object_end(&j);
    fputc('\n', out);
    fflush(out);
}

void watch_tm_tick(struct watch_tm *w, struct session *s, FILE *out, uint64_t now)
{
    if (!w->marked || now < w->next_ns || s->state != SESSION_LIVE)
        return;
    w->next_ns = now + WATCH_TM_PERIOD_NS;
    watch_tm_record(w, s, out, false);
}

void watch_tm_finish(struct watch_tm *w, struct session *s, FILE *out)
{
    if (w->marked && s->state == SESSION_LIVE)
        watch_tm_record(w, s, out, true);
}

void watch_tm_print_gate(const struct watch_tm *w, const struct session *s, FILE *f)
{
    if (!w->have_final)
        return;
    const struct pm_sites *g = &s->sites_growth;
    uint32_t shown = 0;
    for (uint32_t i = 0; i < g->n && shown < 10; i++) {
        if (g->sites[i].size_diff <= 0)
            continue;
        if (!shown++)
            fprintf(f, "top growing lines (tracemalloc, bytes since the start):\n");
        fprintf(f, "  %-50.50s %+12lld B %+9lld blocks\n", g->sites[i].where,
                (long long)g->sites[i].size_diff, (long long)g->sites[i].count_diff);
    }
    if (!shown)
        fprintf(f, "no line grew under tracemalloc since the start\n");
}
