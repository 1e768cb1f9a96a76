#!/usr/bin/env python3
"""Several monitors on one agent (issue 12 part 3): what the target pays for
them. Reports numbers; asserts nothing.

Run: /usr/bin/python3 bench/monitors.py --build build [--all] [--seconds S] [--json FILE]

For each Python (/usr/bin/python3 and the newest pyenv 3.8 and 3.13; --all:
every local one), ONE target process that makes reference cycles and
collects (so every reading has pauses to carry), the agent loaded by a
--once. Then, in the same process, phases of --seconds (default 4) each,
with monitors speaking the protocol themselves (abstract socket name):

  one:    1 monitor at 100 ms
  same:   4 monitors at 100 ms, connected 25 ms apart (four phases)
  mixed:  1 monitor at 100 ms and 3 at 1 s (a dashboard and exporters)

Reported per phase: readings per second (distinct sample times over all
monitors), samples per second sent, and the agent's GIL time per second
(observer_ns growth, which counts every reading and command whoever asked).
The obvious alternative, one reading per monitor (the agent as it was, one
agent per monitor), would take readings/s = samples/s: the ratio
samples/readings is what sharing saves.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import benchlib

# The tests' wire helper (tests/integration/agentwire.py): one reader of the
# agent's listening name.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "integration"))
import agentwire  # noqa: E402

TARGET = r'''
import gc, sys, time
print("ready", flush=True)
n = 0
while True:
    x = []
    x.append(x)
    n += 1
    if n % 50 == 0:
        gc.collect(0)
    time.sleep(0.001)
'''

MAGIC, VERSION, HELLO, SAMPLE, COMMAND, REPLY = 0x50544D50, 1, 1, 3, 4, 5
T_TIME_NS, T_OBSERVER_NS = 20, 31


class Monitor:
    def __init__(self, pid, interval_ms):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("\0" + agentwire.agent_name(pid)[1:])
        self.sock.setblocking(False)
        self.buf = b""
        self.samples = []  # (time_ns, observer_ns)
        name = b"interval"
        pl = (struct.pack("<HHQ", 60, 8, 1) + struct.pack("<HH", 61, len(name)) + name
              + struct.pack("<HHq", 62, 8, interval_ms))
        self.sock.sendall(struct.pack("<IHHI", MAGIC, VERSION, COMMAND, len(pl)) + pl)

    def drain(self):
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                self.buf += chunk
        except BlockingIOError:
            pass
        while len(self.buf) >= 12:
            _m, _v, typ, ln = struct.unpack_from("<IHHI", self.buf)
            if len(self.buf) < 12 + ln:
                break
            p, self.buf = self.buf[12:12 + ln], self.buf[12 + ln:]
            if typ != SAMPLE:
                continue
            f, o = {}, 0
            while o < len(p):
                tag, fl = struct.unpack_from("<HH", p, o)
                f.setdefault(tag, p[o + 4:o + 4 + fl])
                o += 4 + fl
            self.samples.append((struct.unpack("<Q", f[T_TIME_NS])[0],
                                 struct.unpack("<Q", f[T_OBSERVER_NS])[0]))

    def close(self):
        self.sock.close()


def phase(pid, intervals, seconds):
    mons = []
    for iv in intervals:
        mons.append(Monitor(pid, iv))
        time.sleep(0.025)
    end = time.monotonic() + seconds + 1
    while time.monotonic() < end:
        for m in mons:
            m.drain()
        time.sleep(0.02)
    for m in mons:
        m.drain()
        m.close()
    # The last `seconds` of it: every monitor connected and at its pace.
    t_hi = max(s[0] for m in mons for s in m.samples)
    t_lo = t_hi - int(seconds * 1e9)
    times = [s[0] for m in mons for s in m.samples if s[0] > t_lo]
    first = [s for s in mons[0].samples if s[0] > t_lo]
    obs = (first[-1][1] - first[0][1]) / ((first[-1][0] - first[0][0]) / 1e9)
    return {
        "readings_per_s": len(set(times)) / seconds,
        "samples_per_s": len(times) / seconds,
        "observer_us_per_s": obs / 1e3,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--json")
    args = ap.parse_args()
    d = benchlib.private_copy(args.build)
    binary = os.path.join(d, "pymemtop")
    results = {}
    try:
        for py in benchlib.bench_pythons(args.all)[0]:
            with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
                f.write(TARGET)
            t = subprocess.Popen(benchlib.argv(py, f.name), stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
            try:
                t.stdout.readline()
                benchlib.once_json(binary, t.pid)
                r = {name: phase(t.pid, ivs, args.seconds) for name, ivs in (
                    ("one", [100]), ("same", [100] * 4), ("mixed", [100, 1000, 1000, 1000]))}
            finally:
                t.kill()
                t.wait()
                os.unlink(f.name)
            results[py.label] = r
            print("%-16s %s" % (py.label, "  ".join(
                "%s: %.1f readings/s for %.1f samples/s, agent %.0f us/s" % (
                    k, v["readings_per_s"], v["samples_per_s"], v["observer_us_per_s"])
                for k, v in r.items())), flush=True)
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
