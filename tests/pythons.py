"""Which interpreters there are and how to start them: pyenv's, the
system's, and Debian sid's 3.14, 3.15 and
3.14-dbg that `make pythons` (tests/provision_pythons.sh) puts in a root of
their own: one implementation for the integration tests
(tests/integration/common.py, tests/run.py) and the benchmarks
(bench/benchlib.py). Imports only the standard library.

sid's binaries need sid's glibc, so they run as `chroot ROOT /usr/bin/python3.X`.
A target in the root must see its script, the agent and the agent's socket
directory at the same paths as the monitor does: as root, enter_namespace()
re-executes the calling script in a private mount namespace and bind-mounts
the checkout (and a build directory outside it) at the same paths in ROOT and
/tmp onto ROOT/tmp. The mounts vanish with the process.
"""
import glob
import grp
import os
import pwd
import shutil
import subprocess
import sys

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYENV_GLOB = "/root/.pyenv/versions/3.*/bin/python3"
SYSTEM_PYTHON = "/usr/bin/python3"
SID_ROOT = os.environ.get("PYMEMTOP_SID_ROOT", "/var/cache/pymemtop/sid-root")
# (minor, executable in the root, label suffix, what)
SID_PYTHONS = [("3.14", "python3.14", "-sid", "CPython 3.14"),
               ("3.15", "python3.15", "-sid", "CPython 3.15"),
               ("3.14", "python3.14d", "-sid-dbg", "CPython 3.14 debug build")]
NS_ENV = "PYMEMTOP_SID_MOUNTNS"


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


def version(cmd):
    """platform.python_version() of the interpreter started by cmd (a list), None if it does not answer."""
    try:
        out = subprocess.run(list(cmd) + ["-c", "import platform;print(platform.python_version())"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=20).stdout.strip()
        return out or None
    except (OSError, subprocess.SubprocessError):
        return None


def find_local():
    """CPython >= 3.8 that run directly: pyenv's 3.x, then /usr/bin/python3."""
    found = []
    for path in sorted(glob.glob(PYENV_GLOB)) + [SYSTEM_PYTHON]:
        if not os.access(path, os.X_OK):
            continue
        v = version([path])
        if v and tuple(int(x) for x in v.split(".")[:2]) >= (3, 8):
            found.append(Py(path, v))
    return found


def same_file(a, b):
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _mounts(build):
    build = os.path.abspath(build) if build else None
    mounts = [(CHECKOUT, SID_ROOT + CHECKOUT), ("/tmp", SID_ROOT + "/tmp")]
    if build and not (build + "/").startswith(CHECKOUT + "/"):
        mounts.append((build, SID_ROOT + build))
    return mounts


def unusable(build=None, runner="tests/run.py"):
    """Why the sid root's interpreters cannot be started here, or None.
    build: a build directory targets load the agent from; runner: what to
    run so that the mounts are made (said in the reason)."""
    if not os.path.isdir(SID_ROOT):
        return "not provisioned (%s missing), run make pythons" % SID_ROOT
    if os.geteuid() != 0:
        return "needs root (chroot)"
    if not all(same_file(src, dst) for src, dst in _mounts(build)):
        return "the checkout and /tmp are not mounted in %s (run through %s)" % (SID_ROOT, runner)
    return None


def find_sid(build=None, runner="tests/run.py"):
    """Debian sid's interpreters that run here: (found Py list, missing), missing
    being (label, what, why) of the others, e.g. ("3.14-sid-dbg", "CPython 3.14
    debug build (Debian sid root)", "not provisioned (...), run make pythons")."""
    found, missing = [], []
    why_not = unusable(build, runner)
    for minor, exe, suffix, what in SID_PYTHONS:
        where = "%s (Debian sid root)" % what
        if why_not:
            missing.append((minor + suffix, where, why_not))
            continue
        py = Py(SID_ROOT + "/usr/bin/" + exe, "0.0", root=SID_ROOT, exe="/usr/bin/" + exe)
        v = version(py.cmd)
        if not v:
            missing.append((minor + suffix, where,
                            "%s does not run in %s, run make pythons" % (exe, SID_ROOT)))
            continue
        found.append(Py(py.path, v, root=SID_ROOT, exe=py.exe, suffix=suffix))
    return found, missing


def enter_namespace(script, args, build=None, note=None):
    """Make the mounts find_sid() needs: re-executes `sys.executable script
    args` under `unshare --mount --propagation private` (exec keeps the PID,
    so the new image knows it is the one inside), then bind-mounts. Returns
    only inside that namespace, or when it cannot (or need not) be made: as
    non-root, without the root, or nested in another such namespace. note(msg)
    reports a failure (default: print "NOTE msg")."""
    if note is None:
        def note(msg):
            print("NOTE " + msg, flush=True)
    if os.geteuid() != 0 or not os.path.isdir(SID_ROOT):
        return
    if os.environ.get(NS_ENV) != str(os.getpid()):
        if os.environ.get(NS_ENV) or not shutil.which("unshare"):
            return
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if probe.returncode != 0:
            note("no private mount namespace (%s): Debian sid Pythons not used"
                 % probe.stderr.strip())
            return
        sys.stdout.flush()
        sys.stderr.flush()
        os.environ[NS_ENV] = str(os.getpid())
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                              sys.executable, os.path.abspath(script)] + list(args))
    for src, dst in _mounts(build):
        if same_file(src, dst):
            continue
        os.makedirs(dst, exist_ok=True)
        r = subprocess.run(["mount", "--bind", src, dst], stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            note("mount --bind %s %s failed: %s" % (src, dst, r.stderr.strip()))
