"""Target for test_harm: forks with the agent loaded.

  harm_fork.py DIR

Works until DIR/go-fork exists, then forks with os.fork; once DIR/go-mp
exists, starts a multiprocessing child with the fork start method. Each child
writes its PID (and len(gc.callbacks), for the report) to DIR/KIND.pid, waits
for DIR/release-KIND, prints and exits with its own code (5 and 7). The parent
prints the children's exit codes and ends when DIR/stop exists. stdout does
not depend on timing. It creates the file "ready" in its working directory
once it works, for tests to wait on."""
import gc
import json
import multiprocessing
import os
import sys
import time

d = sys.argv[1]


def path(name):
    return os.path.join(d, name)


def wait_file(name, timeout=60):
    end = time.monotonic() + timeout
    while not os.path.exists(path(name)):
        if time.monotonic() > end:
            print("timed out waiting for", name, flush=True)
            return
        time.sleep(0.01)


def child(kind, code):
    with open(path(kind + ".pid.tmp"), "w") as f:
        json.dump({"pid": os.getpid(), "callbacks": len(gc.callbacks)}, f)
    os.replace(path(kind + ".pid.tmp"), path(kind + ".pid"))
    wait_file("release-" + kind)
    junk = [[i] * 5 for i in range(10000)]
    gc.collect()
    print("%s child: sum %d" % (kind, sum(len(j) for j in junk)), flush=True)
    sys.exit(code)


def work(until):
    acc = 0
    while not os.path.exists(path(until)):
        a, b = [], []
        a.append(b)
        b.append(a)
        acc += len([{"x": i} for i in range(300)])
        time.sleep(0.005)
    return acc


if __name__ == "__main__":
    open("ready", "w").close()
    work("go-fork")
    pid = os.fork()
    if pid == 0:
        child("fork", 5)  # SystemExit: the child finalizes normally (atexit runs)
    _, status = os.waitpid(pid, 0)
    print("fork child exit", os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode")
          else status >> 8, flush=True)
    work("go-mp")
    p = multiprocessing.get_context("fork").Process(target=child, args=("mp", 7))
    p.start()
    p.join()
    print("mp child exit", p.exitcode, flush=True)
    work("stop")
    print("parent done", flush=True)
