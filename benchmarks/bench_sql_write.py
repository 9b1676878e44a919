"""Metric writes through ``SqlObserver`` (SQLite, PostgreSQL, MariaDB) beside MLflow's ``log_batch``.

    python benchmarks/bench_sql_write.py [--points 1000000] [--repeat 3] [--postgres URL]
        [--mysql URL] [--quick] [--only sqlite postgresql mysql]

Two measurements per backend, each in a fresh subprocess, interleaved within each repeat:

* **observer**: ``SqlObserver.log_metrics`` called directly with ``--batch`` points per call (the
  size of one beat's chunk) until ``--points`` are stored; rows/s = points / total time, and the
  writing process's CPU time a row (the server's work is not in it; it includes making the
  points' ``datetime`` objects, ~0.3 µs a row).  For a server on this machine also the server's
  CPU time a row (``/proc/<pid>/stat`` of MariaDB's process or PostgreSQL's postmaster, whose
  exited backends count as its children), read around the whole child: it includes whatever
  other clients made the server do meanwhile.
* **run**: an ``Experiment`` with a ``SqlObserver`` whose main function logs ``--points`` scalars in
  a plain loop; reported: the loop, last ``log_scalar`` → ``run()`` returned, the rows stored and
  the run's status when ``run()`` returned (must be all points and COMPLETED).

MLflow (optional): ``MlflowClient.log_batch`` with 1,000 metrics per call (its documented maximum)
on an SQLite / PostgreSQL tracking store, on ``--mlflow-points`` points; rows/s.  Sacred's
``SqlObserver`` stores no metrics, so it has no equivalent here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from _common import have, open_bench_run, run_script_child, table


def _fresh_url(kind: str, workdir: str, servers: dict, tag: str) -> str:
    """A new empty database: a file, or one made on the server (dropped by ``_drop_databases``)."""
    if kind == "sqlite":
        return "sqlite:///" + os.path.join(workdir, f"{tag}.db")
    import sqlalchemy as sa

    base = sa.make_url(servers[kind])
    if "+" not in base.drivername:
        base = base.set(drivername=base.drivername + _DRIVERS[kind])
    name = f"bench_{tag}_{os.getpid()}"
    quoted, charset = (f"`{name}`", " CHARACTER SET utf8mb4") if kind == "mysql" else (f'"{name}"', "")
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
        conn.exec_driver_sql(f"CREATE DATABASE {quoted}{charset}")
    engine.dispose()
    _MADE.append((base, quoted))
    return base.set(database=name).render_as_string(hide_password=False)


_DRIVERS = {"postgresql": "+psycopg2", "mysql": "+pymysql"}
_MADE: list = []  # (server URL, quoted database name) of the databases made


def _drop_databases() -> None:
    import sqlalchemy as sa

    for base, quoted in _MADE:
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
        engine.dispose()


def _server_pid(kind: str, url: str) -> Any:
    """The local server's process id (MariaDB's one process; PostgreSQL's postmaster, whose
    exited backends' CPU the kernel adds to its children's time), or None (SQLite, not local)."""
    if kind == "sqlite":
        return None
    import sqlalchemy as sa

    query = "SELECT @@pid_file" if kind == "mysql" else "SHOW data_directory"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            where = conn.exec_driver_sql(query).scalar()
        path = where if kind == "mysql" else os.path.join(where, "postmaster.pid")
        with open(path, encoding="ascii") as f:
            return int(f.readline())
    except (OSError, ValueError, sa.exc.DBAPIError):
        return None
    finally:
        engine.dispose()


def _server_cpu(pid: Any) -> Any:
    """Seconds of CPU the server process and its exited children have used (None: unknown)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command: state is field 3, utime..cstime are fields 14-17 (1-based)
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _stored(url: str, run_id: Any) -> tuple:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        where = {"r": str(run_id)}
        count = conn.execute(sa.text("SELECT count(*) FROM metric WHERE run_id = :r"), where).scalar()
        status = conn.execute(sa.text("SELECT status FROM run WHERE run_id = :r"), where).scalar()
    engine.dispose()
    return int(count), status


def child_observer(url: str, points: int, batch: int) -> dict:
    import datetime as dt

    from experimentkit.observers import SqlObserver

    obs = SqlObserver(url)
    run_id = open_bench_run(obs)
    base = time.time()
    start, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < points:
        n = min(batch, points - done)
        steps = list(range(done, done + n))
        obs.log_metrics(
            {
                "loss": {
                    "name": "loss",
                    "steps": steps,
                    "values": [s * 0.5 for s in steps],
                    "timestamps": [dt.datetime.utcfromtimestamp(base + s * 1e-5) for s in steps],
                }
            },
            {},
        )
        done += n
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    obs.completed_event(stop_time=dt.datetime.utcnow(), result=None)
    obs.join()
    count, status = _stored(url, run_id)
    return {
        "seconds": elapsed,
        "rows_per_s": points / elapsed,
        "cpu_us": cpu / points * 1e6,
        "stored": count,
        "status": status,
    }


def child_run(url: str, points: int) -> dict:
    from experimentkit import Experiment
    from experimentkit.observers import SqlObserver

    ex = Experiment("bench_sql_write")
    ex.observers.append(SqlObserver(url))
    marks: dict = {}

    @ex.main
    def main(_run: Any) -> None:
        marks["start"] = time.perf_counter()
        for i in range(points):
            _run.log_scalar("loss", i * 0.5)
        marks["last_log"] = time.perf_counter()

    run = ex.run(options={"--loglevel": "WARNING"})
    returned = time.perf_counter()
    count, status = _stored(url, run._id)
    return {
        "loop": marks["last_log"] - marks["start"],
        "to_return": returned - marks["last_log"],
        "total": returned - marks["start"],
        "stored": count,
        "status": status,
    }


def child_mlflow(url: str, points: int) -> dict:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(url)
    client = MlflowClient()
    exp = client.create_experiment("bench")
    run = client.create_run(exp)
    now = int(time.time() * 1000)
    start = time.perf_counter()
    for lo in range(0, points, 1000):
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", i * 0.5, now + i, i) for i in range(lo, min(lo + 1000, points))],
        )
    elapsed = time.perf_counter() - start
    stored = len(client.get_metric_history(run.info.run_id, "loss"))
    client.set_terminated(run.info.run_id)
    return {
        "seconds": elapsed,
        "rows_per_s": points / elapsed,
        "stored": stored,
        "status": client.get_run(run.info.run_id).info.status,
    }


def child_main(spec: dict, out: str) -> None:
    kind = spec.pop("kind")
    result = {"observer": child_observer, "run": child_run, "mlflow": child_mlflow}[kind](**spec)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000, help="points per log_metrics call")
    parser.add_argument("--mlflow-points", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200,000 points, one repeat")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("EXPERIMENTKIT_TEST_POSTGRES"),
        help="server URL (a fresh database is created per measurement)",
    )
    parser.add_argument(
        "--mysql", default=os.environ.get("EXPERIMENTKIT_TEST_MYSQL"), help="MariaDB/MySQL URL"
    )
    parser.add_argument("--no-mlflow", action="store_true", help="leave MLflow out")
    parser.add_argument(
        "--only", nargs="+", choices=["sqlite", "postgresql", "mysql"], help="measure only these backends"
    )
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child[0]), args.child[1])
        return
    if args.quick:
        args.points, args.repeat = 200_000, 1
    servers = {"postgresql": args.postgres, "mysql": args.mysql}
    kinds = ["sqlite"] + [kind for kind, url in servers.items() if url]
    if args.only:
        kinds = [kind for kind in kinds if kind in args.only]
    with_mlflow = have("mlflow") and not args.no_mlflow
    workdir = tempfile.mkdtemp(prefix="bench_sql_write_")
    samples: dict = {}
    print(f"load average at start: {os.getloadavg()}")
    try:
        for rep in range(args.repeat):
            for kind in kinds:
                jobs = [
                    ("observer", {"points": args.points, "batch": args.batch}),
                    ("run", {"points": args.points}),
                ]
                if with_mlflow:
                    jobs.append(("mlflow", {"points": args.mlflow_points}))
                for job, spec in jobs:
                    url = _fresh_url(kind, workdir, servers, f"{job}{rep}")
                    pid = _server_pid(kind, url)
                    before = _server_cpu(pid)
                    result = run_script_child(__file__, dict(spec, kind=job, url=url))
                    after = _server_cpu(pid)
                    if before is not None and after is not None and job == "observer":
                        result["server_cpu_us"] = (after - before) / args.points * 1e6
                    samples.setdefault((kind, job), []).append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        _drop_databases()
    rows = []
    for (kind, job), results in samples.items():

        def med(key: str, results: list = results) -> float:
            return statistics.median(r[key] for r in results)

        stored = ", ".join(f"{r['stored']}/{r['status']}" for r in results)
        if job == "run":
            rows.append(
                [
                    kind,
                    "Experiment + SqlObserver, loop of log_scalar",
                    f"{args.points:,}",
                    f"{args.points / med('total'):,.0f}",
                    f"loop {med('loop'):.2f} s, last log → run() returns {med('to_return'):.2f} s",
                    stored,
                ]
            )
        else:
            label = (
                "SqlObserver.log_metrics"
                if job == "observer"
                else "MLflow MlflowClient.log_batch (1,000 per call)"
            )
            n = args.points if job == "observer" else args.mlflow_points
            seconds = f"{med('seconds'):.2f} s"
            if job == "observer":  # the writer's own CPU a row: what the load of the machine leaves alone
                seconds += f", client CPU {med('cpu_us'):.1f} µs/row"
                if all("server_cpu_us" in r for r in results):  # every client's work on the server
                    seconds += f", server CPU {med('server_cpu_us'):.1f} µs/row"
            rows.append([kind, label, f"{n:,}", f"{med('rows_per_s'):,.0f}", seconds, stored])
    print(table(rows, ["backend", "what", "points", "rows/s (median)", "time", "stored/status"]))
    obs = {
        k: statistics.median(r["rows_per_s"] for r in v) for (k, j), v in samples.items() if j == "observer"
    }
    ml = {k: statistics.median(r["rows_per_s"] for r in v) for (k, j), v in samples.items() if j == "mlflow"}
    for kind in kinds:
        if kind in ml:
            print(f"{kind}: experimentkit writes {obs[kind] / ml[kind]:.1f}x MLflow's rows/s")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
