"""``experimentkit sweep``, ``sweeps`` and ``sweep-show``: start sweeps and read their records.

Light at import time (argparse only); handlers import what they need.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Optional

__all__ = ["add_commands"]


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = command("sweep", "run a script's sweep: python SCRIPT ARGS... --multirun")
    p.add_argument("script", help="the experiment script (it calls ex.run_commandline/automain)")
    p.add_argument(
        "args", nargs=argparse.REMAINDER, help="its arguments: with lr=0.1,0.01 -F runs --jobs 4 ..."
    )
    p.add_argument("--python", default=sys.executable, help="the interpreter to use")
    p.set_defaults(handler=cmd_sweep)
    p = command("sweeps", "list the sweeps of the store")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(handler=cmd_sweeps)
    p = command("sweep-show", "a sweep's swept values against metrics, best run marked")
    p.add_argument("sweep", metavar="ID")
    p.add_argument(
        "--metrics", metavar="NAME,...", help="metrics to show (default: every metric the runs logged)"
    )
    p.add_argument(
        "--objective",
        metavar="METRIC",
        help="sort by this metric (default: the sweep's objective, else the first)",
    )
    p.add_argument("--min", action="store_true", help="lower is better")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(handler=cmd_sweep_show)


def cmd_sweep(args: argparse.Namespace, target: str) -> int:
    import subprocess

    words = list(args.args)
    if not any(
        w in ("-M", "--multirun", "--optuna", "--resume")
        or w.startswith(("--sweep-file", "--optuna=", "--resume="))
        for w in words
    ):
        words.append("--multirun")
    return subprocess.call([args.python, args.script, *words])


def _open_book(target: str) -> Any:
    from ..sweep.records import open_book

    try:
        return open_book(target)
    except ImportError as exc:
        from ..errors import UsageError

        raise UsageError(
            f"reading sweeps of {target} needs {exc.name}: pip install 'experimentkit[all]'"
        ) from None


def cmd_sweeps(args: argparse.Namespace, target: str) -> int:
    from .commands import _emit

    book = _open_book(target)
    try:
        records = book.records()
    finally:
        book.close()
    headers = ["id", "status", "experiment", "launcher", "jobs", "runs", "counts", "start_time", "stop_time"]
    rows = [
        [
            r.get("id"),
            r.get("status"),
            r.get("experiment"),
            r.get("launcher"),
            r.get("jobs"),
            r.get("total"),
            _counts_text(r.get("counts") or {}),
            r.get("start_time"),
            r.get("stop_time"),
        ]
        for r in records
    ]
    if not records and args.format == "table":
        print(f"no sweeps in {book}")
        return 0
    data = [{k: v for k, v in r.items() if k != "tasks"} for r in records]
    _emit(args.format, headers, rows, data)
    return 0


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def sweep_rows(store: Any, record: dict, metrics: list, objective: Optional[str], minimize: bool) -> tuple:
    """``(headers, rows, best_run_id, counts)`` for a sweep: one row per task, sorted by the
    objective (missing last), the latest run of each task."""
    from collections import Counter

    sweep_id = record["id"]
    runs = store.runs().where(**{"meta.sweep.id": sweep_id}).all()
    latest: dict = {}
    for run in runs:  # id order: a resumed task's later run wins
        latest[(run.meta.get("sweep") or {}).get("index")] = run
    counts = Counter(r.status for r in latest.values())
    tasks = record.get("tasks") or []
    value_keys: list = []
    for task in tasks:
        for key in task.get("values") or {}:
            if key not in value_keys:
                value_keys.append(key)
    if not metrics:
        metrics = sorted({name for run in latest.values() for name in run.metrics})
    if objective and objective not in metrics:
        metrics = [objective] + metrics
    rows = []
    for task in tasks:
        run = latest.get(task["index"])
        values = task.get("values") or {}
        metric_values = [(run.metrics.get(m) or {}).get("last") if run else None for m in metrics]
        rows.append(
            [
                task["index"],
                run.id if run else None,
                run.status if run else "NOT RUN",
                *[values.get(k) for k in value_keys],
                *metric_values,
            ]
        )
    best = None
    if objective:
        position = 3 + len(value_keys) + metrics.index(objective)

        def key(row: list) -> tuple:
            value = row[position]
            ok = isinstance(value, (int, float)) and row[2] == "COMPLETED"
            return (0, value if minimize else -value) if ok else (1, 0)

        rows.sort(key=key)
        if rows and key(rows[0])[0] == 0:
            best = rows[0][1]
    headers = ["", "index", "run", "status", *value_keys, *metrics]
    marked = [["*" if best is not None and row[1] == best else "", *row] for row in rows]
    return headers, marked, best, dict(counts)


def cmd_sweep_show(args: argparse.Namespace, target: str) -> int:
    from ..query import open_store
    from .commands import _emit

    book = _open_book(target)
    try:
        record = book.get(args.sweep)
    finally:
        book.close()
    metrics = [m.strip() for m in (args.metrics or "").split(",") if m.strip()]
    metrics = [m[len("metrics.") :] if m.startswith("metrics.") else m for m in metrics]
    objective = args.objective or record.get("objective") or (metrics[0] if metrics else None)
    if objective and objective.startswith("metrics."):
        objective = objective[len("metrics.") :]
    minimize = args.min or record.get("direction") == "minimize"
    with open_store(target) as store:
        if objective is None:
            names = sorted(
                {n for r in store.runs().where(**{"meta.sweep.id": record["id"]}).all() for n in r.metrics}
            )
            objective = names[0] if names else None
        if objective is not None:
            _check_metric(store, record["id"], objective)
            if not args.min and not record.get("direction"):
                # the metric's own direction (recorded, else its name: a loss is lower-is-better)
                minimize = store.metric_goal(objective)[0] == "min"
        headers, rows, best, counts = sweep_rows(store, record, metrics, objective, minimize)
    if args.format != "table":
        data = [dict(zip(["best", *headers[1:]], row)) for row in rows]
        _emit(args.format, ["best", *headers[1:]], rows, data)
        return 0
    direction = "lower" if minimize else "higher"
    print(
        f"Sweep {record['id']} {record.get('status')} - {record.get('experiment')}, "
        f"{record.get('total')} runs, launcher {record.get('launcher')}: "
        f"{_counts_text(counts) or 'no runs recorded'}"
    )
    if objective:
        print(f"sorted by {objective} ({direction} is better); * = best run {best}")
    _emit("table", headers, rows, None)
    return 0


def _check_metric(store: Any, sweep_id: Any, metric: str) -> None:
    from ..errors import UsageError, suggest

    names = sorted({n for r in store.runs().where(**{"meta.sweep.id": sweep_id}).all() for n in r.metrics})
    if names and metric not in names:
        raise UsageError(
            f"no run of sweep {sweep_id} logged the metric '{metric}'"
            f"{suggest(metric, names)}; they logged: {', '.join(names)}"
        )
