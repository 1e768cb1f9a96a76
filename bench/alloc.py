#!/usr/bin/env python3
"""Allocator probes: what they cost the target. Reports numbers; asserts nothing.

Run: /usr/bin/python3 bench/alloc.py --build build [--all] [--json FILE]

For /usr/bin/python3 and the newest pyenv 3.13 (every CPython 3.8+ with --all);
the binary and the agent are copied from --build to a private directory first,
so a concurrent rebuild cannot change them mid-run.

1. Counting hook overhead, in ONE target process per Python: an
   allocation-bound loop (strs, bytes, big ints born and freed, a list that
   grows) prints each batch's CPU time (thread_time_ns of the main thread: on
   a shared machine, time spent descheduled would otherwise dominate). After a `--once` injection a monitor session
   (the wire protocol, as tests/integration/test_alloc.py speaks it) stays
   open and phases of ~0.6 s alternate
       (O) O H O T ... (4 H, 4 T)      O = hook off, H = hook on,
                                      T = tracemalloc.start(1) in the target
   (the first batch after a switch is dropped). Reported: median batch time
   per phase kind (pooled), H/O and T/O as ratios, the spread of each H or T
   phase against the mean of the O phases around it, the added time per
   allocation (H - O) / allocations per batch (from the hook's own counters),
   and the agent's calibrated estimate from its reply.

2. One pymalloc stats read (_PyObject_DebugMallocStats, which the agent parses)
   and one sys.getallocatedblocks() at ~200 MB and ~2 GB of small Python
   objects, timed inside the target (median of 5, perf_counter_ns; the stats
   go to /dev/null through ctypes), plus mallinfo2() through ctypes, and the
   pymalloc_cost_ns the agent itself measured at its first read.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from test_alloc import AgentClient  # noqa: E402  (the protocol client)

import benchlib  # noqa: E402

LOOP = r'''
import os, sys, time
ctl, done = sys.argv[1], 0

def batch():
    # Objects without a free list (str, bytes, big ints) and a list that
    # grows (realloc): nearly every line reaches the allocator.
    n, keep = 0, []
    for i in range(20000):
        s = str(i) * 2
        b = s.encode()
        keep.append(b)
        if len(keep) == 64:
            keep = []
        n += len(s) + len(b) + (i * 7919) % 13
    return n

print("ready", flush=True)
while True:
    try:
        with open(ctl) as f:
            lines = f.read().split()
    except OSError:
        lines = []
    for i in range(0, len(lines) - 1, 2):
        seq, cmd = int(lines[i]), lines[i + 1]
        if seq > done:
            done = seq
            if cmd == "tm_start":
                import tracemalloc; tracemalloc.start(1)
            elif cmd == "tm_stop":
                import tracemalloc; tracemalloc.stop()
            elif cmd == "quit":
                sys.exit(0)
    t0, c0 = time.monotonic_ns(), time.thread_time_ns()
    batch()
    print(done, t0, time.thread_time_ns() - c0, flush=True)
'''

HEAP = r'''
import ctypes, gc, statistics, sys, time
mb = int(sys.argv[1])
gc.disable()  # building, not collecting: the heap is what we measure
keep = []
n = mb * (1 << 20) // 160  # (int, str) tuple + str + int + list slot: ~160 B
for i in range(n):
    keep.append((i, "s%d" % i))
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
stats = ctypes.pythonapi._PyObject_DebugMallocStats
stats.argtypes = [ctypes.c_void_p]

class MI2(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

mi2 = getattr(libc, "mallinfo2", None)
if mi2:
    mi2.restype = MI2

def timed(fn, k=5):
    out = []
    for _ in range(k):
        t0 = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t0)
    return statistics.median(out)

fp = ctypes.c_void_p(libc.fopen(b"/dev/null", b"w"))
res = {"objects": len(keep),
       "stats_ns": timed(lambda: stats(fp)),
       "blocks_ns": timed(sys.getallocatedblocks),
       "mallinfo2_ns": timed(mi2) if mi2 else None,
       "blocks": sys.getallocatedblocks()}
print(repr(res), flush=True)
while True:  # short sleeps: the injection needs the main thread to run Python
    time.sleep(0.02)
'''

PROCS = []


def cleanup(*_):
    while PROCS:
        p = PROCS.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


def pythons(all_versions):
    found = [(path, v + (" (debian)" if path.startswith("/usr/bin") else ""))
             for path, v in benchlib.find_pythons()]
    if all_versions:
        return found
    want = [p for p in found if p[0] == "/usr/bin/python3"]
    m313 = [p for p in found if p[1].startswith("3.13")]
    return want + m313[-1:]


def hook_overhead(binary, py, tmp, phase_s):
    script = os.path.join(tmp, "loop.py")
    ctl = os.path.join(tmp, "loop.ctl")
    with open(script, "w") as f:
        f.write(LOOP)
    if os.path.exists(ctl):
        os.unlink(ctl)
    p = subprocess.Popen([py, script, ctl], stdout=subprocess.PIPE, text=True, bufsize=1)
    PROCS.append(p)
    assert p.stdout.readline().strip() == "ready"
    seq = [0]

    def tell(cmd):
        seq[0] += 1
        with open(ctl, "a") as f:
            f.write("%d %s\n" % (seq[0], cmd))
        return seq[0]

    def batches(after_seq, seconds):
        """Batches that started after the switch took effect, for `seconds`."""
        out, start, end = [], None, None
        for line in p.stdout:
            done, t0, dt = (int(x) for x in line.split())
            if done < after_seq:
                continue
            if start is None:  # drop the first batch after the switch
                start = t0
                end = time.monotonic() + seconds
                continue
            out.append(dt)
            if time.monotonic() >= end:
                return out
        raise RuntimeError("target loop ended")

    for _ in range(30):  # warm up
        p.stdout.readline()
    benchlib.once_json(binary, p.pid)
    c = AgentClient(p.pid, interval_ms=100)
    est = None
    kinds = {"O": [], "H": [], "T": []}
    phases = []
    calls_rate = []
    batches(tell("noop"), phase_s)  # settle after the attach
    for kind in "OHOTOHOTOHOTOHOTO":
        if kind == "H":
            st, msg = c.command("alloc_hook", 1)
            est = msg
            s0 = c.fresh_sample()
            t_s0 = time.monotonic()
            rows = batches(tell("noop"), phase_s)
            s1 = c.fresh_sample()
            if s1.get("hook_on"):
                calls_rate.append((sum(s1["hook_calls"]) - sum(s0["hook_calls"]))
                                  / (time.monotonic() - t_s0))
            c.command("alloc_hook", 0)
        elif kind == "T":
            rows = batches(tell("tm_start"), phase_s)
            tell("tm_stop")
        else:
            rows = batches(tell("noop"), phase_s)
        kinds[kind].extend(rows)
        phases.append((kind, benchlib.median(rows)))
    c.close()
    tell("quit")
    p.wait(10)
    base = benchlib.median(kinds["O"])
    res = {"batch_off_ms": base / 1e6, "batch_hook_ms": benchlib.median(kinds["H"]) / 1e6,
           "batch_tracemalloc_ms": benchlib.median(kinds["T"]) / 1e6,
           "hook_ratio": benchlib.median(kinds["H"]) / base,
           "tracemalloc_ratio": benchlib.median(kinds["T"]) / base, "agent_estimate": est}
    for k in "HT":
        spread = []
        for i, (kind, med) in enumerate(phases):
            if kind == k:
                spread.append(med / ((phases[i - 1][1] + phases[i + 1][1]) / 2))
        res[k + "_spread"] = (min(spread), max(spread))
    offs = [m for k, m in phases if k == "O"]
    res["O_spread"] = (min(offs) / base, max(offs) / base)
    if calls_rate:
        # allocations per batch = rate x share of time in batches (~1) x batch time
        per_batch = statistics.median(calls_rate) * benchlib.median(kinds["H"]) / 1e9
        res["allocs_per_batch"] = per_batch
        res["hook_ns_per_alloc"] = (benchlib.median(kinds["H"]) - base) / per_batch
    return res


def probe_costs(binary, py, tmp, mb):
    script = os.path.join(tmp, "heap.py")
    with open(script, "w") as f:
        f.write(HEAP)
    p = subprocess.Popen([py, script, str(mb)], stdout=subprocess.PIPE, text=True)
    PROCS.append(p)
    t0 = time.monotonic()
    res = eval(p.stdout.readline())  # our own child's repr of a dict of numbers
    res["build_s"] = time.monotonic() - t0
    j = benchlib.once_json(binary, p.pid)
    a = j["alloc"]
    res.update({"pymalloc_used_mb": a["pymalloc_used_bytes"] / (1 << 20),
                "arenas": a["arenas"], "agent_pymalloc_cost_ns": a.get("pymalloc_cost_ns"),
                "agent_blocks_cost_ns": a.get("blocks_cost_ns"),
                "rss_mb": j["proc"]["rss_kib"] / 1024})
    p.kill()
    p.wait(30)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--all", action="store_true", help="every CPython 3.8+ found")
    ap.add_argument("--phase", type=float, default=0.6, help="seconds per phase")
    ap.add_argument("--sizes", default="200,2000", help="heap sizes in MB")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(1)))
    tmp = benchlib.private_copy(args.build, prefix="pymemtop-bench-alloc-")
    try:
        binary = os.path.join(tmp, "pymemtop")
        results = {}
        for path, label in pythons(args.all):
            r = results[label] = {"hook": hook_overhead(binary, path, tmp, args.phase)}
            h = r["hook"]
            print("%-16s batch %.2f ms | hook on x%.3f (phases %.3f..%.3f, off noise %.3f..%.3f)"
                  " = %s ns/alloc over %s allocs | tracemalloc.start(1) x%.2f | agent says: %s"
                  % (label, h["batch_off_ms"], h["hook_ratio"], *h["H_spread"], *h["O_spread"],
                     "%.1f" % h["hook_ns_per_alloc"] if "hook_ns_per_alloc" in h else "?",
                     "%.0f" % h["allocs_per_batch"] if "allocs_per_batch" in h else "?",
                     h["tracemalloc_ratio"], h["agent_estimate"]), flush=True)
            for mb in (int(x) for x in args.sizes.split(",")):
                c = r["heap_%d" % mb] = probe_costs(binary, path, tmp, mb)
                print("%-16s heap %5.0f MB pymalloc (%d arenas, %.0f MB RSS): stats read %.2f ms"
                      " (agent: %.2f ms), getallocatedblocks %.2f ms, mallinfo2 %s us"
                      % (label, c["pymalloc_used_mb"], c["arenas"], c["rss_mb"],
                         c["stats_ns"] / 1e6, (c["agent_pymalloc_cost_ns"] or 0) / 1e6,
                         c["blocks_ns"] / 1e6,
                         "%.1f" % (c["mallinfo2_ns"] / 1e3) if c["mallinfo2_ns"] else "n/a"),
                      flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
