/* Pure text formatting for the dashboard: sizes, durations, counts and
 * truncation at fixed widths so numbers never make the layout jump. No curses. */
#ifndef PYMEMTOP_TUI_FORMAT_H
#define PYMEMTOP_TUI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every formatter writes a NUL-terminated string right-aligned to its width
 * (padded with spaces on the left) and returns the number of bytes written
 * (without the NUL), truncated to len - 1 when the buffer is too small. */

/* "0 KiB", "1023 KiB", "1.00 MiB", "12.3 MiB", "123 MiB", "1.21 GiB" ... up to
 * ZiB: at most FORMAT_SIZE_W columns. */
#define FORMAT_SIZE_W 8
size_t format_kib(char *buf, size_t len, uint64_t kib);

/* Bytes: "0 B", "1023 B", "1.00 KiB", "12.3 MiB" ...: at most FORMAT_SIZE_W
 * columns, like format_kib. */
size_t format_bytes(char *buf, size_t len, uint64_t bytes);

/* Durations: "0ns", "850ns", "57.3us", "12.0ms", "1.25s", "123s", "16.7m",
 * "3.50h": at most FORMAT_DURATION_W columns. */
#define FORMAT_DURATION_W 6
size_t format_duration(char *buf, size_t len, uint64_t ns);

/* Elapsed wall time for uptimes: "45s", "12m05s", "3h07m", "2d04h", "999d":
 * at most FORMAT_UPTIME_W columns. */
#define FORMAT_UPTIME_W 6
size_t format_uptime(char *buf, size_t len, uint64_t ns);

/* Counts: "0", "9999", "12.3k", "123k", "1.23M" ... "9.22E"; negative values
 * mean unknown and print "n/a": at most FORMAT_COUNT_W columns. */
#define FORMAT_COUNT_W 5
size_t format_count(char *buf, size_t len, int64_t n);

/* A share 0..1 as a percentage: "0.00%", "0.12%", "12.3%", "100%"; negative
 * prints "n/a": at most FORMAT_PCT_W columns. */
#define FORMAT_PCT_W 5
size_t format_pct(char *buf, size_t len, double share);

/* A growth rate given in KiB per minute: "+0.00 MiB/min", "-1.25 MiB/min",
 * "+123 MiB/min", "+1.21 GiB/min": at most FORMAT_SLOPE_W columns. */
#define FORMAT_SLOPE_W 13
size_t format_slope_kib(char *buf, size_t len, double kib_per_min);

/* A signed change: "+0", "-12", "+9999", "+12.3k", "-1.23M": at most
 * FORMAT_DELTA_W columns. */
#define FORMAT_DELTA_W 6
size_t format_delta(char *buf, size_t len, int64_t n);

/* Copies src into buf so that it takes at most `cols` terminal columns,
 * replacing control bytes with '?' and ending with an ellipsis ("…" when
 * utf8, "..." otherwise) when it had to cut. Counts one column per code
 * point (the command lines we show are almost always ASCII). Returns the
 * number of columns used. Not padded. */
int format_truncate(char *buf, size_t len, const char *src, int cols, bool utf8);

/* Columns taken by a UTF-8 string under the same one-per-code-point rule. */
int format_cols(const char *s);

/* The overhead warning while tracemalloc is on, the longest of its forms
 * that fits cols: "tracemalloc on (lease 4m12s left, costs 4-10x allocation
 * time)" down to "tm 4m12s"; owner is PM_TM_OWNER_*, lease_left_ms 0 none.
 * "" when tracing is off. */
size_t format_tm_warning(char *buf, size_t len, bool on, int owner, uint64_t lease_left_ms,
                         int cols);

#endif
