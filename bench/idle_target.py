"""Attach-latency target for bench/run.py: a mostly idle process.

Sleeps 50 ms at a time and allocates a little in between, like a quiet
service. Prints "ready" once the interpreter is up. SIGTERM exits cleanly
(atexit runs, so a loaded pymemtop agent removes its socket).
"""
import signal
import sys
import time


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ring = []
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        ring.append({"n": n, "data": [n] * 16})
        del ring[:-100]
        time.sleep(0.05)


if __name__ == "__main__":
    main()
