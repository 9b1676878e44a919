"""Fifty runs starting at once into one SQL store: how long each ``started_event`` and the way from a
common gate to ``main`` take (docs/nothing-lost.md, "Fifty runs starting at once").

    python benchmarks/bench_many_starts.py sqlite:////tmp/many.db
    python benchmarks/bench_many_starts.py postgresql://postgres@127.0.0.1:5432/many [--runs 50]

Each process imports experimentkit, says it is ready and waits for a gate file; once all are ready
the gate opens and each prints its own times.  The store is used as it is (create it fresh, or run
once first to have the schema in place).  Run it under ``nice``; report the load average beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from experimentkit import Experiment
    from experimentkit.backends.sql.observer import SqlObserver

    times = {}
    opened = SqlObserver.started_event

    def started_event(self, *args, **kwargs):
        began = time.monotonic()
        try:
            return opened(self, *args, **kwargs)
        finally:
            times["started_event"] = time.monotonic() - began

    SqlObserver.started_event = started_event
    ex = Experiment("many")

    @ex.config
    def cfg():
        worker = 0

    @ex.main
    def main(_run, worker):
        times["gate_to_main"] = time.monotonic() - gate_opened
        for i in range(5):
            _run.log_scalar("x", worker * 100 + i, i)

    open(os.path.join(os.environ["BENCH_READY"], str(os.getpid())), "w").close()
    while not os.path.exists(os.environ["BENCH_GATE"]):
        time.sleep(0.02)
    gate_opened = time.monotonic()
    try:
        ex.run_commandline()
    finally:
        print("TIMES", times["started_event"], times.get("gate_to_main", -1), flush=True)
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script, ready, gate = (
            os.path.join(tmp, "many.py"),
            os.path.join(tmp, "ready"),
            os.path.join(tmp, "gate"),
        )
        os.mkdir(ready)
        with open(script, "w") as fh:
            fh.write(SCRIPT)
        env = {
            **os.environ,
            "BENCH_READY": ready,
            "BENCH_GATE": gate,
            "EXPERIMENTKIT_FALLBACK_DIR": tmp + "/fb",
        }
        procs = [
            subprocess.Popen(
                [sys.executable, script, "-s", args.url, "-l", "WARNING", "with", f"worker={w}"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for w in range(args.runs)
        ]
        while len(os.listdir(ready)) < args.runs:
            time.sleep(0.05)
        open(gate, "w").close()
        outputs = [p.communicate()[0] for p in procs]
        journals = os.listdir(tmp + "/fb") if os.path.exists(tmp + "/fb") else []
    started, to_main = [], []
    for out in outputs:
        line = next((ln for ln in out.splitlines() if ln.startswith("TIMES ")), None)
        if line is None:
            sys.exit(f"a run printed no times:\n{out}")
        started.append(float(line.split()[1]))
        to_main.append(float(line.split()[2]))
    load = os.getloadavg()[0]
    print(f"{args.runs} runs, load average {load:.1f}, journals left: {len(journals)}")
    for name, values in (("started_event", started), ("gate to main", to_main)):
        print(f"{name:14} median {statistics.median(values):6.2f} s   max {max(values):6.2f} s")


if __name__ == "__main__":
    main()
