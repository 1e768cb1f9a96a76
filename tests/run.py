#!/usr/bin/env python3
"""pymemtop test suite: the unit test binaries, then integration tests that
attach to real CPython processes of every version found on the machine and
drive the real dashboard under tmux. Ends with "N passed, M failed".

  tests/run.py [--build DIR] [--quick] [-k SUBSTRING] [--versions SUBSTRING]

Debian sid's interpreters (make pythons) live in a root of their own and run
with chroot; as root, the runner re-executes itself in a private mount
namespace and bind-mounts the checkout (and the build directory) at the same
paths and /tmp onto ROOT/tmp, so targets there see their scripts, the agent and
the agent's socket directory. The mounts vanish with the runner.
"""
import argparse
import glob
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))
sys.path.insert(0, HERE)

import common  # noqa: E402
import include_graph  # noqa: E402


def run_unit(build, results):
    bins = sorted(glob.glob(os.path.join(build, "tests", "test_*")))
    if not bins:
        results.append(("unit: no test binaries in %s/tests" % build, False, "build them with make"))
    for b in bins:
        p = subprocess.run([b], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        for line in p.stdout.splitlines():
            m = re.match(r"(PASS|FAIL) (\S+)(.*)", line)
            if m:
                results.append(("unit/%s/%s" % (os.path.basename(b), m.group(2)),
                                m.group(1) == "PASS", m.group(3).strip()))
        if p.returncode not in (0, 1):
            results.append(("unit/%s exit" % os.path.basename(b), False,
                            "exit %d (crash or sanitizer report)\n%s" % (p.returncode, p.stdout[-2000:])))


def run_static(results, k):
    """Checks of the source tree itself (no build, no target)."""
    name = "include_graph/no_cycles"
    if k and k not in name:
        return
    ok, text = include_graph.report(common.ROOT)
    results.append((name, ok, "include circles:\n" + text))
    print("%s %s%s" % ("PASS" if ok else "FAIL", name,
                       "" if ok else "\n    " + text.replace("\n", "\n    ")), flush=True)


def load_modules():
    mods = []
    for path in sorted(glob.glob(os.path.join(HERE, "integration", "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods


def sid_namespace(build):
    """Run the suite in a private mount namespace in which the sid root sees
    the checkout, the build directory and /tmp (see the module docstring and
    tests/pythons.py). Returns only in that namespace, or when it cannot (or
    need not) be made."""
    common.pythons.enter_namespace(__file__, sys.argv[1:], build)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="one Python version only")
    ap.add_argument("-k", default="", help="run tests whose name contains this")
    ap.add_argument("--versions", default="",
                    help="per-version tests only on interpreters whose label contains this "
                         "(e.g. 3.14, -sid, 3.12.1); other tests are not run")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    sid_namespace(build)
    common.setup(build)
    results = []
    if not args.k and not args.versions:
        run_unit(args.build, results)
        for name, ok, why in results:
            print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else " (%s)" % why), flush=True)
    if not args.versions:
        run_static(results, args.k)

    pythons, missing = common.find_pythons()
    for what in missing:
        print("NOTE %s: not tested" % what, flush=True)
    print("NOTE testing against: %s" % ", ".join(
        "%s (%s)" % (p.label, " ".join(p.cmd)) for p in pythons), flush=True)
    if args.quick:
        pythons = [p for p in pythons if p.path == "/usr/bin/python3"] or pythons[:1]
    if args.versions:
        pythons = [p for p in pythons if args.versions in p.label]
        print("NOTE --versions %s: %s" % (args.versions, ", ".join(p.label for p in pythons)
                                          or "no interpreter matches"), flush=True)

    for mod in load_modules():
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if not fname.startswith("test_") or fn.__module__ != mod.__name__:
                continue
            per_version = "py" in inspect.signature(fn).parameters
            if args.versions and not per_version:
                continue
            for py in (pythons if per_version else [None]):
                name = "%s/%s%s" % (mod.__name__, fname, "[%s]" % py.label if py else "")
                if args.k and args.k not in name:
                    continue
                t0 = time.monotonic()
                try:
                    fn(py) if per_version else fn()
                    ok, why = True, ""
                except common.Skip as e:
                    print("SKIP %s (%s)" % (name, e), flush=True)
                    continue
                except Exception as e:  # noqa: BLE001 - report every failure
                    ok, why = False, "%s: %s" % (type(e).__name__, e)
                    if not isinstance(e, AssertionError):
                        why += "\n" + traceback.format_exc(limit=4)
                finally:
                    common.cleanup()
                results.append((name, ok, why))
                print("%s %s (%.1fs)%s" % ("PASS" if ok else "FAIL", name, time.monotonic() - t0,
                                           "" if ok else "\n    " + why.replace("\n", "\n    ")),
                      flush=True)
    passed = sum(1 for r in results if r[1])
    failed = len(results) - passed
    if failed:
        print("\nFailed:")
        for name, ok, why in results:
            if not ok:
                print("  " + name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
