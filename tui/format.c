/* Pure text formatting for the dashboard (no curses: unit tests link it). */
#include "format.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

/* Right-aligns `txt` to `width` columns in buf; returns bytes written. */
static size_t put_right(char *buf, size_t len, int width, const char *txt)
{
    if (!buf || len == 0)
        return 0;
    int n = snprintf(buf, len, "%*s", width, txt);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n < len ? (size_t)n : len - 1;
}

/* Three significant digits for 0 <= v < 999.5: "1.25", "12.3", "123". */
static void sig3(char *tmp, size_t len, double v, const char *unit)
{
    if (v < 9.995)
        snprintf(tmp, len, "%.2f%s", v, unit);
    else if (v < 99.95)
        snprintf(tmp, len, "%.1f%s", v, unit);
    else
        snprintf(tmp, len, "%.0f%s", v, unit);
}

/* v in units[0], moved up by `step` while the rounded figure would need a
 * fourth digit before the point (1023.5 KiB -> "1.00 MiB"). */
static void sig3_scaled(char *tmp, size_t len, double v, double step, const char *const *units,
                        size_t n_units)
{
    size_t u = 0;
    while (v >= step - 0.5 && u + 1 < n_units) {
        v /= step;
        u++;
    }
    sig3(tmp, len, v, units[u]);
}

size_t format_kib(char *buf, size_t len, uint64_t kib)
{
    static const char *const units[] = {" KiB", " MiB", " GiB", " TiB", " PiB", " EiB", " ZiB"};
    char tmp[32];
    if (kib < 1024) {
        snprintf(tmp, sizeof tmp, "%u KiB", (unsigned)kib);
        return put_right(buf, len, FORMAT_SIZE_W, tmp);
    }
    sig3_scaled(tmp, sizeof tmp, (double)kib, 1024.0, units, sizeof units / sizeof units[0]);
    return put_right(buf, len, FORMAT_SIZE_W, tmp);
}

size_t format_bytes(char *buf, size_t len, uint64_t bytes)
{
    char tmp[32];
    if (bytes < 1024) {
        snprintf(tmp, sizeof tmp, "%u B", (unsigned)bytes);
        return put_right(buf, len, FORMAT_SIZE_W, tmp);
    }
    static const char *const units[] = {" KiB", " MiB", " GiB", " TiB", " PiB", " EiB"};
    sig3_scaled(tmp, sizeof tmp, (double)bytes / 1024.0, 1024.0, units,
                sizeof units / sizeof units[0]);
    return put_right(buf, len, FORMAT_SIZE_W, tmp);
}

size_t format_duration(char *buf, size_t len, uint64_t ns)
{
    char tmp[32];
    if (ns < 1000) {
        snprintf(tmp, sizeof tmp, "%uns", (unsigned)ns);
        return put_right(buf, len, FORMAT_DURATION_W, tmp);
    }
    static const struct {
        double div, below; /* use this unit while the figure stays below */
        const char *unit;
    } steps[] = {
        {1e3, 999.5, "us"}, {1e6, 999.5, "ms"},  {1e9, 999.5, "s"},
        {60e9, 59.95, "m"}, {3600e9, 999.5, "h"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        double v = (double)ns / steps[i].div;
        if (v < steps[i].below) {
            sig3(tmp, sizeof tmp, v, steps[i].unit);
            return put_right(buf, len, FORMAT_DURATION_W, tmp);
        }
    }
    double days = (double)ns / 86400e9;
    if (days < 9999.5)
        snprintf(tmp, sizeof tmp, "%.0fd", days);
    else
        snprintf(tmp, sizeof tmp, "%.0fy", days / 365.25);
    return put_right(buf, len, FORMAT_DURATION_W, tmp);
}

size_t format_uptime(char *buf, size_t len, uint64_t ns)
{
    char tmp[32];
    uint64_t s = ns / 1000000000u;
    if (s < 60)
        snprintf(tmp, sizeof tmp, "%us", (unsigned)s);
    else if (s < 3600)
        snprintf(tmp, sizeof tmp, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
    else if (s < 86400)
        snprintf(tmp, sizeof tmp, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60));
    else if (s < 100 * 86400)
        snprintf(tmp, sizeof tmp, "%ud%02uh", (unsigned)(s / 86400),
                 (unsigned)(s % 86400 / 3600));
    else if (s / 86400 < 100000)
        snprintf(tmp, sizeof tmp, "%ud", (unsigned)(s / 86400));
    else
        snprintf(tmp, sizeof tmp, "%uy", (unsigned)(s / 86400 / 365));
    return put_right(buf, len, FORMAT_UPTIME_W, tmp);
}

size_t format_count(char *buf, size_t len, int64_t n)
{
    static const char *const units[] = {"k", "M", "G", "T", "P", "E"};
    char tmp[32];
    if (n < 0)
        return put_right(buf, len, FORMAT_COUNT_W, "n/a");
    if (n < 10000) {
        snprintf(tmp, sizeof tmp, "%u", (unsigned)n);
        return put_right(buf, len, FORMAT_COUNT_W, tmp);
    }
    sig3_scaled(tmp, sizeof tmp, (double)n / 1000.0, 1000.0, units,
                sizeof units / sizeof units[0]);
    return put_right(buf, len, FORMAT_COUNT_W, tmp);
}

size_t format_delta(char *buf, size_t len, int64_t n)
{
    char tmp[48], mag[32];
    uint64_t a = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    if (a > (uint64_t)INT64_MAX)
        a = (uint64_t)INT64_MAX;
    format_count(mag, sizeof mag, (int64_t)a);
    const char *p = mag;
    while (*p == ' ')
        p++;
    snprintf(tmp, sizeof tmp, "%c%s", n < 0 ? '-' : '+', p);
    return put_right(buf, len, FORMAT_DELTA_W, tmp);
}

size_t format_pct(char *buf, size_t len, double share)
{
    char tmp[32];
    if (!(share >= 0)) /* negative or NaN */
        return put_right(buf, len, FORMAT_PCT_W, "n/a");
    double p = share * 100.0;
    if (p > 9999.0)
        p = 9999.0;
    if (p < 99.95)
        sig3(tmp, sizeof tmp, p, "%");
    else
        snprintf(tmp, sizeof tmp, "%.0f%%", p);
    return put_right(buf, len, FORMAT_PCT_W, tmp);
}

size_t format_slope_kib(char *buf, size_t len, double kib_per_min)
{
    char tmp[48], num[32];
    if (isnan(kib_per_min))
        return put_right(buf, len, FORMAT_SLOPE_W, "n/a");
    double v = fabs(kib_per_min) / 1024.0;
    const char *unit = " MiB/min";
    if (v >= 1023.5) {
        v /= 1024.0;
        unit = " GiB/min";
        if (v > 999.0)
            v = 999.0; /* beyond any real process; keep the width */
    }
    sig3(num, sizeof num, v, unit);
    /* "-0.00" would claim a shrink that rounding invented. */
    char sign = (kib_per_min < 0 && strncmp(num, "0.00", 4) != 0) ? '-' : '+';
    snprintf(tmp, sizeof tmp, "%c%s", sign, num);
    return put_right(buf, len, FORMAT_SLOPE_W, tmp);
}

/* Length of the valid UTF-8 sequence at p, or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p)
{
    size_t n;
    if (p[0] < 0x80)
        return 1;
    else if ((p[0] & 0xe0) == 0xc0 && p[0] >= 0xc2)
        n = 2;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3;
    else if ((p[0] & 0xf8) == 0xf0 && p[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

int format_cols(const char *s)
{
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            cols++;
    return cols;
}

int format_truncate(char *buf, size_t len, const char *src, int cols, bool utf8)
{
    if (!buf || len == 0)
        return 0;
    buf[0] = '\0';
    if (cols <= 0 || !src)
        return 0;
    const char *ell = utf8 ? "\xe2\x80\xa6" : "...";
    int ell_cols = utf8 ? 1 : 3;

    /* First pass: does it fit as is? */
    int total = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p;) {
        size_t n = utf8 ? utf8_seq(p) : 1;
        p += n ? n : 1;
        total++;
    }
    bool cut = total > cols;
    int keep = cut ? (cols > ell_cols ? cols - ell_cols : cols) : total;

    size_t o = 0;
    int used = 0;
    const unsigned char *p = (const unsigned char *)src;
    while (*p && used < keep) {
        size_t n = utf8 ? utf8_seq(p) : 1;
        if (n > 1) {
            if (o + n >= len)
                break;
            memcpy(buf + o, p, n);
            o += n;
            p += n;
        } else {
            if (o + 1 >= len)
                break;
            unsigned char c = *p;
            /* Control bytes would move the cursor; raw high bytes are garbage
             * on a non-UTF-8 terminal. */
            buf[o++] = (c < 0x20 || c == 0x7f || c >= 0x80) ? '?' : (char)c;
            p += 1;
        }
        used++;
    }
    if (cut && cols > ell_cols && o + strlen(ell) < len) {
        memcpy(buf + o, ell, strlen(ell));
        o += strlen(ell);
        used += ell_cols;
    }
    buf[o] = '\0';
    return used;
}

size_t format_tm_warning(char *buf, size_t len, bool on, int owner, uint64_t lease_left_ms,
                         int cols)
{
    if (!len)
        return 0;
    buf[0] = 0;
    if (!on)
        return 0;
    char left[16], who[32];
    format_uptime(left, sizeof left, lease_left_ms * 1000000u);
    const char *l = left;
    while (*l == ' ')
        l++;
    if (lease_left_ms)
        snprintf(who, sizeof who, "lease %s left", l);
    else
        snprintf(who, sizeof who, "%s", owner == PM_TM_OWNER_PROGRAM ? "the program's"
                                        : owner == PM_TM_OWNER_PYMEMTOP ? "until detach"
                                                                        : "on");
    char forms[5][96];
    const char *t = lease_left_ms ? l : "on";
    snprintf(forms[0], sizeof forms[0], "tracemalloc on (%s, costs 4-10x allocation time)", who);
    snprintf(forms[1], sizeof forms[1], "tracemalloc on (%s, allocs 4-10x slower)", who);
    snprintf(forms[2], sizeof forms[2], "tracemalloc: %s%s, 4-10x slower", t,
             lease_left_ms ? " left" : "");
    snprintf(forms[3], sizeof forms[3], "tracemalloc %s", t);
    snprintf(forms[4], sizeof forms[4], "tm %s", t);
    for (int i = 0; i < 5; i++)
        if ((int)strlen(forms[i]) <= cols || i == 4)
            return (size_t)snprintf(buf, len, "%s", forms[i]);
    return 0;
}
