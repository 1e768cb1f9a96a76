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
