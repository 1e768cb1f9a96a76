"""tracemalloc on demand against real targets of every CPython version:
on/snapshot/diff shows the line of the target that grows, tracing the agent
started stops at detach, tracing the program started is never stopped, and
with tracing off a snapshot is the census alone (nothing imported).

The target grows a list at one line from a gc.callbacks entry while it sees
tracing on, so `--command collect` between two snapshots makes it grow at a
known moment (no race with the command sequence); it writes what it sees
itself (tracing on, frames) to state.json.
"""
import json

from common import Target, pymemtop

TARGET = r'''
import gc, json, os, sys, time
import tracemalloc
DIR = os.path.dirname(os.path.abspath(__file__))
STATE = os.path.join(DIR, "state.json")
if sys.argv[1] == "user":
    tracemalloc.start(2)
keep = []

def grow(phase, info):
    if phase == "stop" and tracemalloc.is_tracing() and len(keep) < 100000:
        keep.append([object() for _ in range(20)])  # GROW

gc.callbacks.append(grow)
n = 0
while True:
    n += 1
    if n % 4 == 0:
        state = {"tick": n, "tracing": tracemalloc.is_tracing(),
                 "frames": tracemalloc.get_traceback_limit()}
        with open(STATE + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(STATE + ".tmp", STATE)
    time.sleep(0.005)
'''
GROW_LINE = next(i for i, l in enumerate(TARGET.splitlines(), 1) if l.endswith("# GROW"))

PLAIN = r'''
import json, os, sys, time
DIR = os.path.dirname(os.path.abspath(__file__))
STATE = os.path.join(DIR, "state.json")
n = 0
while True:
    n += 1
    if n % 10 == 0:
        with open(STATE + ".tmp", "w") as f:
            json.dump({"tick": n, "imported": sorted(m for m in sys.modules if "tracemalloc" in m)}, f)
        os.replace(STATE + ".tmp", STATE)
    time.sleep(0.005)
'''


def commands(pid, *cmds):
    args = ["--json"]
    for c in cmds:
        args += ["--command", c]
    p = pymemtop(*args, pid, timeout=60)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return p, lines


def grow_site(sites):
    want = "target.py:%d" % GROW_LINE
    return next((s for s in sites if s["where"].endswith(want)), None)


def next_state(t, pred=lambda s: True):
    now = t.state()["tick"]
    return t.wait_state(lambda s: s["tick"] >= now + 8 and pred(s))


def test_tracemalloc_snapshot_diff_and_stop_at_detach(py):
    t = Target(py, code=TARGET, args=["plain"])
    t.wait_state(lambda s: s["tick"] >= 10 and not s["tracing"])
    p, out = commands(t.pid, "tracemalloc=on", "snapshot", "collect", "collect", "census",
                      "snapshot", "diff", "diff=baseline")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    on, snap1, snap2, diff, base = out[0], out[1], out[5], out[6], out[7]
    assert on["status"] == "ok" and "1 frame" in on["message"], on
    assert "slower" in on["message"], "turning it on must say what it costs: %r" % on["message"]
    assert snap1["status"] == "ok" and "sites" in snap1, snap1
    site = grow_site(snap2["sites"])
    assert site and site["size_bytes"] > 0 and site["count"] > 0, snap2["sites"]
    sizes = [s["size_bytes"] for s in snap2["sites"]]
    assert sizes == sorted(sizes, reverse=True), sizes
    for d, against in ((diff, "previous"), (base, "baseline")):
        assert d["status"] == "ok" and d["against"] == against, d
        site = grow_site(d["sites"])
        assert site, "no diff entry for line %d: %s" % (GROW_LINE, d["sites"])
        assert site["size_diff"] > 0 and site["count_diff"] > 0, site
    # The agent started it: detaching stops it.
    s = next_state(t)
    assert s["tracing"] is False, "tracing left on after detach: %s" % s
    assert t.stderr() == "", t.stderr()


def test_tracemalloc_started_by_program_is_kept(py):
    t = Target(py, code=TARGET, args=["user"])
    t.wait_state(lambda s: s["tick"] >= 10 and s["tracing"])
    p, out = commands(t.pid, "tracemalloc=on", "collect", "snapshot", "tracemalloc=off")
    assert p.returncode != 0, "tracemalloc=off on the program's own tracing must fail"
    on, _collect, snap, off = out
    assert on["status"] == "ok" and "already on" in on["message"], on
    assert "2 frames" in on["message"], on
    site = grow_site(snap["sites"])
    assert site and site["size_bytes"] > 0, snap["sites"]
    assert off["status"] == "error" and "started by the program" in off["message"], off
    s = next_state(t)
    assert s["tracing"] is True and s["frames"] == 2, s
    # A plain session attach/detach leaves it on too.
    commands(t.pid, "census")
    s = next_state(t)
    assert s["tracing"] is True and s["frames"] == 2, s
    assert t.stderr() == "", t.stderr()


def test_tracemalloc_off_snapshot_is_census_only(py):
    t = Target(py, code=PLAIN)
    t.wait_state(lambda s: s["tick"] >= 10)
    p, out = commands(t.pid, "snapshot", "snapshot", "diff", "tracemalloc=off")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert all(o["status"] == "ok" for o in out), out
    assert "census only (tracemalloc off)" in out[0]["message"], out[0]
    assert "sites" not in out[0] and "sites" not in out[2], out
    assert "already off" in out[3]["message"], out[3]
    s = next_state(t)
    assert s["imported"] == [], "the agent imported %s" % s["imported"]
    assert t.stderr() == "", t.stderr()
