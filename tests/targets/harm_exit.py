"""Target for test_harm: interpreter shutdown with the agent loaded.

  harm_exit.py HOW GO_FILE

Two daemon threads allocate and build cycles, a non-daemon thread finishes
some work; once GO_FILE exists the main thread does a burst of GC work and
ends by HOW: "normal" (end of the script), "sys.exit" (sys.exit(3)),
"raise" (an unhandled exception: exit 1, traceback on stderr), "os._exit"
(os._exit(4), no atexit, no finalization). stdout and stderr do not depend on
timing, so a test can compare them with an unmonitored run. Once its
threads run it creates the file "ready" in its working directory, for tests
to wait on."""
import atexit
import gc
import os
import sys
import threading
import time

how, go = sys.argv[1], sys.argv[2]


class Node:
    def __init__(self):
        self.peer = None

    def __del__(self):
        pass


def churn():
    while True:
        for _ in range(100):
            a, b = Node(), Node()
            a.peer, b.peer = b, a
        [{"i": i} for i in range(500)]
        time.sleep(0.001)


def at_exit():
    gc.collect()
    print("atexit ran", flush=True)


atexit.register(at_exit)
for _ in range(2):
    threading.Thread(target=churn, daemon=True).start()
worker = threading.Thread(target=lambda: [gc.collect(1) for _ in range(50)])
open("ready", "w").close()
while not os.path.exists(go):
    [bytes(100) for _ in range(100)]
    time.sleep(0.005)
worker.start()
for _ in range(20):
    churn_list = [[i] * 10 for i in range(2000)]
    gc.collect()
worker.join()
print("exiting via", how, flush=True)
if how == "sys.exit":
    sys.exit(3)
if how == "raise":
    raise RuntimeError("boom at exit")
if how == "os._exit":
    os._exit(4)
