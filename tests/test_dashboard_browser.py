"""The dashboard in a real headless Chromium (marker ``browser``; skipped with the reason when
selenium, chromium or chromedriver is missing): sorting by a header click, filtering, selecting and
comparing runs, overlaid curves and hover values, an image artifact rendered, writes with and
without ``--allow-writes``, and no JavaScript errors on any page."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from browserutil import chromium, console_errors, dashboard, need_browser, screenshot

from experimentkit import Experiment
from experimentkit.observers import FileStorageObserver
from experimentkit.query import open_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _png(path: Path, rgb: tuple) -> None:
    width = height = 24
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: Any) -> Path:
    """Four completed runs of one experiment with two curves, an image, a CSV and a table each."""
    need_browser()
    base = tmp_path_factory.mktemp("runs")
    tmp = tmp_path_factory.mktemp("art")
    ex = Experiment("browser")
    ex.observers.append(FileStorageObserver(str(base)))

    @ex.config
    def cfg():
        lr = 0.1  # noqa: F841
        depth = 2  # noqa: F841

    @ex.main
    def main(lr, depth, _run):
        for step in range(200):
            _run.log_scalar("loss", 1.0 / (step + 1) + lr, step)
            _run.log_scalar("val.accuracy", 1.0 - lr - 1.0 / (step + 2), step)
        image = tmp / f"{lr}.png"
        _png(image, (int(lr * 2000) % 256, 80, 160))
        _run.add_artifact(str(image), name="confusion.png")
        table = tmp / f"{lr}.csv"
        table.write_text("label,count\ncat,3\ndog,5\n", encoding="utf-8")
        _run.add_artifact(str(table), name="counts.csv")
        page = tmp / f"{lr}.html"
        page.write_text("<h1>report</h1><script>document.title = 'ran';</script>", encoding="utf-8")
        _run.add_artifact(str(page), name="report.html")
        _run.log_table("preds", [{"i": i, "p": i / 150, "image": "confusion.png"} for i in range(150)])
        return 1.0 - lr

    for lr, depth in ((0.1, 2), (0.01, 4), (0.05, 3), (0.2, 5)):
        ex.run(config_updates={"lr": lr, "depth": depth})
    return base


@pytest.fixture(scope="module")
def browser() -> Any:
    with chromium() as driver:
        yield driver


def _ids(driver: Any) -> list:
    from selenium.webdriver.common.by import By

    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr td:nth-child(2) a")]


def _wait_ids(driver: Any, expected: list) -> None:
    """Wait until the runs table lists ``expected`` (a click only starts the navigation)."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: _ids(d) == expected
        )
    except TimeoutException:
        assert _ids(driver) == expected


def test_table_sort_filter_select_compare_and_hover(store_dir: Path, browser: Any) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with dashboard(store_dir) as url:
        browser.get(url + "/")
        assert _ids(browser) == ["1", "2", "3", "4"]
        screenshot(browser, "table")
        browser.find_element(By.CSS_SELECTOR, 'th[data-key="config.lr"] a.sort').click()
        _wait_ids(browser, ["2", "3", "1", "4"])
        assert "sort=config.lr" in browser.current_url
        browser.find_element(By.CSS_SELECTOR, 'th[data-key="config.lr"] a.sort').click()
        _wait_ids(browser, ["4", "1", "3", "2"])
        assert "sort=-config.lr" in browser.current_url
        where = browser.find_element(By.NAME, "where")
        where.send_keys("config.lr < 0.15")
        browser.find_element(By.ID, "apply-filter").click()
        _wait_ids(browser, ["1", "3", "2"])  # the sort is kept in the URL with the filter
        assert "where=config.lr" in browser.current_url
        for box in browser.find_elements(By.CSS_SELECTOR, '#runs input[name="ids"]'):
            box.click()
        browser.find_element(By.ID, "compare-selected").click()
        WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: (
                "/compare?" in d.current_url and d.find_element(By.TAG_NAME, "h1").text == "Compare 3 runs"
            )
        )
        series = browser.execute_script(
            "return window.ekCharts.map(function (u) { return u.series.length - 1; })"
        )
        assert series[:2] == [3, 3]  # loss and val.accuracy, a curve per run
        over = browser.find_elements(By.CSS_SELECTOR, ".ek-chart .u-over")[0]
        ActionChains(browser).move_to_element_with_offset(over, 20, 10).perform()
        values = [
            v.text
            for v in browser.find_elements(
                By.CSS_SELECTOR, ".ek-chart:first-of-type .u-legend .u-series .u-value"
            )
        ][:4]
        assert values and all(re.search(r"\d", v) for v in values), values
        screenshot(browser, "compare")
        browser.get(url + "/progress?metric=val.accuracy&also=loss")
        assert browser.execute_script("return window.ekCharts.length") == 1
        screenshot(browser, "progress")
        assert console_errors(browser) == []


def test_run_page_renders_the_image_artifact_and_previews(store_dir: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(store_dir) as url:
        browser.get(url + "/run/2")
        image = browser.find_element(By.CSS_SELECTOR, "img.artifact-image")
        assert (
            browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 24
        )
        csv = browser.find_element(By.CSS_SELECTOR, 'figure[data-kind="csv"] table')
        assert "dog" in csv.text
        html = browser.find_element(By.CSS_SELECTOR, 'figure[data-kind="html"]')
        html.find_element(By.TAG_NAME, "summary").click()
        frame = html.find_element(By.TAG_NAME, "iframe")
        browser.switch_to.frame(frame)
        assert browser.find_element(By.TAG_NAME, "h1").text == "report"
        assert browser.execute_script("return document.title") != "ran"  # its script never ran
        browser.switch_to.default_content()
        assert browser.title != "ran"
        thumbs = browser.find_elements(By.CSS_SELECTOR, "table.samples img.thumb")
        assert len(thumbs) == 100
        assert browser.execute_script("return window.ekCharts.length") == 2
        screenshot(browser, "run")
        assert console_errors(browser) == []


def test_tag_edit_with_allow_writes_is_stored(store_dir: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(store_dir, "--allow-writes") as url:
        browser.get(url + "/run/3")
        browser.find_element(By.ID, "tag-input").send_keys("promising")
        browser.find_element(By.ID, "tag-save").click()
        assert browser.current_url.endswith("/run/3")
        assert "promising" in browser.find_element(By.ID, "tags").text
        screenshot(browser, "writes")
        assert console_errors(browser) == []
    with open_store(str(store_dir)) as store:
        assert "promising" in store.get("3").tags
        store.remove_tags("3", ["promising"])


def test_read_only_server_refuses_the_write(store_dir: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    with dashboard(store_dir) as url:
        browser.get(url + "/run/3")
        assert browser.find_elements(By.ID, "tag-form") == []
        status = browser.execute_async_script(
            "var done = arguments[arguments.length - 1];"
            "fetch('/run/3/tags', {method: 'POST', body: new URLSearchParams({add: 'sneaky'})})"
            ".then(function (r) { done(r.status); });"
        )
        assert status == 403
        console_errors(browser)  # the refused fetch is logged as a failed resource: expected
    with open_store(str(store_dir)) as store:
        assert "sneaky" not in store.get("3").tags


def test_running_run_page_follows_new_points_and_the_end(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from experimentkit.query.base import utcnow

    base = tmp_path / "runs"
    observer = FileStorageObserver(str(base))
    observer.started_event(
        ex_info={
            "name": "live",
            "base_dir": str(tmp_path),
            "sources": [],
            "dependencies": [],
            "repositories": [],
            "mainfile": "x.py",
        },
        command="main",
        host_info={"hostname": "h"},
        start_time=utcnow(),
        config={"lr": 0.1},
        meta_info={"command": "main", "options": {}},
        _id="1",
    )

    def log(first: int, count: int, output: str) -> None:
        now = utcnow()
        observer.log_metrics(
            {
                "loss": {
                    "name": "loss",
                    "steps": list(range(first, first + count)),
                    "values": [1.0 / (s + 1) for s in range(first, first + count)],
                    "timestamps": [now] * count,
                }
            },
            {},
        )
        observer.heartbeat_event(info={}, captured_out=output, beat_time=now, result=None)
        observer.join()

    log(0, 10, "epoch 1\n")
    with dashboard(base) as url:
        browser.get(url + "/run/1")
        points = "return window.ekCharts.length ? window.ekCharts[0].data[0].length : 0"
        assert browser.execute_script(points) == 10
        log(10, 15, "epoch 1\nepoch 2\n")
        WebDriverWait(browser, 60).until(lambda d: d.execute_script(points) == 25)
        WebDriverWait(browser, 60).until(lambda d: "epoch 2" in d.find_element(By.ID, "output").text)
        observer.completed_event(stop_time=utcnow(), result=1)
        observer.join()
        WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "live-status").text == "COMPLETED")
        assert console_errors(browser) == []


def test_ticked_runs_stay_ticked_across_pages_and_are_compared(store_dir: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def box(run_id: str) -> Any:
        return browser.find_element(By.CSS_SELECTOR, f'#runs input[name="ids"][value="{run_id}"]')

    with dashboard(store_dir) as url:
        browser.get(url + "/?per=2")
        box("1").click()
        assert "ids=1" in browser.current_url  # the address says what is ticked
        assert browser.find_element(By.ID, "selected-count").text == "1 selected"
        browser.find_element(By.CSS_SELECTOR, 'a[rel="next"]').click()
        WebDriverWait(browser, 60).until(lambda d: "page=2" in d.current_url)
        assert _ids(browser) == ["3", "4"]
        box("3").click()
        assert "ids=1%2C3" in browser.current_url or "ids=1,3" in browser.current_url
        browser.find_element(By.CSS_SELECTOR, 'a[rel="prev"]').click()
        WebDriverWait(browser, 60).until(lambda d: "page=2" not in d.current_url)
        assert box("1").is_selected() and not box("2").is_selected()
        assert browser.find_element(By.ID, "selected-count").text == "2 selected"
        browser.find_element(By.ID, "compare-selected").click()
        # wait for the compare page itself (the click only starts the navigation)
        WebDriverWait(browser, 60).until(
            lambda d: (
                "/compare" in d.current_url and d.find_element(By.TAG_NAME, "h1").text == "Compare 2 runs"
            )
        )
        heads = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table th a")][:2]
        assert sorted(heads) == ["run 1", "run 3"]
        browser.get(url + "/run/1")
        source = [
            a
            for a in browser.find_elements(By.CSS_SELECTOR, "a.source")
            if a.text.endswith("test_dashboard_browser.py")
        ][0]
        source.click()
        WebDriverWait(browser, 60).until(lambda d: "/source/" in d.current_url)
        assert "test_dashboard_browser.py" in browser.find_element(By.TAG_NAME, "h1").text
        assert "def store_dir" in browser.find_element(By.ID, "source").text
        assert console_errors(browser) == []


def test_sweep_page_from_the_runs_table_draws_the_parallel_coordinates(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from sweep_helpers import ls_json, write_script

    base = tmp_path / "runs"
    words = ["-M", "--jobs", "2", "with", "lr=logspace(-3,-1,5)", "big,small", "seed=range(2)"]
    write_script(tmp_path)
    done = subprocess.run(  # relative paths: the command line shown on the page stays short
        [sys.executable, "swept.py", "-l", "WARNING", "-F", "runs", *words],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    runs = ls_json(str(base), "sweep == 1")
    assert len(runs) == 20
    # val.accuracy = 1 / (1 + |lr - 0.01| * batch): 1.0 at lr 0.01 (either batch, either seed)
    best = {r["id"] for r in runs if r["config"]["lr"] == 0.01}
    assert len(best) == 4
    with dashboard(base) as url:
        browser.get(url + "/?columns=sweep,config.lr,config.batch&sort=id")
        browser.find_elements(By.CSS_SELECTOR, "a.sweep-link")[0].click()
        WebDriverWait(browser, 60).until(lambda d: d.current_url.endswith("/sweep/1"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "Sweep 1"
        assert "loss: lower is better" in browser.find_element(By.ID, "objective-note").text  # the first
        Select(browser.find_element(By.NAME, "objective")).select_by_value("val.accuracy")
        browser.find_element(By.CSS_SELECTOR, "form.query button").click()
        WebDriverWait(browser, 60).until(lambda d: "objective=val.accuracy" in d.current_url)
        assert "val.accuracy: higher is better" in browser.find_element(By.ID, "objective-note").text
        first = browser.find_element(By.CSS_SELECTOR, "#sweep-table tbody tr")
        assert first.get_attribute("class") == "best" and first.text.startswith("★")
        assert first.find_element(By.CSS_SELECTOR, "a").get_attribute("href").rsplit("/", 1)[1] in best
        canvas = browser.find_element(By.ID, "ek-parallel")
        assert canvas.get_attribute("data-lines") == "20"  # a line per run
        inked = browser.execute_script(
            "var c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "var n = 0; for (var i = 3; i < d.length; i += 4) if (d[i]) n++; return n;",
            canvas,
        )
        assert inked > 5000, inked  # the axes, labels and 20 lines were drawn
        assert len(browser.find_elements(By.CSS_SELECTOR, "#ek-scatter .uplot")) == 3  # one per swept key
        screenshot(browser, "sweep")
        browser.get(url + "/sweeps")
        assert "20 COMPLETED" in browser.find_element(By.ID, "sweeps").text
        screenshot(browser, "sweeps")
        assert console_errors(browser) == []


_TRAIN = """
from experimentkit import Experiment

ex = Experiment("diffed")


@ex.config
def cfg():
    lr = 0.1


@ex.automain
def main(lr, _run):
    for step in range(5):
        _run.log_scalar("loss", LOSS)
    return lr
"""


def test_source_diff_between_two_runs_and_the_static_report(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    script = tmp_path / "train.py"
    for loss, lr in (("1.0 / (step + 1)", "0.1"), ("0.5 / (step + 1)", "0.2")):
        script.write_text(_TRAIN.replace("LOSS", loss))
        done = subprocess.run(
            [sys.executable, "train.py", "-l", "WARNING", "-F", "runs", "with", f"lr={lr}"],
            capture_output=True,
            text=True,
            cwd=str(tmp_path),
        )
        assert done.returncode == 0, done.stderr
    with dashboard(tmp_path / "runs") as url:
        browser.get(url + "/compare?ids=1,2&diff=train.py")
        diff = browser.find_element(By.ID, "source-diff").text
        assert '-        _run.log_scalar("loss", 1.0 / (step + 1))' in diff
        assert '+        _run.log_scalar("loss", 0.5 / (step + 1))' in diff
        assert browser.execute_script("return window.ekCharts.length") >= 1
        screenshot(browser, "source-diff")
        assert console_errors(browser) == []
    report = tmp_path / "compare.html"
    done = subprocess.run(
        [sys.executable, "-m", "experimentkit", "report", "-S", "runs", "-o", str(report), "1", "2"],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    browser.get(report.as_uri())  # opened from disk: no server
    assert browser.find_element(By.TAG_NAME, "h1").text == "Compare 2 runs"
    assert browser.execute_script("return window.ekCharts.length") >= 1
    screenshot(browser, "report")
    assert console_errors(browser) == []
