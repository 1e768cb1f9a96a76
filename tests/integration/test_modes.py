"""Modes that never attach (--check, --list) and the headless modes."""
import glob
import json
import os
import re
import stat
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
    t2.wait_state(lambda s: s["tick"] >= 2)  # written by strace's child, the demo
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


# Both print "ready" after their loop's first round (warmed up).
STEADY = ("import gc, time\nkeep = []\n"
          "while True:\n"
          "    churn = [{'i': i} for i in range(3000)]\n"
          "    a, b = [], []\n    a.append(b); b.append(a)\n"
          "    if not keep:\n        print('ready', flush=True)\n        keep.append(1)\n"
          "    time.sleep(0.05)\n")
# About 30 MiB/min of Python objects: far over the limit below.
LEAKY = ("import time\nclass Blob:\n    def __init__(self):\n        self.data = [0] * 1000\n"
         "kept = []\nwhile True:\n    kept.extend(Blob() for _ in range(60))\n"
         "    if len(kept) == 60:\n        print('ready', flush=True)\n"
         "    time.sleep(0.1)\n")


def test_leak_gate_fails_on_a_leak_and_passes_a_steady_target(py):
    leak = Target(py, code=LEAKY)
    leak.wait_output("ready")
    p = pymemtop("--max-growth", "10MiB/min", "--duration", "8", "--json", leak.pid, timeout=30,
                 check=7)
    assert "leak gate FAILED" in p.stderr, p.stderr
    assert "Blob" in p.stderr, p.stderr  # the leaking class is named
    verdict = json.loads(p.stdout)
    assert verdict["gate"]["passed"] is False and verdict["gate"]["rss_kib_per_min"] > 10240
    assert any(t["name"].endswith("Blob") for t in verdict["types"])
    steady = Target(py, code=STEADY)
    steady.wait_output("ready")
    p = pymemtop("--max-growth", "10MiB/min", "--duration", "8", steady.pid, timeout=30,
                 check=0)
    assert "leak gate passed" in p.stderr, p.stderr
    assert leak.alive() and steady.alive()


def test_record_writes_flushed_json_lines_until_exit(py):
    t = Target(py, ["--ticks", "50", "--period", "0.1"])
    out = common.tmpdir() + "/rec.jsonl"
    p = subprocess.Popen([common.BIN, "--record", out, "--interval", "0.5", str(t.pid)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Each line is on disk as soon as it is sampled: two while it still runs.
    def two_lines():
        try:
            return len(open(out).read().splitlines()) >= 2
        except OSError:
            return False
    common.poll(two_lines, 10, "two lines in %s while --record runs" % out, alive=p)
    p.wait(20)
    assert p.returncode == 0, p.stderr
    records = [json.loads(line) for line in open(out)]
    samples = [r for r in records if "event" not in r]
    once_keys = set(json.loads(open(out).readline()))
    for r in samples:
        assert set(r) == once_keys and r["pid"] == t.pid and r["python"] == py.version
    assert records[-1]["event"] == "target_exited"
    assert len(samples) >= 5, len(samples)
    times = [r["time_ns"] for r in samples]
    assert times == sorted(times)


# Full collections over a big heap, each a pause of milliseconds or more.
PAUSER = ("import gc, time\nheap = [[i] for i in range(400000)]\nprint('ready', flush=True)\n"
          "while True:\n    gc.collect()\n    time.sleep(0.2)\n")


def test_record_honours_pause_ms(py):
    """[alerts] pause_ms decides which pauses --record logs; 0 logs none."""
    t = Target(py, code=PAUSER)
    end = time.monotonic() + 20  # its heap is built (a chrooted one has exec'd Python)
    while "ready" not in t.stdout():
        assert t.alive() and time.monotonic() < end, t.stderr()
        time.sleep(0.05)
    d = common.tmpdir()
    events = {}
    for pause_ms in ("0", "1"):
        cfg = os.path.join(d, "pause%s.ini" % pause_ms)
        open(cfg, "w").write("[alerts]\npause_ms = %s\n" % pause_ms)
        out = os.path.join(d, "rec%s.jsonl" % pause_ms)
        pymemtop("--config", cfg, "--record", out, "--interval", "0.5", "--duration", "3",
                 t.pid, check=0)
        records = [json.loads(line) for line in open(out)]
        samples = [r for r in records if "event" not in r]
        # The target did pause while recorded: the samples count the pauses.
        assert samples and samples[-1]["gc"]["pauses"]["count"] >= 3, samples[-1:]
        assert samples[-1]["gc"]["pauses"]["max_ns"] >= 1000000, samples[-1]["gc"]["pauses"]
        events[pause_ms] = [r for r in records if r.get("event") == "gc_pause"]
    assert events["0"] == [], events["0"][:3]
    assert len(events["1"]) >= 3, events["1"]
    assert all(e["pause_ns"] >= 1000000 and e["generation"] == 2 for e in events["1"]), events["1"]
    assert t.alive()


APP = ("import os, sys, time\n"
       "print('args', sys.argv[1:], flush=True)\n"
       "sys.stderr.write('to stderr\\n')\n"
       "keep = [dict(i=i) for i in range(50000)]\n"
       "time.sleep(2.5)\n"  # a life long enough to be sampled: the test's subject
       "print('child PYTHONPATH', os.environ.get('PYTHONPATH'), flush=True)\n"
       "sys.exit(int(os.environ.get('APP_EXIT', '3')))\n")


def _run(cmd, env=None, cwd=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60, env=e, cwd=cwd)


def test_run_mode_passes_exit_code_and_output(py):
    d = common.tmpdir()
    app = os.path.join(d, "app.py")
    open(app, "w").write(APP)
    direct = _run(py.argv(app, "x", "--y"))
    rec = os.path.join(d, "rec.jsonl")
    run = _run([common.BIN, "--record", rec, "--"] + py.argv(app, "x", "--y"))
    assert run.returncode == direct.returncode == 3, (run.returncode, run.stderr)
    assert run.stdout == direct.stdout, (run.stdout, direct.stdout)
    assert run.stderr.startswith(direct.stderr), run.stderr
    assert "child PYTHONPATH None" in run.stdout  # children start without the agent
    samples = [json.loads(x) for x in open(rec) if '"event"' not in x]
    assert samples and samples[0]["python"] == py.version
    assert samples[0]["agent"]["injected"] is False  # loaded at start-up, not by ptrace
    # python -m module, and a console script with a shebang.
    open(os.path.join(d, "appmod.py"), "w").write(APP)
    run = _run([common.BIN, "--record", rec, "--"] + py.argv("-m", "appmod", "m", cwd=d), cwd=d,
               env={"APP_EXIT": "5"})
    assert run.returncode == 5 and "args ['m']" in run.stdout, (run.returncode, run.stderr)
    script = os.path.join(d, "app-script")
    open(script, "w").write("%s\n%s" % (py.shebang(), APP))
    os.chmod(script, 0o755)
    run = _run([common.BIN, "--record", rec, "--", script, "s"], env={"APP_EXIT": "0"})
    assert run.returncode == 0 and "args ['s']" in run.stdout, run.stderr
    assert sum(1 for x in open(rec) if '"event"' not in x) >= 1
    assert not [f for f in os.listdir("/tmp") if f.startswith("pymemtop-run-")
                and os.path.isdir("/tmp/" + f) and os.stat("/tmp/" + f).st_mtime > time.time() - 30
                and os.path.exists("/tmp/%s/sitecustomize.py" % f)], "bootstrap left behind"


def test_run_mode_chains_the_programs_sitecustomize():
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    d = common.tmpdir()
    open(os.path.join(d, "sitecustomize.py"), "w").write("import builtins\nbuiltins.SC_RAN = 42\n")
    app = os.path.join(d, "app.py")
    # The sleep gives the run a life long enough to be sampled.
    open(app, "w").write("import builtins, sys, time\ntime.sleep(1.5)\n"
                         "print(getattr(builtins, 'SC_RAN', None), "
                         "sys.modules['sitecustomize'].__file__)\n")
    run = _run([common.BIN, "--record", os.path.join(d, "r.jsonl"), "--"] + py.argv(app),
               env={"PYTHONPATH": d})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "42 %s/sitecustomize.py" % d, run.stdout


def test_run_mode_dashboard_and_missing_command():
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    d = common.tmpdir()
    # Logs go in a directory of their own under TMPDIR: the test's, removed after.
    run = _run([common.BIN, "--", "no-such-command-xyz"], env={"TMPDIR": d})
    assert run.returncode == 127 and "command not found" in run.stderr, run.stderr
    tm = common.Tmux(["--"] + py.argv(common.DEMO, "--ticks", "25", "--period", "0.1"), 100, 30,
                     env="TMPDIR=" + d)
    tm.wait_for(r"Python 3\.\d+")
    tm.wait_for(r"(?i)target exited", timeout=15)
    tm.send("q")
    _, screen = tm.wait_for(r"EXIT=\d+")
    assert "EXIT=0" in screen and "output is in %s/pymemtop-log-" % d in screen, screen


def test_run_mode_log_is_private_and_never_follows_links():
    """The dashboard's run log goes in a new 0700 directory: links planted at
    the old fixed name, /tmp/pymemtop-run-<time>.log, are never written through."""
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    d = common.tmpdir()
    victim = os.path.join(d, "victim")
    open(victim, "w").write("the test's own file\n")
    app = os.path.join(d, "app.py")
    open(app, "w").write("import time\nprint('RUN-LOG-MARKER', flush=True)\ntime.sleep(2)\n")
    planted, log_dir = [], None
    try:
        now = int(time.time())
        for t in range(now - 1, now + 30):  # the next seconds' names, as an attacker would
            link = "/tmp/pymemtop-run-%d.log" % t
            try:
                os.symlink(victim, link)
                planted.append(link)
            except FileExistsError:
                pass
        tm = common.Tmux(["--"] + py.argv(app), 160, 30, env="TMPDIR=/tmp")
        tm.wait_for(r"(?i)target exited", timeout=15)
        tm.send("q")
        m, screen = tm.wait_for(r"output is in (\S+)")
        assert "EXIT=0" in tm.wait_for(r"EXIT=\d+")[1], screen
        log = m.group(1)
        # Only a directory pymemtop made for this run is ours to remove after.
        if re.match(r"/tmp/pymemtop-log-[^/]+/pymemtop-run-\d+\.log$", log):
            log_dir = os.path.dirname(log)
        assert open(victim).read() == "the test's own file\n"
        for link in planted:
            assert os.readlink(link) == victim, link
        assert log_dir, log
        st = os.lstat(log_dir)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
        assert st.st_uid == os.geteuid()
        assert stat.S_ISREG(os.lstat(log).st_mode)
        assert "RUN-LOG-MARKER" in open(log).read()
    finally:
        # Remove exactly what this test planted and what this run made, no more.
        for link in planted:
            if os.path.islink(link) and os.readlink(link) == victim:
                os.unlink(link)
        if log_dir:
            for rm, path in ((os.unlink, log), (os.rmdir, log_dir)):
                try:
                    rm(path)
                except FileNotFoundError:
                    pass


def test_install_into_destdir_and_uninstall():
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    dest = common.tmpdir()
    make = ["make", "--no-print-directory", "-C", common.ROOT, "BUILD=" + common.BUILD,
            "DESTDIR=" + dest, "PREFIX=/usr/local"]
    r = subprocess.run(make + ["install"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout
    binary = dest + "/usr/local/bin/pymemtop"
    agent = dest + "/usr/local/lib/pymemtop/pymemtop_agent.so"
    for f in (binary, agent, dest + "/usr/local/share/man/man1/pymemtop.1",
              dest + "/usr/local/share/pymemtop/pymemtop.ini"):
        assert os.path.exists(f), f
    assert os.stat(agent).st_mode & 0o022 == 0
    t = Target(py)
    # The installed binary finds the installed agent, with no source tree.
    check = json.loads(subprocess.run([binary, "--check", "--json", str(t.pid)],
                                      stdout=subprocess.PIPE, text=True).stdout)
    assert _by_what(check)["agent file"]["detail"] == agent, check
    p = subprocess.run([binary, "--once", "--json", str(t.pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 0 and json.loads(p.stdout)["pid"] == t.pid, p.stderr
    # The agent is carried in through a memfd (README, Containers): the bytes
    # the target holds must be the installed file's.
    with open(agent, "rb") as f:
        installed = f.read()
    carried = []
    for fd in os.listdir("/proc/%d/fd" % t.pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (t.pid, fd)).startswith("/memfd:pymemtop-agent"):
                with open("/proc/%d/fd/%s" % (t.pid, fd), "rb") as f:
                    carried.append(f.read())
        except OSError:
            continue
    assert installed in carried, "the target did not load the installed agent"
    # An agent others could write is refused before anything is injected.
    os.chmod(agent, 0o666)
    t2 = Target(py)
    p = subprocess.run([binary, "--once", str(t2.pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode != 0 and "writable by other users" in p.stderr, p.stderr
    assert "pymemtop_agent" not in open("/proc/%d/maps" % t2.pid).read()
    os.chmod(agent, 0o755)
    r = subprocess.run(make + ["uninstall"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout
    assert not os.path.exists(binary) and not os.path.exists(agent)


def _mib(kib):
    """The dashboard's size format (tui/format.c sig3: three significant
    digits, trailing zeros kept: 12.96 MiB is "13.0 MiB") for a KiB count."""
    v = kib / 1024.0
    if v < 9.995:
        return "%.2f MiB" % v
    return "%.1f MiB" % v if v < 99.95 else "%.0f MiB" % v


def test_replay_shows_the_recorded_numbers():
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    t = Target(py)
    rec = common.tmpdir() + "/rec.jsonl"
    pymemtop("--record", rec, "--duration", "5", t.pid, check=0)
    samples = [json.loads(x) for x in open(rec) if '"event"' not in x]
    assert len(samples) >= 3
    tm = common.Tmux(["--replay", rec], 100, 30)
    _, screen = tm.wait_for(r"REPLAY")
    assert "PID %d" % t.pid in screen and "Python %s" % py.version in screen, screen
    assert "RSS %s" % _mib(samples[-1]["proc"]["rss_kib"]) in screen, (samples[-1]["proc"], screen)
    # The census's age is the recording's, not the time since the clock began.
    age = re.search(r"census (\d+)s ago", screen)
    assert age and int(age.group(1)) <= 6, screen
    tm.send("{")
    _, screen = tm.wait_for(r"sample 1 of %d" % len(samples))
    assert "RSS %s" % _mib(samples[0]["proc"]["rss_kib"]) in screen, screen
    tm.send("Right")
    tm.wait_for(r"sample 2 of %d" % len(samples))
    tm.send("c")  # commands need a live target
    tm.wait_for(r"replay: commands need a live target")
    tm.send("q")
    tm.wait_for(r"EXIT=0")
    bad = common.tmpdir() + "/bad.jsonl"
    open(bad, "w").write(open(rec).readline() + "{not json\n")
    p = pymemtop("--replay", bad, check=2)
    assert "bad.jsonl:2:" in p.stderr, p.stderr


def _derived(doc):
    """The numbers probes/derive.c computes, as a sample line carries them."""
    return {
        "collected_per_s": doc["cycles"]["collected_per_s"],
        "uncollectable_total": doc["cycles"]["uncollectable_total"],
        "fragmentation": doc["alloc"]["fragmentation"],
        "pymalloc_kib_per_min": doc["growth"]["pymalloc_kib_per_min"],
        "recent_shapes": doc["cycles"]["recent_shapes"],
        "capture_wall_share": (doc["cycles"]["capture"] or {}).get("wall_share"),
    }


def test_replay_and_export_derive_what_was_recorded():
    """--record writes the derived numbers; replaying the recording derives
    them again from its samples, and the dashboard's export (e) over the
    replay carries the same ones: at the last sample and at the first."""
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    t = Target(py)
    d = common.tmpdir()
    rec = d + "/rec.jsonl"
    pymemtop("--record", rec, "--duration", "6", "--interval", "0.5", t.pid, check=0)
    samples = [json.loads(x) for x in open(rec) if '"event"' not in x]
    assert len(samples) >= 8, len(samples)
    assert any(v > 0 for s in samples for v in s["cycles"]["collected_per_s"]), samples[-1]
    assert samples[-1]["cycles"]["recent_shapes"], samples[-1]["cycles"]  # the demo's cycles
    tm = common.Tmux(["--replay", rec], 100, 30, env="cd %s &&" % d)
    tm.wait_for(r"REPLAY")
    for key, index in (("}", len(samples) - 1), ("{", 0)):
        tm.send(key)
        tm.wait_for(r"sample %d of %d" % (index + 1, len(samples)))
        before = set(glob.glob(d + "/pymemtop-*.json"))
        time.sleep(1.1)  # a new export file name (one per second)
        tm.send("e")
        tm.wait_for(r"exported to (\S+\.json)")
        (path,) = set(glob.glob(d + "/pymemtop-*.json")) - before
        exported = json.load(open(path))["state"]
        assert _derived(exported) == _derived(samples[index]), (index, _derived(exported),
                                                                _derived(samples[index]))
    tm.send("q")
    tm.wait_for(r"EXIT=0")
    t.stop()
