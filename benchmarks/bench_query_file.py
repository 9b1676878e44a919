"""Top 10 of N stored runs by a final metric with a config filter, from a fresh process: the file
store with its index (cold = the first query builds the index, warm = it exists) beside
``mlflow.search_runs`` on the same data in an MLflow SQLite store.

    python benchmarks/bench_query_file.py [--runs 10000] [--repeat 5] [--workdir DIR]

The file store is written directly in Sacred's layout (run.json, config.json, metrics.json,
info.json, cout.txt per run), as ``-F`` would leave it.  The MLflow store gets its schema and one
template run from ``MlflowClient``; the other runs are inserted with SQL into the same tables,
copying the template's column values (creating 10,000 runs through the client takes ~20 ms each).
Each timing is a new interpreter; "query" is measured inside it (open the store + run the query,
imports excluded), "process" is the whole process.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", help="keep the generated stores here (default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="bench_query_file_")
    os.makedirs(work, exist_ok=True)
    base = os.path.join(work, "runs")
    runs = make_runs(args.runs)
    t0 = time.perf_counter()
    if not os.path.isdir(base):
        write_file_store(base, runs)
    t1 = time.perf_counter()
    have_mlflow = subprocess.run([sys.executable, "-c", "import mlflow"], capture_output=True).returncode == 0
    mlflow_uri = exp = None
    if have_mlflow:
        db_path = os.path.join(work, "mlflow.db")
        if os.path.exists(db_path):
            os.unlink(db_path)
        mlflow_uri, exp = write_mlflow_store(db_path, os.path.join(work, "mlartifacts"), runs)
    t2 = time.perf_counter()
    print(
        f"generated {args.runs} runs: file store {t1 - t0:.1f} s, "
        f"MLflow sqlite {t2 - t1:.1f} s (bulk insert)\n"
    )

    index = os.path.join(base, ".experimentkit-index.sqlite")
    ek_script = [sys.executable, "-c", EK_QUERY, base]
    cases = [
        ("config.optimizer == adam", ["config.optimizer == adam"], "params.optimizer = 'adam'"),
        (
            "config.lr < 0.05 and config.optimizer == adam",
            ["config.lr < 0.05", "config.optimizer == adam"],
            None,
        ),
    ]
    rows = []
    for label, where, mlflow_filter in cases:
        cold, cold_wall, warm, warm_wall, ml, ml_wall = [], [], [], [], [], []
        expected = None
        for _ in range(args.repeat):
            if os.path.exists(index):
                os.unlink(index)
            seconds, wall, ids = run_timed(ek_script + [json.dumps(where)])
            cold.append(seconds)
            cold_wall.append(wall)
            seconds, wall, ids = run_timed(ek_script + [json.dumps(where)])
            warm.append(seconds)
            warm_wall.append(wall)
            expected = ids
            if have_mlflow and mlflow_filter:
                seconds, wall, seeds = run_timed(
                    [sys.executable, "-c", MLFLOW_QUERY, mlflow_uri, exp, mlflow_filter]
                )
                if [str(s) for s in seeds] != expected:
                    raise RuntimeError(f"MLflow found {seeds}, experimentkit {expected}")
                ml.append(seconds)
                ml_wall.append(wall)
        warm_ms = statistics.median(warm) * 1000
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
        elif mlflow_filter is None:
            rows.append(["", "`mlflow.search_runs`", "n/a (params are strings: no `<`)", "", ""])
    print(
        f"## top 10 of {args.runs} runs by the last `val_acc`, with a config filter "
        f"(median of {args.repeat}, fresh process each)\n"
    )
    print(table(rows, ["filter", "backend", "query", "process", "ratio to warm file store"]))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
