"""Which raw-memory paths each interpreter gets (lib/pylayout.c), as the agent
reports them: every build tested here has a row, the generation lists and
frame locals are proved on it, and from 3.13 on the interpreter's own
_Py_DebugOffsets are decoded. A path that is off must say why."""

from common import Target, once_json, wait_threads

TARGET = r'''
import threading, time
class Held:
    pass
def worker():
    mine = [Held() for _ in range(3)]
    while True:
        time.sleep(0.05)
threading.Thread(target=worker, name="Holder", daemon=True).start()
while True:
    time.sleep(0.05)
'''


def test_layout_row_and_raw_paths(py):
    t = Target(py, code=TARGET)
    # Attach once the interpreter runs: its worker thread exists.
    wait_threads(t, 2)
    j = once_json(t.pid)
    a = j["agent"]
    assert a["layout"], a
    paths = a["raw_paths"]
    # Every interpreter provisioned here has a row whose collector keeps
    # three generations (none is 3.14.0-3.14.4), and the census used them.
    assert paths["gc_lists"] is True, a
    assert j["census"]["method"] == "gc_lists", j["census"]
    # _Py_DebugOffsets exist from 3.13 on and must decode there; before,
    # there is nothing to decode.
    assert paths["debug_offsets"] is (py.minor >= (3, 13)), a
    # Frame locals: release builds of every version, and debug builds from
    # 3.13 (published offsets); nothing tested here is an older debug build.
    assert paths["frame_locals"] is True, a
    assert a["layout_note"] == "" or not all(paths.values()), a
    assert t.alive()
    t.stop()
    assert t.stderr() == "", t.stderr()
