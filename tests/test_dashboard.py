"""The web dashboard (``experimentkit serve``): pages, escaping, artifact confinement, read-only-ness
and opt-in writes, the chart data and its downsampling, the Starlette application (Host check,
token, static files) and the real server in a subprocess.  Browser tests: test_dashboard_browser.py."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_conformance import emit_events

from experimentkit import Experiment
from experimentkit.dashboard import charts
from experimentkit.dashboard.app import Settings, content_type_for, handle, split_where
from experimentkit.dashboard.server import is_loopback, reachable_addresses
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
        _run.log_table("preds", [{"i": i, "prob": (i * 37 % 150) / 150, "note": XSS} for i in range(150)])
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
    emit_events(
        FileStorageObserver(str(base)),
        {
            "id": "4",
            "experiment": {
                "name": "dash",
                "base_dir": str(tmp),
                "sources": [],
                "dependencies": [],
                "repositories": [],
                "mainfile": "x.py",
            },
            "status": "RUNNING",
            "command": "main",
            "config": {"lr": 0.2},
            "host": {"hostname": "h"},
            "meta": {"command": "main", "options": {}},
            "start_time": _dt.datetime(2024, 1, 1),
            "heartbeat": _dt.datetime(2024, 1, 1, 1),
        },
        tmp,
    )
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
    assert XSS_ESCAPED in page and XSS not in page
    assert "metrics.val.accuracy" in page and "config.lr" in page
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "style-src 'self' 'unsafe-inline'" in csp
    assert "img-src 'self' data:" in csp and "script-src 'self'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp


@pytest.mark.parametrize(
    "query, expected",
    [
        ("where=config.lr+<+0.05", ["2"]),
        ("where=status+%3D%3D+COMPLETED+%26%26+config.lr+>+0.05", ["1"]),
        ("where=status+%3D%3D+COMPLETED%0Aconfig.lr+>+0.05", ["1"]),
        ("where=status+%3D%3D+DEAD", ["4"]),
        ("sort=-metrics.val.accuracy", ["2", "1", "3", "4"]),
        ("sort=-config.lr", ["3", "4", "1", "2"]),
        ("sort=-config.lr&per=2", ["3", "4"]),
        ("sort=-config.lr&per=2&page=2", ["1", "2"]),
        ("status=FAILED", ["3"]),
        ("tag=best", ["1"]),
        ("experiment=dash&sort=-duration&per=3", None),
        ("where=tags+contains+best&columns=config.label", ["1"]),
    ],
)
def test_run_list_filters_sorts_and_limits_like_ls(store: Any, query: str, expected: list) -> None:
    status, _, page = text(store, "/", query)
    assert status == 200
    if expected is None:  # by duration: runs 1-3 took well under the DEAD run's hour
        assert run_ids(page)[0] == "4" and len(run_ids(page)) == 3
        return
    assert run_ids(page) == expected


@pytest.mark.parametrize(
    "query, message",
    [
        ("where=conf.lr+<+1", "unknown key &#x27;conf.lr&#x27;"),
        ("where=config.lr+<<+1", "unknown operator"),
        ("sort=-metricz.loss", "unknown key"),
        ("per=abc", "per must be a positive whole number"),
        ("status=DONE", "unknown status &#x27;DONE&#x27;"),
        ("columns=confg.lr", "unknown key"),
        # the same catalogue checks as the command line
        ("where=config.lrr+<+1", "has the key &#x27;config.lrr&#x27; (did you mean &#x27;config.lr&#x27;?)"),
        ("sort=-metrics.los", "has the key &#x27;metrics.los&#x27; (did you mean &#x27;metrics.loss&#x27;?)"),
        (
            "where=status+%3D%3D+complted",
            "&#x27;complted&#x27; is not a status (did you mean &#x27;COMPLETED&#x27;?)",
        ),
        (f"where={XSS}+%3D%3D+1", "cannot read &#x27;" + XSS_ESCAPED),
    ],
)
def test_bad_expressions_are_a_one_line_400(store: Any, query: str, message: str) -> None:
    status, _, page = text(store, "/", query)
    assert status == 400
    assert message in page
    assert "Traceback" not in page and XSS not in page
    assert len(re.findall(r'class="error"', page)) == 1


def test_split_where_takes_newlines_and_double_ampersands() -> None:
    assert split_where("a == 1 && b < 2\n\n  c contains x  \r\nd == 4&&") == [
        "a == 1",
        "b < 2",
        "c contains x",
        "d == 4",
    ]


# ---- one run -------------------------------------------------------------------------------------
def test_run_page_shows_everything_recorded_escaped(store: Any) -> None:
    status, _, page = text(store, "/run/1")
    assert status == 200
    assert XSS not in page
    assert f'<span class="k">label</span>: {XSS_ESCAPED}' in page  # config tree
    assert f'<pre id="output">training {XSS_ESCAPED}\n' in page  # captured output
    assert f'<span class="tag">{XSS_ESCAPED}</span>' in page  # tags
    data = chart_data(page)
    assert [c["title"] for c in data] == ["loss", "val.accuracy"]
    loss = data[0]["series"][0]
    assert loss["step"] == [0, 1, 2, 3, 4] and loss["value"][0] == pytest.approx(1.1)
    assert loss["label"] == "run 1" and loss["count"] == 5 and len(loss["time"]) == 5
    assert '<a class="download" href="/run/1/artifact/notes.txt">download</a>' in page
    assert "<pre>hello artifact</pre>" in page  # a text artifact is previewed
    assert "rows 1–100" in page and "next ›" in page
    table = page[page.index('<h3 id="table-preds">') : page.index("<h2>Captured output</h2>")]
    assert table.count(f"<td>{XSS_ESCAPED}</td>") == 100
    assert f'<th>notes</th><td><span id="notes">{XSS_ESCAPED}</span></td>' in page
    assert 'id="tag-form"' not in page  # read-only by default: no edit forms
    assert "data-live" not in page  # a finished run is not polled
    assert "dash" in page and "x.py" not in page  # experiment section of this run
    assert "<h2>Host</h2>" in page and "<h2>Meta</h2>" in page


def chart_data(page: str, element: str = "ek-charts") -> Any:
    block = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


def test_html_artifact_is_text_and_a_sandboxed_frame_never_a_page(store: Any) -> None:
    _, _, page = text(store, "/run/1")
    figure = re.search(r'<figure class="artifact" data-kind="html">.*?</figure>', page, re.S)
    assert figure, "page.html has no preview"
    html = figure.group(0)
    assert f'<iframe class="sandboxed" sandbox="" srcdoc="{XSS_ESCAPED}">' in html
    assert f"<pre>{XSS_ESCAPED}</pre>" in html and XSS not in page


def test_previews_of_json_csv_and_images(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    emit_events(
        FileStorageObserver(str(base)),
        {
            "id": "1",
            "experiment": {
                "name": "p",
                "base_dir": str(tmp_path),
                "sources": [],
                "dependencies": [],
                "repositories": [],
                "mainfile": "x.py",
            },
            "status": "COMPLETED",
            "command": "main",
            "config": {},
            "host": {"hostname": "h"},
            "meta": {"command": "main", "options": {}},
            "start_time": _dt.datetime(2024, 1, 1),
            "stop_time": _dt.datetime(2024, 1, 1, 0, 1),
            "artifacts": {
                "m.json": '{"b": [1, 2], "a": "<b>"}',
                "t.csv": "x,y\n1,<i>\n",
                "plot.png": "not really a png",
                "vector.svg": XSS,
                "blob.bin": "x",
            },
        },
        tmp_path,
    )
    with open_store(str(base)) as store:
        _, _, page = text(store, "/run/1")
        assert "{\n  &quot;b&quot;: [\n    1," in page  # JSON pretty-printed, escaped
        assert "<th>x</th><th>y</th></tr><tr><td>1</td><td>&lt;i&gt;</td>" in page
        assert '<img class="artifact-image" alt="plot.png" src="/run/1/artifact/plot.png?inline=1">' in page
        assert f"<pre>{XSS_ESCAPED}</pre>" in page and "<svg" not in page  # SVG as text only
        assert "binary file: no preview" in page
        status, headers, body = get(store, "/run/1/artifact/plot.png", "inline=1")
        body.close()
        assert headers["Content-Type"] == "image/png"
        assert headers["Content-Disposition"].startswith("inline")
        _, headers, body = get(store, "/run/1/artifact/vector.svg", "inline=1")
        body.close()
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["Content-Disposition"].startswith("attachment")


def test_a_running_run_is_polled_for_new_points(tmp_path: Path) -> None:
    from experimentkit.query.base import utcnow

    base = tmp_path / "runs"
    now = utcnow()
    emit_events(
        FileStorageObserver(str(base)),
        {
            "id": "1",
            "experiment": {
                "name": "p",
                "base_dir": str(tmp_path),
                "sources": [],
                "dependencies": [],
                "repositories": [],
                "mainfile": "x.py",
            },
            "status": "RUNNING",
            "command": "main",
            "config": {},
            "host": {"hostname": "h"},
            "meta": {"command": "main", "options": {}},
            "start_time": now,
            "heartbeat": now,
            "captured_out": "epoch 1",
            "metrics": {"loss": {"steps": [0, 1], "values": [2.0, 1.0], "timestamps": [now, now]}},
        },
        tmp_path,
    )
    with open_store(str(base)) as store:
        _, _, page = text(store, "/run/1")
        assert '<main data-live="/api/live/1">' in page
        status, headers, body = get(store, "/api/live/1")
        live = json.loads(body)
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert live["status"] == "RUNNING" and live["output"] == "epoch 1"
        assert live["charts"][0]["series"][0]["value"] == [2.0, 1.0]
        assert get(store, "/api/live/2")[0] == 404


def test_per_sample_table_filter_and_pages(store: Any) -> None:
    _, _, page = text(store, "/run/1", "table=preds&where=prob+>+0.5&sort=-i")
    ids = [int(i) for i in re.findall(r'<tr><td class="num">(\d+)</td>', page)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 74 and "next ›" not in page
    _, _, second = text(store, "/run/1", "table=preds&page=2")
    ids = [int(i) for i in re.findall(r'<tr><td class="num">(\d+)</td>', second)]
    assert ids == list(range(100, 150)) and "rows 101–150" in second
    _, _, bad = text(store, "/run/1", "table=preds&where=prob+<<+1")
    assert "unknown operator" in bad


def test_per_sample_table_sort_param(store: Any) -> None:
    _, _, page = text(store, "/run/1", "table=preds&sort=-prob")
    probs = [float(p) for p in re.findall(r'<td class="num">\d+</td><td class="num">([\d.]+)</td>', page)]
    assert len(probs) == 100
    assert probs == sorted(probs, reverse=True) and probs[0] == pytest.approx(149 / 150, rel=1e-3)
    assert "table=preds&amp;sort=prob#table-preds" in page  # the header link toggles it


def test_failed_run_shows_its_trace_escaped(store: Any) -> None:
    status, _, page = text(store, "/run/3")
    assert status == 200 and "s-FAILED" in page
    trace = re.search(r"<h2>Fail trace</h2><pre>(.*?)</pre>", page, re.S).group(1)
    assert "RuntimeError" in trace and XSS_ESCAPED in trace and XSS not in page


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


@pytest.mark.parametrize(
    "path",
    [
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
    ],
)
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
    row = re.search(r"<tr[^>]*><th>val.accuracy</th>(.*?)</tr>", page).group(1)
    assert re.findall(r">([\d.]+)<", row) == ["0.9", "0.99"]
    _, _, every = text(store, "/compare", "ids=1&ids=2&all=1")
    assert f"<th>config.label</th><td>{XSS_ESCAPED}</td>" in every and XSS not in every


@pytest.mark.parametrize("query, status", [("ids=1", 400), ("", 400), ("ids=1,99", 404)])
def test_compare_needs_two_known_runs(store: Any, query: str, status: int) -> None:
    assert get(store, "/compare", query)[0] == status


def test_compare_overlays_curves_and_lists_differences(store: Any) -> None:
    _, _, page = text(store, "/compare", "ids=1,2,3")
    data = chart_data(page)
    loss = next(c for c in data if c["title"] == "loss")
    assert [s["label"] for s in loss["series"]] == ["run 1", "run 2", "run 3"]
    params = chart_data(page, "ek-params")
    assert params["keys"] == ["config.lr"] and "val.accuracy" in params["metrics"]
    assert [r["config"]["config.lr"] for r in params["runs"]] == [0.1, 0.01, 0.5]
    assert "<h2>Dependencies</h2>" in page and "<h2>Git</h2>" in page


def test_compare_all_runs_a_filter_matches_and_download_it(store: Any) -> None:
    _, _, table = text(store, "/", "status=COMPLETED&experiment=dash")
    link = re.search(r'<a id="compare-matching" href="([^"]+)">compare all 2 matching runs</a>', table)
    assert link, "no compare link for the filtered runs"
    path, _, query = link.group(1).replace("&amp;", "&").partition("?")
    status, _, page = text(store, path, query)
    assert status == 200 and "Compare 2 runs" in page
    assert '<a href="/run/1">run 1</a>' in page and '<a href="/run/3">' not in page
    status, headers, body = get(store, "/report", "ids=1,2")
    assert status == 200 and headers["Content-Disposition"].startswith(
        'attachment; filename="experimentkit-compare-1-2.html"'
    )
    assert b"Compare 2 runs" in body and b'src="/static' not in body
    assert get(store, "/report", "ids=1,77")[0] == 404
    status, _, page = text(store, "/compare", "where=config.lr+>+5")
    assert status == 400 and "at least two runs" in page


def test_progress_views(store: Any) -> None:
    status, _, page = text(store, "/progress", "metric=val.accuracy&also=loss")
    assert status == 200
    data = chart_data(page, "ek-progress-data")
    assert data["timeline"]["ids"] == ["1", "2", "3"]  # in the order they ended; 4 logged nothing
    assert data["timeline"]["best"] == [0.9, 0.99, 0.99]
    assert [b["id"] for b in data["bars"]] == ["2", "1", "3"]  # best first
    assert data["metrics"] == ["val.accuracy", "loss"]
    assert 'title="run 2 val.accuracy = 0.99"' in page and 'href="/run/2"' in page
    _, _, lower = text(store, "/progress", "metric=metrics.loss&min=1")
    assert "lower is better)" in lower
    assert [b["id"] for b in chart_data(lower, "ek-progress-data")["bars"]] == ["2", "1", "3"]
    # without min, each metric's own direction: loss is lower-is-better by its name
    _, _, auto = text(store, "/progress", "metric=loss")
    assert "loss: lower is better (from the name &#x27;loss&#x27;)" in auto
    assert chart_data(auto, "ek-progress-data")["minimize"] is True
    assert '<option value="" selected>as the metric says</option>' in auto
    _, _, higher = text(store, "/progress", "metric=loss&min=0")  # chosen on the page
    assert chart_data(higher, "ek-progress-data")["minimize"] is False
    assert [b["id"] for b in chart_data(higher, "ek-progress-data")["bars"]] == ["3", "1", "2"]
    status, _, page = text(store, "/progress", "metric=val.acuracy")
    assert status == 400 and "did you mean" in page
    _, _, picked = text(store, "/progress", "metric=val.accuracy&ids=1&ids=3")
    assert chart_data(picked, "ek-progress-data")["timeline"]["ids"] == ["1", "3"]


# ---- read-only by default, writes opt-in ----------------------------------------------------------
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_only_get_and_post_are_answered(store: Any, method: str) -> None:
    status, headers, _ = handle(store, method, "/run/1", "tags=x")
    assert status == 405 and dict(headers)["Allow"] == "GET, POST"


def post(
    store: Any, path: str, form: dict, settings: Settings, origin: str = "http://h:1", host: str = "h:1"
) -> tuple:
    form = {k: v if isinstance(v, list) else [v] for k, v in form.items()}
    status, headers, body = handle(
        store, "POST", path, form=form, origin=origin, host=host, settings=settings
    )
    return status, dict(headers), body.decode()


def test_writes_are_refused_unless_allowed(store_dir: Path) -> None:
    with open_store(str(store_dir)) as store:
        before = store.get("2").tags
        settings = Settings()
        status, _, page = post(store, "/run/2/tags", {"add": "x", "csrf": settings.csrf}, settings)
        assert status == 403 and "read-only" in page
        assert store.get("2").tags == before


def test_writes_need_the_csrf_token_and_the_same_origin(store_dir: Path) -> None:
    settings = Settings(allow_writes=True)
    with open_store(str(store_dir)) as store:
        assert 'id="tag-form"' in handle(store, "GET", "/run/2", settings=settings)[2].decode()
        for form, origin in (
            ({"add": "x"}, "http://h:1"),
            ({"add": "x", "csrf": "wrong"}, "http://h:1"),
            ({"add": "x", "csrf": settings.csrf}, "http://evil.example"),
            ({"add": "x", "csrf": settings.csrf}, "null"),
        ):
            status, _, page = post(store, "/run/2/tags", form, settings, origin=origin)
            assert status == 403 and "refused" in page
        assert "x" not in store.get("2").tags
        status, headers, _ = post(
            store, "/run/2/tags", {"add": "good, keep", "csrf": settings.csrf}, settings
        )
        assert status == 303 and headers["Location"] == "/run/2"
    with open_store(str(store_dir)) as fresh:  # stored, as `experimentkit tag` would
        assert fresh.get("2").tags[-2:] == ["good", "keep"]
        status, _, _ = post(
            fresh, "/run/2/tags", {"remove": ["good", "keep"], "csrf": settings.csrf}, settings
        )
        status, _, _ = post(fresh, "/run/2/note", {"note": "looks fine", "csrf": settings.csrf}, settings)
        assert status == 303
    with open_store(str(store_dir)) as fresh:
        record = fresh.get("2")
        assert "good" not in record.tags and record.notes == "looks fine"
        assert post(fresh, "/run/99/note", {"note": "x", "csrf": settings.csrf}, settings)[0] == 404
        fresh.set_note("2", "")


# ---- charts --------------------------------------------------------------------------------------
def test_series_json_skips_values_it_cannot_plot() -> None:
    from experimentkit.query import MetricSeries

    series = MetricSeries(
        "m",
        [0, 1, 2, 3, 4],
        [1.0, None, float("nan"), "x", 3.0],
        [_dt.datetime(2024, 1, 1, 0, 0, i) for i in range(5)],
    )
    data = charts.series_json(series)
    assert data["step"] == [0, 4] and data["value"] == [1.0, 3.0] and data["count"] == 2
    assert data["time"][1] - data["time"][0] == 4


def test_a_million_points_become_a_few_thousand_keeping_the_extremes() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    values = rng.normal(size=1_000_000)
    values[123_457] = 50.0  # a spike a thinned chart would lose
    keep = charts.downsample(len(values), values)
    assert len(keep) <= 4 * charts.BUCKETS and 123_457 in keep
    assert keep[0] == 0 and keep[-1] == len(values) - 1 and values[keep].min() == values.min()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3000), st.integers(1, 50))
def test_downsample_keeps_order_bounds_and_extremes(values: list, buckets: int) -> None:
    import numpy as np

    array = np.array(values, dtype=float)
    keep = charts.downsample(len(array), array, buckets)
    assert list(keep) == sorted(set(keep.tolist()))
    assert len(keep) <= max(len(values), 0) and len(keep) <= max(4 * buckets, len(values))
    if values:
        assert len(keep) <= 4 * buckets or len(keep) == len(values)
        assert array[keep].max() == array.max() and array[keep].min() == array.min()


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1), st.booleans())
def test_best_so_far_is_the_running_extreme(values: list, minimize: bool) -> None:
    pick = min if minimize else max
    assert charts.best_so_far(values, minimize) == [pick(values[: i + 1]) for i in range(len(values))]


def test_is_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com", ""):
        assert not is_loopback(host)


def test_wildcard_host_is_shown_as_reachable_addresses() -> None:
    found = reachable_addresses("0.0.0.0")
    assert found and "0.0.0.0" not in found and "127.0.0.1" in found
    assert reachable_addresses("192.0.2.7") == ["192.0.2.7"]


# ---- the Starlette application -------------------------------------------------------------------
@pytest.fixture
def client_for(store_dir: Path) -> Any:
    pytest.importorskip("starlette", reason="the dashboard extra is not installed")
    pytest.importorskip("httpx", reason="starlette's TestClient needs httpx")
    import warnings

    with warnings.catch_warnings():  # starlette 1.x would rather use httpx2; httpx works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from experimentkit.dashboard.server import build_app

    made: list = []

    def make(host: str = "127.0.0.1", **kwargs: Any) -> Any:
        dashboard = build_app(str(store_dir), host, **kwargs)
        made.append(dashboard)
        return dashboard, TestClient(dashboard, base_url="http://127.0.0.1:8765")

    yield make
    for dashboard in made:
        dashboard.close()


def test_app_serves_pages_static_files_and_artifacts(client_for: Any) -> None:
    _, client = client_for()
    page = client.get("/")
    assert page.status_code == 200 and run_ids(page.text) == ["1", "2", "3", "4"]
    assert page.headers["x-frame-options"] == "DENY"
    script = client.get("/static/uPlot.iife.min.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "script-src 'self'" in script.headers["content-security-policy"]
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/uPlot.LICENSE").status_code == 200
    for escape in ("/static/..%2F..%2Fapp.py", "/static/../app.py", "/static/%2e%2e/app.py"):
        answer = client.get(escape)
        assert answer.status_code == 404 and "handle(" not in answer.text
    artifact = client.get("/run/1/artifact/notes.txt")
    assert artifact.content == b"hello artifact"
    assert artifact.headers["content-disposition"].startswith("attachment")
    html = client.get("/run/1/artifact/page.html?inline=1")  # never inline, never as a page
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment")
    live = client.get("/api/live/4").json()
    assert live["status"] == "DEAD" and live["charts"] == []


def test_app_refuses_foreign_host_headers_on_loopback(client_for: Any) -> None:
    _, client = client_for()
    answer = client.get("/", headers={"Host": "evil.example"})
    assert answer.status_code == 400 and "localhost" in answer.text


def test_token_is_required_for_every_request_when_set(client_for: Any) -> None:
    dashboard, client = client_for("0.0.0.0")
    assert dashboard.token and not dashboard.local_only  # generated beyond loopback
    for path in ("/", "/run/1", "/static/dashboard.js", "/run/1/artifact/notes.txt"):
        answer = client.get(path)
        assert answer.status_code == 401 and "token" in answer.text
    assert client.get("/?token=wrong").status_code == 401
    answer = client.get(f"/run/1?token={dashboard.token}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/run/1"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/run/1").status_code == 200  # the cookie now carries it
    client.cookies.clear()
    assert client.get("/", headers={"Authorization": f"Bearer {dashboard.token}"}).status_code == 200
    _, local = client_for(token="s3cret")
    assert local.get("/").status_code == 401
    assert local.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_app_writes_only_with_allow_writes(client_for: Any, store_dir: Path) -> None:
    dashboard, client = client_for()
    answer = client.post(
        "/run/2/note",
        data={"note": "x", "csrf": dashboard.settings.csrf},
        headers={"Origin": "http://127.0.0.1:8765"},
    )
    assert answer.status_code == 403 and "read-only" in answer.text
    writer, client = client_for(allow_writes=True)
    answer = client.post(
        "/run/2/note",
        data={"note": "from the web", "csrf": writer.settings.csrf},
        headers={"Origin": "http://127.0.0.1:8765"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    with open_store(str(store_dir)) as store:
        assert store.get("2").notes == "from the web"
        store.set_note("2", "")


def test_cli_starts_no_dashboard_code_until_serve() -> None:
    code = (
        "import sys; from experimentkit.cli.main import build_parser; "
        "build_parser().parse_args(['serve']); build_parser().parse_args(['report', '1', "
        "'-o', 'x']); "
        "print(sorted(m for m in sys.modules if m.startswith(('experimentkit.dashboard', "
        "'starlette', 'uvicorn'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_store_is_a_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", str(tmp_path / "nope"), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("experimentkit: error: no run store") and "Traceback" not in (proc.stderr)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_that_is_not_one_is_a_one_line_error(store_dir: Path, port: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", str(store_dir), "serve", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"argument --port: a port is a number from 0 to 65535, not '{port}'" in proc.stderr


def test_serve_refuses_a_port_out_of_range_in_one_line(store_dir: Path) -> None:
    from experimentkit.dashboard.server import serve
    from experimentkit.errors import UsageError

    with pytest.raises(UsageError, match=r"^cannot listen on 127\.0\.0\.1:70000: .*0-65535"):
        serve(str(store_dir), port=70000)


def test_serve_without_the_dashboard_extra_says_what_to_install(store_dir: Path) -> None:
    code = (
        "import sys; sys.modules['starlette'] = None; "
        "from experimentkit.cli.main import main; "
        f"sys.exit(main(['-S', {str(store_dir)!r}, 'serve', '--port', '0']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "pip install 'experimentkit[dashboard]'" in proc.stderr


def _start(store_dir: Path, *args: str) -> tuple:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "experimentkit", "serve", "--port", "0", "-S", str(store_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, proc.stdout.readline()


def test_serve_subprocess_binds_loopback_and_serves_pages(store_dir: Path) -> None:
    proc, line = _start(store_dir)
    try:
        match = re.search(r"at (http://([\d.]+):(\d+)/)", line)
        assert match, line
        url, host = match.group(1), match.group(2)
        assert host == "127.0.0.1"
        with urllib.request.urlopen(url, timeout=20) as resp:
            page = resp.read().decode()
            assert resp.status == 200 and resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
        assert run_ids(page) == ["1", "2", "3", "4"] and XSS not in page
        with urllib.request.urlopen(url + "run/2", timeout=20) as resp:
            assert "Run 2" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(url + "run/1/tags", data=b"add=x"), timeout=20)
        assert err.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as err:  # DNS rebinding: a foreign Host
            urllib.request.urlopen(urllib.request.Request(url, headers={"Host": "evil.example"}), timeout=20)
        assert err.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "run/1/artifact/..%2F..%2Fsecret.txt", timeout=20)
        assert err.value.code == 404 and SECRET not in err.value.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()
        proc.stderr.close()


def test_serve_on_all_interfaces_prints_addresses_and_a_token(store_dir: Path) -> None:
    proc, line = _start(store_dir, "--host", "0.0.0.0")
    try:
        assert "0.0.0.0" not in line
        match = re.search(r"at (http://([\d.]+):(\d+)/)\?token=(\S+)", line)
        assert match, line
        url, token = match.group(1), match.group(4)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url, timeout=20)
        assert err.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=20) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        assert "warning: listening on 0.0.0.0" in proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()


def test_report_is_one_self_contained_file(store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    proc = subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", str(store_dir), "report", "1", "2", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    page = out.read_text(encoding="utf-8")
    assert "Compare 2 runs" in page and 'src="/static' not in page and "uPlot" in page
    assert XSS not in page and len(chart_data(page)[0]["series"]) == 2
    single = tmp_path / "run.html"
    subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", str(store_dir), "report", "1", "-o", str(single)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert "Run 1" in single.read_text(encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "experimentkit", "-S", str(store_dir), "report", "77", "-o", str(single)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "no run '77'" in bad.stderr and "Traceback" not in bad.stderr


# ---- sources, resources, selection and the column catalogue (issue 17, second pass) -------------
TRAIN_V1 = "import math\nlr = 0.1\nprint('<b>v1</b>')\n"
TRAIN_V2 = "import math\nlr = 0.2\nprint('<b>v2</b>')\nprint(\"" + XSS + '")\n'


def _source_spec(run_id: str, base_dir: Path, lr: float, md5: str = "") -> dict:
    return {
        "id": run_id,
        "experiment": {
            "name": "src",
            "base_dir": str(base_dir),
            "sources": [["train.py", md5]],
            "dependencies": [],
            "repositories": [],
            "mainfile": "train.py",
        },
        "status": "COMPLETED",
        "command": "main",
        "config": {"lr": lr},
        "host": {"hostname": "h"},
        "meta": {"command": "main", "options": {}},
        "start_time": _dt.datetime(2024, 1, 1),
        "stop_time": _dt.datetime(2024, 1, 1, 1),
        "resources": [["data.csv", None]],
        "result": lr,
    }


def _fill_sources(observer_for: Any, tmp: Path) -> list:
    """Two runs whose train.py differs (the second prints XSS); both read the same data.csv."""
    ids = []
    code = tmp / "code"
    code.mkdir()
    for number, (text_, lr) in enumerate(((TRAIN_V1, 0.1), (TRAIN_V2, 0.2)), start=1):
        (code / "train.py").write_text(text_, encoding="utf-8")
        md5 = hashlib.md5(text_.encode()).hexdigest()  # as a run records it
        ids.append(str(emit_events(observer_for(), _source_spec(str(number), code, lr, md5), tmp)))
    return ids


def _source_store(kind: str, tmp: Path) -> tuple:
    if kind == "file":
        base = tmp / "runs"
        ids = _fill_sources(lambda: FileStorageObserver(str(base)), tmp)
        return open_store(str(base)), ids
    if kind == "sqlite":
        pytest.importorskip("sqlalchemy")
        from experimentkit.backends.sql.observer import SqlObserver

        url = f"sqlite:///{tmp / 'runs.db'}"
        ids = _fill_sources(lambda: SqlObserver(url), tmp)
        return open_store(url), ids
    pytest.importorskip("mongomock")
    import mongomock.gridfs

    from experimentkit.backends.mongo.observer import MongoObserver
    from experimentkit.backends.mongo.store import MongoStore

    mongomock.gridfs.enable_gridfs_integration()
    client = mongomock.MongoClient()
    ids = _fill_sources(lambda: MongoObserver(client=client), tmp)
    return MongoStore(client=client), ids


@pytest.mark.parametrize("kind", ["file", "sqlite", "mongo"])
def test_source_files_are_shown_escaped_and_diffed_between_runs(kind: str, tmp_path: Path) -> None:
    store, (first, second) = _source_store(kind, tmp_path)
    with store:
        assert store.source(second, "train.py").decode() == TRAIN_V2
        assert store.source_names(first) == ["train.py"]
        from experimentkit.errors import StoreError

        with pytest.raises(StoreError, match="no source file 'tran.py'.*train.py"):
            store.source(first, "tran.py")
        status, _, page = text(store, f"/run/{first}")
        assert status == 200 and f'href="/run/{first}/source/train.py"' in page
        _, _, listing = text(store, "/", "columns=resources.path")  # each backend's catalogue
        assert run_ids(listing) == [first, second]
        assert 'name="columns" value="config.lr"' in listing
        assert 'name="columns" value="metrics.' not in listing  # these runs log no metric
        status, headers, page = text(store, f"/run/{second}/source/train.py")
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert XSS_ESCAPED in page and XSS not in page and "&lt;b&gt;v2&lt;/b&gt;" in page
        status, _, page = text(store, f"/run/{first}/source/tran.py")
        assert status == 404 and "no source file" in page and "train.py" in page

        status, _, page = text(store, "/compare", f"ids={first},{second}")
        assert 'class="diff-link"' in page and "diff=train.py" in page
        status, _, page = text(store, "/compare", f"ids={first},{second}&diff=train.py")
        assert status == 200
        diff = re.search(r'<pre class="diff">(.*?)</pre>', page, re.S).group(1)
        assert f"--- run {first}: train.py" in diff and f"+++ run {second}: train.py" in diff
        assert '<span class="d-del">-lr = 0.1</span>' in diff
        assert '<span class="d-add">+lr = 0.2</span>' in diff
        assert f'<span class="d-add">+print(&quot;{XSS_ESCAPED}&quot;)</span>' in diff
        assert "import math" in diff and "-import math" not in diff  # context, unchanged
        assert XSS not in page
        _, _, page = text(store, "/compare", f"ids={first},{second}&diff=nothere.py")
        assert "no source file &#x27;nothere.py&#x27;" in page


def test_source_paths_outside_the_store_are_never_read(tmp_path: Path) -> None:
    store, (first, _) = _source_store("file", tmp_path)
    base = tmp_path / "runs"
    outside = tmp_path / "outside.txt"
    outside.write_text(SECRET, encoding="utf-8")
    run_json = base / first / "run.json"
    doc = json.loads(run_json.read_text(encoding="utf-8"))
    doc["experiment"]["sources"] += [
        ["up.py", "../outside.txt"],
        ["abs.py", str(outside)],
        ["link.py", "_sources/link.py"],
    ]
    run_json.write_text(json.dumps(doc), encoding="utf-8")
    (base / "_sources" / "link.py").symlink_to(outside)
    with store:
        for name in ("up.py", "abs.py", "link.py"):
            status, _, page = text(store, f"/run/{first}/source/{name}")
            assert status == 404 and "not kept in the store" in page, name
            assert SECRET not in page
        for path in (
            f"/run/{first}/source/..%2F..%2Foutside.txt",
            f"/run/{first}/source/%2Fetc%2Fpasswd",
            f"/run/{first}/source/..",
            f"/run/..%2F{first}/source/train.py",
        ):
            status, _, page = text(store, path)
            assert status == 404 and SECRET not in page, path
        _, _, page = text(store, "/compare", f"ids={first},2&diff=up.py")
        assert "not kept in the store" in page and SECRET not in page


def test_run_page_lists_resources_with_digests_and_links_to_runs_using_them(tmp_path: Path) -> None:
    from store_conformance import RESOURCE_TEXT

    store, (first, second) = _source_store("file", tmp_path)
    md5 = hashlib.md5(RESOURCE_TEXT.encode()).hexdigest()
    with store:
        status, _, page = text(store, f"/run/{first}")
        table = re.search(r'<table id="resources">(.*?)</table>', page, re.S).group(1)
        assert "data.csv" in table and f"<code>{md5}</code>" in table
        href = re.search(r'class="same-resource" href="([^"]+)"', table).group(1)
        path, _, query = href.replace("&amp;", "&").partition("?")
        assert path == "/" and "resources.md5" in query
        status, _, listing = text(store, path, query)
        assert status == 200 and run_ids(listing) == [first, second]
        _, _, listing = text(store, "/", "where=resources.md5+%3D%3D+%22" + "0" * 32 + "%22")
        assert run_ids(listing) == []


def test_ticked_runs_are_kept_in_the_address_across_pages(store: Any) -> None:
    status, _, page = text(store, "/", "per=2&ids=1,3")
    assert status == 200 and run_ids(page) == ["1", "2"]
    assert re.search(r'name="ids" value="1" checked', page)
    assert not re.search(r'name="ids" value="2" checked', page)
    assert 'id="selected-elsewhere" value="3"' in page  # on page 2, still sent to compare
    assert "2 selected" in page
    nxt = re.search(r'rel="next" class="keep-selection" href="([^"]+)"', page).group(1)
    assert "ids=1%2C3" in nxt and "page=2" in nxt
    status, _, page2 = text(store, "/", nxt.replace("&amp;", "&").partition("?")[2])
    assert run_ids(page2) == ["3", "4"]
    assert re.search(r'name="ids" value="3" checked', page2)
    assert 'id="selected-elsewhere" value="1"' in page2
    sort = re.search(r'data-key="id"><a class="sort keep-selection" href="([^"]+)"', page2)
    assert "ids=1%2C3" in sort.group(1)
    # what "compare selected" sends from page 2 (the hidden field plus the ticked box)
    status, _, compare = text(store, "/compare", "ids=1&ids=3")
    assert status == 200 and "Compare 2 runs" in compare
    _, _, cleared = text(store, "/", "per=2&ids=1,3")
    assert 'id="clear-selection" href="/?per=2"' in cleared
    from urllib.parse import quote

    status, _, page = text(store, "/", "ids=" + quote(XSS + ",1"))
    assert status == 200 and XSS not in page
    assert f'id="selected-elsewhere" value="{XSS_ESCAPED}"' in page


def test_column_chooser_offers_keys_of_the_whole_store_and_the_sweep(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    for number in range(1, 4):
        spec = _source_spec(str(number), tmp_path, 0.1 * number)
        spec["experiment"]["sources"] = []
        spec["resources"] = []
        spec["config"] = {"lr": 0.1, f"only_in_{number}": number}
        spec["meta"]["sweep"] = {"id": "sw1", "index": number}
        spec["metrics"] = {
            f"m{number}": {"steps": [0], "values": [1.0], "timestamps": [_dt.datetime(2024, 1, 1)]}
        }
        emit_events(FileStorageObserver(str(base)), spec, tmp_path)
    with open_store(str(base)) as store:
        _, _, page = text(store, "/", "per=1")  # one run on the page, keys of all three offered
        assert run_ids(page) == ["1"]
        offered = re.findall(r'name="columns" value="([^"]+)"', page)
        for key in ("config.only_in_1", "config.only_in_3", "metrics.m3.last", "metrics.m2.min", "sweep"):
            assert key in offered, key
        _, _, page = text(store, "/", "per=5&columns=sweep&columns=config.only_in_2")
        header = re.search(r"<thead>(.*?)</thead>", page, re.S).group(1)
        assert 'data-key="sweep"' in header and 'data-key="config.only_in_2"' in header
        assert page.count('<a class="sweep-link" href="/sweep/sw1">sw1</a>') == 3  # links to the sweep


# ---- the several-metrics view as a PNG: experimentkit plot --kind bars-multi --------------------
def _train_val_runs(path: Path) -> Path:
    from store_conformance import sample_runs

    specs = []
    for number, (train, val) in enumerate(((0.10, 0.30), (0.20, 0.22), (0.05, 0.40)), start=1):
        spec = sample_runs()[1]
        spec.update(id=str(number), config={"lr": 0.1 * number})
        spec["metrics"] = {
            name: {"steps": [0], "values": [value], "timestamps": ["2024-01-02T10:00:00"]}
            for name, value in (("train.error", train), ("val.error", val))
        }
        specs.append(spec)
    path.write_text(json.dumps({"runs": specs}, default=str), encoding="utf-8")
    return path


def test_bars_multi_puts_train_and_validation_side_by_side_sorted(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from experimentkit.errors import UsageError
    from experimentkit.plotting import metric_figure
    from experimentkit.query.memory import InMemoryStore

    store = InMemoryStore.from_json(_train_val_runs(tmp_path / "runs.json"))
    ax = metric_figure(store, "val.error", kind="bars-multi", also=["train.error"]).axes[0]
    heights = [round(b.get_height(), 3) for b in ax.patches]
    # sorted by val.error, lower is better (from the name): runs 2, 1, 3
    assert heights == [0.22, 0.30, 0.40, 0.20, 0.10, 0.05]
    assert [t.get_text().split(" ")[0] for t in ax.get_xticklabels()] == ["2", "1", "3"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["val.error", "train.error"]
    assert "sorted by val.error (lower is better)" in ax.get_title()
    with pytest.raises(UsageError, match="has the key 'metrics.train.eror'.*train.error"):
        metric_figure(store, "val.error", kind="bars-multi", also=["train.eror"])
    with pytest.raises(UsageError, match="--also goes with --kind bars-multi"):
        metric_figure(store, "val.error", kind="bars", also=["train.error"])


def test_plot_bars_multi_command_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = _train_val_runs(tmp_path / "runs.json")
    out = tmp_path / "bv.png"
    base = [
        sys.executable,
        "-m",
        "experimentkit",
        "-S",
        f"memory+json://{path}",
        "plot",
        "val.error",
        "--kind",
        "bars-multi",
    ]
    proc = subprocess.run(
        base + ["--also", "metrics.train.error", "-o", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and out.stat().st_size > 1000
    assert "val.error: lower is better" in proc.stderr
    proc = subprocess.run(
        base + ["--also", "train.eror", "-o", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "did you mean 'metrics.train.error'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.png").exists()


def _swept(observer: Any) -> Experiment:
    ex = Experiment("swept", interactive=True)
    ex.observers.append(observer)

    @ex.config
    def cfg():
        lr = 0.1  # noqa: F841
        opt = "adam"  # noqa: F841

    @ex.main
    def main(lr, opt, _run):
        penalty = 0.0 if opt == "adam" else 0.05
        _run.log_scalar("val.accuracy", 1.0 - abs(lr - 0.01) - penalty)
        _run.log_scalar("loss", lr + penalty)
        return lr

    return ex


@pytest.mark.parametrize("kind", ["file", "sqlite", "mongo"])
def test_sweeps_list_and_sweep_page_with_best_run_and_parallel_data(kind: str, tmp_path: Path) -> None:
    from experimentkit.observers import MongoObserver, SqlObserver

    client = None
    if kind == "file":
        target, observer = str(tmp_path / "runs"), FileStorageObserver(str(tmp_path / "runs"))
    elif kind == "sqlite":
        target = f"sqlite:///{tmp_path / 'runs.db'}"
        observer = SqlObserver(target)
    else:
        pytest.importorskip("mongomock")
        import mongomock.gridfs

        mongomock.gridfs.enable_gridfs_integration()
        client = mongomock.MongoClient()
        target, observer = "", MongoObserver(client=client)
    ex = _swept(observer)
    ex.run(config_updates={"lr": 0.5})  # a run outside any sweep
    result = ex.sweep({"lr": [0.1, 0.01, 0.001], "opt": ["adam", XSS]}, launcher="threads", progress=False)
    assert result.status == "COMPLETED" and len(result) == 6
    best = next(r.run_id for r in result if r.values == {"lr": 0.01, "opt": "adam"})
    if client is not None:
        from experimentkit.backends.mongo.store import MongoStore

        opened = MongoStore(client=client, db_name="sacred")
    else:
        opened = open_store(target)
    with opened as store:
        status, _, body = handle(store, "GET", "/sweeps")
        text = body.decode()
        assert status == 200 and '<a href="/sweep/1">1</a>' in text
        assert "threads" in text and "6 COMPLETED" in text and XSS not in text
        status, _, body = handle(store, "GET", "/sweep/1", "objective=val.accuracy")
        text = body.decode()
        assert status == 200 and "<h1>Sweep 1</h1>" in text
        assert XSS not in text and XSS_ESCAPED in text
        rows = re.findall(r"<tr( class=\"best\")?><td class=\"best-mark\">(.*?)</td>.*?/run/(\w+)\"", text)
        assert len(rows) == 6 and rows[0] == (' class="best"', "★", best)  # sorted, best first
        assert [r[1] for r in rows].count("★") == 1
        params = json.loads(re.search(r'id="ek-params">(.*?)</script>', text).group(1))
        assert params["keys"] == ["lr", "opt"] and params["best"] == best
        assert params["categories"] == {"opt": ["adam", XSS]}  # words become labelled positions
        assert sorted(r["config"]["opt"] for r in params["runs"]) == [0, 0, 0, 1, 1, 1]
        assert len(params["runs"]) == 6 and '<canvas id="ek-parallel"' in text
        # lower is better: the loss objective picks the smallest lr with adam as well
        _, _, body = handle(store, "GET", "/sweep/1", "objective=loss&min=1")
        assert re.search(
            r'<tr class="best"><td class="best-mark">★</td><td class="num">\d+</td>'
            r'<td class="num"><a href="/run/(\w+)"',
            body.decode(),
        ).group(1) == next(r.run_id for r in result if r.values == {"lr": 0.001, "opt": "adam"})
        # the axes keep the sweep's order of values whatever the sort (here the worst first)
        _, _, body = handle(store, "GET", "/sweep/1", "objective=loss&min=0")
        flipped = json.loads(re.search(r'id="ek-params">(.*?)</script>', body.decode()).group(1))
        assert flipped["categories"] == {"opt": ["adam", XSS]} and flipped["runs"][0]["config"]["opt"] == 1
        status, _, body = handle(store, "GET", "/sweep/1", "objective=val.acuracy")
        assert status == 400 and "did you mean &#x27;val.accuracy&#x27;" in body.decode()
        status, _, body = handle(store, "GET", "/sweep/9")
        assert status == 404 and "no sweep &#x27;9&#x27;" in body.decode()
        # the runs table's sweep column links to the sweep's page, and so does each run's page
        _, _, body = handle(store, "GET", "/", "columns=sweep")
        assert body.decode().count('class="sweep-link" href="/sweep/1"') == 6
        _, _, body = handle(store, "GET", f"/run/{best}")
        assert re.search(r'<a class="sweep-link" href="/sweep/1">sweep 1</a>, task #\d', body.decode())
        # a finished sweep's page stays put; a RUNNING one reloads itself (no script needed)
        assert 'http-equiv="refresh"' not in text
        from experimentkit.sweep.records import book_for_store

        book_for_store(store).update(1, {"status": "RUNNING"})
        _, _, body = handle(store, "GET", "/sweep/1")
        assert '<meta http-equiv="refresh" content="10">' in body.decode()


def test_compare_sets_text_artifacts_of_the_same_name_side_by_side(tmp_path: Path) -> None:
    ex = Experiment("texts")
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))

    @ex.config
    def cfg():
        lr = 0.1  # noqa: F841

    @ex.main
    def main(lr, _run):
        for name, content in (
            ("scores.json", json.dumps({"lr": lr, "note": XSS})),
            ("readme.txt", "same text"),
            (f"only-{lr}.txt", "mine"),
        ):
            path = tmp_path / f"{lr}-{name}"
            path.write_text(content, encoding="utf-8")
            _run.add_artifact(str(path), name=name)

    ex.run()
    ex.run(config_updates={"lr": 0.01})
    with open_store(str(tmp_path / "runs")) as opened:
        status, _, page = text(opened, "/compare", "ids=1,2")
    assert status == 200 and "<h2>Text artifacts side by side</h2>" in page
    shared = re.findall(r'<h3 class="shared-artifact( differs)?">([^<]+)<span class="muted"> \((.*?)\)', page)
    assert shared == [("", "readme.txt", "the same in every run"), (" differs", "scores.json", "differs")]
    assert "&quot;lr&quot;: 0.01" in page and "&quot;lr&quot;: 0.1," in page  # both runs' JSON
    assert XSS not in page and "only-0.1.txt" not in page  # escaped; a name only one run has is left out
