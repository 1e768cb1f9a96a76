"""Never harm the target: attach to targets whose main thread is blocked in
C (thread.join, Event.wait, time.sleep) while workers run Python, and to a
fully idle target (every thread asleep). Every version must attach by the
path its build allows (where lib/pylayout.c's row says so, 3.12+: a pending
call any thread runs; otherwise, or when no thread runs Python: the agent
loaded natively in a thread parked in a libc wait; agent.attach_via says
which), the target's results must be unchanged, its interrupted waits must
not be cut short, and signals sent during the injection must all arrive.
How long the attach and the interrupted waits take is measured by `make
bench` (bench/run.py, "blocked targets"), not asserted here."""
import json
import os
import signal
import subprocess
import time

import common
from common import Target, once_json, wait_blocked

# The target: `mode` picks what the main thread blocks in. Workers compute a
# checksum that does not depend on timing. Signals are counted by
# faulthandler, whose C handler writes one "Stack (most recent call first)"
# per delivery to a file and runs no Python: a Python-level handler would
# wake the blocked main thread into Python and let the pending call in,
# hiding the path under test.
TARGET = r'''
import faulthandler, os, signal, sys, threading, time
mode, dump = sys.argv[1], sys.argv[2]
faulthandler.register(signal.SIGRTMIN, file=open(dump, "w"), all_threads=False)
stop = threading.Event()

def checksum(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i * i) % 1000003
    return acc

results = []
def busy():
    # Python bytecode until told to stop, then one fixed computation.
    while not stop.is_set():
        checksum(2000)
    results.append(checksum(200000))

def idle():
    stop.wait()  # a futex wait, no Python until the end

# Only the main thread takes SIGRTMIN (the others inherit it blocked):
# faulthandler skips a dump while another thread is dumping, so deliveries
# to two threads at once could not be counted.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGRTMIN})
workers = [threading.Thread(target=idle if mode == "idle" else busy) for _ in range(2)]
for t in workers:
    t.start()
timer = threading.Timer(4.0, stop.set)
if mode == "join":
    timer.start()
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGRTMIN})
print("ready", flush=True)
t0 = time.monotonic()
if mode == "join":
    workers[0].join()
elif mode == "event":
    threading.Event().wait(5)
elif mode in ("sleep", "idle"):
    time.sleep(5)
elif mode == "forever":
    time.sleep(3600)
waited = time.monotonic() - t0
stop.set()
for t in workers:
    t.join()
print("waited %.3f" % waited, flush=True)
print("results %s" % results, flush=True)
'''

EXPECTED = None


def _expected_checksum():
    global EXPECTED
    if EXPECTED is None:
        acc = 0
        for i in range(200000):
            acc = (acc * 31 + i * i) % 1000003
        EXPECTED = acc
    return EXPECTED


def _log(py, mode, elapsed, agent):
    path = os.environ.get("PYMEMTOP_BLOCKED_LOG")
    if path:
        with open(path, "a") as f:
            f.write("%s %s %.3f %s %s\n" % (py.label, mode, elapsed, agent.get("attach_via"),
                                            agent.get("native_stop_ns")))


def _attach_with_signals(py, mode):
    """Starts the target, attaches while sending SIGRTMIN once its main
    thread is parked in its blocking call; returns (target, sent, elapsed,
    agent JSON). elapsed is logged (PYMEMTOP_BLOCKED_LOG), not asserted."""
    dump = os.path.join(common.tmpdir(), "signals.txt")
    t = Target(py, args=[mode, dump], code=TARGET)
    t.dump = dump
    t.wait_output("ready")
    wait_blocked(t)
    t.pending = _pending_kind(t.pid)
    sent = 0
    t0 = time.monotonic()
    p = subprocess.Popen([common.BIN, "--once", "--json", str(t.pid)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while p.poll() is None:
        os.kill(t.pid, signal.SIGRTMIN)
        sent += 1
        time.sleep(0.002)  # the signals' pace during the attach (the test's subject)
    elapsed = time.monotonic() - t0
    out, err = p.communicate()
    assert p.returncode == 0, "exit %d: %s" % (p.returncode, err)
    agent = json.loads(out)["agent"]
    _log(py, mode, elapsed, agent)
    assert agent["injected"] is True, agent
    return t, sent, elapsed, agent


def _pending_kind(pid):
    """Which pending call the binary will queue for this target, as --check
    reports it: lib/pylayout.c's row for the exact version and build decides
    (PYLAYOUT_PENDING_ANY_THREAD or _MAIN), so no version list lives here.
    Returns (any_thread, debug_build)."""
    j = json.loads(subprocess.run([common.BIN, "--check", "--json", str(pid)],
                                  stdout=subprocess.PIPE, text=True, timeout=30).stdout)
    checks = {c["what"]: c["detail"] for c in j["checks"]}
    return (checks["pending call"].startswith("any thread"),
            "(debug build)" in checks["CPython"])


def _via(py, agent, pending):
    any_thread, debug = pending
    # A floor the table must not drop below: every release build from 3.12 on
    # exports _PyEval_AddPendingCall(interp, func, arg, int flags).
    if py.minor >= (3, 12) and not debug:
        assert any_thread, "no any-thread pending call for %s" % py.label
    want = "pending_call_any_thread" if any_thread else "native_thread"
    assert agent["attach_via"] == want, (want, agent)


def _finish(t, sent, want_wait=None, busy=True):
    assert t.proc.wait(30) == 0, "target died: %s %s" % (t.proc.returncode, t.stderr())
    lines = dict(l.split(" ", 1) for l in t.stdout().splitlines() if " " in l)
    assert t.stderr() == "", "target wrote to stderr: %r" % t.stderr()
    if want_wait is not None:
        # The interrupted wait resumed: not cut short by the injection or the
        # signals. How much longer it took is a bench figure (load lengthens it).
        waited = float(lines["waited"])
        assert waited >= want_wait - 0.2, "waited %.3f s, expected %.1f" % (waited, want_wait)
    want = [_expected_checksum()] * 2 if busy else []
    assert lines["results"] == str(want), (lines["results"], want)
    with open(t.dump) as f:
        got = f.read().count("Stack (most recent call first)")
    assert got == sent, "%d signals arrived, %d sent" % (got, sent)


def test_main_in_join_workers_run_python(py):
    t, sent, _, agent = _attach_with_signals(py, "join")
    _via(py, agent, t.pending)
    _finish(t, sent)


def test_main_in_event_wait(py):
    t, sent, _, agent = _attach_with_signals(py, "event")
    # A timed lock wait returns EINTR to a handled signal, and before 3.12
    # the main thread then runs pending calls (Py_MakePendingCalls): either
    # way in is the target's own normal behaviour.
    if py.minor < (3, 12):
        assert agent["attach_via"] in ("native_thread", "pending_call"), agent
    else:
        _via(py, agent, t.pending)
    _finish(t, sent, want_wait=5.0)


def test_main_in_sleep_workers_run_python(py):
    t, sent, _, agent = _attach_with_signals(py, "sleep")
    _via(py, agent, t.pending)
    _finish(t, sent, want_wait=5.0)


def test_fully_idle_target(py):
    t, sent, _, agent = _attach_with_signals(py, "idle")
    # Nothing runs Python: only the native path can load the agent.
    assert agent["attach_via"] == "native_thread", agent
    _finish(t, sent, want_wait=5.0, busy=False)


def test_main_in_long_sleep_keeps_sleeping(py):
    # time.sleep(3600) with workers: attach, sample again (reusing the agent),
    # and the main thread is still in its sleep, workers still running.
    t, sent, _, agent = _attach_with_signals(py, "forever")
    _via(py, agent, t.pending)
    j = once_json(t.pid)
    assert j["agent"]["injected"] is False
    with open("/proc/%d/task/%d/stat" % (t.pid, t.pid)) as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    assert state == "S", state
    assert "waited" not in t.stdout(), t.stdout()
    assert t.alive() and t.stderr() == ""
