/* The event ring: order, eviction of the oldest, sequence numbers, text cut
 * to size, per-kind counts and a NULL log that swallows everything. */
#include <stdint.h>

#include "eventlog.h"
#include "harness.h"

static void test_empty(void)
{
    struct eventlog *l = eventlog_new(4);
    CHECK(l != NULL);
    CHECK_EQ_INT(eventlog_len(l), 0);
    CHECK_EQ_INT(eventlog_total(l), 0);
    CHECK(eventlog_at(l, 0) == NULL);
    eventlog_free(l);
}

static void test_order_and_eviction(void)
{
    struct eventlog *l = eventlog_new(3);
    for (int i = 1; i <= 5; i++)
        eventlog_pushf(l, (uint64_t)i * 100, EVENT_INFO, "event %d", i);
    CHECK_EQ_INT(eventlog_len(l), 3);
    CHECK_EQ_INT(eventlog_total(l), 5);
    const struct eventlog_entry *e = eventlog_at(l, 0);
    CHECK(e && e->seq == 3 && e->time_ns == 300 && !strcmp(e->text, "event 3"));
    e = eventlog_at(l, 2);
    CHECK(e && e->seq == 5 && !strcmp(e->text, "event 5"));
    CHECK(eventlog_at(l, 3) == NULL);
    eventlog_free(l);
}

static void test_kinds(void)
{
    struct eventlog *l = eventlog_new(2);
    eventlog_push(l, 1, EVENT_PAUSE, "a");
    eventlog_push(l, 2, EVENT_PAUSE, "b");
    eventlog_push(l, 3, EVENT_WARN, "c");
    eventlog_push(l, 4, (enum eventlog_kind)99, "bad kind becomes info");
    CHECK_EQ_INT(eventlog_count(l, EVENT_PAUSE), 2); /* evicted ones still count */
    CHECK_EQ_INT(eventlog_count(l, EVENT_WARN), 1);
    CHECK_EQ_INT(eventlog_count(l, EVENT_INFO), 1);
    CHECK_EQ_INT(eventlog_at(l, 1)->kind, EVENT_INFO);
    CHECK(!strcmp(eventlog_kind_name(EVENT_WARN), "warning"));
    CHECK(!strcmp(eventlog_kind_name(EVENT_RESULT), "ok"));
    CHECK(!strcmp(eventlog_kind_name((enum eventlog_kind)99), "info"));
    eventlog_free(l);
}

static void test_long_text_cut(void)
{
    struct eventlog *l = eventlog_new(1);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    eventlog_push(l, 1, EVENT_ERROR, big);
    CHECK_EQ_INT(strlen(eventlog_at(l, 0)->text), EVENTLOG_TEXT_MAX - 1);
    eventlog_push(l, 2, EVENT_ERROR, NULL);
    CHECK_EQ_INT(strlen(eventlog_at(l, 0)->text), 0);
    eventlog_free(l);
}

static void test_null_log(void)
{
    eventlog_push(NULL, 1, EVENT_INFO, "x");
    eventlog_pushf(NULL, 1, EVENT_INFO, "%d", 1);
    CHECK_EQ_INT(eventlog_len(NULL), 0);
    CHECK_EQ_INT(eventlog_total(NULL), 0);
    CHECK(eventlog_at(NULL, 0) == NULL);
    eventlog_free(NULL);
    struct eventlog *l = eventlog_new(0); /* capacity 0 means 1 */
    eventlog_push(l, 1, EVENT_INFO, "a");
    eventlog_push(l, 2, EVENT_INFO, "b");
    CHECK_EQ_INT(eventlog_len(l), 1);
    CHECK(!strcmp(eventlog_at(l, 0)->text, "b"));
    eventlog_free(l);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_order_and_eviction);
    RUN(test_kinds);
    RUN(test_long_text_cut);
    RUN(test_null_log);
    return HARNESS_END();
}
