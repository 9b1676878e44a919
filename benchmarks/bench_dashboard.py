"""The dashboard at 10,000 runs: time to first byte and page size of the runs table (first page,
and sorted by a metric) and of a run page whose metric has 10^6 points, on the file store and
SQLite, through a real ``experimentkit serve`` process.

    python benchmarks/bench_dashboard.py [--runs 10000] [--points 1000000] [--repeat 5]

Targets (issue 17): table under 300 ms, run page under 500 ms and under 1 MB.  The stores are
filled the way ``bench_query_file.py`` / ``bench_query_sql.py`` fill theirs (directly, not through
observers), plus one run with the long metric.  The first request of each page is reported
separately as "cold" (the file store builds its index then); the others are the median of
``--repeat`` requests.

The MLflow UI is measured on the same runs when an interpreter with mlflow is found
(``--mlflow-python``, default this one): its SQLite store is filled like ``bench_query_file.py``
fills it, plus the same 10^6-point metric, and ``mlflow server`` is started.  The UI is a
single-page application, so its equivalents are the calls its pages make: the runs table is
``POST /ajax-api/2.0/mlflow/runs/search`` (100 runs, newest first) and a run's chart is
``GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval`` (its sampled history, 320 points)
after ``GET /ajax-api/2.0/mlflow/runs/get``; the HTML and JavaScript of the application itself
(cached by the browser after the first visit) are reported apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from _common import table

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PAGES = [
    ("table", "/"),
    ("table sorted by a metric", "/?sort=-metrics.{metric}"),
    ("run page with the long metric", "/run/{big}"),
]


def add_long_run_file(base: str, run_id: str, points: int) -> None:
    folder = os.path.join(base, run_id)
    shutil.copytree(os.path.join(base, "1"), folder)
    start = dt.datetime(2024, 1, 1)
    stamps = [(start + dt.timedelta(milliseconds=i)).isoformat() for i in range(points)]
    values = [1.0 / (1 + i * 1e-4) + (i % 97) * 1e-4 for i in range(points)]
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        metrics = {"loss": {"steps": list(range(points)), "values": values, "timestamps": stamps}}
        json.dump(metrics, f, sort_keys=True, separators=(",", ":"))  # the layout the observer writes


def add_long_run_sql(url: str, run_id: str, points: int) -> None:
    from experimentkit.backends.sql import schema as s
    from experimentkit.backends.sql.catalogue import add_keys, update_summary
    from experimentkit.backends.sql.observer import _create_engine

    engine = _create_engine(url, False)
    start = dt.datetime(2024, 1, 1)
    with engine.begin() as conn:
        row = conn.execute(s.run.select().where(s.run.c.run_id == "1")).mappings().one()
        values = {k: v for k, v in row.items() if k != "id"}
        conn.execute(s.run.insert().values(**{**values, "run_id": run_id, "uid": "long" + run_id}))
        batch = []
        for i in range(points):
            batch.append(
                {
                    "run_id": run_id,
                    "name": "loss",
                    "step": i,
                    "value": 1.0 / (1 + i * 1e-4) + (i % 97) * 1e-4,
                    "timestamp": start + dt.timedelta(milliseconds=i),
                }
            )
            if len(batch) == 100_000:
                conn.execute(s.metric.insert(), batch)
                batch = []
        if batch:
            conn.execute(s.metric.insert(), batch)
        # what the observer keeps on write beside the points: the summary and the catalogue
        values = [1.0 / (1 + i * 1e-4) + (i % 97) * 1e-4 for i in range(points)]
        update_summary(conn, run_id, "loss", values)
        add_keys(conn, [("metrics", "loss")])
    engine.dispose()


def fetch(port: int, path: str, body: object = None) -> tuple:
    """(seconds to the first byte of the answer, seconds to the last, bytes); a POST of ``body``
    as JSON when given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    if body is None:
        conn.request("GET", path)
    else:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    first = time.perf_counter() - start
    body = response.read()
    total = time.perf_counter() - start
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
    return first, total, len(body)


def measure(target: str, big: str, repeat: int, metric: str) -> list:
    proc = subprocess.Popen(
        [sys.executable, "-m", "experimentkit", "-S", target, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)/", line).group(1))
        rows = []
        for label, path in PAGES:
            path = path.format(big=big, metric=metric)
            cold = fetch(port, path)
            warm = [fetch(port, path) for _ in range(repeat)]
            rows.append(
                (
                    label,
                    cold[0],
                    statistics.median(w[0] for w in warm),
                    statistics.median(w[1] for w in warm),
                    warm[-1][2],
                )
            )
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=60)


MLFLOW_FILL = """
import json, sqlite3, sys, uuid
sys.path.insert(0, sys.argv[1])
from bench_query_file import make_runs, write_mlflow_store
uri, exp = write_mlflow_store(sys.argv[2], sys.argv[3], make_runs(int(sys.argv[4])))
db = sqlite3.connect(sys.argv[2])
run_id = db.execute("SELECT run_uuid FROM runs ORDER BY start_time DESC LIMIT 1").fetchone()[0]
points = int(sys.argv[5])
rows = (('loss', 1.0 / (1 + i * 1e-4) + (i % 97) * 1e-4, 1_704_067_200_000 + i, run_id, i, 0)
        for i in range(points))
db.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
               "VALUES (?,?,?,?,?,?)", rows)
db.execute("INSERT OR REPLACE INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
           "VALUES ('loss', 1.0, 0, ?, 0, ?)", (points - 1, run_id))
db.commit()
print(json.dumps({"experiment": exp, "run": run_id}))
"""


def measure_mlflow(python: str, work: str, runs: int, points: int, repeat: int) -> list:
    db = os.path.join(work, "mlflow.db")
    meta_path = os.path.join(work, "mlflow.json")
    if not os.path.exists(meta_path):
        done = subprocess.run(
            [python, "-c", MLFLOW_FILL, HERE, db, os.path.join(work, "mlruns"), str(runs), str(points)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        with open(meta_path, "w") as f:
            f.write(done.stdout.strip().splitlines()[-1])
    with open(meta_path) as f:
        meta = json.load(f)
    mlflow = os.path.join(os.path.dirname(python), "mlflow")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            mlflow,
            "server",
            "--backend-store-uri",
            f"sqlite:///{db}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                fetch(port, "/health")
                break
            except (OSError, RuntimeError):
                time.sleep(0.5)
        else:
            raise RuntimeError("mlflow server did not start")
        search = {
            "experiment_ids": [meta["experiment"]],
            "max_results": 100,
            "order_by": ["attributes.start_time DESC"],
            "run_view_type": "ACTIVE_ONLY",
        }
        history = (
            f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={meta['run']}"
            "&metric_key=loss&max_results=320"
        )
        calls = [
            ("runs table (runs/search, 100 runs)", "/ajax-api/2.0/mlflow/runs/search", search),
            ("run page: runs/get", f"/ajax-api/2.0/mlflow/runs/get?run_id={meta['run']}", None),
            ("run page: sampled history of the long metric", history, None),
            ("the application's HTML (cached afterwards)", "/", None),
        ]
        rows = []
        for label, path, body in calls:
            cold = fetch(port, path, body)
            warm = [fetch(port, path, body) for _ in range(repeat)]
            rows.append(
                (
                    label,
                    cold[0],
                    statistics.median(w[0] for w in warm),
                    statistics.median(w[1] for w in warm),
                    warm[-1][2],
                )
            )
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir")
    parser.add_argument(
        "--mlflow-python",
        default=sys.executable,
        help="an interpreter that can import mlflow (for the MLflow UI numbers)",
    )
    args = parser.parse_args()
    from bench_query_file import make_runs, write_file_store
    from bench_query_sql import fill

    work = args.workdir or tempfile.mkdtemp(prefix="ek-bench-dash-")
    big = str(args.runs + 1)
    results = []
    files = os.path.join(work, "files")
    if not os.path.exists(files):
        write_file_store(files, make_runs(args.runs))
        add_long_run_file(files, big, args.points)
    results.append(("file store", measure(files, big, args.repeat, "val_acc")))
    db = os.path.join(work, "runs.db")
    url = f"sqlite:///{db}"
    if not os.path.exists(db):
        fill(url, args.runs)
        add_long_run_sql(url, big, args.points)
    results.append(("SQLite", measure(url, big, args.repeat, "val.accuracy")))
    rows = [
        (
            store,
            label,
            f"{cold * 1000:.0f}",
            f"{ttfb * 1000:.0f}",
            f"{total * 1000:.0f}",
            f"{size / 1024:.0f} KiB",
        )
        for store, measured in results
        for label, cold, ttfb, total, size in measured
    ]
    print(
        f"{args.runs} runs, one run with a {args.points}-point metric; median of "
        f"{args.repeat} requests after a cold one"
    )
    print(table(rows, ["store", "page", "cold TTFB ms", "TTFB ms", "total ms", "size"]))
    found = subprocess.run([args.mlflow_python, "-c", "import mlflow"], capture_output=True)
    if found.returncode:
        print("MLflow UI: not measured (mlflow is not installed for --mlflow-python)")
        return
    mlflow_rows = measure_mlflow(args.mlflow_python, work, args.runs, args.points, args.repeat)
    print("MLflow server (same runs, SQLite), the calls its UI makes:")
    print(
        table(
            [
                (
                    label,
                    f"{cold * 1000:.0f}",
                    f"{ttfb * 1000:.0f}",
                    f"{total * 1000:.0f}",
                    f"{size / 1024:.0f} KiB",
                )
                for label, cold, ttfb, total, size in mlflow_rows
            ],
            ["call", "cold TTFB ms", "TTFB ms", "total ms", "size"],
        )
    )


if __name__ == "__main__":
    main()
