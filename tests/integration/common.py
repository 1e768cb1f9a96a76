"""Shared helpers for the integration tests: real targets, the real binary,
tmux for the dashboard. No mocks."""
import glob
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pythons  # noqa: E402  (tests/pythons.py)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "tests", "targets", "demo.py")
BUILD = None
BIN = None
TEST_USER = "pymemtop-test"
WANTED = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]

_procs = []
_tmux = []
_tmpdirs = []


class Skip(Exception):
    pass


def setup(build):
    global BUILD, BIN
    BUILD = build
    BIN = os.path.join(build, "pymemtop")


# How to start an interpreter (Debian sid's in their root too): tests/pythons.py,
# shared with the benchmarks.
SID_ROOT = pythons.SID_ROOT
SID_PYTHONS = pythons.SID_PYTHONS
Py = pythons.Py
_version = pythons.version
_same_file = pythons.same_file


def sid_unusable():
    """Why the sid root's interpreters cannot be tested here, or None (see
    tests/pythons.py: tests/run.py makes the mounts they need)."""
    return pythons.unusable(BUILD)


def find_pythons():
    """CPython >= 3.8 found: pyenv versions, /usr/bin/python3 and Debian sid's
    3.14, 3.15 and 3.14-dbg in SID_ROOT. Returns (found, missing): missing are
    one-line descriptions of wanted interpreters that are not tested."""
    found, missing = pythons.find_local(), []
    sid_found, sid_missing = pythons.find_sid(BUILD)
    found += sid_found
    missing += ["%s: %s" % (where, why) for _label, where, why in sid_missing]
    sid_minors = {minor for minor, _exe, _suffix, _what in SID_PYTHONS}
    have = {".".join(p.version.split(".")[:2]) for p in found}
    missing += ["CPython %s is not on this machine" % w for w in WANTED
                if w not in have and w not in sid_minors]
    return found, missing


def old_pythons():
    out = []
    for path in sorted(glob.glob("/root/.pyenv/versions/*/bin/python")):
        v = _version([path])
        if v and tuple(int(x) for x in v.split(".")[:2]) < (3, 8):
            out.append(Py(path, v))
    return out


def tmpdir():
    d = tempfile.mkdtemp(prefix="pymemtop-test-")
    os.chmod(d, 0o755)
    _tmpdirs.append(d)
    return d


class Target:
    """A real Python process running the demo target (or any code)."""

    def __init__(self, py, args=(), code=None, user=None, wrapper=(), wait_state=True, env=None):
        self.dir = tmpdir()
        self.state_path = os.path.join(self.dir, "state.json")
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        if code is not None:
            script = os.path.join(self.dir, "target.py")
            with open(script, "w") as f:
                f.write(code)
            argv = [script] + list(args)
        else:
            argv = [DEMO, "--state", self.state_path] + list(args)
        if user:
            os.chown(self.dir, pwd.getpwnam(user).pw_uid, -1)
        cmd = list(wrapper) + py.argv(*argv, user=user)
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, env=env)
        _procs.append(self.proc)
        self.pid = self.proc.pid
        if code is None and wait_state:
            self.wait_state(lambda s: s["tick"] >= 2)

    def state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def wait_state(self, pred, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = self.state()
            if s and pred(s):
                return s
            if self.proc.poll() is not None:
                raise AssertionError("target exited with %s; stderr: %s"
                                     % (self.proc.returncode, self.stderr()))
            time.sleep(0.05)
        raise AssertionError("target state never matched; last: %s" % self.state())

    def stdout(self):
        self.out.flush()
        with open(self.out_path) as f:
            return f.read()

    def stderr(self):
        self.err.flush()
        with open(self.err_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def pymemtop(*args, timeout=30, user=None, check=None):
    cmd = [BIN] + [str(a) for a in args]
    if user:
        cmd = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if check is not None:
        assert p.returncode == check, "pymemtop %s: exit %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd[1:]), p.returncode, check, p.stdout, p.stderr)
    return p


def once_json(pid, *extra, **kw):
    p = pymemtop("--once", "--json", *extra, pid, check=0, **kw)
    return json.loads(p.stdout)


def ensure_user():
    """A second, unprivileged user for permission tests (created if missing)."""
    if os.geteuid() != 0:
        raise Skip("needs root to create the test user")
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        TEST_USER], check=True)
    return TEST_USER


class Tmux:
    """The real dashboard in a detached tmux session."""
    count = 0

    def __init__(self, args, width=100, height=30, env=""):
        if not shutil.which("tmux"):
            raise AssertionError("tmux is not installed (make deps installs it)")
        Tmux.count += 1
        self.name = "pymemtop-test-%d-%d" % (os.getpid(), Tmux.count)
        cmd = "%s %s %s; echo EXIT=$?; sleep 30" % (env, BIN, " ".join(str(a) for a in args))
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), "env LANG=C.UTF-8 sh -c '%s'" % cmd],
                       check=True)
        _tmux.append(self.name)

    def capture(self):
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              stdout=subprocess.PIPE, text=True).stdout

    def send(self, *keys):
        subprocess.run(["tmux", "send-keys", "-t", self.name] + list(keys), check=True)

    def resize(self, w, h):
        subprocess.run(["tmux", "resize-window", "-t", self.name, "-x", str(w), "-y", str(h)],
                       check=True)

    def wait_for(self, pattern, timeout=10):
        end = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < end:
            screen = self.capture()
            m = re.search(pattern, screen)
            if m:
                return m, screen
            time.sleep(0.1)
        raise AssertionError("screen never showed /%s/; last screen:\n%s" % (pattern, screen))

    def kill(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], stderr=subprocess.DEVNULL)


def cleanup():
    while _tmux:
        subprocess.run(["tmux", "kill-session", "-t", _tmux.pop()], stderr=subprocess.DEVNULL)
    while _procs:
        p = _procs.pop()
        if p.poll() is None:
            p.kill()
            p.wait()
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)
