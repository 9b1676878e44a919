"""Cost of logging metrics (``log_scalar`` per call, final flush): experimentkit, Sacred, MLflow.

    python benchmarks/bench_metrics.py [--quick] [--repeat 3] [--points 1000000]

Every measurement runs in a fresh subprocess (this script re-invoked with ``--child``), so one
framework's imports and threads never slow another; the frameworks are interleaved within each repeat
so they share the machine's noise, and the tables show medians over the repeats.

experimentkit and Sacred run a real experiment with a FileStorageObserver and the default beat
interval (10 s); the main function calls ``_run.log_scalar("loss", value)`` ``--points`` times.
MLflow calls ``mlflow.log_metric`` inside ``mlflow.start_run()`` (file store, then SQLite) on far fewer
calls, because each call costs milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from typing import Any

from _common import have, run_script_child, table

METRIC = "loss"


# ---- children: one measurement each, results written as JSON to a file -------------------------------
def _count_points(path: str) -> Any:
    """Points in a Sacred-shaped metrics.json; a string when the file is missing or not valid JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            metrics = json.load(f)
    except FileNotFoundError:
        return "missing"
    except ValueError:
        return "invalid JSON"
    return sum(len(series["values"]) for series in metrics.values())


def _empty_loop(points: int) -> float:
    """Seconds of a bare ``for`` loop of the same length (the part of the cost no library can save)."""
    start = time.perf_counter()
    for _ in range(points):
        pass
    return time.perf_counter() - start


def child_experiment(framework: str, points: int, store: str) -> dict:
    """Run one experiment logging ``points`` scalars; time the loop and run()'s return after it."""
    if framework == "sacred":
        from sacred import Experiment
        from sacred.observers import FileStorageObserver
    else:
        from experimentkit import Experiment
        from experimentkit.observers import FileStorageObserver
    ex = Experiment("bench_metrics")
    observer = FileStorageObserver(store)
    ex.observers.append(observer)
    marks: dict = {}

    @ex.main
    def main(_run: Any) -> None:
        marks["start"] = time.perf_counter()
        for i in range(points):
            _run.log_scalar(METRIC, i * 0.5)
        marks["last_log"] = time.perf_counter()

    ex.run(options={"--loglevel": "WARNING"})
    returned = time.perf_counter()
    metrics_json = os.path.join(observer.dir, "metrics.json")
    count_at_return = _count_points(metrics_json)
    # Sacred's heartbeat thread is not a daemon and may still be writing: wait for it, as the
    # interpreter would at exit, to see when the points are really on disk.
    join_start = time.perf_counter()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    settled = returned + time.perf_counter() - join_start  # leave out the counting above
    return {
        "loop": marks["last_log"] - marks["start"],
        "flush": returned - marks["last_log"],
        "settled": settled - marks["last_log"],
        "empty_loop": _empty_loop(points),
        "count_at_return": count_at_return,
        "count_settled": _count_points(metrics_json),
    }


def child_mlflow(uri: str, calls: int, synchronous: bool) -> dict:
    """Time ``calls`` calls of ``mlflow.log_metric`` inside one run (plus the flush of async logging)."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow

    mlflow.set_tracking_uri(uri)
    with mlflow.start_run():
        start = time.perf_counter()
        for i in range(calls):
            mlflow.log_metric(METRIC, i * 0.5, step=i, synchronous=synchronous)
        last = time.perf_counter()
        if not synchronous:
            mlflow.flush_async_logging()
        flushed = time.perf_counter()
    return {"loop": last - start, "flush": flushed - last, "empty_loop": _empty_loop(calls)}


def run_child(spec: dict) -> dict:
    """Run one measurement in a fresh interpreter (this script with ``--child``)."""
    return run_script_child(__file__, spec)


def child_main(spec: dict, out: str) -> None:
    if spec["kind"] == "experiment":
        result = child_experiment(spec["framework"], spec["points"], spec["store"])
    else:
        result = child_mlflow(spec["uri"], spec["calls"], spec["synchronous"])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)


# ---- parent: orchestrate, aggregate, print ------------------------------------------------------------
def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.2f} µs"


def _median(samples: list, key: str) -> float:
    return statistics.median(s[key] for s in samples)


def machine_note() -> str:
    load = os.getloadavg()
    return (
        f"Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and one repeat (~30 s)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--points", type=int, default=1_000_000, help="log_scalar calls per run")
    parser.add_argument("--mlflow-file-calls", type=int, default=2000)
    parser.add_argument("--mlflow-sqlite-calls", type=int, default=200)
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child[0]), args.child[1])
        return
    if args.quick:
        args.repeat, args.points = 1, 200_000
        args.mlflow_file_calls, args.mlflow_sqlite_calls = 500, 50

    frameworks = ["experimentkit"] + (["sacred"] if have("sacred") else [])
    with_mlflow = have("mlflow")
    root = tempfile.mkdtemp(prefix="bench_metrics_")
    print(f"Machine: {machine_note()}; {args.repeat} repeat(s), medians.\n")
    samples: dict = {name: [] for name in frameworks}
    mlflow_specs = {}
    if with_mlflow:
        mlflow_specs = {
            "MLflow, file store": {
                "kind": "mlflow",
                "uri": "file:" + os.path.join(root, "mlruns"),
                "calls": args.mlflow_file_calls,
                "synchronous": True,
            },
            "MLflow, file store, synchronous=False": {
                "kind": "mlflow",
                "uri": "file:" + os.path.join(root, "mlruns"),
                "calls": args.mlflow_file_calls,
                "synchronous": False,
            },
            "MLflow, SQLite": {
                "kind": "mlflow",
                "uri": "sqlite:///" + os.path.join(root, "mlflow.db"),
                "calls": args.mlflow_sqlite_calls,
                "synchronous": True,
            },
        }
        samples.update({name: [] for name in mlflow_specs})
    try:
        for repeat in range(args.repeat):
            for name in frameworks:
                store = os.path.join(root, f"{name}-{repeat}")
                samples[name].append(
                    run_child(
                        {"kind": "experiment", "framework": name, "points": args.points, "store": store}
                    )
                )
                shutil.rmtree(store, ignore_errors=True)
            for name, spec in mlflow_specs.items():
                samples[name].append(run_child(spec))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    base = _median(samples["experimentkit"], "loop") / args.points
    rows = []
    for name, runs in samples.items():
        calls = args.points if name in frameworks else mlflow_specs[name]["calls"]
        per_call = _median(runs, "loop") / calls
        net = (_median(runs, "loop") - _median(runs, "empty_loop")) / calls
        label = f"{name} (`_run.log_scalar`)" if name in frameworks else f"{name} (`mlflow.log_metric`)"
        rows.append([label, f"{calls:,}", _fmt_time(per_call), _fmt_time(net), f"{per_call / base:.1f}×"])
    print("## `log_scalar` cost per call, in the user's loop\n")
    print(
        table(rows, ["framework", "calls", "per call", "per call minus empty loop", "ratio to experimentkit"])
    )
    print("\nTarget: experimentkit ≤ 1 µs per call.")

    rows = []
    base_total = _median(samples["experimentkit"], "loop") + _median(samples["experimentkit"], "settled")
    for name in frameworks:
        runs = samples[name]
        loop, flush, settled = _median(runs, "loop"), _median(runs, "flush"), _median(runs, "settled")
        at_return = ", ".join(str(r["count_at_return"]) for r in runs)
        settled_counts = ", ".join(str(r["count_settled"]) for r in runs)
        rows.append(
            [
                name,
                _fmt_time(loop),
                _fmt_time(flush),
                _fmt_time(settled),
                _fmt_time(loop + settled),
                f"{(loop + settled) / base_total:.1f}×",
                at_return,
                settled_counts,
            ]
        )
    print(
        f"\n## logging {args.points:,} points with a FileStorageObserver: loop, and last "
        "`log_scalar` → `ex.run()` returned\n"
    )
    print(
        table(
            rows,
            [
                "framework",
                "loop",
                "last log → run() returns",
                "last log → observer threads done",
                "total overhead (loop + until done)",
                "ratio to experimentkit",
                "points in metrics.json when run() returned (each repeat)",
                "… when observer threads were done",
            ],
        )
    )
    print(f"\nComplete = {args.points:,} points. 'missing' = no metrics.json yet.")
    print(f"\nMachine at the end: {machine_note()}")


if __name__ == "__main__":
    main()
