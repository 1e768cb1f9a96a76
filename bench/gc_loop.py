"""GC-heavy target for bench/run.py.

Runs a fixed batch of work forever: builds reference cycles (a.child = b;
b.child = a) that only the collector frees, churns short-lived dicts, and keeps
a rolling window of mid-lived objects so that objects get promoted and
generation 1 and 2 collections happen too (gen0 every fraction of a
millisecond, gen2 every few tens of ms on 3.8-3.12 defaults).

For every batch it appends "<start monotonic ns> <wall ns> <cpu ns> <hook 0|1>"
to --out: the wall time (perf_counter_ns) and the CPU time of the whole
process, all threads (process_time_ns), around the work only.

--hook-flag FILE: while FILE exists, a pure-Python gc.callbacks hook is
installed that times every collection (perf_counter_ns at "start" and "stop",
keeping count, total, max and the list of durations): the obvious way to do
in Python what pymemtop's native agent does. The flag is checked between
batches, outside the timed region. When the hook is removed its summary is
printed on stdout ("hook count=.. total_ns=.. max_ns=.. secs=..") and its
state is reset.

SIGTERM exits cleanly (atexit runs, so a loaded pymemtop agent removes its
socket).
"""
import argparse
import gc
import os
import signal
import sys
import time

perf_counter_ns = time.perf_counter_ns


class Node:
    def __init__(self):
        self.child = None


KEEP = []  # mid-lived objects: survive a few collections, then die

# -- the pure-Python alternative: time every collection from gc.callbacks --
hook_count = 0
hook_total = 0
hook_max = 0
hook_durations = []
_hook_t0 = 0


def gc_hook(phase, info):
    global hook_count, hook_total, hook_max, _hook_t0
    if phase == "start":
        _hook_t0 = perf_counter_ns()
    else:
        d = perf_counter_ns() - _hook_t0
        hook_count += 1
        hook_total += d
        if d > hook_max:
            hook_max = d
        hook_durations.append(d)


def hook_reset():
    global hook_count, hook_total, hook_max
    hook_count = hook_total = hook_max = 0
    del hook_durations[:]


def unit():
    for _ in range(1500):
        a, b = Node(), Node()
        a.child, b.child = b, a
    churn = [{"i": i, "t": (i, i)} for i in range(3000)]
    KEEP.append([Node() for _ in range(400)])
    if len(KEEP) > 30:
        del KEEP[0]
    return len(churn)


def batch(units):
    s = 0
    for _ in range(units):
        s += unit()
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--hook-flag", required=True)
    ap.add_argument("--units", type=int, default=4, help="work units per batch")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    hooked = False
    hook_since = 0.0
    out = open(args.out, "w", buffering=1)
    print("ready", flush=True)
    while True:
        want = os.path.exists(args.hook_flag)
        if want and not hooked:
            hook_reset()
            gc.callbacks.append(gc_hook)
            hooked, hook_since = True, time.monotonic()
        elif hooked and not want:
            gc.callbacks.remove(gc_hook)
            hooked = False
            print("hook count=%d total_ns=%d max_ns=%d secs=%.3f"
                  % (hook_count, hook_total, hook_max, time.monotonic() - hook_since),
                  flush=True)
            hook_reset()
        start = time.monotonic_ns()
        c0 = time.process_time_ns()
        t0 = perf_counter_ns()
        batch(args.units)
        dur = perf_counter_ns() - t0
        cpu = time.process_time_ns() - c0
        out.write("%d %d %d %d\n" % (start, dur, cpu, hooked))


if __name__ == "__main__":
    main()
