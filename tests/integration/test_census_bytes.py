"""Bytes per type in the census, against real targets on every CPython found:
per-type bytes equal to what sys.getsizeof sums over gc.get_objects() in
the target itself (list, dict, set, frozenset, tuple, user classes with and
without __dict__ and __slots__, a dict subclass), on a steady heap; a
fat-list leak (few objects, megabytes a second) ranked first by bytes in
the leak gate; a container that grows with a flat count becomes a suspect;
the Objects view shows the bytes column."""
import json
import os
import re

from common import Target, Tmux, pymemtop, tmpdir

# Builds a known heap, then, on each order in the control file, sums
# sys.getsizeof per type over gc.get_objects() (named as the census names
# types) into the state file. Collection is off and nothing else runs, so
# between that sum and the next census the heap does not change, except
# for what the order and the state file write make and free.
STEADY = r'''
import gc, json, os, sys, time

class Plain:
    def __init__(self, i):
        self.i = i
        self.name = "p%d" % i

class Slotted:
    __slots__ = ("a", "b")

class Mapping(dict):
    pass

class Wide:
    pass

state, ctl = sys.argv[1], sys.argv[2]
heap = {
    "lists": [list(range(n)) for n in (0, 1, 5, 17, 100, 1000, 25000)] + [[None] * 7 for _ in range(300)],
    "grown": [],
    "dicts": [{("k%d" % i): i for i in range(n)} for n in (1, 5, 9, 100, 3000)]
             + [{i: i for i in range(n)} for n in (3, 70, 70000)] + [{"a": [], "b": ()} for _ in range(200)],
    "sets": [set(range(n)) for n in (0, 1, 4, 5, 50, 20000)] + [frozenset(range(n)) for n in (3, 40)],
    "tuples": [tuple([i, []]) for i in range(400)] + [tuple(range(n)) + ([],) for n in (10, 500)],
    "plain": [Plain(i) for i in range(700)],
    "slotted": [Slotted() for _ in range(300)],
    "mapping": [Mapping(x=i, y=[i]) for i in range(50)],
    "wide": [],
}
for i in range(2000):
    heap["grown"].append([i])
for i in range(40):
    w = Wide()
    for k in range(i % 12):
        setattr(w, "a%d" % k, k)
    heap["wide"].append(w)
gc.collect()
gc.disable()
# The monitor's hook joins gc.callbacks while it is attached: with one
# entry there already, that list keeps its allocation when the hook comes
# and goes, so the monitor changes no list's size.
gc.callbacks.append(lambda phase, info: None)

def type_name(t):
    mod = t.__module__
    return t.__qualname__ if mod == "builtins" else "%s.%s" % (mod, t.__qualname__)

def sums():
    out = {}
    for o in gc.get_objects():
        n = type_name(type(o))
        c, b = out.get(n, (0, 0))
        out[n] = (c + 1, b + sys.getsizeof(o))
    return out

seq = -1
while True:
    try:
        with open(ctl) as f:
            o = json.load(f)
    except (OSError, ValueError):
        o = {"seq": 0}
    if o["seq"] != seq:
        seq = o["seq"]
        s = sums()
        tmp = state + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"seq": seq, "sums": s}, f)
        os.replace(tmp, state)
        del s
    time.sleep(0.02)
'''

# Types whose bytes must match exactly (the target's own bookkeeping makes
# and frees only short-lived objects of other types between sum and census,
# and those of these types it makes are gone by then).
EXACT = ["list", "set", "frozenset", "__main__.Plain", "__main__.Slotted", "__main__.Mapping",
         "__main__.Wide"]
# The interpreter and the agent make and free a few dicts and tuples of
# their own around a census (frames' locals on 3.8-3.10, the state file's
# json.dump, an atexit entry): equal within 2 % or 4 KiB.
CLOSE = ["dict", "tuple"]


def _order(ctl, seq):
    tmp = ctl + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"seq": seq}, f)
    os.replace(tmp, ctl)


def test_census_bytes_equal_getsizeof(py):
    d = tmpdir()
    state, ctl = os.path.join(d, "state.json"), os.path.join(d, "ctl.json")
    t = Target(py, code=STEADY, args=(state, ctl))
    t.state_path = state
    t.wait_state(lambda s: s["seq"] == 0)
    # The first attach loads the agent (its own module and objects); the sum
    # is taken after it, then the census of a second run is compared.
    json.loads(pymemtop("--once", "--json", t.pid, check=0).stdout)
    _order(ctl, 1)
    want = t.wait_state(lambda s: s["seq"] == 1)["sums"]
    ini = os.path.join(d, "pymemtop.ini")
    with open(ini, "w") as f:
        f.write("[census]\njson_types = 100000\n")
    got = json.loads(pymemtop("--config", ini, "--once", "--json", t.pid, check=0).stdout)
    assert got["census"]["method"] in ("gc_lists", "get_objects"), got["census"]
    assert got["census"]["bytes_note"] == "", got["census"]["bytes_note"]
    rows = {r["name"]: r for r in got["types"]}
    for name in EXACT:
        r = rows[name]
        assert not r["bytes_approx"], r
        assert (r["count"], r["bytes"]) == tuple(want[name]), (name, r, want[name])
    for name in CLOSE:
        r, (count, b) = rows[name], want[name]
        assert not r["bytes_approx"], r
        assert abs(r["bytes"] - b) <= max(4096, b // 50), (name, r, want[name])
    # Types with a __sizeof__ of their own (type objects) are marked, and
    # still counted at basicsize + headers: never more than getsizeof says.
    assert rows["type"]["bytes_approx"] and 0 < rows["type"]["bytes"] <= want["type"][1]
    assert got["census"]["bytes_total"] == sum(r["bytes"] for r in got["types"])
    assert got["census"]["bytes_share_of_allocated"] > 0
    t.stop()


# A global list appended a list of 200k ints every 0.5 s: 2 list objects a
# second, 3 MiB a second.
FAT = ("import time\nhold = []\nprint('ready', flush=True)\n"
       "while True:\n    hold.append(list(range(200000)))\n    time.sleep(0.5)\n")


def test_fat_list_leak_ranked_first_by_bytes(py):
    t = Target(py, code=FAT)
    t.wait_output("ready")
    # A census a second, so that a loaded machine still gives several.
    ini = os.path.join(tmpdir(), "pymemtop.ini")
    with open(ini, "w") as f:
        f.write("[census]\ninterval = 1\n")
    p = pymemtop("--config", ini, "--max-growth", "10MiB/min", "--duration", "8", "--json",
                 t.pid, timeout=40, check=7)
    assert "leak gate FAILED" in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    i = lines.index("top growing types by bytes (bytes/min, objects/min, bytes since attach):")
    assert lines[i + 1].split()[0] == "list", p.stderr
    verdict = json.loads(p.stdout)
    types = sorted(verdict["types"], key=lambda r: -r["bytes_rate_per_min"])
    top = types[0]
    assert top["name"] == "list", types[:3]
    # 200k pointers (1.6 MB) twice a second: about 190 MB/min; the count
    # grows by only ~120/min.
    assert top["bytes_rate_per_min"] > 100e6 and top["rate_per_min"] < 1000, top
    assert top["bytes_delta_attach"] > 3 * 1600000, top
    assert t.alive()
    t.stop()


# One list subclass instance grown at each full collection (which the
# monitor runs with collect=2): count flat, bytes up every census.
BAG = r'''
import gc, time
class Bag(list):
    pass
bag = Bag()
def grow(phase, info):
    if phase == "stop" and info["generation"] == 2:
        bag.extend(range(5000))
gc.disable()
gc.callbacks.append(grow)
print("ready", flush=True)
while True:
    time.sleep(0.05)
'''


def test_growing_container_is_a_bytes_suspect(py):
    t = Target(py, code=BAG)
    t.wait_output("ready")
    ini = os.path.join(tmpdir(), "pymemtop.ini")
    with open(ini, "w") as f:
        f.write("[census]\nsuspect_window = 3\n")
    args = ["--config", ini, "--json"]
    for c in ["census", "collect=2"] * 4 + ["census"]:
        args += ["--command", c]
    p = pymemtop(*args, t.pid, check=0, timeout=60)
    outs = [json.loads(line) for line in p.stdout.splitlines()]
    cens = [o for o in outs if o["command"] == "census"]
    bags = [next(r for r in o["types"] if r["name"] == "__main__.Bag") for o in cens]
    assert [b["count"] for b in bags] == [1] * 5, bags
    sizes = [b["bytes"] for b in bags]
    assert all(b > a for a, b in zip(sizes, sizes[1:])), sizes
    assert [b["suspect"] for b in bags] == [False, False, False, True, True], bags
    assert bags[-1]["bytes_delta_attach"] == sizes[-1] - sizes[0] and bags[-1]["delta_attach"] == 0
    t.stop()


def test_objects_view_shows_bytes():
    """The Objects view has bytes and bytes/min columns at 80 and 120
    columns; sorting reaches bytes; the title says how much of the heap the
    table explains."""
    from test_errors import _py
    t = Target(_py(), code=FAT)
    t.wait_output("ready")
    tm = Tmux([t.pid], 80, 24)
    tm.send("2")
    _, screen = tm.wait_for(r"\blist\s+\d+\s+[\d.]+ [KMG]iB", timeout=20)
    assert re.search(r"count\s+bytes\s+attach", screen), screen
    assert re.search(r"of heap\)", screen), screen
    assert all(len(line) <= 80 for line in screen.splitlines()), screen
    tm.send(">")
    _, screen = tm.wait_for(r"sorted by bytes")
    rows = [l for l in screen.splitlines()[5:-1] if l.strip()]
    assert rows[0].split()[0] == "list", screen
    tm.resize(120, 40)
    _, screen = tm.wait_for(r"bytes/min", timeout=10)
    assert all(len(line) <= 120 for line in screen.splitlines()), screen
    tm.send("q")
    tm.wait_for(r"EXIT=0")
    t.stop()


# Small dicts are sized from one in 16 per type (agent_census_bytes.h): Mixed
# holds three shapes of small dict, interleaved; Shrunk holds dicts grown to
# 200 items and deleted down to 2, whose tables stay big: the case a sample
# can miss or overweigh.
SMALL_DICTS = r'''
import gc, json, os, sys, time
class Mixed(dict):
    pass
class Shrunk(dict):
    pass
mixed = []
for i in range(1500):
    k = i %% 3
    mixed.append(Mixed({"a": i}) if k == 0 else Mixed({1: i, 2: i}) if k == 1
                 else Mixed({c: i for c in "abcde"}))
shrunk = []
for i in range(%(shrunk)d):
    d = Shrunk((j, j) for j in range(200))
    for j in range(198):
        del d[j]
    shrunk.append(d)
gc.collect()
sums = {}
for o in gc.get_objects():
    if type(o) in (Mixed, Shrunk):
        n = "__main__." + type(o).__name__
        c, b = sums.get(n, (0, 0))
        sums[n] = (c + 1, b + sys.getsizeof(o))
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(sums, f)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(0.05)
'''


def _small_dict_rows(py, env, shrunk):
    d = tmpdir()
    state = os.path.join(d, "state.json")
    t = Target(py, code=SMALL_DICTS % {"shrunk": shrunk}, args=(state,), env=env)
    t.state_path = state
    want = t.wait_state(lambda s: "__main__.Mixed" in s)
    got = json.loads(pymemtop("--once", "--json", t.pid, check=0).stdout)
    t.stop()
    rows = {r["name"]: r for r in got["types"]}
    return want, rows


def test_small_dicts_sampled_unless_exact_asked(py):
    """Mixed shapes of small dicts: the sampled bytes are within 5 % of
    sys.getsizeof's sum; with PYMEMTOP_CENSUS_DICT_EXACT=1 in the target's
    environment every dict is sized and both types match exactly."""
    env = dict(os.environ)
    want, rows = _small_dict_rows(py, env, 0)
    r = rows["__main__.Mixed"]
    assert r["count"] == want["__main__.Mixed"][0], (r, want)
    assert abs(r["bytes"] - want["__main__.Mixed"][1]) <= want["__main__.Mixed"][1] * 0.05, (
        r, want)
    env["PYMEMTOP_CENSUS_DICT_EXACT"] = "1"
    want, rows = _small_dict_rows(py, env, 40)
    for name in ("__main__.Mixed", "__main__.Shrunk"):
        assert (rows[name]["count"], rows[name]["bytes"]) == tuple(want[name]), (
            name, rows[name], want[name])
