"""Several monitors on one target at once (issue 12 part 3): a dashboard, a
--record, --once runs, a --command and raw protocol clients share one agent;
each gets its own samples, pauses and answers; one leaving or misbehaving
disturbs none of the others; the last one out takes the GC hook with it; a
9th is refused with one true line. Real processes only."""
import json
import os
import re
import signal
import struct
import subprocess

import agentwire
import common
from common import Target, Tmux, once_json, pymemtop

MAGIC, VERSION = 0x50544D50, 1
HELLO, BUSY, SAMPLE, COMMAND, REPLY, CENSUS = 1, 2, 3, 4, 5, 6
SHAPES = 10  # sent after every SAMPLE (the cycle capture)
T_PID, T_TIME_NS, T_GC_COLLECTIONS, T_PAUSE_COUNT, T_PAUSES_DROPPED, T_PAUSE = 2, 20, 24, 28, 33, 34
T_CMD_ID, T_CMD_NAME, T_CMD_ARG, T_STATUS, T_MESSAGE = 60, 61, 62, 63, 64
T_WALL_NS = 100
T_MONITORS, T_MONITORS_MAX, T_MONITOR_PIDS = 160, 161, 162
MAX_MONITORS = 8

# Collects often, in every generation, and makes cycles for it to find.
COLLECTOR = """
import gc, time
n = 0
while True:
    x = []
    x.append(x)
    n += 1
    if n % 20 == 0:
        gc.collect(n // 20 % 3)
    time.sleep(0.002)
"""

# A heap worth a long census, and a thread that keeps the GIL busy: the
# agent's slices wait for it at every switch interval (100 ms here).
BIG = """
import sys, threading, time
data = [[i] for i in range(400000)]
sys.setswitchinterval(0.1)
def spin():
    while True:
        sum(range(1000))
threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(1)
"""


class Raw(agentwire.Monitor):
    """A monitor speaking the protocol itself (same network namespace as the
    target: connects by name), to see exactly which frames it is sent."""

    def __init__(self, pid, expect=HELLO):
        super().__init__(pid, timeout_s=10)
        self.buf, self.cmd_id, self.frames = b"", 0, []
        self.typ, self.first = self.frame()
        assert self.typ == expect, "expected frame %d first, got %d" % (expect, self.typ)

    def frame(self):
        typ, fields = self.read_frame()
        self.frames.append(typ)
        return typ, fields

    def command(self, name, arg):
        """(status, message, frame types seen before the reply)."""
        cid = self.send_command(name, arg)
        seen = []
        while True:
            typ, f = self.frame()
            if typ == REPLY and u64(f[T_CMD_ID][0]) == cid:
                return i64(f[T_STATUS][0]), f[T_MESSAGE][0].decode(), seen
            seen.append((typ, f))

    def sample(self):
        """The next SAMPLE: time, collections (all generations), its pauses."""
        while True:
            typ, f = self.frame()
            if typ == REPLY:
                raise AssertionError("a REPLY to a command this monitor never sent")
            if typ != SAMPLE:
                continue
            return {
                "time_ns": u64(f[T_TIME_NS][0]),
                "collections": sum(struct.unpack("<3q", f[T_GC_COLLECTIONS][0])),
                "pause_count": u64(f[T_PAUSE_COUNT][0]),
                "dropped": u64(f[T_PAUSES_DROPPED][0]),
                "monitors": u64(f[T_MONITORS][0]) if T_MONITORS in f else None,
                "pauses": [struct.unpack("<QQqqQ", v) for v in f.get(T_PAUSE, [])],
            }


def u64(b):
    return struct.unpack("<Q", b)[0]


def i64(b):
    return struct.unpack("<q", b)[0]


def _record(pid, interval="0.1"):
    d = common.tmpdir()
    rec, err = os.path.join(d, "rec.jsonl"), os.path.join(d, "stderr")
    p = subprocess.Popen([common.BIN, "--record", rec, "--interval", interval, str(pid)],
                         stdout=subprocess.DEVNULL, stderr=open(err, "w"),
                         stdin=subprocess.DEVNULL)
    common._procs.append(p)
    p.rec, p.err_path = rec, err
    common.poll(lambda: _samples(rec), 15, lambda: "--record's first sample; stderr: %s"
                % open(err).read(), interval=0.05, alive=p)
    return p


def _samples(path):
    try:
        with open(path) as f:
            return [r for r in (json.loads(x) for x in f if x.strip()) if "agent" in r]
    except (OSError, ValueError):
        return []


def _growing(rec, what, by=3, timeout=10):
    n = len(_samples(rec.rec))
    common.poll(lambda: len(_samples(rec.rec)) >= n + by, timeout,
                lambda: "%s: --record to get %d more samples; stderr: %s"
                % (what, by, open(rec.err_path).read()), interval=0.05, alive=rec)


def _header_monitors(tm, n, timeout=10):
    """Until the dashboard's header says n monitors (none shown for 1)."""
    def ok(screen):
        head = "\n".join(screen.splitlines()[:2])
        m = re.search(r"(\d+) monitors", head)
        return (int(m.group(1)) if m else 1) == n and "LIVE" in head
    return tm.wait_screen(ok, timeout, "the dashboard's header to count %d monitors" % n)


def _hook_gone(t):
    tick = t.state()["tick"]
    return t.wait_state(lambda s: s["tick"] > tick and s["callbacks"] == 0, timeout=10)


def test_monitors_four_at_once(py):
    t = Target(py, ["--period", "0.05"])
    tm = Tmux([t.pid], 100, 30)
    tm.wait_for(r"LIVE", timeout=20)
    rec = _record(t.pid, "0.1")
    _header_monitors(tm, 2)
    # --once runs come and go while the others stay; each gets its own data.
    for _ in range(3):
        j = once_json(t.pid)
        assert j["agent"]["injected"] is False and j["agent"]["state"] in ("live", "detached")
        assert j["agent"]["monitors"] == 3, j["agent"]
        assert j["agent"]["samples"] >= 1 and j["gc"]["collections"], j
    # A --command's answer goes to its sender: it gets the census ...
    p = pymemtop("--command", "census", "--json", t.pid, check=0)
    first = json.loads(p.stdout.splitlines()[0])
    assert first["status"] == "ok" and first["types"], first
    # ... and a raw monitor watching meanwhile sees samples, never a REPLY.
    raw = Raw(t.pid)
    status, msg, seen = raw.command("interval", 100)
    assert status == 0, msg
    assert u64(raw.first[T_MONITORS][0]) == 3, "HELLO's monitors"
    other = Raw(t.pid)
    status, msg, _ = other.command("census", 0)
    assert status == 0 and msg == "census taken", msg
    for _ in range(5):
        s = raw.sample()  # raises on a REPLY that is not its own
        assert s["monitors"] in (3, 4), s
    assert raw.frames.count(REPLY) == 1, "replies other than to its own interval: %s" % raw.frames
    other.close()
    _header_monitors(tm, 3)
    _growing(rec, "with four monitors, after one left")
    # The dashboard followed all of that: it shows the count as it changes.
    rec.send_signal(signal.SIGINT)
    assert rec.wait(10) == 0, open(rec.err_path).read()
    _header_monitors(tm, 2)
    raw.close()
    _header_monitors(tm, 1)
    s = t.state()
    # Two entries: the pause timer and the cycle capture's (agent_gc.c).
    assert s["callbacks"] == 2, "the dashboard's hooks went with the others: %s" % s
    tm.send("q")
    tm.wait_for(r"EXIT=0", timeout=10)
    _hook_gone(t)  # the last one out took the hook with it
    assert t.alive() and t.stderr() == ""


def test_monitors_interval_is_per_monitor(py):
    t = Target(py, ["--period", "0.05"])
    once_json(t.pid)
    fast, slow = Raw(t.pid), Raw(t.pid)
    assert fast.command("interval", 100)[0] == 0
    assert slow.command("interval", 1000)[0] == 0
    # While the slow one gets one interval the fast one gets many: each is
    # sent at its own pace, not at the fastest monitor's ...
    s1, s2 = slow.sample(), slow.sample()
    fast_times = []
    while not fast_times or fast_times[-1] < s2["time_ns"]:
        fast_times.append(fast.sample()["time_ns"])
    between = [x for x in fast_times if s1["time_ns"] < x <= s2["time_ns"]]
    assert len(between) >= 6, "the 100 ms monitor got %d samples in the 1 s one's interval" % (
        len(between))
    # ... from one reading of the target for both: the slow one's sample is
    # one of the fast one's.
    assert s2["time_ns"] in fast_times, "the slow monitor's sample was a reading of its own"
    # A third at the fast one's interval, arriving at another phase: after
    # its first sample (at once) it is sent the fast one's readings, not
    # readings of its own in between.
    twin = Raw(t.pid)
    assert twin.command("interval", 100)[0] == 0
    twin_times = [twin.sample()["time_ns"] for _ in range(6)][2:]
    while fast_times[-1] < twin_times[-1]:
        fast_times.append(fast.sample()["time_ns"])
    assert set(twin_times) <= set(fast_times), (
        "monitors at one interval got separate readings", twin_times, fast_times[-12:])
    twin.close()
    fast.close()
    slow.close()
    _hook_gone(t)


def test_monitors_pauses_to_each(py):
    t = Target(py, code=COLLECTOR)
    common.poll(lambda: t.alive() and os.path.exists("/proc/%d" % t.pid), 10)
    once_json(t.pid)
    a = Raw(t.pid)
    assert a.command("interval", 100)[0] == 0
    b = Raw(t.pid)
    assert b.command("interval", 300)[0] == 0
    runs = {"a": [a.sample()], "b": [b.sample()]}
    # Read both until each has seen at least 30 collections of its own.
    for name, c in (("a", a), ("b", b)):
        while runs[name][-1]["collections"] - runs[name][0]["collections"] < 30:
            runs[name].append(c.sample())
    # b was not read while a was: its samples waited in its socket, its
    # pauses in the ring; now read a again so that it covers b's window.
    while runs["a"][-1]["time_ns"] < runs["b"][-1]["time_ns"]:
        runs["a"].append(a.sample())
    ends = {}
    for name, rs in runs.items():
        pauses = [p for s in rs[1:] for p in s["pauses"]]
        got = len(pauses)
        want = rs[-1]["collections"] - rs[0]["collections"]
        assert all(s["dropped"] == 0 for s in rs), (name, [s["dropped"] for s in rs])
        # gc.get_stats() and the hook's events, read in one GIL hold: equal,
        # give or take a collection in flight at either end.
        assert abs(got - want) <= 1, "%s: %d pause events for %d collections" % (name, got, want)
        end_ns = [p[0] for p in pauses]
        assert len(set(end_ns)) == len(end_ns), "%s got a pause twice" % name
        assert rs[-1]["pause_count"] - rs[0]["pause_count"] == got, (name, got)
        ends[name] = (set(end_ns), rs[0]["time_ns"], rs[-1]["time_ns"])
    # Both saw the same events where their windows overlap.
    lo = max(ends["a"][1], ends["b"][1])
    hi = min(ends["a"][2], ends["b"][2])
    in_a = {e for e in ends["a"][0] if lo < e <= hi}
    in_b = {e for e in ends["b"][0] if lo < e <= hi}
    assert in_b and in_a == in_b, "the monitors saw different pauses: %d vs %d (%d common)" % (
        len(in_a), len(in_b), len(in_a & in_b))
    a.close()
    b.close()
    assert t.alive() and t.stderr() == ""


def test_monitors_garbage_and_quitters_dropped_alone(py):
    t = Target(py, ["--period", "0.05"])
    rec = _record(t.pid, "0.1")
    # Garbage: dropped, never answered.
    bad = Raw(t.pid)
    bad.sock.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(64))
    try:
        while True:
            typ, _ = bad.frame()
            assert typ in (SAMPLE, SHAPES, CENSUS), "garbage got an answer: frame %d" % typ
    except (EOFError, ConnectionResetError):
        pass
    bad.close()
    _growing(rec, "after a monitor sent garbage")
    # A frame of the wrong type from a monitor: the same.
    wrong = Raw(t.pid)
    wrong.sock.sendall(struct.pack("<IHHI", MAGIC, VERSION, SAMPLE, 0))
    try:
        while True:
            wrong.frame()
    except (EOFError, ConnectionResetError):
        pass
    wrong.close()
    # "detach" closes that connection only, after its reply.
    leaver = Raw(t.pid)
    status, msg, _ = leaver.command("detach", 0)
    assert (status, msg) == (0, "detached"), (status, msg)
    try:
        while True:
            typ, _ = leaver.frame()
            assert typ in (SAMPLE, SHAPES, CENSUS), "frame %d after the detach reply" % typ
    except (EOFError, ConnectionResetError):
        pass
    leaver.close()
    # Gone in the middle of its command: the census is taken, nobody is hurt.
    quitter = Raw(t.pid)
    quitter.send_command("census", 0)
    quitter.close()
    _growing(rec, "after one left mid-command")
    # Stops reading while asking for censuses: once its socket is full the
    # agent's send times out (SO_SNDTIMEO) and it alone is dropped.
    stuck = Raw(t.pid)
    for _ in range(200):
        try:
            stuck.send_command("census", 0)
        except OSError:
            break
    j = common.poll(lambda: (lambda j: j["agent"]["monitors"] == 2 and j)(once_json(t.pid)), 30,
                    "the monitor that stopped reading to be dropped")
    _growing(rec, "after the one that stopped reading was dropped")
    stuck.close()
    rec.send_signal(signal.SIGINT)
    assert rec.wait(10) == 0, open(rec.err_path).read()
    _hook_gone(t)
    assert t.alive() and t.stderr() == ""


def test_monitors_ninth_refused(py):
    t = Target(py, ["--period", "0.05"])
    rec = _record(t.pid, "0.2")
    raws = [Raw(t.pid) for _ in range(MAX_MONITORS - 1)]
    p = pymemtop("--once", "--json", t.pid, timeout=30)
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    j = json.loads(p.stdout)
    assert j["error"] == "busy", j
    msg = j["message"]
    assert "\n" not in msg and "already serves %d monitors" % MAX_MONITORS in msg, msg
    assert str(rec.pid) in msg and str(os.getpid()) in msg, msg
    p = pymemtop("--once", t.pid, timeout=30)
    assert p.returncode == 3 and p.stderr.strip().count("\n") == 0, p.stderr
    assert "already serves %d monitors" % MAX_MONITORS in p.stderr, p.stderr
    # A raw 9th sees the BUSY fields themselves.
    ninth = Raw(t.pid, expect=BUSY)
    assert u64(ninth.first[T_MONITORS][0]) == MAX_MONITORS
    assert u64(ninth.first[T_MONITORS_MAX][0]) == MAX_MONITORS
    assert i64(ninth.first[T_PID][0]) in (rec.pid, os.getpid()), ninth.first
    ninth.close()
    _growing(rec, "after the 9th was refused")
    # One leaves: there is room again.
    raws.pop().close()
    j = common.poll(lambda: _once_or_none(t.pid), 10, "a free slot after one monitor left")
    assert j["agent"]["monitors"] == MAX_MONITORS, j["agent"]
    for r in raws:
        r.close()
    rec.send_signal(signal.SIGINT)
    assert rec.wait(10) == 0
    _hook_gone(t)
    assert t.alive() and t.stderr() == ""


def _once_or_none(pid):
    p = pymemtop("--once", "--json", pid, timeout=30)
    return json.loads(p.stdout) if p.returncode == 0 else None


def test_monitors_samples_flow_during_a_long_command(py):
    t = Target(py, code=BIG)
    t.wait_output("ready", timeout=60)
    once_json(t.pid)
    a = Raw(t.pid)
    assert a.command("max_pause", 1)[0] == 0  # many short slices
    b = Raw(t.pid)
    assert b.command("interval", 100)[0] == 0
    status, msg, seen = a.command("census", 0)
    assert status == 0, msg
    census = [f for typ, f in seen if typ == CENSUS][-1]
    start = u64(census[T_TIME_NS][0])
    wall = u64(census[T_WALL_NS][0])
    assert wall >= 300 * 10**6, "the census took only %.0f ms (%d slices): too short to tell" % (
        wall / 1e6, u64(census[102][0]))
    times = []
    while not times or times[-1] < start + wall:
        times.append(b.sample()["time_ns"])
    inside = [x for x in times if start < x < start + wall]
    # Samples are sent between the census's slices, not after it: the 100 ms
    # monitor gets readings taken while the census was under way.
    assert len(inside) >= wall // (300 * 10**6), (
        "%d samples during a %.0f ms census" % (len(inside), wall / 1e6))
    # The census's own pause is its own: the samples' GIL holds are not in it.
    assert i64(census[T_WALL_NS][0]) > 0
    a.close()
    b.close()
    assert t.alive() and t.stderr() == ""
