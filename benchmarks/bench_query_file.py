"""Top 10 of N stored runs by a final metric with a config filter, from a fresh process: the file
store with its index (cold = the first query builds the index, warm = it exists) beside what a
Sacred user writes (Sacred has no query: a plain loop reading each run's config.json, and
metrics.json for the runs that pass the filter) and ``mlflow.search_runs`` on the same data in an
MLflow SQLite store.  All of them run interleaved, in the same loop, and must find the same ids.

    python benchmarks/bench_query_file.py [--runs 10000 [30000 ...]] [--scale] [--repeat 5]
                                          [--workdir DIR] [--sacred-layout]

The file store is written through ``FileStorageObserver`` (one started, log_metrics, heartbeat
and completed event per run), or with ``--sacred-layout`` directly in Sacred's layout (run.json,
config.json, metrics.json, info.json, cout.txt per run, faster to generate).  ``--scale`` (or
several ``--runs`` values) measures each size and prints the growth exponent over R; the cold
build of a store above 10,000 runs is measured once.  The MLflow store gets its schema and one
template run from ``MlflowClient``; the other runs are inserted with SQL into the same tables,
copying the template's column values (creating 10,000 runs through the client takes ~20 ms each).
Each timing is a new interpreter; "query" is measured inside it (open the store + run the query,
imports excluded), "process" is the whole process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from _common import table

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
START = 1_700_000_000  # seconds since the epoch of the first run

EK_QUERY = """
import json, sys, time
from experimentkit.query import open_store
t0 = time.perf_counter()
store = open_store(sys.argv[1])
runs = store.runs().where(*json.loads(sys.argv[2])).order_by("-metrics.val_acc").limit(10).all()
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "ids": [r.id for r in runs]}))
"""

SACRED_LOOP = """
import json, os, sys, time
t0 = time.perf_counter()
base, case = sys.argv[1], sys.argv[2]
keep = {
    "adam": lambda c: c.get("optimizer") == "adam",
    "adam_lr": lambda c: c.get("optimizer") == "adam" and c.get("lr", 1) < 0.05,
}[case]
found = []
for name in os.listdir(base):
    if not name.isdigit():
        continue
    try:
        with open(os.path.join(base, name, "config.json")) as f:
            config = json.load(f)
        if not keep(config):
            continue
        with open(os.path.join(base, name, "metrics.json")) as f:
            values = json.load(f)["val_acc"]["values"]
    except (OSError, KeyError, ValueError):
        continue
    if values:
        found.append((-values[-1], int(name)))
found.sort()
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "ids": [str(i) for _, i in found[:10]]}))
"""

MLFLOW_QUERY = """
import json, sys, time
import mlflow
t0 = time.perf_counter()
mlflow.set_tracking_uri(sys.argv[1])
frame = mlflow.search_runs(experiment_ids=[sys.argv[2]], filter_string=sys.argv[3],
                           order_by=["metrics.val_acc DESC"], max_results=10)
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "ids": list(frame["params.seed"])}))
"""


def make_runs(count: int) -> list:
    """The same synthetic sweep for both stores."""
    rnd = random.Random(0)
    runs = []
    for i in range(1, count + 1):
        lr = rnd.choice([0.001, 0.003, 0.01, 0.03, 0.1, 0.3])
        config = {
            "lr": lr,
            "batch": rnd.choice([32, 64, 128]),
            "optimizer": rnd.choice(["adam", "sgd", "rmsprop"]),
            "seed": i,
            "model": {"depth": rnd.randint(2, 8), "width": rnd.choice([64, 128, 256])},
        }
        acc = [round(rnd.uniform(0.1, 0.99) * (k + 1) / 5, 6) for k in range(5)]
        loss = [round(1 - a + rnd.uniform(0, 0.1), 6) for a in acc]
        runs.append({"id": str(i), "config": config, "val_acc": acc, "loss": loss, "start": START + i * 60})
    return runs


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".000000"


def write_file_store(base: str, runs: list) -> None:
    os.makedirs(base)
    for run in runs:
        folder = os.path.join(base, run["id"])
        os.mkdir(folder)
        stamps = [_iso(run["start"] + k) for k in range(5)]
        entry = {
            "experiment": {
                "name": "sweep",
                "base_dir": "/src",
                "mainfile": "train.py",
                "dependencies": ["numpy==1.26.0"],
                "repositories": [],
                "sources": [["train.py", "_sources/train_0123.py"]],
            },
            "command": "main",
            "host": {
                "hostname": "node1",
                "os": ["Linux", "Linux-6"],
                "python_version": "3.11.0",
                "cpu": "x86",
            },
            "start_time": _iso(run["start"]),
            "stop_time": _iso(run["start"] + 5),
            "heartbeat": _iso(run["start"] + 5),
            "status": "COMPLETED",
            "meta": {
                "command": "main",
                "options": {},
                "named_configs": [],
                "config_updates": {"lr": run["config"]["lr"]},
            },
            "resources": [],
            "artifacts": [],
            "result": run["val_acc"][-1],
        }
        metrics = {
            name: {"steps": list(range(5)), "values": run[name], "timestamps": stamps}
            for name in ("val_acc", "loss")
        }
        for name, data in (
            ("run.json", entry),
            ("config.json", run["config"]),
            ("metrics.json", metrics),
            ("info.json", {}),
        ):
            with open(os.path.join(folder, name), "w") as f:
                json.dump(data, f, sort_keys=True, indent=2)
        with open(os.path.join(folder, "cout.txt"), "w") as f:
            f.write("training\n")


def write_through_observer(base: str, runs: list) -> None:
    """The same runs written by ``FileStorageObserver`` (the project's own write path: one
    started, log_metrics, heartbeat and completed event per run)."""
    import datetime as dt

    from experimentkit.backends.file.observer import FileStorageObserver

    os.makedirs(base)
    ex_info = {
        "name": "sweep",
        "base_dir": "/src",
        "mainfile": "train.py",
        "dependencies": ["numpy==1.26.0"],
        "repositories": [],
        "sources": [],
    }
    host = {"hostname": "node1", "os": ["Linux", "Linux-6"], "python_version": "3.11.0", "cpu": "x86"}
    for run in runs:
        start = dt.datetime.fromtimestamp(run["start"], dt.timezone.utc).replace(tzinfo=None)
        stamps = [start + dt.timedelta(seconds=k) for k in range(5)]
        obs = FileStorageObserver(base)
        meta = {
            "command": "main",
            "options": {},
            "named_configs": [],
            "config_updates": {"lr": run["config"]["lr"]},
        }
        obs.started_event(
            ex_info=ex_info,
            command="main",
            host_info=host,
            start_time=start,
            config=run["config"],
            meta_info=meta,
            _id=None,
        )
        obs.log_metrics(
            {
                name: {"steps": list(range(5)), "values": run[name], "timestamps": stamps}
                for name in ("val_acc", "loss")
            },
            {},
        )
        obs.heartbeat_event(info={}, captured_out="training\n", beat_time=stamps[-1], result=None)
        obs.completed_event(stop_time=stamps[-1], result=run["val_acc"][-1])


def write_mlflow_store(db_path: str, artifacts: str, runs: list) -> tuple:
    """An MLflow SQLite store holding ``runs``; returns (tracking uri, experiment id)."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{db_path}"
    client = MlflowClient(uri)
    exp = client.create_experiment("sweep", artifact_location=artifacts)
    template = client.create_run(exp).info.run_id
    client.log_batch(template, metrics=[Metric("val_acc", 0.0, 0, 0)], params=[Param("lr", "0")])
    client.set_terminated(template)
    db = sqlite3.connect(db_path)
    columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    base = dict(zip(columns, db.execute("SELECT * FROM runs WHERE run_uuid = ?", (template,)).fetchone()))
    for table_name in ("runs", "params", "metrics", "latest_metrics", "tags"):
        db.execute(f"DELETE FROM {table_name} WHERE run_uuid = ?", (template,))
    run_rows, params, points, latest = [], [], [], []
    for run in runs:
        run_id = uuid.uuid4().hex
        millis = run["start"] * 1000
        row = dict(
            base,
            run_uuid=run_id,
            name=f"run-{run['id']}",
            start_time=millis,
            end_time=millis + 5000,
            artifact_uri=f"{artifacts}/{run_id}/artifacts",
        )
        run_rows.append(tuple(row[c] for c in columns))
        flat = {
            "lr": run["config"]["lr"],
            "batch": run["config"]["batch"],
            "optimizer": run["config"]["optimizer"],
            "seed": run["config"]["seed"],
            "model.depth": run["config"]["model"]["depth"],
            "model.width": run["config"]["model"]["width"],
        }
        params += [(key, str(value), run_id) for key, value in flat.items()]
        for name in ("val_acc", "loss"):
            for step, value in enumerate(run[name]):
                points.append((name, value, millis + step * 1000, run_id, step, 0))
            latest.append((name, run[name][-1], millis + 4000, 4, 0, run_id))
    db.executemany(
        f"INSERT INTO runs ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})", run_rows
    )
    db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
    db.executemany(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)", points
    )
    db.executemany(
        "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) VALUES (?,?,?,?,?,?)",
        latest,
    )
    db.commit()
    db.close()
    return uri, exp


def run_timed(cmd: list) -> tuple:
    """(seconds inside the process, whole-process seconds, result ids)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], wall, out["ids"]


def growth(sizes: list, seconds: list) -> str:
    """The exponent b of time ~ R**b between the smallest and the largest R measured."""
    if len(sizes) < 2 or min(seconds) <= 0:
        return "-"
    return f"{math.log(seconds[-1] / seconds[0]) / math.log(sizes[-1] / sizes[0]):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000], help="one or more store sizes R")
    parser.add_argument(
        "--scale", action="store_true", help="R = 10,000, 30,000 and 100,000, with the growth exponent"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", help="keep the generated stores here (default: a temp dir)")
    parser.add_argument(
        "--sacred-layout",
        action="store_true",
        help="write the run files directly in Sacred's layout (faster), not through FileStorageObserver",
    )
    args = parser.parse_args()
    sizes = [10_000, 30_000, 100_000] if args.scale else sorted(args.runs)
    work = args.workdir or tempfile.mkdtemp(prefix="bench_query_file_")
    os.makedirs(work, exist_ok=True)
    series: dict = {}
    for n in sizes:
        series_n = measure_size(work, n, args, with_mlflow=n == sizes[0])
        for name, seconds in series_n.items():
            series.setdefault(name, []).append(seconds)
    if len(sizes) > 1:
        print(f"\ngrowth exponent of the query time over R = {sizes} (time ~ R**b):\n")
        print(table([[name, growth(sizes, secs)] for name, secs in series.items()], ["case", "b"]))
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


def measure_size(work: str, n_runs: int, args: argparse.Namespace, with_mlflow: bool) -> dict:
    """Fill (or reuse) a store of ``n_runs`` runs, print its table; returns median seconds per case."""
    base = os.path.join(work, f"runs{n_runs}")
    runs = make_runs(n_runs)
    t0 = time.perf_counter()
    if not os.path.isdir(base):
        (write_file_store if args.sacred_layout else write_through_observer)(base, runs)
    t1 = time.perf_counter()
    have_mlflow = (
        with_mlflow
        and subprocess.run([sys.executable, "-c", "import mlflow"], capture_output=True).returncode == 0
    )
    mlflow_uri = exp = None
    if have_mlflow:
        db_path = os.path.join(work, "mlflow.db")
        if os.path.exists(db_path):
            os.unlink(db_path)
        mlflow_uri, exp = write_mlflow_store(db_path, os.path.join(work, "mlartifacts"), runs)
    t2 = time.perf_counter()
    writer = "Sacred's layout written directly" if args.sacred_layout else "FileStorageObserver"
    print(
        f"generated {n_runs} runs: file store {t1 - t0:.1f} s ({writer}), "
        f"MLflow sqlite {t2 - t1:.1f} s (bulk insert)\n"
    )

    index = os.path.join(base, ".experimentkit-index.sqlite")
    ek_script = [sys.executable, "-c", EK_QUERY, base]
    cases = [
        ("config.optimizer == adam", ["config.optimizer == adam"], "params.optimizer = 'adam'", "adam"),
        (
            "config.lr < 0.05 and config.optimizer == adam",
            ["config.lr < 0.05", "config.optimizer == adam"],
            None,
            "adam_lr",
        ),
    ]
    rows = []
    medians: dict = {}
    for label, where, mlflow_filter, loop_case in cases:
        cold, cold_wall, warm, warm_wall, ml, ml_wall, sac, sac_wall = [], [], [], [], [], [], [], []
        expected = None
        for attempt in range(args.repeat):
            if attempt == 0 or n_runs <= 10_000:  # a cold build of a large store is measured once
                if os.path.exists(index):
                    os.unlink(index)
                seconds, wall, ids = run_timed(ek_script + [json.dumps(where)])
                cold.append(seconds)
                cold_wall.append(wall)
                # the index file was just made in the base directory: the next query lists it
                # once more (a real warm query finds the base unchanged), so that one is untimed
                run_timed(ek_script + [json.dumps(where)])
            seconds, wall, ids = run_timed(ek_script + [json.dumps(where)])
            warm.append(seconds)
            warm_wall.append(wall)
            expected = ids
            seconds, wall, loop_ids = run_timed([sys.executable, "-c", SACRED_LOOP, base, loop_case])
            if loop_ids != expected:
                raise RuntimeError(f"the Sacred-style loop found {loop_ids}, experimentkit {expected}")
            sac.append(seconds)
            sac_wall.append(wall)
            if have_mlflow and mlflow_filter:
                seconds, wall, seeds = run_timed(
                    [sys.executable, "-c", MLFLOW_QUERY, mlflow_uri, exp, mlflow_filter]
                )
                if [str(s) for s in seeds] != expected:
                    raise RuntimeError(f"MLflow found {seeds}, experimentkit {expected}")
                ml.append(seconds)
                ml_wall.append(wall)
        warm_ms = statistics.median(warm) * 1000
        medians[f"{label}, cold"] = statistics.median(cold)
        medians[f"{label}, warm"] = statistics.median(warm)
        medians[f"{label}, Sacred-style loop"] = statistics.median(sac)
        rows.append(
            [
                f"`{label}`",
                "experimentkit file store, cold (builds the index)",
                f"{statistics.median(cold) * 1000:.0f} ms",
                f"{statistics.median(cold_wall) * 1000:.0f} ms",
                f"{statistics.median(cold) * 1000 / warm_ms:.1f}×",
            ]
        )
        rows.append(
            [
                "",
                "experimentkit file store, warm (index exists)",
                f"{warm_ms:.0f} ms",
                f"{statistics.median(warm_wall) * 1000:.0f} ms",
                "1.0×",
            ]
        )
        rows.append(
            [
                "",
                "Sacred: plain loop over config.json / metrics.json",
                f"{statistics.median(sac) * 1000:.0f} ms",
                f"{statistics.median(sac_wall) * 1000:.0f} ms",
                f"{statistics.median(sac) * 1000 / warm_ms:.1f}×",
            ]
        )
        if ml:
            rows.append(
                [
                    "",
                    "`mlflow.search_runs` (SQLite store)",
                    f"{statistics.median(ml) * 1000:.0f} ms",
                    f"{statistics.median(ml_wall) * 1000:.0f} ms",
                    f"{statistics.median(ml) * 1000 / warm_ms:.1f}×",
                ]
            )
        elif mlflow_filter is None and with_mlflow:
            rows.append(["", "`mlflow.search_runs`", "n/a (params are strings: no `<`)", "", ""])
    print(
        f"## top 10 of {n_runs} runs by the last `val_acc`, with a config filter "
        f"(median of {args.repeat}, fresh process each)\n"
    )
    print(table(rows, ["filter", "backend", "query", "process", "ratio to warm file store"]))
    return medians


if __name__ == "__main__":
    main()
