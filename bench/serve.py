#!/usr/bin/env python3
"""The exporter's own cost (issue 12, part 4): CPU and RSS of
`pymemtop --serve` with 20 targets sampled at 1 Hz, scraped every second
like Prometheus would, and the scrape latency; then the same time without
scrapes (what holding the sessions costs alone); against the obvious
alternative in the same run, one `pymemtop --record` per target (20
monitors) over the same targets for the same time.

Run: /usr/bin/python3 bench/serve.py --build build [--targets 20] [--seconds 30] [--json FILE]

The targets are spread round-robin over the local interpreters (pyenv's
3.8 to 3.13 and /usr/bin/python3), each a small service: a dict churn, a
reference cycle and a slowly growing list every 50 ms. The exporter is given
the PIDs explicitly: --all would also attach to every other CPython process
on the machine (other users' test runs, tools). Numbers only; nothing is
asserted.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchlib

TARGET = r'''
import sys, time
keep = []
print("ready", flush=True)
while True:
    churn = [{"i": i} for i in range(2000)]
    a, b = [], []
    a.append(b); b.append(a)
    keep.append(object()) if len(keep) < 100000 else None
    time.sleep(0.05)
'''


def start_targets(pys, n, script):
    procs = []
    for i in range(n):
        py = pys[i % len(pys)]
        p = subprocess.Popen(benchlib.argv(py, script), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        procs.append((py, p))
    for _py, p in procs:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("a target did not start")
    return procs


def cpu_ns(pid):
    """CPU time of every thread of pid in ns (schedstat): a --record process
    uses less than one clock tick in many seconds, so ticks would read 0."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def usage_over(pids, seconds, each_second=None):
    """CPU% (of one core) and max RSS (KiB, summed over pids) over seconds."""
    t0 = time.monotonic()
    c0 = sum(cpu_ns(p) for p in pids)
    rss_max = 0
    while time.monotonic() - t0 < seconds:
        tick = time.monotonic()
        rss_max = max(rss_max, sum(benchlib.proc_status_kib(p, "VmRSS") or 0 for p in pids))
        if each_second:
            each_second()
        time.sleep(max(0, 1 - (time.monotonic() - tick)))
    c1 = sum(cpu_ns(p) for p in pids)
    return 100.0 * (c1 - c0) / 1e9 / (time.monotonic() - t0), rss_max


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--json")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    pys = [p for p in benchlib.find_all(build, sid=False)[0]]
    if not pys:
        print("no Python found")
        return 1
    copy = benchlib.private_copy(build)
    binary = os.path.join(copy, "pymemtop")
    work = tempfile.mkdtemp(prefix="pymemtop-bench-serve-")
    script = os.path.join(work, "target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    procs, serve = [], None
    result = {}
    try:
        procs = start_targets(pys, args.targets, script)
        pids = [p.pid for _py, p in procs]
        err = open(os.path.join(work, "serve.err"), "w+")
        serve = subprocess.Popen([binary, "--serve", "127.0.0.1:0"] + [str(p) for p in pids],
                                 stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        port = None
        for _ in range(500):
            err.seek(0)
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/", err.read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.02)
        url = "http://127.0.0.1:%d/metrics" % port
        t_attach = time.monotonic()
        while True:
            body = urllib.request.urlopen(url, timeout=10).read().decode()
            up = len(re.findall(r'^pymemtop_target_up\{pid="\d+"\} 1$', body, re.M))
            if up == len(pids):
                break
            if time.monotonic() - t_attach > 120:
                raise RuntimeError("only %d of %d targets served after 120 s" % (up, len(pids)))
            time.sleep(0.1)
        attach_s = time.monotonic() - t_attach
        lat, sizes = [], []

        def scrape():
            t = time.monotonic()
            b = urllib.request.urlopen(url, timeout=10).read()
            lat.append(time.monotonic() - t)
            sizes.append(len(b))
        cpu, rss = usage_over([serve.pid], args.seconds, scrape)
        # The same without scrapes: what holding the sessions costs by itself.
        idle_cpu, _rss = usage_over([serve.pid], args.seconds)
        serve.terminate()
        serve.wait(30)
        serve = None
        # The alternative: one monitor per target for the same time.
        recs = [subprocess.Popen([binary, "--record", "/dev/null", str(p)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL) for p in pids]
        usage_over([r.pid for r in recs], 2)  # warm-up: their attaches (agents reused)
        rec_cpu, rec_rss = usage_over([r.pid for r in recs], args.seconds)
        for r in recs:
            r.terminate()
        for r in recs:
            r.wait(30)
        lat_ms = sorted(x * 1000 for x in lat)
        result = {
            "targets": len(pids),
            "versions": sorted({py.label for py, _p in procs}),
            "seconds": args.seconds,
            "all_served_after_s": round(attach_s, 2),
            "serve_cpu_pct": round(cpu, 2),
            "serve_rss_kib": rss,
            "serve_cpu_pct_unscraped": round(idle_cpu, 2),
            "scrape_ms_median": round(statistics.median(lat_ms), 2),
            "scrape_ms_p99": round(lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))], 2),
            "scrape_ms_max": round(lat_ms[-1], 2),
            "page_bytes": int(statistics.median(sizes)),
            "record_x%d_cpu_pct" % len(pids): round(rec_cpu, 2),
            "record_x%d_rss_kib" % len(pids): rec_rss,
            "cpu_ratio_serve_vs_records": round(cpu / rec_cpu, 3) if rec_cpu else None,
            "rss_ratio_serve_vs_records": round(rss / rec_rss, 3) if rec_rss else None,
        }
        for k, v in result.items():
            print("%-32s %s" % (k, v))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    finally:
        if serve:
            serve.kill()
            serve.wait()
        for _py, p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(copy, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
