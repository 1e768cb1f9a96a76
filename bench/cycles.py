#!/usr/bin/env python3
"""Cycle hunt benchmark: what a hunt costs the target, against doing the same
in Python.

Run: /usr/bin/python3 bench/cycles.py --build build [--rounds N] [--cycles N] [--all] [--json FILE]

For each Python (/usr/bin/python3, pyenv 3.8 and 3.13 by default; --all for
every CPython >= 3.8 found), ONE target process, with the collector
disabled so the garbage is exactly what each round builds:

  - loads the agent in-process (the bootstrap pymemtop injects, run by the
    target itself) and connects to its socket;
  - each round builds 50k two-node cycles (a.next = b; b.next = a: 100k
    objects, plus their 100k instance dicts on 3.8-3.10), then, in turn:
      agent:   the "hunt" command; its HUNT cost_ns (time the GIL was held:
               the DEBUG_SAVEALL collection, the analysis, the release and the
               collection that frees the cycles) is the pause;
      python:  the obvious pure-Python equivalent in the same process:
               DEBUG_SAVEALL + gc.collect(), an id() map and gc.get_referents
               per object, an iterative Tarjan SCC, per component a cycle
               labelled through vars()/dict keys/list indexes with the
               instance dict folded, canonical rotation, grouping with
               sys.getsizeof totals, then del gc.garbage[n0:] + gc.collect();
      collect: a plain gc.collect() of the same garbage (the floor: what the
               collector alone costs);
    the order of agent and python alternates between rounds;
  - checks both found the same top shape and count.
Medians over the rounds; the ratio is Python's time over the agent's.

The agent is copied from --build to a private directory first so a
concurrent rebuild cannot change it mid-run.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

import benchlib

TARGET = r'''
import gc, json, os, socket, struct, sys, time

AGENT, ROUNDS, CYCLES = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gc.disable()

class Node:
    def __init__(self):
        self.next = None

def build():
    for _ in range(CYCLES):
        a, b = Node(), Node()
        a.next, b.next = b, a

''' + benchlib.TARGET_BOOT + r'''gc.collect()  # the bootstrap's own leftovers
''' + benchlib.TARGET_CLIENT + r'''
def agent_hunt(cmd_id):
    command(cmd_id, "hunt")
    hunt = None
    while True:
        typ, f = frame()
        if typ == 7:
            hunt = f
        elif typ == 5:
            msg = f[64][0].decode()
            break
    shapes = []
    for v in hunt.get(76, []):
        count, size, length, pl_ = struct.unpack_from("<QQQH", v)
        shapes.append((v[26:26 + pl_].decode(), count, size))
    return {"ns": u64(hunt, 70), "objects": u64(hunt, 71), "cycles": u64(hunt, 75),
            "shapes": shapes, "message": msg}

# ---- the pure-Python equivalent ----

def label(a, b):
    if isinstance(a, dict):
        for k, v in a.items():
            if v is b:
                return "[%r]" % (k,)
        return ""
    if isinstance(a, (list, tuple)):
        for i, v in enumerate(a):
            if v is b:
                return "[%d]" % i
        return ""
    try:
        d = vars(a)
    except TypeError:
        return ""
    for k, v in d.items():
        if v is b:
            return "." + k
    return ""

def instance_dict(o):
    if isinstance(o, (dict, list, tuple, type)):
        return None
    try:
        return vars(o)
    except TypeError:
        return None

def render(objs, cyc):
    n = len(cyc)
    start = 0
    if n > 1 and type(objs[cyc[0]]) is dict and instance_dict(objs[cyc[-1]]) is objs[cyc[0]]:
        start = 1
    hops, k = [], 0
    while k < n:
        a, b = objs[cyc[(start + k) % n]], objs[cyc[(start + k + 1) % n]]
        d = instance_dict(a)
        if d is not None and d is b and n > 1 and k + 1 < n:
            c = objs[cyc[(start + k + 2) % n]]
            hops.append((type(a).__name__, label(d, c).replace("['", ".").replace("']", "")))
            k += 2
        else:
            hops.append((type(a).__name__, label(a, b)))
            k += 1
    best = min(range(len(hops)), key=lambda r: hops[r:] + hops[:r])
    hops = hops[best:] + hops[:best]
    return "".join("%s -%s-> " % h if h[1] else "%s -> " % h[0] for h in hops) + hops[0][0]

def python_hunt():
    t0 = time.perf_counter_ns()
    flags = gc.get_debug()
    n0 = len(gc.garbage)
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    gc.collect()
    gc.set_debug(flags)
    objs = gc.garbage[n0:]
    index = {id(o): i for i, o in enumerate(objs)}
    adj = [[index[id(r)] for r in gc.get_referents(o) if id(r) in index] for o in objs]
    n = len(objs)
    idx, low, onst, comp = [-1] * n, [0] * n, [False] * n, [-1] * n
    stack, comps, nxt = [], [], 0
    for s in range(n):
        if idx[s] >= 0:
            continue
        idx[s] = low[s] = nxt; nxt += 1
        stack.append(s); onst[s] = True
        work = [(s, iter(adj[s]))]
        while work:
            v, it = work[-1]
            for w in it:
                if idx[w] < 0:
                    idx[w] = low[w] = nxt; nxt += 1
                    stack.append(w); onst[w] = True
                    work.append((w, iter(adj[w])))
                    break
                if onst[w] and idx[w] < low[v]:
                    low[v] = idx[w]
            else:
                work.pop()
                if work and low[v] < low[work[-1][0]]:
                    low[work[-1][0]] = low[v]
                if low[v] == idx[v]:
                    members = []
                    while True:
                        w = stack.pop(); onst[w] = False; comp[w] = len(comps)
                        members.append(w)
                        if w == v:
                            break
                    comps.append(members)
    groups = {}
    for c, members in enumerate(comps):
        if len(members) == 1 and members[0] not in adj[members[0]]:
            continue
        # shortest cycle through the first member (BFS inside the component)
        v = members[0]
        parent, q, found = {v: None}, [v], None
        for u in q:
            for w in adj[u]:
                if comp[w] != c:
                    continue
                if w == v:
                    found = u
                    break
                if w not in parent:
                    parent[w] = u
                    q.append(w)
            if found is not None:
                break
        cyc = []
        x = found
        while x is not None:
            cyc.append(x)
            x = parent[x]
        cyc.reverse()
        path = render(objs, cyc)
        g = groups.setdefault(path, [0, 0])
        g[0] += 1
        g[1] += sum(sys.getsizeof(objs[m]) for m in members)
    del gc.garbage[n0:]
    del objs, index, adj
    gc.collect()
    top = sorted(groups.items(), key=lambda kv: -kv[1][0])[:16]
    return {"ns": time.perf_counter_ns() - t0, "shapes": [(p, c, b) for p, (c, b) in top],
            "cycles": sum(g[0] for g in groups.values())}

def plain_collect():
    t0 = time.perf_counter_ns()
    n = gc.collect()
    return {"ns": time.perf_counter_ns() - t0, "collected": n}

out = {"agent": [], "python": [], "collect": [], "objects": 0}
for r in range(ROUNDS):
    order = ("agent", "python") if r % 2 == 0 else ("python", "agent")
    for kind in order + ("collect",):
        build()
        if kind == "agent":
            res = agent_hunt(r + 1)
            out["objects"] = res["objects"]
            out["agent_message"] = res["message"]
        elif kind == "python":
            res = python_hunt()
        else:
            res = plain_collect()
        out[kind].append(res["ns"])
        if kind != "collect":
            out[kind + "_top"] = res["shapes"][0] if res["shapes"] else None
            out[kind + "_cycles"] = res["cycles"]
sock.close()
print(json.dumps(out))
'''


def run_one(py, agent, rounds, cycles):
    return benchlib.run_target(py, TARGET, [agent, rounds, cycles], quiet_stderr=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cycles", type=int, default=50000, help="two-node cycles per round")
    ap.add_argument("--all", action="store_true", help="every CPython >= 3.8 found")
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    src = os.path.join(args.build, "pymemtop_agent.so")
    if not os.path.exists(src):
        sys.exit("no %s: build first (make)" % src)
    work = benchlib.private_copy(args.build, ["pymemtop_agent.so"], "pymemtop-bench-cycles-",
                                 mode=0o755)
    agent = os.path.join(work, "pymemtop_agent.so")
    t_start = time.monotonic()
    results = []
    print("cycle hunt: %d rounds of %d two-node cycles (%d objects, plus their dicts on 3.8-3.10)"
          % (args.rounds, args.cycles, 2 * args.cycles))
    print("%-14s %9s %11s %11s %11s %7s  %s" % ("python", "objects", "agent ms", "python ms",
                                                  "collect ms", "ratio", "top shape (agent)"))
    try:
        for label, path, _v in benchlib.default_pythons(args.all):
            r = run_one(path, agent, args.rounds, args.cycles)
            a = statistics.median(r["agent"]) / 1e6
            p = statistics.median(r["python"]) / 1e6
            c = statistics.median(r["collect"]) / 1e6
            top = r.get("agent_top")
            same = (top and r.get("python_top") and top[0] == r["python_top"][0]
                    and top[1] == r["python_top"][1] and r["agent_cycles"] == r["python_cycles"])
            print("%-14s %9d %11.1f %11.1f %11.1f %6.1fx  %s x%d%s" % (
                label, r["objects"], a, p, c, p / a, top[0] if top else "-",
                top[1] if top else 0, "" if same else "  (MISMATCH with python: %s)"
                % (r.get("python_top"),)), flush=True)
            results.append({"python": label, "objects": r["objects"], "agent_ms": a,
                            "python_ms": p, "collect_ms": c, "ratio": p / a,
                            "agent_all_ns": r["agent"], "python_all_ns": r["python"],
                            "collect_all_ns": r["collect"], "top": top, "same_result": bool(same),
                            "message": r.get("agent_message")})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("agent = HUNT cost_ns (GIL held: SAVEALL collection + analysis + release + freeing "
          "collection);\npython = the same steps in pure Python; collect = plain gc.collect() of "
          "the same garbage. Medians. %.0f s total." % (time.monotonic() - t_start))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
