"""Why is it alive (`pymemtop --command why=TYPE --json PID`) and weakref
advice in cycle hunts (`--command hunt --json`), against real targets of
every CPython version: the chain names the module global and its container,
or the thread, frame and local; the sampled instances' refcounts are the same
before and after (seen from the target itself) and they can still be freed.
"""
import re
import json
import os

from common import Target, pymemtop

CACHE_DEMO = r'''
CACHE = {}

class Session:
    def __init__(self, n):
        self.n = n
        self.payload = [n] * 4
'''

TARGET = r'''
import gc, json, os, sys, threading, time, weakref
DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, DIR)
import cache_demo
STATE = os.path.join(DIR, "state.json")

class Request:
    def __init__(self, i):
        self.i = i

PENDING = {}
def handle(q):
    pending = []
    for i in range(40):
        pending.append(Request(i))
    PENDING["refs"] = [weakref.ref(r) for r in pending[-5:]]
    while not os.path.exists(os.path.join(DIR, "release")):
        time.sleep(0.02)
    del pending[:]

t = threading.Thread(target=handle, args=(1,), name="Worker-1", daemon=True)
t.start()
for i in range(300):
    cache_demo.CACHE[i] = cache_demo.Session(i)
newest = [cache_demo.CACHE[k] for k in range(295, 300)]
wrefs = [weakref.ref(s) for s in newest]
del newest
tick = 0
while True:
    tick += 1
    sessions = [w() for w in wrefs]
    requests = [w() for w in PENDING.get("refs", [])]
    state = {
        "tick": tick,
        # minus the reference the list comprehension above holds
        "session_refs": [sys.getrefcount(s) - 1 if s is not None else None for s in sessions],
        "request_refs": [sys.getrefcount(r) - 1 if r is not None else None for r in requests],
    }
    del sessions, requests
    if os.path.exists(os.path.join(DIR, "release")):
        cache_demo.CACHE.clear()
        gc.collect()
        state["sessions_freed"] = all(w() is None for w in wrefs)
        state["requests_freed"] = all(w() is None for w in PENDING.get("refs", []))
    with open(STATE + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(STATE + ".tmp", STATE)
    time.sleep(0.02)
'''


def why(pid, type_name, budget=None):
    spec = "why=%s" % type_name + (":%d" % budget if budget else "")
    p = pymemtop("--json", "--command", spec, pid, timeout=60)
    line = p.stdout.splitlines()[0] if p.stdout else ""
    assert line, "no JSON from %s: rc %d, stderr %s" % (spec, p.returncode, p.stderr)
    return p.returncode, json.loads(line)


def launch(py):
    """The target, started only once its module is in place."""
    import common
    import subprocess
    d = common.tmpdir()
    with open(os.path.join(d, "cache_demo.py"), "w") as f:
        f.write(CACHE_DEMO)
    with open(os.path.join(d, "target.py"), "w") as f:
        f.write(TARGET)
    t = Target.__new__(Target)
    t.dir = d
    t.state_path = os.path.join(d, "state.json")
    t.out_path = os.path.join(d, "stdout")
    t.err_path = os.path.join(d, "stderr")
    t.out = open(t.out_path, "w")
    t.err = open(t.err_path, "w")
    t.proc = subprocess.Popen(py.argv(os.path.join(d, "target.py")), stdout=t.out,
                              stderr=t.err, stdin=subprocess.DEVNULL)
    common._procs.append(t.proc)
    t.pid = t.proc.pid
    t.wait_state(lambda s: s["tick"] >= 3 and len(s["request_refs"]) == 5)
    return t


def check_unchanged_and_freeable(t, before, key):
    now = t.state()["tick"]
    after = t.wait_state(lambda s: s["tick"] >= now + 3)
    assert after[key] == before[key], "refcounts changed: %s -> %s" % (before[key], after[key])
    with open(os.path.join(t.dir, "release"), "w"):
        pass
    freed = t.wait_state(lambda s: "sessions_freed" in s and s["requests_freed"])
    assert freed["sessions_freed"] is True, freed


def test_why_cache_leak_names_module_global_and_container(py):
    t = launch(py)
    before = t.state()
    rc, j = why(t.pid, "cache_demo.Session")
    assert rc == 0 and j["status"] == "ok", j
    assert j["type"] == "cache_demo.Session", j
    assert j["sampled"] == 5, j
    assert j["pause_ns"] > 0 and j["pause_ns"] < 1000000000, j
    top = j["chains"][0]
    assert top["count"] == j["sampled"], j
    assert top["path"][0] == "module cache_demo .CACHE", top
    assert top["path"][1].startswith("dict ["), top
    assert top["path"][-1] == "Session", top
    assert "held by module cache_demo .CACHE -> dict" in j["message"], j["message"]
    # A bare class name works when it is unambiguous.
    rc, j2 = why(t.pid, "Session")
    assert rc == 0 and j2["chains"][0]["path"][0] == "module cache_demo .CACHE", j2
    check_unchanged_and_freeable(t, before, "session_refs")
    t.stop()
    assert t.stderr() == "", t.stderr()


def test_why_thread_local_names_thread_and_frame(py):
    t = launch(py)
    before = t.state()
    rc, j = why(t.pid, "__main__.Request")
    assert rc == 0 and j["status"] == "ok", j
    top = j["chains"][0]
    assert top["count"] == j["sampled"] == 5, j
    assert top["path"][0] == "thread Worker-1 frame handle() local 'pending'", top
    assert top["path"][1].startswith("list ["), top
    assert top["path"][-1] == "Request", top
    now = t.state()["tick"]
    after = t.wait_state(lambda s: s["tick"] >= now + 3)
    assert after["request_refs"] == before["request_refs"], (before, after)
    check_unchanged_and_freeable(t, before, "session_refs")
    t.stop()
    assert t.stderr() == "", t.stderr()


def test_why_unknown_type_and_tiny_budget(py):
    t = launch(py)
    rc, j = why(t.pid, "NoSuchClassAnywhere")
    assert rc != 0 and j["status"] == "error", j
    assert "no tracked instance" in j["message"], j
    # A 1 ms budget still answers (a chain, or says none was found in budget).
    rc, j = why(t.pid, "cache_demo.Session", budget=1)
    assert j["status"] == "ok", j
    assert j["chains"] or "no chain found within budget" in j["message"], j
    assert t.alive()
    t.stop()


CYCLES = r'''
import gc, time
gc.set_threshold(100000, 10, 10)
class Node:
    def __init__(self, parent=None):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)
class Res:
    def __del__(self):
        pass
rounds = 0
while True:
    for _ in range(50):
        root = Node()
        Node(root)
        r = Res()
        r.me = r
    rounds += 1
    if rounds == 5:  # cycles made and left for the collector
        print("ready", flush=True)
    time.sleep(0.02)
'''


def test_hunt_advice_names_back_edge(py):
    t = Target(py, code=CYCLES)
    t.wait_output("ready")
    p = pymemtop("--json", "--command", "hunt", t.pid, check=0, timeout=60)
    j = json.loads(p.stdout.splitlines()[0])
    shapes = {s["path"]: s for s in j["shapes"]}
    node = [s for path, s in shapes.items() if ".parent" in path and "Node" in path]
    assert node, sorted(shapes)
    assert node[0]["advice"].startswith("break .parent with weakref.ref"), node[0]
    assert "Node.parent points back" in node[0]["advice"], node[0]
    res = shapes.get("Res -.me-> Res")
    assert res and "Res defines __del__" in res["advice"], res
    t.stop()


def test_w_key_shows_the_holder_chain():
    import common
    py = next(p for p in common.find_pythons()[0] if p.path == "/usr/bin/python3")
    t = common.Target(py)  # the demo: Session objects leak into a module-level CACHE
    tm = common.Tmux([t.pid], 100, 30)
    tm.wait_for(r"Python %s" % re.escape(py.version))
    tm.send("2")
    tm.wait_for(r"Session")
    tm.send("/")
    tm.send("Session", "Enter")
    tm.wait_for(r"filter 'Session'")
    tm.send("w")
    _, screen = tm.wait_for(r"why is it alive", timeout=15)
    assert re.search(r"\d+ of \d+: module __main__ \.CACHE -> dict \[<int>\] -> Session", screen), \
        screen
    tm.send("x")  # any key closes it
    tm.send("q")
    tm.wait_for(r"EXIT=0")
    assert t.alive() and t.stderr() == ""
