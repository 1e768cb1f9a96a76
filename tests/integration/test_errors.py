"""Every way an attach can fail gets a clear message and a distinct exit code."""
import json
import os
import shutil
import subprocess
import time

import common
from common import Skip, Target, ensure_user, find_pythons, old_pythons, pymemtop

SYSTEM_PY = None


def _py():
    global SYSTEM_PY
    if SYSTEM_PY is None:
        pys, _ = find_pythons()
        SYSTEM_PY = next((p for p in pys if p.path == "/usr/bin/python3"), pys[0])
    return SYSTEM_PY


def _free_pid():
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists("/proc/%d" % pid):
            return pid
    raise AssertionError("no free PID")


def test_usage_errors():
    p = pymemtop(check=2)
    assert "PID" in p.stderr
    p = pymemtop("abc", check=2)
    assert "not a PID" in p.stderr
    p = pymemtop("--json", "1", check=2)
    assert "--once" in p.stderr
    p = pymemtop("--interval", "0", "1", check=2)
    assert "0.1 to 60" in p.stderr


def test_no_such_process():
    pid = _free_pid()
    p = pymemtop("--once", pid, check=4)
    assert "no process" in p.stderr.lower() or "no such process" in p.stderr.lower(), p.stderr
    p = pymemtop("--once", "--json", pid, check=4)
    assert json.loads(p.stdout)["error"] == "no_process"


def test_not_python():
    t = subprocess.Popen(["sleep", "60"])
    common._procs.append(t)
    common.poll(lambda: os.path.basename(os.readlink("/proc/%d/exe" % t.pid)) == "sleep", 10,
                "process %d to run sleep" % t.pid)
    p = pymemtop("--once", t.pid, check=3)
    assert "not a CPython" in p.stderr or "not CPython" in p.stderr, p.stderr
    assert t.poll() is None, "the non-Python process was harmed"


def test_old_python():
    olds = old_pythons()
    if not olds:
        raise Skip("no CPython < 3.8 on this machine")
    for py in olds:
        # Python 2 too: no print(flush=True).
        t = Target(py, code="import sys, time\nsys.stdout.write('ready\\n')\n"
                   "sys.stdout.flush()\nwhile True:\n    time.sleep(0.1)\n")
        t.wait_output("ready")
        p = pymemtop("--once", t.pid, check=3)
        assert "3.8" in p.stderr, (py, p.stderr)
        assert t.alive()
        t.stop()


def _static_python():
    """A CPython executable that holds the C API itself (no libpython
    mapped), whose file name alone we can give a free-threaded suffix."""
    for path in ("/usr/bin/python3",) + tuple(p.path for p in find_pythons()[0]):
        real = os.path.realpath(path)
        if os.path.exists(real) and "libpython" not in subprocess.run(
                ["ldd", real], stdout=subprocess.PIPE, text=True).stdout:
            return real
    raise Skip("no statically linked CPython executable on this machine")


def test_free_threaded_refused_before_writing():
    # No free-threaded interpreter exists here: a real static CPython copied
    # to a name with the ABI suffix "t" (python3.Xt, as free-threaded builds
    # are installed) is one sign of three; lib/pylayout.c's verdict on the
    # other two (the _Py_DebugOffsets free_threaded flag, Py_GIL_DISABLED-only
    # symbols) is unit-tested. Refused with exit 3 and nothing written.
    real = _static_python()
    minor = os.path.basename(real)[len("python"):]
    d = common.tmpdir()
    ft = os.path.join(d, "python%st" % minor)
    shutil.copy(real, ft)
    out = os.path.join(d, "stdout")
    with open(out, "w") as o:
        t = subprocess.Popen([ft, "-c", "import time\nprint('ready', flush=True)\n"
                              "while True:\n    time.sleep(0.05)\n"],
                             stdout=o, stderr=subprocess.DEVNULL)
    common._procs.append(t)
    common.poll(lambda: "ready" in open(out).read(), 20, "%s to print ready" % ft, alive=t)
    with open("/proc/%d/maps" % t.pid) as f:
        maps_before = f.read()
    p = pymemtop("--once", "--json", t.pid, check=3)
    j = json.loads(p.stdout)
    assert j["error"] == "unsupported_build", j
    assert "free-threaded" in j["message"] and "planned" in j["message"], j
    assert "\n" not in j["message"].strip(), j
    # Nothing was written: no page mapped, no agent, no tracer left.
    with open("/proc/%d/maps" % t.pid) as f:
        assert f.read() == maps_before
    with open("/proc/%d/status" % t.pid) as f:
        assert "TracerPid:\t0\n" in f.read()
    p = pymemtop("--check", "--json", t.pid, check=3)
    c = json.loads(p.stdout)
    assert c["status"] == "unsupported_build" and not c["attachable"], c
    assert any(x["what"] == "CPython" and x["result"] == "fail" and "free-threaded" in x["detail"]
               for x in c["checks"]), c
    rows = [r for r in json.loads(pymemtop("--list", "--json", check=0).stdout)
            if r["pid"] == t.pid]
    assert rows and rows[0]["status"] == "unsupported_build", rows
    assert rows[0]["python"].endswith("t") and rows[0]["build"] == "free_threaded", rows
    assert "free-threaded: not supported" in pymemtop("--list", check=0).stdout
    assert t.poll() is None, "the target was harmed"
    t.kill()
    t.wait()


def test_other_users_process():
    user = ensure_user()
    t = Target(_py())  # runs as root
    p = pymemtop("--once", t.pid, user=user, check=3)
    assert "root" in p.stderr and ("sudo" in p.stderr or "as that user" in p.stderr), p.stderr
    assert t.alive()


def test_ptrace_denied_non_dumpable():
    user = ensure_user()
    # Same user, but the target made itself non-dumpable: ptrace is refused
    # without CAP_SYS_PTRACE, exactly like ptrace_scope would refuse it.
    code = ("import ctypes, time\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
            "while True:\n    time.sleep(0.1)\n")
    t = Target(_py(), code=code, user=user)
    time.sleep(0.5)
    p = pymemtop("--once", t.pid, user=user, check=3)
    assert "ptrace" in p.stderr and "CAP_SYS_PTRACE" in p.stderr, p.stderr
    assert t.alive()


def test_already_traced():
    if not shutil.which("strace"):
        raise AssertionError("strace is not installed (make deps installs it)")
    t = Target(_py(), wrapper=["strace", "-o", "/dev/null"], wait_state=False)
    t.wait_state(lambda s: s["tick"] >= 2)  # written by strace's child, the demo
    # The Python process is strace's child.
    kids = open("/proc/%d/task/%d/children" % (t.pid, t.pid)).read().split()
    assert kids, "strace started no child"
    p = pymemtop("--once", kids[0], check=3)
    assert "strace" in p.stderr and "traced" in p.stderr, p.stderr


def test_target_exits_during_session():
    t = Target(_py(), ["--ticks", "25", "--period", "0.1"])
    tm = common.Tmux([t.pid], 100, 30)
    tm.wait_for(r"PID %d" % t.pid)
    t.proc.wait(10)
    _, screen = tm.wait_for(r"(?i)target exited", timeout=10)
    assert "PID %d" % t.pid in screen, "the last data left the screen"
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_config_errors():
    d = common.tmpdir()
    bad = os.path.join(d, "bad.ini")
    open(bad, "w").write("[sampling]\ninterval = 1\nthis is not ini\n")
    p = pymemtop("--config", bad, "--once", "1", check=2)
    assert "bad.ini" in p.stderr and "3" in p.stderr, p.stderr
    rng = os.path.join(d, "range.ini")
    open(rng, "w").write("[sampling]\ninterval = 600\n")
    p = pymemtop("--config", rng, "--once", "1", check=2)
    assert "0.1 to 60" in p.stderr, p.stderr
    unk = os.path.join(d, "unknown.ini")
    open(unk, "w").write("[sampling]\nfrobnicate = 1\n")
    t = Target(_py())
    p = pymemtop("--config", unk, "--once", "--json", t.pid, check=0)
    assert "unknown key" in p.stderr and "frobnicate" in p.stderr, p.stderr
    assert json.loads(p.stdout)["pid"] == t.pid
    p = pymemtop("--config", os.path.join(d, "missing.ini"), "--once", "1", check=2)
    assert "cannot open" in p.stderr


def test_shipped_config_parses():
    t = Target(_py())
    p = pymemtop("--config", os.path.join(common.ROOT, "config", "pymemtop.ini"), "--once",
                 "--json", t.pid, check=0)
    assert p.stderr == "", p.stderr


def test_census_settings_reach_the_agent():
    d = common.tmpdir()
    ini = os.path.join(d, "c.ini")
    open(ini, "w").write("[census]\ninterval = 7\npause_budget = 0.5\n")
    t = Target(_py())
    rec = os.path.join(d, "r.jsonl")
    pymemtop("--config", ini, "--record", rec, "--duration", "4", t.pid, check=0)
    last = [json.loads(x) for x in open(rec)][-1]
    assert last["census"]["censuses"] >= 1 and last["census"]["interval_ms"] == 7000, last["census"]
