"""Heartbeat cost as the metric history grows, experimentkit's FileStorageObserver beside Sacred's.

    python benchmarks/bench_heartbeat.py [--quick] [--repeat 3] [--rate 20000] [--seconds 5]

Two measurements, each framework in its own fresh subprocess (this script re-invoked with ``--child``):

1. A live run logging at ``--rate`` points/s for ``--seconds`` with ``--beat-interval`` seconds between
   beats. The observer is a subclass of the framework's FileStorageObserver that times each beat
   (``log_metrics`` + the ``heartbeat_event`` after it). Reported: the median beat of the first and of
   the last tenth of the periodic beats (the final flush is shown apart), and their ratio.
2. The observer alone at scale: ``started_event``, then 10^3 / 10^5 / 10^6 stored points fed in one
   ``log_metrics`` batch, then one more heartbeat (``log_metrics`` with 100 new points +
   ``heartbeat_event``), timed several times (median); and the ``completed_event`` after it.

MLflow has no heartbeat (every ``log_metric`` call writes through); see bench_metrics.py for its cost.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from _common import have, run_script_child, table
from bench_metrics import _count_points, machine_note

METRIC = "loss"
NEW_POINTS = 100


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _observer_class(framework: str) -> type:
    if framework == "sacred":
        from sacred.observers import FileStorageObserver
    else:
        from experimentkit.observers import FileStorageObserver
    return FileStorageObserver


def _timed_observer(framework: str, beats: list) -> type:
    """The framework's FileStorageObserver, recording (seconds, new points) for each beat."""
    base = _observer_class(framework)

    class TimedObserver(base):  # type: ignore[misc, valid-type]
        pending = (0.0, 0)

        def log_metrics(self, metrics_by_name: dict, info: dict) -> None:
            start = time.perf_counter()
            super().log_metrics(metrics_by_name, info)
            points = sum(len(series["values"]) for series in metrics_by_name.values())
            self.pending = (time.perf_counter() - start, points)

        def heartbeat_event(self, info: dict, captured_out: Any, beat_time: Any, result: Any) -> None:
            start = time.perf_counter()
            super().heartbeat_event(info=info, captured_out=captured_out, beat_time=beat_time, result=result)
            spent, points = self.pending
            beats.append((spent + time.perf_counter() - start, points))
            self.pending = (0.0, 0)

    return TimedObserver


# ---- children --------------------------------------------------------------------------------------
def child_live(framework: str, store: str, rate: float, seconds: float, beat: float) -> dict:
    """A real run logging at ``rate`` points/s; every beat timed by the observer subclass."""
    if framework == "sacred":
        from sacred import Experiment
    else:
        from experimentkit import Experiment
    beats: list = []
    ex = Experiment("bench_heartbeat")
    observer = _timed_observer(framework, beats)(store)
    ex.observers.append(observer)
    marks: dict = {}

    @ex.main
    def main(_run: Any) -> None:
        logged, start = 0, time.perf_counter()
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
            due = int(elapsed * rate)
            while logged < due:
                _run.log_scalar(METRIC, logged * 0.5)
                logged += 1
            time.sleep(0.001)
        marks["logged"], marks["last_log"] = logged, time.perf_counter()
        marks["periodic_beats"] = len(beats)
        marks["loop"] = marks["last_log"] - start

    ex.run(options={"--loglevel": "WARNING", "--beat-interval": str(beat)})
    returned = time.perf_counter()
    count = _count_points(os.path.join(observer.dir, "metrics.json"))
    periodic = [spent for spent, _ in beats[: marks["periodic_beats"]]]
    final = [spent for spent, _ in beats[marks["periodic_beats"] :]]
    return {
        "periodic": periodic,
        "final": final,
        "logged": marks["logged"],
        "loop": marks["loop"],
        "flush": returned - marks["last_log"],
        "count_at_return": count,
    }


def _batch(first_step: int, count: int) -> dict:
    stamp = _utcnow()
    steps = list(range(first_step, first_step + count))
    return {
        METRIC: {
            "name": METRIC,
            "steps": steps,
            "values": [s * 0.5 for s in steps],
            "timestamps": [stamp] * count,
        }
    }


def child_scale(framework: str, store: str, stored: int, beats: int) -> dict:
    """Feed an observer ``stored`` points, then time ``beats`` heartbeats and the completed_event."""
    observer = _observer_class(framework)(store)
    ex_info = {
        "name": "bench_heartbeat",
        "base_dir": store,
        "sources": [],
        "dependencies": [],
        "repositories": [],
        "mainfile": None,
    }
    observer.started_event(
        ex_info=ex_info,
        command="main",
        host_info={},
        start_time=_utcnow(),
        config={"seed": 1},
        meta_info={},
        _id=None,
    )
    start = time.perf_counter()
    observer.log_metrics(_batch(0, stored), info={})
    feed = time.perf_counter() - start
    times = []
    for number in range(beats):
        start = time.perf_counter()
        observer.log_metrics(_batch(stored + number * NEW_POINTS, NEW_POINTS), info={"beat": number})
        observer.heartbeat_event(info={"beat": number}, captured_out="", beat_time=_utcnow(), result=None)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    observer.completed_event(stop_time=_utcnow(), result=None)
    completed = time.perf_counter() - start
    with open(os.path.join(observer.dir, "metrics.json"), encoding="utf-8") as f:
        count = sum(len(series["values"]) for series in json.load(f).values())
    return {
        "feed": feed,
        "beats": times,
        "completed": completed,
        "count": count,
        "expected": stored + beats * NEW_POINTS,
    }


def run_child(spec: dict) -> dict:
    """Run one measurement in a fresh interpreter (this script with ``--child``)."""
    return run_script_child(__file__, spec)


def child_main(spec: dict, out: str) -> None:
    if spec["kind"] == "live":
        result = child_live(spec["framework"], spec["store"], spec["rate"], spec["seconds"], spec["beat"])
    else:
        result = child_scale(spec["framework"], spec["store"], spec["stored"], spec["beats"])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)


# ---- parent ----------------------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _tenths(periodic: list) -> tuple:
    """Median of the first and of the last tenth of the beats (at least one beat each)."""
    size = max(1, len(periodic) // 10)
    return statistics.median(periodic[:size]), statistics.median(periodic[-size:])


def live_section(frameworks: list, root: str, args: argparse.Namespace) -> None:
    results: dict = {name: [] for name in frameworks}
    for repeat in range(args.repeat):
        for name in frameworks:
            store = os.path.join(root, f"live-{name}-{repeat}")
            results[name].append(
                run_child(
                    {
                        "kind": "live",
                        "framework": name,
                        "store": store,
                        "rate": args.rate,
                        "seconds": args.seconds,
                        "beat": args.beat_interval,
                    }
                )
            )
            shutil.rmtree(store, ignore_errors=True)
    rows = []
    for name in frameworks:
        runs = results[name]
        firsts, lasts = zip(*(_tenths(r["periodic"]) for r in runs))
        first, last = statistics.median(firsts), statistics.median(lasts)
        rows.append(
            [
                name,
                str(statistics.median(len(r["periodic"]) for r in runs)),
                f"{statistics.median(r['logged'] / r['loop'] for r in runs):,.0f}",
                _ms(first),
                _ms(last),
                f"{last / first:.1f}×",
                _ms(statistics.median(max(r["periodic"]) for r in runs)),
                _ms(statistics.median(sum(r["final"]) for r in runs)),
                _ms(statistics.median(r["flush"] for r in runs)),
                ", ".join(f"{r['count_at_return']}/{r['logged']}" for r in runs),
            ]
        )
    print(
        f"## heartbeat cost during a run: {args.rate:,.0f} points/s for {args.seconds:g} s, "
        f"beat interval {args.beat_interval:g} s ({args.repeat} repeat(s), medians)\n"
    )
    print(
        table(
            rows,
            [
                "framework",
                "periodic beats",
                "points/s achieved",
                "beat, first tenth",
                "beat, last tenth",
                "growth",
                "slowest beat",
                "final beat",
                "last log → run() returns",
                "points in metrics.json at return / logged",
            ],
        )
    )


def scale_section(frameworks: list, root: str, sizes: list, sacred_beats: dict) -> None:
    results: dict = {}
    for stored in sizes:
        for name in frameworks:
            store = os.path.join(root, f"scale-{name}-{stored}")
            beats = sacred_beats.get(stored, 5) if name == "sacred" else 5
            results[name, stored] = run_child(
                {"kind": "scale", "framework": name, "store": store, "stored": stored, "beats": beats}
            )
            shutil.rmtree(store, ignore_errors=True)
    rows = []
    for stored in sizes:
        base = statistics.median(results["experimentkit", stored]["beats"])
        for name in frameworks:
            r = results[name, stored]
            beat = statistics.median(r["beats"])
            complete = "yes" if r["count"] == r["expected"] else f"NO ({r['count']}/{r['expected']})"
            rows.append(
                [
                    f"{stored:,}",
                    name,
                    _ms(beat),
                    f"{beat / base:.1f}×",
                    str(len(r["beats"])),
                    _ms(r["completed"]),
                    _ms(r["feed"]),
                    complete,
                ]
            )
    print(
        f"\n## one heartbeat ({NEW_POINTS} new points + heartbeat_event) on an observer already "
        "holding N points\n"
    )
    print(
        table(
            rows,
            [
                "stored points N",
                "framework",
                "beat (median)",
                "ratio to experimentkit",
                "beats timed",
                "completed_event",
                "feeding N points (one batch)",
                "metrics.json complete",
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter run, one repeat, up to 1e5 points")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20_000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--beat-interval", type=float, default=0.25)
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child[0]), args.child[1])
        return
    sizes = [1_000, 100_000, 1_000_000]
    if args.quick:
        args.repeat, args.seconds, sizes = 1, 3.0, [1_000, 100_000]
    frameworks = ["experimentkit"] + (["sacred"] if have("sacred") else [])
    root = tempfile.mkdtemp(prefix="bench_heartbeat_")
    print(f"Machine: {machine_note()}\n")
    try:
        live_section(frameworks, root, args)
        scale_section(frameworks, root, sizes, sacred_beats={1_000_000: 3})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nMachine at the end: {machine_note()}")


if __name__ == "__main__":
    main()
