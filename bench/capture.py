#!/usr/bin/env python3
"""Cycle capture benchmark: what capturing cycle shapes from the program's
own collections costs, against the forced-collection way (the hunt).

Run: /usr/bin/python3 bench/capture.py --build build [--secs S] [--all] [--json FILE]

For each Python (/usr/bin/python3, pyenv 3.8 and 3.13 and Debian sid's by
default; --all for every CPython found), ONE target process builds two-node
cycles (a.next = b; b.next = a) in chunks of 20k with automatic collections
(default thresholds) and times each chunk in its own thread's CPU time
(the capture runs in that thread, inside its collections; wall time on a
shared machine mostly measures the neighbours). pymemtop attaches in turn:
  off:  [cycles] capture = off (the monitor's other costs only)
  on:   the default, capture_budget = 1 %
  off, on, off, on again (alternating), then
  full: capture_budget = 50 %, so nearly every collection is captured: its
        cost per captured object;
  hunt: one --command hunt --force: the forced full collection's cost per
        garbage object (DEBUG_SAVEALL collection, analysis, release).
Reported per version: the capture's share of wall time at 1 % (from
cycles.capture.wall_share), the program's chunk time with capture on over
off (medians), the capture's ns per captured object, the hunt's, and their
ratio (hunt over capture).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib

TARGET = r'''
import os, sys, time
OUT = sys.argv[1]
class Node:
    def __init__(self):
        self.next = None
with open(OUT, "a") as f:
    while True:
        t0 = time.thread_time_ns()
        for _ in range(20000):
            a, b = Node(), Node()
            a.next, b.next = b, a
        t1 = time.thread_time_ns()
        f.write("%d %d\n" % (time.monotonic_ns(), t1 - t0))
        f.flush()
'''


def chunks(path, t0, t1):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and t0 <= int(parts[0]) <= t1:
                out.append(int(parts[1]))
    return out


def last_cycles(rec):
    lines = [json.loads(x) for x in open(rec) if x.strip()]
    lines = [x for x in lines if "cycles" in x]
    return lines[-1]["cycles"] if lines else None


def phase(binary, pid, work, d, name, ini, secs):
    rec = os.path.join(d, name + ".jsonl")
    cfg = os.path.join(d, name + ".ini")
    with open(cfg, "w") as f:
        f.write(ini)
    t0 = time.monotonic_ns()
    subprocess.run([binary, "--config", cfg, "--record", rec, "--interval", "0.5",
                    "--duration", str(secs), str(pid)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=secs + 60, check=True)
    t1 = time.monotonic_ns()
    return chunks(work, t0, t1), last_cycles(rec)


def bench_one(py, binary, secs):
    d = tempfile.mkdtemp(prefix="pymemtop-bench-capture-")
    os.chmod(d, 0o755)
    script = os.path.join(d, "target.py")
    work = os.path.join(d, "chunks.txt")
    with open(script, "w") as f:
        f.write(TARGET)
    p = subprocess.Popen(benchlib.argv(py, script, work), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        while not os.path.exists(work) or os.path.getsize(work) == 0:
            if p.poll() is not None:
                raise RuntimeError("target failed: %s" % p.stderr.read()[-500:])
            time.sleep(0.05)
        off, on, caps = [], [], []
        for rnd in range(3):
            c, _ = phase(binary, p.pid, work, d, "off%d" % rnd, "[cycles]\ncapture = off\n", secs)
            off += c
            c, cy = phase(binary, p.pid, work, d, "on%d" % rnd, "[cycles]\ncapture = on\n", secs)
            on += c
            caps.append(cy["capture"])
        _, cy = phase(binary, p.pid, work, d, "full",
                      "[cycles]\ncapture = on\ncapture_budget = 50\n", secs)
        full = cy["capture"]
        h = subprocess.run([binary, "--json", "--force", "--command", "hunt", str(p.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           timeout=120)
        hunt = json.loads(h.stdout.splitlines()[0])
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)
    cap_ns = full["cost_ns"] / full["objects"] if full["objects"] else float("nan")
    hunt_ns = hunt["cost_ns"] / hunt["objects"] if hunt.get("objects") else float("nan")
    return {
        "python": py.label if hasattr(py, "label") else str(py),
        "wall_share_at_1pct": benchlib.median([c["wall_share"] for c in caps]),
        "captured_share": benchlib.median(
            [sum(c["captures"]) / max(1, sum(c["collections"])) for c in caps]),
        "chunk_ms_off": benchlib.median(off) / 1e6,
        "chunk_ms_on": benchlib.median(on) / 1e6,
        "slowdown_on": benchlib.median(on) / benchlib.median(off),
        "capture_ns_per_object": cap_ns,
        "capture_objects_at_50pct": full["objects"],
        "hunt_ns_per_object": hunt_ns,
        "hunt_objects": hunt.get("objects"),
        "hunt_over_capture": hunt_ns / cap_ns,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--secs", type=float, default=3.0)
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    benchlib.sid_namespace(args.build)
    pys, missing = benchlib.bench_pythons(args.all, args.build, sid=True)
    priv = benchlib.private_copy(args.build)
    os.chmod(priv, 0o755)
    binary = os.path.join(priv, "pymemtop")
    results = []
    try:
        print("%-18s %8s %8s %9s %9s %8s %10s %10s %7s" % (
            "python", "wall@1%", "sampled", "chunk off", "chunk on", "on/off", "capture",
            "hunt", "hunt/cap"))
        for py in pys:
            r = bench_one(py, binary, args.secs)
            results.append(r)
            print("%-18s %7.2f%% %7.1f%% %7.1fms %7.1fms %8.3f %7.0fns/o %7.0fns/o %7.2fx" % (
                r["python"], r["wall_share_at_1pct"] * 100, r["captured_share"] * 100,
                r["chunk_ms_off"], r["chunk_ms_on"], r["slowdown_on"],
                r["capture_ns_per_object"], r["hunt_ns_per_object"], r["hunt_over_capture"]),
                flush=True)
        for label, why in missing:
            print("NOTE %s not measured: %s" % (label, why))
    finally:
        shutil.rmtree(priv, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
