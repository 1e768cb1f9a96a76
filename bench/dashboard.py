#!/usr/bin/env python3
"""Dashboard benchmark: frame time and the monitor's own cost.

Run: /usr/bin/python3 bench/dashboard.py --build build [--quick] [--json FILE]

1. Frame time at 200x60 with 5000 types. A real target defines 5000 classes
   and grows a sliding window of them every tick, so successive censuses
   (the agent sends the 2000 largest types each) fill the monitor's type
   table to 5000 types. The real dashboard runs in a detached tmux at
   200x60 with --frame-stats; once the Objects view says 5000 types, keys
   cycle through every view and the sort columns (each key is one frame,
   and each census one more); at exit the dashboard writes the time of
   every frame (draw of all windows + doupdate, i.e. including the write to
   the terminal) as JSON. Goal: p99 under 2 ms.

2. CPU and RSS of the monitor over 10 minutes (1 minute with --quick) at
   1 Hz sampling, on the demo target (a leaking service with cycles), the
   overview on screen at 200x60: utime+stime and VmRSS of the pymemtop
   process from /proc, sampled every second. Goals: under 0.5 % of one core,
   under 20 MiB.

Reports numbers; asserts nothing (make bench must not fail on a busy box).
The binary and agent are copied to a private directory first so a
concurrent rebuild cannot change them mid-run.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "tests", "targets", "demo.py")

MANY_TYPES = r'''
import sys, time
N = int(sys.argv[1])
classes = [type("T%04d" % i, (), {}) for i in range(N)]
keep = [[c()] for c in classes]
level, tick = 1, 0
while True:
    # A window of 2000 classes is brought to a new highest count, so they
    # are the 2000 largest types (the most the agent sends per census); the
    # window moves on, and over a few censuses every class has been sent.
    level += 1
    start = (tick * 2000) % N
    for k in range(2000):
        i = (start + k) % N
        while len(keep[i]) < level:
            keep[i].append(classes[i]())
    tick += 1
    time.sleep(0.5)
'''


class Tmux:
    def __init__(self, name, args, width, height, cwd):
        self.name = name
        cmd = "cd %s && env LANG=C.UTF-8 %s; echo EXIT=$?; sleep 30" % (
            cwd, " ".join(str(a) for a in args))
        subprocess.run(["tmux", "kill-session", "-t", name], stderr=subprocess.DEVNULL)
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y",
                        str(height), cmd], check=True)

    def capture(self):
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              stdout=subprocess.PIPE, text=True).stdout

    def send(self, *keys):
        subprocess.run(["tmux", "send-keys", "-t", self.name] + list(keys), check=True)

    def wait_for(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.capture())
            if m:
                return m
            time.sleep(0.2)
        raise SystemExit("bench: screen never showed /%s/:\n%s" % (pattern, self.capture()))

    def pid(self):
        """The pymemtop process under the pane's shell."""
        sh = subprocess.run(["tmux", "display", "-p", "-t", self.name, "#{pane_pid}"],
                            stdout=subprocess.PIPE, text=True).stdout.strip()
        for _ in range(50):
            out = subprocess.run(["pgrep", "-P", sh, "-x", "pymemtop"], stdout=subprocess.PIPE,
                                 text=True).stdout.split()
            if out:
                return int(out[0])
            time.sleep(0.1)
        raise SystemExit("bench: no pymemtop process under the tmux pane")

    def kill(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], stderr=subprocess.DEVNULL)


def stop_all(tm, target, work):
    """Ends a measurement: its tmux session, its target, its work directory."""
    if tm:
        tm.kill()
    target.kill()
    target.wait()
    shutil.rmtree(work, ignore_errors=True)


def frame_time(bindir, python, types):
    work = tempfile.mkdtemp(prefix="pymemtop-bench-ft-")
    script = os.path.join(work, "many_types.py")
    with open(script, "w") as f:
        f.write(MANY_TYPES)
    target = subprocess.Popen([python, script, str(types)], stdin=subprocess.DEVNULL)
    stats = os.path.join(work, "frames.json")
    tm = None
    try:
        time.sleep(1.0)
        tm = Tmux("pymemtop-bench-ft", [os.path.join(bindir, "pymemtop"), "--frame-stats", stats,
                                         target.pid], 200, 60, work)
        tm.wait_for(r"PID %d" % target.pid, 20)
        tm.send("2")
        # The table fills as the window slides through all classes.
        want = r"(\d+) types"
        end = time.monotonic() + 120
        seen = 0
        while time.monotonic() < end:
            m = re.search(want, tm.capture())
            seen = int(m.group(1)) if m else 0
            if seen >= types:
                break
            time.sleep(0.5)
        # Every view, and the type table re-sorted by each column.
        for _ in range(20):
            for key in ["1", "2", ">", ">", ">", "r", "<", "3", "4", "5"]:
                tm.send(key)
                time.sleep(0.03)
        time.sleep(0.5)
        tm.send("q")
        tm.wait_for(r"EXIT=0", 20)
        with open(stats) as f:
            st = json.load(f)
        st["types_in_table"] = seen
        return st
    finally:
        stop_all(tm, target, work)


def proc_cpu_rss(pid):
    return benchlib.proc_cpu_ticks(pid), benchlib.proc_status_kib(pid, "VmRSS") or 0


def monitor_cost(bindir, python, seconds):
    work = tempfile.mkdtemp(prefix="pymemtop-bench-cost-")
    target = subprocess.Popen([python, DEMO, "--quiet"], stdin=subprocess.DEVNULL)
    tm = None
    try:
        time.sleep(1.0)
        tm = Tmux("pymemtop-bench-cost", [os.path.join(bindir, "pymemtop"), "-i", "1",
                                           target.pid], 200, 60, work)
        tm.wait_for(r"PID %d" % target.pid, 20)
        pid = tm.pid()
        hz = os.sysconf("SC_CLK_TCK")
        t0 = time.monotonic()
        ticks0, _ = proc_cpu_rss(pid)
        rss = []
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            _, r = proc_cpu_rss(pid)
            rss.append(r)
        ticks1, r = proc_cpu_rss(pid)
        elapsed = time.monotonic() - t0
        screen = tm.capture()
        tm.send("q")
        tm.wait_for(r"EXIT=0", 20)
        return {
            "seconds": round(elapsed, 1),
            "cpu_pct_of_core": round((ticks1 - ticks0) / hz / elapsed * 100, 3),
            "rss_mib_max": round(max(rss) / 1024, 2),
            "rss_mib_end": round(r / 1024, 2),
            "rss_mib_start": round(rss[0] / 1024, 2),
            "screen_ok": "LIVE" in screen,
        }
    finally:
        stop_all(tm, target, work)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="1 minute of cost instead of 10")
    ap.add_argument("--types", type=int, default=5000)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        print("bench/dashboard.py: tmux is not installed (make deps)")
        return 1
    bindir = benchlib.private_copy(os.path.abspath(args.build))
    try:
        ft = frame_time(bindir, args.python, args.types)
        ms = lambda ns: ns / 1e6  # noqa: E731
        print("frame time at 200x60, %d types in the table, %d frames:" % (ft["types_in_table"],
                                                                          ft["frames"]))
        print("  mean %.3f ms  p50 %.3f ms  p99 %.3f ms  max %.3f ms   (goal: under 2 ms)"
              % (ms(ft["mean_ns"]), ms(ft["p50_ns"]), ms(ft["p99_ns"]), ms(ft["max_ns"])))
        print("  of which doupdate (output to the terminal): mean %.3f ms  max %.3f ms"
              % (ms(ft["doupdate_mean_ns"]), ms(ft["doupdate_max_ns"])))
        print("  drawing alone (no output): p50 %.3f ms  p99 %.3f ms  max %.3f ms"
              % (ms(ft["draw_p50_ns"]), ms(ft["draw_p99_ns"]), ms(ft["draw_max_ns"])))
        for v, s in ft["views"].items():
            print("  %-12s %4d frames  mean %.3f ms  max %.3f ms" % (v, s["frames"], ms(s["mean_ns"]),
                                                                   ms(s["max_ns"])))
        secs = 60 if args.quick else 600
        print("monitor cost over %d s at 1 Hz on the demo target..." % secs, flush=True)
        cost = monitor_cost(bindir, args.python, secs)
        print("  CPU %.3f %% of one core (goal: under 0.5 %%)   RSS max %.2f MiB (start %.2f, end %.2f;"
              " goal: under 20 MiB)" % (cost["cpu_pct_of_core"], cost["rss_mib_max"],
                                         cost["rss_mib_start"], cost["rss_mib_end"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"frame_time": ft, "cost": cost}, f, indent=1)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
