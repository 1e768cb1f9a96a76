"""Demo and test target for pymemtop: a small "service" that leaks.

Every tick it adds Session objects to a module-level cache that is never
trimmed (the leak), builds reference cycles (a.child = b; b.child = a), makes
objects with __del__ that sit in cycles, and churns short-lived dicts so the
young generation collects often. Its stdout is deterministic (one line per
tick) so tests can check that being watched changed nothing.

--state FILE: after every tick, write what the target itself sees (gc stats,
gc.callbacks, names in __main__, modules) as JSON, for tests to compare.
"""
import argparse
import gc
import json
import os
import sys
import time


class Session:
    def __init__(self, sid):
        self.sid = sid
        self.payload = [sid] * 8


class Node:
    def __init__(self, name):
        self.name = name
        self.child = None


class Resource:
    closed = 0

    def __del__(self):
        Resource.closed += 1


CACHE = {}


def tick(n):
    for i in range(50):
        CACHE[n * 50 + i] = Session(n * 50 + i)  # the leak: never evicted
    for _ in range(200):
        a, b = Node("a"), Node("b")
        a.child, b.child = b, a  # a cycle only the collector frees
    for _ in range(20):
        r = Resource()
        r.me = r  # a cycle through an object with __del__
    churn = [{"i": i} for i in range(2000)]
    return sum(d["i"] for d in churn) + len(CACHE)


def write_state(path, n, checksum):
    main = sys.modules["__main__"]
    state = {
        "tick": n,
        "checksum": checksum,
        "pid": os.getpid(),
        "stats": gc.get_stats(),
        "threshold": gc.get_threshold(),
        "callbacks": len(gc.callbacks),
        "main_names": sorted(vars(main)),
        "agent_modules": sorted(m for m in sys.modules if "pymemtop" in m),
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--period", type=float, default=0.1, help="seconds between ticks")
    ap.add_argument("--ticks", type=int, default=0, help="stop after N ticks (0: never)")
    ap.add_argument("--state", help="write the target's own view here every tick")
    ap.add_argument("--quiet", action="store_true", help="no per-tick output")
    ap.add_argument("--sleep-first", type=float, default=0,
                    help="block the main thread this long before working")
    args = ap.parse_args()
    if args.sleep_first:
        time.sleep(args.sleep_first)
    checksum, n = 0, 0
    while not args.ticks or n < args.ticks:
        n += 1
        checksum = (checksum * 31 + tick(n)) % 1000000007
        if not args.quiet:
            print("tick %d checksum %d" % (n, checksum), flush=True)
        if args.state:
            write_state(args.state, n, checksum)
        time.sleep(args.period)
    print("done %d checksum %d" % (n, checksum), flush=True)


if __name__ == "__main__":
    main()
