"""Target for test_harm: works (allocating, building cycles) until the file
given as argv[1] exists, then ends the way that file says: "exit" (normal end,
exit 0), "abort" (os.abort, SIGABRT), "segv" (a NULL read through ctypes,
SIGSEGV); "wait" keeps working until killed. Once its loop runs it creates
the file "ready" in its working directory, for tests to wait on."""
import gc
import os
import sys
import time

go = sys.argv[1]
keep = []
n = 0
while True:
    for i in range(200):
        a, b = [i], [i]
        a.append(b)
        b.append(a)
    keep.append({"n": n, "payload": [n] * 20})
    del keep[:-500]
    n += 1
    if n == 1:
        open("ready", "w").close()
    if n % 50 == 0:
        gc.collect(0)
    try:
        with open(go) as f:
            how = f.read().strip()
    except OSError:
        how = ""
    if how == "exit":
        print("normal end", flush=True)
        break
    if how == "abort":
        os.abort()
    if how == "segv":
        import ctypes
        ctypes.string_at(0)
    time.sleep(0.01)
