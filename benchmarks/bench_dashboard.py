"""The dashboard at 10,000 runs: time to first byte and page size of the runs table (first page,
and sorted by a metric) and of a run page whose metric has 10^6 points, on the file store and
SQLite, through a real ``experimentkit serve`` process.

    python benchmarks/bench_dashboard.py [--runs 10000] [--points 1000000] [--repeat 5]

Targets (issue 17): table under 300 ms, run page under 500 ms and under 1 MB.  The stores are
filled the way ``bench_query_file.py`` / ``bench_query_sql.py`` fill theirs (directly, not through
observers), plus one run with the long metric.  The first request of each page is reported
separately as "cold" (the file store builds its index then); the others are the median of
``--repeat`` requests.  The MLflow UI is not measured here: it needs an ``mlflow server`` with
the same runs and is skipped when mlflow is not installed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _common import have, table

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PAGES = [("table", "/"), ("table sorted by a metric", "/?sort=-metrics.{metric}"),
         ("run page, 10^6-point metric", "/run/{big}")]


def add_long_run_file(base: str, run_id: str, points: int) -> None:
    folder = os.path.join(base, run_id)
    shutil.copytree(os.path.join(base, "1"), folder)
    start = dt.datetime(2024, 1, 1)
    stamps = [(start + dt.timedelta(milliseconds=i)).isoformat() for i in range(points)]
    values = [1.0 / (1 + i * 1e-4) + (i % 97) * 1e-4 for i in range(points)]
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump({"loss": {"steps": list(range(points)), "values": values,
                            "timestamps": stamps}}, f)


def add_long_run_sql(url: str, run_id: str, points: int) -> None:
    from experimentkit.backends.sql import schema as s
    from experimentkit.backends.sql.observer import _create_engine

    engine = _create_engine(url, False)
    start = dt.datetime(2024, 1, 1)
    with engine.begin() as conn:
        row = conn.execute(s.run.select().where(s.run.c.run_id == "1")).mappings().one()
        values = {k: v for k, v in row.items() if k != "id"}
        conn.execute(s.run.insert().values(**{**values, "run_id": run_id, "uid": "long" + run_id}))
        batch = []
        for i in range(points):
            batch.append({"run_id": run_id, "name": "loss", "step": i,
                          "value": 1.0 / (1 + i * 1e-4) + (i % 97) * 1e-4,
                          "timestamp": start + dt.timedelta(milliseconds=i)})
            if len(batch) == 100_000:
                conn.execute(s.metric.insert(), batch)
                batch = []
        if batch:
            conn.execute(s.metric.insert(), batch)
    engine.dispose()


def fetch(port: int, path: str) -> tuple:
    """(seconds to the first byte of the answer, seconds to the last, bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    first = time.perf_counter() - start
    body = response.read()
    total = time.perf_counter() - start
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
    return first, total, len(body)


def measure(target: str, big: str, repeat: int, metric: str) -> list:
    proc = subprocess.Popen([sys.executable, "-m", "experimentkit", "-S", target, "serve",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        port = int(re.search(r":(\d+)/", line).group(1))
        rows = []
        for label, path in PAGES:
            path = path.format(big=big, metric=metric)
            cold = fetch(port, path)
            warm = [fetch(port, path) for _ in range(repeat)]
            rows.append((label, cold[0], statistics.median(w[0] for w in warm),
                         statistics.median(w[1] for w in warm), warm[-1][2]))
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
    rows = [(store, label, f"{cold * 1000:.0f}", f"{ttfb * 1000:.0f}", f"{total * 1000:.0f}",
             f"{size / 1024:.0f} KiB") for store, measured in results
            for label, cold, ttfb, total, size in measured]
    print(f"{args.runs} runs, one run with a {args.points}-point metric; median of "
          f"{args.repeat} requests after a cold one")
    print(table(rows, ["store", "page", "cold TTFB ms", "TTFB ms", "total ms", "size"]))
    if not have("mlflow"):
        print("MLflow UI: not measured (mlflow is not installed here)")


if __name__ == "__main__":
    main()
