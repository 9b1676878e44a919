"""Peak memory and drain time of a run logging N points in a tight loop, beside Sacred.

    python benchmarks/bench_scale_memory.py [--points 1000000] [--big] [--repeat 1] [--sql]

Each measurement is a fresh process: an ``Experiment`` with a ``FileStorageObserver`` (``--sql``:
also an experimentkit run with an SQLite ``SqlObserver``) whose main function calls
``_run.log_scalar("loss", i * 0.5)`` N times.  Reported: the loop, the drain (last ``log_scalar``
→ ``run()`` returned, and until Sacred's non-daemon heartbeat thread is done), the process's peak
resident memory (``ru_maxrss``), the points stored (metrics.json / SQL rows) and the run's status.
N is 10^6 by default; ``--big`` adds 10^7 (Sacred's run at 10^7 takes minutes and several GB; it is
left out unless ``--sacred-big``).  Growth exponents are over N for each column.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import tempfile
import threading
import time
from typing import Any

from _common import answer_child, have, run_script_child, table


def child(framework: str, points: int, store: str) -> dict:
    if framework == "sacred":
        from sacred import Experiment
        from sacred.observers import FileStorageObserver

        observer = FileStorageObserver(store)
    else:
        from experimentkit import Experiment
        from experimentkit.observers import FileStorageObserver, SqlObserver

        observer = SqlObserver(store) if store.startswith("sqlite") else FileStorageObserver(store)
    ex = Experiment("bench_scale_memory")
    ex.observers.append(observer)
    marks: dict = {}

    @ex.main
    def main(_run: Any) -> None:
        marks["start"] = time.perf_counter()
        for i in range(points):
            _run.log_scalar("loss", i * 0.5)
        marks["last"] = time.perf_counter()

    run = ex.run(options={"--loglevel": "ERROR"})
    returned = time.perf_counter()
    for thread in threading.enumerate():  # Sacred's heartbeat thread may still be writing
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    done = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before checking below
    if store.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(store[len("sqlite:///") :])
        stored = conn.execute("SELECT count(*) FROM metric").fetchone()[0]
        status = conn.execute("SELECT status FROM run").fetchone()[0]
        conn.close()
    else:
        run_dir = os.path.join(store, str(run._id))
        with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
            stored = len(json.load(f)["loss"]["values"])
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as f:
            status = json.load(f)["status"]
    return {
        "loop": marks["last"] - marks["start"],
        "drain": returned - marks["last"],
        "done": done - marks["last"],
        "peak_mb": peak_mb,
        "stored": stored,
        "status": status,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--big", action="store_true", help="also N = 10^7")
    parser.add_argument("--sacred-big", action="store_true", help="run Sacred at 10^7 too")
    parser.add_argument("--sql", action="store_true", help="also experimentkit + SQLite")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if answer_child(args.child, child):
        return
    sizes = [args.points] + ([10_000_000] if args.big else [])
    frameworks = ["experimentkit"] + (["experimentkit+sqlite"] if args.sql else [])
    with_sacred = have("sacred")
    print(f"load average at start: {os.getloadavg()}")
    results: dict = {}
    for _ in range(args.repeat):
        for points in sizes:
            names = frameworks + (
                ["sacred"] if with_sacred and (points <= 1_000_000 or args.sacred_big) else []
            )
            for name in names:
                workdir = tempfile.mkdtemp(prefix="bench_scale_memory_")
                store = "sqlite:///" + os.path.join(workdir, "r.db") if name.endswith("sqlite") else workdir
                try:
                    result = run_script_child(
                        __file__, {"framework": name.split("+")[0], "points": points, "store": store}
                    )
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                results.setdefault((name, points), []).append(result)
    rows = []
    for (name, points), runs in results.items():
        best = sorted(runs, key=lambda r: r["drain"])[len(runs) // 2]
        rows.append(
            [
                name,
                f"{points:,}",
                f"{best['loop']:.2f} s",
                f"{best['drain']:.2f} s",
                f"{best['done']:.2f} s",
                f"{best['drain'] / points * 1e6:.2f} µs",
                f"{best['peak_mb']:,.0f} MB",
                ", ".join(f"{r['stored']}/{points} {r['status']}" for r in runs),
            ]
        )
    print(
        table(
            rows,
            [
                "framework",
                "points",
                "loop",
                "last log → run() returns",
                "→ threads done",
                "drain per point",
                "peak RSS",
                "stored/logged, status",
            ],
        )
    )
    if len(sizes) > 1:
        growth = []
        for name in frameworks + ["sacred"]:
            lo, hi = results.get((name, sizes[0])), results.get((name, sizes[-1]))
            if not lo or not hi:
                continue
            factor = math.log(sizes[-1] / sizes[0])
            growth.append(
                [name]
                + [f"{math.log(hi[0][k] / lo[0][k]) / factor:.2f}" for k in ("loop", "done", "peak_mb")]
            )
        print(table(growth, ["framework", "loop exponent", "drain (→ done) exponent", "peak RSS exponent"]))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
