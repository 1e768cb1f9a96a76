"""The real dashboard under tmux against real targets, read as a user would."""
import re

from common import Target, Tmux


def _gen2_row(screen):
    m = re.search(r"^[^\d\n]*\b2\s+\d+/\d+\s+\S+\s+(\d+)\s", screen, re.M)
    assert m, "no generation 2 row on screen:\n" + screen
    return int(m.group(1))


def test_attach_collect_help_quit(py):
    t = Target(py)
    out_before = t.stdout()
    tm = Tmux([t.pid], 100, 30)
    _, screen = tm.wait_for(r"Python %s" % re.escape(py.version))
    assert "PID %d" % t.pid in screen and "LIVE" in screen, screen
    assert re.search(r"RSS\s+[\d.]+ [KMG]iB", screen), screen
    _, screen = tm.wait_for(r"pauses\s+\d+")
    before = t.state()["stats"][2]["collections"]
    shown_before = _gen2_row(screen)
    tm.send("c")
    _, screen = tm.wait_for(r"collect: \d+ objects freed", timeout=10)
    # The target's own view: one more full collection.
    after = t.wait_state(lambda s: s["stats"][2]["collections"] > before)["stats"][2]["collections"]
    assert after >= before + 1
    # And the dashboard shows it after the next sample, with the pause counted.
    m, screen = tm.wait_for(r"pauses\s+([1-9]\d*)", timeout=5)
    screen = tm.wait_screen(lambda sc: _gen2_row(sc) > shown_before, 5,
                            "the generation 2 row to count the collection")
    assert re.search(r"max\s+[\d.]+(ns|us|ms|s)", screen), screen
    tm.send("?")
    _, screen = tm.wait_for(r"help")
    assert "collect" in screen and "quit" in screen
    tm.send("x")  # any key closes the help
    tm.send("q")
    tm.wait_for(r"EXIT=0", timeout=10)
    # The target keeps running, its output unaffected, the hook gone.
    tick = t.state()["tick"]
    s = t.wait_state(lambda s: s["tick"] >= tick + 2)
    assert s["callbacks"] == 0 and t.alive()
    assert t.stdout().startswith(out_before)
    assert t.stderr() == ""


def test_small_and_resized_terminal():
    from test_errors import _py
    t = Target(_py())
    tm = Tmux([t.pid], 80, 24)
    tm.wait_for(r"PID %d" % t.pid)
    tm.resize(30, 10)
    tm.wait_for(r"too small")
    _, screen = tm.wait_for(r"need 40x12")
    tm.resize(40, 12)
    _, screen = tm.wait_for(r"PID %d" % t.pid)
    assert "too small" not in screen
    lines = screen.splitlines()
    assert all(len(line) <= 40 for line in lines), screen
    tm.resize(120, 40)
    tm.wait_for(r"Python \d")
    tm.send("q")
    tm.wait_for(r"EXIT=0")
