"""Every view and key of the dashboard, driven under tmux against real
targets and read off the screen (capture-pane): the screen must show what
the target did. Plus sizes, the too-small message and config errors."""
import glob
import json
import os
import re
import time

import common
from common import Target, Tmux, pymemtop, tmpdir
from test_errors import _py

FAST_CENSUS = "[census]\nsuspect_window = 2\n"
# Each view's title, by the key that shows it.
TITLES = {"1": r"─ Memory", "2": r"─ Objects", "3": r"─ Freed by the collector",
          "4": r"─ Allocators", "5": r"─ Events"}


def _config(text):
    d = tmpdir()
    path = os.path.join(d, "pymemtop.ini")
    with open(path, "w") as f:
        f.write(text)
    return path


def _lines_fit(screen, width):
    assert all(len(line) <= width for line in screen.splitlines()), screen


def _gen2_collections(screen):
    m = re.search(r"^\s*2\s+\d+/\d+\s+\S+\s+(\d+)\s", screen, re.M)
    assert m, "no generation 2 row:\n" + screen
    return int(m.group(1))


def test_views_tabs_and_help(py):
    """Tab and 1-5 switch views; each view names itself; ? lists every key."""
    t = Target(py)
    tm = Tmux([t.pid], 80, 24)
    tm.wait_for(r"Python %s" % re.escape(py.version))
    for key, title in TITLES.items():
        tm.send(key)
        _, screen = tm.wait_for(title)
        _lines_fit(screen, 80)
    tm.send("Tab")  # from 5 back to 1
    tm.wait_for(r"─ Memory")
    tm.send("BTab")
    tm.wait_for(r"─ Events")
    tm.send("?")
    _, screen = tm.wait_for(r"help: every key")
    for k in ["c ", "g 0|1|2", "s ", "d ", "t ", "y ", "/ ", "p ", "e ", "+ -", "q "]:
        assert k in screen, "help lacks %r:\n%s" % (k, screen)
    tm.send("x")
    _, screen = tm.wait_for(r"help closed")
    tm.send("Z")
    tm.wait_for(r"no action on 'Z': press \? for the keys")
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_collect_keys_show_in_overview():
    """c: a full collection appears in the GC panel; g1: a generation-1 one."""
    t = Target(_py())
    tm = Tmux([t.pid], 80, 24)
    _, screen = tm.wait_for(r"pauses\s+\d+")
    before = _gen2_collections(screen)
    tm.send("c")
    tm.wait_for(r"collect: \d+ objects freed")
    tm.wait_screen(lambda sc: _gen2_collections(sc) > before, 6,
                   "the GC panel to count the full collection")
    tm.send("g")
    tm.wait_for(r"collect which generation\?")
    tm.send("1")
    tm.wait_for(r"collect: \d+ objects freed")
    tm.send("5")
    _, screen = tm.wait_for(r"collect 1")
    assert re.search(r"command\s+collect 2", screen) and re.search(r"ok\s+collect:", screen), screen
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_leaking_class_becomes_suspect():
    """The demo leaks Session objects: after a few censuses they are a
    suspect in the overview and marked ! in the objects table; the filter
    keeps only them."""
    t = Target(_py())
    tm = Tmux(["--config", _config(FAST_CENSUS), t.pid], 100, 30)
    _, screen = tm.wait_for(r"leak suspects[^\n]*\n(.*\n)*?.*__main__\.Session", timeout=30)
    tm.send("2")
    _, screen = tm.wait_for(r"__main__\.Session\s+[\d.]+k?\s+~?[\d.]+ [KMG]?i?B\s+\+[\d.]+k?\s.*!",
                            timeout=10)  # count, bytes, attach ... suspect mark
    tm.send("/")
    tm.wait_for(r"filter types:")
    tm.send("-l", "Sessi")
    tm.send("Enter")
    _, screen = tm.wait_for(r"filter 'Sessi'")
    rows = [l for l in screen.splitlines()[5:-1] if l.strip()]
    assert rows and all("Session" in r for r in rows), screen
    # Sorting: by name, then reversed; the header marks the column.
    tm.send("/")
    tm.send("Escape")
    tm.wait_for(r"filter cleared")
    tm.send("<")
    _, screen = tm.wait_for(r"sorted by name")
    tm.send("r")
    tm.wait_for(r"sorted by name, reversed")
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_hunt_shows_shapes():
    """y switches to the cycles view, shows progress, then the Node cycle."""
    t = Target(_py())
    tm = Tmux([t.pid], 100, 30)
    tm.wait_for(r"pauses\s+\d+")
    tm.send("y")
    tm.wait_for(r"─ Cycle hunt")
    _, screen = tm.wait_for(r"Node -\.child-> Node", timeout=30)
    assert re.search(r"Cycle hunt\s+\d+s ago: \d+ cycles", screen), screen
    assert "Resource" in screen, screen
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_cycles_view_shows_captured_shapes():
    """Without any key but 3, at 80x24: the shapes the demo's own
    collections free, captured live, with the capture's sampling and cost in
    the title, and no hunt run."""
    t = Target(_py())
    tm = Tmux([t.pid], 80, 24)
    tm.wait_for(r"pauses\s+\d+")
    tm.send("3")
    _, screen = tm.wait_for(r"Node -\.child-> Node", timeout=30)
    assert re.search(r"─ Cycles the program frees\s+\d+ of \d+ collections sampled, GIL "
                     r"[\d.]+% of 1\.00%", screen), screen
    assert re.search(r"obj/min cycles\s+len\s+size\s+shape", screen), screen
    assert "y hunts reference cycles" in screen, screen  # no hunt ran
    assert all(len(line) <= 80 for line in screen.splitlines()), screen
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_snapshot_diff_and_tracemalloc():
    """s s d: the diff shows the leaking types grew; t asks how long to
    trace (Esc cancels; 3m is a lease, shown with its time left in the
    header and the allocations view), then s: top sites from the demo's
    source in the allocations view; t again ends tracing and the lease."""
    t = Target(_py())
    tm = Tmux([t.pid], 100, 30)
    tm.wait_for(r"pauses\s+\d+")
    tm.send("s")
    tm.wait_for(r"snapshot: \d+ objects")
    tick = t.state()["tick"]
    t.wait_state(lambda s: s["tick"] >= tick + 2)  # more Sessions leaked since the snapshot
    tm.send("s")
    tm.wait_for(r"snapshot: \d+ objects of \d+ types, GIL held [\d.]+ ms; ")
    tm.send("d")
    _, screen = tm.wait_for(r"─ Snapshot diff\s+previous -> latest snapshot")
    tm.wait_for(r"__main__\.Session\s+[\d.]+k?\s+(~?[\d.]+ [KMG]?i?B\s+)?\+\d+")
    tm.send("d")
    tm.wait_for(r"live counts")
    tm.send("t")
    tm.wait_for(r"trace for how long\?.*Enter or 0 = while attached")
    tm.send("Escape")
    tm.wait_for(r"tracemalloc left off")
    tm.send("t")
    tm.wait_for(r"trace for how long\?")
    tm.send("3", "m", "Enter")
    # The agent answers "tracemalloc on (1 frame): ... 4-10x slower ...".
    tm.wait_for(r"tracemalloc on \(1 frame\)", timeout=15)
    # The overhead warning with the lease's time left, in the header.
    tm.wait_for(r"tracemalloc on \(lease [23]m\d\ds left, costs 4-10x allocation time\)")
    tm.send("4")
    tm.wait_for(r"tracemalloc\s+on, lease [23]m\d\ds left, allocs 4-10x slower: traced")
    tm.send("s")
    _, screen = tm.wait_for(r"demo\.py:\d+", timeout=15)
    tm.send("t")
    tm.wait_for(r"tracemalloc off and its lease ended")
    tm.wait_for(r"tracemalloc\s+off")
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_interval_freeze_export_and_exit():
    """+ and - change the sampling interval; p freezes the screen while
    sampling goes on; e writes a JSON file and says where; a target that
    exits leaves its data on screen, and e still exports it."""
    t = Target(_py())
    d = tmpdir()
    tm = Tmux([t.pid], 100, 30, env="cd %s &&" % d)
    tm.wait_for(r"every 1\.00s")
    tm.send("-")
    tm.wait_for(r"every 2\.00s")
    tm.send("+")
    tm.wait_for(r"every 1\.00s")
    tm.send("+")
    _, screen = tm.wait_for(r"every\s+500ms")
    tm.send("p")
    _, frozen = tm.wait_for(r"FROZEN")
    up = re.search(r"up (\S+)", frozen).group(1)
    # The screen stays as it was for a while although the uptime it shows
    # moves on every second: "nothing changes for 2.5 s" is the test's subject.
    time.sleep(2.5)
    screen = tm.capture()
    assert re.search(r"up (\S+)", screen).group(1) == up, screen
    tm.send("p")
    tm.wait_for(r"live again")
    tm.send("e")
    m, _ = tm.wait_for(r"exported to (\S+\.json)")
    files = glob.glob(os.path.join(d, "pymemtop-%d-*.json" % t.pid))
    assert len(files) == 1, files
    doc = json.load(open(files[0]))
    assert doc["state"]["pid"] == t.pid and len(doc["history"]["rss_kib"]) >= 2
    assert doc["history"]["pauses"] and any(e["kind"] == "command" for e in doc["events"])
    t.stop()
    _, screen = tm.wait_for(r"TARGET EXITED", timeout=15)
    assert re.search(r"RSS\s+[\d.]+ [KMG]iB", screen), screen  # data kept
    tm.send("c")
    tm.wait_for(r"target exited: its data stays on screen")
    # A second file name: files are named by the local time's second.
    first = re.search(r"-(\d{8}-\d{6})\.json$", files[0]).group(1)
    common.poll(lambda: time.strftime("%Y%m%d-%H%M%S") > first, 5,
                "the clock to pass the first export's second %s" % first)
    tm.send("e")
    tm.wait_for(r"exported to")
    files = glob.glob(os.path.join(d, "pymemtop-%d-*.json" % t.pid))
    assert len(files) == 2, files
    states = sorted(json.load(open(f))["state"]["agent"]["state"] for f in files)
    assert states == ["live", "target_exited"], states
    tm.send("5")
    tm.wait_for(r"target exited; last data kept")
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_every_view_at_every_size():
    """Each view at 40x12, 80x24 and 120x40: nothing past the edge, the
    too-small message below 40x12, and back again."""
    t = Target(_py())
    tm = Tmux([t.pid], 80, 24)
    tm.wait_for(r"pauses\s+\d+")
    # Every key below switches the view (each size starts on view 5), so a
    # view's title on screen means the dashboard drew it after the resize.
    tm.send("5")
    tm.wait_for(TITLES["5"])
    for w, h in [(40, 12), (80, 24), (120, 40), (200, 60)]:
        tm.resize(w, h)
        for key in "12345":
            tm.send(key)
            _, screen = tm.wait_for(TITLES[key])
            _lines_fit(screen, w)
            assert "PID %d" % t.pid in screen, screen
            assert len(screen.splitlines()) <= h
    tm.resize(39, 12)
    tm.wait_for(r"terminal too small \(need 40x12\)")
    tm.resize(30, 8)
    tm.wait_for(r"need 40x12")
    tm.resize(40, 12)
    _, screen = tm.wait_for(r"PID %d" % t.pid)
    assert "too small" not in screen
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_default_view_and_no_color():
    """[display] default_view picks the first view; NO_COLOR and --ascii work."""
    t = Target(_py())
    tm = Tmux(["--ascii", "--config", _config("[display]\ndefault_view = events\n"), t.pid], 80, 24,
              env="NO_COLOR=1")
    _, screen = tm.wait_for(r"- Events ")
    assert "─" not in screen and "⣿" not in screen, screen
    tm.send("q")
    tm.wait_for(r"EXIT=0")


def test_config_errors():
    """Malformed line: file and line, exit 2; out of range: the range;
    unknown key: a warning only; new keys parse."""
    bad = _config("[census]\npause_budget = 1\nthis is not ini\n")
    p = pymemtop("--config", bad, "1", check=2)
    assert re.search(r"%s:3: malformed line" % re.escape(bad), p.stderr), p.stderr
    for text, want in [
        ("[alerts]\npause_ms = -1\n", r"\[alerts\] pause_ms = '-1' is out of range \(0 to 60000\) \(line 2\)"),
        ("[census]\npause_budget = 90\n", r"\[census\] pause_budget = '90' is out of range \(0\.1 to 50\)"),
        ("[census]\ninterval = 0.5\n", r"0 for adaptive, or 1 to 3600 seconds"),
        ("[alerts]\ngrowth_mib_per_min = lots\n", r"growth_mib_per_min = 'lots' is out of range"),
        ("[display]\ndefault_view = graphs\n", r"not a view \(overview, objects, cycles, allocations, events or 1 to 5\)"),
        ("[display]\ncolor_rss = pink\n", r"'pink' is not a colour \(default, black, red"),
        ("[cycles]\ncapture_budget = 60\n", r"\[cycles\] capture_budget = '60' is out of range \(0\.01 to 50\)"),
        ("[cycles]\ncapture = maybe\n", r"\[cycles\] capture = 'maybe'"),
    ]:
        p = pymemtop("--config", _config(text), "1", check=2)
        assert re.search(want, p.stderr), (text, p.stderr)
    ok = _config("[census]\ninterval = 0\npause_budget = 2.5\n[cycles]\ncapture = off\n"
                 "capture_budget = 0.5\n[alerts]\npause_ms = 50\n"
                 "growth_mib_per_min = 0\n[display]\ndefault_view = 3\ncolor_accent = default\n"
                 "color_bad = magenta\ncolour_typo = red\n")
    p = pymemtop("--config", ok, "999999999")
    assert p.returncode == 4, p.stderr  # no such process: the config itself was fine
    assert "unknown key [display] colour_typo (ignored)" in p.stderr, p.stderr
    # The shipped file parses with no warning and documents every key.
    shipped = os.path.join(os.path.dirname(__file__), "..", "..", "config", "pymemtop.ini")
    p = pymemtop("--config", shipped, "999999999")
    assert p.returncode == 4 and "warning" not in p.stderr, p.stderr
    text = open(shipped).read()
    for key in ["interval", "history", "timeout", "pause_budget", "suspect_window", "json_types",
                "frames", "pause_ms", "growth_mib_per_min", "default_view", "ascii", "color",
                "color_accent", "color_rss", "color_alloc", "color_traced", "color_good",
                "color_warn", "color_bad", "capture", "capture_budget"]:
        assert re.search(r"^%s = " % key, text, re.M), key
