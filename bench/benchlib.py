"""What the benchmarks share: finding the Pythons (Debian sid's in their
root too, through tests/pythons.py, the same code the integration tests use),
private copies of the build, running a target script, the agent bootstrap and
socket client that in-process targets embed, and reading a process's CPU and
memory from /proc.

The bench scripts import it as `benchlib` (Python puts the script's own
directory, bench/, first on sys.path)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
import pythons as interp  # noqa: E402  (tests/pythons.py)

Py = interp.Py
PYENV_GLOB = interp.PYENV_GLOB
SYSTEM_PYTHON = interp.SYSTEM_PYTHON


def python_version(path):
    """platform.python_version() of the interpreter at path, None if it does not answer."""
    return interp.version([path])


def minor_of(version):
    return tuple(int(x) for x in version.split(".")[:2])


def find_pythons():
    """(path, version) of every CPython >= 3.8 that runs directly: pyenv's 3.x,
    then /usr/bin/python3 (Debian sid's: find_all())."""
    return [(p.path, p.version) for p in interp.find_local()]


def sid_namespace(build):
    """Call first in a bench script that runs Debian sid's interpreters: as
    root, re-executes the script in a private mount namespace where the sid
    root sees the checkout, build and /tmp (tests/pythons.py); returns there."""
    interp.enter_namespace(sys.argv[0], sys.argv[1:], build)


def find_all(build, sid=True):
    """(Py list, missing): every CPython >= 3.8 found (pyenv's, /usr/bin/python3
    and, with sid, Debian sid's 3.14, 3.15, 3.14-dbg) and, as (label, why), the
    sid interpreters that cannot run here, e.g. ("3.15-sid", "not provisioned
    (... missing), run make pythons"). sid needs sid_namespace(build) first."""
    found = interp.find_local()
    missing = []
    if sid:
        runner = "bench/%s as root" % os.path.basename(sys.argv[0])
        sid_found, sid_missing = interp.find_sid(build, runner)
        found += sid_found
        missing = [(label, why) for label, _what, why in sid_missing]
    return found, missing


def bench_pythons(all_versions, build=None, sid=False):
    """(Py list, missing): /usr/bin/python3, the newest pyenv 3.8 and 3.13 and,
    with sid, Debian sid's 3.14, 3.15 and 3.14-dbg; or every Python found with
    all_versions. missing as in find_all()."""
    found, missing = find_all(build, sid)
    if all_versions:
        return found, missing
    local = [p for p in found if not p.root]
    out = [p for p in local if p.path == SYSTEM_PYTHON]
    for want in ("3.8.", "3.13."):
        cands = [p for p in local if p.version.startswith(want) and p.path != SYSTEM_PYTHON]
        out += cands[-1:]
    return out + [p for p in found if p.root], missing


def default_pythons(all_versions):
    """(label, path, version): /usr/bin/python3 and the newest pyenv 3.8 and
    3.13, or every Python found with all_versions (not Debian sid's: bench_pythons())."""
    return [(p.label, p.path, p.version) for p in bench_pythons(all_versions)[0]]


def argv(py, *args):
    """The command that runs py (a Py, or an executable's path) with args."""
    if isinstance(py, str):
        return [py] + [str(a) for a in args]
    return py.argv(*args)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def private_copy(build, names=("pymemtop", "pymemtop_agent.so"), prefix="pymemtop-bench-",
                 mode=None):
    """A private directory holding copies of these files from the build, so a
    concurrent rebuild cannot change them mid-run. The caller removes it."""
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        if mode is not None:
            os.chmod(d, mode)
        for name in names:
            shutil.copy2(os.path.join(build, name), os.path.join(d, name))
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    return d


def run_target(py, source, args, quiet_stderr=False, timeout=600):
    """Runs `source` as a script under py (a Py or a path) with args; its last
    stdout line, as JSON. The script is written to /tmp, which a Debian sid
    root sees after sid_namespace()."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
        script = f.name
    try:
        p = subprocess.run(argv(py, script, *args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    finally:
        os.unlink(script)
    if p.returncode != 0 or not p.stdout.strip():
        raise RuntimeError("target failed (exit %d): %s" % (p.returncode, p.stderr[-800:]))
    if quiet_stderr and p.stderr.strip():
        raise RuntimeError("target wrote to stderr: %s" % p.stderr[-800:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def once_json(binary, pid, timeout=60):
    """`pymemtop --once --json PID`, parsed; raises when it fails."""
    p = subprocess.run([binary, "--once", "--json", str(pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("pymemtop --once: %s" % p.stderr.strip())
    return json.loads(p.stdout)


def proc_cpu_ticks(pid, tid=None):
    """utime + stime of a process (or one of its threads), in clock ticks."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def proc_status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


# ---- text embedded in in-process targets (any Python 3.8+) ----

# Loads the agent (argv's AGENT) the way pymemtop's injected bootstrap does.
TARGET_BOOT = r'''
boot = ("try:\n exec(\"import sys,_imp\\ns=sys.modules['_frozen_importlib'].ModuleSpec("
        "'_pymemtop_agent',None,origin=%r)\\nm=_imp.create_dynamic(s)\\n_imp.exec_dynamic(m)\\n"
        "m._start()\",{})\nexcept BaseException:\n pass\n" % AGENT)
exec(compile(boot, "<boot>", "exec"), {})
'''

# Connects to the agent's socket; frame() reads one frame as {tag: [bytes]},
# command() sends a COMMAND frame.
TARGET_CLIENT = r'''
# The agent listens on an abstract name, "pymemtop.PID.RANDOM" (its spare
# sockets add ".SEQ"), on one of our own fds: asked of each socket (no /proc
# needed: sid's chroot has none).
def agent_name():
    prefix = b"\0pymemtop.%d." % os.getpid()
    for fd in range(3, 1024):
        try:
            s = socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            name = s.getsockname()
        except OSError:
            name = None
        s.close()
        if isinstance(name, bytes) and name.startswith(prefix) and name.count(b".") == 2:
            return name
    return None

sock = socket.socket(socket.AF_UNIX)
for _ in range(200):
    try:
        sock.connect(agent_name())
        break
    except (OSError, TypeError):
        time.sleep(0.01)

def recvn(n):
    b = b""
    while len(b) < n:
        c = sock.recv(n - len(b))
        if not c:
            raise EOFError("agent closed the connection")
        b += c
    return b

def frame():
    _magic, _ver, typ, ln = struct.unpack("<IHHI", recvn(12))
    p = recvn(ln)
    f, o = {}, 0
    while o < len(p):
        tag, fl = struct.unpack_from("<HH", p, o)
        o += 4
        f.setdefault(tag, []).append(p[o:o + fl])
        o += fl
    return typ, f

def u64(f, tag):
    return struct.unpack("<Q", f[tag][0])[0]

def command(cmd_id, name):
    name = name.encode()
    pl = (struct.pack("<HHQ", 60, 8, cmd_id) + struct.pack("<HH", 61, len(name)) + name
          + struct.pack("<HHq", 62, 8, 0))
    sock.sendall(struct.pack("<IHHI", 0x50544D50, 1, 4, len(pl)) + pl)
'''
