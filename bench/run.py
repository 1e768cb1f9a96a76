#!/usr/bin/env python3
"""pymemtop benchmarks (`make bench`). Reports numbers; asserts nothing.

Run: /usr/bin/python3 bench/run.py --build build [--quick] [--json FILE] [--parts 1234]

Every Python found like the integration tests find them
(/root/.pyenv/versions/3.*/bin/python3 for 3.8+, /usr/bin/python3, and
Debian sid's 3.14, 3.15 and 3.14-dbg from `make pythons`, run as
`chroot ROOT python3.X`: as root the script re-executes itself in a private
mount namespace where ROOT sees the checkout and /tmp, see tests/pythons.py).
The binary and the agent are copied from --build to a private temporary
directory first, so a concurrent rebuild cannot change them mid-run.

1. Attach latency, per Python version (bench/idle_target.py: sleeps 50 ms at
   a time and allocates a little in between).
   - fresh: a new target process for each of N runs (started, "ready" read
     from its stdout, and at least 0.3 s after its start), then the wall time
     from starting `pymemtop --once --json PID` to reading its JSON line.
     Also the median of agent.target_stop_ns (how long the target's main
     thread was stopped) and of agent.attach_ns (the binary's own clock).
   - reuse: the same command N more times on the last fresh target, whose
     agent is already loaded (agent.injected must be false).
   Median and p90 (nearest rank) of N runs (N = 20, 3 with --quick).

2. Target slowdown at default settings, in ONE target process per Python
   (bench/gc_loop.py: a fixed batch of reference cycles, dict churn and
   mid-lived objects, so gen0/1/2 collections are frequent; the target writes
   every batch's wall time (perf_counter_ns) and the CPU time of all its
   threads (process_time_ns, which other processes' load does not inflate;
   the agent's own thread is included) to a file). After a warm-up and a
   `--once` injection (so that every detached phase has the agent loaded and
   idle), phases of ~4 s alternate:
       D N D P D N D P ... D      (4 N and 4 P phases)
   D = detached; N = the real dashboard (`pymemtop PID` in a detached tmux
   session, quit with `q`); P = no monitor, but a pure-Python gc.callbacks
   hook that times every collection (count/total/max and a list of
   durations), switched on and off by the target when a flag file appears.
   Batches that start in the first 0.5 s after a switch has completed (the
   dashboard shows LIVE / its process is gone / the flag changed) are skipped.
   Reported for wall and CPU time: median batch time per phase kind (pooled),
   overhead =
   median(N or P) / median(D) - 1, and the spread: each N or P phase's median
   against the mean of the two D phases around it (min..max), plus the range
   of the D phases' medians (the noise floor). Also the dashboard's CPU
   during the N phases and the Python hook's collection count.

3. Monitor footprint: the dashboard attached for ~20 s (5 s with --quick) to
   a gc_loop target on /usr/bin/python3; its CPU % (utime+stime from
   /proc/PID/stat) and RSS (VmRSS/VmHWM from /proc/PID/status) sampled every
   second; plus the CPU of the agent's thread inside the target.

4. Blocked targets, per Python version: the timings the integration tests
   (tests/integration/test_blocked.py, test_attach.py, test_harm.py) check
   as behaviour only. A target whose main thread blocks for 2 s (BLOCKED
   below) in time.sleep while two threads run Python ("sleep"), in
   thread.join on such a thread ("join"), in time.sleep while the other
   threads wait on an Event ("idle": no thread runs Python), or with no other
   thread, attached with --attach-timeout 1 ("alone"). Once the main thread
   is parked (state S with no voluntary context switch for 0.1 s), the wall
   time of `pymemtop --once --json PID` to its JSON line, agent.attach_via,
   agent.native_stop_ns, and how much longer than 2 s the interrupted wait
   took (the target's own time.monotonic()). Medians of N runs per mode
   (N = 3, 1 with --quick). Plus "monitor killed": the demo target
   (tests/targets/demo.py --period 0.02) watched by `pymemtop --record`,
   which gets SIGKILL; the time until the target's own len(gc.callbacks) is
   back to 0 (read from its --state file, written every tick), N runs.

Every process and tmux session (on a private tmux socket) started here is
cleaned up on exit, Ctrl-C and SIGTERM.
"""
import argparse
import hashlib
import json
import math
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

import benchlib
from benchlib import median, proc_cpu_ticks, proc_status_kib

HERE = os.path.dirname(os.path.abspath(__file__))
IDLE_TARGET = os.path.join(HERE, "idle_target.py")
DEMO_TARGET = os.path.join(os.path.dirname(HERE), "tests", "targets", "demo.py")
GC_TARGET = os.path.join(HERE, "gc_loop.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

BIN = None        # snapshot of <build>/pymemtop
WORK = None       # private temporary directory
TMUX_SOCK = "pymemtop-bench-%d" % os.getpid()
_targets = []     # Target objects still to stop
_tmux_used = False


# ---------------------------------------------------------------- helpers --

def find_pythons(build):
    """Same rule as tests/integration/common.py (tests/pythons.py): pyenv 3.x
    and /usr/bin/python3, >= 3.8, and Debian sid's 3.14, 3.15 and 3.14-dbg.
    Returns (Py list, missing (label, why))."""
    found, missing = benchlib.find_all(build)
    found.sort(key=lambda p: (p.minor, p.path.startswith("/usr/bin"), bool(p.root)))
    return found, missing


def p90(xs):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def pct(x):
    return "%+.2f%%" % (100 * x) if x == x else "n/a"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


class Target:
    """A Python process running one of the bench targets; stdout 'ready' when up."""

    def __init__(self, py, script, args=(), stdout_path=None):
        self.py = py
        self.t_start = time.monotonic()
        self.stdout_path = stdout_path
        out = open(stdout_path, "w") if stdout_path else subprocess.PIPE
        self.proc = subprocess.Popen(py.argv(script, *args), stdout=out,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if stdout_path:
            out.close()
        self.pid = self.proc.pid
        _targets.append(self)

    def wait_ready(self, min_age=0.0, timeout=15.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("target %s exited early (%s): %s" % (
                    self.py.label, self.proc.returncode, self.proc.stderr.read().decode()[-500:]))
            if self.stdout_path:
                with open(self.stdout_path) as f:
                    ready = f.read().startswith("ready")
                if not ready:
                    time.sleep(0.02)
                    continue
            else:
                r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
                if not r:
                    continue
                if self.proc.stdout.readline().strip() != b"ready":
                    continue
            wait = self.t_start + min_age - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            return
        raise RuntimeError("target %s never became ready" % self.py.label)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # clean exit: the agent unlinks its socket
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                try:
                    os.unlink("/tmp/.pymemtop-%d/%d.sock" % (os.getuid(), self.pid))
                except OSError:
                    pass
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
        if self in _targets:
            _targets.remove(self)


def run_once(pid, timeout=20.0, extra=()):
    """`pymemtop --once --json [extra] PID`: (wall ns to the JSON line, parsed JSON or None, error)."""
    t0 = time.perf_counter_ns()
    p = subprocess.Popen([BIN, "--once", "--json"] + list(extra) + [str(pid)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    watchdog = threading.Timer(timeout, p.kill)
    watchdog.start()
    try:
        line = p.stdout.readline()
        wall = time.perf_counter_ns() - t0
        rest_out = p.stdout.read()
        err = p.stderr.read().decode(errors="replace").strip()
        rc = p.wait()
    finally:
        watchdog.cancel()
        p.stdout.close()
        p.stderr.close()
    try:
        doc = json.loads(line)
    except ValueError:
        doc = None
    if rc != 0 or doc is None or "error" in doc:
        msg = (doc or {}).get("message") or err or (line + rest_out).decode(errors="replace")
        return wall, None, "exit %s: %s" % (rc, msg.strip()[:200])
    return wall, doc, None


class Dashboard:
    """The real dashboard (`pymemtop PID`) in a detached tmux session."""
    count = 0

    def __init__(self, pid):
        global _tmux_used
        Dashboard.count += 1
        self.name = "bench-%d" % Dashboard.count
        self.err_path = os.path.join(WORK, "dash-%d.err" % Dashboard.count)
        cmd = "exec env LANG=C.UTF-8 %s %d 2>%s" % (sh_quote(BIN), pid, sh_quote(self.err_path))
        _tmux_used = True
        subprocess.run(["tmux", "-L", TMUX_SOCK, "new-session", "-d", "-s", self.name,
                        "-x", "100", "-y", "30", cmd], check=True)
        self.pid = None

    def alive(self):
        return subprocess.run(["tmux", "-L", TMUX_SOCK, "has-session", "-t", self.name],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    def error(self):
        try:
            with open(self.err_path) as f:
                return f.read().strip()[:300] or "dashboard exited"
        except OSError:
            return "dashboard exited"

    def wait_live(self, timeout=10.0):
        """Until the screen shows LIVE; returns the dashboard's PID. Raises on failure."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                raise RuntimeError(self.error())
            if self.pid is None:
                out = subprocess.run(["tmux", "-L", TMUX_SOCK, "list-panes", "-t", self.name,
                                      "-F", "#{pane_pid}"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True).stdout.split()
                if out:
                    self.pid = int(out[0])  # `exec` in the pane: the pane's PID is pymemtop
            screen = subprocess.run(["tmux", "-L", TMUX_SOCK, "capture-pane", "-p", "-t", self.name],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True).stdout
            if "LIVE" in screen:
                return self.pid
            time.sleep(0.05)
        raise RuntimeError("dashboard never showed LIVE")

    def quit(self, timeout=5.0):
        """Send q and wait for the process to end (kill the session after timeout)."""
        subprocess.run(["tmux", "-L", TMUX_SOCK, "send-keys", "-t", self.name, "q"],
                       stderr=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                return True
            time.sleep(0.02)
        subprocess.run(["tmux", "-L", TMUX_SOCK, "kill-session", "-t", self.name],
                       stderr=subprocess.DEVNULL)
        return False


# ---------------------------------------------------------- 1. latency --

def bench_latency(pythons, runs):
    rows = []
    for py in pythons:
        row = {"python": py.label, "path": py.path, "fresh_ms": [], "reuse_ms": [],
               "target_stop_us": [], "attach_ms": [], "errors": []}
        last = None
        for i in range(runs):
            t = Target(py, IDLE_TARGET)
            try:
                t.wait_ready(min_age=0.3)
                wall, doc, err = run_once(t.pid)
            except Exception:
                t.stop()
                raise
            if err or not doc["agent"]["injected"]:
                row["errors"].append("fresh: " + (err or "agent.injected false on a new process"))
            else:
                row["fresh_ms"].append(wall / 1e6)
                row["target_stop_us"].append(doc["agent"]["target_stop_ns"] / 1e3)
                row["attach_ms"].append(doc["agent"]["attach_ns"] / 1e6)
            if i == runs - 1 and doc:
                last = t
            else:
                t.stop()
        if last:
            for _ in range(runs):
                wall, doc, err = run_once(last.pid)
                if err or doc["agent"]["injected"]:
                    row["errors"].append("reuse: " + (err or "agent.injected true on reuse"))
                else:
                    row["reuse_ms"].append(wall / 1e6)
            last.stop()
        rows.append(row)
        print("  %-16s done (%d fresh, %d reuse ok, %d errors)" % (
            py.label, len(row["fresh_ms"]), len(row["reuse_ms"]), len(row["errors"])), flush=True)
    return rows


def print_latency(rows, runs, missing=()):
    print()
    print("1. Attach latency: `pymemtop --once --json PID`, start to JSON line, %d runs each" % runs)
    print("   (fresh = new target each run, agent injected; reuse = agent already loaded)")
    print()
    hdr = "%-16s | %9s %9s | %9s %9s | %12s | %12s | %s" % (
        "python", "fresh med", "fresh p90", "reuse med", "reuse p90",
        "stop med us", "attach med", "errors")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print("%-16s | %7.1fms %7.1fms | %7.1fms %7.1fms | %12.0f | %10.1fms | %d" % (
            r["python"], median(r["fresh_ms"]), p90(r["fresh_ms"]), median(r["reuse_ms"]),
            p90(r["reuse_ms"]), median(r["target_stop_us"]), median(r["attach_ms"]),
            len(r["errors"])))
    for label, why in missing:
        print("%-16s | %s" % (label, why))
    for r in rows:
        for e in sorted(set(r["errors"])):
            print("   %s: %s (x%d)" % (r["python"], e, r["errors"].count(e)))
    print("   stop med = median agent.target_stop_ns (fresh runs); attach med = median agent.attach_ns")


# --------------------------------------------------------- 2. slowdown --

def bench_slowdown(py, phase_secs, cycles, skip_secs=0.5, warmup=2.0):
    tag = py.label
    out_path = os.path.join(WORK, "batches-%s.txt" % tag)
    flag_path = os.path.join(WORK, "hook-%s.flag" % tag)
    stdout_path = os.path.join(WORK, "gc-%s.out" % tag)
    t = Target(py, GC_TARGET, ["--out", out_path, "--hook-flag", flag_path], stdout_path=stdout_path)
    phases = []   # (kind, window start ns, window end ns, extra)
    errors = []
    dash = None
    try:
        t.wait_ready()
        time.sleep(warmup)
        _, doc, err = run_once(t.pid)  # load the agent now: every D phase has it loaded and idle
        if err:
            errors.append("inject: " + err)
        kinds = ["D"] + ["N", "D", "P", "D"] * cycles
        prev = None
        for kind in kinds:
            extra = {}
            # leave the previous phase
            if prev == "N" and dash:
                try:
                    extra_prev = phases[-1][3]
                    extra_prev["dash_cpu_ticks"] = proc_cpu_ticks(dash.pid) - extra_prev.pop("_ticks0")
                    extra_prev["dash_rss_kib"] = proc_status_kib(dash.pid, "VmRSS")
                    extra_prev["dash_secs"] = time.monotonic() - extra_prev.pop("_t0")
                except (OSError, KeyError, TypeError):
                    pass
                if not dash.quit():
                    errors.append("dashboard did not quit on q within 5 s (killed)")
                dash = None
            elif prev == "P":
                os.unlink(flag_path)
            # enter this one
            if kind == "N":
                dash = Dashboard(t.pid)
                try:
                    dpid = dash.wait_live()
                    extra["_ticks0"] = proc_cpu_ticks(dpid)
                    extra["_t0"] = time.monotonic()
                except (RuntimeError, OSError) as e:
                    errors.append("dashboard: %s" % e)
                    dash.quit(1.0)
                    dash = None
                    kind = "N-failed"
            elif kind == "P":
                open(flag_path, "w").close()
            done = time.monotonic_ns()
            phases.append((kind, done + int(skip_secs * 1e9), done + int(phase_secs * 1e9), extra))
            time.sleep(max(0.0, (done + phase_secs * 1e9 - time.monotonic_ns()) / 1e9))
            prev = kind
        if dash:
            dash.quit()
            dash = None
    finally:
        if dash:
            dash.quit(2.0)
        if os.path.exists(flag_path):
            os.unlink(flag_path)
        t.stop()

    batches = []  # (start ns, wall ns, cpu ns, hooked)
    with open(out_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4:
                batches.append(tuple(int(x) for x in parts))
    hook_lines = []
    with open(stdout_path) as f:
        for line in f:
            if line.startswith("hook "):
                hook_lines.append(dict(kv.split("=") for kv in line.split()[1:]))

    result = {"python": tag, "phase_secs": phase_secs, "skip_secs": skip_secs, "phases": [],
              "errors": errors}
    mismatched = 0
    for kind, w0, w1, extra in phases:
        want_hook = 1 if kind == "P" else 0
        walls, cpus = [], []
        for start, wall, cpu, hooked in batches:
            if start >= w0 and start + wall <= w1:
                if hooked != want_hook:
                    mismatched += 1
                    continue
                walls.append(wall)
                cpus.append(cpu)
        ph = {"kind": kind, "batches": len(walls),
              "wall_median_ms": median(walls) / 1e6 if walls else None,
              "cpu_median_ms": median(cpus) / 1e6 if cpus else None,
              "_wall": walls, "_cpu": cpus}
        if "dash_cpu_ticks" in extra and extra.get("dash_secs"):
            ph["dash_cpu_pct"] = 100.0 * extra["dash_cpu_ticks"] / CLK_TCK / extra["dash_secs"]
            ph["dash_rss_kib"] = extra.get("dash_rss_kib")
        result["phases"].append(ph)
    result["mismatched_batches"] = mismatched
    ps = result["phases"]
    result["batches"] = {k: sum(ph["batches"] for ph in ps if ph["kind"] == k) for k in "DNP"}
    for metric in ("wall", "cpu"):
        result[metric] = analyse(ps, metric)
    cpu = [ph["dash_cpu_pct"] for ph in ps if "dash_cpu_pct" in ph]
    result["dash_cpu_pct"] = median(cpu) if cpu else None
    if hook_lines:
        secs = sum(float(h["secs"]) for h in hook_lines)
        count = sum(int(h["count"]) for h in hook_lines)
        total = sum(int(h["total_ns"]) for h in hook_lines)
        result["hook"] = {"collections_per_s": count / secs if secs else None,
                          "mean_pause_us": total / count / 1e3 if count else None,
                          "max_pause_us": max(int(h["max_ns"]) for h in hook_lines) / 1e3,
                          "gc_share": total / 1e9 / secs if secs else None}
    for ph in ps:
        del ph["_wall"], ph["_cpu"]
    return result


def analyse(ps, metric):
    """Pooled medians per phase kind, overheads, and the per-phase spread."""
    key = metric + "_median_ms"
    pooled = {k: [d for ph in ps if ph["kind"] == k for d in ph["_" + metric]] for k in "DNP"}
    med = {k: median(v) / 1e6 for k, v in pooled.items()}
    out = {"median_ms": med, "overhead": {k: med[k] / med["D"] - 1 for k in "NP"}}
    # each treated phase against the mean of the D phases on both sides
    pairs = {"N": [], "P": []}
    for i, ph in enumerate(ps):
        if ph["kind"] in pairs and 0 < i < len(ps) - 1 and ph[key]:
            around = [x[key] for x in (ps[i - 1], ps[i + 1]) if x["kind"] == "D" and x[key]]
            if around:
                pairs[ph["kind"]].append(ph[key] / (sum(around) / len(around)) - 1)
    out["per_phase"] = pairs
    dmeds = [ph[key] for ph in ps if ph["kind"] == "D" and ph[key]]
    out["d_range"] = [min(dmeds) / median(dmeds) - 1, max(dmeds) / median(dmeds) - 1] if dmeds else None
    return out


def print_slowdown(results, phase_secs, cycles):
    print()
    print("2. Target slowdown at default settings, GC-heavy loop (bench/gc_loop.py), one target "
          "per Python,")
    print("   phases of %.1f s: D N D P ... D, %d N and %d P phases, first 0.5 s after each "
          "switch skipped" % (phase_secs, cycles, cycles))
    print("   D = detached (agent loaded, idle)  N = pymemtop dashboard attached  "
          "P = pure-Python gc.callbacks timer")
    rng = lambda xs: ("%s..%s" % (pct(min(xs)), pct(max(xs)))) if xs else "n/a"
    mrng = lambda xs: ("%s [%s..%s]" % (pct(median(xs)), pct(min(xs)), pct(max(xs)))) if xs else "n/a"
    for metric, title in (("wall", "wall time per batch (perf_counter_ns)"),
                          ("cpu", "CPU time per batch, all the target's threads (process_time_ns; "
                                  "not inflated by other processes' load)")):
        print()
        print("   %s" % title)
        hdr = "%-14s | %6s %6s %6s | %8s %-27s | %8s %-27s | %6s | %s" % (
            "python", "D ms", "N ms", "P ms", "N ovh", "N per phase: med [min..max]", "P ovh",
            "P per phase: med [min..max]", "P/N", "D phases vs D median")
        print(hdr)
        print("-" * len(hdr))
        for r in results:
            if metric not in r:
                print("%-14s | failed: %s" % (r["python"], "; ".join(r["errors"])))
                continue
            a = r[metric]
            m = a["median_ms"]
            on, op = a["overhead"]["N"], a["overhead"]["P"]
            ratio = "%.1fx" % (op / on) if on > 0 and op == op else "n/a"
            print("%-14s | %6.3f %6.3f %6.3f | %8s %-27s | %8s %-27s | %6s | %s" % (
                r["python"], m["D"], m["N"], m["P"], pct(on), mrng(a["per_phase"]["N"]), pct(op),
                mrng(a["per_phase"]["P"]), ratio, rng(a["d_range"]) if a["d_range"] else "n/a"))
    print()
    print("   ovh = median(kind) / median(D) - 1, batches pooled; per phase = each phase's "
          "median vs the")
    print("   mean of its two D neighbours; P/N = Python hook overhead / pymemtop overhead "
          "(n/a when pymemtop's <= 0);")
    print("   D phases vs D median = the noise floor. Batches counted (D/N/P), dashboard CPU "
          "while attached, GC seen by the hook:")
    for r in results:
        if "wall" not in r:
            continue
        b = r["batches"]
        line = "   %-14s %d/%d/%d batches" % (r["python"], b["D"], b["N"], b["P"])
        if r.get("dash_cpu_pct") is not None:
            line += ", dashboard CPU %.2f%%" % r["dash_cpu_pct"]
        h = r.get("hook")
        if h and h["collections_per_s"]:
            line += ", %.0f collections/s, mean pause %.1f us, max %.0f us, %.1f%% of wall in GC" % (
                h["collections_per_s"], h["mean_pause_us"], h["max_pause_us"], 100 * h["gc_share"])
        if r["mismatched_batches"]:
            line += ", %d batches dropped (hook state != phase)" % r["mismatched_batches"]
        print(line)
        for e in r["errors"]:
            print("     error: %s" % e)


# -------------------------------------------------------- 3. footprint --

def bench_footprint(py, secs):
    out_path = os.path.join(WORK, "batches-footprint.txt")
    flag_path = os.path.join(WORK, "hook-footprint.flag")
    stdout_path = os.path.join(WORK, "gc-footprint.out")
    t = Target(py, GC_TARGET, ["--out", out_path, "--hook-flag", flag_path], stdout_path=stdout_path)
    dash = None
    samples = []
    try:
        t.wait_ready()
        time.sleep(1.0)
        dash = Dashboard(t.pid)
        dpid = dash.wait_live()
        agent_tids = [int(x) for x in os.listdir("/proc/%d/task" % t.pid) if int(x) != t.pid]
        t0 = time.monotonic()
        for i in range(int(secs) + 1):
            time.sleep(max(0.0, t0 + i - time.monotonic()))
            samples.append((time.monotonic(), proc_cpu_ticks(dpid), proc_status_kib(dpid, "VmRSS"),
                            proc_status_kib(dpid, "VmHWM"),
                            sum(proc_cpu_ticks(t.pid, tid) for tid in agent_tids)))
        dash.quit()
        dash = None
    finally:
        if dash:
            dash.quit(2.0)
        t.stop()
    per_sec = [100.0 * (b[1] - a[1]) / CLK_TCK / (b[0] - a[0]) for a, b in zip(samples, samples[1:])]
    span = samples[-1][0] - samples[0][0]
    return {
        "python": py.label, "secs": span,
        "cpu_pct": 100.0 * (samples[-1][1] - samples[0][1]) / CLK_TCK / span,
        "cpu_pct_max_1s": max(per_sec),
        "rss_kib_first": samples[0][2], "rss_kib_last": samples[-1][2],
        "rss_kib_max": max(s[2] for s in samples), "hwm_kib": samples[-1][3],
        "agent_threads": len(agent_tids),
        "agent_thread_cpu_pct": 100.0 * (samples[-1][4] - samples[0][4]) / CLK_TCK / span,
    }


def print_footprint(r):
    print()
    print("3. Monitor footprint: dashboard attached %.0f s to bench/gc_loop.py on %s" % (
        r["secs"], r["python"]))
    print()
    print("   dashboard CPU      %.2f%% of one core (average), max %.1f%% in any 1 s" % (
        r["cpu_pct"], r["cpu_pct_max_1s"]))
    print("   dashboard RSS      %.1f MiB at start, %.1f MiB at end, max %.1f MiB, VmHWM %.1f MiB" % (
        r["rss_kib_first"] / 1024, r["rss_kib_last"] / 1024, r["rss_kib_max"] / 1024,
        r["hwm_kib"] / 1024))
    print("   agent thread CPU   %.2f%% of one core (inside the target, %d extra thread(s))" % (
        r["agent_thread_cpu_pct"], r["agent_threads"]))
    print("   (CPU from utime+stime, %d Hz ticks)" % CLK_TCK)


# ---------------------------------------------------- 4. blocked targets --

BLOCK_SECS = 2.0
# argv: mode seconds. Prints "ready", blocks its main thread, prints how long.
BLOCKED = r"""
import signal, sys, threading, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
mode, secs = sys.argv[1], float(sys.argv[2])
stop = threading.Event()
def busy():
    acc = 0
    while not stop.is_set():
        for i in range(2000):
            acc = (acc * 31 + i * i) % 1000003
workers = [] if mode == "alone" else \
    [threading.Thread(target=stop.wait if mode == "idle" else busy) for _ in range(2)]
for t in workers:
    t.start()
print("ready", flush=True)
t0 = time.monotonic()
if mode == "join":
    threading.Timer(secs, stop.set).start()
    workers[0].join()
else:
    time.sleep(secs)
waited = time.monotonic() - t0
stop.set()
for t in workers:
    t.join()
print("waited %.6f" % waited, flush=True)
"""
BLOCK_MODES = [("sleep", ()), ("join", ()), ("idle", ()), ("alone", ("--attach-timeout", "1"))]


def _task_sched(pid):
    """(state, voluntary context switches) of pid's main thread."""
    with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    with open("/proc/%d/task/%d/status" % (pid, pid)) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return state, int(line.split()[1])
    return state, None


def wait_parked(pid, quiet=0.1, timeout=15.0):
    """Until pid's main thread has slept without a context switch for `quiet`
    seconds (in its blocking call, not waiting for the GIL)."""
    end = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        now = _task_sched(pid)
        t = time.monotonic()
        if now[0] != "S" or now != last:
            last, since = now, t
        elif t - since >= quiet:
            return
        time.sleep(0.01)
    raise RuntimeError("main thread of %d never parked (last %s)" % (pid, last))


def _read_text(path):
    with open(path) as f:
        return f.read()


def bench_blocked(pythons, runs):
    script = os.path.join(WORK, "blocked_target.py")
    with open(script, "w") as f:
        f.write(BLOCKED)
    rows = []
    for py in pythons:
        row = {"python": py.label, "modes": {}, "errors": []}
        for mode, extra in BLOCK_MODES:
            m = {"attach_ms": [], "via": [], "native_stop_us": [], "overrun_ms": []}
            for i in range(runs):
                out = os.path.join(WORK, "blocked-%s-%s-%d.out" % (py.label, mode, i))
                t = Target(py, script, [mode, str(BLOCK_SECS)], stdout_path=out)
                try:
                    t.wait_ready()
                    wait_parked(t.pid)
                    wall, doc, err = run_once(t.pid, extra=extra)
                    if err:
                        row["errors"].append("%s: %s" % (mode, err))
                        continue
                    m["attach_ms"].append(wall / 1e6)
                    m["via"].append(doc["agent"].get("attach_via"))
                    m["native_stop_us"].append(doc["agent"].get("native_stop_ns", 0) / 1e3)
                    end = time.monotonic() + BLOCK_SECS + 15
                    while "waited" not in _read_text(out):
                        if t.proc.poll() is not None or time.monotonic() > end:
                            raise RuntimeError("target never ended its wait")
                        time.sleep(0.02)
                    waited = float(_read_text(out).split("waited")[1].split()[0])
                    m["overrun_ms"].append((waited - BLOCK_SECS) * 1e3)
                except RuntimeError as e:
                    row["errors"].append("%s: %s" % (mode, e))
                finally:
                    t.stop()
            row["modes"][mode] = m
        row["hook_gone_ms"] = []
        for i in range(runs):
            try:
                row["hook_gone_ms"].append(_monitor_killed(py, i))
            except RuntimeError as e:
                row["errors"].append("monitor killed: %s" % e)
        rows.append(row)
        print("  %-14s done (%d errors)" % (py.label, len(row["errors"])), flush=True)
    return rows


def _demo_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _wait_demo(path, pred, what, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = _demo_state(path)
        if s and pred(s):
            return s
        time.sleep(0.005)
    raise RuntimeError("demo target: %s never happened" % what)


def _monitor_killed(py, i):
    """ms from SIGKILL to a --record monitor until the target's hook is gone."""
    state = os.path.join(WORK, "demo-%s-%d.json" % (py.label, i))
    t = Target(py, DEMO_TARGET, ["--period", "0.02", "--quiet", "--state", state])
    mon = None
    try:
        _wait_demo(state, lambda s: s["tick"] >= 2, "start")
        mon = subprocess.Popen([BIN, "--record", os.path.join(WORK, "rec-%d.jsonl" % i),
                                "--interval", "0.1", str(t.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _wait_demo(state, lambda s: s["callbacks"] == 1, "the monitor's GC hook")
        t0 = time.monotonic()
        mon.kill()
        mon.wait()
        tick = _demo_state(state)["tick"]
        _wait_demo(state, lambda s: s["tick"] > tick and s["callbacks"] == 0, "hook removal")
        return (time.monotonic() - t0) * 1e3
    finally:
        if mon and mon.poll() is None:
            mon.kill()
            mon.wait()
        t.stop()


def print_blocked(rows, runs):
    print()
    print("4. Blocked targets: main thread blocked %.0f s, `pymemtop --once --json PID` once it "
          "is parked, %d run(s) each" % (BLOCK_SECS, runs))
    print("   (what tests/integration/test_blocked.py and test_attach.py check as behaviour only)")
    print()
    hdr = "%-14s | %-6s | %9s %9s | %-24s | %9s | %11s %11s" % (
        "python", "mode", "attach med", "max", "agent.attach_via", "stop med",
        "overrun med", "max")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        for mode, _ in BLOCK_MODES:
            m = r["modes"].get(mode)
            if not m or not m["attach_ms"]:
                print("%-14s | %-6s | failed" % (r["python"], mode))
                continue
            vias = sorted(set(m["via"]))
            native = [x for x, v in zip(m["native_stop_us"], m["via"]) if v == "native_thread"]
            ov = m["overrun_ms"]
            print("%-14s | %-6s | %8.0fms %7.0fms | %-24s | %9s | %9.0fms %9.0fms" % (
                r["python"], mode, median(m["attach_ms"]), max(m["attach_ms"]), ",".join(vias),
                "%.0fus" % median(native) if native else "-",
                median(ov) if ov else float("nan"), max(ov) if ov else float("nan")))
    print("   attach = start to the JSON line; stop = agent.native_stop_ns (native_thread runs);")
    print("   overrun = how much longer than %.0f s the interrupted wait took in the target" %
          BLOCK_SECS)
    print()
    print("   monitor killed (test_harm.py): SIGKILL to a --record monitor until the target's "
          "own len(gc.callbacks) is 0")
    for r in rows:
        g = r["hook_gone_ms"]
        print("   %-14s %s" % (r["python"], "median %.0f ms, max %.0f ms" % (median(g), max(g))
                                  if g else "failed"))
    for r in rows:
        for e in sorted(set(r["errors"])):
            print("   %s: %s (x%d)" % (r["python"], e, r["errors"].count(e)))


# ------------------------------------------------------------------ main --

def cleanup():
    for t in list(_targets):
        try:
            t.stop()
        except Exception:
            pass
    if _tmux_used:
        subprocess.run(["tmux", "-L", TMUX_SOCK, "kill-server"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        try:  # the server may leave its socket file behind
            os.unlink(os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"),
                                   "tmux-%d" % os.getuid(), TMUX_SOCK))
        except OSError:
            pass
    if WORK:
        shutil.rmtree(WORK, ignore_errors=True)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    global BIN, WORK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="build directory (pymemtop, pymemtop_agent.so)")
    ap.add_argument("--quick", action="store_true", help="few runs and short phases: a smoke check")
    ap.add_argument("--json", metavar="FILE", help="also write all results as JSON to FILE")
    ap.add_argument("--slowdown-pythons", default="debian,3.8,3.12,3.13",
                    help="versions for the slowdown part, e.g. debian,3.8,3.13 (default: %(default)s)")
    ap.add_argument("--parts", default="1234",
                    help="which numbered parts to run, e.g. 4 (default: %(default)s)")
    args = ap.parse_args()
    benchlib.sid_namespace(os.path.abspath(args.build))

    runs = 3 if args.quick else 20
    phase_secs, cycles = (1.5, 1) if args.quick else (4.0, 4)
    foot_secs = 5 if args.quick else 20

    signal.signal(signal.SIGTERM, _on_sigterm)
    t_begin = time.monotonic()
    try:
        src_bin = os.path.join(args.build, "pymemtop")
        src_agent = os.path.join(args.build, "pymemtop_agent.so")
        for p in (src_bin, src_agent):
            if not os.path.exists(p):
                sys.exit("bench: %s is missing; run make first" % p)
        if not shutil.which("tmux"):
            sys.exit("bench: tmux is not installed (make deps installs it)")
        WORK = benchlib.private_copy(args.build, mode=0o755)
        BIN = os.path.join(WORK, "pymemtop")
        with open(BIN, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()[:12]

        pythons, missing = find_pythons(os.path.abspath(args.build))
        if not pythons:
            sys.exit("bench: no CPython >= 3.8 found")
        print("pymemtop benchmark%s: %s (sha256 %s), %s, %d CPUs, load %s" % (
            " (--quick)" if args.quick else "", os.path.abspath(src_bin), sha, platform.release(),
            os.cpu_count(), loadavg()))
        print("Pythons: %s" % ", ".join(p.label for p in pythons))
        for label, why in missing:
            print("  %s: %s" % (label, why))
        report = {"binary_sha256_12": sha, "quick": args.quick, "cpus": os.cpu_count(),
                  "load_start": loadavg()}

        lat = slow = foot = blocked = None
        if "1" in args.parts:
            print("\n[1/4] attach latency ...", flush=True)
            lat = bench_latency(pythons, runs)
            report["latency"] = lat

        if "2" in args.parts:
            wanted = [w.strip() for w in args.slowdown_pythons.split(",") if w.strip()]
            if args.quick:
                wanted = wanted[:1]
            slow_pys = []
            for w in wanted:
                for p in pythons:
                    if (w == "debian" and p.path.startswith("/usr/bin")) or \
                            (w != "debian" and not p.path.startswith("/usr/bin") and
                             ".".join(p.version.split(".")[:2]) == w):
                        slow_pys.append(p)
                        break
                else:
                    print("  (no Python %s for the slowdown part)" % w)
            print("\n[2/4] target slowdown (%d phases x %.1f s per Python) ..." % (
                1 + 4 * cycles, phase_secs), flush=True)
            slow = []
            for p in slow_pys:
                try:
                    r = bench_slowdown(p, phase_secs, cycles)
                except RuntimeError as e:
                    r = {"python": p.label, "errors": [str(e)]}
                slow.append(r)
                print("  %-14s done (%s)" % (p.label, "ok" if "wall" in r else "failed"), flush=True)
            report["slowdown"] = slow

        if "3" in args.parts:
            print("\n[3/4] monitor footprint (%d s) ..." % foot_secs, flush=True)
            debian = [p for p in pythons if p.path.startswith("/usr/bin")] or pythons[-1:]
            foot = bench_footprint(debian[0], foot_secs)
            report["footprint"] = foot

        block_runs = 1 if args.quick else 3
        if "4" in args.parts:
            print("\n[4/4] blocked targets (%d modes x %d run(s) per Python) ..." % (
                len(BLOCK_MODES), block_runs), flush=True)
            blocked = bench_blocked(pythons, block_runs)
            report["blocked"] = blocked

        if lat is not None:
            print_latency(lat, runs, missing)
        if slow is not None:
            print_slowdown(slow, phase_secs, cycles)
        if foot is not None:
            print_footprint(foot)
        if blocked is not None:
            print_blocked(blocked, block_runs)
        report["load_end"] = loadavg()
        report["elapsed_s"] = time.monotonic() - t_begin
        print("\nload average at start %s, at end %s; total %.0f s" % (
            report["load_start"], report["load_end"], report["elapsed_s"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1)
            print("JSON written to %s" % args.json)
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
