"""Cycle shapes from the program's own collections (`cycles.recent_shapes`),
against real targets of every CPython version: shapes appear with no hunt and
no command, and the program cannot tell: the same collections (gc.get_stats()
counts), the same collected counts, each __del__ and weakref callback once,
gc.garbage as it would be, the cycles really freed, the same output.

Modes of the target:
- explicit: gc.disable() and one gc.collect(gen) per tick, so every
  collection is the program's own and the output is deterministic; each
  line carries what the collection returned and what the program saw
  after it. The monitored output must equal an unmonitored run's.
- auto: automatic collections only; the program's own gc.callbacks entries
  (installed before the attach) check at every collection that they never
  see DEBUG_SAVEALL nor an entry in gc.garbage.
- saveall: the program saves all garbage itself: left alone.
"""
import json
import os
import subprocess

import common
from common import Target

TARGET = r'''
import gc, json, os, sys, time, weakref
DIR = os.path.dirname(os.path.abspath(__file__))
STATE = os.path.join(DIR, "state.json")
MODE, PERIOD, TICKS = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])

class Node:
    def __init__(self, parent=None):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)

class Res:
    dels = double = 0
    def __init__(self):
        self.ran = 0
        self.me = self
    def __del__(self):
        self.ran += 1
        Res.dels += 1
        if self.ran > 1:
            Res.double += 1

class Held:
    pass

class Keeper:
    """Puts itself in gc.garbage from its __del__: the program's own entry,
    made during the collection, which must stay there intact."""
    def __init__(self):
        self.me = self
    def __del__(self):
        gc.garbage.append(self)

class Slow:
    """Its __del__ lets the GIL go: the agent thread may run mid-collection."""
    def __init__(self):
        self.me = self
    def __del__(self):
        time.sleep(0.02)

wr_calls = 0
def on_dead(ref):
    global wr_calls
    wr_calls += 1

seen = {"start_saveall": 0, "stop_garbage": 0, "stops": 0, "collected": 0}
def watch(phase, info):
    if phase == "start":
        seen["start_saveall"] += bool(gc.get_debug() & gc.DEBUG_SAVEALL) and MODE != "saveall"
    else:
        seen["stops"] += 1
        seen["collected"] += info["collected"]
        seen["stop_garbage"] += len(gc.garbage) if MODE != "saveall" else 0
gc.callbacks.append(watch)

EXPLICIT = MODE in ("explicit", "slowdel")
if EXPLICIT:
    gc.disable()
else:
    gc.set_threshold(700, 10, 10)
if MODE == "saveall":
    gc.set_debug(gc.DEBUG_SAVEALL)
stats0 = [s["collections"] for s in gc.get_stats()]
created = {"res": 0, "wr": 0}
refs = []

def build(n):
    for i in range(100):
        Node(Node())
    for i in range(20):
        d = {}
        d["self"] = d
    for i in range(5):
        Res()
        created["res"] += 1
    for i in range(5):
        h = Held()
        h.loop = [h]
        refs.append(weakref.ref(h, on_dead))
        created["wr"] += 1
    if MODE == "slowdel":
        for i in range(3):
            Slow()
    if MODE == "explicit" and n % 7 == 3:  # not every tick: before 3.9 one resurrection
        Keeper()                          # keeps all of a collection's garbage alive

def live_nodes():
    return sum(1 for o in gc.get_objects() if type(o) is Node)

def state(n):
    was = gc.isenabled()
    gc.disable()  # stats and what the callbacks saw, read at one moment
    stats = [s["collections"] - s0 for s, s0 in zip(gc.get_stats(), stats0)]
    snap = dict(seen)
    if was:
        gc.enable()
    st = dict(snap, tick=n, stats=stats, dels=Res.dels, double=Res.double, wr_calls=wr_calls,
              created=created, garbage=len(gc.garbage), debug=gc.get_debug(),
              callbacks=len(gc.callbacks))
    with open(STATE + ".tmp", "w") as f:
        json.dump(st, f)
    os.replace(STATE + ".tmp", STATE)

n = 0
while not TICKS or n < TICKS:
    n += 1
    build(n)
    if EXPLICIT:
        gen = (0, 0, 1, 0, 0, 2)[n % 6]
        got = gc.collect(gen)
        dead = sum(1 for r in refs if r() is None)
        del refs[:]
        stats = [s["collections"] - s0 for s, s0 in zip(gc.get_stats(), stats0)]
        intact = sum(1 for k in gc.garbage if type(k) is Keeper and k.me is k)
        print("tick %d gen %d collected %d nodes %d dels %d double %d wr %d dead %d garbage %d "
              "intact %d stats %s debug %d" % (n, gen, got, live_nodes(), Res.dels, Res.double,
                                               wr_calls, dead, len(gc.garbage), intact, stats,
                                               gc.get_debug()), flush=True)
    state(n)
    time.sleep(PERIOD)
gc.collect()
print("end dels %d/%d double %d wr %d/%d garbage %d" % (
    Res.dels, created["res"], Res.double, wr_calls, created["wr"], len(gc.garbage)), flush=True)
'''

NODE = "Node -.children-> list -[0]-> Node -.parent-> Node"
SELF_DICT = "dict -['self']-> dict"
RES = "Res -.me-> Res"
HELD = "Held -.loop-> list -[0]-> Held"


def _record_lines(path):
    """The recording's complete lines (the last may be half written)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def _samples(path):
    return [r for r in _record_lines(path) if "cycles" in r]


def _record(pid, *extra):
    d = common.tmpdir()
    rec = os.path.join(d, "rec.jsonl")
    err = os.path.join(d, "stderr")
    p = subprocess.Popen([common.BIN] + list(extra) + ["--record", rec, "--interval", "0.2",
                                                       str(pid)],
                         stdout=subprocess.DEVNULL, stderr=open(err, "w"),
                         stdin=subprocess.DEVNULL)
    common._procs.append(p)
    p.rec, p.err_path = rec, err
    return p


def _wait_shapes(mon, paths, timeout=20):
    """The latest sample of mon's recording has every path in recent_shapes."""
    last = [None]

    def found():
        s = _samples(mon.rec)
        if not s:
            return None
        last[0] = s[-1]["cycles"]
        got = {r["path"]: r for r in last[0]["recent_shapes"]}
        return all(p in got for p in paths) and (last[0], got)
    return common.poll(found, timeout, lambda: "shapes %s in cycles.recent_shapes; last: %s; "
                       "stderr: %s" % (paths, json.dumps(last[0])[:1500],
                                       open(mon.err_path).read()), interval=0.1, alive=mon)


def _detach(mon):
    mon.send_signal(2)
    assert mon.wait(10) == 0, open(mon.err_path).read()


def _lines(text):
    """Complete lines only (the target may be stopped mid-line)."""
    lines = text.split("\n")
    return lines[:-1]


def test_capture_shapes_without_hunt_and_output_unchanged(py):
    # No periodic census (its first one, 1 s after the attach, is waited
    # out below): a census holds the objects it stands on between its
    # slices, which can keep a young cycle alive past one collection. That
    # is the census's doing; here the capture alone is compared.
    ini = os.path.join(common.tmpdir(), "quiet.ini")
    with open(ini, "w") as f:
        f.write("[census]\ninterval = 3600\n")
    t = Target(py, code=TARGET, args=["explicit", "0.01", "0"])
    t.wait_state(lambda s: s["tick"] >= 3)
    mon = _record(t.pid, "--config", ini)
    cycles, got = _wait_shapes(mon, [NODE, SELF_DICT, RES, HELD])
    common.poll(lambda: _samples(mon.rec)[-1]["census"]["censuses"] >= 1, 20,
                "the first census", alive=mon)
    first = t.state()["tick"] + 2  # the census is over by then
    caps0 = sum(_samples(mon.rec)[-1]["cycles"]["capture"]["captures"])

    def captured_more():
        c = _samples(mon.rec)[-1]["cycles"]
        return t.state()["tick"] >= first + 40 and sum(c["capture"]["captures"]) >= caps0 + 3 and c
    cycles = common.poll(captured_more, 30, "captures after the census", alive=mon)
    _detach(mon)
    t.stop()
    cap = cycles["capture"]
    assert cap["state"] == "on", cap
    assert cycles["last_hunt"] is None, "a hunt ran"
    assert cap["objects"] >= 3 * 200, cap
    assert 0 < cap["wall_share"] < 0.05, cap
    assert 0 < cap["budget_share"] <= 0.01, cap
    node = got[NODE]
    assert node["count"] >= 100 and node["length"] in (3, 5), node  # 5: instance dicts (3.8-3.10)
    assert node["objects"] == node["count"] * node["length"], node
    assert node["objects_estimated"] >= node["objects"], node
    assert node["objects_per_min"] > 0, node
    assert 0 < node["first_seen_ns"] <= node["last_seen_ns"], node
    assert "weakref" in node["advice"], node
    assert "__del__" in got[RES]["advice"], got[RES]
    assert got[SELF_DICT]["length"] == 1, got[SELF_DICT]
    # The program could not tell: the same collections, collected counts,
    # __del__ and weakref callbacks once each, nothing left in gc.garbage,
    # every Node freed: the same output as a run without pymemtop, line by
    # line from the first census on (before it, the attach's own garbage).
    out = _lines(t.stdout())
    assert len(out) >= first + 40, (first, len(out))
    ref = Target(py, code=TARGET, args=["explicit", "0", str(len(out))])
    ref.proc.wait(120)
    ref_out = _lines(ref.stdout())[:len(out)]  # without its "end" line
    assert len(ref_out) == len(out), (len(ref_out), len(out))
    diff = [(m, r) for m, r in zip(out[first:], ref_out[first:]) if m != r]
    assert not diff, "monitored vs unmonitored:\n%s" % "\n".join("%s\n%s" % d for d in diff[:5])
    # Every Node freed; gc.garbage holds exactly the program's own Keepers
    # (put there by their __del__, during captured collections too), each
    # intact (never cleared).
    last = out[-1].split()
    kept = last[last.index("garbage") + 1]
    assert int(kept) > 0 and last[last.index("intact") + 1] == kept, last
    assert sum(" nodes 0 " in line for line in out[first:]) >= 20, out[first:]
    assert t.stderr() == "", "target wrote to stderr: %r" % t.stderr()


def test_capture_automatic_collections_invisible(py):
    t = Target(py, code=TARGET, args=["auto", "0.005", "600"])
    t.wait_state(lambda s: s["tick"] >= 3)
    mon = _record(t.pid)
    cycles, got = _wait_shapes(mon, [NODE, RES])
    cycles_tick = [t.state()["tick"]]
    cap = cycles["capture"]
    assert sum(cap["captures"]) >= 1 and cap["collections"][0] >= cap["captures"][0], cap
    st = t.wait_state(lambda s: s["stops"] >= 5 and s["tick"] > cycles_tick[0])
    # Its own entry, then ours: the capture's first, the pause timer last.
    assert st["callbacks"] == 3, st
    # The program's own callbacks: never DEBUG_SAVEALL at "start", never an
    # entry in gc.garbage at "stop"; its collections are gc.get_stats()'s.
    assert st["start_saveall"] == 0 and st["stop_garbage"] == 0, st
    assert st["stops"] == sum(st["stats"]), st
    assert st["debug"] == 0 and st["garbage"] == 0 and st["double"] == 0, st
    _detach(mon)
    # Nothing of ours left in gc.callbacks once the monitor is gone.
    t.wait_state(lambda s: s["callbacks"] == 1 or s["tick"] >= 600)
    assert t.proc.wait(120) == 0, t.stderr()
    assert t.state()["callbacks"] == 1, t.state()
    end = _lines(t.stdout())[-1]
    assert end == "end dels 3000/3000 double 0 wr 3000/3000 garbage 0", end
    assert t.stderr() == "", t.stderr()


def test_capture_leaves_program_saveall_alone(py):
    t = Target(py, code=TARGET, args=["saveall", "0.005", "0"])
    t.wait_state(lambda s: s["tick"] >= 3)
    mon = _record(t.pid)
    before = t.state()
    t.wait_state(lambda s: s["stops"] >= before["stops"] + 5)

    def saw_saveall():
        s = _samples(mon.rec)
        return s and s[-1]["cycles"]["capture"] and "DEBUG_SAVEALL" in \
            s[-1]["cycles"]["capture"]["state"] and s[-1]["cycles"]
    cycles = common.poll(saw_saveall, 20, "the capture to leave the program's SAVEALL alone",
                         alive=mon)
    assert cycles["recent_shapes"] == [], cycles["recent_shapes"]
    assert sum(cycles["capture"]["captures"]) == 0, cycles["capture"]
    _detach(mon)
    st = t.state()
    # Everything the program's collections found is still in gc.garbage.
    assert st["debug"] == 32, st
    assert st["garbage"] >= st["collected"] - st["wr_calls"] and st["garbage"] > 0, st
    t.stop()
    assert t.stderr() == "", t.stderr()


def test_capture_off_by_config(py):
    """[cycles] capture = off: no capture entry in gc.callbacks, no shapes."""
    ini = os.path.join(common.tmpdir(), "off.ini")
    with open(ini, "w") as f:
        f.write("[cycles]\ncapture = off\n")
    t = Target(py, code=TARGET, args=["auto", "0.005", "0"])
    t.wait_state(lambda s: s["tick"] >= 3)
    mon = _record(t.pid, "--config", ini)

    def off():
        s = _samples(mon.rec)
        return s and s[-1]["cycles"]["capture"] and s[-1]["cycles"]["capture"]["state"] == "off" \
            and s[-1]["cycles"]
    cycles = common.poll(off, 20, "the capture to say off", alive=mon)
    now = t.state()["tick"]
    st = t.wait_state(lambda s: s["tick"] > now + 2)
    assert st["callbacks"] == 2, st  # its own and the pause timer
    assert cycles["recent_shapes"] == [] and sum(cycles["capture"]["captures"]) == 0, cycles
    _detach(mon)
    t.stop()
    assert t.stderr() == "", t.stderr()


def test_capture_monitor_leaves_mid_collection(py):
    """The monitor detaches while a captured collection runs a __del__ that
    let the GIL go: the flag goes back at once, the collection ends as it
    would have, and our last gc.callbacks entry leaves soon after."""
    ini = os.path.join(common.tmpdir(), "quiet.ini")
    with open(ini, "w") as f:
        f.write("[census]\ninterval = 3600\n")
    t = Target(py, code=TARGET, args=["slowdel", "0.001", "0"])
    t.wait_state(lambda s: s["tick"] >= 2)
    mon = _record(t.pid, "--config", ini)
    common.poll(lambda: _samples(mon.rec) and _samples(mon.rec)[-1]["census"]["censuses"] >= 1,
                20, "the first census", alive=mon)
    first = t.state()["tick"] + 2
    caps0 = sum(_samples(mon.rec)[-1]["cycles"]["capture"]["captures"])
    common.poll(lambda: t.state()["tick"] >= first + 2 and
                sum(_samples(mon.rec)[-1]["cycles"]["capture"]["captures"]) > caps0, 30,
                "a capture after the census", alive=mon)
    _detach(mon)  # most of the target's time is in a collection's __del__
    left = t.state()["tick"]
    st = t.wait_state(lambda s: s["tick"] >= left + 3 and s["callbacks"] == 1)
    assert st["debug"] == 0 and st["garbage"] == 0, st
    t.stop()
    out = _lines(t.stdout())
    ref = Target(py, code=TARGET, args=["slowdel", "0", str(len(out))])
    ref.proc.wait(120)
    ref_out = _lines(ref.stdout())[:len(out)]
    assert len(ref_out) == len(out), (len(ref_out), len(out))
    diff = [(m, r) for m, r in zip(out[first:], ref_out[first:]) if m != r]
    assert not diff, "monitored vs unmonitored:\n%s" % "\n".join("%s\n%s" % d for d in diff[:5])
    assert t.stderr() == "", t.stderr()
