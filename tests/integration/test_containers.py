"""Containers (issue 11): pymemtop attaches to a CPython whose mount, root and
PID namespaces differ from its own, with nothing of pymemtop in the container
and nothing left in its filesystem: real systemd-nspawn (read-only root,
read-only /tmp and /dev/shm, own network namespace) and
`unshare --mount --pid --fork chroot --userspec=1000:1000` (no /proc in the
root: the file fallback) targets, with Debian sid's 3.14 and 3.15 and the
host's python3.

Each container sees the sid root as `make pythons` left it: the runner's
bind mounts of the checkout and /tmp into the root (tests/pythons.py) are
undone in the container's own mount namespace first, and the target checks
that the agent's host path does not exist for it."""
import json
import os
import shutil
import signal
import subprocess
import time

import common
from common import Skip, pymemtop

SID = common.SID_ROOT
# Runs in a fresh mount namespace: drop every mount under the sid root (the
# runner's binds of the checkout, the build and /tmp), deepest first.
UNBIND = ('for m in $(awk \'{print $5}\' /proc/self/mountinfo | grep "^%s/" | sort -r); do '
          'umount -l "$m" || exit 1; done; ' % SID)

TARGET = r'''
import os, sys, time
print("ready agent-visible=%s" % os.path.exists(sys.argv[1]), flush=True)
keep = []
while not os.path.exists(sys.argv[2]):
    keep.append([object() for _ in range(20)])
    if len(keep) > 200:
        keep.clear()
    time.sleep(0.02)
print("done", flush=True)
'''
EXPECTED_OUT = "ready agent-visible=False\ndone\n"


def _need(shape):
    if os.geteuid() != 0:
        raise Skip("needs root (namespaces, chroot, nspawn)")
    why = common.sid_unusable()
    if why and "not mounted" not in why:  # the binds are undone here anyway
        raise Skip("Debian sid root: %s" % why)
    if not os.path.isfile(os.path.join(SID, "usr/bin/python3.14")):
        raise Skip("Debian sid root has no python3.14 (run make pythons)")
    if shape == "nspawn" and not shutil.which("systemd-nspawn"):
        raise Skip("systemd-nspawn missing (Debian package systemd-container; make deps)")
    if not shutil.which("unshare"):
        raise Skip("unshare missing (util-linux)")


class Container:
    """One target in one container; stop() ends it (the namespace's init
    gets SIGKILL: PID 1 of a PID namespace ignores SIGTERM)."""

    def __init__(self, shape, exe):
        self.shape, self.exe = shape, exe
        self.scripts = common.tmpdir()       # bound read-only at /mnt
        self.empty = common.tmpdir()         # nspawn's read-only /tmp and /dev/shm
        self.canary = common.tmpdir()        # planted links point here
        with open(os.path.join(self.scripts, "t.py"), "w") as f:
            f.write(TARGET)
        stop = "/mnt/stop"
        args = [exe, "/mnt/t.py", common.BIN.replace("pymemtop", "pymemtop_agent.so"), stop]
        if shape == "nspawn":
            cmd = ["unshare", "--mount", "--propagation", "private", "--kill-child", "sh", "-c",
                   UNBIND + 'exec "$@"', "sh", "systemd-nspawn", "-q", "-D", SID,
                   "--register=no", "--keep-unit", "--read-only", "--private-network",
                   "--bind-ro=%s:/tmp" % self.empty, "--bind-ro=%s:/dev/shm" % self.empty,
                   "--bind-ro=%s:/mnt" % self.scripts, "--as-pid2"] + args
        elif shape == "chroot":
            cmd = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                   "--kill-child", "sh", "-c",
                   UNBIND + "mount -t tmpfs -o mode=1777 tmpfs %s/tmp && "
                   "mount --bind -o ro %s %s/mnt && exec chroot --userspec=1000:1000 %s \"$@\""
                   % (SID, self.scripts, SID, SID), "sh"] + args
        else:  # the host's python3: the host's root, own mount and PID namespaces
            cmd = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                   "--kill-child", "sh", "-c",
                   "mount --bind -o ro %s /mnt && mount -t tmpfs -o mode=1777 tmpfs /tmp && "
                   "exec setpriv --reuid=1000 --regid=1000 --clear-groups \"$@\"" % self.scripts,
                   "sh"] + args
        self.out_path = os.path.join(self.canary + "-out")
        self.out = open(self.out_path, "w")
        self.err = open(self.out_path + "-err", "w")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        common._procs.append(self.proc)
        self.pid = self._find()
        self._wait_out("ready")

    def _find(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if argv[:2] == [self.exe.encode(), b"/mnt/t.py"] and \
                        os.readlink("/proc/%s/cwd" % d) != "/proc":
                    if argv[2:3] == [common.BIN.replace("pymemtop", "pymemtop_agent.so").encode()] \
                            and self._ours(int(d)):
                        return int(d)
            if self.proc.poll() is not None:
                raise AssertionError("container exited %s: %s" % (self.proc.returncode,
                                                                  self.stderr()))
            time.sleep(0.05)
        raise AssertionError("no target process appeared: %s" % self.stderr())

    def _ours(self, pid):
        p = pid
        while p > 1:  # a descendant of our wrapper
            if p == self.proc.pid:
                return True
            with open("/proc/%d/stat" % p) as f:
                p = int(f.read().rsplit(")", 1)[1].split()[1])
        return False

    def _wait_out(self, word, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if word in self.stdout():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("target never printed %r: %r %r" % (word, self.stdout(),
                                                                 self.stderr()))

    def stdout(self):
        self.out.flush()
        with open(self.out_path) as f:
            return f.read()

    def stderr(self):
        with open(self.out_path + "-err") as f:
            return f.read()

    def finish(self):
        """Lets the target end by itself; returns its whole output."""
        open(os.path.join(self.scripts, "stop"), "w").close()
        self._wait_out("done")
        self.proc.wait(30)
        return self.stdout()

    def expected_out(self):
        # Only the host-python shape shares the host's root, and so maybe the
        # agent's path: whether uid 1000 sees it depends on where the checkout
        # lives (not under /root, 0700, nor /tmp, a tmpfs there). The ready
        # line is printed before any attach: take it as the target saw it.
        if self.shape == "host-python":
            return self.stdout().splitlines(True)[0] + "done\n"
        return EXPECTED_OUT

    def ns_pid(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])

    def writable_view(self):
        """Every name under the container's writable places (and the ones
        nspawn makes read-only), with sizes: must not change across attach."""
        out = {}
        # The host-python shape shares the host's root: only its /tmp is its own.
        tops = ("tmp",) if self.shape == "host-python" else ("tmp", "dev/shm", "var/tmp", "run")
        for top in tops:
            base = "/proc/%d/root/%s" % (self.pid, top)
            for dirpath, dirs, files in os.walk(base):
                for n in dirs + files:
                    p = os.path.join(dirpath, n)
                    try:
                        st = os.lstat(p)
                    except OSError:
                        continue
                    out[p[len(base) - len(top):]] = (st.st_mode, st.st_size)
        return out


def _json(p):
    assert p.returncode == 0, "exit %d: %s %s" % (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout.splitlines()[-1])


SHAPES = [("nspawn", "/usr/bin/python3.14"), ("nspawn", "/usr/bin/python3.15"),
          ("chroot", "/usr/bin/python3.14"), ("chroot", "/usr/bin/python3.15"),
          ("host-python", "/usr/bin/python3")]


def test_containers_attach_every_mode():
    """--check, --list, --once, --command, --record and a reuse, per shape;
    the target's output unchanged and its filesystem as it was."""
    for shape, exe in SHAPES:
        _need(shape)
        c = Container(shape, exe)
        try:
            before = c.writable_view()
            chk = pymemtop("--check", c.pid, timeout=30)
            assert chk.returncode == 0, (shape, exe, chk.stdout, chk.stderr)
            assert "container" in chk.stdout and "PID %d inside" % c.ns_pid() in chk.stdout, \
                chk.stdout
            way = "memfd" if shape != "chroot" else "file"
            assert "agent way  %s" % way in chk.stdout, chk.stdout
            ls = pymemtop("--list", "--json", timeout=30)
            row = [r for r in json.loads(ls.stdout) if r["pid"] == c.pid]
            assert row and row[0]["ns_pid"] == c.ns_pid() and row[0]["container"], (row, ls.stdout)
            d = _json(pymemtop("--once", "--json", c.pid, timeout=60))
            assert d["agent"]["injected"] and d["agent"]["state"] == "live", d["agent"]
            print("NOTE containers [%s %s]: attach %.1f ms (stopped %.2f ms, %s)" % (
                shape, exe, d["agent"]["attach_ns"] / 1e6, d["agent"]["target_stop_ns"] / 1e6,
                d["agent"]["attach_via"]), flush=True)
            r = pymemtop("--command", "census", "--command", "collect", "--json", c.pid,
                         timeout=60)
            lines = [json.loads(x) for x in r.stdout.splitlines()]
            assert r.returncode == 0 and all(x["status"] == "ok" for x in lines), r.stdout
            rec = os.path.join(c.canary, "rec.jsonl")
            r = pymemtop("--record", rec, "--duration", "1", "--interval", "0.2", c.pid,
                         timeout=60)
            assert r.returncode == 0, r.stderr
            with open(rec) as f:
                samples = [json.loads(x) for x in f if '"gc"' in x]
            assert samples and not samples[0]["agent"]["injected"], samples[:1]
            chk = pymemtop("--check", c.pid, timeout=30)
            assert "already loaded" in chk.stdout, chk.stdout
            after = c.writable_view()
            assert after == before, set(after.items()) ^ set(before.items())
            assert c.finish() == c.expected_out(), (shape, exe, c.stdout(), c.stderr())
        finally:
            common.cleanup()


def test_containers_dashboard():
    _need("nspawn")
    c = Container("nspawn", "/usr/bin/python3.14")
    tm = common.Tmux([c.pid])
    tm.wait_for(r"loaded the agent|Python 3\.14", timeout=30)
    tm.send("q")
    tm.wait_for(r"EXIT=0", timeout=15)
    assert c.finish() == EXPECTED_OUT, c.stdout()


def test_containers_planted_links():
    """Links the container planted under every name pymemtop could use in
    its /tmp are never written through: the agent's file (the chroot has no
    /proc, so the agent goes in as a file) gets a name with a random part
    that no planted link can be at, and the old names (.pymemtop-agent.PID.so,
    and the socket directories /tmp/.pymemtop-UID the agent used to make)
    change nothing, since nothing is made there."""
    for shape, exe in (("chroot", "/usr/bin/python3.14"), ("host-python", "/usr/bin/python3")):
        _need(shape)
        c = Container(shape, exe)
        try:
            tmp = "/proc/%d/root/tmp" % c.pid
            target_file = os.path.join(c.canary, "written-through")
            names = [".pymemtop-agent.%d.so" % c.ns_pid(), ".pymemtop-0", ".pymemtop-1000"]
            for n in names:
                os.symlink(target_file if n.endswith(".so") else c.canary, os.path.join(tmp, n))
            d = _json(pymemtop("--once", "--json", c.pid, timeout=60))
            assert d["agent"]["injected"], d
            assert not os.path.exists(target_file) and os.listdir(c.canary) == [], \
                os.listdir(c.canary)
            left = sorted(os.listdir(tmp))
            print("NOTE planted links [%s]: %s; left in /tmp: %s" % (shape, d["agent"]["attach_via"], left), flush=True)
            # The links are as planted, and the agent's own file is gone.
            assert left == sorted(names), left
            assert all(os.path.islink(os.path.join(tmp, n)) for n in names), left
            assert c.finish() == c.expected_out(), (shape, c.stdout(), c.stderr())
        finally:
            common.cleanup()
