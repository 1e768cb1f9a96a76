"""Bounded pauses (issue 15): the census walks the collector's lists in slices
and lets the target run between them. These tests assert behaviour, not
timing: a sliced census counts what a census in one piece counts on a steady
heap, and a target that churns (collections of every generation, frees,
freeze/unfreeze) while being counted neither crashes nor gets a wrong count
of the objects that stay alive."""
import errno
import json
import os

import agentwire
from common import Target, poll, pymemtop, tmpdir

# A steady heap: made, collected once, then only sleeps.
STEADY = r'''
import gc, json, os, sys, time
class Stable:
    pass
state = sys.argv[1]
stable = [Stable() for _ in range(5000)]
big = [[i] for i in range(%(n)d)]
gc.collect()
with open(state + ".tmp", "w") as f:
    json.dump({"phase": "ready", "stable": len(stable)}, f)
os.replace(state + ".tmp", state)
while True:
    time.sleep(0.05)
'''

# Collections of every generation, cycles made and freed, objects made and
# dropped, in two threads, while the monitor counts. Stable objects never die,
# so every census must count exactly 5000 of them wherever collections moved
# them. With freeze=1 it also freezes and unfreezes the heap now and then
# (frozen objects are not counted: only survival is checked then).
CHURN = r'''
import gc, json, os, sys, threading, time
class Stable:
    pass
class Node:
    __slots__ = ("other", "pad")
state, freeze = sys.argv[1], sys.argv[2] == "1"
stable = [Stable() for _ in range(5000)]
big = [[i] for i in range(%(n)d)]
loops = [0]

def churn(tid):
    i = 0
    keep = []
    while True:
        a, b = Node(), Node()
        a.other, b.other = b, a
        tmp = [{} for _ in range(40)]
        keep.append(tmp)
        if len(keep) > 50:
            del keep[:25]
        i += 1
        if i %% 97 == 0:
            gc.collect(0)
        if i %% 301 == 0:
            gc.collect(1)
        if i %% 1499 == 0:
            gc.collect(2)
        if freeze and tid == 0 and i %% 2003 == 0:
            gc.freeze()
            time.sleep(0.001)
            gc.unfreeze()
        if i %% 64 == 0:
            loops[0] += 1
            time.sleep(0)

threading.Thread(target=churn, args=(1,), daemon=True).start()
with open(state + ".tmp", "w") as f:
    json.dump({"phase": "ready"}, f)
os.replace(state + ".tmp", state)
last = time.monotonic()
def tick():
    global last
    if time.monotonic() - last > 0.2:
        last = time.monotonic()
        with open(state + ".tmp", "w") as f:
            json.dump({"phase": "ready", "loops": loops[0]}, f)
        os.replace(state + ".tmp", state)
def main_churn():
    i = 0
    while True:
        a, b = Node(), Node()
        a.other, b.other = b, a
        tmp = [{} for _ in range(40)]
        i += 1
        if i %% 97 == 0:
            gc.collect(0)
        if i %% 1499 == 0:
            gc.collect(2)
        if i %% 64 == 0:
            loops[0] += 1
            tick()
main_churn()
'''


def _config(max_pause_ms):
    d = tmpdir()
    ini = os.path.join(d, "pymemtop.ini")
    with open(ini, "w") as f:
        f.write("[agent]\nmax_pause_ms = %d\n" % max_pause_ms)
    return ini


def _commands(pid, ini, *cmds, timeout=120):
    args = ["--config", ini, "--json"]
    for c in cmds:
        args += ["--command", c]
    p = pymemtop(*args, pid, check=None, timeout=timeout)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    assert p.returncode == 0 and len(lines) == len(cmds), (p.returncode, p.stdout, p.stderr)
    return lines


def _once(pid, ini):
    p = pymemtop("--config", ini, "--once", "--json", pid, check=0, timeout=120)
    return json.loads(p.stdout)


def _counts(d):
    return {t["name"]: t["count"] for t in d["types"]}


def _target(py, code, n, *args):
    d = tmpdir()
    state = os.path.join(d, "state.json")
    t = Target(py, code=code % {"n": n}, args=(state,) + args)
    t.state_path = state
    t.wait_state(lambda s: s.get("phase") == "ready", timeout=60)
    return t


def test_sliced_census_equals_one_piece(py):
    t = _target(py, STEADY, 200000)
    try:
        sliced_ini, whole_ini = _config(1), _config(1000)
        whole = _once(t.pid, whole_ini)
        sliced = _once(t.pid, sliced_ini)
        again = _once(t.pid, whole_ini)
        for d in (whole, sliced, again):
            assert d["census"]["method"] == "gc_lists", d["census"]
            # --once reports how the census paused the target.
            for k in ("cost_ns", "wall_ns", "max_slice_ns", "slices", "restarts"):
                assert k in d["census"], d["census"]
            assert d["census"]["wall_ns"] >= d["census"]["cost_ns"] > 0, d["census"]
            assert d["census"]["max_slice_ns"] <= d["census"]["cost_ns"], d["census"]
            assert d["agent"]["max_pause_1min_ns"] >= d["census"]["max_slice_ns"], d
        # 1 ms slices over 200k objects: more than one slice.
        assert sliced["census"]["slices"] > 1, sliced["census"]
        assert whole["census"]["slices"] == 1, whole["census"]
        a, b = _counts(whole), _counts(sliced)
        assert b["__main__.Stable"] == a["__main__.Stable"] == 5000
        assert b["list"] >= 200000 and a["list"] >= 200000
        # A steady heap: the sliced total within 0.1 % of the one-piece one
        # (the monitor's own plumbing may add or drop a few objects).
        ta, tb, tc = (x["census"]["objects"] for x in (whole, sliced, again))
        assert abs(tb - ta) <= ta / 1000 and abs(tb - tc) <= tc / 1000, (ta, tb, tc)
    finally:
        t.stop()


def _churn_rounds(py, freeze, rounds):
    t = _target(py, CHURN, 400000, "1" if freeze else "0")
    try:
        ini = _config(1)
        restarts = slices = 0
        for _ in range(rounds):
            out = _commands(t.pid, ini, *(["census"] * 5))
            for c in out:
                assert c["status"] == "ok", c
                n = {x["name"]: x["count"] for x in c["types"]}
                if not freeze:
                    assert n.get("__main__.Stable") == 5000, n.get("__main__.Stable")
            d = _once(t.pid, ini)
            restarts += d["census"]["restarts"]
            slices += d["census"]["slices"]
            assert t.alive(), t.stderr()
        # The target kept running (its loop counter moves) and said nothing.
        s0 = t.state()["loops"]
        t.wait_state(lambda s: s.get("loops", 0) > s0, timeout=20)
        assert t.alive() and t.stderr() == "", t.stderr()
        print("NOTE churn freeze=%d: %d slices, %d restarts over the --once censuses"
              % (freeze, slices, restarts), flush=True)
    finally:
        t.stop()


def test_sliced_census_survives_churn(py):
    _churn_rounds(py, False, 6)


def test_sliced_census_survives_freeze(py):
    _churn_rounds(py, True, 4)


def test_why_sliced_on_churning_heap(py):
    """why walks and samples in slices (1 ms here) while the target churns:
    it still names the module global that holds the instances, every time,
    and the target survives."""
    t = _target(py, CHURN, 200000, "0")
    try:
        ini = _config(1)
        for _ in range(4):
            (j,) = _commands(t.pid, ini, "why=__main__.Stable:2000")
            assert j["status"] == "ok", j
            assert j["chains"], j
            top = j["chains"][0]
            assert top["path"][0] == "module __main__ .stable", top
            assert top["path"][-1] == "Stable", top
            assert 0 < j["max_pause_ns"] <= j["pause_ns"], j
            assert t.alive(), t.stderr()
        assert t.stderr() == "", t.stderr()
    finally:
        t.stop()


def _confirm_config(ms):
    d = tmpdir()
    ini = os.path.join(d, "pymemtop.ini")
    with open(ini, "w") as f:
        f.write("[agent]\nconfirm_pause_ms = %d\n" % ms)
    return ini


def test_stop_the_world_commands_ask_first_headless(py):
    """Over [agent] confirm_pause_ms (0 here: every prediction is over it) a
    hunt and collect=2 fail with exit 6 and a line naming the predicted pause
    and --force; with --force they run; collect=0 never asks."""
    t = _target(py, STEADY, 50000)
    try:
        ini = _confirm_config(0)
        for spec in ("hunt", "collect=2"):
            p = pymemtop("--config", ini, "--json", "--command", spec, t.pid, timeout=120)
            assert p.returncode == 6, (p.returncode, p.stdout, p.stderr)
            j = json.loads(p.stdout.splitlines()[-1])
            assert j["status"] == "error" and j["predicted_pause_ns"] > 0, j
            assert "would stop the target for ~" in j["message"], j
            assert "--force" in j["message"] and "--force" in p.stderr, (j, p.stderr)
            p = pymemtop("--config", ini, "--json", "--force", "--command", spec, t.pid,
                         timeout=120)
            assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
            j = json.loads(p.stdout.splitlines()[-1])
            assert j["status"] == "ok" and "predicted_pause_ns" not in j, j
            # The whole command's pause, collection included, is reported.
            assert j["pause_ns"] > 0, j
        (j,) = _commands(t.pid, ini, "collect=0")
        assert j["status"] == "ok", j
        assert t.alive()
    finally:
        t.stop()


def test_big_hunt_asks_first_in_dashboard():
    """y shows the predicted pause and waits; y again runs the hunt."""
    import re
    from common import Tmux, find_pythons
    pys, _ = find_pythons()
    py = next((p for p in pys if p.path == "/usr/bin/python3"), pys[0])
    t = Target(py)
    ini = _confirm_config(0)
    tm = Tmux(["--config", ini, t.pid], 100, 30)
    try:
        tm.wait_for(r"pauses\s+\d+")
        tm.send("y")
        tm.wait_for(r"hunt would stop the target for ~[0-9.]+ s: press the key again", timeout=30)
        assert "Node -.child-> Node" not in tm.capture()
        tm.send("y")
        tm.wait_for(r"Node -\.child-> Node", timeout=30)
        tm.send("q")
        tm.wait_for(r"EXIT=0")
    finally:
        tm.kill()
        t.stop()


def test_longest_hold_says_what_it_was(py):
    """The longest stall the agent caused says what it was: with the census
    in one piece (max_pause_ms 1000) over 300k objects, its walk is that
    stall, all of it on the agent thread's CPU on an idle machine, none of it
    a collection; the Overview names it beside the duration."""
    t = _target(py, STEADY, 300000)
    ini = _config(1000)
    try:
        rec = os.path.join(tmpdir(), "rec.jsonl")
        pymemtop("--config", ini, "--record", rec, "--duration", "3", "--interval", "0.3",
                 t.pid, check=0, timeout=120)
        samples = [json.loads(l) for l in open(rec) if '"event"' not in l]
        ag = samples[-1]["agent"]
        census = [s["census"] for s in samples if s["census"]["censuses"]]
        assert census and census[-1]["slices"] == 1, census[-1:]
        assert ag["max_pause_1min_ns"] >= census[-1]["max_slice_ns"], (ag, census[-1])
        assert ag["max_pause_1min_what"] == "census walk", ag
        # The thread CPU clock is read just after the wall clock at the start
        # and just after it at the end: within a few us of the wall time, and
        # most of it when nothing else wants the CPU (2 cores, 2 test jobs).
        assert ag["max_pause_1min_cpu_ns"] <= ag["max_pause_1min_ns"] + 200000, ag
        assert ag["max_pause_1min_cpu_ns"] > 0, ag
        assert 0 <= ag["max_pause_1min_gc_ns"] <= ag["max_pause_1min_ns"], ag
        # Replaying the recording shows the same stall and what it was.
        from common import Tmux
        tm = Tmux(["--replay", rec], 140, 30)  # the label is the first field to go
        try:
            tm.wait_for(r"pymemtop max 1m\s+\S+\s+in census walk")
        finally:
            tm.kill()
    finally:
        t.stop()


# ~1.5 GB in pymalloc blocks (bytes of 400: size class 448): walking its
# pools takes a few ms, more than a 1 ms [agent] max_pause_ms allows.
def _ready_then_sleep(body):
    """A target that runs `body` (which may use %(n)d), says ready in its
    state file (argv[1]) and sleeps."""
    return ("import json, os, sys, time\nstate = sys.argv[1]\n" + body +
            "\nwith open(state + '.tmp', 'w') as f:\n    json.dump({'phase': 'ready'}, f)\n"
            "os.replace(state + '.tmp', state)\nwhile True:\n    time.sleep(0.05)\n")


BIG_PYMALLOC = _ready_then_sleep("blobs = [bytes(400) for _ in range(%(n)d)]")


def test_pymalloc_walk_left_out_over_max_pause(py):
    """A pymalloc walk that would hold the GIL longer than max_pause_ms is
    left out and says so (alloc.pymalloc_skipped_predict_ns); with a
    generous max_pause the same heap is walked and its size seen. So is
    sys.getallocatedblocks(), which walks the same pools from 3.9 on
    (alloc.blocks_skipped_predict_ns; 3.8 keeps a counter)."""
    # Pools are 4 KiB before 3.10, 16 KiB after: the same number of pools
    # (the walk's cost) from a quarter of the bytes.
    small_pools = py.minor < (3, 10)
    blobs = 850000 if small_pools else 3400000
    t = _target(py, BIG_PYMALLOC, blobs)
    try:
        tight, loose = _config(1), _config(1000)
        want = 0.33e9 if small_pools else 1.3e9
        seen = {}

        def recorded(ini, key):
            # A short --record: its samples after the first follow its
            # max_pause (the first is taken as it connects, before its
            # settings reach the agent).
            rec = os.path.join(tmpdir(), "rec.jsonl")
            pymemtop("--config", ini, "--interval", "0.5", "--record", rec, "--duration", "3",
                     t.pid, timeout=120)
            allocs = [x["alloc"] for x in map(json.loads, open(rec)) if "alloc" in x]
            seen[key] = allocs
            return allocs

        walks_pools = py.minor >= (3, 9)

        def skipped():
            return [a for a in recorded(tight, "tight")
                    if a["pymalloc_skipped_predict_ns"] > 1000000 and
                    (a["blocks_skipped_predict_ns"] > 1000000) == walks_pools]

        def walked():
            return [a for a in recorded(loose, "loose")
                    if a["pymalloc_skipped_predict_ns"] == 0 and a["pymalloc_used_bytes"] > want
                    and a["blocks_skipped_predict_ns"] == 0 and a["blocks"] > blobs]

        poll(walked, 90, lambda: "a pymalloc walk with max_pause_ms 1000: %s" % seen.get("loose"),
             interval=0.5)
        left_out = poll(skipped, 90, lambda: "the walk left out at max_pause_ms 1: %s"
                        % seen.get("tight"), interval=0.5)
        # Left out, the figures are the last walk's, and say how old they are.
        a = left_out[-1]
        assert a["pymalloc_used_bytes"] > want and a["pymalloc_age_ns"] > 0, a
        assert a["blocks"] > blobs, a  # the last read's, kept
        assert t.alive() and t.stderr() == "", t.stderr()
    finally:
        t.stop()


def test_get_objects_census_left_out_over_max_pause(py):
    """Where the census must use gc.get_objects() (one CPython call: the
    collector's lists are not validated; forced here through the target's
    environment), a periodic census whose predicted hold is over
    max_pause_ms is left out and says so; the table keeps the last census
    taken (a `census` command still takes one, in one piece)."""
    d = tmpdir()
    state = os.path.join(d, "state.json")
    env = dict(os.environ, PYMEMTOP_CENSUS_METHOD="get_objects")
    t = Target(py, code=STEADY % {"n": 300000}, args=(state,), env=env)
    t.state_path = state
    try:
        t.wait_state(lambda s: s.get("phase") == "ready", timeout=60)
        ini = os.path.join(d, "pymemtop.ini")
        with open(ini, "w") as f:
            f.write("[agent]\nmax_pause_ms = 1\n")
        # --once asks for a census: taken whatever it costs, by get_objects.
        once = _once(t.pid, ini)
        assert once["census"]["method"] == "get_objects", once["census"]
        assert _counts(once).get("__main__.Stable") == 5000, once["census"]
        rec = os.path.join(d, "rec.jsonl")
        pymemtop("--config", ini, "--record", rec, "--duration", "8", t.pid, timeout=120)
        samples = [x for x in map(json.loads, open(rec)) if "census" in x]
        skipped = [x["census"]["skipped_predict_ns"] for x in samples
                   if x.get("census", {}).get("skipped_predict_ns")]
        # 300k objects at the agent's 30 ns/object: ~9 ms predicted.
        assert skipped and min(skipped) > 1000000, [x.get("census") for x in samples][-2:]
        assert t.alive() and t.stderr() == "", t.stderr()
    finally:
        t.stop()


# The program traces its own allocations: 100k traced lists, so one copy of
# tracemalloc's traces (_get_traces, ~250 ns each) takes some 25 ms.
TRACED = _ready_then_sleep("import tracemalloc\ntracemalloc.start()\n"
                          "kept = [[i] for i in range(%(n)d)]")


def test_tracemalloc_snapshot_asks_first_then_slices(py):
    """A snapshot while tracing copies every trace in one unsliceable call:
    predicted over confirm_pause_ms it fails (exit 6) naming the prediction
    and --force; forced, it runs and its reduction is sliced (the longest
    hold is less than the whole). A periodic growth report (tm_growth=2) is
    held to max_pause_ms; the final one (tm_growth=1) to confirm_pause_ms.
    The program's own tracing stays on throughout."""
    t = _target(py, TRACED, 100000)
    try:
        d = tmpdir()
        ini = os.path.join(d, "pymemtop.ini")
        with open(ini, "w") as f:
            f.write("[agent]\nconfirm_pause_ms = 1\nmax_pause_ms = 1\n")
        p = pymemtop("--config", ini, "--json", "--command", "snapshot", t.pid, check=None,
                     timeout=120)
        assert p.returncode == 6, (p.returncode, p.stdout, p.stderr)
        j = json.loads(p.stdout.splitlines()[-1])
        assert j["status"] == "error" and j["predicted_pause_ns"] > 1000000, j
        assert "tracemalloc copies its ~" in j["message"] and "--force" in j["message"], j
        p = pymemtop("--config", ini, "--json", "--force", "--command", "snapshot", t.pid,
                     check=None, timeout=120)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        j = json.loads(p.stdout.splitlines()[-1])
        assert j["status"] == "ok" and j["sites"], j
        assert any(s["count"] >= 90000 for s in j["sites"]), j["sites"][:3]
        # Sliced after the copy: more than one hold, the longest not all.
        assert 0 < j["max_pause_ns"] < j["pause_ns"], j
        # Growth (the commands --record sends; a monitor of the test's own
        # here, with the default bounds: max_pause 5 ms, confirm 200 ms): the
        # mark and the final report run, the periodic one is held to
        # max_pause and refused, with its prediction.
        m = agentwire.Monitor(t.pid)
        try:
            assert m.run_command("tm_growth", 0)[0] == 0
            status, msg = m.run_command("tm_growth", 2)
            assert status == -errno.EAGAIN, (status, msg)
            assert "max_pause_ms = 5 ms for a periodic report" in msg, msg
            assert m.run_command("tm_growth", 1)[0] == 0
        finally:
            m.close()
        ini2 = _confirm_config(600000)
        p = pymemtop("--config", ini2, "--json", "--command", "tracemalloc=off", t.pid,
                     check=None, timeout=120)
        assert p.returncode == 6 and "started by the program" in p.stdout, (p.stdout, p.stderr)
        assert t.alive()
    finally:
        t.stop()


# A collector that lets the GIL go mid-collection: every full collection
# finalizes an object whose __del__ sleeps, so the target spends most of its
# time inside a collection whose lists are half rearranged.
SLOW_FINALIZER = r'''
import gc, json, os, sys, time
class Stable:
    pass
class Slow:
    def __del__(self):
        time.sleep(0.6)
state = sys.argv[1]
stable = [Stable() for _ in range(%(n)d)]
with open(state + ".tmp", "w") as f:
    json.dump({"phase": "ready"}, f)
os.replace(state + ".tmp", state)
while True:
    s = Slow()
    s.me = s
    del s
    gc.collect()
    time.sleep(0.15)
'''


def test_census_waits_for_a_collection_that_let_the_gil_go(py):
    """A census that starts while a collection has let the GIL go (a
    finalizer sleeping) waits for it to end, then walks the collector's
    lists: it neither walks half-rearranged lists nor falls back to
    gc.get_objects(), which missed half of a big heap that way."""
    t = _target(py, SLOW_FINALIZER, 50000)
    try:
        ini = _config(5)
        for _ in range(5):
            j = _once(t.pid, ini)
            c = j["census"]
            assert c["method"] == "gc_lists", c
            rows = {r["name"]: r["count"] for r in j["types"]}
            assert rows.get("__main__.Stable") == 50000, (c, rows.get("__main__.Stable"))
        assert t.alive()
    finally:
        t.stop()
