#!/usr/bin/env python3
"""Why-is-it-alive cost per Python version (`make bench`). Reports numbers;
asserts nothing.

Run: /usr/bin/python3 bench/why.py --build build [--quick] [--objects N]

One target per Python: a module-global cache dict of N Session objects (the
leak `why` is asked about) and a worker thread holding a few Request objects
in a frame local (the thread-local root path: raw frame reads, per row of
lib/pylayout.c). For each, `pymemtop --command why=TYPE --json` R times on
the same target (the agent is reused after the first); the median and max of
the command's own pause_ns (how long it held the target's GIL), whether every
sampled instance got a chain, and the first chain, so a wrong root shows.
The same runs also print agent.layout and agent.raw_paths: which raw paths
each build got."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

TARGET = r'''
import sys, threading, time
class Session:
    pass
class Request:
    pass
CACHE = {i: Session() for i in range(int(sys.argv[1]))}
def handle():
    pending = [Request() for _ in range(5)]
    while True:
        time.sleep(0.02)
threading.Thread(target=handle, name="Worker-1", daemon=True).start()
time.sleep(0.2)
print("ready", flush=True)
while True:
    time.sleep(0.02)
'''


def run_why(binary, pid, type_name):
    p = subprocess.run([binary, "--command", "why=" + type_name, "--json", str(pid)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("why=%s: exit %d %s" % (type_name, p.returncode, p.stderr.strip()))
    return json.loads(p.stdout.strip().splitlines()[-1])


def bench_one(binary, py, objects, repeats):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False, dir="/tmp") as f:
        f.write(TARGET)
        script = f.name
    proc = subprocess.Popen(benchlib.argv(py, script, objects), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("target did not start")
        once = benchlib.once_json(binary, proc.pid)
        out = {"layout": once["agent"].get("layout"), "raw_paths": once["agent"].get("raw_paths")}
        for type_name in ("Session", "Request"):
            pauses, complete, first = [], True, ""
            for _ in range(repeats):
                j = run_why(binary, proc.pid, type_name)
                pauses.append(j["pause_ns"])
                chains = j.get("chains") or []
                complete = complete and sum(c["count"] for c in chains) == j.get("sampled")
                first = " -> ".join(chains[0]["path"]) if chains else j.get("message", "")
            out[type_name] = {"median_ms": benchlib.median(pauses) / 1e6,
                              "max_ms": max(pauses) / 1e6, "all_chained": complete,
                              "chain": first}
        if proc.poll() is not None:
            raise RuntimeError("target died (exit %s)" % proc.returncode)
        return out
    finally:
        proc.kill()
        proc.wait()
        os.unlink(script)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--objects", type=int, default=0)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    benchlib.sid_namespace(build)
    objects = args.objects or (100000 if args.quick else 300000)
    repeats = 3 if args.quick else 5
    pythons, missing = benchlib.find_all(build)
    d = benchlib.private_copy(build)
    binary = os.path.join(d, "pymemtop")
    print("why pause (agent's own pause_ns), %d cached Session objects, %d runs each" %
          (objects, repeats))
    print("%-18s %-10s %-36s %-26s %s" % ("python", "layout", "raw paths", "Session med/max ms",
                                          "Request (thread local) med/max ms"))
    try:
        for py in pythons:
            try:
                r = bench_one(binary, py, objects, repeats)
            except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
                print("%-18s error: %s" % (py.label, e))
                continue
            raw = ",".join(k for k, v in (r["raw_paths"] or {}).items() if v) or "-"
            s, q = r["Session"], r["Request"]
            print("%-18s %-10s %-36s %6.1f / %6.1f %-12s %6.1f / %6.1f %s" % (
                py.label, r["layout"] or "-", raw, s["median_ms"], s["max_ms"],
                "ok" if s["all_chained"] else "INCOMPLETE", q["median_ms"], q["max_ms"],
                "ok" if q["all_chained"] else "INCOMPLETE"))
            print("%-18s   %s" % ("", q["chain"]))
        for label, why in missing:
            print("%-18s %s" % (label, why))
    finally:
        subprocess.run(["rm", "-rf", d])
    return 0


if __name__ == "__main__":
    sys.exit(main())
