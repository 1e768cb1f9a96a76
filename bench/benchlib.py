"""What the benchmarks share: finding the Pythons, private copies of the
build, running a target script, the agent bootstrap and socket client that
in-process targets embed, and reading a process's CPU and memory from /proc.

The bench scripts import it as `benchlib` (Python puts the script's own
directory, bench/, first on sys.path)."""
import glob
import json
import os
import shutil
import statistics
import subprocess
import tempfile

PYENV_GLOB = "/root/.pyenv/versions/3.*/bin/python3"
SYSTEM_PYTHON = "/usr/bin/python3"


def python_version(path):
    """platform.python_version() of the interpreter at path, None if it does not answer."""
    try:
        return subprocess.run([path, "-c", "import platform;print(platform.python_version())"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              timeout=20).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def minor_of(version):
    return tuple(int(x) for x in version.split(".")[:2])


def find_pythons():
    """(path, version) of every CPython >= 3.8: pyenv's 3.x, then /usr/bin/python3."""
    found = []
    for path in sorted(glob.glob(PYENV_GLOB)) + [SYSTEM_PYTHON]:
        if not os.access(path, os.X_OK):
            continue
        v = python_version(path)
        if v and minor_of(v) >= (3, 8):
            found.append((path, v))
    return found


def default_pythons(all_versions):
    """(label, path, version): /usr/bin/python3 and the newest pyenv 3.8 and
    3.13, or every Python found with all_versions."""
    found = [(v + ("-debian" if path.startswith("/usr/bin") else ""), path, v)
             for path, v in find_pythons()]
    if all_versions:
        return found
    out = [p for p in found if p[1] == SYSTEM_PYTHON]
    for want in ("3.8.", "3.13."):
        cands = [p for p in found if p[2].startswith(want) and p[1] != SYSTEM_PYTHON]
        out += cands[-1:]
    return out


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
    """Runs `source` as a script under py with args; its last stdout line, as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
        script = f.name
    try:
        p = subprocess.run([py, script] + [str(a) for a in args], stdout=subprocess.PIPE,
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
path = "/tmp/.pymemtop-%d/%d.sock" % (os.geteuid(), os.getpid())
sock = socket.socket(socket.AF_UNIX)
for _ in range(200):
    try:
        sock.connect(path)
        break
    except OSError:
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
