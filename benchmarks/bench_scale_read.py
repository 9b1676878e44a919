"""Reading one run's 10^6-point metric back, and the bytes it takes on disk, beside Sacred.

    python benchmarks/bench_scale_read.py [--repeat 3] [--sizes 100000,1000000] [--values losses|halves]
                                          [--postgres URL] [--mysql URL]

Populates (through each framework's own observer, one run logging ``--points`` scalars: with
``--values losses``, the default, a noisy decaying loss whose values print with 16-17 digits as
a training loop's floats do; with ``--values halves``, ``i * 0.5``, short decimals that every
parser reads fastest): an
experimentkit file store, an experimentkit SQLite database, a Sacred file store, and, with
``--postgres`` / ``--mysql`` (default: the EXPERIMENTKIT_TEST_POSTGRES / EXPERIMENTKIT_TEST_MYSQL
URLs; ``--no-servers`` skips them), a database ``ek_bench_read_<random>`` on each server (dropped
afterwards).  Then, in fresh processes, interleaved, medians over ``--repeat``:

* experimentkit: ``open_store(target).get(id).metric("loss").to_numpy()`` (file store; SQLite;
  PostgreSQL; MariaDB/MySQL);
* Sacred's equivalent: ``json.load`` of the run's ``metrics.json`` (Sacred has no read API);

each timed inside the child from before its first import, and as the whole process.  Also printed:
bytes on disk per point (experimentkit's metric files once the run ended: ``metrics.json``, plus
``metrics.jsonl`` if it were still there, vs Sacred's ``metrics.json``), and the growth exponent of
the read time over ``--sizes``.  The stored point
counts are checked against the logged counts, and the runs must be COMPLETED (a store where they are
not is reported in the last table and left out of the timings).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

from _common import have, table

BARE = [sys.executable, "-c", "pass"]


def values_of(kind: str, points: int) -> list:
    """The logged values: ``losses`` (full-precision floats, seeded) or ``halves`` (``i * 0.5``)."""
    if kind == "halves":
        return [i * 0.5 for i in range(points)]
    rng = random.Random(13)
    return [math.exp(-5 * i / points) + 0.01 * rng.random() for i in range(points)]


def populate(framework: str, target: str, points: int, kind: str) -> Any:
    """One run logging ``points`` scalars; returns its id."""
    if framework == "sacred":
        from sacred import Experiment
        from sacred.observers import FileStorageObserver

        observer = FileStorageObserver(target)
    else:
        from experimentkit import Experiment
        from experimentkit.observers import FileStorageObserver, SqlObserver

        observer = SqlObserver(target) if "://" in target else FileStorageObserver(target)
    ex = Experiment("bench_scale_read")
    ex.observers.append(observer)

    values = values_of(kind, points)

    @ex.main
    def main(_run: Any) -> None:
        for value in values:
            _run.log_scalar("loss", value)

    run = ex.run(options={"--loglevel": "ERROR"})
    return run._id


READERS = {
    "ek": (
        "import time; t0 = time.perf_counter()\n"
        "from experimentkit.query import open_store\n"
        "s, v, t = open_store({target!r}).get({run_id!r}).metric('loss').to_numpy()\n"
        "assert len(v) == {points} and len(t) == {points}, len(v)\n"
        "print(time.perf_counter() - t0)"
    ),
    "sacred": (
        "import time; t0 = time.perf_counter()\n"
        "import json\n"
        "with open({target!r}) as f: m = json.load(f)\n"
        "assert len(m['loss']['values']) == {points}\n"
        "print(time.perf_counter() - t0)"
    ),
}


def read_once(kind: str, **fields: Any) -> tuple:
    code = READERS[kind].format(**fields)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.strip()), wall


def _stored_ok(target: str, run_id: Any, points: int) -> str:
    code = (
        "from experimentkit.query import open_store\n"
        f"r = open_store({target!r}).get({run_id!r})\n"
        "print(r.status, len(r.metric('loss')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    return f"{out[1]}/{points} {out[0]}" if out else "unreadable"


@contextlib.contextmanager
def server_database(base: str) -> Iterator[str]:
    """A new empty database on the server of ``base`` (a SQLAlchemy URL), dropped afterwards."""
    import sqlalchemy as sa

    url = sa.make_url(base)
    drivers = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql", "mariadb": "mysql+pymysql"}
    url = url.set(drivername=drivers.get(url.drivername, url.drivername))
    name = f"ek_bench_read_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if url.drivername.startswith("postgresql") else ""
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def measure(points: int, repeat: int, workdir: str, with_sacred: bool, servers: dict, kind: str) -> dict:
    ek_file = os.path.join(workdir, f"ek_{points}")
    ek_sqlite = "sqlite:///" + os.path.join(workdir, f"ek_{points}.db")
    sacred_dir = os.path.join(workdir, f"sacred_{points}")
    pop = [sys.executable, os.path.abspath(__file__), "--populate"]
    ids = {}
    ek_targets = {"file store": ek_file, "SQLite": ek_sqlite, **servers}
    for framework, target in [("ek", t) for t in ek_targets.values()] + (
        [("sacred", sacred_dir)] if with_sacred else []
    ):
        done = subprocess.run(
            pop + [framework, target, str(points), kind], capture_output=True, text=True, check=True
        )
        ids[target] = done.stdout.strip().splitlines()[-1]
    stored = {name: _stored_ok(target, ids[target], points) for name, target in ek_targets.items()}
    # a run whose points are not all stored when run() returned is reported, not timed
    readers = {
        f"experimentkit, {name}": ("ek", target, ids[target])
        for name, target in ek_targets.items()
        if stored[name] == f"{points}/{points} COMPLETED"
    }
    if with_sacred:
        readers["Sacred, json.load(metrics.json)"] = (
            "sacred",
            os.path.join(sacred_dir, ids[sacred_dir], "metrics.json"),
            None,
        )
    samples: dict = {name: [] for name in readers}
    for _ in range(repeat):
        for name, (reader, target, run_id) in readers.items():
            samples[name].append(read_once(reader, target=target, run_id=run_id, points=points))
    result = {"points": points, "read": {}, "bytes": {}, "stored": {}}
    for name, values in samples.items():
        result["read"][name] = (
            statistics.median(v[0] for v in values),
            statistics.median(v[1] for v in values),
        )
    run_dir = os.path.join(ek_file, ids[ek_file])
    result["bytes"]["experimentkit, file store"] = sum(
        os.path.getsize(os.path.join(run_dir, f))
        for f in ("metrics.jsonl", "metrics.json")
        if os.path.exists(os.path.join(run_dir, f))
    )
    if with_sacred:
        result["bytes"]["Sacred"] = os.path.getsize(os.path.join(sacred_dir, ids[sacred_dir], "metrics.json"))
    result["stored"] = stored
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="points per run, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("EXPERIMENTKIT_TEST_POSTGRES"))
    parser.add_argument("--mysql", default=os.environ.get("EXPERIMENTKIT_TEST_MYSQL"))
    parser.add_argument("--no-servers", action="store_true", help="only the file store and SQLite")
    parser.add_argument("--values", choices=("losses", "halves"), default="losses", help="what is logged")
    parser.add_argument("--populate", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        framework, target, points, kind = args.populate
        print(populate(framework, target, int(points), kind))
        return
    with_sacred = have("sacred")
    workdir = tempfile.mkdtemp(prefix="bench_scale_read_")
    print(f"load average at start: {os.getloadavg()}; values logged: {args.values}")
    bare_times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(BARE, check=True)
        bare_times.append(time.perf_counter() - start)
    bare = statistics.median(bare_times)
    results = []
    bases = {} if args.no_servers else {"PostgreSQL": args.postgres, "MariaDB/MySQL": args.mysql}
    try:
        with contextlib.ExitStack() as stack:
            servers = {name: stack.enter_context(server_database(url)) for name, url in bases.items() if url}
            for points in [int(s) for s in args.sizes.split(",")]:
                results.append(measure(points, args.repeat, workdir, with_sacred, servers, args.values))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for res in results:
        base = res["read"].get("Sacred, json.load(metrics.json)")
        for name, (inside, wall) in res["read"].items():
            ratio = f"{inside / base[0]:.2f}x" if base else "-"
            rows.append([f"{res['points']:,}", name, f"{inside:.3f} s", f"{wall - bare:.3f} s", ratio])
    print(f"bare interpreter: {bare * 1000:.0f} ms")
    print(
        table(
            rows,
            [
                "points",
                "reader",
                "read (from first import)",
                "whole process - bare python",
                "ratio to Sacred's json.load",
            ],
        )
    )
    if len(results) > 1:
        lo, hi = results[0], results[-1]
        growth = []
        for name in hi["read"]:
            k = math.log(hi["read"][name][0] / lo["read"][name][0]) / math.log(hi["points"] / lo["points"])
            growth.append([name, f"{k:.2f}"])
        print(table(growth, ["reader", f"growth exponent {lo['points']:,} → {hi['points']:,}"]))
    rows = []
    for res in results:
        for name, size in res["bytes"].items():
            rows.append([f"{res['points']:,}", name, f"{size / res['points']:.1f}"])
        stored = "; ".join(f"{name} {ok}" for name, ok in res["stored"].items())
        rows.append([f"{res['points']:,}", "stored / logged, status", stored])
    print(table(rows, ["points", "store", "bytes per point"]))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
