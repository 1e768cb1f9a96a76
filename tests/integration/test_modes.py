"""Modes that never attach (--check, --list) and the headless modes."""
import json
import subprocess
import time

import common
from common import Target, ensure_user, find_pythons, once_json, pymemtop


def _by_what(report):
    return {c["what"]: c for c in report["checks"]}


def test_check_good_target(py):
    t = Target(py)
    p = pymemtop("--check", "--json", t.pid, check=0)
    r = json.loads(p.stdout)
    assert r["attachable"] is True and r["agent_loaded"] is False, r
    checks = _by_what(r)
    major_minor = ".".join(py.version.split(".")[:2])
    assert checks["CPython"]["result"] == "ok" and major_minor in checks["CPython"]["detail"]
    assert ("shared libpython" if "pyenv" in py.path else "static executable") in \
        checks["CPython"]["detail"], checks["CPython"]
    assert checks["ptrace"]["result"] == "ok" and checks["tracer"]["result"] == "ok"
    # --check attaches to nothing: no agent appears, the target runs on.
    assert "pymemtop_agent" not in open("/proc/%d/maps" % t.pid).read()
    once_json(t.pid)
    r = json.loads(pymemtop("--check", "--json", t.pid, check=0).stdout)
    assert r["agent_loaded"] is True
    assert t.alive() and t.stderr() == ""


def test_check_refusals():
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    sleeper = subprocess.Popen(["sleep", "60"])
    common._procs.append(sleeper)
    p = pymemtop("--check", sleeper.pid, check=3)
    assert "[FAIL] CPython" in p.stdout and "not a CPython process" in p.stdout, p.stdout
    from test_errors import _free_pid
    p = pymemtop("--check", _free_pid(), check=4)
    assert "[FAIL] process" in p.stdout
    user = ensure_user()
    t = Target(py)  # root's process, checked by another user
    p = pymemtop("--check", t.pid, user=user, check=3)
    assert "[FAIL] user" in p.stdout and "root" in p.stdout, p.stdout
    t2 = Target(py, wrapper=["strace", "-o", "/dev/null"], wait_state=False)
    time.sleep(1.0)
    kid = open("/proc/%d/task/%d/children" % (t2.pid, t2.pid)).read().split()[0]
    p = pymemtop("--check", kid, check=3)
    assert "[FAIL] tracer" in p.stdout and "strace" in p.stdout, p.stdout


def test_list_shows_python_processes():
    pys = find_pythons()[0]
    a, b = Target(pys[0]), Target(pys[-1])
    once_json(b.pid)
    rows = {r["pid"]: r for r in json.loads(pymemtop("--list", "--json", check=0).stdout)}
    for t, py in ((a, pys[0]), (b, pys[-1])):
        assert t.pid in rows, (t.pid, rows.keys())
        assert rows[t.pid]["python"] == ".".join(py.version.split(".")[:2])
        assert rows[t.pid]["rss_kib"] > 1000
    assert rows[a.pid]["agent_loaded"] is False and rows[b.pid]["agent_loaded"] is True
    text = pymemtop("--list", check=0).stdout
    assert "PID" in text.splitlines()[0] and str(a.pid) in text
    sleeper = subprocess.Popen(["sleep", "60"])
    common._procs.append(sleeper)
    assert sleeper.pid not in rows
