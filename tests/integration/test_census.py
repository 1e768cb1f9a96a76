"""Type census against real targets on every CPython found: exact counts of a
known class against the target's own count, the collector's lists walked
(not the gc.get_objects() fallback), snapshots and diffs, and a leak that
becomes a suspect with the right growth while a steady class does not."""
import json
import os

from common import Target, pymemtop, tmpdir

# The target obeys a control file: {"seq": k, "op": "add"|"idle", "n": N}
# (add N: N more Leak instances) and reports its own instance counts in the
# state file after each order. Growth between censuses of ONE monitor session
# (headless commands run back to back) is made deterministic through the
# collector: automatic collection is off, and a gc.callbacks entry adds 100
# Leak instances after every full collection, which `--command collect=2`
# runs (in the agent's thread, like any code a collection triggers).
TARGET = r'''
import gc, json, os, sys, time

class Leak:
    __slots__ = ("payload",)

class Stable:
    pass

state, ctl = sys.argv[1], sys.argv[2]
stable = [Stable() for _ in range(500)]
keep = [Leak() for _ in range(1000)]

def write(phase, seq):
    tmp = state + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"phase": phase, "seq": seq, "leak": len(keep), "stable": len(stable)}, f)
    os.replace(tmp, state)

def order():
    try:
        with open(ctl) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def on_gc(phase, info):
    if phase == "stop" and info["generation"] == 2:
        keep.extend(Leak() for _ in range(100))

gc.disable()
gc.callbacks.append(on_gc)
seq = 0
write("idle", seq)
while True:
    o = order()
    if not o or o["seq"] == seq:
        time.sleep(0.01)
        continue
    seq = o["seq"]
    if o["op"] == "add":
        keep.extend(Leak() for _ in range(o["n"]))
        write("idle", seq)
    else:
        write("idle", seq)
'''


class LeakTarget:
    def __init__(self, py):
        d = tmpdir()
        self.state_path = os.path.join(d, "state.json")
        self.ctl_path = os.path.join(d, "ctl.json")
        self.seq = 0
        self.t = Target(py, code=TARGET, args=(self.state_path, self.ctl_path))
        self.t.state_path = self.state_path  # its own state file, read the common way
        self.pid = self.t.pid
        self.wait(lambda s: s["phase"] == "idle")

    def state(self):
        return self.t.state()

    def wait(self, pred, timeout=20):
        return self.t.wait_state(pred, timeout)

    def order(self, op, n=0):
        self.seq += 1
        tmp = self.ctl_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"seq": self.seq, "op": op, "n": n}, f)
        os.replace(tmp, self.ctl_path)
        seq = self.seq
        return self.wait(lambda s: s["seq"] == seq)


def commands(pid, *cmds, config=None):
    args = []
    if config:
        args += ["--config", config]
    args += ["--json"]
    for c in cmds:
        args += ["--command", c]
    p = pymemtop(*args, pid, check=0, timeout=60)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    assert len(lines) == len(cmds), p.stdout
    for l in lines:
        assert l["status"] == "ok", l
    return lines


def by_name(types):
    return {t["name"]: t for t in types}


def test_census_counts_exact(py):
    lt = LeakTarget(py)
    try:
        s = lt.state()
        d = json.loads(pymemtop("--once", "--json", lt.pid, check=0).stdout)
        # The collector's own lists, validated at run time, on every version.
        assert d["census"]["method"] == "gc_lists", d["census"]
        assert d["census"]["cost_ns"] > 0, d["census"]
        t = by_name(d["types"])
        assert t["__main__.Leak"]["count"] == s["leak"] == 1000, t.get("__main__.Leak")
        assert t["__main__.Stable"]["count"] == s["stable"] == 500
        # Builtins carry no module prefix; others are module-qualified.
        assert "function" in t and "dict" in t and "builtins.dict" not in t
        counts = [x["count"] for x in d["types"]]
        assert counts == sorted(counts, reverse=True)
        assert d["types_total"] >= len(d["types"]) > 10
        # The walk counts what gc.get_objects() would return: a few hundred
        # types and tens of thousands of objects in a bare interpreter.
        assert sum(counts) <= d["census"]["objects"]
        assert 5000 < d["census"]["objects"] < 200000, d["census"]
        for x in d["types"]:
            assert set(x) == {"name", "count", "delta_attach", "delta_snapshot",
                              "rate_per_min", "suspect", "bytes", "bytes_delta_attach",
                              "bytes_delta_snapshot", "bytes_rate_per_min", "bytes_approx"}, x

        # A later census on the same agent (reused) follows the target exactly.
        s = lt.order("add", 321)
        (c,) = commands(lt.pid, "census")
        assert by_name(c["types"])["__main__.Leak"]["count"] == s["leak"] == 1321
        # Samples carry the budget the last census set: 1 % of wall time, >= 2 s.
        d = json.loads(pymemtop("--once", "--json", lt.pid, check=0).stdout)
        assert d["census"]["interval_ms"] >= 2000, d["census"]
        assert d["census"]["interval_ms"] >= d["census"]["cost_ns"] * 100 // 1000000
    finally:
        lt.t.stop()


def test_census_snapshot_diff(py):
    lt = LeakTarget(py)
    try:
        (snap1,) = commands(lt.pid, "snapshot")
        assert by_name(snap1["types"])["__main__.Leak"]["count"] == 1000
        s = lt.order("add", 250)
        out = commands(lt.pid, "census", "snapshot", "diff", "diff=baseline")
        cen = by_name(out[0]["types"])["__main__.Leak"]
        assert cen["count"] == s["leak"] == 1250
        assert cen["delta_snapshot"] == 250, cen  # against the first snapshot
        diff = by_name(out[2]["types"])
        assert diff["__main__.Leak"]["delta"] == 250, diff.get("__main__.Leak")
        assert diff["__main__.Leak"]["count"] == 1250
        assert "__main__.Stable" not in diff  # unchanged types are left out
        deltas = [abs(x["delta"]) for x in out[2]["types"]]
        assert deltas == sorted(deltas, reverse=True)
        assert by_name(out[3]["types"])["__main__.Leak"]["delta"] == 250
        # A third snapshot: previous moves on, the baseline stays.
        s = lt.order("add", 50)
        out = commands(lt.pid, "snapshot", "diff", "diff=baseline")
        assert by_name(out[1]["types"])["__main__.Leak"]["delta"] == 50
        assert by_name(out[2]["types"])["__main__.Leak"]["delta"] == 300
    finally:
        lt.t.stop()


def test_census_leak_suspect(py):
    lt = LeakTarget(py)
    d = tmpdir()
    ini = os.path.join(d, "pymemtop.ini")
    with open(ini, "w") as f:
        f.write("[census]\nsuspect_window = 3\n")
    try:
        out = commands(lt.pid, "census", "collect=2", "census", "collect=2", "census",
                       "collect=2", "census", "collect=2", "census", config=ini)
        cens = out[::2]
        leaks = [by_name(o["types"])["__main__.Leak"] for o in cens]
        # Exactly what the target made: 1000, then 100 more per full collection.
        assert [x["count"] for x in leaks] == [1000, 1100, 1200, 1300, 1400], leaks
        s = lt.order("idle")
        assert s["leak"] == 1400, s
        # Grew in each of the last 3 censuses: a suspect from the 4th on, not before.
        assert [x["suspect"] for x in leaks] == [False, False, False, True, True], leaks
        last = leaks[-1]
        assert last["delta_attach"] == 400, last
        assert last["rate_per_min"] > 0, last
        stable = by_name(cens[-1]["types"])["__main__.Stable"]
        assert stable["count"] == 500 and not stable["suspect"] and stable["delta_attach"] == 0
        assert stable["rate_per_min"] == 0
        # A new session starts its growth history afresh, on the same agent.
        (c,) = commands(lt.pid, "census", config=ini)
        leak = by_name(c["types"])["__main__.Leak"]
        assert leak["count"] == 1400 and not leak["suspect"] and leak["delta_attach"] == 0
    finally:
        lt.t.stop()
