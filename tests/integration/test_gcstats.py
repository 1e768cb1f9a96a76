"""The interpreter's own GC statistics beyond collections: 3.15's gc.get_stats()
carries `duration` (seconds since process start) and `candidates` per
generation; pymemtop reports them as gc.time_since_start_ns and gc.candidates
(null before 3.15) and shows the GC share of wall time since start."""
import json
import re

from common import Target, Tmux, once_json, pymemtop


def _has_duration(py):
    return py.minor >= (3, 15)


def _known_gens(j, key):
    v = j["gc"][key]
    assert isinstance(v, list) and len(v) == 3, (key, v)
    assert all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v), (key, v)
    return v


def test_gc_time_since_start(py):
    t = Target(py)
    first = once_json(t.pid)
    if not _has_duration(py):
        assert first["gc"]["time_since_start_ns"] is None, first["gc"]
        assert first["gc"]["candidates"] is None, first["gc"]
        return
    before = _known_gens(first, "time_since_start_ns")
    _known_gens(first, "candidates")
    # Seconds of collection time cannot exceed the process's age.
    assert sum(before) <= first["proc"]["uptime_s"] * 1e9 + 1e6, (before, first["proc"])
    p = pymemtop("--json", "--command", "collect=2", t.pid, check=0, timeout=60)
    assert json.loads(p.stdout)["status"] == "ok", p.stdout
    after_j = once_json(t.pid)
    after = _known_gens(after_j, "time_since_start_ns")
    assert after[2] > before[2], (before, after)
    for g in range(3):
        assert after[g] >= before[g], (g, before, after)  # cumulative
    assert after_j["gc"]["collections"][2] > first["gc"]["collections"][2], after_j["gc"]


def test_overview_gc_share_since_start(py):
    t = Target(py)
    tm = Tmux([t.pid], 80, 24)
    _, screen = tm.wait_for(r"pauses\s+\d+")
    if _has_duration(py):
        m, screen = tm.wait_for(
            r"GC of wall since attach\s+[\d.]+%\s+since start\s+([\d.]+)%", timeout=10)
        assert float(m.group(1)) < 100, screen
    else:
        assert re.search(r"GC share of wall time\s+[\d.]+%", screen), screen
        assert "since start" not in screen, screen
    tm.send("q")
    tm.kill()
