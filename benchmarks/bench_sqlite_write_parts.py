"""Where a SQLite metric write's CPU goes: the steps of ``SqlObserver.log_metrics``, timed apart.

    python benchmarks/bench_sqlite_write_parts.py [--points 1000000] [--repeat 3]
        [--variants base cache wal ...]

Each variant runs in a fresh subprocess on a fresh database made by ``SqlObserver`` (its schema and
one run), then appends ``--points`` points in calls of ``--batch`` points and chunks of
``bulk.CHUNK`` rows with the stdlib ``sqlite3`` module, doing what ``bulk.insert_metric_rows`` and
``catalogue.update_summary`` do, one timer per step: the column checks (``metric_columns``), the
time texts and microseconds (``time_columns``), packing the block, the row inserts, the block
insert, the summary ``UPDATE`` and the commit (which runs the WAL checkpoints).  Reported: the
process's CPU time a row per step (user + system: what the load of the machine leaves alone), the
total, rows/s of the wall clock, and the stored row count.

Variants (a lever each, to measure before building it into the observer):

* ``base``: what the observer did before session 7 (WAL, ``synchronous=NORMAL``, SQLite's default cache and
  checkpoints), rows as 5-tuples to ``executemany``.
* ``noindex``: ``base`` without ``metric``'s ``(run_id, name, metric_id)`` index (attribution only).
* ``cache``: ``base`` with a 64 MB page cache.
* ``wal``: ``base`` with checkpoints every 10,000 pages instead of 1,000.
* ``page16k``: ``base`` on a database made with 16 KB pages.
* ``multirow``: rows as one multi-row ``INSERT`` of numbered parameters per ``--per-statement``
  rows (the run id and name bound once a statement, three values a row), as the observer does now.
* ``all``: ``cache`` + ``wal`` + ``multirow``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import shutil
import sqlite3
import statistics
import tempfile
import time

from _common import answer_child, open_bench_run, run_script_child, table

VARIANTS = ("base", "noindex", "cache", "wal", "page16k", "multirow", "all")
STEPS = ("columns", "times", "pack", "rows", "block", "summary", "commit")


def _database(path: str, page_size: int) -> str:
    """A store made by ``SqlObserver`` holding one run; its run id."""
    from experimentkit.observers import SqlObserver

    if page_size:
        with sqlite3.connect(path) as conn:  # before the first table: the size is fixed from then on
            conn.execute(f"PRAGMA page_size={page_size}")
            conn.execute("VACUUM")
    obs = SqlObserver("sqlite:///" + path)
    run_id = open_bench_run(obs)
    obs.log_metrics(
        {"loss": {"name": "loss", "steps": [0], "values": [0.0], "timestamps": [dt.datetime.utcnow()]}}, {}
    )
    obs.engine.dispose()
    return run_id


def child(path: str, variant: str, points: int, batch: int, per_statement: int) -> dict:
    from experimentkit.backends.sql.bulk import CHUNK, metric_columns, packed_block, time_columns

    run_id = _database(path, 16384 if variant == "page16k" else 0)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if variant in ("cache", "all"):
        conn.execute("PRAGMA cache_size=-65536")
    if variant in ("wal", "all"):
        conn.execute("PRAGMA wal_autocheckpoint=10000")
    if variant == "noindex":
        conn.execute("DROP INDEX ix_metric_run_id_name_metric_id")
    multirow = variant in ("multirow", "all")
    insert = "INSERT INTO metric (run_id, name, step, value, timestamp) VALUES (?, ?, ?, ?, ?)"
    many = "INSERT INTO metric (run_id, name, step, value, timestamp) VALUES " + ",".join(
        f"(?1, ?2, ?{3 + 3 * i}, ?{4 + 3 * i}, ?{5 + 3 * i})" for i in range(per_statement)
    )
    block_sql = (
        "INSERT INTO metric_block (run_id, name, point_count, steps, vals, times) VALUES (?,?,?,?,?,?)"
    )
    summary_sql = (
        "UPDATE metric_summary SET last_value = ?, point_count = point_count + ?,"
        " min_value = CASE WHEN min_value IS NULL OR min_value > ? THEN ? ELSE min_value END,"
        " max_value = CASE WHEN max_value IS NULL OR max_value < ? THEN ? ELSE max_value END"
        " WHERE run_id = ? AND name = ?"
    )
    base = time.time()
    cpu = dict.fromkeys(STEPS, 0.0)
    name = "loss"

    def timed(step: str, work, *args):
        start = time.process_time()
        result = work(*args)
        cpu[step] += time.process_time() - start
        return result

    wall = time.perf_counter()
    total_cpu = time.process_time()
    for done in range(0, points, batch):
        steps = list(range(done + 1, min(done + batch, points) + 1))
        values = [s * 0.5 for s in steps]
        stamps = [dt.datetime.utcfromtimestamp(base + s * 1e-5) for s in steps]
        steps, values, stamps = timed("columns", metric_columns, steps, values, stamps)
        conn.execute("BEGIN")
        for lo in range(0, len(steps), CHUNK):
            s, v, t = steps[lo : lo + CHUNK], values[lo : lo + CHUNK], stamps[lo : lo + CHUNK]
            texts, micros = timed("times", time_columns, t)
            block = timed("pack", packed_block, s, v, micros)
            if multirow:
                timed("rows", _multirow, conn, per_statement, many, insert, run_id, name, s, v, texts)
            else:
                rows = zip(itertools.repeat(run_id), itertools.repeat(name), s, v, texts)
                timed("rows", conn.executemany, insert, rows)
            timed("block", conn.execute, block_sql, (run_id, name, len(s), *block))
        lo_v, hi_v = timed("summary", _bounds, values)
        timed(
            "summary",
            conn.execute,
            summary_sql,
            (values[-1], len(values), lo_v, lo_v, hi_v, hi_v, run_id, name),
        )
        timed("commit", conn.execute, "COMMIT")
    wall = time.perf_counter() - wall
    total_cpu = time.process_time() - total_cpu
    stored = conn.execute("SELECT count(*) FROM metric WHERE run_id = ?", (run_id,)).fetchone()[0]
    conn.close()
    result = {step: cpu[step] / points * 1e6 for step in STEPS}
    result.update(total=total_cpu / points * 1e6, rows_per_s=points / wall, stored=stored - 1)
    return result


def _bounds(values: list) -> tuple:
    return min(values), max(values)


def _multirow(
    conn, per_statement: int, many: str, one: str, run_id: str, name: str, s: list, v: list, t: list
) -> None:
    """Full statements of ``per_statement`` rows, the rest one row each."""
    full = len(s) - len(s) % per_statement
    flat = list(itertools.chain.from_iterable(zip(s[:full], v[:full], t[:full])))
    per = 3 * per_statement
    conn.executemany(many, ([run_id, name, *flat[i : i + per]] for i in range(0, len(flat), per)))
    if full < len(s):
        conn.executemany(
            one, zip(itertools.repeat(run_id), itertools.repeat(name), s[full:], v[full:], t[full:])
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000, help="points per log_metrics call")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-statement", type=int, default=200, help="rows a multi-row INSERT")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if answer_child(args.child, child):
        return
    workdir = tempfile.mkdtemp(prefix="bench_sqlite_parts_")
    samples: dict = {}
    print(f"load average at start: {os.getloadavg()}")
    try:
        for rep in range(args.repeat):
            for variant in args.variants:  # interleaved: each repeat sees the same machine noise
                path = os.path.join(workdir, f"{variant}{rep}.db")
                spec = {
                    "path": path,
                    "variant": variant,
                    "points": args.points,
                    "batch": args.batch,
                    "per_statement": args.per_statement,
                }
                samples.setdefault(variant, []).append(run_script_child(__file__, spec))
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for variant, results in samples.items():
        med = {key: statistics.median(r[key] for r in results) for key in (*STEPS, "total", "rows_per_s")}
        rows.append(
            [variant]
            + [f"{med[step]:.2f}" for step in STEPS]
            + [
                f"{med['total']:.2f}",
                f"{med['rows_per_s']:,.0f}",
                ", ".join(str(r["stored"]) for r in results),
            ]
        )
    headers = ["variant", *STEPS, "CPU µs/row", "rows/s", "stored"]
    print(f"CPU µs a row per step (medians of {args.repeat}), {args.points:,} points, {args.batch:,} a call:")
    print(table(rows, headers))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
