/* A recording's cycles.capture and cycles.recent_shapes back into a session,
 * so the replayed Cycles view and derived rates are what was recorded. */
#include <stdio.h>
#include <string.h>

#include "json_keys.h"
#include "jsonread.h"
#include "replay.h"

static void replay_gens(const struct jv *arr, int64_t out[PM_GENERATIONS])
{
    for (int g = 0; g < PM_GENERATIONS; g++)
        out[g] = jv_int(jv_at(arr, (size_t)g), -1);
}

void replay_capture(struct session *s, const struct jv *cycles)
{
    const struct jv *c = jv_get(cycles, JK_CAPTURE);
    s->have_capture = c && c->type == JV_OBJECT;
    if (!s->have_capture)
        return;
    struct pm_capture *k = &s->capture;
    memset(k, 0, sizeof(*k));
    snprintf(k->state, sizeof(k->state), "%s", jv_str(jv_get(c, JK_STATE), "?"));
    k->time_ns = (uint64_t)jv_int(jv_get(c, JK_TIME_NS), 0);
    k->since_ns = (uint64_t)jv_int(jv_get(c, JK_SINCE_NS), 0);
    k->budget_bp = (uint64_t)(jv_num(jv_get(c, JK_BUDGET_SHARE), 0) * 10000 + 0.5);
    k->cost_ns = (uint64_t)jv_int(jv_get(c, JK_COST_NS), 0);
    k->max_ns = (uint64_t)jv_int(jv_get(c, JK_MAX_NS), 0);
    k->objects = (uint64_t)jv_int(jv_get(c, JK_OBJECTS), 0);
    k->truncated = (uint64_t)jv_int(jv_get(c, JK_TRUNCATED), 0);
    k->skipped = (uint64_t)jv_int(jv_get(c, JK_SKIPPED), 0);
    k->shapes_total = (uint64_t)jv_int(jv_get(c, JK_SHAPES_TOTAL), 0);
    replay_gens(jv_get(c, JK_CAPTURES), k->captures);
    replay_gens(jv_get(c, JK_COLLECTIONS), k->collections);
    const struct jv *arr = jv_get(cycles, JK_RECENT_SHAPES);
    for (const struct jv *e = arr ? arr->child : NULL; e && k->n_shapes < PM_MAX_RECENT_SHAPES;
         e = e->next) {
        struct pm_recent_shape *r = &k->shapes[k->n_shapes++];
        snprintf(r->shape.path, sizeof(r->shape.path), "%s", jv_str(jv_get(e, JK_PATH), "?"));
        snprintf(r->shape.advice, sizeof(r->shape.advice), "%s",
                 jv_str(jv_get(e, JK_ADVICE), ""));
        r->shape.count = (uint64_t)jv_int(jv_get(e, JK_COUNT), 0);
        r->shape.bytes = (uint64_t)jv_int(jv_get(e, JK_BYTES), 0);
        r->shape.length = (uint64_t)jv_int(jv_get(e, JK_LENGTH), 0);
        r->objects = (uint64_t)jv_int(jv_get(e, JK_OBJECTS), 0);
        r->est_objects = (uint64_t)jv_int(jv_get(e, JK_OBJECTS_ESTIMATED), 0);
        r->first_seen_ns = (uint64_t)jv_int(jv_get(e, JK_FIRST_SEEN_NS), 0);
        r->last_seen_ns = (uint64_t)jv_int(jv_get(e, JK_LAST_SEEN_NS), 0);
    }
}
