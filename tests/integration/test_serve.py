"""pymemtop --serve: the Prometheus exporter against real targets, promtool
and a real Prometheus server (Debian's prometheus package, tests/deps.sh)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import common
from common import ROOT, Target, find_pythons, poll, pymemtop, tmpdir

SERVE_USER = "pymemtop-serve"  # --all only sees this user's processes in the tests
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {label: value}, float)] of an exposition's samples."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        out.append((m.group(1), dict(LABEL.findall(m.group(3) or "")), float(m.group(4))))
    return out


def series(text, name, **labels):
    return [(lb, v) for n, lb, v in parse(text)
            if n == name and all(lb.get(k) == str(w) for k, w in labels.items())]


def family_names():
    """The families of lib/metrics.c's table, as the text format names them."""
    src = open(os.path.join(ROOT, "lib", "metrics.c")).read()
    return re.findall(r'\[F_[A-Z_]+\] = \{"([a-z_]+)"', src)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Serve:
    """pymemtop --serve on a free loopback port (port 0: it says which)."""

    def __init__(self, *args, user=None, config=None):
        self.dir = tmpdir()
        self.err_path = os.path.join(self.dir, "serve.err")
        binary = common.BIN
        cmd_args = ["--serve", "127.0.0.1:0"] + [str(a) for a in args]
        if config:
            path = os.path.join(self.dir, "pymemtop.ini")
            with open(path, "w") as f:
                f.write(config)
            cmd_args = ["--config", path] + cmd_args
        cmd = [binary] + cmd_args
        cwd = None
        if user:
            cwd = common.build_copy()
            cmd = common.as_user(user, [os.path.join(cwd, "pymemtop")] + cmd_args)
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err,
                                     stdin=subprocess.DEVNULL, cwd=cwd)
        common._procs.append(self.proc)
        m = poll(lambda: re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", self.stderr()),
                 10, lambda: "the serving line; stderr: %r" % self.stderr(), alive=self.proc)
        self.port = int(m.group(1))

    def stderr(self):
        self.err.flush()
        with open(self.err_path) as f:
            return f.read()

    def get(self, path="/metrics", accept=None, method="GET"):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), method=method)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def metrics(self):
        status, _h, body = self.get()
        assert status == 200, status
        return body

    def wait(self, pred, what, timeout=30):
        last = [""]

        def check():
            last[0] = self.metrics()
            return pred(last[0])
        poll(check, timeout, lambda: "%s; stderr: %s; last page:\n%s" % (
            what, self.stderr(), "\n".join(l for l in last[0].splitlines()
                                          if not l.startswith(("#", "python_gc_pause")))),
             interval=0.2, alive=self.proc)
        return last[0]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)


def served(pid):
    """pred: the target has its agent's numbers and a census on the page."""
    return lambda text: (series(text, "pymemtop_target_up", pid=pid) == [({"pid": str(pid)}, 1.0)]
                         and series(text, "python_gc_collections_total", pid=pid)
                         and series(text, "python_objects", pid=pid))


def promtool_check(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0 and not p.stdout.strip(), "promtool check metrics:\n%s" % p.stdout


def need_prometheus():
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        raise AssertionError("prometheus/promtool missing: make deps installs Debian's prometheus")


def test_serve_exposition(py):
    """Every version: the families users know, pid labels, a histogram that
    only grows, and promtool finds nothing to say."""
    need_prometheus()
    t = Target(py)
    s = Serve(t.pid)
    text = s.wait(served(t.pid), "PID %d served" % t.pid)
    info = series(text, "python_info", pid=t.pid)
    assert len(info) == 1 and info[0][0]["version"] == py.version, info
    assert info[0][0]["major"] + "." + info[0][0]["minor"] == ".".join(py.version.split(".")[:2])
    rss = series(text, "process_resident_memory_bytes", pid=t.pid)
    assert rss and rss[0][1] > 1 << 20, rss
    start = series(text, "process_start_time_seconds", pid=t.pid)[0][1]
    assert time.time() - 600 < start <= time.time(), start
    gens = {lb["generation"] for lb, _v in series(text, "python_gc_collections_total", pid=t.pid)}
    assert gens == {"0", "1", "2"}, gens
    types = series(text, "python_objects", pid=t.pid)
    assert 0 < len(types) <= 20 and any(lb["type"] == "dict" for lb, _v in types), types
    # Every sample of a target carries its pid.
    for name, labels, _v in parse(text):
        if name.startswith(("process_", "python_")):
            assert labels.get("pid") == str(t.pid), (name, labels)
    promtool_check(text)

    # The pause histogram counts each collection once: cumulative buckets,
    # +Inf equal to _count, and never going down from one scrape to the next.
    def counts(page):
        return {lb["generation"]: v for lb, v in series(page, "python_gc_pause_seconds_count",
                                                         pid=t.pid)}
    first = counts(text)
    later = s.wait(lambda p: sum(counts(p).values()) > sum(first.values()),
                   "more collections timed")
    for g, v in counts(later).items():
        assert v >= first[g], (g, v, first[g])
        buckets = [(lb["le"], v2) for lb, v2 in series(later, "python_gc_pause_seconds_bucket",
                                                        pid=t.pid, generation=g)]
        values = [v2 for _le, v2 in buckets]
        assert values == sorted(values) and buckets[-1] == ("+Inf", v), buckets
        assert buckets[0][0] == "1e-05" and buckets[-2][0] == "10.0", buckets
    # The collections timed since attach cannot exceed the interpreter's own count.
    total = {lb["generation"]: v for lb, v in series(later, "python_gc_collections_total",
                                                     pid=t.pid)}
    for g, v in counts(later).items():
        assert v <= total[g], (g, v, total[g])
    # OpenMetrics when asked for
    status, headers, om = s.get(accept="application/openmetrics-text;version=1.0.0,"
                                       "text/plain;version=0.0.4;q=0.5")
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert om.endswith("# EOF\n") and "# TYPE python_gc_collections counter" in om
    assert s.stop() == 0
    assert t.alive() and t.stderr() == "" and "stopped serving" in s.stderr()


def test_serve_http_is_read_only_and_bounded():
    py = find_pythons()[0][0]
    t = Target(py)
    s = Serve(t.pid)
    s.wait(served(t.pid), "PID %d served" % t.pid)
    assert s.get("/")[0] == 200 and 'href="/metrics"' in s.get("/")[2]
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        assert s.get("/metrics", method=method)[0] == 405, method
    for path in ("/collect", "/metrics/hunt", "/api/v1/command?name=collect", "/favicon.ico"):
        assert s.get(path)[0] == 404, path
    # Garbage, a request that never ends, a huge one: 400, the loop unaffected, 431.
    def raw(data, read=True):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        c.sendall(data)
        if not read:
            return c
        got = c.recv(200).decode(errors="replace")
        c.close()
        return got
    assert raw(b"garbage\r\n\r\n").startswith("HTTP/1.1 400"), raw(b"garbage\r\n\r\n")
    assert raw(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000).startswith("HTTP/1.1 431")
    slow = [raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\n", read=False) for _ in range(5)]
    assert served(t.pid)(s.metrics())  # not held up by the slow clients
    slow[0].settimeout(30)
    assert slow[0].recv(100) == b""    # the server gave up on it (its deadline)
    for c in slow:
        c.close()
    # The target never saw a command: nothing in its GC counts came from us,
    # and a census by the exporter is only the agent's own periodic one.
    assert t.alive() and t.stderr() == ""


def test_serve_bad_input():
    p = pymemtop("--serve", "notaport", "1", check=2)
    assert p.stderr.count("\n") == 1 and "--serve 'notaport'" in p.stderr, p.stderr
    p = pymemtop("--serve", "0", check=2)
    assert "give the PIDs to serve, or --all" in p.stderr, p.stderr
    p = pymemtop("--serve", "0", "--all", "1", check=2)
    assert "not both" in p.stderr
    from test_errors import _free_pid
    gone = _free_pid()
    p = pymemtop("--serve", "127.0.0.1:0", gone, check=4)
    assert p.stderr.count("\n") == 1 and str(gone) in p.stderr, p.stderr
    sleeper = subprocess.Popen(["sleep", "60"])
    common._procs.append(sleeper)
    p = pymemtop("--serve", "127.0.0.1:0", sleeper.pid, check=3)
    assert p.stderr.count("\n") == 1 and "CPython" in p.stderr, p.stderr
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    t = Target(find_pythons()[0][0])
    p = pymemtop("--serve", "127.0.0.1:%d" % busy.getsockname()[1], t.pid, check=2)
    assert p.stderr.count("\n") == 1 and "already in use" in p.stderr, p.stderr
    busy.close()
    # Nothing was attached: the check came first.
    assert "pymemtop_agent" not in open("/proc/%d/maps" % t.pid).read()


def test_serve_several_targets_one_exits():
    """Targets of several versions in one exporter; one exits and its series
    go (pymemtop_target_up 0, reason exited) while the others go on."""
    pys = find_pythons()[0]
    picks = [pys[0], pys[len(pys) // 2], pys[-1]]
    targets = [Target(py) for py in picks]
    s = Serve(*[t.pid for t in targets])
    s.wait(lambda p: all(served(t.pid)(p) for t in targets), "all targets served")
    promtool_check(s.metrics())
    gone, rest = targets[0], targets[1:]
    gone.stop()
    text = s.wait(lambda p: series(p, "pymemtop_target_up", pid=gone.pid)
                  == [({"pid": str(gone.pid), "reason": "exited"}, 0.0)], "the exit seen")
    assert not series(text, "process_resident_memory_bytes", pid=gone.pid)
    assert not series(text, "python_gc_collections_total", pid=gone.pid)
    for t in rest:
        assert served(t.pid)(text)
    assert "PID %d exited" % gone.pid in s.stderr()
    promtool_check(text)
    for t in rest:
        t.stop()
    poll(lambda: "every PID given has exited" in s.stderr(), 20, "the all-gone line",
         alive=s.proc)
    assert s.get()[0] == 200 and s.proc.poll() is None  # still serving
    assert s.stop() == 0


def _serve_user():
    if os.geteuid() != 0:
        raise common.Skip("needs root to create the test user")
    try:
        import pwd
        pwd.getpwnam(SERVE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SERVE_USER], check=True)
    return SERVE_USER


def test_serve_all_follows_processes():
    """--all as an unprivileged user (who sees only the test's processes):
    new ones are attached within the scan interval, exited ones dropped, a
    refused one (already traced) listed once and served as up 0."""
    user = _serve_user()
    py = next(p for p in find_pythons()[0] if p.path == "/usr/bin/python3")
    a = Target(py, user=user)
    s = Serve("--all", user=user, config="[serve]\nscan_interval = 1\n")
    s.wait(served(a.pid), "PID %d found by --all" % a.pid)
    b = Target(py, user=user)
    s.wait(served(b.pid), "PID %d picked up by a rescan" % b.pid, timeout=10)
    traced = Target(py, user=user, wrapper=["strace", "-o", "/dev/null"],
                    wait_state=False)
    traced.wait_state(lambda st: st["tick"] >= 2)
    kid = int(open("/proc/%d/task/%d/children" % (traced.pid, traced.pid)).read().split()[0])
    text = s.wait(lambda p: series(p, "pymemtop_target_up", pid=kid, reason="traced"),
                  "the traced target listed as down", timeout=15)
    a.stop()
    text = s.wait(lambda p: not series(p, "pymemtop_target_up", pid=a.pid), "PID %d dropped" % a.pid)
    assert served(b.pid)(text)
    # Scans ran since (the drop needs one): the refusal was still said once.
    assert s.stderr().count("PID %d: not served" % kid) == 1, s.stderr()
    assert s.stop() == 0


def test_serve_with_dashboard_attached():
    """A dashboard on a target the exporter serves: both get samples.
    Needs the multi-monitor agent (issue 12 part 3); until it is merged the
    dashboard gets "busy"."""
    py = find_pythons()[0][-1]
    t = Target(py)
    s = Serve(t.pid)
    s.wait(served(t.pid), "PID %d served" % t.pid)
    tm = common.Tmux([t.pid])
    _m, screen = tm.wait_for(r"RSS|EXIT=\d+", timeout=20)
    assert "EXIT=" not in screen, "the dashboard did not open beside the exporter:\n" + screen
    before = series(s.metrics(), "python_gc_collections_total", pid=t.pid, generation=0)[0][1]
    s.wait(lambda p: series(p, "python_gc_collections_total", pid=t.pid, generation=0)[0][1]
           > before, "the exporter still sampling with the dashboard attached")
    tm.send("q")
    tm.wait_for(r"EXIT=0")
    assert served(t.pid)(s.metrics())
    assert s.stop() == 0


PROM_CONFIG = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pymemtop
    scrape_interval: 1s
    static_configs:
      - targets: ['127.0.0.1:%d']
"""


def test_serve_real_prometheus():
    """A real Prometheus scrapes the exporter (it asks for OpenMetrics) and
    answers PromQL over it: the collections counter and the p99 pause."""
    need_prometheus()
    pys = find_pythons()[0]
    targets = [Target(pys[0]), Target(pys[-1])]
    s = Serve(*[t.pid for t in targets])
    d = tmpdir()
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(PROM_CONFIG % s.port)
    port = free_port()
    log = open(os.path.join(d, "prometheus.log"), "w")
    prom = subprocess.Popen(["prometheus", "--config.file=" + cfg,
                             "--storage.tsdb.path=" + os.path.join(d, "data"),
                             "--web.listen-address=127.0.0.1:%d" % port], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    common._procs.append(prom)

    def query(q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.load(r)
        except (OSError, ValueError):
            return []
        return body.get("data", {}).get("result", []) if body.get("status") == "success" else []

    def promlog():
        with open(os.path.join(d, "prometheus.log")) as f:
            return f.read()[-2000:]
    for t in targets:
        got = poll(lambda: query('python_gc_collections_total{pid="%d"}' % t.pid), 60,
                   lambda: "python_gc_collections_total of %d in Prometheus; log: %s" % (
                       t.pid, promlog()), interval=0.5, alive=prom)
        assert {r["metric"]["generation"] for r in got} == {"0", "1", "2"}, got

    def p99():
        res = query('histogram_quantile(0.99, rate(python_gc_pause_seconds_bucket{pid="%d"}[30s]))'
                    % targets[0].pid)
        vals = [float(r["value"][1]) for r in res if r["value"][1] not in ("NaN", "+Inf")]
        return [v for v in vals if 0 < v <= 10]
    poll(p99, 60, lambda: "a p99 pause from histogram_quantile; log: %s" % promlog(),
         interval=0.5, alive=prom)
    # Prometheus parsed the page (OpenMetrics, as it asks for) without error.
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port, timeout=5) as r:
        active = json.load(r)["data"]["activeTargets"]
    assert active and active[0]["health"] == "up" and not active[0]["lastError"], active
    prom.terminate()
    prom.wait(20)
    assert s.stop() == 0


def test_serve_shipped_examples():
    """config/prometheus-alerts.yml passes promtool check rules; the Grafana
    dashboard parses and queries only families the exporter has; the README
    explains every family; the systemd unit runs --serve."""
    need_prometheus()
    names = family_names()
    assert len(names) >= 25, names
    rules = os.path.join(ROOT, "config", "prometheus-alerts.yml")
    p = subprocess.run(["promtool", "check", "rules", rules], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout
    known = set(names)
    for n in names:
        known |= {n + "_bucket", n + "_sum", n + "_count"}
    words = re.compile(r"\b((?:process|python|pymemtop)_[a-z_]+)\b")
    with open(rules) as f:
        used = set(words.findall(f.read()))
    assert used and used <= known, used - known
    with open(os.path.join(ROOT, "config", "grafana-pymemtop.json")) as f:
        dash = json.load(f)
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            if isinstance(o.get("expr"), str):
                exprs.append(o["expr"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(dash)
    assert len(exprs) >= 6, exprs
    for e in exprs:
        for w in words.findall(e):
            assert w in known, (w, e)
    readme = open(os.path.join(ROOT, "README.md")).read()
    fleet = readme[readme.index("## Fleet"):]
    for n in names:
        assert "`%s`" % n in fleet, "README's Fleet section does not explain %s" % n
    unit = open(os.path.join(ROOT, "config", "pymemtop-serve.service")).read()
    assert re.search(r"^ExecStart=\S*pymemtop .*--serve", unit, re.M), unit


LEAKY = """import time
class Session:
    pass
sessions = []
print("ready", flush=True)
while True:
    sessions.extend(Session() for _ in range(200))
    churn = [{"i": i} for i in range(1000)]
    time.sleep(0.1)
"""


def test_serve_leak_suspect_and_slot_eviction():
    """A type that grows in every census becomes python_leak_suspect 1; with
    all 64 client slots held by requests that never end, a scrape still
    gets in at once."""
    py = find_pythons()[0][-1]
    t = Target(py, code=LEAKY)
    t.wait_output("ready")
    s = Serve(t.pid, config="[census]\ninterval = 1\nsuspect_window = 2\n")
    text = s.wait(lambda p: series(p, "python_leak_suspect", pid=t.pid, type="__main__.Session"),
                  "__main__.Session a leak suspect", timeout=60)
    assert series(text, "python_leak_suspect", pid=t.pid, type="__main__.Session")[0][1] == 1
    sessions = series(text, "python_objects", pid=t.pid, type="__main__.Session")
    assert sessions and sessions[0][1] > 200, sessions
    promtool_check(text)
    hogs = []
    for _ in range(70):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        c.sendall(b"GET /metrics HTTP/1.1\r\n")
        hogs.append(c)
    assert served(t.pid)(s.metrics())
    # It got in because the 7 oldest hogs gave their slots up (the server
    # closed them before it accepted the next connection), not by a timeout.
    for c in hogs[:7]:
        c.setblocking(False)
        assert c.recv(1) == b"", "hog %d still open" % hogs.index(c)
    for c in hogs:
        c.close()
    assert s.stop() == 0 and t.alive()


def test_serve_scrape_never_asks_the_target():
    """/metrics is rendered from the latest sample: with samples a minute
    apart, 30 scrapes in a row all show the same sample, ageing, and the
    agent's GIL time in the target does not move."""
    py = find_pythons()[0][0]
    t = Target(py)
    s = Serve(t.pid, config="[sampling]\ninterval = 60\n[census]\ninterval = 3600\n")
    s.wait(lambda p: series(p, "pymemtop_sample_age_seconds", pid=t.pid), "a first sample")
    ages, costs, collections = [], set(), set()
    for _ in range(30):
        p = s.metrics()
        ages.append(series(p, "pymemtop_sample_age_seconds", pid=t.pid)[0][1])
        costs.add(series(p, "pymemtop_target_cost_seconds_total", pid=t.pid)[0][1])
        collections.add(series(p, "python_gc_collections_total", pid=t.pid, generation=0)[0][1])
    assert ages == sorted(ages) and ages[-1] > ages[0], ages
    assert len(costs) == 1 and len(collections) == 1, (costs, collections)
    assert s.stop() == 0
