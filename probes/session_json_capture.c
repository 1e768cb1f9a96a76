/* The JSON of the cycle capture: cycles.capture (its cost and sampling) and
 * cycles.recent_shapes (README's JSON schema). */
#include "session_json.h"

#include "derive.h"
#include "json.h"
#include "json_keys.h"

void session_json_capture(struct json *j, const struct session *s)
{
    const struct pm_capture *c = &s->capture;
    if (!s->have_capture) {
        json_null(j, JK_CAPTURE);
        json_array_begin(j, JK_RECENT_SHAPES);
        json_array_end(j);
        return;
    }
    json_object_begin(j, JK_CAPTURE);
    json_string(j, JK_STATE, c->state);
    json_uint(j, JK_TIME_NS, c->time_ns);
    json_uint(j, JK_SINCE_NS, c->since_ns);
    json_double(j, JK_BUDGET_SHARE, (double)c->budget_bp / 10000.0);
    json_double(j, JK_WALL_SHARE, derive_capture_wall_share(c));
    json_uint(j, JK_COST_NS, c->cost_ns);
    json_uint(j, JK_MAX_NS, c->max_ns);
    json_array_begin(j, JK_CAPTURES);
    for (int g = 0; g < PM_GENERATIONS; g++)
        json_int(j, NULL, c->captures[g]);
    json_array_end(j);
    json_array_begin(j, JK_COLLECTIONS);
    for (int g = 0; g < PM_GENERATIONS; g++)
        json_int(j, NULL, c->collections[g]);
    json_array_end(j);
    /* Collections captured per collection seen: 1 in N is 1/N. */
    json_array_begin(j, JK_SAMPLING_RATIO);
    for (int g = 0; g < PM_GENERATIONS; g++) {
        if (c->collections[g] > 0 && c->captures[g] >= 0)
            json_double(j, NULL, (double)c->captures[g] / (double)c->collections[g]);
        else
            json_null(j, NULL);
    }
    json_array_end(j);
    json_uint(j, JK_OBJECTS, c->objects);
    json_uint(j, JK_TRUNCATED, c->truncated);
    json_uint(j, JK_SKIPPED, c->skipped);
    json_uint(j, JK_SHAPES_TOTAL, c->shapes_total);
    json_object_end(j);
    json_array_begin(j, JK_RECENT_SHAPES);
    for (uint32_t i = 0; i < c->n_shapes; i++) {
        const struct pm_recent_shape *r = &c->shapes[i];
        json_object_begin(j, NULL);
        json_string(j, JK_PATH, r->shape.path);
        json_uint(j, JK_COUNT, r->shape.count);
        json_uint(j, JK_BYTES, r->shape.bytes);
        json_uint(j, JK_LENGTH, r->shape.length);
        json_string(j, JK_ADVICE, r->shape.advice);
        json_uint(j, JK_OBJECTS, r->objects);
        json_uint(j, JK_OBJECTS_ESTIMATED, r->est_objects);
        json_double(j, JK_OBJECTS_PER_MIN, derive_shape_objects_per_min(c, r));
        json_uint(j, JK_FIRST_SEEN_NS, r->first_seen_ns);
        json_uint(j, JK_LAST_SEEN_NS, r->last_seen_ns);
        json_object_end(j);
    }
    json_array_end(j);
}
