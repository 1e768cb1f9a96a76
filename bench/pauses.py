#!/usr/bin/env python3
"""Pause benchmark (issue 15): how long the monitor stalls a target with a big
heap, in slices against today's census in one piece, in the same run.

Run: /usr/bin/python3 bench/pauses.py --build build [--quick] [--record-s S] [--json FILE]

For each Python (/usr/bin/python3, pyenv 3.13, Debian sid's 3.14 and 3.15 by default;
--versions picks by label) and each heap (1M and 5M tracked objects, fresh and
aged: N/2 dicts each given a new list, the dicts made tracked in allocation
order or shuffled as in bench/census.py; 3.14+ tracks a dict at creation, so
its "aged" heap is laid out like the fresh one), ONE target process whose
main thread sleeps and whose ticker thread wakes every millisecond and logs
every oversleep over 1 ms with its time (CLOCK_MONOTONIC, shared with us).
Against it, one after the other:

  - idle:   5 s with nothing attached (the machine's own noise);
  - stw:    --once with [agent] max_pause_ms = 1000: the census in one piece,
            what every census was before slicing;
  - once:   --once with the default 5 ms slices;
  - why:    --command why=__main__.Item (default 90 ms budget);
  - record: --record for --record-s seconds (60 by default) with
            [census] pause_budget = 50 so that the periodic census runs
            every few seconds.
Reported per operation: the agent's longest single GIL hold (census
max_slice_ns, the command's max_pause_ns, the recording's largest
agent.max_pause_1min_ns), the census's GIL time and wall time, and the
worst stall of the 1 ms ticker while the operation ran. Goals: worst stall
<= 10 ms everywhere; sliced census GIL time <= 1.5x the one-piece one.
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
import gc, json, os, random, sys, threading, time
N, AGED, STATE = int(sys.argv[1]), sys.argv[2] == "aged", sys.argv[3]

class Item:
    pass

heap = [{} for _ in range(N // 2)]     # untracked while empty (before 3.14)
order = list(range(len(heap)))
if AGED:
    random.seed(1)
    random.shuffle(order)
for i in order:
    heap[i]["l"] = []                  # a list, and the dict tracked now
del order
items = [Item() for _ in range(1000)]
gc.collect()

stalls = []                            # (end monotonic ns, stall ns) over 1 ms
def ticker():
    while True:
        t0 = time.monotonic_ns()
        time.sleep(0.001)
        late = time.monotonic_ns() - t0 - 1000000
        if late > 1000000:
            stalls.append((time.monotonic_ns(), late))
            del stalls[:-2000]

threading.Thread(target=ticker, daemon=True).start()
while True:
    with open(STATE + ".tmp", "w") as f:
        json.dump({"ready": True, "stalls": stalls[-2000:], "objects": N}, f)
    os.replace(STATE + ".tmp", STATE)
    time.sleep(0.2)
'''


def read_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def worst_stall(state_path, t0_ns, t1_ns):
    time.sleep(0.5)  # the target writes its log every 0.2 s
    s = read_state(state_path) or {"stalls": []}
    return max([ns for end, ns in s["stalls"] if t0_ns <= end <= t1_ns + 2000000] or [0])


def config(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_pm(binary, agent, *args, timeout=600):
    p = subprocess.run([binary, "--agent", agent] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("pymemtop %s: exit %d: %s" % (" ".join(map(str, args)),
                                                         p.returncode, p.stderr.strip()))
    return p.stdout


def measure(py, binary, agent, n, kind, record_s, tmp):
    state = os.path.join(tmp, "state-%d-%s.json" % (n, kind))
    script = os.path.join(tmp, "pauses_target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    proc = subprocess.Popen(benchlib.argv(py, script, n, kind, state),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 900
        while not (read_state(state) or {}).get("ready"):
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("target failed: %s" % proc.stderr.read()[-500:])
            time.sleep(0.2)
        time.sleep(1)
        stw_ini = config(tmp, "stw.ini", "[agent]\nmax_pause_ms = 1000\n")
        rec_ini = config(tmp, "rec.ini", "[census]\npause_budget = 50\n")
        out = {}
        # The machine's own noise: the ticker's worst stall with nothing attached.
        t0 = time.monotonic_ns()
        time.sleep(5)
        out["idle"] = {"stall_ns": worst_stall(state, t0, time.monotonic_ns())}
        for op, ini in (("stw", stw_ini), ("once", None), ("stw2", stw_ini), ("once2", None)):
            t0 = time.monotonic_ns()
            d = json.loads(run_pm(binary, agent, *(["--config", ini] if ini else []),
                                  "--once", "--json", proc.pid))
            t1 = time.monotonic_ns()
            c = d["census"]
            out[op] = {"held_ns": c["cost_ns"], "wall_ns": c["wall_ns"],
                       "max_hold_ns": c["max_slice_ns"], "slices": c["slices"],
                       "restarts": c["restarts"], "objects": c["objects"],
                       "stall_ns": worst_stall(state, t0, t1)}
        t0 = time.monotonic_ns()
        j = json.loads(run_pm(binary, agent, "--json", "--command", "why=__main__.Item",
                              proc.pid).splitlines()[0])
        t1 = time.monotonic_ns()
        out["why"] = {"max_hold_ns": j["max_pause_ns"], "held_ns": j["pause_ns"],
                      "wall_ns": t1 - t0, "stall_ns": worst_stall(state, t0, t1),
                      "chains": len(j.get("chains") or [])}
        if record_s:
            rec = os.path.join(tmp, "rec.jsonl")
            t0 = time.monotonic_ns()
            run_pm(binary, agent, "--config", rec_ini, "--record", rec, "--duration", record_s,
                   proc.pid, timeout=record_s + 600)
            t1 = time.monotonic_ns()
            lines = [json.loads(l) for l in open(rec) if l.startswith("{")]
            samples = [l for l in lines if "agent" in l]
            top = max(samples, key=lambda l: l["agent"].get("max_pause_1min_ns", 0),
                      default={"agent": {}})["agent"]
            out["record"] = {
                "max_hold_ns": top.get("max_pause_1min_ns", 0),
                # What that hold was, its thread CPU time, a collection inside.
                "max_hold_what": top.get("max_pause_1min_what", ""),
                "max_hold_cpu_ns": top.get("max_pause_1min_cpu_ns"),
                "max_hold_gc_ns": top.get("max_pause_1min_gc_ns"),
                # The target's own longest collection meanwhile: a stall of
                # the ticker that no hold of ours explains may be one.
                "gc_max_ns": max([l["gc"]["pauses"]["max_ns"] for l in samples] or [0]),
                "censuses": max([l["census"]["censuses"] for l in samples] or [0]),
                "stall_ns": worst_stall(state, t0, t1), "wall_ns": t1 - t0}
        # The one-piece and sliced censuses, best of two each (a census is
        # memory-bound and noisy on shared cores).
        for a, b in (("stw", "stw2"), ("once", "once2")):
            if out[b]["held_ns"] < out[a]["held_ns"]:
                out[a]["held_ns"] = out[b]["held_ns"]
            out[a]["stall_ns"] = max(out[a]["stall_ns"], out[b]["stall_ns"])
            out[a]["max_hold_ns"] = max(out[a]["max_hold_ns"], out[b]["max_hold_ns"])
            del out[b]
        return out
    finally:
        proc.kill()
        proc.wait()


def ms(ns):
    return "%.1f" % (ns / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="1M only, 10 s record")
    ap.add_argument("--record-s", type=int, default=60, help="--record duration (0: none)")
    ap.add_argument("--versions", default="",
                    help="only Pythons whose label contains this (default: Debian's python3, "
                         "3.13 and 3.14-sid)")
    ap.add_argument("--sizes", default="1000000,5000000")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    benchlib.sid_namespace(os.path.abspath(args.build))
    tmp = benchlib.private_copy(args.build, prefix="pymemtop-bench-pauses-", mode=0o755)
    binary, agent = os.path.join(tmp, "pymemtop"), os.path.join(tmp, "pymemtop_agent.so")
    pys, missing = benchlib.bench_pythons(False, os.path.abspath(args.build), sid=True)
    if args.versions:
        pys = [p for p in pys if args.versions in p.label]
    else:
        pys = [p for p in pys if p.path == benchlib.SYSTEM_PYTHON or p.version.startswith("3.13.")
               or (p.root and p.version[:5] in ("3.14.", "3.15.") and "dbg" not in p.label)]
    sizes = [1_000_000] if args.quick else [int(x) for x in args.sizes.split(",")]
    record_s = 10 if args.quick and args.record_s == 60 else args.record_s
    hdr = ("%-14s %-5s %4s | %8s %8s %6s | %8s %8s %7s %8s | %8s %8s | %8s %8s | %8s %8s" % (
        "python", "heap", "size", "stw held", "stw stal", "idle",
        "sl held", "sl wall", "ratio", "sl stall", "why hold", "why stal",
        "rec hold", "rec stal", "max hold", "worst"))
    print("times in ms; stw = census in one piece; sl = sliced census (--once); "
          "rec = %d s --record" % record_s)
    print(hdr)
    print("-" * len(hdr), flush=True)
    results = []
    try:
        for label, why in missing:
            print("%-14s  %s" % (label, why), flush=True)
        for py in pys:
            for n in sizes:
                for kind in ("fresh", "aged"):
                    try:
                        r = measure(py, binary, agent, n, kind, record_s, tmp)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                        print("%-14s %-5s %4s  failed: %s" % (py.label, kind, n // 1000000, e),
                              flush=True)
                        continue
                    r.update(python=py.label, heap=kind, size=n)
                    results.append(r)
                    rec = r.get("record", {"max_hold_ns": 0, "stall_ns": 0})
                    sliced_ops = [r["once"], r["why"], rec]
                    maxhold = max(o["max_hold_ns"] for o in sliced_ops)
                    worst = max(o["stall_ns"] for o in sliced_ops)
                    r["ratio"] = r["once"]["held_ns"] / max(1, r["stw"]["held_ns"])
                    print("%-14s %-5s %3dM | %8s %8s %6s | %8s %8s %6.2fx %8s | %8s %8s | "
                          "%8s %8s | %8s %8s" % (
                              py.label, kind, n // 1000000, ms(r["stw"]["held_ns"]),
                              ms(r["stw"]["stall_ns"]), ms(r["idle"]["stall_ns"]),
                              ms(r["once"]["held_ns"]), ms(r["once"]["wall_ns"]), r["ratio"],
                              ms(r["once"]["stall_ns"]), ms(r["why"]["max_hold_ns"]),
                              ms(r["why"]["stall_ns"]), ms(rec["max_hold_ns"]),
                              ms(rec["stall_ns"]), ms(maxhold), ms(worst)), flush=True)
                    if rec.get("max_hold_what"):
                        cpu, gc = rec.get("max_hold_cpu_ns"), rec.get("max_hold_gc_ns")
                        print("%-14s   record's longest hold: %s ms in %s%s%s; the target's "
                              "longest collection: %s ms" % (
                                  "", ms(rec["max_hold_ns"]), rec["max_hold_what"],
                                  ", %s ms on CPU" % ms(cpu) if cpu is not None else "",
                                  ", %s ms of it a collection" % ms(gc) if gc else "",
                                  ms(rec["gc_max_ns"])), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("-" * len(hdr))
    if results:
        worst = max(max(r["once"]["stall_ns"], r["why"]["stall_ns"],
                        r.get("record", {}).get("stall_ns", 0)) for r in results)
        ratio = max(r["ratio"] for r in results)
        print("worst stall of the 1 ms thread with slices: %.1f ms (goal <= 10 ms: %s); "
              "sliced census GIL time up to %.2fx the one-piece one (goal <= 1.5x: %s)" % (
                  worst / 1e6, "met" if worst <= 10e6 else "MISSED", ratio,
                  "met" if ratio <= 1.5 else "MISSED"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
