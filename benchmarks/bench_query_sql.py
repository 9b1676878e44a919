"""Top 10 of N stored runs by a final metric with a config filter, from a fresh process.

    python benchmarks/bench_query_sql.py [--runs 10000] [--mlflow-runs 1000] [--repeat 5]

The query is ``open_store(url).runs().where("config.lr < 0.05")
.order_by("-metrics.val.accuracy").limit(10).all()``.  The store is filled quickly by bulk inserts
through the SQL schema (each run: a config of 10 keys, 3 metrics of 20 points).  Each measurement
runs in a new interpreter (``python -c``, with compiled modules cached as for an installed package,
after one warm-up run) and reports the query time inside the
process (open_store + query, imports excluded) and the process's whole wall time minus that of a
bare ``python -c pass``.  On SQLite it is measured twice: through ``open_store`` (the stdlib
``sqlite3`` path of ``FastSqliteStore``, which must answer without importing SQLAlchemy) and
through ``SqlStore`` (SQLAlchemy), the path of the server databases.  PostgreSQL is measured
when EXPERIMENTKIT_TEST_POSTGRES is set (a database ``ek_bench_<random>`` is created and
dropped).  MLflow's ``search_runs`` (filter
``params.lr < 0.05`` is not possible on string params, so it filters on a metric of the same
value) runs on an MLflow SQLite store filled through its client; that is slow, so it holds
``--mlflow-runs`` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from _common import have, table

_QUERY = """
import time, json, sys
start = time.perf_counter()
OPEN
imported = time.perf_counter()
store = open_store(sys.argv[1])
runs = store.runs().where("config.lr < 0.05").order_by("-metrics.val.accuracy").limit(10).all()
done = time.perf_counter()
assert len(runs) == 10, len(runs)
CHECK
print(json.dumps({"import": imported - start, "query": done - imported,
                  "best": runs[0].metrics["val.accuracy"]["last"]}))
"""
_OPEN_STORE = "from experimentkit.query import open_store"
QUERY = _QUERY.replace("OPEN", _OPEN_STORE).replace("CHECK", "")
# SQLite through open_store: the stdlib path must answer alone, without importing SQLAlchemy.
QUERY_STDLIB = _QUERY.replace("OPEN", _OPEN_STORE).replace(
    "CHECK", 'assert store.stats == {"fast": 1, "full": 0} and "sqlalchemy" not in sys.modules'
)
# The same query through SqlStore (SQLAlchemy), the path of the server databases.
QUERY_SQLALCHEMY = _QUERY.replace(
    "OPEN", "from experimentkit.backends.sql.store import SqlStore as open_store"
).replace("CHECK", "")

MLFLOW_QUERY = """
import time, json, sys
start = time.perf_counter()
import mlflow
imported = time.perf_counter()
mlflow.set_tracking_uri(sys.argv[1])
found = mlflow.search_runs(experiment_names=["bench"], filter_string="metrics.lr < 0.05",
                           order_by=["metrics.`val.accuracy` DESC"], max_results=10)
done = time.perf_counter()
assert len(found) == 10, len(found)
print(json.dumps({"import": imported - start, "query": done - imported}))
"""


def fill(url: str, n_runs: int, seed: int = 0) -> None:
    """Bulk-insert ``n_runs`` COMPLETED runs through the schema (not through observers: fast)."""

    from experimentkit.backends.sql import migrations
    from experimentkit.backends.sql import schema as s
    from experimentkit.backends.sql.observer import _create_engine

    rng = random.Random(seed)
    engine = _create_engine(url, False)
    migrations.upgrade(engine)
    t0 = dt.datetime(2024, 1, 1)
    with engine.begin() as conn:
        exp_id = conn.execute(
            s.experiment.insert().values(name="bench", md5sum="0" * 32, base_dir="/src", mainfile="train.py")
        ).inserted_primary_key[0]
        host_id = conn.execute(
            s.host.insert().values(
                hostname="node1",
                cpu="x86",
                os="Linux",
                os_info="Linux-6",
                python_version="3.11",
                md5sum="1" * 32,
            )
        ).inserted_primary_key[0]
        runs, metrics = [], []
        for i in range(1, n_runs + 1):
            start = t0 + dt.timedelta(minutes=i)
            config = {
                "lr": round(10 ** rng.uniform(-4, 0), 6),
                "batch": rng.choice([16, 32, 64]),
                "epochs": 20,
                "seed": i,
                "dropout": rng.random() / 2,
                "l2": 1e-4,
                "optimizer": {"name": rng.choice(["adam", "sgd"]), "momentum": 0.9},
                "layers": [128, 64],
                "augment": rng.random() < 0.5,
                "dataset": "cifar10",
            }
            runs.append(
                {
                    "run_id": str(i),
                    "uid": uuid.uuid4().hex,
                    "command": "main",
                    "start_time": start,
                    "heartbeat": start + dt.timedelta(minutes=5),
                    "stop_time": start + dt.timedelta(minutes=5),
                    "status": "COMPLETED",
                    "config": json.dumps(config),
                    "info": "{}",
                    "captured_out": "",
                    "meta": json.dumps({"command": "main", "uid": str(i)}),
                    "host_info": json.dumps({"hostname": "node1"}),
                    "experiment_id": exp_id,
                    "host_id": host_id,
                }
            )
            acc = rng.random()
            for name in ("val.accuracy", "train.loss", "val.loss"):
                for step in range(20):
                    value = acc * (step + 1) / 20 if name == "val.accuracy" else rng.random()
                    metrics.append(
                        {
                            "run_id": str(i),
                            "name": name,
                            "step": step,
                            "value": value,
                            "timestamp": start + dt.timedelta(seconds=step),
                        }
                    )
        conn.execute(s.run.insert(), runs)
        for chunk in range(0, len(metrics), 50_000):
            conn.execute(s.metric.insert(), metrics[chunk : chunk + 50_000])
    engine.dispose()


def fill_mlflow(uri: str, n_runs: int, seed: int = 0) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    rng = random.Random(seed)
    client = MlflowClient(uri)
    exp = client.create_experiment("bench")
    now = int(time.time() * 1000)
    for i in range(n_runs):
        run = client.create_run(exp)
        lr = round(10 ** rng.uniform(-4, 0), 6)
        acc = rng.random()
        params = [
            Param(k, str(v))
            for k, v in {
                "lr": lr,
                "batch": 32,
                "epochs": 20,
                "seed": i,
                "dropout": 0.1,
                "l2": 1e-4,
                "opt": "adam",
                "layers": "128,64",
                "augment": True,
                "dataset": "cifar10",
            }.items()
        ]
        points = [Metric("lr", lr, now, 0)]
        for name in ("val.accuracy", "train.loss", "val.loss"):
            points += [
                Metric(name, acc * (s + 1) / 20 if name == "val.accuracy" else rng.random(), now + s, s)
                for s in range(20)
            ]
        client.log_batch(run.info.run_id, metrics=points, params=params)
        client.set_terminated(run.info.run_id)


def child_env(tmp: str) -> dict:
    """The environment of the measured interpreters: compiled modules cached (in ``tmp``, not the
    source tree), as for an installed package, even when PYTHONDONTWRITEBYTECODE is set here."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    return env


def child(code: str, target: str, env: dict) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, target], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def bare(env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    return time.perf_counter() - start


def measure(name: str, code: str, target: str, repeat: int, env: dict) -> dict:
    child(code, target, env)  # warm-up: compiles and caches the modules
    samples = []
    for _ in range(repeat):
        base = bare(env)
        result = child(code, target, env)
        result["net"] = result["wall"] - base
        samples.append(result)
    med = {k: statistics.median(s[k] for s in samples) for k in ("import", "query", "net")}
    print(f"{name}: {json.dumps({k: round(v * 1000, 1) for k, v in med.items()})} ms", file=sys.stderr)
    return med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--mlflow-runs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results, tmp = {}, tempfile.mkdtemp(prefix="ek-bench-query-")
    env = child_env(tmp)

    url = f"sqlite:///{os.path.join(tmp, 'runs.db')}"
    t = time.perf_counter()
    fill(url, args.runs)
    print(f"filled SQLite with {args.runs} runs in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    results[f"experimentkit, SQLite (stdlib path), {args.runs} runs"] = measure(
        "sqlite", QUERY_STDLIB, url, args.repeat, env
    )
    results[f"experimentkit, SQLite via SQLAlchemy, {args.runs} runs"] = measure(
        "sqlite-sqlalchemy", QUERY_SQLALCHEMY, url, args.repeat, env
    )

    pg = os.environ.get("EXPERIMENTKIT_TEST_POSTGRES")
    if pg:
        import sqlalchemy as sa

        name = f"ek_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(
            sa.make_url(pg).set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        try:
            pg_url = sa.make_url(pg).set(database=name).render_as_string(hide_password=False)
            t = time.perf_counter()
            fill(pg_url, args.runs)
            print(f"filled PostgreSQL in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            results[f"experimentkit, PostgreSQL, {args.runs} runs"] = measure(
                "postgres", QUERY, pg_url, args.repeat, env
            )
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()

    if args.mlflow_runs and have("mlflow"):
        uri = f"sqlite:///{os.path.join(tmp, 'mlflow.db')}"
        t = time.perf_counter()
        fill_mlflow(uri, args.mlflow_runs)
        print(
            f"filled MLflow with {args.mlflow_runs} runs in {time.perf_counter() - t:.1f} s", file=sys.stderr
        )
        results[f"mlflow.search_runs, SQLite, {args.mlflow_runs} runs"] = measure(
            "mlflow", MLFLOW_QUERY, uri, args.repeat, env
        )

    first = next(iter(results.values()))
    rows = [
        [
            name,
            f"{r['query'] * 1000:.1f}",
            f"{r['import'] * 1000:.0f}",
            f"{r['net'] * 1000:.0f}",
            f"{r['net'] / first['net']:.1f}x",
        ]
        for name, r in results.items()
    ]
    print(
        table(
            rows,
            [
                "store",
                "query in process (ms)",
                "import (ms)",
                "whole process − bare python (ms)",
                "whole process vs first",
            ],
        )
    )


if __name__ == "__main__":
    main()
