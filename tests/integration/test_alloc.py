"""Allocator numbers and the pass-through counting hook, on every CPython.

The target below obeys commands written to a control file (grow a cache of
Python objects, hold native memory, start/stop tracemalloc) and reports what
it sees itself, including the three allocator function pointers read with
ctypes through PyMem_GetAllocator, so the tests can tell "installed" from
"counting". Its stdout is deterministic. Counting is only on while a monitor
holds a session, so the hook tests speak the wire protocol (lib/proto.h)
directly through AgentClient after `pymemtop --once` has loaded the agent.
"""
import json
import os
import re
import socket
import struct
import time

import agentwire
import common
from common import Target, once_json

TARGET = r'''
import ctypes, gc, json, os, sys, time
DIR = os.path.dirname(os.path.abspath(__file__))
CTL, STATE = os.path.join(DIR, "ctl"), os.path.join(DIR, "state.json")

class PyMemAllocatorEx(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("malloc", ctypes.c_void_p),
                ("calloc", ctypes.c_void_p), ("realloc", ctypes.c_void_p),
                ("free", ctypes.c_void_p)]

def allocators():
    out = []
    for d in range(3):
        a = PyMemAllocatorEx()
        ctypes.pythonapi.PyMem_GetAllocator(ctypes.c_int(d), ctypes.byref(a))
        out.append(a.malloc or 0)
    return out

cache, native, done, tick, checksum = [], [], 0, 0, 0
initial = allocators()

def work(n):
    # Allocation-heavy and self-checking: dicts, strings, lists, frees.
    d = {i: str(i) * 3 for i in range(n)}
    l = [d[i] + "x" for i in range(n)]
    return sum(len(s) for s in l) - 4 * n

def act(cmd):
    global cache, native
    if cmd == "grow_py":        # ~40 MB of small objects in pymalloc
        cache.extend({"k": i, "v": (i, str(i))} for i in range(200000))
    elif cmd == "grow_native":  # 64 MiB through malloc (mmap: above its threshold)
        b = bytearray(64 << 20)
        b[::4096] = b"x" * len(b[::4096])
        native.append(b)
    elif cmd == "tm_start":
        import tracemalloc; tracemalloc.start(1)
    elif cmd == "tm_stop":
        import tracemalloc; tracemalloc.stop()
    elif cmd == "exit":
        sys.exit(0)
    elif cmd == "noop":
        pass
    else:
        raise SystemExit("unknown command " + cmd)

while True:
    try:
        with open(CTL) as f:
            lines = f.read().split("\n")
    except OSError:
        lines = []
    for line in lines:
        if line and int(line.split()[0]) > done:
            act(line.split()[1])
            done = int(line.split()[0])
    r = work(2000)
    checksum += r
    tick += 1
    if tick % 20 == 0:
        print("tick %d work %d" % (tick, r), flush=True)
    try:
        import tracemalloc
        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else -1
    except Exception:
        traced = -1
    st = {"tick": tick, "done": done, "checksum": checksum, "alloc": allocators(),
          "initial": initial, "traced": traced}
    with open(STATE + ".tmp", "w") as f:
        json.dump(st, f)
    os.replace(STATE + ".tmp", STATE)
    time.sleep(0.005)
'''

def _expected_work(n=2000):
    return sum(len(str(i) * 3 + "x") for i in range(n)) - 4 * n


class CtlTarget(Target):
    def __init__(self, py, env=None):
        super().__init__(py, code=TARGET, env=env)
        self.state_path = os.path.join(self.dir, "state.json")
        self.seq = 0
        self.wait_state(lambda s: s["tick"] >= 3)

    def do(self, cmd, timeout=60):
        self.seq += 1
        with open(os.path.join(self.dir, "ctl"), "a") as f:
            f.write("%d %s\n" % (self.seq, cmd))
        seq = self.seq
        return self.wait_state(lambda s: s["done"] >= seq, timeout=timeout)

    def exit_clean(self):
        """A normal interpreter shutdown with whatever hooks are installed."""
        self.check_clean()
        self.seq += 1
        with open(os.path.join(self.dir, "ctl"), "a") as f:
            f.write("%d exit\n" % self.seq)
        rc = self.proc.wait(30)
        assert rc == 0 and self.stderr() == "", (rc, self.stderr())

    def ticks(self, n):
        t = self.state()["tick"]
        return self.wait_state(lambda s: s["tick"] >= t + n)

    def check_clean(self):
        """Alive, every line of its output what it would print unwatched, no stderr."""
        assert self.alive(), "target died: %s" % self.stderr()
        want = "tick %%d work %d" % _expected_work()
        lines = self.stdout().splitlines()
        assert lines, "target printed nothing"
        for i, line in enumerate(lines):
            assert line == want % (20 * (i + 1)), "line %d: %r" % (i, line)
        s = self.state()
        assert s["checksum"] == s["tick"] * _expected_work(), "target computed wrong results"
        assert self.stderr() == "", "target wrote to stderr: %r" % self.stderr()


# ---- the wire protocol, as lib/proto.h documents it ----------------------

MAGIC, VERSION = 0x50544D50, 1
HELLO, BUSY, SAMPLE, COMMAND, REPLY = 1, 2, 3, 4, 5
T_CMD_ID, T_CMD_NAME, T_CMD_ARG, T_STATUS, T_MESSAGE = 60, 61, 62, 63, 64
SAMPLE_TAGS = {
    27: ("blocks", "q"), 35: ("arenas", "q"), 36: ("arenas_highwater", "q"),
    37: ("pymalloc_used_bytes", "q"), 38: ("pymalloc_free_bytes", "q"),
    39: ("pymalloc_time_ns", "Q"), 40: ("pymalloc_cost_ns", "Q"),
    41: ("malloc_used_bytes", "q"), 42: ("malloc_free_bytes", "q"), 43: ("mmap_bytes", "q"),
    44: ("blocks_cost_ns", "Q"), 45: ("hook_on", "Q"), 46: ("hook_calls", "3q"),
    47: ("hook_bytes", "3q"), 48: ("hook_cost_ns", "Q"), 20: ("time_ns", "Q"),
}


class AgentClient(agentwire.Wire):
    """One monitor session with an agent already loaded in `pid`."""

    def __init__(self, pid, interval_ms=100):
        path = "\0" + agentwire.agent_name(pid)[1:]  # abstract: same network namespace as the target

        def greeted():
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(path)
            self.buf = b""
            self.cmd_id = 0
            typ, _ = self.read_frame()
            if typ == BUSY:  # until the agent has seen the previous monitor leave
                self.sock.close()
                return None
            return typ
        typ = common.poll(greeted, 10, "a greeting other than BUSY from the agent",
                          interval=0.05)
        assert typ == HELLO, "expected HELLO, got %d" % typ
        if interval_ms:
            self.command("interval", interval_ms)

    def close(self):
        try:
            self.command("detach", 0)
        finally:
            self.sock.close()

    def command(self, name, arg):
        self.send_command(name, arg)
        while True:
            typ, f = self.read_frame()
            if typ == REPLY and struct.unpack("<Q", f[T_CMD_ID][0])[0] == self.cmd_id:
                return struct.unpack("<q", f[T_STATUS][0])[0], f[T_MESSAGE][0].decode()

    def sample(self):
        """The next SAMPLE, its allocator fields decoded."""
        while True:
            typ, f = self.read_frame()
            if typ != SAMPLE:
                continue
            out = {}
            for tag, (name, fmt) in SAMPLE_TAGS.items():
                if tag in f:
                    v = struct.unpack("<" + fmt, f[tag][0])
                    out[name] = list(v) if len(v) > 1 else v[0]
            return out

    def fresh_sample(self):
        """A sample taken after this call. Samples come every 100 ms while a
        step of the test takes a second or more: many wait in the socket,
        so skip by the agent's own time (CLOCK_MONOTONIC, ours too), not by
        count (skipping one read a sample from before tracemalloc.stop())."""
        now = time.monotonic_ns()
        while True:
            s = self.sample()
            if s["time_ns"] >= now:
                return s


def _load_agent(t):
    j = once_json(t.pid)
    assert j["agent"]["state"] in ("live", "detached"), j["agent"]
    return j


def _hook_on(c):
    status, msg = c.command("alloc_hook", 1)
    assert status == 0, msg
    m = re.fullmatch(r"allocation counters on \(about (\d+(\.\d+)?) ns per allocation\)", msg)
    assert m, msg
    return float(m.group(1))


ALLOC_KEYS = ["blocks", "arenas", "arenas_highwater", "pymalloc_used_bytes",
              "pymalloc_free_bytes", "malloc_used_bytes", "malloc_free_bytes", "mmap_bytes"]
MB = 1 << 20


def test_alloc_numbers_track_python_and_native_growth(py):
    t = CtlTarget(py)
    j0 = once_json(t.pid)
    a0 = j0["alloc"]
    for k in ALLOC_KEYS:
        assert k in a0, "alloc.%s missing: %s" % (k, a0)
    assert 1 <= a0["arenas"] <= a0["arenas_highwater"], a0
    assert a0["pymalloc_used_bytes"] > 100 * 1024, a0
    assert a0["pymalloc_free_bytes"] >= 0, a0
    arena = 256 * 1024 if py.minor < (3, 10) else MB
    assert a0["pymalloc_used_bytes"] + a0["pymalloc_free_bytes"] <= a0["arenas"] * arena, a0
    assert a0["malloc_used_bytes"] > 0 and a0["malloc_free_bytes"] >= 0, a0
    assert 0 <= a0["mmap_bytes"] <= a0["malloc_used_bytes"], a0

    # A Python-object leak shows in pymalloc, not in malloc.
    t.do("grow_py")
    a1 = once_json(t.pid)["alloc"]
    assert a1["pymalloc_used_bytes"] - a0["pymalloc_used_bytes"] > 20 * MB, (a0, a1)
    assert a1["arenas"] > a0["arenas"] and a1["arenas_highwater"] >= a1["arenas"], (a0, a1)
    assert a1["blocks"] - a0["blocks"] > 400000, (a0["blocks"], a1["blocks"])
    assert abs(a1["mmap_bytes"] - a0["mmap_bytes"]) < 16 * MB, (a0, a1)

    # A native leak (malloc, mmapped as it is large) shows in malloc, not pymalloc.
    t.do("grow_native")
    a2 = once_json(t.pid)["alloc"]
    assert a2["mmap_bytes"] - a1["mmap_bytes"] >= 64 * MB, (a1, a2)
    # The 64 MiB buffer, give or take the small frees that happen meanwhile.
    assert a2["malloc_used_bytes"] - a1["malloc_used_bytes"] >= 63 * MB, (a1, a2)
    assert abs(a2["pymalloc_used_bytes"] - a1["pymalloc_used_bytes"]) < 8 * MB, (a1, a2)
    # Both sit inside the RSS.
    rss = once_json(t.pid)["proc"]["rss_kib"] * 1024
    assert a2["pymalloc_used_bytes"] + a2["mmap_bytes"] < rss, (a2, rss)
    t.ticks(25)
    t.check_clean()


def test_alloc_hook_counts_then_stops_but_stays(py):
    t = CtlTarget(py)
    _load_agent(t)
    assert t.state()["alloc"] == t.state()["initial"], "an allocator hook before any 'on'"
    c = AgentClient(t.pid)
    s = c.fresh_sample()
    assert s["hook_on"] == 0 and s["hook_calls"] == [0, 0, 0], s
    ns = _hook_on(c)
    assert 0 <= ns < 200, ns
    s1 = c.fresh_sample()
    s2 = c.fresh_sample()
    assert s1["hook_on"] == 1 and s2["hook_on"] == 1, (s1, s2)
    assert s2["hook_calls"][2] > s1["hook_calls"][2] > 0, (s1, s2)  # OBJ: every dict, str
    assert s2["hook_bytes"][2] > s1["hook_bytes"][2], (s1, s2)
    assert s2["hook_calls"][0] > 0, s2  # RAW: big allocations, the agent's own
    assert sum(s2["hook_calls"]) >= sum(s1["hook_calls"]) and s2["hook_cost_ns"] > 0, (s1, s2)
    hooked = t.ticks(2)["alloc"]
    assert all(h != i for h, i in zip(hooked, t.state()["initial"])), "hook not installed"
    # Pymalloc numbers keep being refreshed with our layer on top.
    assert s2["pymalloc_time_ns"] > s1["pymalloc_time_ns"] or \
        c.fresh_sample()["pymalloc_time_ns"] > s1["pymalloc_time_ns"], (s1, s2)
    assert s2["arenas"] > 0 and s2["pymalloc_used_bytes"] > 0, s2

    status, msg = c.command("alloc_hook", 0)
    assert (status, msg) == (0, "allocation counters off"), (status, msg)
    s3 = c.fresh_sample()
    t.ticks(10)
    s4 = c.fresh_sample()
    assert s3["hook_on"] == 0 and s3["hook_calls"] == s4["hook_calls"], (s3, s4)
    assert t.state()["alloc"] == hooked, "the hook was removed on 'off'"

    # On again: counts restart from zero; detach stops them; the hook stays.
    _hook_on(c)
    s5 = c.fresh_sample()
    assert s5["hook_on"] == 1 and 0 < s5["hook_calls"][2], s5
    c.close()
    t.ticks(10)
    assert t.state()["alloc"] == hooked, "the hook was removed at detach"
    c = AgentClient(t.pid)
    s6 = c.fresh_sample()
    t.ticks(10)
    s7 = c.fresh_sample()
    assert s6["hook_on"] == 0 and s6["hook_calls"] == s7["hook_calls"], (s6, s7)
    c.close()
    t.ticks(25)
    t.exit_clean()


def test_alloc_hook_survives_tracemalloc_either_order(py):
    t = CtlTarget(py)
    _load_agent(t)
    c = AgentClient(t.pid)
    initial = t.state()["initial"]

    # 1. tracemalloc started before us: we go on top of it; its stop()
    # restores what it saved before us and so drops our hook. We must say
    # so, not claim to count.
    t.do("tm_start")
    _hook_on(c)
    a = c.fresh_sample()
    assert a["hook_on"] == 1, a
    t.ticks(5)
    t.do("tm_stop")
    assert t.ticks(2)["alloc"] == initial, "tracemalloc.stop() did not restore the original"
    f = c.fresh_sample()
    t.ticks(5)
    g = c.fresh_sample()
    assert f["hook_on"] == 0 and g["hook_on"] == 0, (f, g)
    assert g["hook_calls"] == f["hook_calls"], "counting while out of the chain? %s %s" % (f, g)
    # 'on' again puts a new layer on top, which counts.
    _hook_on(c)
    h = c.fresh_sample()
    t.ticks(5)
    i = c.fresh_sample()
    assert i["hook_on"] == 1 and i["hook_calls"][2] > h["hook_calls"][2] >= 0, (h, i)
    mine = t.state()["alloc"]
    assert all(m != x for m, x in zip(mine, initial)), (mine, initial)

    # 2. tracemalloc started after us wraps us: we keep counting under it,
    # and its stop() puts us back on top.
    t.do("tm_start")
    assert t.ticks(3)["traced"] > 0
    a = c.fresh_sample()
    t.ticks(5)
    b = c.fresh_sample()
    assert b["hook_on"] == 1 and b["hook_calls"][2] > a["hook_calls"][2], (a, b)
    t.do("tm_stop")
    assert t.ticks(2)["alloc"] == mine, "tracemalloc.stop() did not put our hook back"
    d = c.fresh_sample()
    assert d["hook_on"] == 1, d

    # Repeated start/stop cycles under load, hook on: alive and correct.
    for _ in range(3):
        t.do("tm_start")
        t.ticks(2)
        t.do("tm_stop")
    t.do("grow_py")
    assert c.fresh_sample()["hook_on"] == 1
    t.do("tm_start")  # and exit with tracemalloc wrapping a counting hook
    t.ticks(25)
    t.exit_clean()
    c.sock.close()


def test_alloc_under_pythonmalloc_variants(py):
    """Debug hooks (PYTHONMALLOC=debug): pymalloc still read, hook wraps them.
    Plain malloc (PYTHONMALLOC=malloc): no pymalloc numbers (-1), hook works."""
    for mode in ("debug", "malloc"):
        env = dict(os.environ, PYTHONMALLOC=mode)
        t = CtlTarget(py, env=env)
        a = once_json(t.pid)["alloc"]
        if mode == "debug":
            assert a["arenas"] > 0 and a["pymalloc_used_bytes"] > 0, (mode, a)
        else:
            assert a["arenas"] == -1 and a["pymalloc_used_bytes"] == -1, (mode, a)
            assert a["pymalloc_free_bytes"] == -1 and a["arenas_highwater"] == -1, (mode, a)
        assert a["malloc_used_bytes"] > 0, (mode, a)
        c = AgentClient(t.pid)
        _hook_on(c)
        s1 = c.fresh_sample()
        t.ticks(5)
        s2 = c.fresh_sample()
        assert s2["hook_on"] == 1 and s2["hook_calls"][2] > s1["hook_calls"][2], (mode, s1, s2)
        if mode == "debug":  # refreshed with our layer on top of the debug hooks
            assert s2["pymalloc_used_bytes"] > 0, (mode, s2)
        t.do("tm_start")
        t.ticks(3)
        t.do("tm_stop")
        c.close()
        t.ticks(25)
        t.check_clean()
        t.stop()
