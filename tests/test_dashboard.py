"""The web dashboard (``experimentkit serve``): pages, escaping, artifact confinement, read-only-ness,
the SVG charts, and the real server in a subprocess."""
from __future__ import annotations

import datetime as _dt
import math
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_conformance import emit_events

from experimentkit import Experiment
from experimentkit.dashboard import server as server_module
from experimentkit.dashboard import svg
from experimentkit.dashboard.app import content_type_for, handle, split_where
from experimentkit.dashboard.server import DashboardServer, is_loopback, serve
from experimentkit.observers import FileStorageObserver
from experimentkit.query import open_store

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SECRET = "top secret outside the runs"


def _experiment(basedir: Path, tmp: Path) -> Experiment:
    ex = Experiment("dash")
    ex.observers.append(FileStorageObserver(str(basedir)))

    @ex.config
    def cfg():
        lr = 0.1  # noqa: F841
        label = XSS  # noqa: F841
        fail = False  # noqa: F841

    @ex.main
    def main(lr, fail, _run):
        print("training", XSS)
        for step in range(5):
            _run.log_scalar("loss", 1.0 / (step + 1) + lr, step)
        _run.log_scalar("val.accuracy", 1.0 - lr)
        _run.log_table("preds", [{"i": i, "prob": (i * 37 % 150) / 150, "note": XSS}
                                 for i in range(150)])
        for name, text in (("notes.txt", "hello artifact"), ("page.html", XSS)):
            path = tmp / f"{lr}-{name}"
            path.write_text(text, encoding="utf-8")
            _run.add_artifact(str(path), name=name)
        if fail:
            raise RuntimeError(XSS)
        return 1.0 - lr

    return ex


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: Any) -> Path:
    """Runs 1, 2 completed, 3 failed (all real experiment runs), 4 RUNNING since 2024 (DEAD)."""
    base = tmp_path_factory.mktemp("runs")
    tmp = tmp_path_factory.mktemp("art")
    ex = _experiment(base, tmp)
    ex.run(options={"--capture": "sys"})
    ex.run(config_updates={"lr": 0.01}, options={"--capture": "sys"})
    with pytest.raises(RuntimeError):
        ex.run(config_updates={"lr": 0.5, "fail": True}, options={"--capture": "sys"})
    emit_events(FileStorageObserver(str(base)), {
        "id": "4", "experiment": {"name": "dash", "base_dir": str(tmp), "sources": [],
                                  "dependencies": [], "repositories": [], "mainfile": "x.py"},
        "status": "RUNNING", "command": "main", "config": {"lr": 0.2},
        "host": {"hostname": "h"}, "meta": {"command": "main", "options": {}},
        "start_time": _dt.datetime(2024, 1, 1), "heartbeat": _dt.datetime(2024, 1, 1, 1)}, tmp)
    with open_store(str(base)) as store:
        store.add_tags("1", [XSS, "best"])
        store.set_note("1", XSS)
    (base / "secret.txt").write_text(SECRET, encoding="utf-8")
    return base


@pytest.fixture
def store(store_dir: Path) -> Any:
    with open_store(str(store_dir)) as opened:
        yield opened


def get(store: Any, path: str, query: str = "") -> tuple:
    status, headers, body = handle(store, "GET", path, query)
    return status, dict(headers), body


def text(store: Any, path: str, query: str = "") -> tuple:
    status, headers, body = get(store, path, query)
    assert isinstance(body, bytes)
    return status, headers, body.decode("utf-8")


def run_ids(page: str) -> list:
    return re.findall(r'<td><a href="/run/([^"]+)">', page)


# ---- the run list --------------------------------------------------------------------------------
def test_run_list_shows_every_run_escaped_with_security_headers(store: Any) -> None:
    status, headers, page = text(store, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert run_ids(page) == ["1", "2", "3", "4"]
    assert '<span class="status s-DEAD">DEAD</span>' in page
    assert "s-FAILED" in page
    assert XSS_ESCAPED in page and "<script" not in page
    assert "metrics.val.accuracy" in page and "config.lr" in page
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "style-src 'self' 'unsafe-inline'" in csp
    assert "img-src 'self' data:" in csp and "script-src 'none'" in csp


@pytest.mark.parametrize("query, expected", [
    ("where=config.lr+<+0.05", ["2"]),
    ("where=status+%3D%3D+COMPLETED+%26%26+config.lr+>+0.05", ["1"]),
    ("where=status+%3D%3D+COMPLETED%0Aconfig.lr+>+0.05", ["1"]),
    ("where=status+%3D%3D+DEAD", ["4"]),
    ("sort=-metrics.val.accuracy", ["2", "1", "3", "4"]),
    ("sort=-config.lr", ["3", "4", "1", "2"]),
    ("sort=-config.lr&limit=2", ["3", "4"]),
    ("where=tags+contains+best&columns=config.label", ["1"]),
])
def test_run_list_filters_sorts_and_limits_like_ls(store: Any, query: str, expected: list) -> None:
    status, _, page = text(store, "/", query)
    assert status == 200
    assert run_ids(page) == expected


@pytest.mark.parametrize("query, message", [
    ("where=conf.lr+<+1", "unknown key &#x27;conf.lr&#x27;"),
    ("where=config.lr+<<+1", "unknown operator"),
    ("sort=-metricz.loss", "unknown key"),
    ("limit=abc", "limit must be a positive whole number"),
    ("columns=confg.lr", "unknown key"),
    # the same catalogue checks as the command line
    ("where=config.lrr+<+1", "has the key &#x27;config.lrr&#x27; (did you mean &#x27;config.lr&#x27;?)"),
    ("sort=-metrics.los", "has the key &#x27;metrics.los&#x27; (did you mean &#x27;metrics.loss&#x27;?)"),
    ("where=status+%3D%3D+complted",
     "&#x27;complted&#x27; is not a status (did you mean &#x27;COMPLETED&#x27;?)"),
    (f"where={XSS}+%3D%3D+1", "cannot read &#x27;" + XSS_ESCAPED),
])
def test_bad_expressions_are_a_one_line_400(store: Any, query: str, message: str) -> None:
    status, _, page = text(store, "/", query)
    assert status == 400
    assert message in page
    assert "Traceback" not in page and "<script" not in page
    assert len(re.findall(r'class="error"', page)) == 1


def test_split_where_takes_newlines_and_double_ampersands() -> None:
    assert split_where("a == 1 && b < 2\n\n  c contains x  \r\nd == 4&&") == [
        "a == 1", "b < 2", "c contains x", "d == 4"]


# ---- one run -------------------------------------------------------------------------------------
def test_run_page_shows_everything_recorded_escaped(store: Any) -> None:
    status, _, page = text(store, "/run/1")
    assert status == 200
    assert "<script" not in page
    assert f'<span class="k">label</span>: {XSS_ESCAPED}' in page  # config tree
    assert f"<pre>training {XSS_ESCAPED}\n" in page  # captured output
    assert f'<span class="tag">{XSS_ESCAPED}</span>' in page  # tags
    assert page.count("<svg") == 2  # loss and val.accuracy
    polyline = re.search(r'<polyline[^>]*points="([^"]+)"', page).group(1)
    points = [tuple(map(float, p.split(","))) for p in polyline.split()]
    assert len(points) == 5
    ys = [y for _, y in points]
    assert ys == sorted(ys)  # a falling loss is drawn going down the box (SVG y grows down)
    assert '<a href="/run/1/artifact/notes.txt">notes.txt</a>' in page
    assert "first 100 rows" in page
    table = page[page.index('<h3 id="table-preds">'):page.index("<h2>Captured output</h2>")]
    assert table.count(f"<td>{XSS_ESCAPED}</td>") == 100
    assert f"<th>notes</th><td>{XSS_ESCAPED}</td>" in page
    assert "dash" in page and "x.py" not in page  # experiment section of this run
    assert "<h2>Host</h2>" in page and "<h2>Meta</h2>" in page


def test_per_sample_table_sort_param(store: Any) -> None:
    _, _, page = text(store, "/run/1", "table=preds&sort=-prob")
    probs = [float(p) for p in re.findall(r'<td class="num">\d+</td><td class="num">([\d.]+)</td>',
                                          page)]
    assert len(probs) == 100
    assert probs == sorted(probs, reverse=True) and probs[0] == pytest.approx(149 / 150, rel=1e-3)
    assert "sort=prob#table-preds" in page  # the header link toggles the direction


def test_failed_run_shows_its_trace_escaped(store: Any) -> None:
    status, _, page = text(store, "/run/3")
    assert status == 200 and "s-FAILED" in page
    trace = re.search(r"<h2>Fail trace</h2><pre>(.*?)</pre>", page, re.S).group(1)
    assert "RuntimeError" in trace and XSS_ESCAPED in trace and "<script" not in page


def test_dead_run_page(store: Any) -> None:
    status, _, page = text(store, "/run/4")
    assert status == 200 and "(stored as RUNNING)" in page and "s-DEAD" in page


# ---- artifacts -----------------------------------------------------------------------------------
def test_artifact_download(store: Any) -> None:
    status, headers, body = get(store, "/run/1/artifact/notes.txt")
    with body:
        assert body.read() == b"hello artifact"
    assert status == 200
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Length"] == str(len(b"hello artifact"))
    assert headers["Content-Disposition"].startswith('attachment; filename="notes.txt"')
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_html_artifact_is_served_as_opaque_bytes(store: Any) -> None:
    status, headers, body = get(store, "/run/1/artifact/page.html")
    with body:
        assert body.read() == XSS.encode()
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("path", [
    "/run/1/artifact/..%2Fsecret.txt",
    "/run/1/artifact/..%2F..%2Fsecret.txt",
    "/run/1/artifact/..%2F2%2Fnotes.txt",
    "/run/1/artifact/..%2Fconfig.json",
    "/run/1/artifact/%2Fetc%2Fpasswd",
    "/run/1/artifact/",
    "/run/1/artifact/../../secret.txt",
    "/run/1/artifact/config.json",  # in the run directory, but not an artifact
    "/run/..%2Fsecret.txt",
    "/run/..%2F1/artifact/notes.txt",
    "/run/%2Fetc/artifact/passwd",
    "/run/_sources",
    "/run/99/artifact/notes.txt",
    "/secret.txt",
    "/run/1/secret.txt",
])
def test_nothing_outside_the_store_is_served(store: Any, store_dir: Path, path: str) -> None:
    status, _, body = get(store, path)
    assert status == 404
    assert isinstance(body, bytes) and SECRET.encode() not in body and b"root:" not in body


def test_content_types_never_let_a_browser_run_the_file() -> None:
    assert content_type_for("x.png") == "image/png"
    assert content_type_for("x.csv") == "text/csv"
    for name in ("x.html", "x.htm", "x.svg", "x.js", "x.xhtml", "x.xml", "x", "x.unknownext"):
        assert content_type_for(name) == "application/octet-stream"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_content_disposition_cannot_break_the_header(name: str) -> None:
    from experimentkit.dashboard.app import _disposition

    value = _disposition(name)
    assert value.startswith('attachment; filename="')
    assert not any(c in value for c in "\r\n\x00")
    assert value.count('"') == 2


# ---- several runs --------------------------------------------------------------------------------
def test_compare_shows_config_differences_and_last_metrics(store: Any) -> None:
    status, _, page = text(store, "/compare", "ids=1,2")
    assert status == 200
    assert "<th>config.lr</th>" in page and "config.label" not in page
    row = re.search(r"<tr><th>val.accuracy</th>(.*?)</tr>", page).group(1)
    assert re.findall(r">([\d.]+)<", row) == ["0.9", "0.99"]
    _, _, every = text(store, "/compare", "ids=1&ids=2&all=1")
    assert f"<th>config.label</th><td>{XSS_ESCAPED}</td>" in every and "<script" not in every


@pytest.mark.parametrize("query, status", [("ids=1", 400), ("", 400), ("ids=1,99", 404)])
def test_compare_needs_two_known_runs(store: Any, query: str, status: int) -> None:
    assert get(store, "/compare", query)[0] == status


def test_progress_chart(store: Any) -> None:
    status, _, page = text(store, "/progress", "metric=val.accuracy")
    assert status == 200
    chart = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert chart.count("<circle") == 3  # runs 1, 2, 3 logged it; 4 did not
    assert 'href="/run/2"' in chart and "<path" in chart
    _, _, lower = text(store, "/progress", "metric=metrics.loss&min=1")
    assert "lower is better)" in lower
    status, _, page = text(store, "/progress", "metric=val.acuracy")
    assert status == 400 and "did you mean" in page


# ---- read-only -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_only_get_is_answered(store: Any, method: str) -> None:
    before = store.get("1").tags
    status, headers, _ = handle(store, method, "/run/1", "tags=x")
    assert status == 405 and dict(headers)["Allow"] == "GET"
    assert store.get("1").tags == before


# ---- charts --------------------------------------------------------------------------------------
def test_line_chart_skips_values_it_cannot_plot() -> None:
    chart = svg.line_chart([0, 1, 2, 3, 4], [1.0, None, float("nan"), "x", 3.0], "m")
    points = re.search(r'points="([^"]+)"', chart).group(1).split()
    assert len(points) == 2
    assert "no plottable values" in svg.line_chart([0], [None], "m")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                          st.integers(-10**12, 10**12)), max_size=2000))
def test_line_chart_stays_inside_its_box(values: list) -> None:
    chart = svg.line_chart(list(range(len(values))), values, "m", width=300, height=100)
    found = re.search(r'points="([^"]+)"', chart) or re.search(r'cx="([^"]+)" cy="([^"]+)"',
                                                                 chart)
    plottable = [v for v in values if v is not None and math.isfinite(v)]
    if not plottable:
        assert "no plottable values" in chart
        return
    coords = (found.group(1).split() if "points" in found.group(0)
              else [f"{found.group(1)},{found.group(2)}"])
    assert 1 <= len(coords) <= svg.MAX_POINTS
    for pair in coords:
        x, y = map(float, pair.split(","))
        assert 0 <= x <= 300 and 0 <= y <= 100


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1), st.booleans())
def test_best_so_far_is_the_running_extreme(values: list, minimize: bool) -> None:
    pick = min if minimize else max
    assert svg.best_so_far(values, minimize) == [pick(values[:i + 1])
                                                 for i in range(len(values))]


def test_is_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com", ""):
        assert not is_loopback(host)


# ---- the server ----------------------------------------------------------------------------------
def test_threaded_server_answers_concurrent_requests(store_dir: Path) -> None:
    srv = DashboardServer(str(store_dir), port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    results: list = []

    def fetch(path: str) -> None:
        with urllib.request.urlopen(srv.url + path, timeout=20) as resp:
            results.append((resp.status, len(resp.read())))

    try:
        workers = [threading.Thread(target=fetch, args=(p,))
                   for p in ["", "run/1", "run/2", "compare?ids=1,2", "progress",
                             "run/1/artifact/notes.txt"] * 2]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
    finally:
        srv.shutdown()
        srv.server_close()
    assert len(results) == 12 and all(status == 200 for status, _ in results)


def test_serve_warns_when_not_on_loopback(store_dir: Path, monkeypatch: Any, capsys: Any) -> None:
    def stop_at_once(self: Any, *args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(server_module.DashboardServer, "serve_forever", stop_at_once)
    assert serve(str(store_dir), host="127.0.0.1", port=0) == 0
    assert "warning" not in capsys.readouterr().err
    assert serve(str(store_dir), host="0.0.0.0", port=0) == 0
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err


def test_cli_starts_no_dashboard_code_until_serve() -> None:
    code = ("import sys; from experimentkit.cli.main import build_parser; "
            "build_parser().parse_args(['serve']); "
            "print(any(m.startswith('experimentkit.dashboard') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_store_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "experimentkit", "-S", str(tmp_path / "nope"),
                           "serve", "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("experimentkit: error: no run store") and "Traceback" not in (
        proc.stderr)


def test_serve_subprocess_binds_loopback_and_serves_pages(store_dir: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "experimentkit", "serve", "--port", "0",
                             "-S", str(store_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://([\d.]+):(\d+)/)", line)
        assert match, line
        url, host = match.group(1), match.group(2)
        assert host == "127.0.0.1"
        with urllib.request.urlopen(url, timeout=20) as resp:
            page = resp.read().decode()
            assert resp.status == 200 and resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        assert run_ids(page) == ["1", "2", "3", "4"] and "<script" not in page
        with urllib.request.urlopen(url + "run/2", timeout=20) as resp:
            assert "Run 2" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(url + "run/1", data=b"x"), timeout=20)
        assert err.value.code == 405
        with pytest.raises(urllib.error.HTTPError) as err:  # DNS rebinding: a foreign Host
            urllib.request.urlopen(urllib.request.Request(url, headers={"Host": "evil.example"}),
                                   timeout=20)
        assert err.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "run/1/artifact/..%2F..%2Fsecret.txt", timeout=20)
        assert err.value.code == 404 and SECRET not in err.value.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()
