"""Load target for the "never harm the target" tests (tests/integration/test_harm.py).

Several threads work in rounds: allocating (dicts, lists, str, bytes), building
reference cycles (some through objects with __del__) and collecting them, and
doing I/O (writing and reading back a temp file, echoing data through a
socketpair to another thread). Every round of a worker is the same
deterministic workload and yields the same checksum; each worker checks that
all its rounds agreed and prints one line, so stdout does not depend on how
many rounds ran or on timing:

  --rounds N     every worker does exactly N rounds (the unmonitored reference)
  --stop FILE    workers go on until FILE exists (at least one round each)
  --state FILE   the target's own view (rounds per worker, len(gc.callbacks),
                 pid) as JSON, rewritten about every 50 ms

Anything unexpected (an exception in a worker, a checksum that changed from one
round to the next) ends up on stdout/stderr and in the exit code, so a test
only has to compare those with an unmonitored run.
"""
import argparse
import gc
import hashlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
import zlib

ROUNDS = {}
FAILED = []


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:16]


def alloc_round(seed):
    d = {}
    for i in range(3000):
        d["k%d" % ((i * 7919 + seed) % 5003)] = [i, str(i) * 3, (i, seed), {"v": i % 17}]
    lst = sorted(d.items(), key=lambda kv: kv[0])
    blob = b"".join(("%s=%d;" % (k, v[0])).encode() for k, v in lst[::11])
    byt = [bytes([(i + seed) % 256]) * (i % 300 + 1) for i in range(800)]
    s = sum(len(b) for b in byt)
    return digest(len(d), zlib.crc32(blob), s, lst[17][0], lst[-1][1][1])


class Node:
    def __init__(self, n):
        self.n = n
        self.peer = None
        self.data = [n] * 4


class Finalized:
    def __init__(self, box):
        self.box = box
        self.me = self

    def __del__(self):
        self.box[0] += 1


def cycles_round(seed):
    gc_was = gc.isenabled()
    box = [0]
    total = 0
    for i in range(1500):
        a, b = Node(i + seed), Node(-i)
        a.peer, b.peer = b, a
        total += a.n + b.n
    for _ in range(200):
        Finalized(box)
    # Another thread (or the monitor's collect command) may be collecting right
    # now, in which case gc.collect() returns at once before 3.12: retry until
    # every finalizer of this round ran, which is deterministic in the end.
    for _ in range(2000):
        gc.collect()
        if box[0] == 200:
            break
        time.sleep(0.001)
    return digest(total, box[0], gc_was)


def file_round(seed, path):
    data = b"".join(hashlib.sha256(b"%d-%d" % (seed, i)).digest() for i in range(2000))
    with open(path, "wb") as f:
        for i in range(0, len(data), 4096):
            f.write(data[i:i + 4096])
        f.flush()
        os.fsync(f.fileno())
    with open(path, "rb") as f:
        back = f.read()
    lines = []
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1000)
            if not chunk:
                break
            lines.append(zlib.crc32(chunk))
    return digest(back == data, zlib.crc32(back), len(back), sum(lines))


def echo_server(sock):
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)
    except Exception as e:  # noqa: BLE001 - reported on stdout
        FAILED.append("echo: %r" % e)
        raise
    finally:
        sock.close()


def socket_round(seed, sock):
    total = 0
    crc = 0
    for i in range(40):
        msg = (b"%d:%d:" % (seed, i)) * (i % 50 + 1) * 20
        sock.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("echo peer closed")
            got += chunk
        if got != msg:
            raise RuntimeError("echo mismatch in message %d" % i)
        total += len(got)
        crc = zlib.crc32(got, crc)
    return digest(total, crc)


def worker(name, fn, rounds, stop, results):
    seen = set()
    n = 0
    try:
        while True:
            seen.add(fn())
            n += 1
            ROUNDS[name] = n
            if rounds and n >= rounds:
                break
            if not rounds and stop.is_set():
                break
        results[name] = sorted(seen)
    except Exception as e:  # noqa: BLE001 - reported on stdout
        FAILED.append("%s: %r" % (name, e))
        raise


def write_state(path, done=False):
    state = {"pid": os.getpid(), "rounds": dict(ROUNDS), "callbacks": len(gc.callbacks),
             "threads": threading.active_count(), "done": done}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--stop")
    ap.add_argument("--state")
    args = ap.parse_args()
    if not args.rounds and not args.stop:
        ap.error("--rounds or --stop")

    tmpd = tempfile.mkdtemp(prefix="pymemtop-load-")
    a, b = socket.socketpair()
    stop = threading.Event()
    results = {}
    jobs = [
        ("alloc-1", lambda: alloc_round(1)),
        ("alloc-2", lambda: alloc_round(2)),
        ("cycles-1", lambda: cycles_round(10)),
        ("cycles-2", lambda: cycles_round(20)),
        ("file-1", lambda: file_round(1, os.path.join(tmpd, "f1"))),
        ("file-2", lambda: file_round(2, os.path.join(tmpd, "f2"))),
        ("socket", lambda: socket_round(5, a)),
    ]
    echo = threading.Thread(target=echo_server, args=(b,), name="echo")
    echo.start()
    threads = [threading.Thread(target=worker, args=(name, fn, args.rounds, stop, results),
                                name=name) for name, fn in jobs]
    for t in threads:
        t.start()
    # The main thread keeps running Python (and sleeping) so that both attach
    # paths get exercised.
    main_acc = 0
    i = 0
    while any(t.is_alive() for t in threads):
        main_acc = (main_acc + sum(x * x for x in range(200))) % 1000003
        i += 1
        if args.state and i % 5 == 0:
            write_state(args.state)
        if args.stop and os.path.exists(args.stop):
            stop.set()
        time.sleep(0.01)
    for t in threads:
        t.join()
    a.close()
    echo.join()
    for f in os.listdir(tmpd):
        os.unlink(os.path.join(tmpd, f))
    os.rmdir(tmpd)
    for name, _ in jobs:
        print("%s %s" % (name, " ".join(results.get(name, ["MISSING"]))))
    for f in FAILED:
        print("FAILED " + f)
    print("total %s" % digest([results.get(name) for name, _ in jobs]))
    sys.stdout.flush()
    if args.state:
        write_state(args.state, done=True)
    return 1 if FAILED or len(results) != len(jobs) else 0


if __name__ == "__main__":
    sys.exit(main())
