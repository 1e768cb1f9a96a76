"""README's tables against the tables in the code: every command of
lib/commands.c (pymemtop --list-commands) has its row, and --help names it."""
import os
import re

from common import pymemtop

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def _table(header_re):
    """Rows of the README table whose header line matches, as lists of cells
    with markdown's escaped pipes restored."""
    lines = open(README).read().splitlines()
    for i, line in enumerate(lines):
        if re.match(header_re, line):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                cells = re.split(r"(?<!\\)\|", row.strip())[1:-1]
                rows.append([c.strip().replace("\\|", "|") for c in cells])
            return rows
    raise AssertionError("README has no table /%s/" % header_re)


def _ticked(cell):
    return re.findall(r"`([^`]*)`", cell)


def test_readme_lists_every_command():
    out = pymemtop("--list-commands", check=0).stdout
    table = [line.split("\t") for line in out.splitlines()]
    assert len(table) >= 8, out
    rows = {_ticked(r[0])[0]: r for r in _table(r"\| command \| argument \| key \|")}
    help_text = pymemtop("--help", check=0).stdout
    for name, syntax, keys, answers in table:
        assert name in rows, "README's command table has no row for %s" % name
        arg, key, ans = rows[name][1], rows[name][2], rows[name][3]
        assert _ticked(arg)[:1] == ([syntax] if syntax else []), (name, arg, syntax)
        assert _ticked(key) == [k for k in keys.split(", ") if k], (name, key, keys)
        assert _ticked(ans) == [a for a in answers.split(", ") if a], (name, ans, answers)
        assert re.search(r"^  %s\s" % re.escape(name + syntax), help_text, re.M), (name, help_text)
    assert set(rows) == {t[0] for t in table}, "README lists commands the table lacks"


def _paths(v, prefix=""):
    """Every key path of a JSON value: objects by dotted keys; arrays count as
    their key (README writes gc.counts[3], types[])."""
    if isinstance(v, dict):
        out = set()
        for k, x in v.items():
            p = prefix + "." + k if prefix else k
            out.add(p)
            out |= _paths(x, p)
        return out
    return set()


def _documented():
    """README's schema table as key paths: `[...]` dropped, and `.x` after
    `a.b.c` meaning `a.b.x`."""
    keys = set()
    for row in _table(r"\| key \| meaning \|"):
        last = ""
        for k in _ticked(row[0]):
            k = re.sub(r"\[[^\]]*\]$", "", k)
            if k.startswith(".") and last:
                k = last.rsplit(".", 1)[0] + k
            keys.add(k)
            last = k
    return keys


def test_readme_schema_lists_every_key():
    """Every key path --once --json emits has its row in README's schema
    table (an object's row covers what is inside it: types[], last_hunt)."""
    from common import Target, find_pythons, once_json
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    t = Target(py)
    doc = once_json(t.pid)
    documented = _documented()
    # An object's path is covered by the rows of its keys, and a key inside
    # an object documented whole (types[], cycles.last_hunt) by that row.
    missing = sorted(p for p in _paths(doc)
                     if not any(p == d or p.startswith(d + ".") or d.startswith(p + ".")
                                for d in documented))
    assert not missing, "README's JSON schema table lacks: %s" % ", ".join(missing)
    t.stop()
