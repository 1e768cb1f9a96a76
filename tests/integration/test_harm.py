"""Never harm the target: load, faults, a killed monitor, two monitors, fork,
interpreter shutdown and who may talk to the agent. Real processes only.

PYMEMTOP_HARM_CYCLES sets the attach / sample / detach cycles per CPython
version in test_harm_cycles_under_load (default 200)."""
import json
import os
import signal
import socket
import stat
import subprocess
import time

import common
from common import ROOT, Target, Tmux, ensure_user, find_pythons, once_json, pymemtop

TARGETS = os.path.join(ROOT, "tests", "targets")
LOAD = os.path.join(TARGETS, "load.py")
FAULT = os.path.join(TARGETS, "harm_fault.py")
EXIT = os.path.join(TARGETS, "harm_exit.py")
FORK = os.path.join(TARGETS, "harm_fork.py")
CYCLES = int(os.environ.get("PYMEMTOP_HARM_CYCLES", "200"))


def note(msg):
    print("NOTE " + msg, flush=True)


def _system_py():
    pys, _ = find_pythons()
    return next((p for p in pys if p.path == "/usr/bin/python3"), pys[0])


def _spawn(py, script, args, env=None):
    """A target running one of our scripts; stdout/stderr kept in files."""
    d = common.tmpdir()
    out, err = os.path.join(d, "stdout"), os.path.join(d, "stderr")
    with open(out, "w") as o, open(err, "w") as e:
        p = subprocess.Popen(py.argv(script, *args, cwd=d), stdout=o, stderr=e,
                             stdin=subprocess.DEVNULL, cwd=d, env=env)
    common._procs.append(p)
    p.out_path, p.err_path, p.dir = out, err, d
    return p


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _reference(py, script, args, cwd=None, timeout=120):
    """The script's exit code, stdout and stderr with nobody watching."""
    p = subprocess.run(py.argv(script, *args, cwd=cwd), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout,
                       cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def _sock_path(pid, uid=0):
    """Where the agent's socket file was before it moved to an abstract name
    (issue 11): nothing may appear there any more."""
    return "/tmp/.pymemtop-%d/%d.sock" % (uid, pid)


def _agent_name(pid):
    """'@pymemtop.PID.RANDOM': the agent's abstract listening name, if one of
    pid's sockets has it (/proc/PID/net/unix, matched by inode)."""
    inodes = common.socket_inodes(pid)
    with open("/proc/%d/net/unix" % pid) as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) > 7 and int(parts[6]) in inodes and \
                    parts[7].startswith("@pymemtop.") and int(parts[3], 16) & 0x10000:
                return parts[7]
    return None


def _wait_file(path, timeout=20, proc=None):
    common.poll(lambda: os.path.exists(path), timeout, "%s to appear" % path, alive=proc)


def _wait_ready(p, timeout=20):
    """Until a target started by _spawn has written DIR/ready: its
    interpreter runs the script's main loop (the harm_* targets write it)."""
    _wait_file(os.path.join(p.dir, "ready"), timeout, proc=p)


def _json_file(path, pred=lambda s: True, timeout=20):
    last = [None]

    def matched():
        try:
            with open(path) as f:
                last[0] = json.load(f)
        except (OSError, ValueError):
            return None
        return last[0] if pred(last[0]) else None
    return common.poll(matched, timeout, lambda: "%s to match; last: %s" % (path, last[0]))


def _touch(path, content=""):
    with open(path + ".tmp", "w") as f:
        f.write(content)
    os.replace(path + ".tmp", path)


def _children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _descendants(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        for c in _children(p):
            seen.append(c)
            todo.append(c)
    return seen


def _monitor_pid(tm, timeout=10):
    """The pymemtop process running in a Tmux session."""
    def found():
        pane = subprocess.run(["tmux", "list-panes", "-t", tm.name, "-F", "#{pane_pid}"],
                              stdout=subprocess.PIPE, text=True).stdout.split()
        for p in ([int(pane[0])] + _descendants(int(pane[0]))) if pane else []:
            try:
                if os.path.realpath("/proc/%d/exe" % p) == os.path.realpath(common.BIN):
                    return p
            except OSError:
                pass
        return None
    return common.poll(found, timeout, "a pymemtop process in tmux session %s" % tm.name,
                       interval=0.05)


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _zombie_children(pid):
    return [c for c in _children(pid) if _proc_state(c) == "Z"]


def _unix_sockets():
    """inode -> path (or '') of every Unix socket, from /proc/net/unix."""
    out = {}
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            out[int(parts[6])] = parts[7] if len(parts) > 7 else ""
    return out


def _tcp_listeners(pid):
    """Inodes of TCP sockets in LISTEN state seen from the target's netns."""
    out = set()
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A":
                        out.add(int(parts[9]))
        except OSError:
            pass
    return out


def _tasks_comm(pid):
    names = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def _record_lines(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def _samples(path):
    return [r for r in _record_lines(path) if "pid" in r and "agent" in r]


def _start_record(pid, interval="0.1", duration=None):
    d = common.tmpdir()
    rec = os.path.join(d, "rec.jsonl")
    args = [common.BIN, "--record", rec, "--interval", interval, str(pid)]
    if duration:
        args[1:1] = ["--duration", str(duration)]
    err = open(os.path.join(d, "stderr"), "w")
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    common._procs.append(p)
    p.rec, p.err_path = rec, os.path.join(d, "stderr")
    common.poll(lambda: _samples(rec), 15, lambda: "--record's first sample; stderr: %s"
                % _read(p.err_path), interval=0.05, alive=p)
    return p


def _assert_growing(mon, what, by=3, timeout=5):
    """The monitor behind mon (a --record run) keeps receiving samples. The
    recording is written through stdio buffering, so allow some time."""
    n = len(_samples(mon.rec))
    common.poll(lambda: len(_samples(mon.rec)) >= n + by, timeout,
                lambda: "%s: %d more samples (%d of %d so far); stderr: %s" % (
                    what, by, len(_samples(mon.rec)) - n, by, _read(mon.err_path)),
                interval=0.05, alive=mon)


# --- under load -------------------------------------------------------------

def test_harm_cycles_under_load(py):
    ref_rc, ref_out, ref_err = _reference(py, LOAD, ["--rounds", "2"])
    assert ref_rc == 0 and ref_err == b"", (ref_rc, ref_err)
    d = common.tmpdir()
    stop, state = os.path.join(d, "stop"), os.path.join(d, "state.json")
    t = _spawn(py, LOAD, ["--stop", stop, "--state", state])
    s0 = _json_file(state, lambda s: len(s["rounds"]) == 7 and min(s["rounds"].values()) >= 1)
    rec = os.path.join(d, "rec.jsonl")
    kinds = [
        ("once", ["--once", "--json"]),
        ("collect=0", ["--command", "collect=0", "--json"]),
        ("census", ["--command", "census", "--json"]),
        ("record", ["--record", rec, "--duration", "0.3", "--interval", "0.1"]),
    ]
    times = {k: [] for k, _ in kinds}
    t_start = time.monotonic()
    for i in range(CYCLES):
        kind, args = kinds[i % len(kinds)]
        c0 = time.monotonic()
        try:
            p = pymemtop(*(args + [t.pid]), timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("cycle %d (%s) hung for 30 s" % (i, kind))
        times[kind].append(time.monotonic() - c0)
        where = "cycle %d (%s): exit %d\nstdout: %s\nstderr: %s" % (i, kind, p.returncode,
                                                                     p.stdout[-500:], p.stderr)
        assert p.returncode == 0, where
        assert t.poll() is None, "target died at %s: %s" % (where, t.returncode)
        if kind == "once":
            j = json.loads(p.stdout)
            assert j["pid"] == t.pid and j["python"] == py.version, where
            assert j["agent"]["state"] in ("live", "detached"), (where, j["agent"])
            assert j["agent"]["injected"] is (i == 0), (where, j["agent"])
        elif kind == "record":
            assert _samples(rec), where
        else:
            j = json.loads(p.stdout.splitlines()[0])
            assert j["status"] == "ok", where
    elapsed = time.monotonic() - t_start
    s1 = _json_file(state)
    _touch(stop)
    try:
        rc = t.wait(60)
    except subprocess.TimeoutExpired:
        raise AssertionError("target did not finish within 60 s of the stop file; state %s"
                             % _json_file(state))
    out, err = _read(t.out_path), _read(t.err_path)
    note("harm cycles [%s]: %d cycles in %.1f s (%s); worker rounds during the run %s"
         % (py.label, CYCLES, elapsed,
            ", ".join("%s %d x avg %.3f max %.3f s" % (k, len(v), sum(v) / len(v), max(v))
                      for k, v in times.items() if v),
            {k: s1["rounds"][k] - s0["rounds"][k] for k in s1["rounds"]}))
    assert rc == 0, "target exit %s; stdout %r stderr %r" % (rc, out, err)
    assert out == ref_out, "checksums differ from the unmonitored run:\n%s\nvs\n%s" % (
        out.decode(), ref_out.decode())
    assert err == ref_err, "target stderr: %r" % err
    final = _json_file(state, lambda s: s["done"])
    assert final["callbacks"] == 0, final
    assert all(s1["rounds"][k] > s0["rounds"][k] for k in s0["rounds"]), (
        "a worker made no progress while monitored", s0, s1)


# --- faults while the dashboard watches ----------------------------------

def _fault_once(py, how):
    d = common.tmpdir()
    go = os.path.join(d, "go")
    t = _spawn(py, FAULT, [go])
    _wait_ready(t)
    tm = Tmux([t.pid], 100, 30)
    tm.wait_for(r"PID %d" % t.pid, timeout=15)
    mon = _monitor_pid(tm)
    tm.wait_for(r"LIVE", timeout=15)  # the dashboard has its samples flowing
    if how == "kill":
        t.kill()
    else:
        _touch(go, how)
    rc = t.wait(15)
    _, screen = tm.wait_for(r"(?i)target exited", timeout=10)
    assert "PID %d" % t.pid in screen, "the last data left the screen:\n" + screen
    assert _zombie_children(mon) == [], "the monitor left zombies"
    tm.send("q")
    tm.wait_for(r"EXIT=0", timeout=10)
    assert _proc_state(mon) in (None,), "the monitor is still there: %s" % _proc_state(mon)
    return t, rc


def test_harm_faults_under_dashboard(py):
    expect = {"exit": 0, "abort": -signal.SIGABRT, "segv": -signal.SIGSEGV,
              "kill": -signal.SIGKILL}
    leftovers = {}
    for how, code in expect.items():
        t, rc = _fault_once(py, how)
        assert rc == code, "%s: target exit %s, expected %s; stderr %r" % (
            how, rc, code, _read(t.err_path)[-500:])
        if how == "exit":
            assert _read(t.out_path) == b"normal end\n", _read(t.out_path)
            assert _read(t.err_path) == b"", _read(t.err_path)
        sock = _sock_path(t.pid)
        leftovers[how] = os.path.exists(sock)
        if how == "exit":
            assert not leftovers[how], "%s left behind after a normal exit" % sock
    note("harm faults [%s]: socket file left behind: %s" % (py.label, leftovers))
    # A crash leaves the socket file of a dead PID: the next attach to a new
    # process that gets that PID must still work, and clean the stale file up.
    _stale_socket_then_attach(py)


def _stale_socket_then_attach(py):
    # A crashed agent leaves nothing: its name was abstract, gone with it.
    t = _spawn(py, FAULT, [os.path.join(common.tmpdir(), "never")])
    _wait_ready(t)
    once_json(t.pid)
    pid = t.pid
    name = _agent_name(pid)
    assert name, "no abstract agent socket in PID %d" % pid
    t.kill()
    t.wait()
    assert name not in _unix_sockets().values(), "%s outlived its process" % name
    assert not os.path.exists(_sock_path(pid)), "a socket file appeared"
    p = pymemtop("--once", "--json", pid, timeout=30)
    assert p.returncode == 4, (p.returncode, p.stderr)
    t2 = _spawn(py, FAULT, [os.path.join(common.tmpdir(), "never")])
    _wait_ready(t2)
    assert once_json(t2.pid)["agent"]["injected"] is True
    t2.kill()
    t2.wait()
    note("harm stale socket [%s]: nothing left after SIGKILL; next attach fine" % py.label)


# --- the monitor is killed ------------------------------------------------

def _wait_hook_gone(t, t_kill):
    """The target's own len(gc.callbacks) back to 0; returns the delay."""
    tick = t.state()["tick"]
    s = t.wait_state(lambda s: s["tick"] > tick and s["callbacks"] == 0, timeout=10)
    return time.monotonic() - t_kill, s


def test_harm_monitor_sigkill(py):
    t = Target(py, ["--period", "0.02"])
    for kind in ("dashboard", "record"):
        if kind == "dashboard":
            tm = Tmux([t.pid], 100, 30)
            tm.wait_for(r"PID %d" % t.pid, timeout=15)
            mon = _monitor_pid(tm)
        else:
            p = _start_record(t.pid)
            mon = p.pid
        tick = t.state()["tick"]
        s = t.wait_state(lambda s: s["tick"] > tick + 1)
        # Two entries: the pause timer (last) and the cycle capture's "stop"
        # (first), probes/agent/agent_gc.c.
        assert s["callbacks"] == 2, "no GC hooks while attached (%s): %s" % (kind, s)
        t_kill = time.monotonic()
        os.kill(mon, signal.SIGKILL)
        delay, s = _wait_hook_gone(t, t_kill)
        # The agent noticed the monitor died and removed its hook by itself
        # (within _wait_hook_gone's deadline); the delay is reported here and
        # measured by `make bench` (bench/run.py, blocked targets), not asserted.
        note("harm monitor SIGKILL [%s] %s: hook gone %.3f s after the kill"
             % (py.label, kind, delay))
        assert t.alive()
        j = once_json(t.pid)
        assert j["agent"]["injected"] is False, (kind, j["agent"])
        assert j["agent"]["state"] in ("live", "detached"), j["agent"]
    assert t.stderr() == ""


# --- two monitors -----------------------------------------------------------

def test_harm_two_monitors(py):
    """A second monitor (and a third...) is served alongside the first, which
    goes on undisturbed; the 9th is refused (test_monitors.py)."""
    t = Target(py, ["--period", "0.05"])
    first = _start_record(t.pid, interval="0.1")
    for args in (["--once", "--json"], ["--command", "census", "--json"], ["--once"]):
        p = pymemtop(*(args + [t.pid]), timeout=30)
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
        if args == ["--once", "--json"]:
            j = json.loads(p.stdout)
            assert j["agent"]["injected"] is False and j["agent"]["monitors"] == 2, j["agent"]
        elif "--json" in args:
            assert json.loads(p.stdout.splitlines()[0])["status"] == "ok", p.stdout
        _assert_growing(first, "the first monitor while %s ran" % " ".join(args))
    # The second dashboard too: it says there are two.
    tm = Tmux([t.pid], 100, 30)
    tm.wait_for(r"2 monitors", timeout=15)
    _assert_growing(first, "the first monitor with a dashboard beside it")
    tm.send("q")
    tm.wait_for(r"EXIT=0", timeout=10)
    _assert_growing(first, "the first monitor after the dashboard left")
    s = t.state()
    # Two entries: the pause timer and the cycle capture's (agent_gc.c).
    assert s["callbacks"] == 2, "the second monitor took the first one's hooks: %s" % s
    first.send_signal(signal.SIGINT)
    assert first.wait(10) == 0, _read(first.err_path)
    tick = t.state()["tick"]
    t.wait_state(lambda s: s["tick"] > tick and s["callbacks"] == 0, timeout=10)
    assert t.alive() and t.stderr() == ""
    assert once_json(t.pid)["agent"]["injected"] is False


# --- fork -----------------------------------------------------------------

def _check_child(kind, d, problems):
    info = _json_file(os.path.join(d, kind + ".pid"))
    child = info["pid"]
    comms = _tasks_comm(child)
    if "pymemtop-agent" in comms:
        problems.append("%s child has an agent thread: %s" % (kind, comms))
    unix = _unix_sockets()
    ours = {ino: path for ino, path in unix.items() if path.startswith("@pymemtop.")}
    inherited = common.socket_inodes(child) & set(ours)
    if inherited:
        problems.append("%s child %d holds agent socket(s) %s" % (
            kind, child, {i: ours[i] for i in inherited}))
    return child, info


def _without_fork_warning(py, err):
    """3.12+ warns on os.fork() in a process with more than one OS thread,
    and the agent's idle thread is one: that warning (and its source line)
    is the one accepted change to the target's stderr, documented in README."""
    if py.minor < (3, 12):
        return err
    out, skip = [], False
    for line in err.decode("utf-8", "surrogateescape").splitlines(True):
        if "is multi-threaded, use of fork() may lead to deadlocks" in line:
            skip = True
            continue
        if skip and line.startswith(" "):
            continue
        skip = False
        out.append(line)
    return "".join(out).encode("utf-8", "surrogateescape")


def _fork_run(py, attached):
    d = common.tmpdir()
    ref_dir = common.tmpdir()
    for f in ("go-fork", "go-mp", "release-fork", "release-mp", "stop"):
        _touch(os.path.join(ref_dir, f))
    ref = _reference(py, FORK, [ref_dir], cwd=ref_dir)
    t = _spawn(py, FORK, [d])
    _wait_ready(t)
    once_json(t.pid)
    mon = _start_record(t.pid) if attached else None
    report, problems = {}, []
    for kind in ("fork", "mp"):
        _touch(os.path.join(d, "go-" + kind))
        _wait_file(os.path.join(d, kind + ".pid"), proc=t)
        child, info = _check_child(kind, d, problems)
        report[kind] = info["callbacks"]
        if mon is None:
            j = once_json(t.pid)  # the parent keeps working while the child lives
            assert j["agent"]["injected"] is False and j["pid"] == t.pid
        else:
            _assert_growing(mon, "after the %s child started" % kind)
        _touch(os.path.join(d, "release-" + kind))
        common.poll(lambda: ("%s child exit" % kind).encode() in _read(t.out_path), 20,
                    lambda: "the parent to report the %s child's exit; stdout %r stderr %r"
                    % (kind, _read(t.out_path), _read(t.err_path)), interval=0.05, alive=t)
    if mon is not None:
        mon.send_signal(signal.SIGINT)
        assert mon.wait(10) == 0, _read(mon.err_path)
    j = once_json(t.pid)
    assert j["agent"]["injected"] is False and j["pid"] == t.pid
    _touch(os.path.join(d, "stop"))
    rc = t.wait(20)
    got = (rc, _read(t.out_path), _without_fork_warning(py, _read(t.err_path)))
    if got != ref:
        problems.append("monitored run differs:\n%s\nunmonitored:\n%s" % (got, ref))
    return report, problems


def test_harm_fork_idle_agent(py):
    report, problems = _fork_run(py, attached=False)
    note("harm fork [%s] idle agent: len(gc.callbacks) in the children %s" % (py.label, report))
    assert not problems, "\n".join(problems)


def test_harm_fork_while_attached(py):
    report, problems = _fork_run(py, attached=True)
    note("harm fork [%s] monitor attached: len(gc.callbacks) in the children %s"
         % (py.label, report))
    assert not problems, "\n".join(problems)


# --- interpreter shutdown -------------------------------------------------

def test_harm_shutdown(py):
    hows = {"normal": 0, "sys.exit": 3, "raise": 1, "os._exit": 4}
    left = {}
    for how, code in hows.items():
        rd = common.tmpdir()
        _touch(os.path.join(rd, "go"))
        ref = _reference(py, EXIT, [how, os.path.join(rd, "go")], cwd=rd)
        assert ref[0] == code, ref
        for attached in (False, True):
            d = common.tmpdir()
            go = os.path.join(d, "go")
            t = _spawn(py, EXIT, [how, go])
            _wait_ready(t)
            once_json(t.pid)
            mon = _start_record(t.pid) if attached else None
            _touch(go)
            try:
                rc = t.wait(15)
            except subprocess.TimeoutExpired:
                raise AssertionError("%s (monitor %s): the target hangs at exit" % (
                    how, "attached" if attached else "detached"))
            got = (rc, _read(t.out_path), _read(t.err_path))
            what = "%s, monitor %s" % (how, "attached" if attached else "not attached")
            assert got == ref, "%s: monitored run differs:\n%s\nunmonitored:\n%s" % (
                what, got, ref)
            if mon is not None:
                try:
                    mrc = mon.wait(10)
                except subprocess.TimeoutExpired:
                    raise AssertionError("%s: the monitor did not end after the target" % what)
                assert mrc == 0, (what, mrc, _read(mon.err_path))
                events = [r for r in _record_lines(mon.rec) if "pid" not in r]
                assert any("target_exited" in json.dumps(e) for e in events), (what, events)
            sock = _sock_path(t.pid)
            left[what] = os.path.exists(sock)
            if how != "os._exit":
                assert not left[what], "%s: %s left behind" % (what, sock)
    note("harm shutdown [%s]: socket file left after %s" % (
        py.label, [w for w, v in left.items() if v] or "none"))


# --- who may talk to the agent ----------------------------------------------

CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    a = sys.argv[1]
    s.connect("\0" + a[1:] if a.startswith("@") else a)
except OSError as e:
    print("connect", type(e).__name__, e.errno)
    sys.exit(0)
try:
    data = s.recv(4096)
    print("recv", len(data))
except OSError as e:
    print("recv", type(e).__name__, e.errno)
"""


def _client_as(user, path):
    p = subprocess.run(common.as_user(user, ["/usr/bin/python3", "-c", CLIENT, path]),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30,
                       cwd="/")
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_harm_other_uid_refused():
    user = ensure_user()
    py = _system_py()
    t = Target(py)  # root
    once_json(t.pid)
    # No file at all: the agent listens on an abstract name, which anyone in
    # the network namespace can reach; the agent itself must refuse the
    # other uid by SO_PEERCRED, idle and while a monitor is attached (no
    # HELLO, no BUSY).
    assert not os.path.exists(_sock_path(t.pid))
    name = _agent_name(t.pid)
    assert name, "no abstract agent socket"
    got_idle = _client_as(user, name)
    mon = _start_record(t.pid)
    got_busy = _client_as(user, name)
    _assert_growing(mon, "after the other uid connected")
    mon.send_signal(signal.SIGINT)
    mon.wait(10)
    for got in (got_idle, got_busy):
        assert got in ("recv 0", "recv ConnectionResetError 104"), (
            "another uid got an answer: %s" % got)
    assert once_json(t.pid)["agent"]["injected"] is False
    assert t.alive()
    # A target of the other user: root may watch it (pidfd_getfd), the other
    # user's monitor would be refused by the kernel; still no file anywhere.
    t2 = Target(py, user=user)
    j = once_json(t2.pid)
    uid = os.stat("/proc/%d" % t2.pid).st_uid
    assert not os.path.exists(_sock_path(t2.pid, uid)), j
    assert _agent_name(t2.pid), j


def test_harm_no_tcp_listener(py):
    t = Target(py)
    before = common.socket_inodes(t.pid)
    once_json(t.pid)
    idle = common.socket_inodes(t.pid)  # the idle agent's
    mon = _start_record(t.pid)  # returns once samples flow
    for when in ("attached", "detached"):
        fds = common.socket_inodes(t.pid)
        listen = _tcp_listeners(t.pid) & fds
        assert not listen, "%s: the target listens on TCP (inodes %s)" % (when, listen)
        unix = _unix_sockets()
        not_unix = (fds - before) - set(unix)
        assert not not_unix, "%s: new non-Unix sockets in the target: %s" % (when, not_unix)
        if when == "attached":
            assert len(fds) > len(idle), (fds, idle)  # the monitor's connection is open
            mon.send_signal(signal.SIGINT)
            assert mon.wait(10) == 0
            # The agent has seen the monitor leave: that connection is closed
            # and it is back to as many sockets as when idle (its listener and
            # a spare; the spare is new after each monitor, so inodes differ).
            common.poll(lambda: len(common.socket_inodes(t.pid)) == len(idle), 10,
                        lambda: "the agent to close the monitor's connection (sockets %s, idle %s)"
                        % (common.socket_inodes(t.pid), idle), alive=t)
    assert t.alive()


# --- the monitor is interrupted during the attach -----------------------------

def test_harm_monitor_signalled_during_attach(py):
    # Ctrl-C (SIGINT), SIGTERM or a hang-up arriving while pymemtop has the
    # target's main thread stopped and its registers changed for the injection
    # must not kill the target: the monitor has to finish (or undo) the
    # injection first. The signal is sent the moment the target's main thread
    # is seen in ptrace stop ("t"). (SIGKILL cannot be deferred and is not
    # tested here.)
    code = ("import time\nn = 0\nwhile True:\n    [bytes(10) for _ in range(100)]\n"
            "    n += 1\n    if n % 20 == 1:\n        print(n, flush=True)\n"
            "    time.sleep(0.001)\n")
    runs = int(os.environ.get("PYMEMTOP_HARM_SIGNAL_RUNS", "8"))
    deaths, seen = [], 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        for i in range(runs):
            t = Target(py, code=code)
            t.wait_output("\n")  # its loop runs
            stat_path = "/proc/%d/task/%d/stat" % (t.pid, t.pid)
            m = subprocess.Popen([common.BIN, "--once", "--json", str(t.pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            common._procs.append(m)
            end = time.monotonic() + 5
            stopped = False
            while not stopped and m.poll() is None and time.monotonic() < end:
                try:
                    with open(stat_path) as f:
                        stopped = f.read().rsplit(")", 1)[1].split()[0] == "t"
                except OSError:
                    break
            seen += stopped
            if m.poll() is None:
                m.send_signal(sig)
            m.wait(10)
            # The target's main thread runs Python again after the monitor
            # is gone (or the target died of it).
            lines = t.stdout().count("\n")
            common.poll(lambda: not t.alive() or t.stdout().count("\n") > lines, 10,
                        "the target to run its loop after the monitor ended")
            if not t.alive():
                deaths.append("%s run %d: target killed by signal %d (monitor exit %s)"
                              % (signal.Signals(sig).name, i, -t.proc.returncode, m.returncode))
                continue
            j = once_json(t.pid)
            assert j["pid"] == t.pid
            t.stop()
    note("harm signal during attach [%s]: caught the ptrace stop in %d of %d runs"
         % (py.label, seen, 3 * runs))
    assert not deaths, "the target died:\n" + "\n".join(deaths)


# --- attaching while the interpreter starts -----------------------------------

STARTING = r'''
import sys, time
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:  # short sleeps: the main thread reaches safe points often
    time.sleep(0.01)
print("done", flush=True)
'''


def test_harm_attach_while_interpreter_starts(py):
    # pymemtop run the instant after exec: a pending call queued before the
    # interpreter has finished starting would run during its start-up, before
    # importlib is ready (a debug 3.14 aborted on it). pymemtop must wait for
    # Py_IsInitialized() and then attach normally; the target must finish
    # with its own output.
    d = common.tmpdir()
    script = os.path.join(d, "starting.py")
    with open(script, "w") as f:
        f.write(STARTING)
    for i in range(6):
        p = _spawn(py, script, ["1.5"])
        # Interpreters in a chroot start as chroot(8), which execs Python: the
        # instant that matters is after that exec.
        common.poll(lambda: "python" in os.path.basename(os.readlink("/proc/%d/exe" % p.pid)),
                    10, "the target to exec Python", interval=0.001)
        r = pymemtop("--once", "--json", p.pid, timeout=60)
        assert r.returncode == 0, "try %d: exit %d: %s; target %s, stderr %r" % (
            i, r.returncode, r.stderr, "running" if p.poll() is None else "exit %s" % p.returncode,
            _read(p.err_path)[-600:])
        assert json.loads(r.stdout)["pid"] == p.pid
        assert p.wait(30) == 0, "try %d: target exit %s, stderr: %s" % (
            i, p.returncode, _read(p.err_path))
        assert _read(p.out_path) == b"done\n", _read(p.out_path)
        assert _read(p.err_path) == b"", _read(p.err_path)


# An ld.so audit module that holds the dynamic loader for a moment just before
# it maps libpython: the process has exec'ed a python but is not one yet.
SLOW_LOADER_C = r'''
#include <link.h>
#include <string.h>
#include <unistd.h>
unsigned int la_version(unsigned int v) { return v; }
char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    (void)cookie; (void)flag;
    if (strstr(name, "libpython"))
        usleep(1500000);
    return (char *)name;
}
'''


def _needs_libpython(path):
    r = subprocess.run(["readelf", "-d", os.path.realpath(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return "libpython" in r.stdout


def test_harm_attach_while_libpython_loads(py):
    # Seen in CI: attached in the instant between exec and ld.so mapping
    # libpython, pymemtop said "not a CPython process". A python that links
    # libpython is starting there: pymemtop must wait and attach.
    if py.root or not _needs_libpython(py.path):
        raise common.Skip("%s has libpython built in" % py.label)
    d = common.tmpdir()
    audit = os.path.join(d, "slow_loader.so")
    src = os.path.join(d, "slow_loader.c")
    with open(src, "w") as f:
        f.write(SLOW_LOADER_C)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", audit, src], check=True)
    script = os.path.join(d, "starting.py")
    with open(script, "w") as f:
        f.write(STARTING)
    env = dict(os.environ, LD_AUDIT=audit)
    p = _spawn(py, script, ["1.0"], env=env)
    common.poll(lambda: any(audit in line for line in open("/proc/%d/maps" % p.pid)),
                10, "the loader to start the target")
    with open("/proc/%d/maps" % p.pid) as f:
        assert "libpython" not in f.read(), "libpython was mapped already: the test proves nothing"
    r = pymemtop("--once", "--json", p.pid, timeout=60)
    assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr)
    assert json.loads(r.stdout)["pid"] == p.pid
    assert p.wait(30) == 0, _read(p.err_path)
    assert _read(p.out_path) == b"done\n", _read(p.out_path)
    assert _read(p.err_path) == b"", _read(p.err_path)
