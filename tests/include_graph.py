#!/usr/bin/env python3
"""No file-level include circles (a house rule): reads every #include "..."
under lib/, probes/ and tui/ and fails listing each circle.

A .c and its own .h are one node (probes/agent/agent_census), because a
module is the pair: agent_census.c including agent_sample.h while
agent_sample.c includes agent_census.h is a circle even though no header
includes itself. An edge A -> B exists when A's .c or .h includes B's .h.
Includes resolve the way the compiler does: next to the including file
first, then the -I directories of the Makefile (lib, probes, tui); system
headers and headers outside the three trees (Python.h) are not nodes.

A header with no .c of its own name (lib/model.h, tui/view.h) is a node of
its own, and A including it also makes an edge A -> C for each function or
global it declares that A names and C defines: an umbrella header that
declares the functions of several files would otherwise hide the circle it
makes (the agent's old agent.h declared the state and clock of agent_main.c
and every probe's functions; the probes called each other and agent_main.c
through it).

  tests/include_graph.py [--edges] [ROOT]   exit 0 no circle, 1 circles (listed);
                                            --edges also prints every edge
"""
import os
import re
import sys

TREES = ("lib", "probes", "tui")
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
# Commented-out includes must not count; string literals never hold '#include'.
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
# __attribute__((...)) before a name would hide the declaration behind it.
ATTRIBUTE = re.compile(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)")


def sources(root):
    for tree in TREES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, tree)):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith((".c", ".h")):
                    yield os.path.join(dirpath, f)


def node_of(root, path):
    return os.path.splitext(os.path.relpath(path, root))[0]


def resolve(root, including, name):
    for d in [os.path.dirname(including)] + [os.path.join(root, t) for t in TREES]:
        p = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(p):
            return p
    return None


def read_code(path):
    """The file without comments and attributes, line numbers kept."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), f.read())
    return ATTRIBUTE.sub("", text)


KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "_Static_assert"}


def declared_names(text):
    """Functions and globals a header declares at file scope: prototypes and
    extern declarations, outside macros and struct bodies."""
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", "", text, flags=re.M)
    flat, depth = [], 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            flat.append(ch)
    names = set()
    for stmt in "".join(flat).split(";"):
        stmt = stmt.strip()
        # A prototype: the first '(' follows the name (a typedef of a function
        # pointer declares no function).
        m = re.match(r"[^()]*?\b([A-Za-z_]\w*)\s*\(", stmt)
        if m and not stmt.startswith("typedef"):
            if m.group(1) not in KEYWORDS:
                names.add(m.group(1))
        elif stmt.startswith("extern") and "(" not in stmt:
            for decl in stmt.split(","):
                v = re.search(r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\])*\s*$", decl)
                if v:
                    names.add(v.group(1))
    return names


def defines(text, name):
    """text (a .c) defines function or global `name` at file scope."""
    n = re.escape(name)
    fn = re.search(r"^[A-Za-z_][^;{}()\n]*\b%s\s*\([^;{]*\)\s*\{" % n, text, re.M)
    var = re.search(r"^(?!extern\b)(?!static\b)[A-Za-z_][^;{}()\n]*\b%s\s*(?:\[[^\]]*\]\s*)*[=;,]"
                    % n, text, re.M)
    return bool(fn or var)


def build_graph(root):
    """node -> {node it includes: [the include lines that make the edge]}"""
    graph, texts, includes = {}, {}, []
    for path in sources(root):
        a = node_of(root, path)
        graph.setdefault(a, {})
        texts[path] = read_code(path)
        for m in INCLUDE.finditer(texts[path]):
            target = resolve(root, path, m.group(1))
            if target is None:
                continue
            b = node_of(root, target)
            if b == a or b.split(os.sep)[0] not in TREES:
                continue
            line = texts[path].count("\n", 0, m.start()) + 1
            includes.append((a, b, target, "%s:%d" % (os.path.relpath(path, root), line)))
    # Orphan headers: which .c defines each name they declare.
    owners = {}
    for path, text in texts.items():
        if path.endswith(".h") and not os.path.exists(path[:-2] + ".c"):
            owners[path] = {x: sorted(node_of(root, c) for c, ctext in texts.items()
                                      if c.endswith(".c") and defines(ctext, x))
                            for x in declared_names(text)}
    own_text = {}
    for path, text in texts.items():
        own_text[node_of(root, path)] = own_text.get(node_of(root, path), "") + text
    for a, b, target, where in includes:
        graph[a].setdefault(b, []).append(where)
        for x, defs in sorted(owners.get(target, {}).items()):
            if not re.search(r"\b%s\b" % re.escape(x), own_text[a]):
                continue
            for c in defs:
                if c != a:
                    graph[a].setdefault(c, []).append(
                        "%s: %s from %s" % (where, x, os.path.relpath(target, root)))
    return graph


def components(graph):
    """Strongly connected components with more than one node (Tarjan,
    iterative: the graph is small but recursion depth is not ours to spend)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def shortest_cycle(graph, comp, s):
    """A shortest circle through s inside comp, as [s, ..., s] (breadth
    first: every member of a component lies on one)."""
    members = set(comp)
    prev, frontier, found = {s: None}, [s], None
    while frontier and found is None:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == s:
                    found = v
                    break
                if w in members and w not in prev:
                    prev[w] = v
                    nxt.append(w)
            if found is not None:
                break
        frontier = nxt
    path = [found]
    while prev[path[-1]] is not None:
        path.append(prev[path[-1]])
    return list(reversed(path)) + [s]


def report(root):
    """(ok, text): text lists every circle with the include lines behind it."""
    graph = build_graph(root)
    comps = components(graph)
    lines = []
    for comp in comps:
        lines.append("circle through %d modules: %s" % (len(comp), " ".join(comp)))
        seen = set()
        for s in comp:
            cycle = shortest_cycle(graph, comp, s)
            key = frozenset(zip(cycle, cycle[1:]))
            if key in seen:
                continue
            seen.add(key)
            lines.append("  " + " -> ".join(cycle))
            for a, b in zip(cycle, cycle[1:]):
                why = graph[a][b]
                lines.append("    %s -> %s: %s%s" % (a, b, "; ".join(why[:3]),
                                                    " ..." if len(why) > 3 else ""))
    if not graph:
        return False, "no sources found under %s" % root
    return not comps, "\n".join(lines)


def main():
    args = sys.argv[1:]
    edges = "--edges" in args
    args = [a for a in args if a != "--edges"]
    root = os.path.abspath(args[0] if args else
                           os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if edges:
        graph = build_graph(root)
        for a in sorted(graph):
            print("%s -> %s" % (a, " ".join(sorted(graph[a])) or "(nothing)"))
    ok, text = report(root)
    if text:
        print(text)
    print("include graph: %s" % ("no circles" if ok else "CIRCLES FOUND"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
