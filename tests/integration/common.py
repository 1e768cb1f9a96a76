"""Shared helpers for the integration tests: real targets, the real binary,
tmux for the dashboard. No mocks."""
import glob
import json
import os
import pwd
import re
import shlex
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
_build_copy = None


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


def socket_inodes(pid):
    """Inodes of the sockets process pid holds open (from /proc/PID/fd)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def poll(pred, timeout=10, what="the expected state", interval=0.02, alive=None):
    """Calls pred() until it returns something true and returns that value.
    After timeout seconds raises AssertionError saying what it waited for
    (what: a string, or a callable called then, e.g. to show the last state).
    alive: a Target or Popen whose exit ends the wait at once (with its exit
    code and, for a Target, its stderr). Waits in the tests go through here
    (or Target.wait_state, Tmux.wait_for), never through a fixed sleep."""
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        proc = getattr(alive, "proc", alive)
        if proc is not None and proc.poll() is not None:
            got = pred()  # the state may have been reached just before the exit
            if got:
                return got
            err = alive.stderr() if hasattr(alive, "stderr") and callable(alive.stderr) else ""
            raise AssertionError("process %d exited with %s while waiting for %s%s" % (
                proc.pid, proc.returncode, what() if callable(what) else what,
                "; stderr: %s" % err if err else ""))
        if time.monotonic() >= end:
            raise AssertionError("waited %.1f s for %s" % (
                timeout, what() if callable(what) else what))
        time.sleep(interval)


def _task_sched(pid, tid):
    """(state letter, voluntary context switches) of one thread, None once gone."""
    try:
        with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
            switches = next(int(l.split()[1]) for l in f if l.startswith("voluntary_ctxt_switches:"))
    except (OSError, StopIteration):
        return None
    return state, switches


def wait_blocked(target, tid=None, quiet=0.1, timeout=20):
    """Until thread tid (default: the main thread) of target has slept (state
    S) for `quiet` seconds without one voluntary context switch: parked in one
    long blocking call (sleep, join, a wait), not starting up and not waiting
    for the GIL (a GIL waiter wakes every switch interval, 5 ms)."""
    pid = target.pid
    tid = tid or pid
    seen = {}

    def parked():
        now = _task_sched(pid, tid)
        t = time.monotonic()
        if now is None or now[0] != "S" or now[1] != seen.get("switches"):
            seen.update(switches=now and now[1], since=t)
            return False
        return t - seen["since"] >= quiet

    poll(parked, timeout, lambda: "thread %d of %d parked in a blocking call (last state, "
         "switches: %s)" % (tid, pid, _task_sched(pid, tid)), interval=0.01, alive=target)


def wait_threads(target, n, timeout=20):
    """Until target runs at least n threads (its interpreter started them)."""
    def count():
        try:
            return len(os.listdir("/proc/%d/task" % target.pid)) >= n
        except OSError:
            return False
    poll(count, timeout, "%d threads in process %d" % (n, target.pid), alive=target)


def tmpdir():
    d = tempfile.mkdtemp(prefix="pymemtop-test-")
    os.chmod(d, 0o755)
    _tmpdirs.append(d)
    return d


def build_copy():
    """The directory of a copy of the binary and the agent (0755, in a fresh
    0755 directory under /tmp) for running pymemtop as another user: that
    user may not be able to reach the checkout (a clone under /root is behind
    a 0700 directory), and the binary looks for its agent next to itself.
    One copy per test, removed with its tmpdir."""
    global _build_copy
    if _build_copy is None:
        d = tmpdir()
        for name in ("pymemtop", "pymemtop_agent.so"):
            shutil.copyfile(os.path.join(BUILD, name), os.path.join(d, name))
            os.chmod(os.path.join(d, name), 0o755)
        _build_copy = d
    return _build_copy


def as_user(user, argv):
    """argv run as user (a name), with that user's groups."""
    return ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"] + list(argv)


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
            demo = DEMO
            if user:
                # The other user may not reach the checkout: run a copy.
                demo = os.path.join(self.dir, "demo.py")
                shutil.copyfile(DEMO, demo)
            argv = [demo, "--state", self.state_path] + list(args)
        if user:
            os.chown(self.dir, pwd.getpwnam(user).pw_uid, -1)
        cmd = list(wrapper) + py.argv(*argv, user=user)
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        # Another user's process starts in a directory it can read, not in
        # the runner's (maybe the checkout, maybe unreachable for it).
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, env=env,
                                     cwd=self.dir if user else None)
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
        def matched():
            s = self.state()
            return s if s and pred(s) else None
        return poll(matched, timeout, lambda: "the target's state to match; last: %s"
                    % self.state(), interval=0.05, alive=self)

    def wait_output(self, text, timeout=20):
        """Until the target's stdout contains text; returns the stdout."""
        return poll(lambda: text in self.stdout() and self.stdout(), timeout,
                    lambda: "%r on the target's stdout; got %r" % (text, self.stdout()[-500:]),
                    alive=self)

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
    """Runs the binary; as user (a name) if given, then from build_copy() and
    started in that directory, so where the checkout lives never matters."""
    cmd = [BIN] + [str(a) for a in args]
    cwd = None
    if user:
        cwd = build_copy()
        cmd = as_user(user, [os.path.join(cwd, "pymemtop")] + cmd[1:])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)
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
        # Quoted: the checkout's path (the binary's) may hold spaces or quotes.
        cmd = "%s %s; echo EXIT=$?; sleep 30" % (
            env, " ".join(shlex.quote(str(a)) for a in [BIN] + list(args)))
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), "env LANG=C.UTF-8 sh -c " + shlex.quote(cmd)],
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
        last = [""]

        def shown():
            last[0] = self.capture()
            m = re.search(pattern, last[0])
            return m and (m, last[0])
        return poll(shown, timeout, lambda: "the screen to show /%s/; last screen:\n%s"
                    % (pattern, last[0]), interval=0.1)

    def wait_screen(self, pred, timeout=10, what="the screen to change"):
        """Until pred(screen) is true; returns that screen."""
        last = [""]

        def shown():
            last[0] = self.capture()
            return pred(last[0]) and last[0]
        return poll(shown, timeout, lambda: "%s; last screen:\n%s" % (what, last[0]),
                    interval=0.1)

    def kill(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], stderr=subprocess.DEVNULL)


def cleanup():
    global _build_copy
    _build_copy = None
    while _tmux:
        subprocess.run(["tmux", "kill-session", "-t", _tmux.pop()], stderr=subprocess.DEVNULL)
    while _procs:
        p = _procs.pop()
        if p.poll() is None:
            p.kill()
            p.wait()
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)
