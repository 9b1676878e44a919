"""The server's CPU a metric row costs on MariaDB/MySQL, by the form the rows are sent in.

    python benchmarks/bench_mariadb_load.py --mysql mysql+pymysql://root@127.0.0.1:3306/test
        [--points 1000000] [--repeat 3] [--variants five set binary insert rc noindex]

The server must run on this machine: its CPU time is read from ``/proc/<pid>/stat`` (the pid from
``@@pid_file``) around each load, so it also counts whatever other clients made it do meanwhile
(interleaved repeats and medians keep that noise apart).  Each variant appends ``--points`` rows of
one metric in chunks of ``bulk.CHUNK``, one transaction each, into a fresh database made by
``SqlObserver`` (its schema: ``metric``'s primary key and ``(run_id, name, metric_id)`` index):

* ``five``: ``LOAD DATA LOCAL INFILE`` of five tab-separated fields a row (run id, name, step,
  value, time), as the observer sends them.
* ``set``: three fields a row, the run id and name as ``SET`` literals of the statement (measured
  in session 7 without a gain, not adopted).
* ``binary``: ``set`` with the file read as ``CHARACTER SET binary`` (no character set checks).
* ``insert``: multi-row ``INSERT`` texts (the path without ``local_infile``).
* ``rc``: ``five`` in ``READ COMMITTED`` transactions (the server's default is ``REPEATABLE READ``).
* ``noindex``: ``five`` without ``metric``'s secondary index (attribution only: readers need it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import statistics
import tempfile
import time

from _common import answer_child, open_bench_run, run_script_child, table

VARIANTS = ("five", "set", "binary", "insert", "rc", "noindex")
_FIELDS = "FIELDS TERMINATED BY X'09' ESCAPED BY X'5C' LINES TERMINATED BY X'0A'"


def _server_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def _text(prefix: str, steps: list, values: list, times: list) -> str:
    """COPY's tab-separated rows (no NULLs here), as ``bulk`` writes them."""
    return (
        (prefix + "%d\t%r\t%s\n")
        * len(steps)
        % tuple(itertools.chain.from_iterable(zip(steps, values, times)))
    )


def child(url: str, variant: str, points: int) -> dict:
    import pymysql
    import sqlalchemy as sa

    from experimentkit.backends.sql import bulk
    from experimentkit.observers import SqlObserver

    obs = SqlObserver(url)
    run_id = open_bench_run(obs)
    obs.engine.dispose()
    u = sa.make_url(url)
    conn = pymysql.connect(
        host=u.host, port=u.port or 3306, user=u.username, password=u.password or "",
        database=u.database, local_infile=True, charset="utf8mb4",
    )  # fmt: skip
    cur = conn.cursor()
    if variant == "rc":
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    if variant == "noindex":
        cur.execute("DROP INDEX ix_metric_run_id_name_metric_id ON metric")
    cur.execute("SELECT @@pid_file")
    with open(cur.fetchone()[0], encoding="ascii") as f:
        pid = int(f.readline())
    base = time.time()
    name = "loss"
    lit = conn.escape
    work = wall = server = 0.0
    for lo in range(0, points, bulk.CHUNK):
        steps = list(range(lo, min(lo + bulk.CHUNK, points)))
        values = [s * 0.5 for s in steps]
        stamps = [dt.datetime.utcfromtimestamp(base + s * 1e-5) for s in steps]
        texts = bulk.time_columns(stamps)[0]
        start_cpu, start, start_server = time.process_time(), time.perf_counter(), _server_cpu(pid)
        if variant == "insert":
            statements = bulk._mysql_inserts(cur, run_id, name, steps, values, texts)
        else:
            five = variant not in ("set", "binary")
            prefix = f"{run_id}\t{name}\t" if five else ""
            with tempfile.NamedTemporaryFile("wb", suffix=".tsv", delete=False) as data:
                data.write(_text(prefix, steps, values, texts).encode())
            charset = "binary" if variant == "binary" else "utf8mb4"
            columns = (
                "(run_id, name, step, value, `timestamp`)"
                if five
                else f"(step, value, `timestamp`) SET run_id = {lit(run_id)}, name = {lit(name)}"
            )
            statements = [
                f"LOAD DATA LOCAL INFILE {lit(data.name)} INTO TABLE metric CHARACTER SET {charset}"
                f" {_FIELDS} {columns}"
            ]
        for statement in statements:
            cur.execute(statement)
        conn.commit()
        work += time.process_time() - start_cpu
        wall += time.perf_counter() - start
        server += _server_cpu(pid) - start_server
        if variant != "insert":
            os.remove(data.name)
    cur.execute("SELECT count(*) FROM metric WHERE run_id = %s AND name = %s", (run_id, name))
    stored = cur.fetchone()[0]
    conn.close()
    return {
        "server_us": server / points * 1e6,
        "client_us": work / points * 1e6,
        "rows_per_s": points / wall,
        "stored": stored,
    }


def _fresh(base: str, tag: str) -> tuple:
    import sqlalchemy as sa

    name = f"bench_load_{tag}_{os.getpid()}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    engine.dispose()
    return sa.make_url(base).set(database=name).render_as_string(hide_password=False), name


def _drop(base: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mysql", default=os.environ.get("EXPERIMENTKIT_TEST_MYSQL"), required=False)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if answer_child(args.child, child):
        return
    if not args.mysql:
        parser.error("--mysql URL (or EXPERIMENTKIT_TEST_MYSQL) is needed")
    base = args.mysql if "+" in args.mysql.split("://")[0] else args.mysql.replace("://", "+pymysql://", 1)
    print(f"load average at start: {os.getloadavg()}")
    samples: dict = {}
    for rep in range(args.repeat):
        for variant in args.variants:
            url, name = _fresh(base, f"{variant}{rep}")
            try:
                spec = {"url": url, "variant": variant, "points": args.points}
                samples.setdefault(variant, []).append(run_script_child(__file__, spec))
            finally:
                _drop(base, name)
    rows = []
    for variant, results in samples.items():
        med = {k: statistics.median(r[k] for r in results) for k in ("server_us", "client_us", "rows_per_s")}
        rows.append(
            [
                variant,
                f"{med['server_us']:.2f}",
                f"{med['client_us']:.2f}",
                f"{med['rows_per_s']:,.0f}",
                ", ".join(str(r["stored"]) for r in results),
            ]
        )
    print(f"{args.points:,} rows, medians of {args.repeat}:")
    print(table(rows, ["variant", "server CPU µs/row", "client CPU µs/row", "rows/s", "stored"]))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
