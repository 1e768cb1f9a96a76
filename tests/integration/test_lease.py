"""The tracemalloc lease against real targets of every CPython version:
tracing outlives the monitor (tracemalloc=on:SECONDS), a snapshot in one run
and a diff in a later run name the line that leaks, the agent ends the lease
itself with no monitor attached, a forked child does not inherit pymemtop's
tracing, and tracing the program started (or took over) is never stopped.
--record --tracemalloc writes the growing lines; the leak gate names them.

The target leaks at one line (LEAK) at a steady rate and writes what it
sees itself (tracing on, frames, its own monotonic clock) to state.json.
"""
import json
import os

from common import Target, once_json, pymemtop

TARGET = r'''
import json, os, sys, time, warnings
import tracemalloc
# 3.12+ warns about fork() with threads running (the agent's is one).
warnings.simplefilter("ignore", DeprecationWarning)
DIR = os.path.dirname(os.path.abspath(__file__))
STATE = os.path.join(DIR, "state.json")
mode = sys.argv[1]
if mode == "user":
    tracemalloc.start(2)
leak = []
forked = took_over = False
on_at = off_at = None  # the target's clock when it first saw tracing on, then off
n = 0
while True:
    n += 1
    if len(leak) < 50000:
        leak.append(bytearray(1024))  # LEAK
    tracing = tracemalloc.is_tracing()
    if tracing and on_at is None:
        on_at = time.monotonic()
    if not tracing and on_at is not None and off_at is None:
        off_at = time.monotonic()
    if mode == "takeover" and tracing and not took_over:
        tracemalloc.stop()          # the program takes tracing over: ours now
        tracemalloc.start(3)
        took_over = True
    if mode == "fork" and tracing and not forked:
        forked = True
        pid = os.fork()
        if pid == 0:
            with open(os.path.join(DIR, "child.json"), "w") as f:
                json.dump({"tracing": tracemalloc.is_tracing()}, f)
            os._exit(0)
        os.waitpid(pid, 0)
    if n % 4 == 0:
        state = {"tick": n, "mono": time.monotonic(), "tracing": tracing,
                 "frames": tracemalloc.get_traceback_limit(), "leaked": len(leak),
                 "on_at": on_at, "off_at": off_at}
        with open(STATE + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(STATE + ".tmp", STATE)
    time.sleep(0.01)
'''
LEAK_LINE = next(i for i, l in enumerate(TARGET.splitlines(), 1) if l.endswith("# LEAK"))


def commands(pid, *cmds, check=0):
    args = ["--json"]
    for c in cmds:
        args += ["--command", c]
    p = pymemtop(*args, pid, timeout=60, check=check)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def leak_site(sites):
    want = "target.py:%d" % LEAK_LINE
    return next((s for s in sites if s["where"].endswith(want)), None)


def later_state(t, pred=lambda s: True, timeout=20):
    """A state the target wrote after now (pymemtop has left by then)."""
    now = t.state()["tick"]
    return t.wait_state(lambda s: s["tick"] >= now + 8 and pred(s), timeout=timeout)


def test_lease_outlives_the_monitor_and_a_later_run_diffs_the_leaking_line(py):
    t = Target(py, code=TARGET, args=["plain"])
    t.wait_state(lambda s: s["tick"] >= 10 and not s["tracing"])
    on, snap = commands(t.pid, "tracemalloc=on:120", "snapshot")
    assert on["status"] == "ok" and "lease" in on["message"], on
    assert "slower" in on["message"], on
    assert snap["status"] == "ok" and "sites" in snap, snap
    # No monitor now: the target still traces.
    s = later_state(t)
    assert s["tracing"] is True and s["frames"] == 1, s
    leaked = s["leaked"]
    t.wait_state(lambda st: st["leaked"] >= leaked + 200)
    # Every monitor shows whose tracing it is and the lease left.
    tm = once_json(t.pid)["tracemalloc"]
    assert tm["on"] is True and tm["started_by"] == "pymemtop", tm
    assert 0 < tm["lease_left_s"] <= 120, tm
    # Run 2: the snapshot of run 1 is still in the agent.
    snap2, diff = commands(t.pid, "snapshot", "diff")
    assert diff["status"] == "ok", diff
    site = leak_site(diff["sites"])
    assert site, "the diff does not name target.py:%d: %s" % (LEAK_LINE, diff["sites"])
    assert site["size_diff"] >= 200 * 1024 and site["count_diff"] >= 200, site
    assert "target.py:%d" % LEAK_LINE in diff["message"], diff["message"]
    # tracemalloc=off ends the lease and the tracing.
    off, = commands(t.pid, "tracemalloc=off")
    assert off["status"] == "ok" and "lease ended" in off["message"], off
    s = later_state(t)
    assert s["tracing"] is False, s
    tm = once_json(t.pid)["tracemalloc"]
    assert tm["on"] is False and tm["lease_left_s"] == 0 and tm["started_by"] == "", tm
    assert t.stdout() == "" and t.stderr() == "", (t.stdout(), t.stderr())


def test_lease_ends_on_time_with_no_monitor(py):
    t = Target(py, code=TARGET, args=["plain"])
    start = t.wait_state(lambda s: s["tick"] >= 10)["mono"]  # before the lease began
    on, = commands(t.pid, "tracemalloc=on:5")
    assert on["status"] == "ok" and "5s" in on["message"], on
    # pymemtop has left; the lease still runs ...
    before = later_state(t)
    assert before["tracing"] is True, before
    # ... and the agent ends it by itself, with nobody attached: never
    # before its 5 s (counted on the target's clock from a moment before the
    # command), and within a generous bound after.
    after = t.wait_state(lambda s: s["off_at"] is not None, timeout=40)
    assert after["off_at"] >= start + 5, (start, after)
    assert after["off_at"] <= before["mono"] + 5 + 15, (before, after)
    s = later_state(t)
    assert s["tracing"] is False, s
    # The snapshots went with it (nothing kept for a monitor that is gone).
    d = commands(t.pid, "diff", check=6)[0]
    assert d["status"] == "error", d
    assert t.stdout() == "" and t.stderr() == "", (t.stdout(), t.stderr())


def test_lease_is_not_inherited_by_a_forked_child(py):
    t = Target(py, code=TARGET, args=["fork"])
    t.wait_state(lambda s: s["tick"] >= 10)
    commands(t.pid, "tracemalloc=on:120")
    child = os.path.join(t.dir, "child.json")
    s = later_state(t, lambda st: os.path.exists(child))
    with open(child) as f:
        assert json.load(f) == {"tracing": False}, "the forked child kept pymemtop's tracing"
    assert s["tracing"] is True, "the parent's lease must go on: %s" % s
    commands(t.pid, "tracemalloc=off")
    assert t.stdout() == "" and t.stderr() == "", (t.stdout(), t.stderr())


def test_program_tracing_is_never_stopped_by_a_lease(py):
    # Started by the program: a lease is refused politely, off is refused.
    t = Target(py, code=TARGET, args=["user"])
    t.wait_state(lambda s: s["tick"] >= 10 and s["tracing"])
    on, = commands(t.pid, "tracemalloc=on:2")
    assert on["status"] == "ok" and "started by the program" in on["message"], on
    out = commands(t.pid, "tracemalloc=off", check=6)
    assert out[0]["status"] == "error" and "started by the program" in out[0]["message"], out
    past = t.state()["mono"] + 3  # the 2 s lease, had it been taken, is over by then
    s = later_state(t, lambda st: st["mono"] >= past)
    assert s["tracing"] is True and s["frames"] == 2, s
    assert once_json(t.pid)["tracemalloc"]["started_by"] == "program"
    assert t.stdout() == "" and t.stderr() == "", (t.stdout(), t.stderr())


def test_tracing_the_program_took_over_outlives_the_lease(py):
    # pymemtop starts it with a lease; the program stops and restarts it
    # (3 frames): from then on it is the program's, and the lease's end
    # leaves it on.
    t = Target(py, code=TARGET, args=["takeover"])
    t.wait_state(lambda s: s["tick"] >= 10)
    on, = commands(t.pid, "tracemalloc=on:3")
    assert on["status"] == "ok", on
    s = t.wait_state(lambda st: st["tracing"] and st["frames"] == 3)
    s = later_state(t, lambda st: st["mono"] >= s["mono"] + 5)
    assert s["tracing"] is True and s["frames"] == 3, s
    tm = once_json(t.pid)["tracemalloc"]
    assert tm["started_by"] == "program" and tm["lease_left_s"] == 0, tm
    assert t.stdout() == "" and t.stderr() == "", (t.stdout(), t.stderr())


def test_record_and_gate_name_the_growing_line(py):
    t = Target(py, code=TARGET, args=["plain"])
    t.wait_state(lambda s: s["tick"] >= 10)
    rec = os.path.join(t.dir, "run.jsonl")
    p = pymemtop("--record", rec, "--duration", "8", "--tracemalloc", "--max-growth",
                 "1KiB/min", "--json", t.pid, timeout=60)
    assert p.returncode == 7, (p.returncode, p.stdout, p.stderr)
    assert "top growing lines" in p.stderr and "target.py:%d" % LEAK_LINE in p.stderr, p.stderr
    gate = json.loads(p.stdout)
    assert gate["gate"]["passed"] is False and leak_site(gate["sites"]), gate.get("sites")
    with open(rec) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    growth = [l for l in lines if l.get("event") == "tracemalloc_growth"]
    assert growth and growth[-1]["final"] is True, [l.get("event") for l in lines]
    site = leak_site(growth[-1]["sites"])
    assert site and site["size_diff"] > 0 and site["count_diff"] > 0, growth[-1]
    samples = [l for l in lines if "event" not in l]
    assert samples and samples[-1]["tracemalloc"]["on"] is True, samples[-1]["tracemalloc"]
    # Traced for the run only: stopped when the recording ended.
    s = later_state(t)
    assert s["tracing"] is False, s
    assert t.stdout() == "" and t.stderr() == "", (t.stdout(), t.stderr())
