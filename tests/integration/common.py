"""Shared helpers for the integration tests: real targets, the real binary,
tmux for the dashboard. No mocks."""
import glob
import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

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


# Debian sid's current CPythons, provisioned by `make pythons` (see
# tests/provision_pythons.sh): (minor, executable in the root, label suffix, what).
SID_ROOT = os.environ.get("PYMEMTOP_SID_ROOT", "/var/cache/pymemtop/sid-root")
SID_PYTHONS = [("3.14", "python3.14", "-sid", "CPython 3.14"),
               ("3.15", "python3.15", "-sid", "CPython 3.15"),
               ("3.14", "python3.14d", "-sid-dbg", "CPython 3.14 debug build")]


class Py:
    """One interpreter. Start it only through argv() (or cmd): a Debian sid
    interpreter runs as `chroot ROOT /usr/bin/python3.X`, since it needs sid's
    libc. path is the executable as seen from here (inside the root for those)."""

    def __init__(self, path, version, root=None, exe=None, suffix=None):
        self.path = path
        self.version = version
        self.minor = tuple(int(x) for x in version.split(".")[:2])
        self.root = root
        self.exe = exe or path  # the executable's path as the interpreter sees it
        self.cmd = ["chroot", root, self.exe] if root else [path]
        if suffix is None:
            suffix = "-debian" if path.startswith("/usr/bin") else ""
        self.label = version + suffix

    def argv(self, *args, user=None, cwd=None):
        """The command line that runs this interpreter with args, as user
        (a name) if given, in directory cwd if given (chroot starts in the
        root's /, so the directory is set again inside it)."""
        args = [str(a) for a in args]
        if not self.root:
            if user:
                return ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups",
                        "--", self.path] + args
            return [self.path] + args
        cmd = ["chroot"]
        if user:
            pw = pwd.getpwnam(user)
            groups = [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]
            cmd += ["--userspec=%d:%d" % (pw.pw_uid, pw.pw_gid),
                    "--groups=" + ",".join(str(g) for g in [pw.pw_gid] + groups)]
        cmd.append(self.root)
        if cwd:
            cmd += ["/usr/bin/env", "-C", cwd]
        return cmd + [self.exe] + args

    def shebang(self):
        """A #! line that starts this interpreter (a script's first line)."""
        if not self.root:
            return "#!" + self.path
        return "#!/usr/bin/env -S " + " ".join(self.cmd)

    def __repr__(self):
        return "Py(%s)" % self.label


def _version(cmd):
    try:
        out = subprocess.run(list(cmd) + ["-c", "import platform;print(platform.python_version())"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=20).stdout.strip()
        return out or None
    except (OSError, subprocess.SubprocessError):
        return None


def _same_file(a, b):
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def sid_unusable():
    """Why the sid root's interpreters cannot be tested here, or None. Targets
    in the root need the checkout (scripts, the agent) and /tmp (target state,
    the agent's socket) at the same paths: tests/run.py bind-mounts them in a
    private mount namespace."""
    if not os.path.isdir(SID_ROOT):
        return "not provisioned (%s missing), run make pythons" % SID_ROOT
    if os.geteuid() != 0:
        return "needs root (chroot)"
    if not (_same_file("/tmp", SID_ROOT + "/tmp") and _same_file(ROOT, SID_ROOT + ROOT)
            and (not BUILD or _same_file(BUILD, SID_ROOT + BUILD))):
        return "the checkout and /tmp are not mounted in %s (run through tests/run.py)" % SID_ROOT
    return None


def find_pythons():
    """CPython >= 3.8 found: pyenv versions, /usr/bin/python3 and Debian sid's
    3.14, 3.15 and 3.14-dbg in SID_ROOT. Returns (found, missing): missing are
    one-line descriptions of wanted interpreters that are not tested."""
    found, missing = [], []
    cands = sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3")) + ["/usr/bin/python3"]
    for path in cands:
        if not os.access(path, os.X_OK):
            continue
        v = _version([path])
        if v and tuple(int(x) for x in v.split(".")[:2]) >= (3, 8):
            found.append(Py(path, v))
    why_not = sid_unusable()
    sid_minors = set()
    for minor, exe, suffix, what in SID_PYTHONS:
        sid_minors.add(minor)
        where = "%s (Debian sid root)" % what
        if why_not:
            missing.append("%s: %s" % (where, why_not))
            continue
        py = Py(SID_ROOT + "/usr/bin/" + exe, "0.0", root=SID_ROOT, exe="/usr/bin/" + exe)
        v = _version(py.cmd)
        if not v:
            missing.append("%s: %s does not run in %s, run make pythons" % (where, exe, SID_ROOT))
            continue
        found.append(Py(py.path, v, root=SID_ROOT, exe=py.exe, suffix=suffix))
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
    while _tmux:
        subprocess.run(["tmux", "kill-session", "-t", _tmux.pop()], stderr=subprocess.DEVNULL)
    while _procs:
        p = _procs.pop()
        if p.poll() is None:
            p.kill()
            p.wait()
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)
