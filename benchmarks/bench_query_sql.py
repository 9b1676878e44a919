"""Top 10 of N stored runs by a final metric with a config filter, from a fresh process.

    python benchmarks/bench_query_sql.py [--runs 10000 [30000 ...]] [--scale] [--mlflow-runs N]
        [--repeat 5] [--skip postgres mysql]

``--scale`` measures R = 10,000, 30,000 and 100,000 and prints the growth exponent of the query
time over R (several ``--runs`` values do the same for chosen sizes).

The query is ``open_store(url).runs().where("config.lr < 0.05")
.order_by("-metrics.val.accuracy").limit(10).all()``.  The store is filled quickly by bulk inserts
through the SQL schema (each run: a config of 10 keys, 3 metrics of 20 points).  Each measurement
runs in a new interpreter (``python -c``, with compiled modules cached as for an installed package,
after one warm-up run) and reports the query time inside the
process (open_store + query, imports excluded) and the process's whole wall time minus that of a
bare ``python -c pass``.  On SQLite it is measured twice: through ``open_store`` (the stdlib
``sqlite3`` path of ``FastSqliteStore``, which must answer without importing SQLAlchemy) and
through ``SqlStore`` (SQLAlchemy).  PostgreSQL is measured when EXPERIMENTKIT_TEST_POSTGRES is
set and MariaDB when EXPERIMENTKIT_TEST_MYSQL is (a database ``ek_bench_<random>`` is created and
dropped), also twice: through ``open_store`` (``FastPostgresStore``/``FastMysqlStore``: the query
compiler's dialect over psycopg2/PyMySQL, which must answer without importing SQLAlchemy) and
through ``SqlStore``.  MLflow's ``search_runs`` (filter
``params.lr < 0.05`` is not possible on string params, so it filters on a metric of the same
value) runs on an MLflow SQLite store filled through its client; that is slow, so it holds
``--mlflow-runs`` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
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
# Through open_store (SQLite: the stdlib path; PostgreSQL: psycopg2): the fast path must answer
# alone, without importing SQLAlchemy.
QUERY_STDLIB = _QUERY.replace("OPEN", _OPEN_STORE).replace(
    "CHECK", 'assert store.stats == {"fast": 1, "full": 0} and "sqlalchemy" not in sys.modules'
)
# The same query through SqlStore (SQLAlchemy).
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
    """Bulk-insert ``n_runs`` COMPLETED runs through the schema (not through observers: fast), a
    chunk of runs per transaction, then derive the key catalogue and the metric summaries with
    the project's own code (``catalogue.fill_from_stored``, what the upgrade to schema version 5
    runs; the observer maintains the same rows as it writes)."""

    from experimentkit.backends.sql import migrations
    from experimentkit.backends.sql import schema as s
    from experimentkit.backends.sql.catalogue import fill_from_stored
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
    for lo in range(1, n_runs + 1, _FILL_CHUNK):
        runs, metrics = [], []
        for i in range(lo, min(lo + _FILL_CHUNK, n_runs + 1)):
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
        with engine.begin() as conn:
            conn.execute(s.run.insert(), runs)
            conn.execute(s.metric.insert(), metrics)
    with engine.begin() as conn:
        fill_from_stored(conn)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa_text("ANALYZE"))
    engine.dispose()


def sa_text(sql: str):
    import sqlalchemy as sa

    return sa.text(sql)


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


_FILL_CHUNK = 2_000  # runs per transaction while filling (bounds the memory of a large fill)


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


def growth(sizes: list, seconds: list) -> str:
    """The exponent b of time ~ R**b between the smallest and the largest R measured."""
    if len(sizes) < 2 or min(seconds) <= 0:
        return "-"
    return f"{math.log(seconds[-1] / seconds[0]) / math.log(sizes[-1] / sizes[0]):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000], help="one or more store sizes R")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="R = 10,000, 30,000 and 100,000 (minutes to fill), with the exponent",
    )
    parser.add_argument("--mlflow-runs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["postgres", "mysql"], help="servers to skip even when set"
    )
    args = parser.parse_args()
    sizes = [10_000, 30_000, 100_000] if args.scale else sorted(args.runs)
    results, tmp = {}, tempfile.mkdtemp(prefix="ek-bench-query-")
    env = dict(os.environ)  # compiled modules cached: see _common._bytecode_as_installed
    series: dict = {}  # backend -> query seconds per size

    servers = {
        kind: os.environ.get(f"EXPERIMENTKIT_TEST_{kind.upper()}")
        for kind in ("postgres", "mysql")
        if kind not in args.skip
    }
    for n in sizes:
        url = f"sqlite:///{os.path.join(tmp, f'runs{n}.db')}"
        t = time.perf_counter()
        fill(url, n)
        print(f"filled SQLite with {n} runs in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for label, code in (
            ("SQLite (stdlib path)", QUERY_STDLIB),
            ("SQLite via SQLAlchemy", QUERY_SQLALCHEMY),
        ):
            r = measure(f"{label} {n}", code, url, args.repeat, env)
            results[f"experimentkit, {label}, {n} runs"] = r
            series.setdefault(label, []).append(r["query"])
        for kind, base in servers.items():
            if not base:
                continue
            for label, r in measure_server(kind, base, n, args.repeat, env).items():
                results[f"experimentkit, {label}, {n} runs"] = r
                series.setdefault(label, []).append(r["query"])

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
    if len(sizes) > 1:
        print(f"\ngrowth exponent of the query time over R = {sizes} (time ~ R**b):")
        print(table([[name, growth(sizes, secs)] for name, secs in series.items()], ["store", "b"]))
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def measure_server(kind: str, base: str, n: int, repeat: int, env: dict) -> dict:
    """Fill a fresh database ``ek_bench_<random>`` on the ``kind`` server (``postgres`` or
    ``mysql``) with ``n`` runs, measure both paths, drop it."""
    import sqlalchemy as sa

    name = f"ek_bench_{uuid.uuid4().hex[:10]}"
    label = {"postgres": "PostgreSQL", "mysql": "MariaDB"}[kind]
    driver = {"postgres": "postgresql+psycopg2", "mysql": "mysql+pymysql"}[kind]
    admin = sa.create_engine(sa.make_url(base).set(drivername=driver), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if kind == "mysql" else ""))
        )
    try:
        url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
        t = time.perf_counter()
        fill(url, n)
        print(f"filled {label} with {n} runs in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        return {
            f"{label} ({path})": measure(f"{label} ({path}) {n}", code, url, repeat, env)
            for path, code in ((DRIVER_PATHS[kind], QUERY_STDLIB), ("via SQLAlchemy", QUERY_SQLALCHEMY))
        }
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if kind == "postgres" else ""
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


DRIVER_PATHS = {"postgres": "psycopg2 path", "mysql": "PyMySQL path"}


if __name__ == "__main__":
    main()
